"""Cost replies in Block Kit: rendering, the chart, and `/aws cost` through the dispatcher."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from freezegun import freeze_time

from handlers.blocks import MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, Reply
from handlers.context import ChannelContext
from handlers.costs import (
    change_text,
    cost_reply,
    cost_verb,
    format_amount,
    resolve_month_name,
    share_text,
)
from handlers.dispatch import VERBS, Backends, handle_mention, handle_text
from services.cost_periods import Period, previous_period, resolve_period
from services.costs import SERVICE_GROUPING, CostExplorer, CostReport, Forecast, GroupBy
from services.fanout import ScanWarning
from services.inventory import Inventory
from services.regions import RegionResolver
from tests.cost_support import PROD, cost_explorer, page, result, seed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
RDS = "Amazon Relational Database Service"
LAMBDA = "AWS Lambda"
CTX = ChannelContext(channel_id="C0PROD0001", accounts=(PROD,), timezone="UTC", user_id="U1")


def make_report(
    period: Period | None = None,
    groups: dict[str, str] | None = None,
    previous: dict[str, str] | None = None,
    group_by: GroupBy = SERVICE_GROUPING,
    **overrides: Any,
) -> CostReport:
    """A report whose amounts are spread evenly over the days of the period."""
    period = period or resolve_period("last month", date(2026, 3, 14))
    amounts = {key: Decimal(value) for key, value in (groups or {EC2: "280.00"}).items()}
    daily = {
        day: {key: amount / period.days for key, amount in amounts.items()}
        for day in period.dates()
    }
    fields: dict[str, Any] = {
        "period": period,
        "previous": previous_period(period),
        "group_by": group_by,
        "metric": "UnblendedCost",
        "services": (),
        "unit": "USD",
        "daily": daily,
        "groups": amounts,
        "previous_groups": (
            {key: Decimal(value) for key, value in previous.items()} if previous else None
        ),
        "other_charges": {},
        "labels": {},
        "forecast": None,
        "warnings": [],
        "accounts": ["prod"],
        "answered": True,
        "estimated": False,
        "requests_sent": 3,
        "cache_hits": 0,
        "elapsed": 0.4,
    }
    fields.update(overrides)
    return CostReport(**fields)


def texts(reply: Reply) -> list[str]:
    found = []
    for block in reply.blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        found.extend(element["text"] for element in block.get("elements", []))
    return found


def png_size(content: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", content[16:24])
    return width, height


def test_cost_reply_total_share_change_other() -> None:
    report = make_report(
        groups={EC2: "600.00", RDS: "250.00", S3: "100.00", LAMBDA: "50.00"},
        previous={EC2: "500.00", RDS: "250.00", S3: "125.00", LAMBDA: "20.00"},
    )
    reply = cost_reply(report, CTX, top=2)
    lines = texts(reply)

    assert reply.blocks[0]["text"]["text"] == "AWS cost · last month"
    assert lines[1] == (
        "*$1,000.00* from 2026-02-01 – 2026-02-28 (28 days) · +11.7 % (+$105.00) against "
        "2026-01-01 – 2026-01-31 ($895.00)"
    )
    assert lines[2].splitlines() == [
        f"*{EC2}* · $600.00 · 60.0 % · +20.0 % (+$100.00)",
        f"*{RDS}* · $250.00 · 25.0 % · no change",
        "*Other* (2 more services) · $150.00 · 15.0 % · +3.4 % (+$5.00)",
    ]
    assert reply.text == (
        "AWS cost last month: $1,000.00, +11.7 % (+$105.00) against 2026-01-01 – 2026-01-31"
    )


def test_cost_reply_other_charges_line() -> None:
    report = make_report(other_charges={"Credit": Decimal("-50"), "Tax": Decimal("12.344")})
    lines = texts(cost_reply(report, CTX, top=5))
    assert "Not in the total above: credits -$50.00 · tax $12.34" in lines


def test_cost_reply_forecast_aws() -> None:
    forecast = Forecast(
        month=date(2026, 3, 1),
        actual=Decimal("130"),
        projected=Decimal("300"),
        method="aws",
        lower=Decimal("280"),
        upper=Decimal("320"),
        reasons=[],
    )
    report = make_report(resolve_period("this month", date(2026, 3, 14)), forecast=forecast)
    lines = texts(cost_reply(report, CTX, top=5))
    assert (
        "*Forecast for March 2026:* $300.00 (AWS forecast, 80 % interval $280.00 – $320.00; "
        "$130.00 so far)"
    ) in lines


def test_cost_reply_forecast_run_rate_labelled() -> None:
    forecast = Forecast(
        month=date(2026, 3, 1),
        actual=Decimal("130"),
        projected=Decimal("310"),
        method="run-rate",
        lower=None,
        upper=None,
        reasons=["AWS has too little cost history of account prod (111111111111) to forecast"],
    )
    report = make_report(resolve_period("this month", date(2026, 3, 14)), forecast=forecast)
    reply = cost_reply(report, CTX, top=5)
    line = next(text for text in texts(reply) if "projection" in text)
    assert line.startswith("*Run-rate projection for March 2026:* $310.00")
    assert "AWS did not forecast: AWS has too little cost history" in line
    assert reply.text.endswith("month-end projection $310.00")


def test_cost_reply_forecast_gap_day_noted() -> None:
    forecast = Forecast(
        month=date(2026, 3, 1),
        actual=Decimal("130"),
        projected=Decimal("300"),
        method="aws",
        lower=Decimal("280"),
        upper=Decimal("320"),
        reasons=[],
        estimated_days=1,
    )
    report = make_report(resolve_period("this month", date(2026, 3, 14)), forecast=forecast)
    line = next(text for text in texts(cost_reply(report, CTX, top=5)) if "Forecast" in text)
    assert line.endswith("1 day between the data and the forecast is counted at the daily average.")


def test_cost_reply_escapes_aws_strings() -> None:
    report = make_report(
        groups={"Team$<!channel> & <b>": "10.00"},
        group_by=GroupBy.parse("tag:Team"),
        labels={"Team$<!channel> & <b>": "<!channel> & <b>"},
    )
    reply = cost_reply(report, CTX, top=5)
    body = "\n".join(texts(reply))
    assert "&lt;!channel&gt; &amp; &lt;b&gt;" in body
    assert "<!channel>" not in body


def test_cost_reply_tag_hint_when_untagged() -> None:
    report = make_report(groups={"Team$": "10.00"}, group_by=GroupBy.parse("tag:Team"))
    hint = [text for text in texts(cost_reply(report, CTX, top=5)) if "cost allocation" in text]
    assert len(hint) == 1
    assert "`Team`" in hint[0]


def test_cost_reply_attaches_png_chart() -> None:
    report = make_report(groups={EC2: "280.00", S3: "28.00", "Cost$Odd": "1.00"})
    reply = cost_reply(report, CTX, top=2)

    assert len(reply.files) == 1
    chart = reply.files[0]
    assert chart.filename == "cost-2026-02-01-2026-02-28.png"
    assert chart.title == "Daily cost by service, 2026-02-01 – 2026-02-28"
    assert chart.content.startswith(PNG_SIGNATURE)
    assert chart.content[12:16] == b"IHDR"
    assert png_size(chart.content) == (1000, 480)
    assert len(chart.content) > 10_000


def test_cost_reply_no_chart_for_one_day() -> None:
    report = make_report(resolve_period("yesterday", date(2026, 3, 14)))
    assert cost_reply(report, CTX, top=5).files == []


def test_cost_reply_unanswered() -> None:
    warning = ScanWarning("prod", None, "Missing IAM permission ce:GetCostAndUsage in account prod")
    report = make_report(groups={}, answered=False, warnings=[warning])
    reply = cost_reply(report, CTX, top=5)
    lines = texts(reply)
    assert lines[1].startswith("No cost data for 2026-02-01 – 2026-02-28")
    assert ":warning: Missing IAM permission ce:GetCostAndUsage in account prod" in lines
    assert reply.files == []
    assert reply.text == "AWS cost last month: no data (1 warning)"


def test_cost_reply_within_block_limits() -> None:
    groups = {f"Service {index:02d} " + "x" * 200: f"{index}.00" for index in range(1, 60)}
    report = make_report(groups=groups, previous=groups)
    reply = cost_reply(report, CTX, top=20)
    assert len(reply.blocks) <= MAX_BLOCKS
    assert len(reply.blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
    assert all(len(text) <= MAX_SECTION_TEXT for text in texts(reply))


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        ("0", "USD", "$0.00"),
        ("-0.004", "USD", "$0.00"),
        ("-0.00000001", "USD", "$0.00"),
        ("-0.005", "USD", "-$0.01"),
        ("0.005", "USD", "$0.01"),
        ("1234567.891", "USD", "$1,234,567.89"),
        ("-1234.5", "USD", "-$1,234.50"),
        ("12.3", "EUR", "12.30 EUR"),
    ],
)
def test_format_amount_to_cent(amount: str, unit: str, expected: str) -> None:
    assert format_amount(Decimal(amount), unit) == expected


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        ("110", "100", "+10.0 % (+$10.00)"),
        ("90", "100", "-10.0 % (-$10.00)"),
        ("100", "100", "no change"),
        ("100.001", "100", "no change"),
        ("5", "0", "new (+$5.00)"),
        ("0", "5", "-100.0 % (-$5.00)"),
        ("-5", "-10", "+50.0 % (+$5.00)"),
    ],
)
def test_change_text_cases(current: str, previous: str, expected: str) -> None:
    assert change_text(Decimal(current), Decimal(previous), "USD") == expected


def test_share_text_cases() -> None:
    assert share_text(Decimal("1"), Decimal("3")) == "33.3 %"
    assert share_text(Decimal("1"), Decimal("0")) is None
    assert share_text(Decimal("-0.0001"), Decimal("100")) == "0.0 %"


def test_resolve_month_name_latest_begun() -> None:
    today = date(2026, 3, 14)
    assert resolve_month_name("january", today) == "2026-01"
    assert resolve_month_name("Mar", today) == "2026-03"
    assert resolve_month_name("december", today) == "2025-12"
    assert resolve_month_name("7d", today) == "7d"


# Through the dispatcher, with moto's Cost Explorer


@pytest.fixture
def backends(aws: None, tmp_path: Path) -> Iterator[Backends]:
    with cost_explorer(tmp_path) as explorer:
        regions = RegionResolver(explorer.factory, ("us-east-1",))
        inventory = Inventory(explorer.factory, explorer.fanout, regions)
        yield Backends(inventory=inventory, costs=explorer)


def seed_last_month_by_region() -> None:
    days = [date(2026, 2, 1) + timedelta(days=n) for n in range(28)]
    seed(
        "111111111111",
        page(
            *(
                result(day, day + timedelta(days=1), {"us-east-1": "9.00", "eu-west-1": "1.00"})
                for day in days
            )
        ),
        page(result("2026-01-01", "2026-02-01", {"us-east-1": "200.00"})),
        page(result("2026-02-01", "2026-03-01", {"Credit": "-10.00"})),
    )


def test_verbs_register_cost() -> None:
    assert VERBS["cost"] is cost_verb


def test_handle_text_cost_last_month(backends: Backends) -> None:
    seed_last_month_by_region()
    with freeze_time("2026-03-14T12:00:00"):
        reply = handle_text("cost last month by region", CTX, backends)

    lines = texts(reply)
    assert lines[0] == "AWS cost · last month · by region"
    assert lines[1].startswith("*$280.00* from 2026-02-01 – 2026-02-28 (28 days) · +40.0 %")
    assert lines[2].splitlines() == [
        "*us-east-1* · $252.00 · 90.0 % · +26.0 % (+$52.00)",
        "*eu-west-1* · $28.00 · 10.0 % · new (+$28.00)",
    ]
    assert "Not in the total above: credits -$10.00" in lines
    assert "3 requests sent ($0.03), 0 answered from cache" in lines[-1]
    assert reply.files[0].content.startswith(PNG_SIGNATURE)


def test_handle_mention_cost_phrase(backends: Backends) -> None:
    seed_last_month_by_region()
    with freeze_time("2026-03-14T12:00:00"):
        reply = handle_mention("<@U0BOT> what did we spend last month by region?", CTX, backends)
    assert texts(reply)[0] == "AWS cost · last month · by region"


def test_handle_text_cost_on_first_of_month(backends: Backends) -> None:
    explorer = backends.costs
    assert explorer is not None
    with freeze_time("2026-04-01T06:00:00"):
        reply = handle_text("cost this month", CTX, backends)
    assert "This month began today (2026-04-01)" in reply.text
    assert explorer.total_requests == 0


def test_handle_text_cost_today_ahead_of_utc(backends: Backends) -> None:
    explorer = backends.costs
    assert explorer is not None
    tokyo = ChannelContext(
        channel_id="C0PROD0001", accounts=(PROD,), timezone="Asia/Tokyo", user_id="U1"
    )
    # 16:00 UTC is 01:00 the next day in Tokyo.
    with freeze_time("2026-03-14T16:00:00"):
        reply = handle_text("cost today", tokyo, backends)

    assert texts(reply)[0] == "AWS cost · today"
    assert "2026-03-15 has not begun in UTC" in reply.text
    assert "`cost yesterday` for 2026-03-14" in reply.text
    assert explorer.total_requests == 0


def test_handle_text_cost_unknown_words(backends: Backends) -> None:
    reply = handle_text("cost fortnight by team", CTX, backends)
    assert reply.text.startswith("I did not understand `fortnight team` in a cost question.")
    assert "/aws cost last month by region" in reply.text


def test_handle_text_cost_future_month(backends: Backends) -> None:
    with freeze_time("2026-03-14T12:00:00"):
        reply = handle_text("cost 2026-05", CTX, backends)
    assert reply.text.startswith("2026-05 has not begun yet")


def test_handle_text_cost_data_unavailable(backends: Backends) -> None:
    explorer = backends.costs
    assert isinstance(explorer, CostExplorer)
    client = explorer.factory.client(PROD, "ce", "us-east-1", user_id="U1")
    with freeze_time("2026-03-14T12:00:00"), Stubber(client) as stubber:
        stubber.add_client_error("get_cost_and_usage", "DataUnavailableException")
        reply = handle_text("cost last month", CTX, backends)

    body = "\n".join(texts(reply))
    assert "No cost data for 2026-02-01 – 2026-02-28" in body
    assert ":warning: Cost Explorer has no data for account prod (111111111111)" in body
    assert "Traceback" not in body


def test_cost_verb_without_backend(backends: Backends) -> None:
    reply = handle_text("cost", CTX, Backends(inventory=backends.inventory))
    assert reply.text.startswith("Costs are not available")


def test_handle_text_cost_month_name(backends: Backends) -> None:
    seed_last_month_by_region()
    with freeze_time("2026-03-14T12:00:00"):
        reply = handle_text("cost february by region", CTX, backends)
    assert texts(reply)[1].startswith("*$280.00* from 2026-02-01 – 2026-02-28")
