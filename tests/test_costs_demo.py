"""Demo costs in moto's in-process Cost Explorer, and the runtime wiring of the cost backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from freezegun import freeze_time

from bot.config import parse_config
from bot.demo_costs import COST_TOUR, CostRow, DemoCostTable, matches, seed_costs
from bot.runtime import Runtime, build_runtime
from bot.store import Store
from handlers.dispatch import handle_text
from handlers.terminal import render_reply
from services.cost_periods import resolve_period
from services.costs import SERVICE_GROUPING, CostExplorer, GroupBy

IDS = {"prod": "111111111111", "staging": "222222222222", "data": "333333333333"}
TODAY = date(2026, 3, 14)
CHANNEL = "C0PLATFORM1"


def role(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/AwsMonitorReadOnly"


CONFIG = {
    "accounts": {
        "prod": {"role_arn": role(IDS["prod"])},
        "staging": {"role_arn": role(IDS["staging"])},
        "data": {"role_arn": role(IDS["data"])},
        "data-via-prod": {"role_arn": role(IDS["data"]), "cost_payer": "prod"},
    },
    "channels": {CHANNEL: {"accounts": ["prod", "staging", "data"]}},
    "costs": {"cache_hours": 2, "top": 3},
}


@pytest.fixture
def runtime(aws: None, tmp_path: Path) -> Iterator[Runtime]:
    with freeze_time("2026-03-14T10:00:00"):
        seed_costs(dict(IDS), TODAY)
        config = parse_config(CONFIG, "test")
        instance = build_runtime(config, store=Store(f"sqlite:///{tmp_path / 'demo.db'}"))
        try:
            yield instance
        finally:
            instance.close()


def explorer_of(runtime: Runtime) -> CostExplorer:
    explorer = runtime.backends.costs
    assert isinstance(explorer, CostExplorer)
    return explorer


def test_build_runtime_wires_costs(runtime: Runtime) -> None:
    explorer = explorer_of(runtime)
    assert explorer.cache is runtime.store
    assert explorer.factory is runtime.factory
    assert explorer.fanout is runtime.fanout
    assert explorer.cache_hours == 2
    assert explorer.top == 3
    assert explorer.metric == "UnblendedCost"


def test_seed_costs_answers_any_grouping(runtime: Runtime) -> None:
    explorer = explorer_of(runtime)
    prod = runtime.config.accounts["prod"]
    period = resolve_period("this month", TODAY)

    by_service = explorer.report([prod], period, SERVICE_GROUPING)
    by_team = explorer.report([prod], period, GroupBy.parse("tag:Team"))

    assert by_service.warnings == []
    assert by_service.total > Decimal(1000)
    assert by_service.total == by_team.total
    assert "Amazon Elastic Compute Cloud - Compute" in by_service.groups
    assert {"Team$payments", "Team$"} <= set(by_team.groups)
    assert by_service.previous_total is not None
    assert set(by_service.other_charges) == {"Tax"}
    assert by_service.forecast is not None
    assert by_service.forecast.method == "aws"
    assert by_service.forecast.projected > by_service.total


def test_seed_costs_linked_account_filter(runtime: Runtime) -> None:
    explorer = explorer_of(runtime)
    period = resolve_period("last month", TODAY)
    own = explorer.report([runtime.config.accounts["data"]], period, SERVICE_GROUPING)
    via_payer = explorer.report(
        [runtime.config.accounts["data-via-prod"]], period, GroupBy.parse("account")
    )

    assert via_payer.total == own.total
    assert list(via_payer.groups) == ["333333333333"]
    assert via_payer.other_charges == {"Credit": Decimal("-350.00")}


def test_seed_costs_other_accounts_unchanged(runtime: Runtime) -> None:
    client = boto3.client("ce", region_name="us-east-1")
    with pytest.raises(NotImplementedError):
        client.get_cost_forecast(
            TimePeriod={"Start": "2026-03-14", "End": "2026-04-01"},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
        )
    response = client.get_cost_and_usage(
        TimePeriod={"Start": "2026-03-01", "End": "2026-03-14"},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )
    assert response["ResultsByTime"] == []


def test_cost_tour_answers_without_warnings(runtime: Runtime) -> None:
    ctx = runtime.config.channel_context(CHANNEL, "U0DEMO")
    assert ctx is not None
    for text in COST_TOUR:
        reply = handle_text(text, ctx, runtime.backends)
        rendered = render_reply(reply)
        assert rendered.startswith("AWS cost"), text
        assert ":warning:" not in str(reply.blocks), (text, rendered)


def test_demo_table_same_on_every_run() -> None:
    first = DemoCostTable(IDS, TODAY).rows(IDS["prod"], date(2026, 3, 2))
    second = DemoCostTable(IDS, TODAY).rows(IDS["prod"], date(2026, 3, 2))
    assert first == second
    assert DemoCostTable(IDS, TODAY).rows("555555555555", TODAY) == []


def test_demo_matches_expressions() -> None:
    row = CostRow("111111111111", "AWS Lambda", "eu-west-1", "data", "Usage", Decimal(1))
    assert matches({"Dimensions": {"Key": "REGION", "Values": ["eu-west-1"]}}, row)
    assert not matches({"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}}, row)
    assert matches(
        {
            "And": [
                {"Tags": {"Key": "Team", "Values": ["data"]}},
                {"Or": [{"Dimensions": {"Key": "SERVICE", "Values": ["AWS Lambda"]}}]},
            ]
        },
        row,
    )
    assert not matches({"Tags": {"Key": "Owner", "Values": ["data"]}}, row)


def test_demo_accounts_with_other_names() -> None:
    table = DemoCostTable({"sandbox": "555555555555"}, TODAY)
    rows = table.rows("555555555555", TODAY)
    assert rows
    assert all(row.amount > 0 for row in rows)
