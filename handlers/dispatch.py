"""One entry point from command text and channel to a Reply, shared by every front end."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from handlers.blocks import (
    MAX_FALLBACK_TEXT,
    Reply,
    context,
    escape,
    header,
    line_sections,
    plural,
    section,
    shorten,
    simple_reply,
    truncate,
)
from handlers.context import ChannelContext
from handlers.costs import cost_verb
from handlers.digests import DigestOptions, digest_verb
from handlers.grammar import HELP_TEXT, INVENTORY_VERBS, Command, CommandError, parse_command
from handlers.idle import idle_command
from handlers.intents import mention_to_command, strip_mention
from handlers.inventory import MAX_ROWS, build_query, inventory_reply
from handlers.metrics import cpu_annotations, metrics_command
from services.costs import CostExplorer
from services.errors import describe_aws_error
from services.idle import IdleScanner
from services.inventory import RESOURCE_TYPES, Inventory
from services.resource_metrics import ResourceMetricsService

logger = logging.getLogger(__name__)

Verb = Callable[[Command, ChannelContext, "Backends"], Reply]


@dataclass
class Backends:
    """The service objects handlers call; built once by the bot, the CLI or a test."""

    inventory: Inventory
    costs: CostExplorer | None = None
    metrics: ResourceMetricsService | None = None
    idle: IdleScanner | None = None
    digests: DigestOptions | None = None


def region_list(configured: tuple[str, ...] | str) -> str:
    if isinstance(configured, str):
        return f"all {configured} regions"
    return ", ".join(configured)


def help_reply(problem: str | None = None) -> Reply:
    """Show the help, under `problem` when given.

    `problem` is plain text that may quote the user's words, so it is escaped here: a
    quoted `<!channel>` must not ping the channel again.
    """
    blocks = []
    if problem:
        blocks.append(section(f":grey_question: {escape(problem)}"))
    blocks.extend(line_sections(HELP_TEXT.splitlines()))
    text = f"{escape(problem)} Try /aws help." if problem else "aws-monitor help"
    return Reply(text=truncate(text, MAX_FALLBACK_TEXT), blocks=blocks, rejected=bool(problem))


def unmapped_channel_reply(
    channel_id: str, config_path: str, account_names: Sequence[str] = ()
) -> Reply:
    """Tell a channel that is not in the config how to map it; no AWS call is made.

    Only the file's base name is shown, so Slack users do not learn the server's
    directory layout. The example maps the first of `account_names`, the accounts the
    config defines.
    """
    account = escape(account_names[0]) if account_names else "ACCOUNT_NAME"
    channel_id = escape(channel_id)
    text = (
        f"This channel ({channel_id}) is not mapped to any AWS account, so aws-monitor "
        f"shows it no data. Add it under `channels:` in `{os.path.basename(config_path)}`, "
        f"for example:\n```channels:\n  {channel_id}:\n    accounts: [{account}]```\n"
        "then restart the bot."
    )
    return simple_reply(text)


def account_names(ctx: ChannelContext) -> list[str]:
    return [account.name for account in ctx.accounts]


def handle_text(text: str, ctx: ChannelContext, backends: Backends) -> Reply:
    """Reply to the text of a slash command."""
    try:
        command = parse_command(text, account_names(ctx))
    except CommandError as exc:
        return help_reply(str(exc))
    return run_command(command, ctx, backends)


def handle_mention(text: str, ctx: ChannelContext, backends: Backends) -> Reply:
    """Reply to a mention in plain words by mapping it onto the command grammar."""
    command_text = mention_to_command(text)
    if command_text is None:
        return help_reply(f"I did not understand “{shorten(strip_mention(text))}”.")
    return handle_text(command_text, ctx, backends)


def run_command(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    verb = VERBS.get(command.verb)
    if verb is None:
        return help_reply(f"`{command.verb}` is not available in this version of aws-monitor.")
    try:
        return verb(command, ctx, backends)
    except CommandError as exc:
        return help_reply(str(exc))


def _help(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    return help_reply()


def _accounts(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    regions = backends.inventory.regions
    lines = []
    for account in ctx.accounts:
        configured = regions.configured(account)
        shown = region_list(configured)
        via = f"role `{account.role_arn}`" if account.role_arn else "the bot's own credentials"
        lines.append(f"*{account.label}* · {shown} · through {via}")
    blocks = [header("Accounts of this channel"), *line_sections(lines)]
    blocks.append(context(f"Environment tag `{ctx.environment_tag}` · time zone {ctx.timezone}"))
    return Reply(text=f"{plural(len(lines), 'account')} mapped to this channel", blocks=blocks)


def _regions(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    resolver = backends.inventory.regions
    lines = []
    for account in ctx.accounts:
        try:
            regions = resolver.resolve(account, ctx.user_id)
            lines.append(f"*{account.label}*: {', '.join(regions)}")
        except Exception as exc:  # shown to the user as a warning, logged with the account
            logger.warning("Resolving regions for %s failed: %s", account.name, exc)
            problem = describe_aws_error(
                exc,
                action="ec2:DescribeRegions",
                account=account.name,
                account_id=account.account_id,
                region=None,
            )
            lines.append(f"*{account.label}*: :warning: could not list regions: {escape(problem)}")
    blocks = [header("Regions scanned for this channel"), *line_sections(lines)]
    return Reply(text="Regions scanned for this channel", blocks=blocks)


def _inventory(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    rtype = RESOURCE_TYPES[command.verb]
    query = build_query(command, ctx, backends.inventory.regions)
    gathered = backends.inventory.collect(ctx.accounts, [command.verb], query, ctx.user_id)
    annotations: dict[str, str] = {}
    if command.with_metrics and backends.metrics is not None:
        annotations, gathered = cpu_annotations(backends.metrics, ctx, gathered, MAX_ROWS)
    return inventory_reply(rtype.title, command, ctx, gathered, annotations=annotations)


VERBS: dict[str, Verb] = {
    "help": _help,
    "accounts": _accounts,
    "regions": _regions,
    "cost": cost_verb,
    "metrics": metrics_command,
    "idle": idle_command,
    "digest": digest_verb,
    **{verb: _inventory for verb in INVENTORY_VERBS},
}
