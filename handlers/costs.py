"""Cost replies: `/aws cost ...` and cost questions in plain words, rendered as Block Kit."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from handlers.blocks import (
    MAX_FALLBACK_TEXT,
    Block,
    FileAttachment,
    Reply,
    context,
    escape,
    fit,
    header,
    line_sections,
    plural,
    section,
    shorten,
    simple_reply,
    truncate,
)
from handlers.context import ChannelContext
from handlers.cost_chart import daily_cost_chart
from handlers.grammar import Command, CommandError
from handlers.report import warning_blocks
from services.cost_periods import (
    ROLLING_DAYS,
    NoCostDataYet,
    PeriodError,
    local_today,
    resolve_period,
)
from services.costs import (
    FORECAST_INTERVAL_PERCENT,
    REQUEST_PRICE_USD,
    SERVICE_GROUPING,
    SERVICE_NAMES,
    ZERO,
    CostQueryError,
    CostReport,
    Forecast,
    GroupBy,
)

if TYPE_CHECKING:
    from handlers.dispatch import Backends

MIN_CHART_DAYS = 3
CENT = Decimal("0.01")
TENTH = Decimal("0.1")
COST_EXAMPLES = (
    "Try `/aws cost this month`, `/aws cost last month by region`, `/aws cost 7d by tag:Team`, "
    "`/aws cost 2026-03 by account` or `/aws cost ec2 yesterday`."
)
OTHER_CHARGE_NAMES = {"Credit": "credits", "Refund": "refunds", "Tax": "tax"}

# Words a cost question may contain that change nothing in it.
_FILLER = frozenset(
    (
        *("a", "an", "and", "are", "aws", "be", "been", "bill", "billed", "billing", "broken"),
        *("by", "can", "charged", "charges", "cost", "costing", "costs", "did", "do", "does"),
        *("down", "during", "far", "for", "give", "grouped", "has", "have", "how", "i", "in"),
        *("is", "it", "its", "me", "much", "my", "of", "on", "our", "over", "please", "show"),
        *("so", "spend", "spending", "spent", "split", "tell", "the", "this", "to", "total"),
        *("us", "was", "we", "were", "what", "what's", "whats", "will", "with", "you"),
    )
)
_COST_INTENT = re.compile(
    r"\b(costs?|costing|spend|spending|spent|bill|billing|billed|charges)\b|\bhow much\b"
)
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# A day count such as `7d`, `0d`, `366d` or `-5d`. Only those in ROLLING_DAYS are periods.
_DAY_COUNT = re.compile(r"^[+-]?\d+d$")
# Cost Explorer keeps daily cost data for the current month and this many months before
# it (AWS Cost Management user guide, "Exploring more data for advanced cost analysis").
# Multi-year data reaches further back, but at monthly granularity only, and replies
# here are built from daily figures.
COST_HISTORY_MONTHS = 13
GROUP_WORDS = "`by service`, `by region`, `by account` or `by tag:KEY`"
_YEAR = re.compile(r"^\d{4}$")
_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
_STRIP = "?!.,;\"'“”‘’()"


@dataclass(frozen=True)
class CostQuestion:
    """A parsed cost question; `period` is a period word, `YYYY-MM` or an English month name."""

    period: str = "this month"
    group_by: GroupBy = SERVICE_GROUPING
    services: tuple[str, ...] = ()

    def command_text(self) -> str:
        """Return the question as `/aws` command words, e.g. `cost last month by region`."""
        words = ["cost", *self.services, self.period]
        if self.group_by != SERVICE_GROUPING:
            words.append(self.group_by.text)
        return " ".join(words)


def parse_cost_args(words: Sequence[str]) -> CostQuestion:
    """Parse the words after `cost`; raise CommandError with examples for anything else.

    Words are matched without case, except tag keys, which Cost Explorer matches
    case-sensitively.
    """
    tokens = [word.strip(_STRIP) for word in words]
    tokens = [token for token in tokens if token]
    lowered = [token.lower() for token in tokens]
    periods: list[str] = []
    groups: list[GroupBy] = []
    services: list[str] = []
    unknown: list[str] = []
    # The word after a `by` that names no grouping, e.g. `foo` in `by foo`.
    not_a_group: str | None = None
    index = 0
    while index < len(tokens):
        period, used = _match_period(lowered, index)
        if period is not None:
            periods.append(period)
            index += used
            continue
        if lowered[index] in ("by", "per"):
            if index + 1 == len(tokens):
                raise CommandError(
                    f"`{tokens[index]}` needs what to group by: {GROUP_WORDS}. {COST_EXAMPLES}"
                )
            group, used = _match_group(tokens, lowered, index + 1)
            if group is not None:
                groups.append(group)
                index += 1 + used
                continue
            # The next word may still be a period (`by last month`), so it is read on its own.
            not_a_group = tokens[index + 1]
            index += 1
            continue
        word = lowered[index]
        if _DAY_COUNT.match(word) and word not in ROLLING_DAYS:
            raise CommandError(
                f"`{shorten(tokens[index])}` is not a period aws-monitor knows: rolling "
                f"periods are {' and '.join(f'`{days}`' for days in ROLLING_DAYS)}, the last "
                f"7 or 30 complete days. {COST_EXAMPLES}"
            )
        if word.startswith("tag:"):
            groups.append(_group(tokens[index]))
        elif word.startswith("service="):
            services.append(_service(word.removeprefix("service=")))
        elif word in SERVICE_NAMES:
            services.append(word)
        elif word not in _FILLER:
            unknown.append(tokens[index])
        index += 1

    if not_a_group is not None and unknown == [not_a_group]:
        _group(not_a_group)  # raises the specific message: costs cannot be grouped by it
    if unknown:
        raise CommandError(
            f"I did not understand `{shorten(' '.join(unknown))}` in a cost question. "
            f"{COST_EXAMPLES}"
        )
    if len(set(periods)) > 1:
        raise CommandError(
            f"A cost question takes one period, but got {' and '.join(periods)}. {COST_EXAMPLES}"
        )
    if len(set(groups)) > 1:
        raise CommandError(
            "A cost question takes one grouping, but got "
            f"{' and '.join(group.text for group in groups)}. {COST_EXAMPLES}"
        )
    return CostQuestion(
        period=periods[0] if periods else CostQuestion.period,
        group_by=groups[0] if groups else SERVICE_GROUPING,
        services=tuple(dict.fromkeys(services)),
    )


def cost_mention_command(text: str) -> str | None:
    """Map a cost question in plain words to `cost ...` command text, or None if it is not one.

    A question that mentions cost but does not parse still becomes a cost command, so
    the reply names the words that were not understood and shows examples.
    """
    words = [word.strip(_STRIP) for word in text.split()]
    words = [word for word in words if word]
    if not _COST_INTENT.search(" ".join(words).lower()):
        return None
    try:
        return parse_cost_args(words).command_text()
    except CommandError:
        return " ".join(["cost", *(word for word in words if word.lower() not in _FILLER)])


def resolve_month_name(period: str, today: date) -> str:
    """Turn an English month name into the latest such month that has begun, as YYYY-MM."""
    number = _MONTHS.get(period.lower())
    if number is None:
        return period
    year = today.year if number <= today.month else today.year - 1
    return f"{year:04d}-{number:02d}"


def check_month_in_range(period: str, today: date) -> None:
    """Reject a `YYYY-MM` month older than the daily data Cost Explorer keeps."""
    match = _YEAR_MONTH.match(period)
    if match is None or not 1 <= int(match[2]) <= 12:
        return
    months_back = (today.year * 12 + today.month) - (int(match[1]) * 12 + int(match[2]))
    if months_back <= COST_HISTORY_MONTHS:
        return
    oldest_index = today.year * 12 + today.month - 1 - COST_HISTORY_MONTHS
    oldest = f"{oldest_index // 12:04d}-{oldest_index % 12 + 1:02d}"
    raise CommandError(
        f"{period} is outside the range Cost Explorer keeps: daily cost data covers the "
        f"current month and the {COST_HISTORY_MONTHS} months before it, so the oldest month "
        f"to ask for is {oldest}."
    )


def cost_verb(command: Command, ctx: ChannelContext, backends: Backends) -> Reply:
    """Build the reply to `/aws cost [PERIOD] [by GROUP] [SERVICE]` for the channel's accounts."""
    question = parse_cost_args(command.args)
    explorer = backends.costs
    if explorer is None:
        return simple_reply("Costs are not available: this process runs without Cost Explorer.")
    today = local_today(ctx.timezone)
    period_text = resolve_month_name(question.period, today)
    check_month_in_range(period_text, today)
    try:
        period = resolve_period(period_text, today, billing_today=local_today("UTC"))
    except NoCostDataYet as exc:
        return simple_reply(str(exc), title=f"AWS cost · {period_text}")
    except PeriodError as exc:
        raise CommandError(f"{exc} {COST_EXAMPLES}") from None
    services = [name for short in question.services for name in SERVICE_NAMES[short]]
    report = explorer.report(
        ctx.accounts,
        period,
        question.group_by,
        services=services,
        user_id=ctx.user_id,
    )
    return cost_reply(report, ctx, explorer.top, question.services, today)


def cost_reply(
    report: CostReport,
    ctx: ChannelContext,
    top: int,
    services: Sequence[str] = (),
    today: date | None = None,
) -> Reply:
    """Render a cost report: total, top groups with share and change, the rest as other,
    credits and tax apart, the forecast, warnings, and a daily chart for several days."""
    title = f"AWS cost · {report.period.name}"
    if services:
        title += f" · {', '.join(service.upper() for service in services)}"
    if report.group_by != SERVICE_GROUPING:
        title += f" · {report.group_by.text}"
    blocks: list[Block] = [header(title)]
    summary = summary_line(report)
    blocks.append(section(summary))
    if report.answered:
        blocks.extend(line_sections(group_lines(report, top)))
    other = other_charges_line(report)
    if other:
        blocks.append(section(other))
    if report.forecast is not None:
        blocks.append(section(forecast_line(report.forecast, report.unit)))
    hint = tag_hint(report)
    if hint:
        blocks.append(context(hint))
    blocks.extend(warning_blocks(report.warnings))
    blocks.append(footer(report, ctx, today))

    files: list[FileAttachment] = []
    if report.answered and report.period.days >= MIN_CHART_DAYS and report.groups:
        files.append(
            FileAttachment(
                filename=(
                    f"cost-{report.period.start.isoformat()}-{report.period.last_day.isoformat()}.png"
                ),
                content=daily_cost_chart(report, top),
                title=f"Daily cost by {report.group_by.noun}, {report.period.describe()}",
            )
        )
    text = fallback_text(report)
    return Reply(text=truncate(text, MAX_FALLBACK_TEXT), blocks=fit(blocks), files=files)


# Lines of the reply


def summary_line(report: CostReport) -> str:
    if not report.answered:
        return (
            f"No cost data for {report.period.describe()}: Cost Explorer did not answer for "
            "any account of this channel. The warnings below say why."
        )
    total = format_amount(report.total, report.unit)
    days = "1 day" if report.period.days == 1 else f"{report.period.days} days"
    line = f"*{total}* from {report.period.describe()} ({days})"
    previous_total = report.previous_total
    if previous_total is not None:
        line += (
            f" · {change_text(report.total, previous_total, report.unit)} against "
            f"{report.previous.describe()} ({format_amount(previous_total, report.unit)})"
        )
    if report.estimated:
        line += " · AWS marks these figures as estimated until the bill is final"
    return line


def group_lines(report: CostReport, top: int) -> list[str]:
    """Return one line per top group and one `Other` line for the rest."""
    ranked = report.ranked()
    if not ranked:
        return [f"No costs recorded for {report.period.describe()}."]
    total = report.total
    previous = report.previous_groups
    lines = []
    for key, amount in ranked[:top]:
        parts = [f"*{escape(report.label(key))}*", format_amount(amount, report.unit)]
        share = share_text(amount, total)
        if share:
            parts.append(share)
        if previous is not None:
            parts.append(change_text(amount, previous.get(key, ZERO), report.unit))
        lines.append(" · ".join(parts))
    rest = ranked[top:]
    if rest:
        amount = sum((value for _, value in rest), ZERO)
        noun = report.group_by.noun
        others = plural(len(rest), f"more {noun}")
        parts = [f"*Other* ({others})", format_amount(amount, report.unit)]
        share = share_text(amount, total)
        if share:
            parts.append(share)
        if previous is not None:
            top_keys = {key for key, _ in ranked[:top]}
            before = sum((value for key, value in previous.items() if key not in top_keys), ZERO)
            parts.append(change_text(amount, before, report.unit))
        lines.append(" · ".join(parts))
    return lines


def other_charges_line(report: CostReport) -> str | None:
    if not report.other_charges:
        return None
    parts = [
        f"{OTHER_CHARGE_NAMES.get(kind, escape(kind))} {format_amount(amount, report.unit)}"
        for kind, amount in sorted(report.other_charges.items())
    ]
    return f"Not in the total above: {' · '.join(parts)}"


def forecast_line(forecast: Forecast, unit: str) -> str:
    month = forecast.month.strftime("%B %Y")
    projected = format_amount(forecast.projected, unit)
    so_far = format_amount(forecast.actual, unit)
    if forecast.method == "aws":
        interval = ""
        if forecast.lower is not None and forecast.upper is not None:
            interval = (
                f", {FORECAST_INTERVAL_PERCENT} % interval {format_amount(forecast.lower, unit)}"
                f" – {format_amount(forecast.upper, unit)}"
            )
        line = f"*Forecast for {month}:* {projected} (AWS forecast{interval}; {so_far} so far)"
    elif forecast.method == "run-rate":
        reasons = "; ".join(escape(reason) for reason in forecast.reasons)
        line = (
            f"*Run-rate projection for {month}:* {projected} (the daily average so far times "
            f"the days of the month; {so_far} so far). AWS did not forecast: {reasons}."
        )
    else:
        reasons = "; ".join(escape(reason) for reason in forecast.reasons)
        line = (
            f"*Forecast for {month}:* {projected} (AWS forecast for some accounts and the run "
            f"rate for the others; {so_far} so far). AWS did not forecast: {reasons}."
        )
    if forecast.estimated_days and forecast.method != "run-rate":
        line += (
            f" {forecast.estimated_days} day between the data and the forecast is counted "
            "at the daily average."
        )
    return line


def tag_hint(report: CostReport) -> str | None:
    """Say how to activate a tag when every cost is in the group without the tag."""
    if report.group_by.type != "TAG" or not report.groups:
        return None
    untagged = {"", f"{report.group_by.key}$"}
    if not set(report.groups) <= untagged:
        return None
    key = escape(report.group_by.key)
    return (
        f"No cost carries the tag `{key}`. Cost Explorer groups only by tags activated as "
        f"cost allocation tags: check `{key}` in the Billing console under Cost allocation tags."
    )


def footer(report: CostReport, ctx: ChannelContext, today: date | None) -> Block:
    accounts = ", ".join(escape(name) for name in report.accounts) or "none"
    price = format_amount(REQUEST_PRICE_USD * report.requests_sent, "USD")
    if today is not None:
        day = f"today is {today.isoformat()} in {ctx.timezone}"
    else:
        day = f"time zone {ctx.timezone}"
    return context(
        f"Cost Explorer {report.metric}, billing days in UTC, {day} · accounts {accounts} · "
        f"{plural(report.requests_sent, 'request')} sent ({price}), {report.cache_hits} "
        f"answered from cache · {report.elapsed:.1f} s"
    )


def fallback_text(report: CostReport) -> str:
    if not report.answered:
        count = len(report.warnings)
        return (
            f"AWS cost {report.period.name}: no data ({count} warning{'' if count == 1 else 's'})"
        )
    text = f"AWS cost {report.period.name}: {format_amount(report.total, report.unit)}"
    previous_total = report.previous_total
    if previous_total is not None:
        change = change_text(report.total, previous_total, report.unit)
        text += f", {change} against {report.previous.describe()}"
    if report.forecast is not None:
        text += f", month-end projection {format_amount(report.forecast.projected, report.unit)}"
    return text


# Numbers


def format_amount(amount: Decimal, unit: str = "USD") -> str:
    """Format an amount to the cent, rounding half up; a value that rounds to zero is never
    shown as `-0.00`."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    # Decimal("-0.00") is not below zero, so it gets no sign.
    sign = "-" if cents < ZERO else ""
    digits = f"{abs(cents):,.2f}"
    if unit == "USD":
        return f"{sign}${digits}"
    return f"{sign}{digits} {unit}"


def share_text(amount: Decimal, total: Decimal) -> str | None:
    if total <= ZERO:
        return None
    percent = (amount / total * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
    return f"{abs(percent) if percent == ZERO else percent} %"


def change_text(current: Decimal, previous: Decimal, unit: str) -> str:
    """Describe the change from `previous` to `current`, e.g. `+12.5 % (+$10.00)`."""
    delta = (current - previous).quantize(CENT, rounding=ROUND_HALF_UP)
    if delta == ZERO:
        return "no change"
    amount = format_amount(delta, unit)
    signed = amount if delta < ZERO else f"+{amount}"
    if previous.quantize(CENT, rounding=ROUND_HALF_UP) == ZERO:
        return f"new ({signed})"
    percent = (delta / abs(previous) * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
    sign = "+" if percent > ZERO else ""
    return f"{sign}{percent} % ({signed})"


# Parsing helpers


def _match_period(lowered: Sequence[str], index: int) -> tuple[str | None, int]:
    """Match a period phrase at `index`; return (period, words used) or (None, 0)."""
    word = lowered[index]
    following = lowered[index + 1] if index + 1 < len(lowered) else ""
    third = lowered[index + 2] if index + 2 < len(lowered) else ""
    if word in ("today", "yesterday"):
        return word, 1

    if word in ("mtd", "month-to-date"):
        return "this month", 1
    if word in ("this", "current") and following == "month":
        return "this month", 2
    if word == "month" and following == "to" and third == "date":
        return "this month", 3
    if word in ("last", "previous", "prior") and following == "month":
        return "last month", 2

    if word in ROLLING_DAYS:
        return word, 1
    rolling = f"{following}d" in ROLLING_DAYS and third in ("days", "day")
    if word in ("last", "past", "previous") and rolling:
        return f"{following}d", 3
    if f"{word}d" in ROLLING_DAYS and following in ("days", "day"):
        return f"{word}d", 2
    if word == "past" and following in ("week", "month"):
        return ("7d" if following == "week" else "30d"), 2

    if _YEAR_MONTH.match(word):
        return word, 1
    if word in _MONTHS:
        if _YEAR.match(following):
            return f"{following}-{_MONTHS[word]:02d}", 2
        return word, 1
    return None, 0


def _match_group(
    tokens: Sequence[str], lowered: Sequence[str], index: int
) -> tuple[GroupBy | None, int]:
    """Match the grouping after `by`; return (grouping, words used) or (None, 0)."""
    word = lowered[index]
    following = lowered[index + 1] if index + 1 < len(lowered) else ""
    if word.startswith("tag:"):
        return _group(tokens[index]), 1
    if word == "tag" and following:
        return _group(f"tag:{tokens[index + 1]}"), 2
    if following == "tag":
        return _group(f"tag:{tokens[index]}"), 2
    if word == "linked" and following in ("account", "accounts"):
        return _group("account"), 2
    if word.removesuffix("s") in ("service", "region", "account"):
        return _group(word), 1
    return None, 0


def _group(text: str) -> GroupBy:
    if text.lower().startswith("tag:") and "=" in text:
        raise CommandError(
            f"Group by `tag:KEY`, without a value: `{shorten(text)}` names a value too. "
            f"Write `by {shorten(text.partition('=')[0])}`. {COST_EXAMPLES}"
        )
    try:
        return GroupBy.parse(text)
    except CostQueryError as exc:
        raise CommandError(f"{exc} {COST_EXAMPLES}") from None


def _service(name: str) -> str:
    if name not in SERVICE_NAMES:
        raise CommandError(
            f"`{shorten(name)}` is not a service aws-monitor can filter costs on. Use one of "
            f"{', '.join(SERVICE_NAMES)}, or group with `by service`. {COST_EXAMPLES}"
        )
    return name


__all__ = [
    "COST_EXAMPLES",
    "CostQuestion",
    "cost_mention_command",
    "cost_reply",
    "cost_verb",
    "parse_cost_args",
]
