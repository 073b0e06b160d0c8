"""Cost periods in a channel's time zone: ordinary days, the 1st, the last day, a year end."""

from __future__ import annotations

from datetime import date

import pytest
from freezegun import freeze_time

from services.cost_periods import (
    NoCostDataYet,
    Period,
    PeriodError,
    local_today,
    previous_period,
    resolve_period,
)

D = date.fromisoformat

# (frozen UTC time, time zone, period, expected start, expected exclusive end)
CASES = [
    # An ordinary day in the middle of a month.
    ("2026-03-14T12:00:00", "UTC", "today", "2026-03-14", "2026-03-15"),
    ("2026-03-14T12:00:00", "UTC", "yesterday", "2026-03-13", "2026-03-14"),
    ("2026-03-14T12:00:00", "UTC", "this month", "2026-03-01", "2026-03-14"),
    ("2026-03-14T12:00:00", "UTC", "last month", "2026-02-01", "2026-03-01"),
    ("2026-03-14T12:00:00", "UTC", "7d", "2026-03-07", "2026-03-14"),
    ("2026-03-14T12:00:00", "UTC", "30d", "2026-02-12", "2026-03-14"),
    ("2026-03-14T12:00:00", "UTC", "2026-01", "2026-01-01", "2026-02-01"),
    ("2026-03-14T12:00:00", "UTC", "2026-03", "2026-03-01", "2026-03-14"),
    # The 1st of a month: everything but `this month` has data.
    ("2026-04-01T08:00:00", "UTC", "today", "2026-04-01", "2026-04-02"),
    ("2026-04-01T08:00:00", "UTC", "yesterday", "2026-03-31", "2026-04-01"),
    ("2026-04-01T08:00:00", "UTC", "last month", "2026-03-01", "2026-04-01"),
    ("2026-04-01T08:00:00", "UTC", "7d", "2026-03-25", "2026-04-01"),
    ("2026-04-01T08:00:00", "UTC", "30d", "2026-03-02", "2026-04-01"),
    # The last day of a month, in a leap year and in an ordinary one.
    ("2024-02-29T10:00:00", "UTC", "this month", "2024-02-01", "2024-02-29"),
    ("2024-02-29T10:00:00", "UTC", "today", "2024-02-29", "2024-03-01"),
    ("2026-02-28T10:00:00", "UTC", "this month", "2026-02-01", "2026-02-28"),
    ("2026-02-28T10:00:00", "UTC", "today", "2026-02-28", "2026-03-01"),
    ("2026-03-31T10:00:00", "UTC", "last month", "2026-02-01", "2026-03-01"),
    ("2026-03-31T10:00:00", "UTC", "this month", "2026-03-01", "2026-03-31"),
    # Across a year end.
    ("2026-12-31T10:00:00", "UTC", "this month", "2026-12-01", "2026-12-31"),
    ("2026-12-31T10:00:00", "UTC", "today", "2026-12-31", "2027-01-01"),
    ("2027-01-01T10:00:00", "UTC", "yesterday", "2026-12-31", "2027-01-01"),
    ("2027-01-01T10:00:00", "UTC", "last month", "2026-12-01", "2027-01-01"),
    ("2027-01-03T10:00:00", "UTC", "7d", "2026-12-27", "2027-01-03"),
    ("2027-01-15T10:00:00", "UTC", "2026-12", "2026-12-01", "2027-01-01"),
    # The channel's time zone picks the date: 23:30 UTC is already tomorrow in Berlin.
    ("2026-12-31T23:30:00", "Europe/Berlin", "last month", "2026-12-01", "2027-01-01"),
    ("2027-01-01T03:00:00", "America/Los_Angeles", "this month", "2026-12-01", "2026-12-31"),
    ("2027-01-01T03:00:00", "America/Los_Angeles", "today", "2026-12-31", "2027-01-01"),
]


@pytest.mark.parametrize(("now", "zone", "text", "start", "end"), CASES)
def test_resolve_period_boundaries(now: str, zone: str, text: str, start: str, end: str) -> None:
    with freeze_time(now):
        period = resolve_period(text, local_today(zone))
    assert period.start == D(start)
    assert period.end == D(end)
    assert period.start < period.end


@pytest.mark.parametrize(
    ("now", "zone"),
    [
        ("2026-04-01T08:00:00", "UTC"),
        ("2027-01-01T00:00:00", "UTC"),
        ("2026-12-31T23:30:00", "Europe/Berlin"),
    ],
)
def test_resolve_period_this_month_on_first(now: str, zone: str) -> None:
    with freeze_time(now), pytest.raises(NoCostDataYet, match="began today"):
        resolve_period("this month", local_today(zone))


def test_resolve_period_today_before_utc_day() -> None:
    # 23:30 UTC is already 00:30 tomorrow in Berlin, and that UTC day has not begun.
    with freeze_time("2026-12-31T23:30:00"):
        today = local_today("Europe/Berlin")
        billing_today = local_today("UTC")
    with pytest.raises(NoCostDataYet, match=r"2027-01-01 has not begun in UTC") as raised:
        resolve_period("today", today, billing_today)
    assert "`cost yesterday` for 2026-12-31" in str(raised.value)

    period = resolve_period("yesterday", today, billing_today)
    assert (period.start, period.end) == (D("2026-12-31"), D("2027-01-01"))
    behind = resolve_period("today", D("2026-12-31"), D("2027-01-01"))
    assert (behind.start, behind.end) == (D("2026-12-31"), D("2027-01-01"))


@pytest.mark.parametrize("text", ["this month", "2027-01"])
def test_resolve_period_first_before_utc_day(text: str) -> None:
    # On the 1st in Tokyo, before the UTC day begins, `cost today` is no way out either.
    with pytest.raises(NoCostDataYet, match="began today") as raised:
        resolve_period(text, D("2027-01-01"), D("2026-12-31"))
    assert "`cost yesterday` or `cost last month`" in str(raised.value)


@pytest.mark.parametrize(("text", "start"), [("7d", "2026-03-07"), ("30d", "2026-02-12")])
def test_resolve_period_rolling_ends_at_utc_day(text: str, start: str) -> None:
    # 01:00 on 15 March in Tokyo is 16:00 on 14 March UTC, a billing day in progress.
    period = resolve_period(text, D("2026-03-15"), D("2026-03-14"))
    assert (period.start, period.end) == (D(start), D("2026-03-14"))


def test_resolve_period_current_month_on_first() -> None:
    with pytest.raises(NoCostDataYet, match=r"no\s+complete day"):
        resolve_period("2026-04", D("2026-04-01"))


def test_resolve_period_month_to_date_flag() -> None:
    today = D("2026-03-14")
    assert resolve_period("this month", today).month_to_date
    assert resolve_period("2026-03", today).month_to_date
    assert not resolve_period("last month", today).month_to_date
    assert not resolve_period("2026-02", today).month_to_date


def test_resolve_period_future_month() -> None:
    with pytest.raises(PeriodError, match="has not begun"):
        resolve_period("2027-01", D("2026-12-31"))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "1999-12", "fortnight", "14d", ""])
def test_resolve_period_invalid(text: str) -> None:
    with pytest.raises(PeriodError):
        resolve_period(text, D("2026-03-14"))


def test_resolve_period_ignores_case_and_spaces() -> None:
    assert resolve_period("  Last   MONTH ", D("2026-03-14")).start == D("2026-02-01")


PREVIOUS = [
    # (period, today, expected previous start, expected previous end)
    ("today", "2026-03-14", "2026-03-13", "2026-03-14"),
    ("yesterday", "2026-03-14", "2026-03-12", "2026-03-13"),
    ("7d", "2026-03-14", "2026-02-28", "2026-03-07"),
    ("30d", "2026-03-14", "2026-01-13", "2026-02-12"),
    ("last month", "2026-03-14", "2026-01-01", "2026-02-01"),
    ("last month", "2027-01-10", "2026-11-01", "2026-12-01"),
    ("2026-01", "2026-03-14", "2025-12-01", "2026-01-01"),
    # A month to date compares with the same days of the month before, clamped.
    ("this month", "2026-03-14", "2026-02-01", "2026-02-14"),
    ("this month", "2026-03-31", "2026-02-01", "2026-03-01"),
    ("this month", "2027-01-02", "2026-12-01", "2026-12-02"),
    ("this month", "2024-03-31", "2024-02-01", "2024-03-01"),
]


@pytest.mark.parametrize(("text", "today", "start", "end"), PREVIOUS)
def test_previous_period_equal_length(text: str, today: str, start: str, end: str) -> None:
    period = resolve_period(text, D(today))
    previous = previous_period(period)
    assert previous.start == D(start)
    assert previous.end == D(end)
    assert previous.end <= period.start


def test_period_describe_includes_last_day() -> None:
    assert Period("x", D("2026-03-01"), D("2026-03-14")).describe() == "2026-03-01 – 2026-03-13"
    assert Period("x", D("2026-03-13"), D("2026-03-14")).describe() == "2026-03-13"


def test_period_dates_and_calendar_month() -> None:
    february = resolve_period("2024-02", D("2024-05-01"))
    assert february.days == 29
    assert february.calendar_month
    assert february.dates()[-1] == D("2024-02-29")


def test_previous_period_rolling_days_matching_month() -> None:
    # On 1 May, 30d is exactly April, but it is still compared with the 30 days before.
    period = resolve_period("30d", D("2024-05-01"))
    assert (period.start, period.end) == (D("2024-04-01"), D("2024-05-01"))
    assert not period.calendar_month
    previous = previous_period(period)
    assert (previous.start, previous.end) == (D("2024-03-02"), D("2024-04-01"))


def test_local_today_time_zones() -> None:
    with freeze_time("2026-06-30T22:30:00"):
        assert local_today("UTC") == D("2026-06-30")
        assert local_today("Europe/Berlin") == D("2026-07-01")
        assert local_today("Pacific/Auckland") == D("2026-07-01")
        assert local_today("America/New_York") == D("2026-06-30")
