"""The `/aws` command grammar: words in, a `Command` out, or a `CommandError` with help."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.blocks import shorten
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
    """The command could not be parsed; the message says what was wrong and what works.

    The message is plain text that may quote the user's words: help_reply escapes it
    for mrkdwn, so code raising it must not escape those words itself.
    """


@dataclass(frozen=True)
class Command:
    verb: str
    environment: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    with_metrics: bool = False

    def filter_values(self, key: str) -> list[str]:
        return [value for name, value in self.filters if name == key]


def parse_command(text: str, account_names: Sequence[str] = ()) -> Command:
    """Parse the text after `/aws`; raise CommandError for anything outside the grammar.

    `account_names` are the channel's accounts, used only for the examples in messages.
    """
    words = text.strip().split()
    if not words:
        return Command(verb="help")
    verb = VERB_ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1:]
    if verb in SIMPLE_VERBS:
        if rest:
            raise CommandError(f"`{verb}` takes no arguments, but got `{shorten(' '.join(rest))}`.")
        return Command(verb=verb)
    if verb in FREE_FORM_VERBS:
        return _parse_free_form(verb, rest, account_names)
    if verb in INVENTORY_VERBS:
        return _parse_inventory(verb, rest, account_names)
    raise CommandError(f"Unknown command `{shorten(words[0])}`.")


def _parse_tag_filter(word: str) -> tuple[str, str]:
    """Split `tag:KEY=VALUE` into (`tag:KEY`, VALUE); the value may be empty or contain `=`."""
    key, equals, value = word[len("tag:") :].partition("=")
    if not key or not equals:
        raise CommandError(
            f"A tag filter needs `tag:KEY=VALUE`, e.g. `tag:Team=data`, but got `{shorten(word)}`."
        )
    return f"tag:{key}", value


def _parse_filter(word: str, account_names: Sequence[str]) -> tuple[str, str]:
    key, _, value = word.partition("=")
    key = key.lower()
    if key not in FILTER_KEYS:
        raise CommandError(
            f"Unknown filter `{shorten(word)}`. Filters are `state=`, `region=`, `account=` "
            "and `tag:KEY=VALUE`."
        )
    if not value:
        examples = {
            "state": "state=stopped",
            "region": "region=eu-west-1",
            "account": f"account={account_names[0] if account_names else 'ACCOUNT_NAME'}",
        }
        raise CommandError(f"Filter `{key}=` has no value, e.g. `{examples[key]}`.")
    # Region and state names are lowercase in AWS; account names are matched without case
    # against the channel's accounts later, when they are known.
    return key, value if key == "account" else value.lower()


def _parse_inventory(verb: str, words: list[str], account_names: Sequence[str] = ()) -> Command:
    environment: str | None = None
    filters: list[tuple[str, str]] = []
    with_metrics = False
    for word in words:
        if word.lower().startswith("tag:"):
            filters.append(_parse_tag_filter(word))
        elif "=" in word:
            filters.append(_parse_filter(word, account_names))
        elif word.lower() == "metrics":
            with_metrics = True
        elif environment is None:
            environment = word
        else:
            raise CommandError(
                f"`{verb}` takes one environment, but got `{shorten(environment)}` and "
                f"`{shorten(word)}`. Use `tag:KEY=VALUE` for other tags."
            )
    return Command(
        verb=verb, environment=environment, filters=tuple(filters), with_metrics=with_metrics
    )


def _parse_free_form(verb: str, words: list[str], account_names: Sequence[str] = ()) -> Command:
    if verb == "metrics" and not words:
        raise CommandError("`metrics` needs a resource id, e.g. `/aws metrics i-0abc123 24h`.")
    if verb == "digest" and (len(words) != 1 or words[0].lower() not in ("costs", "idle")):
        raise CommandError("`digest` takes `costs` or `idle`, e.g. `/aws digest costs`.")
    if verb == "idle":
        command = _parse_inventory("idle", words, account_names)
        if command.with_metrics:
            raise CommandError(
                "`idle` takes no `metrics` word, because the idle rules read CloudWatch "
                "themselves. For average CPU use `/aws ec2 prod metrics`, or "
                "`/aws metrics RESOURCE-ID` for one resource."
            )
        return Command(verb="idle", environment=command.environment, filters=command.filters)
    return Command(verb=verb, args=tuple(words))
