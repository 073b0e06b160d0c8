"""Cost Explorer results for the accounts of a channel, cached because each request costs money.

Usage figures leave out credits, refunds and tax through a RECORD_TYPE filter. A
second request, grouped by RECORD_TYPE, returns those three on their own, so the
reply can show them on a separate line instead of netting them into usage.

Each Cost Explorer request costs USD 0.01, every page included, so every request
goes through a `CostCache`. A request whose period ended before the current UTC
month began, and that AWS no longer marks as estimated, is kept for good. Any
other request is kept for `cache_hours`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from services.accounts import Account
from services.cost_periods import Period, add_months, first_of_month, previous_period
from services.errors import (
    ACCESS_DENIED_CODES,
    AwsMonitorError,
    account_label,
    describe_aws_error,
    error_code,
)
from services.fanout import FanOut, Outcome, ScanWarning, Task
from services.sessions import SessionFactory

logger = logging.getLogger(__name__)

CE_REGION = "us-east-1"
# AWS Cost Explorer FAQ: USD 0.01 per API request, and each page of a paginated result
# is a separate request.
REQUEST_PRICE_USD = Decimal("0.01")
NON_USAGE_RECORD_TYPES = ("Credit", "Refund", "Tax")
FORECAST_INTERVAL_PERCENT = 80
MAX_PAGES = 100
LOCK_STRIPES = 64
ZERO = Decimal(0)

# get_cost_and_usage names metrics in CamelCase, get_cost_forecast in upper snake case.
FORECAST_METRICS = {
    "UnblendedCost": "UNBLENDED_COST",
    "BlendedCost": "BLENDED_COST",
    "AmortizedCost": "AMORTIZED_COST",
    "NetUnblendedCost": "NET_UNBLENDED_COST",
    "NetAmortizedCost": "NET_AMORTIZED_COST",
}
GROUP_DIMENSIONS = {"service": "SERVICE", "region": "REGION", "account": "LINKED_ACCOUNT"}
# Values of Cost Explorer's SERVICE dimension for the short names the bot accepts.
# EC2 instance hours are under "Compute"; EBS, NAT gateways and EC2 data transfer
# are under "EC2 - Other".
SERVICE_NAMES: dict[str, tuple[str, ...]] = {
    "ec2": ("Amazon Elastic Compute Cloud - Compute", "EC2 - Other"),
    "rds": ("Amazon Relational Database Service",),
    "s3": ("Amazon Simple Storage Service",),
    "lambda": ("AWS Lambda",),
    "eks": ("Amazon Elastic Container Service for Kubernetes",),
    "emr": ("Amazon Elastic MapReduce",),
    "cloudwatch": ("AmazonCloudWatch",),
}
NOT_ENABLED_MESSAGE = "not enabled for cost explorer"


class CostQueryError(AwsMonitorError):
    """A cost question names an unknown grouping or service."""


class CostCache(Protocol):
    """Storage for Cost Explorer responses; bot.store.Store implements it."""

    def get_cost(self, key: str) -> Any | None:
        """Return the stored response, or None when it is missing or expired."""
        ...

    def put_cost(
        self, key: str, request: dict[str, Any], response: Any, expires_at: datetime | None
    ) -> None:
        """Store a response; `expires_at` None keeps it for good."""
        ...


@dataclass(frozen=True)
class GroupBy:
    """The grouping of costs: a Cost Explorer dimension, or a cost-allocation tag key."""

    type: str
    key: str

    @classmethod
    def parse(cls, text: str) -> GroupBy:
        """Parse `service`, `region`, `account` or `tag:KEY`; raise CostQueryError otherwise."""
        word = text.strip()
        if word.lower().startswith("tag:"):
            key = word[len("tag:") :]
            if not key:
                raise CostQueryError("`tag:` needs a tag key, e.g. `by tag:Team`.")
            return cls("TAG", key)
        dimension = GROUP_DIMENSIONS.get(word.lower().removesuffix("s"))
        if dimension is None:
            raise CostQueryError(
                f"Costs cannot be grouped by `{word}`. Use `by service`, `by region`, "
                "`by account` or `by tag:KEY`."
            )
        return cls("DIMENSION", dimension)

    @property
    def noun(self) -> str:
        """Return the word for one group in a reply: service, region, account or tag value."""
        if self.type == "TAG":
            return f"{self.key} tag value"
        names = {dimension: word for word, dimension in GROUP_DIMENSIONS.items()}
        return names.get(self.key, self.key.lower())

    @property
    def text(self) -> str:
        """Return the command words that ask for this grouping, e.g. `by tag:Team`."""
        return f"by tag:{self.key}" if self.type == "TAG" else f"by {self.noun}"

    def definition(self) -> dict[str, str]:
        return {"Type": self.type, "Key": self.key}


SERVICE_GROUPING = GroupBy("DIMENSION", "SERVICE")
RECORD_TYPE_GROUPING = GroupBy("DIMENSION", "RECORD_TYPE")


@dataclass(frozen=True)
class CostSource:
    """One Cost Explorer to query, and the account ids its results are filtered to.

    `linked_ids` empty means no LINKED_ACCOUNT filter: the account's own view.
    `covers` names the channel accounts whose costs the results contain.
    """

    account: Account
    linked_ids: tuple[str, ...] = ()
    covers: tuple[str, ...] = ()


@dataclass
class SourceForecast:
    """The month-end projection for one Cost Explorer source."""

    account: str
    actual: Decimal
    projected: Decimal
    method: str
    lower: Decimal | None = None
    upper: Decimal | None = None
    reason: str | None = None
    estimated_days: int = 0


@dataclass
class Forecast:
    """The month-end projection for all sources of a report together.

    `method` is `aws` when every source got a forecast from get_cost_forecast,
    `run-rate` when none did, and `mixed` otherwise. The interval is set only for `aws`.
    """

    month: date
    actual: Decimal
    projected: Decimal
    method: str
    lower: Decimal | None
    upper: Decimal | None
    reasons: list[str]
    estimated_days: int = 0


@dataclass
class SourceCosts:
    """The costs that one Cost Explorer source returned, before they are merged into a CostReport."""

    source: CostSource
    daily: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    previous: dict[str, Decimal] | None = None
    other_charges: dict[str, Decimal] = field(default_factory=dict)
    forecast: SourceForecast | None = None
    units: set[str] = field(default_factory=set)
    estimated: bool = False
    answered: bool = False
    warnings: list[str] = field(default_factory=list)
    requests_sent: int = 0
    cache_hits: int = 0


@dataclass
class CostReport:
    """Costs of a period for a set of accounts, with the figures needed to render a reply."""

    period: Period
    previous: Period
    group_by: GroupBy
    metric: str
    services: tuple[str, ...]
    unit: str
    daily: dict[date, dict[str, Decimal]]
    groups: dict[str, Decimal]
    previous_groups: dict[str, Decimal] | None
    other_charges: dict[str, Decimal]
    labels: dict[str, str]
    forecast: Forecast | None
    warnings: list[ScanWarning]
    accounts: list[str]
    answered: bool
    estimated: bool
    requests_sent: int
    cache_hits: int
    elapsed: float

    @property
    def total(self) -> Decimal:
        return sum(self.groups.values(), ZERO)

    @property
    def previous_total(self) -> Decimal | None:
        if self.previous_groups is None:
            return None
        return sum(self.previous_groups.values(), ZERO)

    def ranked(self) -> list[tuple[str, Decimal]]:
        """Return the groups by amount, largest first; equal amounts by label."""
        return sorted(
            self.groups.items(), key=lambda item: (-item[1], self.labels.get(item[0], item[0]))
        )

    def label(self, key: str) -> str:
        return self.labels.get(key, key)


@dataclass(frozen=True)
class _Question:
    period: Period
    previous: Period
    group_by: GroupBy
    services: tuple[str, ...]
    user_id: str | None
    forecast: bool
    compare: bool = True
    other_charges: bool = True


def plan_sources(
    accounts: Sequence[Account], known: Mapping[str, Account]
) -> tuple[list[CostSource], list[ScanWarning]]:
    """Decide which account's Cost Explorer returns the costs of each account.

    An account is queried through its own role unless it names a `cost_payer`. Then the
    payer's Cost Explorer is queried with a LINKED_ACCOUNT filter on the account's id.
    A payer that is itself in the list is added to that filter, so no cost is counted twice.
    """
    members: dict[str, list[Account]] = {}
    payers: dict[str, Account] = {}
    warnings: list[ScanWarning] = []
    for account in accounts:
        payer = known.get(account.cost_payer, account) if account.cost_payer else account
        payers.setdefault(payer.name, payer)
        members.setdefault(payer.name, []).append(account)

    sources = []
    for name, payer in payers.items():
        accounts_here = members[name]
        if accounts_here == [payer]:
            sources.append(CostSource(payer, (), (payer.name,)))
            continue
        if payer in accounts_here and payer.account_id is None:
            # Without the payer's own id no filter can select only the listed accounts,
            # and the payer's unfiltered view already contains every account it pays for.
            warnings.append(
                ScanWarning(
                    payer.name,
                    None,
                    f"Costs of account {payer.name} are shown unfiltered, so they include "
                    "every account it pays for; add its role_arn so that aws-monitor knows "
                    "its account id.",
                )
            )
            sources.append(CostSource(payer, (), tuple(a.name for a in accounts_here)))
            continue
        linked: list[str] = []
        covers: list[str] = []
        for account in accounts_here:
            if account.account_id is None:
                warnings.append(
                    ScanWarning(
                        account.name,
                        None,
                        f"Costs of account {account.name} are left out: it names cost_payer "
                        f"{payer.name} but has no role_arn, so its account id for the "
                        "LINKED_ACCOUNT filter is unknown.",
                    )
                )
                continue
            linked.append(account.account_id)
            covers.append(account.name)
        if linked:
            sources.append(CostSource(payer, tuple(linked), tuple(covers)))
    return sources, warnings


def scope_filters(linked_ids: Sequence[str], services: Sequence[str]) -> list[dict[str, Any]]:
    """Return the LINKED_ACCOUNT and SERVICE parts of a filter, when they apply."""
    parts: list[dict[str, Any]] = []
    if linked_ids:
        parts.append({"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(linked_ids)}})
    if services:
        parts.append({"Dimensions": {"Key": "SERVICE", "Values": list(services)}})
    return parts


def usage_filter(linked_ids: Sequence[str], services: Sequence[str]) -> dict[str, Any]:
    """Return the filter for usage figures: every record type except credits, refunds and tax."""
    not_usage = {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(NON_USAGE_RECORD_TYPES)}}
    return _all_of([{"Not": not_usage}, *scope_filters(linked_ids, services)])


def other_charges_filter(linked_ids: Sequence[str], services: Sequence[str]) -> dict[str, Any]:
    """Return the filter that selects only credits, refunds and tax."""
    only = {"Dimensions": {"Key": "RECORD_TYPE", "Values": list(NON_USAGE_RECORD_TYPES)}}
    return _all_of([only, *scope_filters(linked_ids, services)])


def _all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    # Cost Explorer rejects an `And` with fewer than two expressions.
    return parts[0] if len(parts) == 1 else {"And": parts}


def time_period(start: date, end: date) -> dict[str, str]:
    return {"Start": start.isoformat(), "End": end.isoformat()}


def merge_pages(pages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge get_cost_and_usage pages into one response, joining results of the same period.

    A page may continue the groups of a time period that an earlier page began, so
    results are keyed by their start date, and their groups are concatenated.
    """
    by_start: dict[str, dict[str, Any]] = {}
    attributes: list[Any] = []
    definitions: list[Any] = []
    for page in pages:
        for result in page.get("ResultsByTime", []):
            start = result["TimePeriod"]["Start"]
            merged = by_start.get(start)
            if merged is None:
                by_start[start] = {
                    "TimePeriod": dict(result["TimePeriod"]),
                    "Total": dict(result.get("Total") or {}),
                    "Groups": list(result.get("Groups") or []),
                    "Estimated": bool(result.get("Estimated", False)),
                }
                continue
            merged["Groups"].extend(result.get("Groups") or [])
            merged["Total"] = merged["Total"] or dict(result.get("Total") or {})
            merged["Estimated"] = merged["Estimated"] or bool(result.get("Estimated", False))
        attributes.extend(page.get("DimensionValueAttributes", []))
        definitions = definitions or list(page.get("GroupDefinitions", []))
    return {
        "ResultsByTime": [by_start[start] for start in sorted(by_start)],
        "DimensionValueAttributes": attributes,
        "GroupDefinitions": definitions,
    }


def sum_groups(
    response: Mapping[str, Any], metric: str
) -> tuple[dict[date, dict[str, Decimal]], set[str]]:
    """Sum a merged response per result start date and group key, as Decimal.

    A result without groups contributes its Total under the key "".
    """
    amounts: dict[date, dict[str, Decimal]] = {}
    units: set[str] = set()
    for result in response.get("ResultsByTime", []):
        day = date.fromisoformat(result["TimePeriod"]["Start"])
        bucket = amounts.setdefault(day, {})
        groups = result.get("Groups") or []
        for group in groups:
            value = group.get("Metrics", {}).get(metric)
            if value is None:
                continue
            keys = group.get("Keys") or [""]
            bucket[keys[0]] = bucket.get(keys[0], ZERO) + Decimal(value["Amount"])
            units.add(value.get("Unit") or "USD")
        total = (result.get("Total") or {}).get(metric)
        if not groups and total is not None and Decimal(total["Amount"]) != ZERO:
            bucket[""] = bucket.get("", ZERO) + Decimal(total["Amount"])
            units.add(total.get("Unit") or "USD")
    return amounts, units


def add_into(target: dict[str, Decimal], amounts: Mapping[str, Decimal]) -> None:
    for key, amount in amounts.items():
        target[key] = target.get(key, ZERO) + amount


def is_estimated(response: Mapping[str, Any]) -> bool:
    return any(result.get("Estimated") for result in response.get("ResultsByTime", []))


def cache_key(account: Account, operation: str, params: Mapping[str, Any]) -> str:
    """Return a 64-character key for one request to one account's Cost Explorer."""
    identity = {
        "account": account.name,
        "role_arn": account.role_arn,
        "operation": operation,
        "request": params,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def group_label(group_by: GroupBy, key: str, names_by_id: Mapping[str, str]) -> str:
    """Return a readable name for a group key: `Team$data` becomes `data`, an id its account."""
    if group_by.type == "TAG":
        value = key.removeprefix(f"{group_by.key}$")
        return value or f"(no {group_by.key} tag)"
    if group_by.key == "LINKED_ACCOUNT" and key in names_by_id:
        return account_label(names_by_id[key], key)
    return key or f"(no {group_by.noun})"


def describe_cost_error(exc: ClientError, account: Account, action: str) -> str | None:
    """Return a sentence for Cost Explorer's own failures, or None for generic AWS errors."""
    code = error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    label = account.label
    if code == "DataUnavailableException":
        return (
            f"Cost Explorer has no data for account {label} ({action} returned "
            "DataUnavailableException). Cost Explorer may not be enabled for it, or has not "
            "prepared its data yet after being enabled."
        )
    if code in ACCESS_DENIED_CODES and NOT_ENABLED_MESSAGE in message.lower():
        return (
            f"Cost Explorer is not enabled for account {label}. Enable it in the Billing "
            "console, or let the management account grant member accounts access."
        )
    return None


def _forecast_failure(exc: BaseException, account: Account) -> str:
    code = error_code(exc)
    message = ""
    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message", ""))
    if code == "DataUnavailableException" or "historical data" in message.lower():
        return f"AWS has too little cost history of account {account.label} to forecast"
    return describe_aws_error(
        exc,
        action="ce:GetCostForecast",
        account=account.name,
        account_id=account.account_id,
        region=None,
    )


class CostExplorer:
    """Cost Explorer queries for the accounts of a channel, behind the cache.

    One instance serves every request.

    `requests_sent` counts the Cost Explorer requests sent per operation (one per page),
    and `cache_hits` the requests served from the cache instead.
    """

    def __init__(
        self,
        factory: SessionFactory,
        fanout: FanOut,
        cache: CostCache,
        accounts: Mapping[str, Account],
        *,
        cache_hours: float = 6.0,
        metric: str = "UnblendedCost",
        top: int = 5,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if metric not in FORECAST_METRICS:
            raise ValueError(f"Unknown Cost Explorer metric {metric!r}")
        self.factory = factory
        self.fanout = fanout
        self.cache = cache
        self.accounts = accounts
        self.cache_hours = cache_hours
        self.metric = metric
        self.top = top
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counts_lock = threading.Lock()
        self.requests_sent: Counter[str] = Counter()
        self.cache_hits: Counter[str] = Counter()
        self._key_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Cache calls take milliseconds and are serialized, because a store on an
        # in-memory SQLite database shares one connection between all threads.
        self._cache_lock = threading.Lock()

    def report(
        self,
        accounts: Sequence[Account],
        period: Period,
        group_by: GroupBy = SERVICE_GROUPING,
        *,
        services: Sequence[str] = (),
        user_id: str | None = None,
        forecast: bool = True,
        compare: bool = True,
        other_charges: bool = True,
    ) -> CostReport:
        """Return the costs of `period`, the previous equal period and, for a month to date,
        the month-end forecast. Failures of one account become warnings.

        `compare`, `other_charges` and `forecast` set to False skip the request for the
        previous period, for credits, refunds and tax, and for the forecast (USD 0.01 each).
        """
        started = time.monotonic()
        question = _Question(
            period=period,
            previous=previous_period(period),
            group_by=group_by,
            services=tuple(services),
            user_id=user_id,
            forecast=forecast and period.month_to_date,
            compare=compare,
            other_charges=other_charges,
        )
        sources, warnings = plan_sources(accounts, self.accounts)
        tasks: list[Task[SourceCosts]] = [
            Task(
                account=source.account,
                region=None,
                action="ce:GetCostAndUsage",
                run=partial(self._source_costs, source, question),
            )
            for source in sources
        ]
        gathered = self.fanout.run(tasks)
        warnings.extend(gathered.warnings)
        return self._combine(question, sources, gathered.items, warnings, started)

    @property
    def total_requests(self) -> int:
        with self._counts_lock:
            return sum(self.requests_sent.values())

    # One source

    def _source_costs(self, source: CostSource, question: _Question) -> Outcome[SourceCosts]:
        client = self.factory.client(source.account, "ce", CE_REGION, user_id=question.user_id)
        result = SourceCosts(source)
        period = question.period
        try:
            current = self._usage(client, result, question, period.start, period.end)
        except ClientError as exc:
            message = describe_cost_error(exc, source.account, "ce:GetCostAndUsage")
            if message is None:
                raise
            logger.warning("%s", message)
            result.warnings.append(message)
            return Outcome(items=[result])
        result.daily = current
        result.answered = True
        if question.compare:
            self._add_previous(client, result, question)
        if question.other_charges:
            result.other_charges = self._other_charges(client, result, question)
        if question.forecast:
            result.forecast = self._forecast(client, result, question)
        return Outcome(items=[result])

    def _add_previous(self, client: Any, result: SourceCosts, question: _Question) -> None:
        period, previous = question.period, question.previous
        # A month to date is compared with the first days of the previous month. The
        # request covers that whole month, so it is closed, kept for good, and shared
        # with the `last month` question.
        fetch_start = previous.start
        fetch_end = period.start if period.month_to_date else previous.end
        try:
            before = self._usage(client, result, question, fetch_start, fetch_end)
        except ClientError as exc:
            account = result.source.account
            message = describe_cost_error(exc, account, "ce:GetCostAndUsage")
            if message is None:
                raise
            logger.warning("No previous-period costs for %s: %s", account.name, message)
            result.warnings.append(
                f"The change against the previous period is not shown: {message}"
            )
        else:
            result.previous = {}
            for day, amounts in before.items():
                if previous.start <= day < previous.end:
                    add_into(result.previous, amounts)

    def _usage(
        self, client: Any, result: SourceCosts, question: _Question, start: date, end: date
    ) -> dict[date, dict[str, Decimal]]:
        params = {
            "TimePeriod": time_period(start, end),
            "Granularity": "DAILY",
            "Metrics": [self.metric],
            "GroupBy": [question.group_by.definition()],
            "Filter": usage_filter(result.source.linked_ids, question.services),
        }
        response = self._cached_cost_and_usage(client, result, params, end)
        amounts, units = sum_groups(response, self.metric)
        result.units |= units
        result.estimated = result.estimated or is_estimated(response)
        return amounts

    def _other_charges(
        self, client: Any, result: SourceCosts, question: _Question
    ) -> dict[str, Decimal]:
        period = question.period
        params = {
            "TimePeriod": time_period(period.start, period.end),
            "Granularity": "MONTHLY",
            "Metrics": [self.metric],
            "GroupBy": [RECORD_TYPE_GROUPING.definition()],
            "Filter": other_charges_filter(result.source.linked_ids, question.services),
        }
        try:
            response = self._cached_cost_and_usage(client, result, params, period.end)
        except ClientError as exc:
            message = describe_cost_error(exc, result.source.account, "ce:GetCostAndUsage")
            if message is None:
                raise
            logger.warning(
                "No credits, refunds and tax for %s: %s", result.source.account.name, message
            )
            result.warnings.append(f"Credits, refunds and tax are not shown: {message}")
            return {}
        amounts, units = sum_groups(response, self.metric)
        result.units |= units
        charges: dict[str, Decimal] = {}
        for by_type in amounts.values():
            add_into(charges, by_type)
        return charges

    def _forecast(self, client: Any, result: SourceCosts, question: _Question) -> SourceForecast:
        """Project the month's total: the days so far plus AWS's forecast of the rest.

        get_cost_forecast rejects a start before the current UTC date, so the forecast
        starts at the later of the channel's today and the UTC today. A day between
        them, which neither figure covers, is counted at the month's daily average.
        When AWS cannot forecast, the projection is the daily average times the days
        of the month (a run rate).
        """
        period = question.period
        account = result.source.account
        month_end = add_months(period.start, 1)
        days_in_month = (month_end - period.start).days
        actual = sum((sum(day.values(), ZERO) for day in result.daily.values()), ZERO)
        daily_average = actual / period.days
        forecast_start = max(period.end, self._clock().date())
        gap_days = (min(forecast_start, month_end) - period.end).days
        known = actual + daily_average * gap_days
        if forecast_start >= month_end:
            return SourceForecast(
                account=account.name,
                actual=actual,
                projected=daily_average * days_in_month,
                method="run-rate",
                reason="the month has no day left to forecast",
                estimated_days=gap_days,
            )
        params = {
            "TimePeriod": time_period(forecast_start, month_end),
            "Metric": FORECAST_METRICS[self.metric],
            "Granularity": "MONTHLY",
            "PredictionIntervalLevel": FORECAST_INTERVAL_PERCENT,
            "Filter": usage_filter(result.source.linked_ids, question.services),
        }
        try:
            response = self._cached(
                result,
                "GetCostForecast",
                params,
                send=lambda: self._send_forecast(client, result, params),
                expires_at=lambda _: self._clock() + timedelta(hours=self.cache_hours),
            )
        except (ClientError, BotoCoreError) as exc:
            reason = _forecast_failure(exc, account)
            logger.warning(
                "get_cost_forecast failed for account %s (%s); using the run rate",
                account.name,
                error_code(exc),
            )
            return SourceForecast(
                account=account.name,
                actual=actual,
                projected=daily_average * days_in_month,
                method="run-rate",
                reason=reason,
            )
        rest = Decimal(response["Total"]["Amount"])
        lower = upper = ZERO
        for entry in response.get("ForecastResultsByTime", []):
            mean = Decimal(entry.get("MeanValue", "0"))
            lower += Decimal(entry.get("PredictionIntervalLowerBound", mean))
            upper += Decimal(entry.get("PredictionIntervalUpperBound", mean))
        return SourceForecast(
            account=account.name,
            actual=actual,
            projected=known + rest,
            method="aws",
            lower=known + lower,
            upper=known + upper,
            estimated_days=gap_days,
        )

    # Requests and the cache

    def _cached_cost_and_usage(
        self, client: Any, result: SourceCosts, params: dict[str, Any], end: date
    ) -> dict[str, Any]:
        return self._cached(
            result,
            "GetCostAndUsage",
            params,
            send=lambda: self._all_pages(client, result, params),
            expires_at=partial(self._usage_expiry, end),
        )

    def _all_pages(
        self, client: Any, result: SourceCosts, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Send get_cost_and_usage until no NextPageToken comes back; botocore has no
        paginator for it, so the token is passed by hand."""
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request = dict(params)
            if token:
                request["NextPageToken"] = token
            self._count_request(result, "GetCostAndUsage")
            page = client.get_cost_and_usage(**request)
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                return merge_pages(pages)
            if len(pages) >= MAX_PAGES:
                raise AwsMonitorError(
                    f"Cost Explorer returned more than {MAX_PAGES} pages for "
                    f"{params['TimePeriod']}; ask for a shorter period or a coarser grouping."
                )

    def _send_forecast(
        self, client: Any, result: SourceCosts, params: dict[str, Any]
    ) -> dict[str, Any]:
        self._count_request(result, "GetCostForecast")
        response: dict[str, Any] = client.get_cost_forecast(**params)
        return response

    def _count_request(self, result: SourceCosts, operation: str) -> None:
        result.requests_sent += 1
        with self._counts_lock:
            self.requests_sent[operation] += 1

    def _usage_expiry(self, end: date, response: Mapping[str, Any]) -> datetime | None:
        now = self._clock()
        if end <= first_of_month(now.date()) and not is_estimated(response):
            return None
        return now + timedelta(hours=self.cache_hours)

    def _cached(
        self,
        result: SourceCosts,
        operation: str,
        params: dict[str, Any],
        send: Callable[[], dict[str, Any]],
        expires_at: Callable[[Mapping[str, Any]], datetime | None],
    ) -> dict[str, Any]:
        """Return the cached response, or send the request and store its response.

        Identical requests in flight at the same time wait on one lock, so only the
        first is sent.
        """
        account = result.source.account
        key = cache_key(account, operation, params)
        with self._key_locks[int(key[:8], 16) % LOCK_STRIPES]:
            cached = self._cache_get(key)
            if cached is not None:
                result.cache_hits += 1
                with self._counts_lock:
                    self.cache_hits[operation] += 1
                return dict(cached)
            sent_before = result.requests_sent
            response = send()
            response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
            logger.info(
                "Cost Explorer %s for account %s: requests sent: %d",
                operation,
                account.name,
                result.requests_sent - sent_before,
            )
            request = {"account": account.name, "operation": operation, "params": params}
            self._cache_put(key, request, response, expires_at(response))
            return response

    def _cache_get(self, key: str) -> Any | None:
        try:
            with self._cache_lock:
                return self.cache.get_cost(key)
        except Exception as exc:  # a failing cache is logged, and the request is sent
            logger.warning("Reading the cost cache failed for key %s: %s", key, exc)
            return None

    def _cache_put(
        self, key: str, request: dict[str, Any], response: Any, expires_at: datetime | None
    ) -> None:
        try:
            with self._cache_lock:
                self.cache.put_cost(key, request, response, expires_at)
        except Exception as exc:  # a failing cache is logged, and the response still used
            logger.warning("Writing the cost cache failed for key %s: %s", key, exc)

    # All sources together

    def _combine(
        self,
        question: _Question,
        sources: Sequence[CostSource],
        results: Sequence[SourceCosts],
        warnings: list[ScanWarning],
        started: float,
    ) -> CostReport:
        for result in results:
            for message in result.warnings:
                warnings.append(ScanWarning(result.source.account.name, None, message))
        answered = [result for result in results if result.answered]
        totals = _Totals.of(answered)
        if len(totals.units) > 1:
            warnings.append(
                ScanWarning(
                    "",
                    None,
                    f"Cost Explorer returned amounts in {', '.join(sorted(totals.units))}; "
                    "the totals add them as if they were one currency.",
                )
            )

        names_by_id = {
            account.account_id: account.name
            for account in self.accounts.values()
            if account.account_id
        }
        keys = set(totals.groups) | set(totals.previous or {})
        labels = {key: group_label(question.group_by, key, names_by_id) for key in keys}
        forecast = _combine_forecasts(question.period, answered) if question.forecast else None

        return CostReport(
            period=question.period,
            previous=question.previous,
            group_by=question.group_by,
            metric=self.metric,
            services=question.services,
            unit=sorted(totals.units)[0] if totals.units else "USD",
            daily=totals.daily,
            groups=totals.groups,
            previous_groups=totals.previous,
            other_charges={key: value for key, value in totals.other.items() if value != ZERO},
            labels=labels,
            forecast=forecast,
            warnings=warnings,
            accounts=[name for source in sources for name in source.covers],
            answered=bool(answered),
            estimated=any(result.estimated for result in answered),
            requests_sent=sum(result.requests_sent for result in results),
            cache_hits=sum(result.cache_hits for result in results),
            elapsed=time.monotonic() - started,
        )


@dataclass
class _Totals:
    """The amounts of every answered source added together.

    `previous` is None when no source answered or when one source lacks the previous
    period, because a partial sum would show a false change.
    """

    daily: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    groups: dict[str, Decimal] = field(default_factory=dict)
    previous: dict[str, Decimal] | None = None
    other: dict[str, Decimal] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, results: Sequence[SourceCosts]) -> _Totals:
        totals = cls(previous={} if results else None)
        for result in results:
            for day, amounts in result.daily.items():
                add_into(totals.daily.setdefault(day, {}), amounts)
                add_into(totals.groups, amounts)
            if result.previous is None or totals.previous is None:
                totals.previous = None
            else:
                add_into(totals.previous, result.previous)
            add_into(totals.other, result.other_charges)
            totals.units |= result.units
        return totals


def _combine_forecasts(period: Period, results: Sequence[SourceCosts]) -> Forecast | None:
    parts = [result.forecast for result in results if result.forecast is not None]
    if not parts:
        return None
    methods = {part.method for part in parts}
    method = methods.pop() if len(methods) == 1 else "mixed"
    lower = upper = None
    if method == "aws":
        lower = sum((part.lower or ZERO for part in parts), ZERO)
        upper = sum((part.upper or ZERO for part in parts), ZERO)
    return Forecast(
        month=period.start,
        actual=sum((part.actual for part in parts), ZERO),
        projected=sum((part.projected for part in parts), ZERO),
        method=method,
        lower=lower,
        upper=upper,
        reasons=[part.reason for part in parts if part.reason],
        estimated_days=max(part.estimated_days for part in parts),
    )
