"""Cost periods: `today`, `yesterday`, `this month`, `last month`, `7d`, `30d` and `YYYY-MM`.

The channel's time zone decides which date is today. The period is then a range of
Cost Explorer billing days, which are UTC days, with an exclusive `End` as Cost
Explorer expects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.errors import AwsMonitorError

PERIOD_WORDS = ("today", "yesterday", "this month", "last month", "7d", "30d")
ROLLING_DAYS = {"7d": 7, "30d": 30}
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(AwsMonitorError):
    """The text is not a cost period, or names a month that has not begun."""


class NoCostDataYet(AwsMonitorError):
    """The period has no complete billing day yet, such as `this month` on the 1st."""


@dataclass(frozen=True)
class Period:
    """A range of billing days: `start` inclusive, `end` exclusive.

    `calendar_month` marks a whole month asked for as a month (`last month`, `2026-02`),
    which is compared with the whole month before it. `month_to_date` marks the current
    month up to, not including, today.
    """

    name: str
    start: date
    end: date
    month_to_date: bool = False
    calendar_month: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.days)]

    def describe(self) -> str:
        """Return the range with its last day included, e.g. `2026-03-01 – 2026-03-13`."""
        if self.days == 1:
            return self.start.isoformat()
        return f"{self.start.isoformat()} – {self.last_day.isoformat()}"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(first: date, months: int) -> date:
    """Return the first day of the month `months` after the month of `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def local_today(timezone: str, now: datetime | None = None) -> date:
    """Return today's date in an IANA time zone such as Europe/Berlin."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.astimezone(ZoneInfo(timezone)).date()


def resolve_period(text: str, today: date, billing_today: date | None = None) -> Period:
    """Turn a period word into billing days; raise PeriodError or NoCostDataYet.

    `this month` ends before today, so its figures cover complete days only. On the 1st
    it has no complete day. Cost Explorer rejects a request whose Start equals its End,
    so NoCostDataYet is raised instead.

    `billing_today` is the current UTC date. Where the channel's date is ahead of it,
    `today` names a billing day that has not begun, and NoCostDataYet is raised. `7d` and
    `30d` then end before the UTC day in progress, so they still cover complete days.
    """
    name = " ".join(text.lower().split())
    ahead_of_utc = billing_today is not None and today > billing_today
    if name == "today":
        if billing_today is not None and ahead_of_utc:
            raise NoCostDataYet(
                f"It is {today.isoformat()} in this channel's time zone, but Cost Explorer "
                f"counts costs by UTC day and {today.isoformat()} has not begun in UTC. Ask "
                f"for `cost yesterday` for {billing_today.isoformat()}, which is still in "
                "progress."
            )
        return Period(name, today, today + timedelta(days=1))
    if name == "yesterday":
        return Period(name, today - timedelta(days=1), today)
    if name == "this month":
        return _month_to_date(name, today, ahead_of_utc)
    if name == "last month":
        this_month = first_of_month(today)
        return Period(name, add_months(this_month, -1), this_month, calendar_month=True)
    if name in ROLLING_DAYS:
        end = today if billing_today is None else min(today, billing_today)
        return Period(name, end - timedelta(days=ROLLING_DAYS[name]), end)
    match = _YEAR_MONTH.match(name)
    if match is None:
        raise PeriodError(
            f"`{text}` is not a cost period. Use one of {', '.join(PERIOD_WORDS)} "
            "or a month such as 2026-03."
        )
    return _calendar_month(name, int(match[1]), int(match[2]), today, ahead_of_utc)


def previous_period(period: Period) -> Period:
    """Return the period of equal length just before, for the change figures.

    A whole month is compared with the whole month before it. A month to date is
    compared with the same days of the month before (clamped to that month's
    length). Any other period is compared with the same number of days before it.
    """
    if period.calendar_month:
        start = add_months(period.start, -1)
        return Period(f"before {period.name}", start, period.start)
    if period.month_to_date:
        start = add_months(period.start, -1)
        end = min(start + timedelta(days=period.days), period.start)
        return Period(f"before {period.name}", start, end)
    length = timedelta(days=period.days)
    return Period(f"before {period.name}", period.start - length, period.start)


def _month_to_date(name: str, today: date, ahead_of_utc: bool = False) -> Period:
    first = first_of_month(today)
    if first == today:
        # Before the UTC day begins, `cost today` would be rejected too.
        instead = "cost yesterday" if ahead_of_utc else "cost today"
        raise NoCostDataYet(
            f"This month began today ({today.isoformat()}), so Cost Explorer has no "
            f"complete day of it yet. Ask for `{instead}` or `cost last month` instead."
        )
    return Period(name, first, today, month_to_date=True)


def _calendar_month(
    name: str, year: int, month: int, today: date, ahead_of_utc: bool = False
) -> Period:
    if not 1 <= month <= 12 or year < 2000:
        raise PeriodError(f"`{name}` is not a month; write it as YYYY-MM, e.g. 2026-03.")
    first = date(year, month, 1)
    this_month = first_of_month(today)
    if first > this_month:
        raise PeriodError(
            f"{name} has not begun yet (today is {today.isoformat()} in this channel's time zone)."
        )
    if first == this_month:
        return _month_to_date(name, today, ahead_of_utc)
    return Period(name, first, add_months(first, 1), calendar_month=True)
