"""SessionFactory: one client per key, bounded, and shared botocore data across sessions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.accounts import Account
from services.sessions import AwsSettings, SessionFactory

PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
DATA = Account("data", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")


def test_client_created_once_under_contention(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = SessionFactory(AwsSettings())
    created: list[str] = []
    original = factory._create_client
    start = threading.Barrier(8)

    def counting(*args: Any) -> Any:
        created.append(args[2])
        return original(*args)

    monkeypatch.setattr(factory, "_create_client", counting)

    def get(_: int) -> Any:
        start.wait()
        return factory.client(PROD, "ec2", "eu-west-1")

    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(get, range(8)))

    assert created == ["ec2"]
    assert all(client is clients[0] for client in clients)
    assert factory.cached_clients == 1


def test_client_cache_bounded(aws: None) -> None:
    factory = SessionFactory(AwsSettings(max_clients=3))
    first = factory.client(PROD, "ec2", "us-east-1")
    for region in ("us-east-2", "us-west-1", "us-west-2"):
        factory.client(PROD, "ec2", region)

    assert factory.cached_clients == 3
    assert factory.client(PROD, "ec2", "us-east-1") is not first


def test_sessions_share_loader_paths(aws: None) -> None:
    factory = SessionFactory(AwsSettings())
    factory.client(PROD, "ec2", "us-east-1", user_id="U1")
    loader = factory._loader
    paths = list(loader.search_paths)
    for user in ("U2", "U3"):
        for account in (PROD, DATA):
            factory.client(account, "ec2", "us-east-1", user_id=user)

    assert loader.search_paths == paths
    assert len(set(paths)) == len(paths)


def test_counter_attempts_per_operation(aws: None) -> None:
    factory = SessionFactory(AwsSettings())
    factory.client(PROD, "ec2", "us-east-1").describe_instances()

    assert factory.counter.calls["ec2.DescribeInstances"] == 1
    assert factory.counter.attempts["ec2.DescribeInstances"] == 1
    assert factory.counter.attempts["sts.AssumeRole"] == 1
