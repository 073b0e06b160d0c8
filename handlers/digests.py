"""Digests: the daily cost digest, and the idle-resource digest with snooze buttons.

The renderers are pure, figures in and a Reply out. build_digest gathers the figures
from the services in Backends; `/aws digest`, the CLI and the scheduler all call it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from handlers.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    Block,
    FileAttachment,
    Reply,
    context,
    escape,
    fit,
    header,
    line_sections,
    noun_for,
    plural,
    section,
    truncate,
)
from handlers.context import ChannelContext
from handlers.cost_chart import daily_cost_chart
from handlers.costs import change_text, forecast_line, format_amount, other_charges_line
from handlers.grammar import Command, CommandError
from handlers.idle import (
    finding_line,
    findings_csv,
    format_money,
    no_data_text,
    rule_heading,
    scan_failed_everywhere,
    thresholds_text,
)
from handlers.report import nothing_found_text, warning_blocks
from services.cost_digest import CostDigest, SpikeRule, collect_cost_digest
from services.cost_periods import local_today
from services.costs import REQUEST_PRICE_USD, ZERO
from services.idle import IdleFinding, IdleReport, by_rule, total_cost
from services.models import Query
from services.pricing import PRICE_SOURCE

if TYPE_CHECKING:
    from handlers.dispatch import Backends

DIGEST_KINDS = ("costs", "idle")
SNOOZE_DAYS = (7, 30)
SNOOZE_ACTION_ID = re.compile(r"^snooze_(\d+)$")
# Slack rejects a button whose value is longer than this.
MAX_BUTTON_VALUE = 2000
# Findings listed without buttons per rule; the attached CSV lists every finding.
MAX_LISTED_PER_RULE = 8
# An idle finding key is account/region/kind/id/rule.
KEY_PARTS = 5
TENTH = Decimal("0.1")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DigestOptions:
    """Settings and state that digests need beyond the AWS services.

    `snoozed_keys(channel_id, now)` returns the keys of the idle findings snoozed in
    that channel at `now`; bot.store.Store.snoozed_keys fits.
    """

    spike_rule: SpikeRule
    snoozed_keys: Callable[[str, datetime], Collection[str]]
    clock: Callable[[], datetime] = field(default=_utc_now)


def build_digest(kind: str, ctx: ChannelContext, backends: Backends) -> Reply:
    """Gather a digest's figures for the channel and render them; raise CommandError
    when the kind is unknown or this process lacks the service it needs."""
    options = backends.digests
    if options is None:
        raise CommandError("Digests are not enabled in this aws-monitor process.")
    now = options.clock()
    today = local_today(ctx.timezone, now)
    if kind == "costs":
        if backends.costs is None:
            raise CommandError("The cost digest needs Cost Explorer, which this process lacks.")
        digest = collect_cost_digest(
            backends.costs, ctx.accounts, today, options.spike_rule, ctx.user_id
        )
        return cost_digest_reply(digest, ctx, backends.costs.top)
    if kind == "idle":
        if backends.idle is None:
            raise CommandError("The idle digest needs the idle scan, which this process lacks.")
        report = backends.idle.run(
            ctx.accounts, Query(environment_tag=ctx.environment_tag), ctx.user_id
        )
        snoozed = options.snoozed_keys(ctx.channel_id, now)
        return idle_digest_reply(report, ctx, today, snoozed)
    raise CommandError(
        f"`{kind}` is not a digest; use `costs` or `idle`, e.g. `/aws digest costs`."
    )


def digest_verb(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    """Return the digest as the reply to `/aws digest costs|idle`, which posts it in the channel."""
    return build_digest(command.args[0].lower(), ctx, backends)


def day_name(day: date) -> str:
    return f"{day:%a} {day.isoformat()}"


# The cost digest


def cost_digest_reply(digest: CostDigest, ctx: ChannelContext, top: int) -> Reply:
    """Render the cost digest: yesterday against the day before and a week earlier, the
    month to date against last month, the forecast, spikes and the top services."""
    blocks: list[Block] = [header(f"AWS cost digest · {day_name(digest.today)}")]
    if not digest.recent.answered:
        blocks.append(
            section(
                "No cost data: Cost Explorer did not answer for any account of this channel. "
                "The warnings below say why."
            )
        )
    else:
        blocks.append(section(day_text(digest)))
        blocks.extend(section(text) for text in month_texts(digest))
        blocks.extend(spike_blocks(digest))
        blocks.extend(line_sections(service_lines(digest, top)))
    blocks.extend(warning_blocks(digest.warnings()))
    blocks.append(cost_footer(digest, ctx))

    files = []
    if digest.recent.answered and digest.recent.groups:
        period = digest.recent.period
        files.append(
            FileAttachment(
                filename=f"cost-digest-{digest.today.isoformat()}.png",
                content=daily_cost_chart(digest.recent, top),
                title=f"Daily cost by service, {period.describe()}",
            )
        )
    return Reply(
        text=truncate(cost_fallback_text(digest), MAX_FALLBACK_TEXT),
        blocks=fit(blocks),
        files=files,
    )


def day_text(digest: CostDigest) -> str:
    unit = digest.unit
    title = f"*Yesterday, {day_name(digest.day)}:*"
    if not digest.has_day:
        return (
            f"{title} Cost Explorer has no cost for this billing day yet; AWS updates its "
            "billing data up to three times a day."
        )
    total = digest.total(digest.day)
    lines = [f"{title} *{format_amount(total, unit)}*"]
    if digest.recent.estimated:
        lines[0] += " (AWS marks these figures as estimated until the bill is final)"
    for label, other_day in (
        ("the day before", digest.day_before),
        ("a week earlier", digest.week_before),
    ):
        other = digest.total(other_day)
        lines.append(
            f"• {change_text(total, other, unit)} against {label}, {day_name(other_day)} "
            f"({format_amount(other, unit)})"
        )
    return "\n".join(lines)


def month_texts(digest: CostDigest) -> list[str]:
    month = digest.month
    unit = digest.unit
    if month is None:
        return [f"*Month to date:* none yet, the month began today ({digest.today.isoformat()})."]
    if not month.answered:
        return []
    line = f"*Month to date, {month.period.describe()}:* *{format_amount(month.total, unit)}*"
    previous = month.previous_total
    if previous is not None:
        line += (
            f" · {change_text(month.total, previous, unit)} against the same days of last "
            f"month, {month.previous.describe()} ({format_amount(previous, unit)})"
        )
    texts = [line]
    if month.forecast is not None:
        texts.append(forecast_line(month.forecast, unit))
    other = other_charges_line(month)
    if other:
        texts.append(other)
    return texts


def spike_rule_text(rule: SpikeRule, unit: str) -> str:
    return (
        f"A spike is a service's daily cost more than {rule.percent.normalize():f} % and more "
        f"than {format_amount(rule.min_amount, unit)} above its mean over the "
        f"{rule.window_days} days before."
    )


def spike_blocks(digest: CostDigest) -> list[Block]:
    unit = digest.unit
    rule_text = spike_rule_text(digest.rule, unit)
    spikes = digest.spikes()
    if not spikes:
        return [context(f"No cost spikes yesterday. {rule_text}")]
    lines = [f":warning: *{plural(len(spikes), 'cost spike')} yesterday*"]
    for spike in spikes:
        percent = spike.percent
        relative = "new" if percent is None else f"+{percent.quantize(TENTH, ROUND_HALF_UP)} %"
        lines.append(
            f"• *{escape(spike.label)}* {format_amount(spike.amount, unit)}, "
            f"{format_amount(spike.above, unit)} above its {digest.rule.window_days}-day mean "
            f"of {format_amount(spike.mean, unit)} ({relative})"
        )
    return [*line_sections(lines), context(rule_text)]


def service_lines(digest: CostDigest, top: int) -> list[str]:
    unit = digest.unit
    changes = digest.services()
    if not changes:
        return []
    lines = [f"*Top services yesterday* (of {len(changes)})"]
    for change in changes[:top]:
        lines.append(
            f"• *{escape(change.label)}* {format_amount(change.amount, unit)} · day before "
            f"{change_text(change.amount, change.day_before, unit)} · week before "
            f"{change_text(change.amount, change.week_before, unit)}"
        )
    rest = changes[top:]
    if rest:
        amount = sum((change.amount for change in rest), ZERO)
        others = plural(len(rest), "more service", "more services")
        lines.append(f"• *Other* ({others}) {format_amount(amount, unit)}")
    return lines


def cost_footer(digest: CostDigest, ctx: ChannelContext) -> Block:
    report = digest.recent
    accounts = ", ".join(escape(name) for name in report.accounts) or "none"
    price = format_amount(REQUEST_PRICE_USD * digest.requests_sent, "USD")
    return context(
        f"Cost Explorer {report.metric}, billing days in UTC, today is "
        f"{digest.today.isoformat()} in {ctx.timezone} · accounts {accounts} · "
        f"{plural(digest.requests_sent, 'request')} sent ({price}), {digest.cache_hits} "
        "answered from cache"
    )


def cost_fallback_text(digest: CostDigest) -> str:
    if not digest.recent.answered:
        return f"AWS cost digest {digest.today.isoformat()}: no cost data"
    unit = digest.unit
    total = digest.total(digest.day)
    text = (
        f"AWS cost digest {digest.today.isoformat()}: yesterday {format_amount(total, unit)} "
        f"({change_text(total, digest.total(digest.day_before), unit)} against the day before)"
    )
    if digest.month is not None and digest.month.answered:
        text += f", month to date {format_amount(digest.month.total, unit)}"
    spikes = digest.spikes()
    if spikes:
        text += f", {plural(len(spikes), 'cost spike')}"
    return text


# The idle digest


def idle_digest_reply(
    report: IdleReport, ctx: ChannelContext, today: date, snoozed: Collection[str] = ()
) -> Reply:
    """Render the idle digest: findings grouped by rule, largest estimated cost first.

    Each finding has buttons that snooze it. Findings snoozed in the channel are left out.
    """
    visible = [finding for finding in report.findings if finding.key not in snoozed]
    hidden = len(report.findings) - len(visible)
    groups = by_rule(visible)
    summary = idle_summary(visible, hidden, report)

    head = [header(f"Idle resources digest · {day_name(today)}"), section(summary)]
    notes = [
        f"Costs are estimates from {PRICE_SOURCE}, before discounts.",
        thresholds_text(report.thresholds),
        "A snoozed finding stays out of this digest until its snooze ends.",
    ]
    missing = no_data_text(report)
    if missing:
        notes.append(missing)
    tail = [context(*notes), *warning_blocks(report.warnings), idle_footer(report)]

    budget = MAX_BLOCKS - len(head) - len(tail)
    with_buttons = choose_findings_with_buttons(groups, ctx.timezone, budget)
    body, listed_all = idle_rule_blocks(groups, ctx.timezone, with_buttons)
    blocks = fit(
        [*head, *body, *tail], "The digest was cut to fit one Slack message; the CSV lists all."
    )

    files = []
    if not listed_all or len(blocks) < len(head) + len(body) + len(tail):
        files.append(
            FileAttachment(
                filename=f"idle-resources-{today.isoformat()}.csv",
                content=findings_csv(visible),
                title=f"Idle resources {today.isoformat()} ({plural(len(visible), 'finding')})",
            )
        )
    text = summary.replace("*", "")
    if report.warnings:
        text += f" ({plural(len(report.warnings), 'warning')})"
    return Reply(text=truncate(text, MAX_FALLBACK_TEXT), blocks=blocks, files=files)


def idle_summary(visible: Sequence[IdleFinding], hidden: int, report: IdleReport) -> str:
    accounts = ", ".join(escape(name) for name in report.accounts) or "none"
    if visible:
        text = (
            f"*{len(visible)}* idle {noun_for(len(visible), 'resource')} in "
            f"{noun_for(len(report.accounts), 'account')} {accounts}, estimated "
            f"*{format_money(total_cost(visible))}/month* where a price is known."
        )
    elif report.warnings:
        text = nothing_found_text("idle resources", scan_failed_everywhere(report))
    else:
        text = f"No idle resources in {noun_for(len(report.accounts), 'account')} {accounts}."
    if hidden:
        shown = "finding is" if hidden == 1 else "findings are"
        text += f" {hidden} snoozed {shown} not shown."
    return text


def idle_footer(report: IdleReport) -> Block:
    scanned = sum(report.scanned.values())
    regions = ", ".join(report.regions) or "none"
    return context(
        f"Scanned {plural(scanned, 'resource')} in {noun_for(len(report.regions), 'region')} "
        f"{regions} · {report.elapsed:.1f} s"
    )


def choose_findings_with_buttons(
    groups: Sequence[tuple[str, list[IdleFinding]]], timezone: str, budget: int
) -> set[str]:
    """Pick the findings that get buttons of their own: in display order, as many as fit
    in `budget` blocks. The others are listed as text, under their rule's buttons."""
    chosen: set[str] = set()
    for _, members in groups:
        for finding in members:
            if len(finding.key) > MAX_BUTTON_VALUE:
                continue
            trial = chosen | {finding.key}
            blocks, _ = idle_rule_blocks(groups, timezone, trial)
            if len(blocks) > budget:
                return chosen
            chosen = trial
    return chosen


def idle_rule_blocks(
    groups: Sequence[tuple[str, list[IdleFinding]]], timezone: str, with_buttons: Collection[str]
) -> tuple[list[Block], bool]:
    """Return the blocks of every rule, and whether every finding is in them."""
    blocks: list[Block] = []
    listed_all = True
    index = 0
    for rule, members in groups:
        blocks.append(section(rule_heading(rule, members)))
        as_text = []
        for finding in members:
            index += 1
            if finding.key in with_buttons:
                blocks.append(section(finding_line(finding, timezone)))
                blocks.append(snooze_actions(f"snooze-finding-{index}", [finding.key]))
            else:
                as_text.append(finding)
        if as_text:
            lines = [finding_line(finding, timezone) for finding in as_text[:MAX_LISTED_PER_RULE]]
            if len(as_text) > MAX_LISTED_PER_RULE:
                listed_all = False
                lines.append(
                    f"…and {len(as_text) - MAX_LISTED_PER_RULE} more in the attached CSV file."
                )
            blocks.extend(line_sections(lines))
        if len(members) > 1:
            blocks.append(snooze_actions(f"snooze-rule-{rule}", [f.key for f in members]))
    return blocks, listed_all


def snooze_value(keys: Sequence[str]) -> tuple[str, int]:
    """Encode finding keys as a button value within Slack's limit.

    One key is the value itself; several are a JSON list, cut to the keys that fit.
    Return the value and how many keys it holds.
    """
    if len(keys) == 1:
        return keys[0], 1
    included: list[str] = []
    for key in keys:
        if len(json.dumps([*included, key])) > MAX_BUTTON_VALUE:
            break
        included.append(key)
    return json.dumps(included), len(included)


def snooze_actions(block_id: str, keys: Sequence[str]) -> Block:
    """Build an actions block with one snooze button per duration in SNOOZE_DAYS."""
    value, count = snooze_value(keys)
    elements = []
    for days in SNOOZE_DAYS:
        if len(keys) == 1:
            label = f"Snooze {days} days"
        elif count == len(keys):
            label = f"Snooze all {count} for {days} days"
        else:
            label = f"Snooze the first {count} for {days} days"
        elements.append(
            {
                "type": "button",
                "action_id": f"snooze_{days}",
                "text": {"type": "plain_text", "text": label},
                "value": value,
            }
        )
    return {"type": "actions", "block_id": block_id, "elements": elements}


# Snooze buttons pressed


@dataclass(frozen=True)
class SnoozeRequest:
    """A pressed snooze button: for how many days, and which finding keys."""

    days: int
    keys: tuple[str, ...]

    @property
    def accounts(self) -> set[str]:
        return {key.split("/", 1)[0] for key in self.keys}


def parse_snooze(action_id: str, value: str) -> SnoozeRequest:
    """Read a snooze button's action id and value; raise ValueError when either is not one
    this module builds."""
    match = SNOOZE_ACTION_ID.match(action_id)
    if match is None or int(match[1]) not in SNOOZE_DAYS:
        raise ValueError(f"{action_id!r} is not a snooze action")
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"the button value is {len(value)} characters, over {MAX_BUTTON_VALUE}")
    keys: Any = value
    if value.startswith("["):
        try:
            keys = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the button value is not a JSON list of keys: {exc}") from None
    if isinstance(keys, str):
        keys = [keys]
    if not keys or not all(isinstance(key, str) for key in keys):
        raise ValueError("the button value contains no finding keys")
    for key in keys:
        if len(key.split("/")) < KEY_PARTS or not all(key.split("/")):
            raise ValueError(f"{key!r} is not a finding key (account/region/kind/id/rule)")
    return SnoozeRequest(days=int(match[1]), keys=tuple(keys))


def snooze_note(request: SnoozeRequest, user_id: str | None, until: date) -> str:
    what = "this finding" if len(request.keys) == 1 else f"these {len(request.keys)} findings"
    by = f" by <@{user_id}>" if user_id else ""
    return (
        f":zzz: Snoozed {what}{by} for {request.days} days: the idle digest leaves "
        f"{'it' if len(request.keys) == 1 else 'them'} out until {until.isoformat()}."
    )


def mark_snoozed(
    blocks: Sequence[Block], request: SnoozeRequest, block_id: str, note: str
) -> list[Block] | None:
    """Return the message's blocks with the pressed buttons replaced by `note`.

    Buttons of other findings in the request are replaced by a shorter note too.
    Return None when no block has `block_id`, e.g. because the message changed.
    """
    snoozed = set(request.keys)
    found = False
    result: list[Block] = []
    for block in blocks:
        if block.get("type") != "actions":
            result.append(block)
            continue
        if block.get("block_id") == block_id:
            found = True
            result.append(context(note))
            continue
        keys = _button_keys(block)
        if keys and keys <= snoozed:
            result.append(context(f":zzz: Snoozed for {request.days} days."))
        else:
            result.append(block)
    return result if found else None


def _button_keys(block: Block) -> set[str]:
    keys: set[str] = set()
    for element in block.get("elements", []):
        try:
            request = parse_snooze(str(element.get("action_id")), str(element.get("value", "")))
        except ValueError:
            return set()
        keys.update(request.keys)
    return keys
