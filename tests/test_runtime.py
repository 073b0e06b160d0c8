"""Runtime.warm: the start-up work of `serve`, and its warning when the client bound is low."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.runtime import build_runtime
from bot.store import Store


def config(max_clients: int) -> dict[str, object]:
    return {
        "aws": {"regions": ["us-east-1", "eu-west-1"], "max_clients": max_clients},
        "accounts": {"prod": {"role_arn": "arn:aws:iam::111111111111:role/AwsMonitorReadOnly"}},
        "channels": {"C0PROD0001": {"accounts": ["prod"]}},
    }


@pytest.mark.parametrize(("max_clients", "cached", "warned"), [(512, 12, False), (3, 3, True)])
def test_warm_creates_clients_up_to_bound(
    aws: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    max_clients: int,
    cached: int,
    warned: bool,
) -> None:
    runtime = build_runtime(
        parse_config(config(max_clients), "test configuration"),
        store=Store(f"sqlite:///{tmp_path / 'state.db'}"),
    )
    with caplog.at_level(logging.INFO, logger="bot.runtime"):
        runtime.warm(["ec2"])
    runtime.close()

    assert runtime.factory.cached_clients == cached
    assert runtime.factory.counter.total_attempts == 0
    assert f"created {cached} clients" in caplog.text
    expected = f"need 12 clients but aws.max_clients is {max_clients}"
    assert (expected in caplog.text) is warned
