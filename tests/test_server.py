"""The WSGI layer in front of Bolt: size limit, malformed signed requests, listeners that
read missing fields with .get, and the cap on long Bolt log messages."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import MAX_LOG_MESSAGE, NO_CHANNEL_TEXT, TruncateLongMessages, build_app
from bot.config import parse_config
from bot.runtime import Runtime, build_runtime
from bot.server import MAX_BODY_BYTES, SLACK_PATH, make_wsgi_app
from bot.slack import make_client
from bot.store import Store
from tests.fakes.slack_api import FakeSlackApi, slack_signature_headers

SIGNING_SECRET = "server-signing-secret"
CHANNEL = "C0PROD0001"
FORM = "application/x-www-form-urlencoded"
CONFIG = {
    "aws": {"regions": ["us-east-1"]},
    "accounts": {"prod": {"role_arn": "arn:aws:iam::111111111111:role/AwsMonitorReadOnly"}},
    "channels": {CHANNEL: {"accounts": ["prod"]}},
}

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class UnreadableStream(io.BytesIO):
    """A request body that fails the test if anyone reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")


@dataclass
class Served:
    wsgi: Wsgi
    slack_api: FakeSlackApi

    def call(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = FORM,
        stream: io.BytesIO | None = None,
        content_length: str | None = None,
    ) -> tuple[int, str]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": SLACK_PATH,
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
            "wsgi.input": stream if stream is not None else io.BytesIO(body),
        }
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        statuses: list[str] = []

        def start_response(status: str, response_headers: Any, exc_info: Any = None) -> None:
            statuses.append(status)

        answer = b"".join(self.wsgi(environ, start_response))
        return int(statuses[0].split()[0]), answer.decode()

    def signed(self, body: str, content_type: str = FORM) -> tuple[int, str]:
        headers = slack_signature_headers(SIGNING_SECRET, body)
        return self.call(body.encode(), headers, content_type)


@pytest.fixture
def runtime(aws: None, tmp_path: Path) -> Iterator[Runtime]:
    config = parse_config(CONFIG, "test configuration")
    runtime = build_runtime(config, store=Store(f"sqlite:///{tmp_path / 'state.db'}"))
    yield runtime
    runtime.close()


@pytest.fixture
def served(runtime: Runtime, slack_api: FakeSlackApi) -> Iterator[Served]:
    client = make_client("xoxb-server-test", slack_api.base_url)
    app, metrics, answerer = build_app(runtime, client, SIGNING_SECRET)
    try:
        yield Served(make_wsgi_app(app, metrics), slack_api)
    finally:
        answerer.pool.shutdown(wait=True)


def command_body(**fields: str) -> str:
    params = {
        "command": "/aws",
        "text": "help",
        "channel_id": CHANNEL,
        "user_id": "U0TEST",
        "team_id": "T0TEST",
        "trigger_id": "1.2.3",
    }
    params.update(fields)
    return urllib.parse.urlencode({key: value for key, value in params.items() if value != "-"})


def mention_body(event: dict[str, Any]) -> str:
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": "Ev0SERVER01",
            "event_time": int(time.time()),
            "event": event,
        }
    )


def test_wsgi_oversized_body_rejected_unread(served: Served) -> None:
    status, text = served.call(
        b"", stream=UnreadableStream(), content_length=str(MAX_BODY_BYTES + 1)
    )
    assert status == 413
    assert str(MAX_BODY_BYTES) in text


def test_wsgi_body_at_limit_reaches_bolt(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = command_body(response_url=served.slack_api.response_url("at-limit"))
    padded = body + "&pad=" + "a" * (MAX_BODY_BYTES - len(body) - len("&pad="))
    assert len(padded) == MAX_BODY_BYTES
    status, answer = served.signed(padded)
    assert status == 200
    assert "Working on" in json.loads(answer)["text"]
    assert not [r for r in caplog.records if r.name == "bot.server"]


def test_wsgi_invalid_content_length_400(served: Served) -> None:
    status, _ = served.call(b"abc", content_length="12abc")
    assert status == 400


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-5", "1" * 5000, "１２３"])
def test_wsgi_bad_timestamp_401(served: Served, timestamp: str) -> None:
    body = command_body()
    headers = slack_signature_headers(SIGNING_SECRET, body)
    headers["X-Slack-Request-Timestamp"] = timestamp
    status, _ = served.call(body.encode(), headers)
    assert status == 401


def test_wsgi_missing_signature_401(served: Served) -> None:
    status, _ = served.call(command_body().encode(), {})
    assert status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{", "application/json"),
        ("[]", "application/json"),
        ("null", "application/json"),
        ('"text"', "application/json; charset=utf-8"),
        ("command=%2Faws&text=help&channel_id=C0PROD0001", "application/json"),
        ("payload={not json", FORM),
        ("payload=%5B1%5D", FORM),
        ('{"type": "event_callback", "event": "x"}', "application/json"),
        ("[" * 100_000, "application/json"),
    ],
)
def test_wsgi_malformed_signed_body_400(
    served: Served, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, _ = served.signed(body, content_type)
    assert status == 400
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(caplog.text) < 2_000


def test_wsgi_non_utf8_body_400(served: Served) -> None:
    body = b"text=\xff\xfe"
    headers = {
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    status, _ = served.call(body, headers)
    assert status == 400


def test_wsgi_rejection_logged_once(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    served.signed("{", "application/json")
    rejections = [r for r in caplog.records if r.name == "bot.server"]
    assert len(rejections) == 1
    assert "HTTP 400" in rejections[0].getMessage()


def test_command_without_channel_gets_message(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, text = served.signed(
        command_body(channel_id="-", response_url=served.slack_api.response_url("nochannel"))
    )
    assert status == 200
    assert NO_CHANNEL_TEXT in json.loads(text)["text"]
    time.sleep(0.3)
    assert not served.slack_api.responses
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_command_empty_response_url_logged_once(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, text = served.signed(command_body(response_url=""))
    assert status == 200
    assert "without a response URL" in json.loads(text)["text"]
    time.sleep(0.3)
    warnings = [r for r in caplog.records if "without response_url" in r.getMessage()]
    assert len(warnings) == 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_command_ack_escaped_and_truncated(served: Served) -> None:
    text = "<!channel> " + "z" * 100_000
    status, answer = served.signed(
        command_body(text=text, response_url=served.slack_api.response_url("ack"))
    )
    assert status == 200
    ack = json.loads(answer)["text"]
    assert "<!channel>" not in ack
    assert "&lt;!channel&gt; zzz" in ack
    assert len(ack) < 300


def test_mention_without_channel_ignored(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event = {"type": "app_mention", "user": "U0TEST", "text": "<@UBOT> help", "ts": "1.2"}
    status, _ = served.signed(mention_body(event), "application/json")
    assert status == 200
    time.sleep(0.3)
    assert not served.slack_api.calls_to("chat.postMessage")
    assert any("without a channel" in r.getMessage() for r in caplog.records)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_bolt_unsigned_body_log_truncated(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = command_body(text="x" * 500_000)
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=0"}
    status, _ = served.call(body.encode(), headers)
    assert status == 401
    bolt = [r for r in caplog.records if r.name.startswith("slack_bolt")]
    assert bolt, "Bolt logged nothing about the invalid signature"
    assert all(len(record.getMessage()) < MAX_LOG_MESSAGE + 100 for record in bolt)
    assert len(caplog.text) < 20_000


def test_build_app_no_token_warning(
    runtime: Runtime,
    slack_api: FakeSlackApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `serve` builds its client from SLACK_BOT_TOKEN, which Bolt also reads on its own.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-server-test")
    client = make_client("xoxb-server-test", slack_api.base_url)
    with caplog.at_level(logging.WARNING):
        _, _, answerer = build_app(runtime, client, SIGNING_SECRET)
    answerer.pool.shutdown(wait=False)

    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]


def test_truncate_long_messages_filter() -> None:
    record = logging.LogRecord(
        "slack_bolt.X", logging.INFO, __file__, 1, "body: %s", ("b" * 5000,), None
    )
    assert TruncateLongMessages(limit=100).filter(record)
    message = record.getMessage()
    assert message.startswith("body: bbbb")
    assert message.endswith("… (cut from 5006 characters)")
    assert len(message) < 140


def test_truncate_long_messages_keeps_short() -> None:
    record = logging.LogRecord("slack_bolt.X", logging.INFO, __file__, 1, "short %s", ("x",), None)
    assert TruncateLongMessages(limit=100).filter(record)
    assert record.getMessage() == "short x"
