"""Digests posted exactly once by two bot processes that share one database.

Each case runs on SQLite and on PostgreSQL, against a moto server and the Slack
stand-in. The `digest` command's own cases follow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.demo_costs import seed_costs
from bot.store import Store
from tests.conftest import FAKE_AWS_ENV, account_session
from tests.digest_support import database_url  # noqa: F401  (a fixture)
from tests.fakes.slack_api import FakeSlackApi, slack_signature_headers

PROD_ACCOUNT = "111111111111"
CHANNEL = "C0PROD0001"
TIMEZONE = "Europe/Berlin"
SIGNING_SECRET = "e2e-digest-secret"
ROOT = Path(__file__).resolve().parent.parent


def write_config(path: Path, digests: str = "") -> Path:
    path.write_text(
        f"""
aws:
  regions: [us-east-1]
accounts:
  prod:
    role_arn: arn:aws:iam::{PROD_ACCOUNT}:role/AwsMonitorReadOnly
channels:
  {CHANNEL}:
    accounts: [prod]
    timezone: {TIMEZONE}
{digests}
"""
    )
    return path


def bot_env(moto_server: str, slack_api: FakeSlackApi, database: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SLACK_"))
    }
    env.update(FAKE_AWS_ENV)
    env.update(
        AWS_ENDPOINT_URL=moto_server,
        SLACK_BOT_TOKEN="xoxb-e2e-digest",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_BASE_URL=slack_api.base_url,
        AWS_MONITOR_DATABASE_URL=database,
        LOG_LEVEL="INFO",
    )
    return env


def create_unattached_volume(moto_server: str) -> str:
    ec2 = account_session(PROD_ACCOUNT, moto_server).client(
        "ec2", region_name="us-east-1", endpoint_url=moto_server
    )
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=200, VolumeType="gp3")
    return str(volume["VolumeId"])


def ledger(database: str) -> list[tuple[str, str, date, str]]:
    store = Store(database)
    try:
        return [
            (entry.channel_id, entry.kind, entry.local_date, entry.status)
            for entry in store.digest_entries()
        ]
    finally:
        store.engine.dispose()


def test_digest_once_two_processes_post_once(
    tmp_path: Path,
    moto_server: str,
    slack_api: FakeSlackApi,
    database_url: str,  # noqa: F811
) -> None:
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    seed_costs({"prod": PROD_ACCOUNT}, datetime.now(UTC).date())
    config = write_config(tmp_path / "aws-monitor.yaml")
    env = bot_env(moto_server, slack_api, database_url)
    command = [
        *(sys.executable, "-m", "bot", "digest", "--config", str(config)),
        *("--channel", CHANNEL, "--kind", "costs", "--post", "--once"),
    ]

    processes = [
        subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    stdout = sorted(out.strip() for out, _ in outputs)
    assert stdout == [
        f"The costs digest of {CHANNEL} for {today} was posted already.",
        f"The costs digest of {CHANNEL} for {today}: posted.",
    ]
    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].params["channel"] == CHANNEL
    assert "AWS cost digest" in posts[0].params["text"]
    assert len(slack_api.calls_to("files.completeUploadExternal")) == 1
    assert ledger(database_url) == [(CHANNEL, "costs", today, "posted")]


class ServeProcess:
    """`python -m bot serve --http --port 0`, its stderr collected line by line."""

    READY = re.compile(r"Serving Slack requests at http://127\.0\.0\.1:(\d+)/slack/events")

    def __init__(self, env: dict[str, str], config: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--http",
                "--port",
                "0",
                "--config",
                str(config),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def find(self, pattern: str) -> re.Match[str] | None:
        for line in list(self.lines):
            match = re.search(pattern, line)
            if match:
                return match
        return None

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = self.find(pattern)
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.lines))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def replicas(
    tmp_path: Path,
    moto_server: str,
    slack_api: FakeSlackApi,
    database_url: str,  # noqa: F811
) -> Iterator[tuple[list[ServeProcess], str]]:
    """Two serve processes on one database, started two minutes after the idle digest's time."""
    create_unattached_volume(moto_server)
    due = datetime.now(ZoneInfo(TIMEZONE)) - timedelta(minutes=2)
    config = write_config(
        tmp_path / "aws-monitor.yaml",
        f'    digests:\n      idle: {{at: "{due:%H:%M}"}}',
    )
    env = bot_env(moto_server, slack_api, database_url)
    processes = [ServeProcess(env, config), ServeProcess(env, config)]
    try:
        for process in processes:
            process.port = int(process.wait_for(ServeProcess.READY.pattern).group(1))
        yield processes, database_url
    finally:
        for process in processes:
            process.stop()


DECIDED = (
    r"Posted the idle digest to channel"
    r"|was claimed by .* already; not posting it"
    r"|is in the ledger already"
)


def test_serve_replicas_catch_up_post_once(
    replicas: tuple[list[ServeProcess], str], slack_api: FakeSlackApi
) -> None:
    processes, database = replicas
    for process in processes:
        process.wait_for(DECIDED)
        process.wait_for(
            r"Scheduled the idle digest of channel C0PROD0001 at \d\d:\d\d Europe/Berlin"
        )

    posters = [process for process in processes if process.find("Posted the idle digest")]
    assert len(posters) == 1
    assert posters[0].find(r"Catching up the idle digest of channel C0PROD0001")
    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].params["text"].startswith("1 idle resource in account prod")
    ((channel, kind, _, status),) = ledger(database)
    assert (channel, kind, status) == (CHANNEL, "idle", "posted")

    # The snooze pressed on the other replica lands in the shared database.
    other = next(process for process in processes if process is not posters[0])
    blocks = posts[0].params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    button = next(
        block for block in blocks if block.get("block_id", "").startswith("snooze-finding-")
    )
    payload = {
        "type": "block_actions",
        "user": {"id": "U0E2E"},
        "team": {"id": "T0TEST"},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": posts[0].params.get("ts", "1.0")},
        "message": {"ts": "1.0", "text": posts[0].params["text"], "blocks": blocks},
        "response_url": slack_api.response_url("replica"),
        "actions": [{**button["elements"][1], "block_id": button["block_id"]}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    request = urllib.request.Request(
        f"http://127.0.0.1:{other.port}/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **slack_signature_headers(SIGNING_SECRET, body),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert slack_api.wait_for(
        lambda: any(c.method == "/response/replica" for c in slack_api.responses)
    )
    store = Store(database)
    try:
        assert store.snoozed_keys(CHANNEL) == {button["elements"][1]["value"]}
    finally:
        store.engine.dispose()


def test_digest_command_prints_idle_digest(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = account_session(PROD_ACCOUNT).client("ec2", region_name="us-east-1")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=100, VolumeType="gp2")[
        "VolumeId"
    ]
    monkeypatch.setenv("AWS_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    config = write_config(tmp_path / "aws-monitor.yaml")

    code = main(["digest", "--config", str(config), "--channel", CHANNEL, "--kind", "idle"])

    out = capsys.readouterr().out
    assert code == 0
    assert "Idle resources digest · " in out
    assert volume in out
    assert "[Snooze 7 days] [Snooze 30 days]" in out


def test_digest_command_post_needs_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "aws-monitor.yaml")
    code = main(
        ["digest", "--config", str(config), "--channel", CHANNEL, "--kind", "idle", "--post"]
    )
    assert code == 2
    assert "SLACK_BOT_TOKEN is not set" in capsys.readouterr().err


def test_digest_command_once_needs_post(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "aws-monitor.yaml")
    code = main(
        ["digest", "--config", str(config), "--channel", CHANNEL, "--kind", "idle", "--once"]
    )
    assert code == 2
    assert "--once needs --post" in capsys.readouterr().err


def test_digest_command_unmapped_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "aws-monitor.yaml")
    code = main(["digest", "--config", str(config), "--channel", "C0NOTMAPPED", "--kind", "costs"])
    assert code == 1
    assert "Channel C0NOTMAPPED is not mapped" in capsys.readouterr().err
