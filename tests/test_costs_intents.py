"""Cost questions: `/aws cost` words and plain-word mentions mapped onto the same grammar."""

from __future__ import annotations

import pytest

from handlers.costs import CostQuestion, cost_mention_command, parse_cost_args
from handlers.grammar import CommandError, parse_command
from handlers.intents import mention_to_command
from services.costs import GroupBy

MENTIONS = [
    ("costs this month", "cost this month"),
    ("<@U0BOT> costs this month", "cost this month"),
    ("what did we spend last month by region", "cost last month by region"),
    ("What did we spend last month, by region?", "cost last month by region"),
    ("spend yesterday", "cost yesterday"),
    ("cost by tag Team", "cost this month by tag:Team"),
    ("costs by Team tag", "cost this month by tag:Team"),
    ("how much is EC2 costing us", "cost ec2 this month"),
    ("how much did we spend in march", "cost march"),
    ("how much did we spend in march 2025", "cost 2025-03"),
    ("costs for the past 7 days per region", "cost 7d by region"),
    ("what did we spend over the last 30 days by account", "cost 30d by account"),
    ("cost 2026-02 by linked account", "cost 2026-02 by account"),
    ("what is our bill month to date", "cost this month"),
    ("how much did rds and s3 cost yesterday", "cost rds s3 yesterday"),
    ("spend today broken down by service", "cost today"),
]


@pytest.mark.parametrize(("text", "expected"), MENTIONS)
def test_mention_to_command_cost_phrases(text: str, expected: str) -> None:
    assert mention_to_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ec2 prod", "ec2 prod"),
        ("show idle resources in prod", "idle prod"),
        ("show me the ec2 instances in stg", "ec2 stg"),
        ("digest costs", "digest costs"),
        ("", "help"),
        ("what time is it", None),
    ],
)
def test_mention_to_command_keeps_other_intents(text: str, expected: str | None) -> None:
    assert mention_to_command(text) == expected


def test_mention_to_command_cost_not_understood() -> None:
    command = mention_to_command("how much did project apollo cost")
    assert command == "cost project apollo"
    with pytest.raises(CommandError, match="I did not understand `project apollo`"):
        parse_cost_args(parse_command(command).args)


def test_cost_mention_command_ignores_other_text() -> None:
    assert cost_mention_command("list the ec2 instances") is None


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("", CostQuestion()),
        ("this month", CostQuestion(period="this month")),
        ("last month by region", CostQuestion("last month", GroupBy("DIMENSION", "REGION"))),
        ("by account 7d", CostQuestion("7d", GroupBy("DIMENSION", "LINKED_ACCOUNT"))),
        ("30d by tag:CostCenter", CostQuestion("30d", GroupBy("TAG", "CostCenter"))),
        ("tag:Team", CostQuestion("this month", GroupBy("TAG", "Team"))),
        ("2026-03 by services", CostQuestion("2026-03")),
        ("ec2 service=lambda yesterday", CostQuestion("yesterday", services=("ec2", "lambda"))),
        ("Last Month By Region", CostQuestion("last month", GroupBy("DIMENSION", "REGION"))),
    ],
)
def test_parse_cost_args_accepts(words: str, expected: CostQuestion) -> None:
    assert parse_cost_args(words.split()) == expected


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("fortnight", "I did not understand `fortnight`"),
        ("today yesterday", "one period, but got today and yesterday"),
        ("by region by service", "one grouping"),
        ("by tag:", "`tag:` needs a tag key"),
        ("service=dynamodb", "`dynamodb` is not a service"),
        ("by team", "Costs cannot be grouped by `team`"),
    ],
)
def test_parse_cost_args_rejects_with_examples(words: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_cost_args(words.split())
    assert message in str(raised.value)
    assert "/aws cost this month" in str(raised.value)


def test_parse_command_cost_keeps_tag_case() -> None:
    command = parse_command("cost 7d by tag:CostCenter")
    assert command.verb == "cost"
    assert parse_cost_args(command.args).group_by == GroupBy("TAG", "CostCenter")


def test_cost_question_command_text_round_trip() -> None:
    question = CostQuestion("7d", GroupBy("TAG", "Team"), ("ec2",))
    assert question.command_text() == "cost ec2 7d by tag:Team"
    assert parse_cost_args(question.command_text().split()[1:]) == question
