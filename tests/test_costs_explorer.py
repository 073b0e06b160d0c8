"""CostExplorer against moto's Cost Explorer (seeded through its queue) and botocore's Stubber."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from freezegun import freeze_time

from services import costs
from services.accounts import Account
from services.cost_digest import SpikeRule, collect_cost_digest
from services.cost_periods import resolve_period
from services.costs import (
    SERVICE_GROUPING,
    CostExplorer,
    GroupBy,
    merge_pages,
    plan_sources,
    sum_groups,
)
from tests.cost_support import (
    ACCOUNTS,
    LINKED,
    PAYER,
    PROD,
    STAGING,
    capture_requests,
    cost_explorer,
    page,
    result,
    seed,
)

EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
RDS = "Amazon Relational Database Service"
TODAY = date(2026, 3, 14)
NOT_CREDITS = {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund", "Tax"]}}}


@pytest.fixture
def explorer(aws: None, tmp_path: Path) -> Any:
    with freeze_time("2026-03-14T12:00:00"), cost_explorer(tmp_path) as instance:
        yield instance


def last_month() -> Any:
    return resolve_period("last month", TODAY)


def seed_simple(account_id: str, amount: str, previous: str = "1.00") -> None:
    seed(
        account_id,
        page(result("2026-02-01", "2026-02-02", {EC2: amount})),
        page(result("2026-01-01", "2026-01-02", {EC2: previous})),
        page(result("2026-02-01", "2026-03-01", {})),
    )


def test_report_merges_pages_per_period(explorer: CostExplorer) -> None:
    seed(
        "111111111111",
        page(
            result("2026-02-01", "2026-02-02", {EC2: "10.10", S3: "1.05"}),
            result("2026-02-02", "2026-02-03", {EC2: "5.00"}),
            token="page-2",
        ),
        page(
            result("2026-02-02", "2026-02-03", {RDS: "2.50"}),
            result("2026-02-03", "2026-02-04", {EC2: "0.0000001"}),
        ),
        page(result("2026-01-01", "2026-01-02", {EC2: "12.00"})),
        page(result("2026-02-01", "2026-03-01", {"Credit": "-3.00", "Tax": "1.20", "Refund": "0"})),
    )
    calls = capture_requests(explorer, PROD)

    report = explorer.report([PROD], last_month(), SERVICE_GROUPING)

    assert report.warnings == []
    assert report.groups == {
        EC2: Decimal("15.1000001"),
        S3: Decimal("1.05"),
        RDS: Decimal("2.50"),
    }
    assert report.total == Decimal("18.6500001")
    assert report.daily[date(2026, 2, 2)] == {EC2: Decimal("5.00"), RDS: Decimal("2.50")}
    assert report.previous_groups == {EC2: Decimal("12.00")}
    assert report.other_charges == {"Credit": Decimal("-3.00"), "Tax": Decimal("1.20")}
    assert report.requests_sent == 4
    assert explorer.requests_sent["GetCostAndUsage"] == 4
    assert explorer.factory.counter.calls["ce.GetCostAndUsage"] == 4
    assert [call.get("NextPageToken") for call in calls] == [None, "page-2", None, None]


def test_report_request_parameters(explorer: CostExplorer) -> None:
    seed_simple("111111111111", "3.00")
    calls = capture_requests(explorer, PROD)

    explorer.report([PROD], last_month(), SERVICE_GROUPING)

    usage, previous, other = calls
    assert usage["TimePeriod"] == {"Start": "2026-02-01", "End": "2026-03-01"}
    assert usage["Granularity"] == "DAILY"
    assert usage["Metrics"] == ["UnblendedCost"]
    assert usage["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}]
    assert usage["Filter"] == NOT_CREDITS
    assert previous["TimePeriod"] == {"Start": "2026-01-01", "End": "2026-02-01"}
    assert previous["Filter"] == NOT_CREDITS
    assert other["Granularity"] == "MONTHLY"
    assert other["GroupBy"] == [{"Type": "DIMENSION", "Key": "RECORD_TYPE"}]
    assert other["Filter"] == {
        "Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund", "Tax"]}
    }


def test_report_client_always_us_east_1(explorer: CostExplorer) -> None:
    seed_simple("111111111111", "3.00")
    seed_simple("222222222222", "4.00")
    asked: list[tuple[str, str, str]] = []
    original = explorer.factory.client

    def client(account: Account, service: str, region: str, **kwargs: Any) -> Any:
        asked.append((account.name, service, region))
        return original(account, service, region, **kwargs)

    explorer.factory.client = client  # type: ignore[method-assign]
    explorer.report([PROD, STAGING], last_month(), SERVICE_GROUPING)

    assert sorted(asked) == [("prod", "ce", "us-east-1"), ("staging", "ce", "us-east-1")]


def test_report_groups_by_tag(explorer: CostExplorer) -> None:
    seed(
        "111111111111",
        page(result("2026-02-01", "2026-02-02", {"Team$data": "7.00", "Team$": "2.00"})),
        page(result("2026-01-01", "2026-01-02", {"Team$data": "5.00"})),
        page(result("2026-02-01", "2026-03-01", {})),
    )
    calls = capture_requests(explorer, PROD)

    report = explorer.report([PROD], last_month(), GroupBy.parse("tag:Team"))

    assert calls[0]["GroupBy"] == [{"Type": "TAG", "Key": "Team"}]
    assert report.label("Team$data") == "data"
    assert report.label("Team$") == "(no Team tag)"
    assert [key for key, _ in report.ranked()] == ["Team$data", "Team$"]


def test_report_sums_two_accounts(explorer: CostExplorer) -> None:
    seed_simple("111111111111", "3.25", previous="2.00")
    seed_simple("222222222222", "4.50", previous="1.00")

    report = explorer.report([PROD, STAGING], last_month(), SERVICE_GROUPING)

    assert report.groups == {EC2: Decimal("7.75")}
    assert report.previous_groups == {EC2: Decimal("3.00")}
    assert sorted(report.accounts) == ["prod", "staging"]
    assert report.requests_sent == 6


def test_report_cost_payer_filters_linked_account(explorer: CostExplorer) -> None:
    seed(
        "999999999999",
        page(result("2026-02-01", "2026-02-02", {"444444444444": "8.00"})),
        page(result("2026-01-01", "2026-01-02", {"444444444444": "6.00"})),
        page(result("2026-02-01", "2026-03-01", {})),
    )
    calls = capture_requests(explorer, PAYER)

    report = explorer.report([LINKED], last_month(), GroupBy.parse("account"))

    assert len(calls) == 3
    assert calls[0]["Filter"] == {
        "And": [
            NOT_CREDITS,
            {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["444444444444"]}},
        ]
    }
    assert calls[0]["GroupBy"] == [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]
    assert report.label("444444444444") == "linked (444444444444)"
    assert report.accounts == ["linked"]
    assert report.total == Decimal("8.00")


def test_report_payer_and_linked_asked_once(explorer: CostExplorer) -> None:
    seed_simple("999999999999", "10.00")
    calls = capture_requests(explorer, PAYER)

    report = explorer.report([PAYER, LINKED], last_month(), SERVICE_GROUPING)

    assert report.requests_sent == 3
    linked_filter = calls[0]["Filter"]["And"][1]
    assert linked_filter["Dimensions"]["Values"] == ["999999999999", "444444444444"]
    assert sorted(report.accounts) == ["linked", "payer"]


def test_plan_sources_without_account_ids() -> None:
    payer = Account("payer")
    linked = Account("linked", cost_payer="payer")
    known = {"payer": payer, "linked": linked}

    sources, warnings = plan_sources([linked], known)
    assert sources == []
    assert "has no role_arn" in warnings[0].message

    sources, warnings = plan_sources([payer, linked], known)
    assert [source.linked_ids for source in sources] == [()]
    assert sources[0].covers == ("payer", "linked")
    assert "shown unfiltered" in warnings[0].message


def test_report_data_unavailable_warns(explorer: CostExplorer) -> None:
    client = explorer.factory.client(PROD, "ce", "us-east-1", user_id=None)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_cost_and_usage",
            service_error_code="DataUnavailableException",
            service_message="Data is not available.",
            http_status_code=400,
        )
        report = explorer.report([PROD], last_month(), SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    assert not report.answered
    assert report.groups == {}
    assert len(report.warnings) == 1
    message = report.warnings[0].message
    assert message.startswith("Cost Explorer has no data for account prod (111111111111)")
    assert "Traceback" not in message


def test_report_missing_permission_warns(explorer: CostExplorer) -> None:
    client = explorer.factory.client(PROD, "ce", "us-east-1", user_id=None)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_cost_and_usage",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: ce:GetCostAndUsage",
            http_status_code=400,
        )
        report = explorer.report([PROD], last_month(), SERVICE_GROUPING)

    assert not report.answered
    assert [w.message for w in report.warnings] == [
        "Missing IAM permission ce:GetCostAndUsage in account prod (111111111111)"
    ]


def test_report_cost_explorer_not_enabled(explorer: CostExplorer) -> None:
    client = explorer.factory.client(PROD, "ce", "us-east-1", user_id=None)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_cost_and_usage",
            service_error_code="AccessDeniedException",
            service_message="User not enabled for cost explorer access",
            http_status_code=400,
        )
        report = explorer.report([PROD], last_month(), SERVICE_GROUPING)

    assert report.warnings[0].message.startswith(
        "Cost Explorer is not enabled for account prod (111111111111)"
    )


def test_report_one_account_fails(explorer: CostExplorer) -> None:
    seed_simple("111111111111", "3.00")
    client = explorer.factory.client(STAGING, "ce", "us-east-1", user_id=None)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_cost_and_usage", service_error_code="AccessDeniedException", http_status_code=400
        )
        report = explorer.report([PROD, STAGING], last_month(), SERVICE_GROUPING)

    assert report.answered
    assert report.total == Decimal("3.00")
    assert [w.account for w in report.warnings] == ["staging"]


def test_report_stops_after_max_pages(
    explorer: CostExplorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(costs, "MAX_PAGES", 2)
    seed(
        "111111111111",
        page(result("2026-02-01", "2026-02-02", {EC2: "1"}), token="a"),
        page(result("2026-02-02", "2026-02-03", {EC2: "1"}), token="b"),
    )

    report = explorer.report([PROD], last_month(), SERVICE_GROUPING)

    assert not report.answered
    assert "more than 2 pages" in report.warnings[0].message


def test_report_marks_estimated(explorer: CostExplorer) -> None:
    seed(
        "111111111111",
        page(result("2026-02-01", "2026-02-02", {EC2: "1.00"}, estimated=True)),
        page(result("2026-01-01", "2026-01-02", {EC2: "1.00"})),
        page(result("2026-02-01", "2026-03-01", {})),
    )
    assert explorer.report([PROD], last_month(), SERVICE_GROUPING).estimated


def test_report_warns_on_mixed_units(explorer: CostExplorer) -> None:
    seed_simple("111111111111", "1.00")
    seed(
        "222222222222",
        page(
            {
                **result("2026-02-01", "2026-02-02"),
                "Groups": [
                    {"Keys": [EC2], "Metrics": {"UnblendedCost": {"Amount": "2", "Unit": "EUR"}}}
                ],
            }
        ),
        page(result("2026-01-01", "2026-01-02", {EC2: "1.00"})),
        page(result("2026-02-01", "2026-03-01", {})),
    )

    report = explorer.report([PROD, STAGING], last_month(), SERVICE_GROUPING)

    assert any("EUR, USD" in warning.message for warning in report.warnings)


def test_merge_pages_joins_same_period() -> None:
    merged = merge_pages(
        [
            page(result("2026-02-01", "2026-02-02", {EC2: "1"}), token="x"),
            page(result("2026-02-01", "2026-02-02", {S3: "2"}, estimated=True)),
        ]
    )
    assert len(merged["ResultsByTime"]) == 1
    assert [g["Keys"][0] for g in merged["ResultsByTime"][0]["Groups"]] == [EC2, S3]
    assert merged["ResultsByTime"][0]["Estimated"] is True
    assert "NextPageToken" not in merged


def test_sum_groups_decimal_exact() -> None:
    response = page(
        result("2026-02-01", "2026-02-02", {EC2: "0.1"}),
        result("2026-02-02", "2026-02-03", {EC2: "0.2"}),
        result("2026-02-03", "2026-02-04", total="0.7"),
    )
    amounts, units = sum_groups(response, "UnblendedCost")
    assert sum((sum(day.values(), Decimal(0)) for day in amounts.values()), Decimal(0)) == Decimal(
        "1.0"
    )
    assert amounts[date(2026, 2, 3)] == {"": Decimal("0.7")}
    assert units == {"USD"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("service", ("DIMENSION", "SERVICE")),
        ("Regions", ("DIMENSION", "REGION")),
        ("account", ("DIMENSION", "LINKED_ACCOUNT")),
        ("tag:CostCenter", ("TAG", "CostCenter")),
    ],
)
def test_group_by_parse(text: str, expected: tuple[str, str]) -> None:
    group = GroupBy.parse(text)
    assert (group.type, group.key) == expected


@pytest.mark.parametrize("text", ["team", "tag:", "usage"])
def test_group_by_parse_rejects(text: str) -> None:
    with pytest.raises(costs.CostQueryError):
        GroupBy.parse(text)


def test_cost_explorer_rejects_unknown_metric(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="UsageQuantity"):
        CostExplorer(None, None, None, ACCOUNTS, metric="UsageQuantity")  # type: ignore[arg-type]


def test_report_previous_period_unavailable(explorer: CostExplorer) -> None:
    client = explorer.factory.client(PROD, "ce", "us-east-1", user_id=None)
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_cost_and_usage", page(result("2026-02-01", "2026-02-02", {EC2: "5"}))
        )
        stubber.add_client_error("get_cost_and_usage", "DataUnavailableException")
        stubber.add_response("get_cost_and_usage", page())
        report = explorer.report([PROD], last_month(), SERVICE_GROUPING)
        stubber.assert_no_pending_responses()

    assert report.total == Decimal("5")
    assert report.previous_groups is None
    assert report.previous_total is None
    assert report.warnings[0].message.startswith(
        "The change against the previous period is not shown: Cost Explorer has no data"
    )


def test_cost_digest_skips_unshown_requests(explorer: CostExplorer) -> None:
    calls = capture_requests(explorer, PROD)
    rule = SpikeRule(percent=Decimal(50), min_amount=Decimal(10), window_days=14)
    digest = collect_cost_digest(explorer, [PROD], TODAY, rule)

    periods = [
        (call["operation"], call["TimePeriod"]["Start"], call["TimePeriod"]["End"])
        for call in calls
    ]
    # One request for the last 15 days, and four for the month to date: usage, the
    # previous month, credits and tax, and the forecast.
    assert sorted(periods) == [
        ("GetCostAndUsage", "2026-02-01", "2026-03-01"),
        ("GetCostAndUsage", "2026-02-27", "2026-03-14"),
        ("GetCostAndUsage", "2026-03-01", "2026-03-14"),
        ("GetCostAndUsage", "2026-03-01", "2026-03-14"),
        ("GetCostForecast", "2026-03-14", "2026-04-01"),
    ]
    assert digest.recent.requests_sent == 1
