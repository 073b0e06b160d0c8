"""Demo costs: moto's in-process Cost Explorer computes results from a synthetic daily cost table.

moto's get_cost_and_usage returns results queued in advance, keyed by the request
body, and moto has no get_cost_forecast. For the demo, `seed_costs` replaces
get_cost_and_usage on the demo accounts' moto backends with a function that
computes any TimePeriod, Granularity, GroupBy and Filter from the table, and gives
moto's Cost Explorer response class a get_cost_forecast action that calls those
backends.
Call it after moto has started, because starting moto resets its backends.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

COST_TOUR = [
    "cost this month",
    "cost last month by region",
    "cost 7d by tag:Team",
    "cost yesterday by account",
    "cost ec2 30d by region",
]
FORECAST_SPREAD = Decimal("0.08")
WEEKEND_FACTOR = 0.8
# Share of a day's cost that Cost Explorer shows for today, which is still running.
TODAY_FACTOR = Decimal("0.4")
TAG_KEY = "Team"

EC2 = "Amazon Elastic Compute Cloud - Compute"
EC2_OTHER = "EC2 - Other"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
LAMBDA = "AWS Lambda"
EKS = "Amazon Elastic Container Service for Kubernetes"
EMR = "Amazon Elastic MapReduce"
CLOUDWATCH = "AmazonCloudWatch"
TAX = "Tax"


@dataclass(frozen=True)
class ServiceProfile:
    """A service's average daily cost in USD for one account, split by region and team."""

    service: str
    daily_usd: float
    regions: Mapping[str, float]
    teams: Mapping[str, float]


@dataclass(frozen=True)
class AccountProfile:
    services: tuple[ServiceProfile, ...]
    tax_rate: Decimal = Decimal(0)
    daily_credit_usd: Decimal = Decimal(0)
    monthly_refund_usd: Decimal = Decimal(0)


US = {"us-east-1": 1.0}
US_EU = {"us-east-1": 0.7, "eu-west-1": 0.3}
PROFILES: dict[str, AccountProfile] = {
    "prod": AccountProfile(
        services=(
            ServiceProfile(EC2, 412.0, US_EU, {"storefront": 0.45, "payments": 0.4, "": 0.15}),
            ServiceProfile(EC2_OTHER, 61.0, US_EU, {"storefront": 0.3, "": 0.7}),
            ServiceProfile(RDS, 138.0, US, {"payments": 1.0}),
            ServiceProfile(S3, 27.5, US_EU, {"storefront": 0.6, "": 0.4}),
            ServiceProfile(EKS, 74.4, US, {"platform": 1.0}),
            ServiceProfile(CLOUDWATCH, 14.2, US_EU, {"": 1.0}),
        ),
        tax_rate=Decimal("0.06"),
    ),
    "staging": AccountProfile(
        services=(
            ServiceProfile(EC2, 96.0, US, {"": 1.0}),
            ServiceProfile(EC2_OTHER, 8.4, US, {"": 1.0}),
            ServiceProfile(RDS, 31.0, US, {"payments": 1.0}),
            ServiceProfile(S3, 3.1, US, {"": 1.0}),
            ServiceProfile(CLOUDWATCH, 2.2, US, {"": 1.0}),
        ),
        monthly_refund_usd=Decimal("45.00"),
    ),
    "data": AccountProfile(
        services=(
            ServiceProfile(EMR, 88.0, US, {"data": 1.0}),
            ServiceProfile(EC2, 121.0, US, {"data": 0.8, "platform": 0.2}),
            ServiceProfile(S3, 58.0, {"eu-west-1": 0.9, "us-east-1": 0.1}, {"data": 1.0}),
            ServiceProfile(
                LAMBDA, 36.5, {"us-east-1": 0.85, "eu-west-1": 0.15}, {"data": 0.7, "platform": 0.3}
            ),
            ServiceProfile(EKS, 2.4, {"eu-west-1": 1.0}, {"platform": 1.0}),
            ServiceProfile(CLOUDWATCH, 5.9, US, {"": 1.0}),
        ),
        daily_credit_usd=Decimal("12.50"),
    ),
}


@dataclass(frozen=True)
class CostRow:
    """One line of the synthetic table: an account's cost of one day."""

    account_id: str
    service: str
    region: str
    team: str
    record_type: str
    amount: Decimal

    def dimension(self, key: str) -> str:
        values = {
            "SERVICE": self.service,
            "REGION": self.region,
            "LINKED_ACCOUNT": self.account_id,
            "RECORD_TYPE": self.record_type,
        }
        return values.get(key, "")

    def tag(self, key: str) -> str:
        return self.team if key == TAG_KEY else ""


class DemoCostTable:
    """Daily costs per account, service, region and Team tag, the same on every run."""

    def __init__(self, account_ids: Mapping[str, str], today: date) -> None:
        self.today = today
        self.profiles = {
            account_id: PROFILES.get(name, _scaled(PROFILES["staging"], name))
            for name, account_id in account_ids.items()
        }

    def rows(self, account_id: str, day: date) -> list[CostRow]:
        """Return the rows of one day; any day has rows, so forecasts can use future days."""
        profile = self.profiles.get(account_id)
        if profile is None:
            return []
        rows: list[CostRow] = []
        usage = Decimal(0)
        for service in profile.services:
            factor = _day_factor(account_id, service, day, self.today)
            daily = Decimal(str(round(service.daily_usd * factor, 6)))
            for region, region_share in service.regions.items():
                for team, team_share in service.teams.items():
                    share = Decimal(str(region_share * team_share))
                    amount = (daily * share).quantize(Decimal("0.000001"))
                    rows.append(CostRow(account_id, service.service, region, team, "Usage", amount))
                    usage += amount
        if profile.tax_rate:
            tax = (usage * profile.tax_rate).quantize(Decimal("0.000001"))
            rows.append(CostRow(account_id, TAX, "global", "", "Tax", tax))
        if profile.daily_credit_usd:
            rows.append(
                CostRow(account_id, EMR, "us-east-1", "data", "Credit", -profile.daily_credit_usd)
            )
        if profile.monthly_refund_usd and day.day == 10:
            refund = -profile.monthly_refund_usd
            rows.append(CostRow(account_id, RDS, "us-east-1", "payments", "Refund", refund))
        return rows

    def select(
        self, own_account_id: str, start: date, end: date, expression: Mapping[str, Any] | None
    ) -> Iterator[tuple[date, CostRow]]:
        """Yield the rows that a request to one account's Cost Explorer selects.

        A request without a LINKED_ACCOUNT filter selects the account's own costs. A
        request with one selects the rows of the filtered demo accounts.
        """
        account_ids = [own_account_id]
        if expression is not None and "LINKED_ACCOUNT" in json.dumps(expression):
            account_ids = list(self.profiles)
        day = start
        while day < end:
            for account_id in account_ids:
                for row in self.rows(account_id, day):
                    if expression is None or matches(expression, row):
                        yield day, row
            day += timedelta(days=1)


def matches(expression: Mapping[str, Any], row: CostRow) -> bool:
    """Evaluate a Cost Explorer filter Expression (And, Or, Not, Dimensions, Tags) on a row."""
    if "And" in expression:
        return all(matches(part, row) for part in expression["And"])
    if "Or" in expression:
        return any(matches(part, row) for part in expression["Or"])
    if "Not" in expression:
        return not matches(expression["Not"], row)
    if "Dimensions" in expression:
        dimension = expression["Dimensions"]
        return row.dimension(dimension["Key"]) in dimension.get("Values", [])
    if "Tags" in expression:
        tag = expression["Tags"]
        return row.tag(tag["Key"]) in tag.get("Values", [])
    return True


def answer_cost_and_usage(table: DemoCostTable, account_id: str, body: str) -> dict[str, Any]:
    """Compute a get_cost_and_usage response from the table, in one page."""
    request = json.loads(body)
    start = date.fromisoformat(request["TimePeriod"]["Start"])
    end = date.fromisoformat(request["TimePeriod"]["End"])
    metrics = request.get("Metrics") or ["UnblendedCost"]
    groupings = request.get("GroupBy") or []
    buckets = list(_buckets(start, end, request.get("Granularity", "MONTHLY")))
    sums: dict[date, dict[tuple[str, ...], Decimal]] = {bucket: {} for bucket, _ in buckets}
    last_day = min(end, table.today + timedelta(days=1))
    for day, row in table.select(account_id, start, last_day, request.get("Filter")):
        bucket = max(b for b, _ in buckets if b <= day)
        amount = row.amount * TODAY_FACTOR if day == table.today else row.amount
        key = tuple(_group_key(row, grouping) for grouping in groupings)
        sums[bucket][key] = sums[bucket].get(key, Decimal(0)) + amount

    results = []
    first_of_this_month = table.today.replace(day=1)
    for bucket, bucket_end in buckets:
        amounts = sums[bucket]
        total = sum(amounts.values(), Decimal(0))
        result: dict[str, Any] = {
            "TimePeriod": {"Start": bucket.isoformat(), "End": bucket_end.isoformat()},
            "Total": {} if groupings else _metrics(metrics, total),
            "Groups": [
                {"Keys": list(key), "Metrics": _metrics(metrics, amount)}
                for key, amount in sorted(amounts.items())
            ]
            if groupings
            else [],
            "Estimated": bucket_end > first_of_this_month,
        }
        results.append(result)
    return {"ResultsByTime": results, "DimensionValueAttributes": [], "GroupDefinitions": groupings}


def answer_cost_forecast(table: DemoCostTable, account_id: str, body: str) -> dict[str, Any]:
    """Forecast a period as the table's own cost for it, with a spread of 8 % either side."""
    request = json.loads(body)
    start = date.fromisoformat(request["TimePeriod"]["Start"])
    end = date.fromisoformat(request["TimePeriod"]["End"])
    mean = sum(
        (row.amount for _, row in table.select(account_id, start, end, request.get("Filter"))),
        Decimal(0),
    )
    low, high = mean * (1 - FORECAST_SPREAD), mean * (1 + FORECAST_SPREAD)
    return {
        "Total": {"Amount": _amount(mean), "Unit": "USD"},
        "ForecastResultsByTime": [
            {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "MeanValue": _amount(mean),
                "PredictionIntervalLowerBound": _amount(low),
                "PredictionIntervalUpperBound": _amount(high),
            }
        ],
    }


def seed_costs(account_ids: dict[str, str], today: date) -> None:
    """Make moto's in-process Cost Explorer return demo costs for these accounts.

    `account_ids` maps demo account names (prod, staging, data; other names get a
    scaled copy of staging) to their 12-digit ids. Only those accounts' moto
    backends change; moto must already be started.
    """
    from moto.ce.models import ce_backends

    table = DemoCostTable(account_ids, today)
    for account_id in account_ids.values():
        backend: Any = ce_backends[account_id]["aws"]
        backend.get_cost_and_usage = partial(answer_cost_and_usage, table, account_id)
        # moto's backend has no get_cost_forecast; the response action below calls this one.
        backend.get_cost_forecast = partial(answer_cost_forecast, table, account_id)
    _install_forecast_action()


def _install_forecast_action() -> None:
    """Give moto's Cost Explorer responses a get_cost_forecast action.

    Backends without a demo forecast raise NotImplementedError, as moto does for any
    action it lacks.
    """
    from moto.ce.responses import CostExplorerResponse

    if hasattr(CostExplorerResponse, "get_cost_forecast"):
        return

    def get_cost_forecast(self: CostExplorerResponse) -> str:
        answer = getattr(self.ce_backend, "get_cost_forecast", None)
        if answer is None:
            raise NotImplementedError("The get_cost_forecast action has not been implemented")
        return json.dumps(answer(self.body))

    CostExplorerResponse.get_cost_forecast = get_cost_forecast  # type: ignore[attr-defined]


def _scaled(profile: AccountProfile, name: str) -> AccountProfile:
    factor = random.Random(f"scale:{name}").uniform(0.4, 1.6)
    return AccountProfile(
        services=tuple(
            ServiceProfile(s.service, s.daily_usd * factor, s.regions, s.teams)
            for s in profile.services
        )
    )


def _day_factor(account_id: str, service: ServiceProfile, day: date, today: date) -> float:
    """Return the day's multiple of the average: weekends are quieter, costs grow 2 % a month
    up to today's month, and each day varies by up to 8 %."""
    noise = random.Random(f"{account_id}:{service.service}:{day.isoformat()}").uniform(0.92, 1.08)
    weekend = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
    months = (day.year - today.year) * 12 + day.month - today.month
    growth = 1.0 + 0.02 * months
    return noise * weekend * growth


def _buckets(start: date, end: date, granularity: str) -> Iterator[tuple[date, date]]:
    bucket = start
    while bucket < end:
        if granularity == "DAILY":
            following = bucket + timedelta(days=1)
        else:
            following = min(end, (bucket.replace(day=28) + timedelta(days=4)).replace(day=1))
        yield bucket, min(following, end)
        bucket = following


def _group_key(row: CostRow, grouping: Mapping[str, str]) -> str:
    if grouping.get("Type") == "TAG":
        return f"{grouping['Key']}${row.tag(grouping['Key'])}"
    return row.dimension(grouping["Key"])


def _metrics(names: list[str], amount: Decimal) -> dict[str, dict[str, str]]:
    return {name: {"Amount": _amount(amount), "Unit": "USD"} for name in names}


def _amount(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.0000000001")))
