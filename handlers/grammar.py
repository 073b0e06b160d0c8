"""The `/aws` command grammar: words in, a `Command` out, or a `CommandError` with help."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.errors import AwsMonitorError

INVENTORY_VERBS = ("ec2", "ebs", "rds", "s3", "lambda", "eks", "emr")
VERB_ALIASES = {
    "instances": "ec2",
    "volumes": "ebs",
    "buckets": "s3",
    "functions": "lambda",
    "costs": "cost",
    "spend": "cost",
    "metric": "metrics",
}
SIMPLE_VERBS = ("help", "accounts", "regions")
FREE_FORM_VERBS = ("metrics", "cost", "idle", "digest")
FILTER_KEYS = ("state", "region", "account")
_TAG_FILTER = re.compile(r"^tag:([^=]+)=(.*)$")

HELP_TEXT = """\
*aws-monitor* lists, measures and costs the AWS accounts mapped to this channel.
• `/aws ec2 prod` EC2 instances tagged for an environment (also `ebs`, `rds`, `s3`, \
`lambda`, `eks`, `emr`)
• `/aws ec2 prod state=stopped region=eu-west-1 account=prod tag:Team=data` filters
• `/aws ec2 prod metrics` adds average CPU to the list
• `/aws metrics i-0abc123 24h` metrics of one resource over `1h`, `24h` or `7d`
• `/aws cost this month by service` spend (`today`, `yesterday`, `last month`, `7d`, `30d`, \
`2026-03`; `by service|region|account|tag:KEY`)
• `/aws idle prod` resources that cost money for nothing
• `/aws digest costs` or `/aws digest idle` posts a digest now
• `/aws accounts`, `/aws regions` what this channel can see
Mention the bot in plain words too: "costs this month", "show idle resources in prod"."""


class CommandError(AwsMonitorError):
    """The command could not be parsed; the message says what was wrong and what works."""


@dataclass(frozen=True)
class Command:
    verb: str
    environment: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    with_metrics: bool = False

    def filter_values(self, key: str) -> list[str]:
        return [value for name, value in self.filters if name == key]


def parse_command(text: str) -> Command:
    """Parse the text after `/aws`; raise CommandError for anything outside the grammar."""
    words = text.strip().split()
    if not words:
        return Command(verb="help")
    verb = VERB_ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1:]
    if verb in SIMPLE_VERBS:
        if rest:
            raise CommandError(f"`{verb}` takes no arguments, but got `{' '.join(rest)}`.")
        return Command(verb=verb)
    if verb in FREE_FORM_VERBS:
        return _parse_free_form(verb, rest)
    if verb in INVENTORY_VERBS:
        return _parse_inventory(verb, rest)
    raise CommandError(f"Unknown command `{words[0]}`.")


def _parse_inventory(verb: str, words: list[str]) -> Command:
    environment: str | None = None
    filters: list[tuple[str, str]] = []
    with_metrics = False
    for word in words:
        tag = _TAG_FILTER.match(word)
        if tag:
            filters.append((f"tag:{tag.group(1)}", tag.group(2)))
        elif "=" in word:
            key, _, value = word.partition("=")
            if key.lower() not in FILTER_KEYS:
                raise CommandError(
                    f"Unknown filter `{word}`. Filters are `state=`, `region=`, `account=` "
                    "and `tag:KEY=VALUE`."
                )
            if not value:
                raise CommandError(f"Filter `{word}` has no value, e.g. `{key}=...`.")
            filters.append((key.lower(), value))
        elif word.lower() == "metrics":
            with_metrics = True
        elif environment is None:
            environment = word
        else:
            raise CommandError(
                f"`{verb}` takes one environment, but got `{environment}` and `{word}`. "
                "Use `tag:KEY=VALUE` for other tags."
            )
    return Command(
        verb=verb, environment=environment, filters=tuple(filters), with_metrics=with_metrics
    )


def _parse_free_form(verb: str, words: list[str]) -> Command:
    if verb == "metrics" and not words:
        raise CommandError("`metrics` needs a resource id, e.g. `/aws metrics i-0abc123 24h`.")
    if verb == "digest" and (len(words) != 1 or words[0].lower() not in ("costs", "idle")):
        raise CommandError("`digest` takes `costs` or `idle`, e.g. `/aws digest costs`.")
    if verb == "idle":
        command = _parse_inventory("idle", words)
        return Command(verb="idle", environment=command.environment, filters=command.filters)
    return Command(verb=verb, args=tuple(words))
