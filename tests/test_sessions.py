"""SessionFactory: one client per key, bounded, shared by users who sign as their own sessions."""

from __future__ import annotations

import contextvars
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from services import sessions
from services.accounts import Account
from services.errors import AccountAccessError
from services.fanout import FanOut, Outcome, Task
from services.sessions import (
    AwsSettings,
    RoleSessionCredentials,
    SessionFactory,
    use_role_session,
)

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
        created.append(args[1])
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


def recording_assume_role(seen: list[str]) -> boto3.Session:
    """A base session that records the RoleSessionName of every AssumeRole it sends."""
    session = boto3.Session()

    def before_call(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["body"]["RoleSessionName"])

    session.events.register("before-call.sts.AssumeRole", before_call)
    return session


def test_shared_client_signs_per_user(aws: None) -> None:
    assumed: list[str] = []
    factory = SessionFactory(AwsSettings(), base_session=lambda: recording_assume_role(assumed))
    fanout = FanOut(8)
    start = threading.Barrier(8)

    def caller(user: str) -> Task[tuple[str, str, str]]:
        def run() -> Outcome[tuple[str, str, str]]:
            client = factory.client(PROD, "sts", "us-east-1", user_id=user)
            start.wait(timeout=10)
            arn = client.get_caller_identity()["Arn"]

            def followup() -> Outcome[tuple[str, str, str]]:
                # The same client, with no factory call in this task: the role session
                # comes from the context of the task that spawned it.
                return Outcome(items=[(user, "followup", client.get_caller_identity()["Arn"])])

            return Outcome(
                items=[(user, "task", arn)],
                followups=[Task(PROD, "us-east-1", "sts:GetCallerIdentity", followup)],
            )

        return Task(PROD, "us-east-1", "sts:GetCallerIdentity", run)

    users = ["U1", "U2"] * 4
    # A fresh context, so nothing set earlier in this thread reaches the tasks.
    gathered = contextvars.Context().run(fanout.run, [caller(user) for user in users])
    fanout.shutdown()

    assert gathered.warnings == []
    assert len(gathered.items) == 16
    for user, where, arn in gathered.items:
        assert arn.endswith(f":assumed-role/AwsMonitorReadOnly/aws-monitor-{user}"), (where, arn)
    assert factory.cached_clients == 1
    assert factory.role_sessions == 2
    assert sorted(assumed) == ["aws-monitor-U1", "aws-monitor-U2"]


def test_role_sessions_bounded_per_account(aws: None) -> None:
    assumed: list[str] = []
    factory = SessionFactory(
        AwsSettings(max_sessions=2), base_session=lambda: recording_assume_role(assumed)
    )
    for user in ("U1", "U2", "U3", "U1"):
        factory.client(PROD, "sts", "us-east-1", user_id=user).get_caller_identity()
    factory.client(PROD, "sts", "us-east-1", user_id="U1").get_caller_identity()

    assert factory.role_sessions == 2
    # U1 was the least recently used when U3 came, so its session was assumed again.
    assert assumed == ["aws-monitor-U1", "aws-monitor-U2", "aws-monitor-U3", "aws-monitor-U1"]


def sign_as(credentials: RoleSessionCredentials, user: str) -> AccountAccessError:
    """Sign as `user` in a fresh context and return the AssumeRole failure."""
    context = contextvars.Context()
    context.run(use_role_session, user)
    try:
        context.run(credentials.get_frozen_credentials)
    except AccountAccessError as exc:
        return exc
    raise AssertionError("the role was assumed")


def test_failed_assume_role_remembered() -> None:
    calls: list[str] = []

    def fetch(name: str) -> dict[str, str]:
        calls.append(name)
        raise AccountAccessError(f"Could not assume the role as {name}")

    remembered = RoleSessionCredentials(fetch, max_sessions=4, retry_after=60)
    assert str(sign_as(remembered, "U1")) == "Could not assume the role as aws-monitor-U1"
    assert str(sign_as(remembered, "U1")) == "Could not assume the role as aws-monitor-U1"
    assert str(sign_as(remembered, "U2")) == "Could not assume the role as aws-monitor-U2"
    assert calls == ["aws-monitor-U1", "aws-monitor-U2"]

    calls.clear()
    retried = RoleSessionCredentials(fetch, max_sessions=4, retry_after=0)
    sign_as(retried, "U1")
    sign_as(retried, "U1")
    assert calls == ["aws-monitor-U1", "aws-monitor-U1"]


def test_slow_assume_role_failure_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(sessions, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    calls: list[str] = []
    denied = KeyError("AccessDenied")

    def slow_fetch(name: str) -> dict[str, str]:
        calls.append(name)
        # Five attempts that each time out after 30 s.
        clock[0] += 150.0
        raise AccountAccessError(f"Could not assume the role as {name}") from denied

    credentials = RoleSessionCredentials(slow_fetch, max_sessions=4, retry_after=30)
    first = sign_as(credentials, "U1")
    clock[0] += 1.0
    second = sign_as(credentials, "U1")

    assert calls == ["aws-monitor-U1"]
    assert str(second) == str(first)
    assert second.__cause__ is denied
    clock[0] += 30.0
    sign_as(credentials, "U1")
    assert calls == ["aws-monitor-U1", "aws-monitor-U1"]
