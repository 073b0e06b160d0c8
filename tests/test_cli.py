"""The command line: ask, check, demo and start-up errors."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from bot.cli import listen_error, main
from bot.demo import (
    PLATFORM_CHANNEL,
    STAGING_CHANNEL,
    TourStep,
    demo_config,
    embedded_aws,
    interactive,
    prompt_step,
    run_demo,
)
from bot.runtime import build_runtime
from bot.store import Store
from services.errors import AccountAccessError
from services.permissions import (
    ALLOWED,
    DENIED,
    FAILED,
    SKIPPED,
    PermissionResult,
    classify_failure,
)
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
    assert payload["text"].startswith("1 EC2 instance in 1 account")


def test_ask_unmapped_channel_exits_1(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--config", str(config_file), "--channel", "C0NOPE0001", "ec2"]) == 1
    assert "not mapped" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "problem"),
    [("ec2 color=red", "Unknown filter color=red"), ("all", "Unknown command all")],
)
def test_ask_bad_command_prints_help_exits_2(
    aws: None, config_file: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    assert main(["ask", "--config", str(config_file), "--channel", "C0PROD0001", text]) == 2
    out = capsys.readouterr().out
    assert problem in out
    assert "/aws ec2 prod" in out


def test_ask_help_exits_0(aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--config", str(config_file), "--channel", "C0PROD0001", "help"]) == 0
    assert "/aws ec2 prod" in capsys.readouterr().out


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
    assert "Account prod (111111111111), region us-east-1:" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert "allowed" in lines["ec2:DescribeInstances"]
    assert "allowed" in lines["s3:GetBucketTagging"]
    assert "not tried" in lines["eks:DescribeCluster"]
    not_tried = sum("not tried" in line for line in lines.values())
    assert f"{not_tried} actions not tried" in out  # no Lambda function, EKS or EMR cluster
    # Only denied and failed actions set the exit code; moto may not implement every probe.
    problems = sum(" denied" in line or " failed" in line for line in lines.values())
    assert code == (1 if problems else 0)


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


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (closed again at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_unknown_account_exits_2(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config_file), "--account", "nope"]) == 2
    captured = capsys.readouterr()
    assert f"Error: --account 'nope': no such account in {config_file}. Use one of: prod." in (
        captured.err
    )
    assert "allowed" not in captured.out


def test_check_not_tried_is_not_a_problem(
    config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    results = [
        PermissionResult("prod", "lambda:ListFunctions", ALLOWED),
        PermissionResult("prod", "lambda:ListTags", SKIPPED, "no function to try it on"),
    ]
    monkeypatch.setattr("bot.cli.check_account", lambda *args, **kwargs: results)
    assert main(["check", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "  -- lambda:ListTags" in out
    assert "Every action that was tried is allowed." in out
    assert "1 action not tried, because the account has no resource" in out


def test_check_unreachable_endpoint_failed(
    config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text(
        CONFIG.replace("  regions: [us-east-1]", "  regions: [us-east-1]\n  max_attempts: 1")
    )
    # Nothing listens on this port, so every AWS call fails to connect.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["check", "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert " failed " in lines["sts:AssumeRole"]
    assert "denied" not in out
    assert "1 action failed for a reason other than permissions" in out


def access_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "AssumeRole")


def wrapped(cause: Exception) -> AccountAccessError:
    try:
        raise AccountAccessError("Could not assume the role") from cause
    except AccountAccessError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (access_error("AccessDenied"), DENIED),
        (access_error("UnauthorizedOperation"), DENIED),
        (access_error("ThrottlingException"), FAILED),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), FAILED),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), FAILED),
        (wrapped(access_error("AccessDenied")), DENIED),
        (wrapped(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")), FAILED),
        (wrapped(access_error("InternalError")), FAILED),
        (RuntimeError("boom"), FAILED),
    ],
)
def test_classify_failure_denied_only_for_access(error: Exception, status: str) -> None:
    assert classify_failure(error)[0] == status


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_invalid_port_exits_2(
    config_file: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--config", str(config_file), "--port", port])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port:" in err
    assert "use 0 to 65535" in err


@pytest.mark.parametrize(
    ("host", "problem"),
    [("256.0.0.1", "is not a valid IPv4 address"), ("bad host!", "is not an IP address")],
)
def test_serve_invalid_host_exits_2(
    config_file: Path, capsys: pytest.CaptureFixture[str], host: str, problem: str
) -> None:
    # Rejected by syntax, before any name lookup.
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--config", str(config_file), "--host", host])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --host: '{host}' {problem}" in err


def test_serve_port_in_use_exits_2(
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackApi,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_BASE_URL", slack_api.base_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--config", str(config_file), "--http", "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"Error: cannot listen on 127.0.0.1 port {port} (" in err
    assert "Choose another --port" in err
    assert "Traceback" not in err


def test_listen_error_unresolved_host() -> None:
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    message = listen_error(error, "bot.example", 3000)
    assert "cannot listen on bot.example port 3000: the host name cannot be resolved" in message
    assert "Name or service not known" in message
    assert "--host" in message


@pytest.mark.parametrize("channel", ["#prod", "", "prod"])
@pytest.mark.parametrize("command", ["ask", "digest"])
def test_cli_channel_name_rejected(
    config_file: Path, capsys: pytest.CaptureFixture[str], channel: str, command: str
) -> None:
    args = [command, "--config", str(config_file), "--channel", channel]
    args += ["--kind", "costs"] if command == "digest" else ["ec2"]
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --channel: '{channel}' is not a Slack channel id" in err
    assert "use the id (e.g. C0PROD0001" in err


@pytest.mark.parametrize(
    ("text", "step"),
    [
        (
            "@aws-monitor show idle resources in stg",
            TourStep("C1", "show idle resources in stg", True),
        ),
        ("@bot ec2 prod", TourStep("C1", "ec2 prod", True)),
        ("/aws ec2 prod", TourStep("C1", "ec2 prod")),
        ("ec2 color=red", TourStep("C1", "ec2 color=red")),
        ("Costs this month", TourStep("C1", "Costs this month")),
        ("show idle resources", TourStep("C1", "show idle resources", True)),
    ],
)
def test_prompt_step_reads_tour_lines(text: str, step: TourStep) -> None:
    assert prompt_step("C1", text) == step


@pytest.fixture
def demo_runtime(tmp_path: Path) -> Iterator[Any]:
    with embedded_aws():
        runtime = build_runtime(demo_config(), store=Store(f"sqlite:///{tmp_path / 'demo.db'}"))
        try:
            yield runtime
        finally:
            runtime.close()


def test_demo_prompt_answers_mentions(demo_runtime: Any) -> None:
    lines = [
        "@aws-monitor show me the ec2 instances in prod",
        "show me the ec2 instances in stg",
        "which accounts can you see",
        f"channel {STAGING_CHANNEL}",
        "accounts",
        "/aws ec2 color=red",
    ]
    out = io.StringIO()
    interactive(demo_runtime, out, io.StringIO("\n".join(lines) + "\n"))
    intro, *replies = out.getvalue().split("> ")
    assert "text that is not a command is read as a mention" in intro
    assert intro.rstrip().endswith(PLATFORM_CHANNEL)
    assert "EC2 instances · Environment=production" in replies[0]
    assert "EC2 instances · Environment=staging" in replies[1]
    assert "I did not understand “which accounts can you see”" in replies[2]
    # Each piece ends with the next prompt's channel; `channel ID` prints nothing else.
    assert replies[3] == STAGING_CHANNEL
    assert "staging (222222222222)" in replies[4]
    assert "prod (111111111111)" not in replies[4]
    assert "Unknown filter color=red" in replies[5]
