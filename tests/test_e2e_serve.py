"""End to end: `aws-monitor serve --http` as a process, against a moto server and the Slack stand-in."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import FAKE_AWS_ENV, account_session, reset_moto
from tests.fakes.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackApi, slack_signature_headers
from tests.fakes.socket_mode import FakeSocketMode

SIGNING_SECRET = "e2e-signing-secret"
PROD_ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
PROD_CHANNEL = "C0PROD0001"
OTHER_CHANNEL = "C0OTHER001"
INSTANCE_ID = re.compile(r"\bi-[0-9a-f]{8,17}\b")


def _run_instances(
    endpoint: str, account_id: str, region: str, env: str | None, count: int
) -> set[str]:
    ec2 = account_session(account_id, endpoint).client(
        "ec2", region_name=region, endpoint_url=endpoint
    )
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    params = {"ImageId": image, "MinCount": count, "MaxCount": count, "InstanceType": "t3.micro"}
    if env is not None:
        params["TagSpecifications"] = [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Environment", "Value": env},
                    {"Key": "Name", "Value": f"{env}-web"},
                ],
            }
        ]
    return {instance["InstanceId"] for instance in ec2.run_instances(**params)["Instances"]}


@pytest.fixture(scope="module")
def module_moto_server() -> Iterator[str]:
    """One moto server for the module: seeding it and starting the bot once keeps this fast."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    reset_moto(url)
    try:
        yield url
    finally:
        reset_moto(url)
        server.stop()


@pytest.fixture(scope="module")
def estate(module_moto_server: str) -> Iterator[dict[str, set[str]]]:
    saved = dict(os.environ)
    os.environ.update(FAKE_AWS_ENV)
    try:
        yield {
            "prod": _run_instances(module_moto_server, PROD_ACCOUNT, "us-east-1", "production", 2)
            | _run_instances(module_moto_server, PROD_ACCOUNT, "eu-west-1", "production", 1),
            "prod-staging": _run_instances(
                module_moto_server, PROD_ACCOUNT, "us-east-1", "staging", 2
            ),
            "prod-untagged": _run_instances(module_moto_server, PROD_ACCOUNT, "us-east-1", None, 1),
            "other-prod": _run_instances(
                module_moto_server, OTHER_ACCOUNT, "us-east-1", "production", 2
            ),
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


def bot_setup(
    tmp_path: Path, moto_url: str, slack_api: FakeSlackApi
) -> tuple[dict[str, str], Path]:
    """The environment and config file every bot process of this module runs with."""
    config = tmp_path / "aws-monitor.yaml"
    config.write_text(
        f"""
aws:
  regions: [us-east-1, eu-west-1]
  environments: {{prod: production, stg: staging}}
accounts:
  prod:
    role_arn: arn:aws:iam::{PROD_ACCOUNT}:role/AwsMonitorReadOnly
    external_id: e2e
  other:
    role_arn: arn:aws:iam::{OTHER_ACCOUNT}:role/AwsMonitorReadOnly
channels:
  {PROD_CHANNEL}: {{accounts: [prod]}}
  {OTHER_CHANNEL}: {{accounts: [other]}}
"""
    )
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SLACK_"))
    }
    env.update(FAKE_AWS_ENV)
    env.update(
        AWS_ENDPOINT_URL=moto_url,
        SLACK_BOT_TOKEN="xoxb-e2e-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_BASE_URL=slack_api.base_url,
        AWS_MONITOR_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        LOG_LEVEL="INFO",
    )
    return env, config


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory,
    module_moto_server: str,
    slack_api: FakeSlackApi,
    estate: dict[str, set[str]],
) -> Iterator[BotProcess]:
    env, config = bot_setup(tmp_path_factory.mktemp("http"), module_moto_server, slack_api)
    process = BotProcess(env, config)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def socket_bot(
    tmp_path: Path,
    module_moto_server: str,
    slack_api: FakeSlackApi,
    estate: dict[str, set[str]],
) -> Iterator[tuple[BotProcess, FakeSocketMode]]:
    with FakeSocketMode() as socket_mode:
        slack_api.socket_mode_url = socket_mode.url
        env, config = bot_setup(tmp_path, module_moto_server, slack_api)
        env["SLACK_APP_TOKEN"] = "xapp-e2e-test"
        del env["SLACK_SIGNING_SECRET"]
        process = BotProcess(env, config, socket_mode=True)
        try:
            yield process, socket_mode
        finally:
            process.stop()
            slack_api.socket_mode_url = None


def _post(
    bot: BotProcess, body: str, headers: dict[str, str], content_type: str
) -> tuple[int, str, float]:
    request = urllib.request.Request(
        bot.url("/slack/events"),
        data=body.encode(),
        headers={"Content-Type": content_type, **headers},
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - started


def _slash(
    bot: BotProcess,
    slack_api: FakeSlackApi,
    text: str,
    channel: str,
    name: str,
    signed: bool = True,
) -> tuple[int, float]:
    body = urllib.parse.urlencode(
        {
            "command": "/aws",
            "text": text,
            "channel_id": channel,
            "user_id": "U0E2EUSER",
            "team_id": "T0TEST",
            "response_url": slack_api.response_url(name),
            "trigger_id": "1.2.3",
        }
    )
    headers = slack_signature_headers(SIGNING_SECRET, body) if signed else {}
    status, _, elapsed = _post(bot, body, headers, "application/x-www-form-urlencoded")
    return status, elapsed


def _response_text(call_params: dict) -> str:
    return json.dumps(call_params["blocks"])


def test_serve_slash_command_lists_channel_production_instances(
    bot: BotProcess, slack_api: FakeSlackApi, estate: dict[str, set[str]]
) -> None:
    status, elapsed = _slash(bot, slack_api, "ec2 prod", PROD_CHANNEL, "prod")
    assert status == 200
    assert elapsed < 3.0
    assert slack_api.wait_for(
        lambda: any(c.method == "/response/prod" for c in slack_api.responses), 30
    )
    answer = next(c for c in slack_api.responses if c.method == "/response/prod")
    listed = set(INSTANCE_ID.findall(_response_text(answer.params)))
    assert listed == estate["prod"]
    assert answer.params["response_type"] == "in_channel"
    assert answer.params["text"]


def test_serve_unsigned_request_rejected(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    status, _ = _slash(bot, slack_api, "ec2 prod", PROD_CHANNEL, "unsigned", signed=False)
    assert status == 401
    time.sleep(0.5)
    assert not any(c.method == "/response/unsigned" for c in slack_api.responses)


def test_serve_badly_signed_request_rejected(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    body = "command=%2Faws&text=ec2&channel_id=C0PROD0001"
    headers = slack_signature_headers("wrong-secret", body)
    status, _, _ = _post(bot, body, headers, "application/x-www-form-urlencoded")
    assert status == 401


def aws_calls(bot: BotProcess) -> float:
    with urllib.request.urlopen(bot.url("/metrics"), timeout=5) as response:
        metrics = response.read().decode()
    match = re.search(r"^aws_monitor_aws_api_calls (\S+)$", metrics, re.MULTILINE)
    assert match, metrics
    return float(match.group(1))


def test_serve_unmapped_channel_gets_mapping_help(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    calls_before = aws_calls(bot)
    status, _ = _slash(bot, slack_api, "ec2 prod", "C0UNKNOWN1", "unmapped")
    assert status == 200
    assert slack_api.wait_for(
        lambda: any(c.method == "/response/unmapped" for c in slack_api.responses), 30
    )
    answer = next(c for c in slack_api.responses if c.method == "/response/unmapped")
    text = _response_text(answer.params)
    assert "not mapped" in text
    assert "C0UNKNOWN1" in text
    assert not INSTANCE_ID.findall(text)
    assert aws_calls(bot) == calls_before


def test_serve_mention_answers_once_in_thread(
    bot: BotProcess, slack_api: FakeSlackApi, estate: dict[str, set[str]]
) -> None:
    event = {
        "token": "unused",
        "team_id": "T0TEST",
        "api_app_id": "A0TEST",
        "type": "event_callback",
        "event_id": "Ev0E2E0001",
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": "U0E2EUSER",
            "text": "<@UBOT> ec2 prod",
            "ts": "1700000001.000100",
            "channel": OTHER_CHANNEL,
            "event_ts": "1700000001.000100",
        },
    }
    body = json.dumps(event)
    status, _, elapsed = _post(
        bot, body, slack_signature_headers(SIGNING_SECRET, body), "application/json"
    )
    assert status == 200
    assert elapsed < 3.0
    retry_headers = {
        **slack_signature_headers(SIGNING_SECRET, body),
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_timeout",
    }
    status, _, _ = _post(bot, body, retry_headers, "application/json")
    assert status == 200
    assert slack_api.wait_for(lambda: len(slack_api.calls_to("chat.postMessage")) >= 1, 30)
    time.sleep(1.0)
    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].params["thread_ts"] == "1700000001.000100"
    assert posts[0].params["channel"] == OTHER_CHANNEL
    blocks = posts[0].params["blocks"]
    listed = set(INSTANCE_ID.findall(blocks if isinstance(blocks, str) else json.dumps(blocks)))
    assert listed == estate["other-prod"]


def test_serve_healthz_answers_ok(bot: BotProcess) -> None:
    with urllib.request.urlopen(bot.url("/healthz"), timeout=5) as response:
        assert response.status == 200
        assert response.read() == b"ok\n"


def test_socket_mode_acks_and_answers(
    socket_bot: tuple[BotProcess, FakeSocketMode],
    slack_api: FakeSlackApi,
    estate: dict[str, set[str]],
) -> None:
    process, socket_mode = socket_bot
    socket_mode.send(
        {
            "envelope_id": "env-slash-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/aws",
                "text": "ec2 prod",
                "channel_id": PROD_CHANNEL,
                "user_id": "U0E2EUSER",
                "team_id": "T0TEST",
                "response_url": slack_api.response_url("socket"),
                "trigger_id": "1.2.3",
            },
        }
    )
    ack = socket_mode.wait_for_ack("env-slash-1")
    assert ack is not None
    assert "Working on" in json.dumps(ack.get("payload", {}))
    assert slack_api.wait_for(
        lambda: any(c.method == "/response/socket" for c in slack_api.responses), 30
    )
    answer = next(c for c in slack_api.responses if c.method == "/response/socket")
    assert set(INSTANCE_ID.findall(_response_text(answer.params))) == estate["prod"]
    assert slack_api.calls_to("apps.connections.open")[0].headers["authorization"] == (
        "Bearer xapp-e2e-test"
    )
    with urllib.request.urlopen(process.url("/healthz"), timeout=5) as response:
        assert response.status == 200


def _answer(slack_api: FakeSlackApi, name: str) -> str:
    path = f"/response/{name}"
    assert slack_api.wait_for(lambda: any(c.method == path for c in slack_api.responses), 30)
    answer = next(c for c in slack_api.responses if c.method == path)
    return json.dumps(answer.params, ensure_ascii=False)


def _log_size(bot: BotProcess) -> int:
    return sum(len(line) for line in list(bot.lines))


def _mention(bot: BotProcess, event_id: str, text: str, ts: str) -> int:
    event = {
        "token": "unused",
        "team_id": "T0TEST",
        "api_app_id": "A0TEST",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": "U0E2EUSER",
            "text": text,
            "ts": ts,
            "channel": PROD_CHANNEL,
            "event_ts": ts,
        },
    }
    body = json.dumps(event)
    status, _, _ = _post(
        bot, body, slack_signature_headers(SIGNING_SECRET, body), "application/json"
    )
    return status


def test_serve_unmapped_channel_hides_config_path(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    _slash(bot, slack_api, "ec2 prod", "C0UNKNOWN2", "unmapped-path")
    text = _answer(slack_api, "unmapped-path")
    assert "`aws-monitor.yaml`" in text
    assert "/aws-monitor.yaml" not in text
    assert "accounts: [prod]" in text


def test_serve_mention_special_mention_escaped(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    ts = "1700000002.000200"
    assert _mention(bot, "Ev0E2E0002", "<@UBOT> <!channel> hello", ts) == 200
    assert slack_api.wait_for(
        lambda: any(
            c.params.get("thread_ts") == ts for c in slack_api.calls_to("chat.postMessage")
        ),
        30,
    )
    post = next(c for c in slack_api.calls_to("chat.postMessage") if c.params["thread_ts"] == ts)
    posted = json.dumps(post.params, ensure_ascii=False)
    assert "<!channel>" not in posted
    assert "I did not understand “&lt;!channel&gt; hello”" in posted
    assert "UBOT" not in posted


def test_serve_mention_keeps_tag_case(
    bot: BotProcess, slack_api: FakeSlackApi, estate: dict[str, set[str]]
) -> None:
    ts = "1700000003.000300"
    assert _mention(bot, "Ev0E2E0003", "<@UBOT> ec2 prod tag:Name=production-web", ts) == 200
    assert slack_api.wait_for(
        lambda: any(
            c.params.get("thread_ts") == ts for c in slack_api.calls_to("chat.postMessage")
        ),
        30,
    )
    post = next(c for c in slack_api.calls_to("chat.postMessage") if c.params["thread_ts"] == ts)
    blocks = post.params["blocks"]
    listed = set(INSTANCE_ID.findall(blocks if isinstance(blocks, str) else json.dumps(blocks)))
    assert listed == estate["prod"]


def test_serve_command_error_escaped(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    status, _ = _slash(bot, slack_api, "<!here>", PROD_CHANNEL, "escaped")
    assert status == 200
    text = _answer(slack_api, "escaped")
    assert "<!here>" not in text
    assert "Unknown command `&lt;!here&gt;`" in text


def test_serve_filters_any_case_and_regions(
    bot: BotProcess, slack_api: FakeSlackApi, estate: dict[str, set[str]]
) -> None:
    _slash(bot, slack_api, "ec2 prod account=PROD region=EU-WEST-1", PROD_CHANNEL, "filters")
    listed = set(INSTANCE_ID.findall(_answer(slack_api, "filters")))
    assert listed and listed <= estate["prod"]
    calls_before = aws_calls(bot)
    _slash(bot, slack_api, "ec2 prod region=ap-south-1", PROD_CHANNEL, "no-region")
    text = _answer(slack_api, "no-region")
    assert "Region `ap-south-1` is not scanned for this channel" in text
    assert "Its regions are: eu-west-1, us-east-1." in text
    assert aws_calls(bot) == calls_before


def test_serve_metrics_bad_id_no_aws_call(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    calls_before = aws_calls(bot)
    _slash(bot, slack_api, "metrics ../../etc/passwd", PROD_CHANNEL, "bad-id")
    text = _answer(slack_api, "bad-id")
    assert "is not a resource id or name aws-monitor can look up" in text
    assert "doctype" not in text.lower()
    assert aws_calls(bot) == calls_before


def test_serve_oversized_body_413(bot: BotProcess) -> None:
    before = _log_size(bot)
    connection = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
    connection.putrequest("POST", "/slack/events")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(5 * 1024 * 1024))
    connection.endheaders(b"text=" + b"a" * 60_000)
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    time.sleep(0.3)
    assert _log_size(bot) - before < 2_000


def test_serve_unsigned_body_log_capped(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    before = _log_size(bot)
    body = urllib.parse.urlencode({"command": "/aws", "text": "x" * 900_000})
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=0"}
    status, _, _ = _post(bot, body, headers, "application/x-www-form-urlencoded")
    assert status == 401
    time.sleep(0.3)
    assert _log_size(bot) - before < 5_000


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("{", "application/json", 400),
        ("[]", "application/json", 400),
        ("null", "application/json", 400),
        ("command=%2Faws&text=help&channel_id=C0PROD0001", "application/json", 400),
        ("payload={not json", "application/x-www-form-urlencoded", 400),
    ],
)
def test_serve_malformed_signed_request_400(
    bot: BotProcess, body: str, content_type: str, expected: int
) -> None:
    status, _, _ = _post(bot, body, slack_signature_headers(SIGNING_SECRET, body), content_type)
    assert status == expected
    assert not any("Traceback" in line for line in list(bot.lines))


def test_serve_bad_timestamp_401(bot: BotProcess) -> None:
    body = "command=%2Faws&text=help&channel_id=C0PROD0001"
    headers = slack_signature_headers(SIGNING_SECRET, body)
    headers["X-Slack-Request-Timestamp"] = "abc"
    status, _, _ = _post(bot, body, headers, "application/x-www-form-urlencoded")
    assert status == 401
    assert not any("Traceback" in line for line in list(bot.lines))


def test_serve_command_without_channel_answered(bot: BotProcess, slack_api: FakeSlackApi) -> None:
    body = urllib.parse.urlencode(
        {
            "command": "/aws",
            "text": "ec2 prod",
            "user_id": "U0E2EUSER",
            "team_id": "T0TEST",
            "response_url": slack_api.response_url("no-channel"),
        }
    )
    status, answer, _ = _post(
        bot,
        body,
        slack_signature_headers(SIGNING_SECRET, body),
        "application/x-www-form-urlencoded",
    )
    assert status == 200
    assert "without a channel id" in json.loads(answer)["text"]
    time.sleep(0.5)
    assert not any(c.method == "/response/no-channel" for c in slack_api.responses)
    assert not any("Traceback" in line for line in list(bot.lines))


class SilentEndpoint:
    """A TCP listener on 127.0.0.1 that accepts connections and never replies, like a hung endpoint."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.accepted:
            connection.close()


def test_serve_stops_while_aws_hangs(tmp_path: Path, slack_api: FakeSlackApi) -> None:
    endpoint = SilentEndpoint()
    env, config = bot_setup(tmp_path, endpoint.url, slack_api)
    process = BotProcess(env, config, extra_args=("--shutdown-grace", "1"))
    try:
        status, _ = _slash(process, slack_api, "ec2 prod", PROD_CHANNEL, "hung")
        assert status == 200
        assert slack_api.wait_for(lambda: len(endpoint.accepted) >= 1, 20)
        process.process.terminate()
        assert process.process.wait(timeout=20) == 0
        log = "".join(process.lines)
        assert "Requests still running after 1 s of shutdown; exiting without them" in log
    finally:
        if process.process.poll() is None:
            process.process.kill()
        endpoint.close()
