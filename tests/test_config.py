"""Configuration loading: valid files load, bad files stop start-up naming the key and the fix."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.config import load_config, parse_config
from services.errors import ConfigError

VALID = """
aws:
  regions: [us-east-1, eu-west-1]
  environment_tag: Environment
  environments: {prod: production, stg: staging}
accounts:
  prod:
    role_arn: arn:aws:iam::111111111111:role/AwsMonitorReadOnly
    external_id: optional-string
    regions: [us-east-1]
  shared: {}
channels:
  C0PROD0001:
    accounts: [prod]
    timezone: Europe/Berlin
    digests:
      costs: {at: "09:00"}
      idle: {at: "09:05", days: mon-fri}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aws-monitor.yaml"
    path.write_text(text)
    return path


def test_load_config_valid_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.regions == ("us-east-1", "eu-west-1")
    assert config.environments == {"prod": "production", "stg": "staging"}
    assert config.accounts["prod"].account_id == "111111111111"
    assert config.accounts["prod"].external_id == "optional-string"
    assert config.accounts["prod"].regions == ("us-east-1",)
    assert config.accounts["shared"].role_arn is None
    channel = config.channels["C0PROD0001"]
    assert channel.timezone == "Europe/Berlin"
    assert [(d.kind, d.at, d.days) for d in channel.digests] == [
        ("costs", time(9, 0), "mon-sun"),
        ("idle", time(9, 5), "mon-fri"),
    ]


def test_channel_context_maps_accounts(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    ctx = config.channel_context("C0PROD0001", "U1")
    assert ctx is not None
    assert [a.name for a in ctx.accounts] == ["prod"]
    assert ctx.environment_value("prod") == "production"
    assert ctx.environment_value("qa") == "qa"
    assert config.channel_context("C0UNKNOWN1") is None


def test_load_config_regions_enabled(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID.replace("[us-east-1, eu-west-1]", "enabled")))
    assert config.regions == "enabled"


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        (
            "  environment_tag: Environment",
            "  environment_tga: Environment",
            "aws.environment_tga",
            "unknown key",
        ),
        ("[prod]", "[prdo]", "channels.C0PROD0001.accounts[0]", "unknown account 'prdo'"),
        ('"09:00"', '"9am"', "channels.C0PROD0001.digests.costs.at", '"HH:MM"'),
        ("Europe/Berlin", "Mars/Olympus", "channels.C0PROD0001.timezone", "IANA"),
        ("days: mon-fri", "days: weekdays", "channels.C0PROD0001.digests.idle.days", "mon-fri"),
        ("role/AwsMonitorReadOnly", "user/AwsMonitor", "accounts.prod.role_arn", "not a role ARN"),
        ("[us-east-1, eu-west-1]", "[us-east-1, Ireland]", "aws.regions[1]", "not a region name"),
        ("  C0PROD0001:", "  '#prod':", "channels.#prod", "channel id"),
        ("      idle: {", "      spend: {", "channels.C0PROD0001.digests.spend", "unknown key"),
    ],
)
def test_load_config_rejects_bad_value(
    tmp_path: Path, old: str, new: str, key: str, fix: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(str(path))
    assert key in message
    assert fix in message


def test_load_config_missing_file_names_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"file not found.*--config"):
        load_config(tmp_path / "absent.yaml")


def test_load_config_invalid_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+, column \d+"):
        load_config(write(tmp_path, "aws:\n  regions: [us-east-1\n"))


def test_load_config_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path, ""))


def test_parse_config_number_out_of_range() -> None:
    data = {
        "aws": {"max_workers": 0},
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    with pytest.raises(ConfigError, match=r"aws\.max_workers: 0 is out of range"):
        parse_config(data)


def test_parse_config_unknown_cost_payer() -> None:
    data = {
        "accounts": {"a": {"cost_payer": "payer"}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    with pytest.raises(ConfigError, match=r"accounts\.a\.cost_payer: unknown account 'payer'"):
        parse_config(data)


def test_parse_config_secrets_key_rejected() -> None:
    data = {
        "slack": {"bot_token": "xoxb-1"},
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    with pytest.raises(ConfigError, match="slack: unknown key"):
        parse_config(data)


def test_parse_config_idle_thresholds() -> None:
    data = {
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
        "idle": {"ec2_cpu_percent": 5, "lambda_idle_days": 60},
    }
    config = parse_config(data)
    assert config.idle.ec2_cpu_percent == 5.0
    assert config.idle.lambda_idle_days == 60
    assert config.idle.rds_idle_days == 7


@pytest.mark.parametrize(
    ("idle", "message"),
    [
        ({"ec2_low_days": 20}, "idle.ec2_low_days must be 1 to ec2_lookback_days (14)"),
        ({"lambda_idle_days": 900}, "idle.lambda_idle_days must be 1 to 455 days"),
        ({"emr_idle_minutes": 1}, "idle.emr_idle_minutes must be at least 5"),
        ({"ec2_cpu_percent": "ten"}, "idle.ec2_cpu_percent: expected a number"),
    ],
)
def test_parse_config_idle_thresholds_rejected(idle: dict[str, object], message: str) -> None:
    data = {"accounts": {"a": {}}, "channels": {"C0AAAA0001": {"accounts": ["a"]}}, "idle": idle}
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "cfg.yaml")
    assert str(raised.value).startswith("cfg.yaml: ")
    assert message in str(raised.value)
