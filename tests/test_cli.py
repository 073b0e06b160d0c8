"""The command line: ask, check, demo and start-up errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import run_demo
from tests.conftest import account_session
from tests.fakes.slack_api import Failure, FakeSlackApi

CONFIG = """
aws:
  regions: [us-east-1]
  environments: {prod: production}
accounts:
  prod:
    role_arn: arn:aws:iam::111111111111:role/AwsMonitorReadOnly
channels:
  C0PROD0001: {accounts: [prod]}
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "aws-monitor.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("AWS_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    return path


def seed_instance(name: str, env: str) -> str:
    ec2 = account_session("111111111111").client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": "Name", "Value": name}, {"Key": "Environment", "Value": env}]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    return str(instance["InstanceId"])


def test_ask_prints_terminal_answer(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = seed_instance("web-1", "production")
    seed_instance("web-stg", "staging")
    assert main(["ask", "--config", str(config_file), "--channel", "C0PROD0001", "ec2 prod"]) == 0
    out = capsys.readouterr().out
    assert "EC2 instances · Environment=production" in out
    assert wanted in out
    assert "web-stg" not in out


def test_ask_json_prints_block_kit(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_instance("web-1", "production")
    assert (
        main(["ask", "--config", str(config_file), "--channel", "C0PROD0001", "--json", "ec2 prod"])
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["blocks"][0]["type"] == "header"
    assert payload["text"].startswith("1 EC2 instances")


def test_ask_unmapped_channel_exits_1(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--config", str(config_file), "--channel", "C0NOPE0001", "ec2"]) == 1
    assert "not mapped" in capsys.readouterr().out


def test_ask_bad_command_prints_help(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["ask", "--config", str(config_file), "--channel", "C0PROD0001", "ec2 color=red"]) == 0
    )
    out = capsys.readouterr().out
    assert "Unknown filter color=red" in out
    assert "/aws ec2 prod" in out


def test_cli_bad_config_exits_2_with_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("[prod]}", "[prdo]}"))
    assert main(["ask", "--config", str(path), "--channel", "C0PROD0001", "ec2"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: channels.C0PROD0001.accounts[0]: unknown account 'prdo'" in err


def test_serve_without_token_exits_2(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(config_file), "--http"]) == 2
    assert "SLACK_BOT_TOKEN is not set" in capsys.readouterr().err


def test_serve_http_without_secret_exits_2(
    config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert main(["serve", "--config", str(config_file), "--http"]) == 2
    assert "SLACK_SIGNING_SECRET is not set" in capsys.readouterr().err


def test_check_lists_each_action(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = account_session("111111111111").client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="check-bucket")
    code = main(["check", "--config", str(config_file)])
    out = capsys.readouterr().out
    assert "is valid: 1 accounts, 1 channels" in out
    assert "sts:AssumeRole" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert "allowed" in lines["ec2:DescribeInstances"]
    assert "allowed" in lines["s3:GetBucketTagging"]
    assert "not tried" in lines["eks:DescribeCluster"]
    assert code == 1


def test_demo_tours_the_organisation() -> None:
    out = io.StringIO()
    assert run_demo(prompt=False, out=out) == 0
    text = out.getvalue()
    assert "EC2 instances · Environment=production" in text
    assert "&lt;" not in text
    assert "demo-prod-logs-eu · available · prod/eu-west-1" in text
    assert "Showing 40 of 60" in text
    assert "attached file lambda-C0DEMOPLAT.csv" in text
    assert "nightly-etl" in text
    assert "not mapped" in text
    assert "Tour done" in text


def test_serve_rejected_token_exits_2(
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackApi,
) -> None:
    slack_api.fail("auth.test", Failure(error="invalid_auth"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_BASE_URL", slack_api.base_url)
    assert main(["serve", "--config", str(config_file), "--http", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Slack rejected SLACK_BOT_TOKEN at auth.test" in err
    assert "invalid_auth" in err
    assert "xoxb-revoked" not in err
