"""Configuration loading: valid files load, bad files stop start-up naming the key and the fix."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.config import WEEKDAYS, load_config, parse_config
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


def test_load_config_example_file() -> None:
    example = Path(__file__).resolve().parent.parent / "aws-monitor.example.yaml"
    config = load_config(example)

    assert set(config.accounts) == {"prod", "shared"}
    assert config.aws.max_clients == 512


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


MINIMAL = """
accounts:
  prod: {}
channels:
  C0PROD0001: {accounts: [prod]}
"""


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ("accounts: 5\nchannels: {}\n", "accounts", "expected a mapping of account names"),
        ("accounts: true\nchannels: {}\n", "accounts", "expected a mapping of account names"),
        (
            MINIMAL.replace("[prod]", "[[prod]]"),
            "channels.C0PROD0001.accounts[0]",
            "expected an account name, got list ['prod']",
        ),
        (
            MINIMAL.replace("[prod]", "[{prod: 1}]"),
            "channels.C0PROD0001.accounts[0]",
            "expected an account name, got dict",
        ),
        (
            MINIMAL.replace("prod: {}", "prod: {cost_payer: [x]}"),
            "accounts.prod.cost_payer",
            "expected an account name, got list ['x']",
        ),
        (
            "aws: {max_attempts: " + "9" * 400 + "}\n" + MINIMAL,
            "aws.max_attempts",
            "is out of range; use 1 to 20",
        ),
        ("- prod\n- staging\n", "(top level)", "expected a mapping with the keys aws"),
        ("just text\n", "(top level)", "expected a mapping with the keys aws"),
        (
            MINIMAL.replace("prod: {}", "111111111111: {}"),
            "accounts.111111111111",
            "YAML reads 111111111111 as a number; quote it: '111111111111'",
        ),
        (
            MINIMAL.replace("prod: {}", "'111111111111': {}").replace("[prod]", "[111111111111]"),
            "channels.C0PROD0001.accounts[0]",
            "quote it: '111111111111'",
        ),
        (
            MINIMAL.replace("[prod]}", "[prod], timezone: localtime}"),
            "channels.C0PROD0001.timezone",
            "unknown time zone 'localtime'",
        ),
        (
            "aws: {regions: [zz-fake-9]}\n" + MINIMAL,
            "aws.regions[0]",
            "'zz-fake-9' is not a region known to the installed botocore",
        ),
        ("aws: {regions: [us-east-7]}\n" + MINIMAL, "aws.regions[0]", "upgrade botocore"),
        (
            "aws: {default_region: us-east-7}\n" + MINIMAL,
            "aws.default_region",
            "'us-east-7' is not a region known",
        ),
        (
            "aws: {regions: [us-east-1, cn-north-1]}\n" + MINIMAL,
            "aws.regions",
            "more than one AWS partition: us-east-1 (aws), cn-north-1 (aws-cn)",
        ),
        (
            MINIMAL.replace(
                "prod: {}",
                "prod: {role_arn: 'arn:aws:iam::111111111111:role/R', regions: [us-gov-west-1]}",
            ),
            "accounts.prod.role_arn",
            "the role is in partition aws, but its regions (us-gov-west-1) are in aws-us-gov",
        ),
        (
            "aws: {regions: [cn-north-1], default_region: cn-north-1}\n"
            + MINIMAL.replace("prod: {}", "prod: {role_arn: 'arn:aws:iam::111111111111:role/R'}"),
            "accounts.prod.role_arn",
            "set it to a region of aws",
        ),
        (
            MINIMAL.replace("[prod]}", "[prod], digests: {costs: {at: '09:00', days: mon-xyz}}}"),
            "channels.C0PROD0001.digests.costs.days",
            "is not a day list",
        ),
    ],
    ids=[
        "accounts-number",
        "accounts-bool",
        "channel-account-list",
        "channel-account-mapping",
        "cost-payer-list",
        "number-400-digits",
        "top-level-list",
        "top-level-scalar",
        "numeric-account-name",
        "numeric-channel-account",
        "timezone-localtime",
        "region-unknown",
        "region-unknown-number",
        "default-region-unknown",
        "regions-two-partitions",
        "role-partition-regions",
        "role-partition-default-region",
        "days-unknown",
    ],
)
def test_load_config_rejects_bad_structure(tmp_path: Path, text: str, key: str, fix: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}: ")
    assert fix in message


def test_load_config_long_value_cut(tmp_path: Path) -> None:
    zone = "X" * 5000
    path = write(tmp_path, MINIMAL.replace("[prod]}", f"[prod], timezone: {zone}}}"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "unknown time zone 'XXXX" in message
    assert "(5002 characters)" in message
    assert len(message) < len(str(path)) + 250


def test_load_config_huge_integer(tmp_path: Path) -> None:
    # More digits than Python converts to int by default (sys.get_int_max_str_digits()).
    path = write(tmp_path, "aws: {max_attempts: " + "9" * 5000 + "}\n" + MINIMAL)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "invalid YAML at line 1, column 21" in message
    assert "a number has more than" in message


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "aws-monitor.yaml"
    path.write_bytes(MINIMAL.replace("prod: {}", "caf\xe9: {}").encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not UTF-8 text (byte 0xe9 at offset ")
    assert "save the file as UTF-8" in message


@pytest.mark.parametrize(
    ("text", "key", "line", "first_line"),
    [
        (
            MINIMAL + "  C0PROD0001: {accounts: [prod]}\n",
            "'C0PROD0001'",
            6,
            5,
        ),
        (
            MINIMAL.replace("  prod: {}", "  prod: {}\n  prod: {regions: [eu-west-1]}"),
            "'prod'",
            4,
            3,
        ),
        (MINIMAL.replace("[prod]}", "[prod], accounts: [prod]}"), "'accounts'", 5, 5),
    ],
    ids=["channel", "account", "flow-mapping"],
)
def test_load_config_duplicate_key(
    tmp_path: Path, text: str, key: str, line: int, first_line: int
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: line {line}, column ")
    assert f"duplicate key {key}, first defined at line {first_line}." in message


def test_load_config_merge_key_overrides(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  prod: {}",
        "  prod: &base {regions: [us-east-1]}\n  staging: {<<: *base, regions: [eu-west-1]}",
    )
    config = load_config(write(tmp_path, text))
    assert config.accounts["prod"].regions == ("us-east-1",)
    assert config.accounts["staging"].regions == ("eu-west-1",)


def test_load_config_quoted_numeric_account(tmp_path: Path) -> None:
    text = MINIMAL.replace("prod: {}", "'111111111111': {}").replace("[prod]", "['111111111111']")
    config = load_config(write(tmp_path, text))
    assert list(config.accounts) == ["111111111111"]
    assert config.channels["C0PROD0001"].accounts == ("111111111111",)


def test_parse_config_other_partition() -> None:
    data = {
        "aws": {"regions": ["cn-north-1", "cn-northwest-1"], "default_region": "cn-north-1"},
        "accounts": {"china": {"role_arn": "arn:aws-cn:iam::111111111111:role/R"}},
        "channels": {"C0AAAA0001": {"accounts": ["china"], "timezone": "UTC"}},
    }
    config = parse_config(data)
    assert config.regions == ("cn-north-1", "cn-northwest-1")
    assert config.aws.default_region == "cn-north-1"
    assert config.channels["C0AAAA0001"].timezone == "UTC"


@pytest.mark.parametrize(
    ("days", "expected", "weekdays"),
    [
        ("mon-fri", "mon-fri", {"mon", "tue", "wed", "thu", "fri"}),
        ("SAT, sun", "sat,sun", {"sat", "sun"}),
        ("fri-mon", "fri-sun,mon", {"fri", "sat", "sun", "mon"}),
        ("sun-tue,thu", "sun,mon-tue,thu", {"sun", "mon", "tue", "thu"}),
        ("sat-fri", "sat-sun,mon-fri", set(WEEKDAYS)),
    ],
)
def test_parse_config_days_scheduler_accepts(days: str, expected: str, weekdays: set[str]) -> None:
    digests = {"idle": {"at": "09:00", "days": days}}
    data = {
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"], "digests": digests}},
    }
    schedule = parse_config(data).channels["C0AAAA0001"].digests[0]
    assert schedule.days == expected
    # APScheduler rejects a range whose start is after its end, such as fri-mon.
    trigger = CronTrigger(day_of_week=schedule.days, hour=9, timezone="UTC")
    monday = datetime(2024, 1, 1, tzinfo=UTC)
    fired = set()
    now = monday
    while (fire := trigger.get_next_fire_time(None, now)) < monday + timedelta(days=7):
        fired.add(WEEKDAYS[fire.weekday()])
        now = fire + timedelta(minutes=1)
    assert fired == weekdays


def test_parse_config_max_clients() -> None:
    data = {
        "aws": {"max_clients": 2000},
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    assert parse_config(data).aws.max_clients == 2000
    data["aws"] = {"max_clients": 0}
    with pytest.raises(ConfigError, match=r"aws\.max_clients: 0 is out of range"):
        parse_config(data)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "got true (a boolean)."),
        (None, "got no value (the key is empty)."),
        ("1e9", "got the text '1e9'; write the number without quotes, in digits such as 1000."),
        ("many", "got 'many'."),
    ],
)
def test_parse_config_number_shown_as_yaml(value: object, shown: str) -> None:
    data = {
        "aws": {"max_workers": value},
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert str(raised.value).endswith(f"aws.max_workers: expected a number from 1 to 256, {shown}")


def test_parse_config_answer_timeout() -> None:
    data = {
        "aws": {"answer_timeout": 45},
        "accounts": {"a": {}},
        "channels": {"C0AAAA0001": {"accounts": ["a"]}},
    }
    assert parse_config(data).aws.answer_timeout == 45.0
    data["aws"] = {"answer_timeout": 0}
    with pytest.raises(ConfigError, match=r"aws\.answer_timeout: 0 is out of range"):
        parse_config(data)
