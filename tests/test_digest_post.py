"""Posting digests against the Slack stand-in: join and retry, Retry-After, one channel's
failure kept from the others, the ledger, and snooze buttons through signed requests."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.app import build_app
from bot.config import AppConfig, parse_config
from bot.digests import ALREADY_CLAIMED, FAILED, POSTED, DigestPoster
from bot.runtime import Runtime, build_runtime
from bot.server import HttpServer, make_wsgi_app
from bot.slack import make_client
from bot.store import Store
from handlers.blocks import FileAttachment, Reply, simple_reply
from handlers.digests import build_digest
from tests.conftest import account_session
from tests.fakes.slack_api import Failure, FakeSlackApi, slack_signature_headers

SIGNING_SECRET = "digest-signing-secret"
PROD_ACCOUNT = "111111111111"
CHANNEL = "C0PROD0001"
OTHER_CHANNEL = "C0OTHER001"
TODAY = "2025-03-10"
CONFIG = {
    "aws": {"regions": ["us-east-1"]},
    "accounts": {
        "prod": {"role_arn": f"arn:aws:iam::{PROD_ACCOUNT}:role/AwsMonitorReadOnly"},
        "other": {"role_arn": "arn:aws:iam::222222222222:role/AwsMonitorReadOnly"},
    },
    "channels": {
        CHANNEL: {"accounts": ["prod"], "timezone": "Europe/Berlin"},
        OTHER_CHANNEL: {"accounts": ["other"], "timezone": "America/New_York"},
    },
}


def config() -> AppConfig:
    return parse_config(CONFIG, "test configuration")


@pytest.fixture
def runtime(aws: None, tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(config(), store=Store(f"sqlite:///{tmp_path / 'state.db'}"))
    yield runtime
    runtime.close()


def client_for(slack_api: FakeSlackApi) -> WebClient:
    return make_client("xoxb-digest-test", slack_api.base_url)


def bare_client(slack_api: FakeSlackApi) -> WebClient:
    """A client without retry handlers, so each 429 reaches the poster at once."""
    return WebClient(token="xoxb-digest-test", base_url=slack_api.base_url, retry_handlers=[])


@dataclass
class StubRuntime:
    """Only what DigestPoster.post reads."""

    store: Any = None


def create_unattached_volume(size: int = 500) -> str:
    ec2 = account_session(PROD_ACCOUNT).client("ec2", region_name="us-east-1")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=size, VolumeType="gp3")
    return str(volume["VolumeId"])


# Posting one message


def test_post_not_in_channel_joins_and_retries(slack_api: FakeSlackApi) -> None:
    slack_api.fail("chat.postMessage", Failure(error="not_in_channel"))
    poster = DigestPoster(StubRuntime(), client_for(slack_api))  # type: ignore[arg-type]
    result = poster.post(CHANNEL, simple_reply("digest"))
    assert result.ok
    assert result.ts is not None
    assert [call.method for call in slack_api.calls] == [
        "chat.postMessage",
        "conversations.join",
        "chat.postMessage",
    ]
    assert slack_api.calls_to("conversations.join")[0].params["channel"] == CHANNEL


def test_post_join_refused_logs_and_skips(
    slack_api: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    slack_api.fail("chat.postMessage", Failure(error="not_in_channel"))
    slack_api.fail("conversations.join", Failure(error="missing_scope"))
    poster = DigestPoster(StubRuntime(), client_for(slack_api))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="bot.digests"):
        result = poster.post(CHANNEL, simple_reply("digest"))
    assert not result.ok
    assert "missing_scope" in result.detail
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert CHANNEL in errors[0]
    assert "not_in_channel" in errors[0]
    assert "missing_scope" in errors[0]


def test_post_http_429_waits_for_retry_after(slack_api: FakeSlackApi) -> None:
    slack_api.fail("chat.postMessage", Failure(status=429, retry_after=1))
    poster = DigestPoster(StubRuntime(), client_for(slack_api))  # type: ignore[arg-type]
    assert poster.post(CHANNEL, simple_reply("digest")).ok
    first, second = slack_api.calls_to("chat.postMessage")
    assert second.at - first.at >= 1.0


def test_post_ratelimited_wait_is_bounded(slack_api: FakeSlackApi) -> None:
    slack_api.fail("chat.postMessage", Failure(status=429, retry_after=120))
    waits: list[float] = []
    poster = DigestPoster(
        StubRuntime(),  # type: ignore[arg-type]
        bare_client(slack_api),
        sleep=waits.append,
        max_wait=0.5,
    )
    assert poster.post(CHANNEL, simple_reply("digest")).ok
    assert waits == [0.5]
    assert len(slack_api.calls_to("chat.postMessage")) == 2


def test_post_ratelimited_gives_up_after_bounded_waits(
    slack_api: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    slack_api.fail("chat.postMessage", *[Failure(status=429, retry_after=0)] * 3)
    waits: list[float] = []
    poster = DigestPoster(StubRuntime(), bare_client(slack_api), sleep=waits.append)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="bot.digests"):
        result = poster.post(CHANNEL, simple_reply("digest"))
    assert not result.ok
    assert result.detail == "ratelimited"
    assert waits == [0.0, 0.0]
    assert len(slack_api.calls_to("chat.postMessage")) == 3
    assert any(CHANNEL in record.getMessage() for record in caplog.records)


def test_post_uploads_files_after_message(slack_api: FakeSlackApi) -> None:
    reply = Reply(
        text="digest",
        blocks=[],
        files=[FileAttachment("chart.png", b"\x89PNG\r\n\x1a\nfake", "Daily cost")],
    )
    poster = DigestPoster(StubRuntime(), client_for(slack_api))  # type: ignore[arg-type]
    assert poster.post(CHANNEL, reply).ok
    methods = [call.method for call in slack_api.calls]
    assert methods[0] == "chat.postMessage"
    assert "files.completeUploadExternal" in methods
    completed = slack_api.calls_to("files.completeUploadExternal")[0].params
    assert completed["channel_id"] == CHANNEL
    assert slack_api.uploads == [b"\x89PNG\r\n\x1a\nfake"]


# Scheduled runs through the ledger


def test_run_once_failure_in_one_channel_spares_other(
    runtime: Runtime, slack_api: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import date

    day = date.fromisoformat(TODAY)
    slack_api.fail("chat.postMessage", Failure(error="channel_not_found"))
    poster = DigestPoster(runtime, client_for(slack_api))
    with caplog.at_level(logging.INFO, logger="bot.digests"):
        first = poster.run_once(OTHER_CHANNEL, "idle", day)
        second = poster.run_once(CHANNEL, "idle", day)
    assert (first, second) == (FAILED, POSTED)
    posts = slack_api.calls_to("chat.postMessage")
    assert [call.params["channel"] for call in posts] == [OTHER_CHANNEL, CHANNEL]
    entries = {entry.channel_id: entry for entry in runtime.store.digest_entries()}
    assert entries[OTHER_CHANNEL].status == FAILED
    assert entries[OTHER_CHANNEL].detail == "channel_not_found"
    assert entries[CHANNEL].status == POSTED
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"Posting a digest to channel {OTHER_CHANNEL} failed: channel_not_found"]


def test_run_once_second_process_does_not_post(runtime: Runtime, slack_api: FakeSlackApi) -> None:
    from datetime import date

    day = date.fromisoformat(TODAY)
    first = DigestPoster(runtime, client_for(slack_api), claimed_by="replica-a")
    second = DigestPoster(runtime, client_for(slack_api), claimed_by="replica-b")
    assert first.run_once(CHANNEL, "idle", day) == POSTED
    assert second.run_once(CHANNEL, "idle", day) == ALREADY_CLAIMED
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    (entry,) = runtime.store.digest_entries()
    assert (entry.claimed_by, entry.status) == ("replica-a", POSTED)


def test_run_once_build_failure_posts_notice(
    runtime: Runtime, slack_api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    def broken_scan(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("scan exploded")

    monkeypatch.setattr(runtime.backends.idle, "run", broken_scan)
    poster = DigestPoster(runtime, client_for(slack_api))
    assert poster.run_once(CHANNEL, "idle", date.fromisoformat(TODAY)) == FAILED
    (post,) = slack_api.calls_to("chat.postMessage")
    assert "The idle digest for 2025-03-10 could not be built (RuntimeError)" in post.params["text"]
    (entry,) = runtime.store.digest_entries()
    assert entry.status == FAILED
    assert entry.detail == "building failed: RuntimeError: scan exploded"


# Snooze buttons through the running app


@dataclass
class RunningApp:
    runtime: Runtime
    server: HttpServer
    slack_api: FakeSlackApi

    def post(self, body: str, headers: dict[str, str]) -> tuple[int, float]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.server.port}/slack/events",
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            method="POST",
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, time.monotonic() - started
        except urllib.error.HTTPError as exc:
            return exc.code, time.monotonic() - started


@pytest.fixture
def running_app(runtime: Runtime, slack_api: FakeSlackApi) -> Iterator[RunningApp]:
    app, metrics, answerer = build_app(runtime, client_for(slack_api), SIGNING_SECRET)
    server = HttpServer(make_wsgi_app(app, metrics), "127.0.0.1", 0)
    server.start()
    try:
        yield RunningApp(runtime, server, slack_api)
    finally:
        server.close()
        answerer.pool.shutdown(wait=True)


def posted_digest(running: RunningApp) -> dict[str, Any]:
    """Post the idle digest of CHANNEL and return the message as Slack stores it."""
    poster = DigestPoster(running.runtime, client_for(running.slack_api))
    reply = poster.build(CHANNEL, "idle")
    result = poster.post(CHANNEL, reply)
    assert result.ok
    params = running.slack_api.calls_to("chat.postMessage")[-1].params
    blocks = params["blocks"]
    return {
        "type": "message",
        "ts": result.ts,
        "text": params["text"],
        "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
    }


def block_actions_body(
    message: dict[str, Any], block_id: str, action_id: str, value: str, response: str
) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0SNOOZER", "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "team": {"id": "T0TEST"},
        "channel": {"id": CHANNEL, "name": "prod"},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL},
        "message": message,
        "response_url": response,
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": "1741600000.000100",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def finding_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for block in message["blocks"]
        if block["type"] == "actions" and block["block_id"].startswith("snooze-finding-")
    ]


def wait_for_response(slack_api: FakeSlackApi, name: str) -> dict[str, Any]:
    path = f"/response/{name}"
    assert slack_api.wait_for(lambda: any(c.method == path for c in slack_api.responses))
    return next(c for c in slack_api.responses if c.method == path).params


def test_snooze_button_stores_and_updates_message(running_app: RunningApp) -> None:
    volume = create_unattached_volume()
    message = posted_digest(running_app)
    (buttons,) = finding_buttons(message)
    key = buttons["elements"][0]["value"]
    assert volume in key
    body = block_actions_body(
        message, buttons["block_id"], "snooze_7", key, running_app.slack_api.response_url("snooze")
    )

    status, elapsed = running_app.post(body, slack_signature_headers(SIGNING_SECRET, body))

    assert status == 200
    assert elapsed < 3.0
    response = wait_for_response(running_app.slack_api, "snooze")
    assert response["replace_original"] is True
    updated = json.dumps(response["blocks"])
    assert ":zzz: Snoozed this finding by <@U0SNOOZER> for 7 days" in updated
    assert finding_buttons({"blocks": response["blocks"]}) == []
    assert running_app.runtime.store.snoozed_keys(CHANNEL) == {key}

    ctx = running_app.runtime.config.channel_context(CHANNEL)
    assert ctx is not None
    later = json.dumps(build_digest("idle", ctx, running_app.runtime.backends).blocks)
    assert volume not in later
    assert "1 snoozed finding is not shown." in later


def test_snooze_button_unsigned_rejected(running_app: RunningApp) -> None:
    create_unattached_volume()
    message = posted_digest(running_app)
    (buttons,) = finding_buttons(message)
    key = buttons["elements"][1]["value"]
    body = block_actions_body(
        message, buttons["block_id"], "snooze_30", key, running_app.slack_api.response_url("x")
    )
    status, _ = running_app.post(body, slack_signature_headers("wrong-secret", body))
    assert status == 401
    assert running_app.runtime.store.snoozed_keys(CHANNEL) == set()


def test_snooze_button_foreign_account_rejected(running_app: RunningApp) -> None:
    create_unattached_volume()
    message = posted_digest(running_app)
    (buttons,) = finding_buttons(message)
    foreign = "other/us-east-1/ebs/vol-0123/ebs-unattached"
    body = block_actions_body(
        message,
        buttons["block_id"],
        "snooze_30",
        foreign,
        running_app.slack_api.response_url("foreign"),
    )
    status, _ = running_app.post(body, slack_signature_headers(SIGNING_SECRET, body))
    assert status == 200
    response = wait_for_response(running_app.slack_api, "foreign")
    assert response["response_type"] == "ephemeral"
    assert "do not belong to the accounts of this channel" in response["text"]
    assert running_app.runtime.store.snoozed_keys(CHANNEL) == set()
