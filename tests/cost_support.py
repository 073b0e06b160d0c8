"""Builders for Cost Explorer responses and a CostExplorer wired to moto, shared by cost tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from moto.moto_api._internal.models import moto_api_backend

from bot.store import Store
from services.accounts import Account
from services.costs import CostExplorer
from services.fanout import FanOut
from services.sessions import AwsSettings, SessionFactory

PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")
PAYER = Account("payer", "arn:aws:iam::999999999999:role/AwsMonitorReadOnly")
LINKED = Account("linked", "arn:aws:iam::444444444444:role/AwsMonitorReadOnly", cost_payer="payer")
ACCOUNTS = {account.name: account for account in (PROD, STAGING, PAYER, LINKED)}
METRIC = "UnblendedCost"


def money(amount: str, unit: str = "USD") -> dict[str, dict[str, str]]:
    return {METRIC: {"Amount": amount, "Unit": unit}}


def result(
    start: date | str,
    end: date | str,
    groups: Mapping[str, str] | None = None,
    total: str | None = None,
    estimated: bool = False,
) -> dict[str, Any]:
    """One ResultsByTime entry; `groups` maps a group key to its amount."""
    return {
        "TimePeriod": {"Start": str(start), "End": str(end)},
        "Total": money(total) if total is not None else {},
        "Groups": [
            {"Keys": [key], "Metrics": money(amount)} for key, amount in (groups or {}).items()
        ],
        "Estimated": estimated,
    }


def page(*results: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"ResultsByTime": list(results), "DimensionValueAttributes": []}
    if token is not None:
        response["NextPageToken"] = token
    return response


def seed(account_id: str, *responses: dict[str, Any]) -> None:
    """Queue responses in moto's in-process Cost Explorer of one account, in request order."""
    for response in responses:
        moto_api_backend.set_ce_cost_usage(response, account_id)


def forecast_response(start: date, end: date, mean: str, lower: str, upper: str) -> dict[str, Any]:
    return {
        "Total": {"Amount": mean, "Unit": "USD"},
        "ForecastResultsByTime": [
            {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "MeanValue": mean,
                "PredictionIntervalLowerBound": lower,
                "PredictionIntervalUpperBound": upper,
            }
        ],
    }


@contextmanager
def cost_explorer(
    tmp_path: Path,
    accounts: Mapping[str, Account] = ACCOUNTS,
    cache_hours: float = 6.0,
    top: int = 5,
) -> Iterator[CostExplorer]:
    """A CostExplorer on a fresh SQLite store file; moto must already be running."""
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    store = Store(f"sqlite:///{tmp_path / 'costs.db'}")
    try:
        yield CostExplorer(
            factory, fanout, store, accounts, cache_hours=cache_hours, metric=METRIC, top=top
        )
    finally:
        fanout.shutdown()
        store.engine.dispose()


def capture_requests(explorer: CostExplorer, account: Account) -> list[dict[str, Any]]:
    """Record the parameters of every Cost Explorer call made through `account`'s client."""
    calls: list[dict[str, Any]] = []
    client = explorer.factory.client(account, "ce", "us-east-1", user_id=None)

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append({"operation": model.name, **params})

    client.meta.events.register("provide-client-params.ce.*", record)
    return calls
