"""Month-end forecast: get_cost_forecast through botocore's Stubber, and the run-rate fallback.

moto does not implement get_cost_forecast, so every request of these tests is stubbed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from freezegun import freeze_time

from services.accounts import Account
from services.cost_periods import local_today, resolve_period
from services.costs import SERVICE_GROUPING, CostExplorer
from tests.cost_support import (
    LINKED,
    PAYER,
    PROD,
    STAGING,
    cost_explorer,
    forecast_response,
    page,
    result,
)

EC2 = "Amazon Elastic Compute Cloud - Compute"
NOT_CREDITS = {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund", "Tax"]}}}


@pytest.fixture
def explorer(aws: None, tmp_path: Path) -> Iterator[CostExplorer]:
    with cost_explorer(tmp_path) as instance:
        yield instance


def stub_usage(stubber: Stubber, start: date, days: int, daily: str = "10.00") -> None:
    """Queue the three get_cost_and_usage responses of a month to date: current, previous
    month, credits and tax."""
    current = [
        result(start + timedelta(days=n), start + timedelta(days=n + 1), {EC2: daily})
        for n in range(days)
    ]
    stubber.add_response("get_cost_and_usage", page(*current))
    stubber.add_response("get_cost_and_usage", page())
    stubber.add_response("get_cost_and_usage", page())


def client_of(explorer: CostExplorer, account: Account) -> Any:
    return explorer.factory.client(account, "ce", "us-east-1", user_id=None)


def test_forecast_adds_aws_forecast_to_actual(explorer: CostExplorer) -> None:
    with freeze_time("2026-03-14T12:00:00"), Stubber(client_of(explorer, PROD)) as stubber:
        stub_usage(stubber, date(2026, 3, 1), 13)
        stubber.add_response(
            "get_cost_forecast",
            forecast_response(date(2026, 3, 14), date(2026, 4, 1), "170.00", "150.00", "190.00"),
            expected_params={
                "TimePeriod": {"Start": "2026-03-14", "End": "2026-04-01"},
                "Metric": "UNBLENDED_COST",
                "Granularity": "MONTHLY",
                "PredictionIntervalLevel": 80,
                "Filter": NOT_CREDITS,
            },
        )
        period = resolve_period("this month", local_today("UTC"))
        report = explorer.report([PROD], period, SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    forecast = report.forecast
    assert forecast is not None
    assert forecast.method == "aws"
    assert forecast.actual == Decimal("130.00")
    assert forecast.projected == Decimal("300.00")
    assert forecast.lower == Decimal("280.00")
    assert forecast.upper == Decimal("320.00")
    assert forecast.month == date(2026, 3, 1)
    assert forecast.estimated_days == 0
    assert report.requests_sent == 4
    assert explorer.requests_sent["GetCostForecast"] == 1


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        ("DataUnavailableException", "Data is not available.", "too little cost history"),
        (
            "ValidationException",
            "Insufficient amount of historical data to generate forecast.",
            "too little cost history",
        ),
        (
            "AccessDeniedException",
            "not authorized to perform ce:GetCostForecast",
            "Missing IAM permission ce:GetCostForecast in account prod (111111111111)",
        ),
        ("LimitExceededException", "Too many requests", "LimitExceededException"),
    ],
)
def test_forecast_falls_back_to_run_rate(
    explorer: CostExplorer, code: str, message: str, reason: str
) -> None:
    with freeze_time("2026-03-14T12:00:00"), Stubber(client_of(explorer, PROD)) as stubber:
        stub_usage(stubber, date(2026, 3, 1), 13)
        stubber.add_client_error(
            "get_cost_forecast",
            service_error_code=code,
            service_message=message,
            http_status_code=400,
        )
        period = resolve_period("this month", local_today("UTC"))
        report = explorer.report([PROD], period, SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    forecast = report.forecast
    assert forecast is not None
    assert forecast.method == "run-rate"
    # $130 over 13 days is $10 a day, times the 31 days of March.
    assert forecast.projected == Decimal("310.00")
    assert forecast.lower is None
    assert any(reason in text for text in forecast.reasons)
    assert report.warnings == []


def test_forecast_counts_gap_day_west_of_utc(explorer: CostExplorer) -> None:
    # 03:00 UTC on 15 March is still 14 March in Los Angeles, but Cost Explorer's
    # forecast may start no earlier than the UTC date.
    with freeze_time("2026-03-15T03:00:00"), Stubber(client_of(explorer, PROD)) as stubber:
        stub_usage(stubber, date(2026, 3, 1), 13)
        stubber.add_response(
            "get_cost_forecast",
            forecast_response(date(2026, 3, 15), date(2026, 4, 1), "160.00", "150.00", "170.00"),
            expected_params={
                "TimePeriod": {"Start": "2026-03-15", "End": "2026-04-01"},
                "Metric": "UNBLENDED_COST",
                "Granularity": "MONTHLY",
                "PredictionIntervalLevel": 80,
                "Filter": NOT_CREDITS,
            },
        )
        period = resolve_period("this month", local_today("America/Los_Angeles"))
        report = explorer.report([PROD], period, SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    assert period.end == date(2026, 3, 14)
    forecast = report.forecast
    assert forecast is not None
    assert forecast.estimated_days == 1
    assert forecast.projected == Decimal("300.00")


def test_forecast_without_day_left(explorer: CostExplorer) -> None:
    # 31 March in Los Angeles is already 1 April in UTC: nothing is left to forecast.
    with freeze_time("2026-04-01T03:00:00"), Stubber(client_of(explorer, PROD)) as stubber:
        stub_usage(stubber, date(2026, 3, 1), 30)
        period = resolve_period("this month", local_today("America/Los_Angeles"))
        report = explorer.report([PROD], period, SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    forecast = report.forecast
    assert forecast is not None
    assert forecast.method == "run-rate"
    assert forecast.projected == Decimal("310.00")
    assert forecast.reasons == ["the month has no day left to forecast"]


def test_forecast_mixed_sources(explorer: CostExplorer) -> None:
    with (
        freeze_time("2026-03-14T12:00:00"),
        Stubber(client_of(explorer, PROD)) as prod,
        Stubber(client_of(explorer, STAGING)) as staging,
    ):
        stub_usage(prod, date(2026, 3, 1), 13)
        prod.add_response(
            "get_cost_forecast",
            forecast_response(date(2026, 3, 14), date(2026, 4, 1), "170.00", "150.00", "190.00"),
        )
        stub_usage(staging, date(2026, 3, 1), 13, daily="1.00")
        staging.add_client_error("get_cost_forecast", service_error_code="DataUnavailableException")
        period = resolve_period("this month", date(2026, 3, 14))
        report = explorer.report([PROD, STAGING], period, SERVICE_GROUPING)

    forecast = report.forecast
    assert forecast is not None
    assert forecast.method == "mixed"
    assert forecast.projected == Decimal("300.00") + Decimal("31.00")
    assert forecast.lower is None
    assert len(forecast.reasons) == 1


def test_forecast_linked_account_filter(explorer: CostExplorer) -> None:
    with freeze_time("2026-03-14T12:00:00"), Stubber(client_of(explorer, PAYER)) as stubber:
        stub_usage(stubber, date(2026, 3, 1), 13)
        stubber.add_response(
            "get_cost_forecast",
            forecast_response(date(2026, 3, 14), date(2026, 4, 1), "1.00", "1.00", "1.00"),
            expected_params={
                "TimePeriod": {"Start": "2026-03-14", "End": "2026-04-01"},
                "Metric": "UNBLENDED_COST",
                "Granularity": "MONTHLY",
                "PredictionIntervalLevel": 80,
                "Filter": {
                    "And": [
                        NOT_CREDITS,
                        {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["444444444444"]}},
                    ]
                },
            },
        )
        period = resolve_period("this month", date(2026, 3, 14))
        report = explorer.report([LINKED], period, SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    assert report.forecast is not None
    assert report.forecast.method == "aws"


def test_forecast_is_cached(explorer: CostExplorer) -> None:
    with freeze_time("2026-03-14T12:00:00") as frozen, Stubber(client_of(explorer, PROD)) as stub:
        stub_usage(stub, date(2026, 3, 1), 13)
        stub.add_response(
            "get_cost_forecast",
            forecast_response(date(2026, 3, 14), date(2026, 4, 1), "170.00", "150.00", "190.00"),
        )
        period = resolve_period("this month", date(2026, 3, 14))
        first = explorer.report([PROD], period, SERVICE_GROUPING)
        frozen.tick(timedelta(hours=2))
        second = explorer.report([PROD], period, SERVICE_GROUPING)
        stub.assert_no_pending_responses()

    assert first.forecast is not None
    assert second.forecast is not None
    assert second.forecast.projected == first.forecast.projected
    assert second.requests_sent == 0
    assert second.cache_hits == 4


def test_forecast_only_for_month_to_date(explorer: CostExplorer) -> None:
    with freeze_time("2026-03-14T12:00:00"), Stubber(client_of(explorer, PROD)) as stubber:
        stub_usage(stubber, date(2026, 2, 1), 28)
        report = explorer.report(
            [PROD], resolve_period("last month", date(2026, 3, 14)), SERVICE_GROUPING
        )
        stubber.assert_no_pending_responses()

    assert report.forecast is None
    assert explorer.requests_sent["GetCostForecast"] == 0
