"""Figures of the daily cost digest: yesterday against earlier days, and cost spikes.

The digest reads two cost reports by service. The first covers the last 15 billing
days, which hold yesterday, the day before, the same weekday a week earlier and
the 14 days that give each service's mean. The second is the month to date, with
the same days of last month and the month-end forecast. "Yesterday" is the day
before today in the channel's time zone, taken as a Cost Explorer billing day
(a UTC day), as services.cost_periods does for every cost question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.accounts import Account
from services.cost_periods import NoCostDataYet, Period, resolve_period
from services.costs import SERVICE_GROUPING, ZERO, CostExplorer, CostReport
from services.fanout import ScanWarning

SPIKE_WINDOW_DAYS = 14
WEEK = timedelta(days=7)
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class SpikeRule:
    """When a service's cost on one day counts as a spike.

    A spike is a day's cost more than `percent` % and more than `min_amount` (in the
    report's currency, USD by default) above the service's mean daily cost over the
    `window_days` days before. Days without a cost count as zero in that mean.
    """

    percent: Decimal
    min_amount: Decimal
    window_days: int = SPIKE_WINDOW_DAYS

    def is_spike(self, amount: Decimal, mean: Decimal) -> bool:
        above = amount - mean
        return above > self.min_amount and above > mean * self.percent / 100


@dataclass(frozen=True)
class ServiceChange:
    """One service's cost on the digest day and on the days it is compared with."""

    key: str
    label: str
    amount: Decimal
    day_before: Decimal
    week_before: Decimal


@dataclass(frozen=True)
class Spike:
    """A service whose cost on the digest day broke the spike rule."""

    key: str
    label: str
    amount: Decimal
    mean: Decimal

    @property
    def above(self) -> Decimal:
        return self.amount - self.mean

    @property
    def percent(self) -> Decimal | None:
        """Return how far above the mean the day was, in percent; None when the mean is 0."""
        if self.mean <= ZERO:
            return None
        return self.above / self.mean * 100


@dataclass
class CostDigest:
    """The figures of one channel's cost digest for one local date.

    `day` is the billing day reported (yesterday). `month` is None on the first
    day of a month, when the month has no complete billing day yet.
    """

    today: date
    day: date
    rule: SpikeRule
    recent: CostReport
    month: CostReport | None

    @property
    def unit(self) -> str:
        return self.recent.unit

    @property
    def day_before(self) -> date:
        return self.day - ONE_DAY

    @property
    def week_before(self) -> date:
        return self.day - WEEK

    @property
    def has_day(self) -> bool:
        """Return whether Cost Explorer returned any cost for the digest day."""
        return bool(self.recent.daily.get(self.day))

    def total(self, day: date) -> Decimal:
        return sum(self.recent.daily.get(day, {}).values(), ZERO)

    def services(self) -> list[ServiceChange]:
        """Return the services that cost anything on the digest day, largest first."""
        daily = self.recent.daily
        changes = [
            ServiceChange(
                key=key,
                label=self.recent.label(key),
                amount=amount,
                day_before=daily.get(self.day_before, {}).get(key, ZERO),
                week_before=daily.get(self.week_before, {}).get(key, ZERO),
            )
            for key, amount in daily.get(self.day, {}).items()
        ]
        return sorted(changes, key=lambda change: (-change.amount, change.label))

    def spikes(self) -> list[Spike]:
        return find_spikes(self.recent.daily, self.day, self.rule, self.recent.labels)

    def warnings(self) -> list[ScanWarning]:
        """Return the warnings of both reports, each message once."""
        reports = [self.recent] if self.month is None else [self.recent, self.month]
        seen: set[str] = set()
        warnings = []
        for report in reports:
            for warning in report.warnings:
                if warning.message not in seen:
                    seen.add(warning.message)
                    warnings.append(warning)
        return warnings

    @property
    def requests_sent(self) -> int:
        return self.recent.requests_sent + (self.month.requests_sent if self.month else 0)

    @property
    def cache_hits(self) -> int:
        return self.recent.cache_hits + (self.month.cache_hits if self.month else 0)


def mean_before(
    daily: Mapping[date, Mapping[str, Decimal]], key: str, day: date, days: int
) -> Decimal:
    """Return a group's mean daily cost over the `days` days before `day`; a day without
    a cost for it counts as zero."""
    total = sum(
        (daily.get(day - offset * ONE_DAY, {}).get(key, ZERO) for offset in range(1, days + 1)),
        ZERO,
    )
    return total / days


def find_spikes(
    daily: Mapping[date, Mapping[str, Decimal]],
    day: date,
    rule: SpikeRule,
    labels: Mapping[str, str] | None = None,
) -> list[Spike]:
    """Return the groups whose cost on `day` breaks `rule`, the largest rise first."""
    spikes = []
    for key, amount in daily.get(day, {}).items():
        mean = mean_before(daily, key, day, rule.window_days)
        if rule.is_spike(amount, mean):
            label = (labels or {}).get(key, key)
            spikes.append(Spike(key=key, label=label, amount=amount, mean=mean))
    return sorted(spikes, key=lambda spike: (-spike.above, spike.label))


def recent_period(today: date, window_days: int = SPIKE_WINDOW_DAYS) -> Period:
    """Return the billing days from `window_days` days before yesterday up to yesterday."""
    start = today - ONE_DAY - window_days * ONE_DAY
    return Period(f"last {window_days + 1} days", start, today)


def collect_cost_digest(
    explorer: CostExplorer,
    accounts: Sequence[Account],
    today: date,
    rule: SpikeRule,
    user_id: str | None = None,
) -> CostDigest:
    """Ask Cost Explorer for the figures of the cost digest of `today` (a local date).

    Both reports go through the explorer's cache, so a digest and a cost question
    asked on the same day share their requests. The recent days are shown by day and
    service only, so their report skips the previous period and the other charges.
    """
    recent = explorer.report(
        accounts,
        recent_period(today, rule.window_days),
        SERVICE_GROUPING,
        user_id=user_id,
        forecast=False,
        compare=False,
        other_charges=False,
    )
    month: CostReport | None
    try:
        month_period = resolve_period("this month", today)
    except NoCostDataYet:
        month = None
    else:
        month = explorer.report(accounts, month_period, SERVICE_GROUPING, user_id=user_id)
    return CostDigest(today=today, day=today - ONE_DAY, rule=rule, recent=recent, month=month)
