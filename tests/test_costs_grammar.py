"""Cost grammar messages: periods Cost Explorer has no data for and groupings it cannot make."""

from __future__ import annotations

import json
from datetime import date

import pytest

from handlers.context import ChannelContext
from handlers.costs import check_month_in_range, cost_reply, parse_cost_args
from handlers.grammar import CommandError
from services.costs import GroupBy
from tests.cost_support import PROD
from tests.test_costs_handler import make_report

CTX = ChannelContext(channel_id="C0PROD0001", accounts=(PROD,), timezone="UTC")


@pytest.mark.parametrize("word", ["0d", "366d", "-5d", "14d", "+7d"])
def test_parse_cost_args_day_counts_listed(word: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_cost_args([word])
    message = str(raised.value)
    assert f"`{word}` is not a period aws-monitor knows" in message
    assert "`7d` and `30d`" in message


def test_parse_cost_args_by_alone() -> None:
    with pytest.raises(CommandError) as raised:
        parse_cost_args(["by"])
    assert "`by` needs what to group by: `by service`, `by region`" in str(raised.value)


@pytest.mark.parametrize("words", ["by tag:Team=data", "by tag Team=data", "tag:Team=data"])
def test_parse_cost_args_tag_group_with_value(words: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_cost_args(words.split())
    message = str(raised.value)
    assert "Group by `tag:KEY`, without a value" in message
    assert "`by tag:Team`" in message


def test_parse_cost_args_unknown_grouping() -> None:
    with pytest.raises(CommandError, match="Costs cannot be grouped by `foo`"):
        parse_cost_args(["by", "foo"])


def test_parse_cost_args_by_then_period() -> None:
    question = parse_cost_args(["by", "last", "month"])
    assert question.period == "last month"


def test_parse_cost_args_by_region_still_groups() -> None:
    assert parse_cost_args(["7d", "by", "region"]).group_by == GroupBy("DIMENSION", "REGION")


@pytest.mark.parametrize("period", ["1999-01", "2024-01"])
def test_check_month_in_range_too_old(period: str) -> None:
    with pytest.raises(CommandError) as raised:
        check_month_in_range(period, date(2025, 3, 10))
    message = str(raised.value)
    assert f"{period} is outside the range Cost Explorer keeps" in message
    assert "the oldest month to ask for is 2024-02" in message
    assert "is not a month" not in message


@pytest.mark.parametrize("period", ["2024-02", "2025-03", "2025-13", "last month"])
def test_check_month_in_range_accepts(period: str) -> None:
    check_month_in_range(period, date(2025, 3, 10))


def test_cost_reply_one_other_service_singular() -> None:
    report = make_report(groups={"Amazon EC2": "600.00", "AWS Lambda": "50.00"}, requests_sent=1)
    reply = cost_reply(report, CTX, top=1)
    text = json.dumps(reply.blocks, ensure_ascii=False)
    assert "*Other* (1 more service) · $50.00" in text
    assert "1 request sent ($0.01)" in text
    assert "1 more services" not in text
    assert "1 requests" not in text
