"""The /aws command grammar and the plain-words mentions."""

from __future__ import annotations

import pytest

from handlers.grammar import Command, CommandError, parse_command
from handlers.intents import mention_to_command


def test_parse_command_inventory_with_filters() -> None:
    command = parse_command("ec2 prod state=stopped region=eu-west-1 account=prod tag:Team=data")
    assert command == Command(
        verb="ec2",
        environment="prod",
        filters=(
            ("state", "stopped"),
            ("region", "eu-west-1"),
            ("account", "prod"),
            ("tag:Team", "data"),
        ),
    )


def test_parse_command_empty_is_help() -> None:
    assert parse_command("  ").verb == "help"


@pytest.mark.parametrize("verb", ["ec2", "ebs", "rds", "s3", "lambda", "eks", "emr"])
def test_parse_command_inventory_verbs(verb: str) -> None:
    assert parse_command(f"{verb.upper()} stg").verb == verb


def test_parse_command_alias() -> None:
    assert parse_command("instances prod").verb == "ec2"


def test_parse_command_metrics_flag() -> None:
    command = parse_command("ec2 prod metrics")
    assert command.with_metrics
    assert command.environment == "prod"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate", "Unknown command `frobnicate`"),
        ("ec2 prod stg", "takes one environment"),
        ("ec2 color=red", "Unknown filter `color=red`"),
        ("ec2 state=", "has no value"),
        ("help me", "takes no arguments"),
        ("digest weekly", "`digest` takes `costs` or `idle`"),
        ("metrics", "needs a resource id"),
    ],
)
def test_parse_command_rejects_with_message(text: str, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_command(text)
    assert message in str(raised.value)


def test_parse_command_tag_value_with_equals() -> None:
    command = parse_command("s3 tag:Query=a=b")
    assert command.filters == (("tag:Query", "a=b"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOT> ec2 prod", "ec2 prod"),
        ("show idle resources in prod", "idle prod"),
        ("<@U0BOT> show me the ec2 instances in stg", "ec2 stg"),
        ("list all s3 buckets", "s3"),
        ("what RDS databases do we have in prod?", "rds prod"),
        ("<@U0BOT|aws-monitor>", "help"),
    ],
)
def test_mention_to_command_maps_phrases(text: str, expected: str) -> None:
    assert mention_to_command(text) == expected


def test_mention_to_command_unknown_is_none() -> None:
    assert mention_to_command("how is the weather") is None


@pytest.mark.parametrize("word", ["tag:", "tag:Team", "tag:=data", "TAG:Team"])
def test_parse_command_tag_without_value_rejected(word: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_command(f"ec2 {word}")
    assert "tag filter needs `tag:KEY=VALUE`" in str(raised.value)


def test_parse_command_tag_prefix_any_case() -> None:
    assert parse_command("ec2 TAG:Team=data").filters == (("tag:Team", "data"),)


def test_parse_command_tag_empty_value_kept() -> None:
    assert parse_command("ec2 tag:Team=").filters == (("tag:Team", ""),)


@pytest.mark.parametrize(
    ("text", "example"),
    [
        ("ec2 state=", "`state=stopped`"),
        ("ec2 region=", "`region=eu-west-1`"),
        ("ec2 REGION=", "`region=eu-west-1`"),
        ("ec2 account=", "`account=prod`"),
    ],
)
def test_parse_command_empty_filter_real_example(text: str, example: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_command(text, ["prod", "staging"])
    assert f"has no value, e.g. {example}." in str(raised.value)
    assert "..." not in str(raised.value)


def test_parse_command_empty_account_without_names() -> None:
    with pytest.raises(CommandError, match=r"e\.g\. `account=ACCOUNT_NAME`"):
        parse_command("ec2 account=")


def test_parse_command_region_and_state_lowercased() -> None:
    command = parse_command("ec2 region=EU-WEST-1 state=STOPPED account=PROD")
    assert command.filters == (("region", "eu-west-1"), ("state", "stopped"), ("account", "PROD"))


def test_parse_command_idle_metrics_rejected() -> None:
    with pytest.raises(CommandError) as raised:
        parse_command("idle prod metrics")
    assert "`idle` takes no `metrics` word" in str(raised.value)


def test_parse_command_long_word_shortened() -> None:
    with pytest.raises(CommandError) as raised:
        parse_command("x" * 100_000)
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOT> ec2 prod tag:Team=data", "ec2 prod tag:Team=data"),
        ("<@U0BOT> EC2 Prod", "ec2 Prod"),
        ("show ec2 instances in prod that are stopped", "ec2 prod state=stopped"),
        ("show ec2 instances in prod that were running", "ec2 prod state=running"),
        ("ec2 instances currently running right now in prod", "ec2 prod state=running"),
        ("what's running in prod?", "ec2 prod state=running"),
        ("What’s stopped in stg", "ec2 stg state=stopped"),
        ("<@U0BOT> <!channel> ec2", "ec2"),
        ("<@U0BOT> <!here> <!subteam^S01|@ops> s3 <#C0123|general>", "s3"),
        ("idle resources in prod", "idle prod"),
        ("show idle resources running in prod", "idle prod"),
        ("metrics i-0abc 7d", "metrics i-0abc 7d"),
        ("cost by tag Team", "cost this month by tag:Team"),
    ],
)
def test_mention_to_command_keeps_case_and_states(text: str, expected: str) -> None:
    assert mention_to_command(text) == expected


def test_mention_to_command_special_mention_only_is_help() -> None:
    assert mention_to_command("<@U0BOT> <!channel>") == "help"


def test_mention_to_command_hello_not_understood() -> None:
    assert mention_to_command("<@U0BOT> <!channel> hello") is None
