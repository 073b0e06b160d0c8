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
