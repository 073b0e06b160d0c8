"""Slow AWS: the bot process acks slash commands at once and answers each one later.

Every AWS request waits 2 seconds in the latency proxy, so an answer needs at least
4 seconds (sts:AssumeRole, then DescribeInstances) while an ack needs no AWS call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.estate import CHANNEL_ID, account_session, write_config
from benchmarks.latency_proxy import clean_environment
from tests.conftest import reset_moto
from tests.fakes.aws_latency import LatencyServer
from tests.fakes.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackApi

SIGNING_SECRET = "slow-aws-signing-secret"
ACCOUNT_ID = "111111111111"
REGION = "us-east-1"
COMMANDS = 6
INSTANCE_ID = re.compile(r"\bi-[0-9a-f]{8,17}\b")


@pytest.fixture
def slow_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LatencyServer, set[str]]]:
    """moto behind the proxy with two instances; every request is delayed once seeded."""
    with LatencyServer(delay_seconds=0.0) as server:
        reset_moto(server.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        ec2 = account_session(ACCOUNT_ID).client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        created = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]
        server.middleware.configure(delay_seconds=2.0)
        try:
            yield server, {instance["InstanceId"] for instance in created}
        finally:
            reset_moto(server.url)


@pytest.fixture
def bot(
    tmp_path: Path, slow_aws: tuple[LatencyServer, set[str]], slack_api: FakeSlackApi
) -> Iterator[BotProcess]:
    server, _ = slow_aws
    config = write_config(tmp_path / "aws-monitor.yaml", (REGION,), {"prod": ACCOUNT_ID})
    env = clean_environment(server.url)
    env.update(
        SLACK_BOT_TOKEN="xoxb-slow-aws",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_BASE_URL=slack_api.base_url,
        AWS_MONITOR_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        LOG_LEVEL="INFO",
    )
    process = BotProcess(env, config)
    try:
        yield process
    finally:
        process.stop()


def test_slow_aws_acks_before_answers(
    bot: BotProcess, slack_api: FakeSlackApi, slow_aws: tuple[LatencyServer, set[str]]
) -> None:
    _, instances = slow_aws

    def send(index: int) -> tuple[int, int]:
        status, _ = bot.slash_command(
            SIGNING_SECRET, "ec2", CHANNEL_ID, slack_api.response_url(f"slow{index}")
        )
        # The number of answers the Slack stand-in had received when this ack returned.
        return status, len(slack_api.responses)

    with ThreadPoolExecutor(COMMANDS) as senders:
        acks = list(senders.map(send, range(COMMANDS)))

    assert [status for status, _ in acks] == [200] * COMMANDS
    assert [answered for _, answered in acks] == [0] * COMMANDS
    assert slack_api.wait_for(lambda: len(slack_api.responses) >= COMMANDS, timeout=120)
    # Long enough for a second answer to the same command to show up.
    time.sleep(0.5)
    answers = {call.method: call.params for call in slack_api.responses}
    assert sorted(answers) == sorted(f"/response/slow{index}" for index in range(COMMANDS))
    assert len(slack_api.responses) == COMMANDS
    for params in answers.values():
        assert params["response_type"] == "in_channel"
        assert set(INSTANCE_ID.findall(json.dumps(params["blocks"]))) == instances
