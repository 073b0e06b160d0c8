"""The fan-out: follow-up tasks, failures as warnings, and the deadline of one run."""

from __future__ import annotations

import threading

from botocore.exceptions import ClientError

from services.accounts import Account
from services.fanout import FanOut, Outcome, Task

PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")


def items_task(*values: str, region: str = "us-east-1") -> Task[str]:
    return Task(PROD, region, "ec2:DescribeInstances", lambda: Outcome(items=list(values)))


def test_run_follows_up_and_keeps_fallback() -> None:
    def denied() -> Outcome[str]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListTags")

    failing = Task(PROD, "eu-west-1", "lambda:ListTags", denied, fallback=["untagged"])
    parent = Task(PROD, "us-east-1", "lambda:ListFunctions", lambda: Outcome(followups=[failing]))
    fanout = FanOut(2)
    gathered = fanout.run([parent, items_task("a")])
    fanout.shutdown()
    assert sorted(gathered.items) == ["a", "untagged"]
    assert [w.message for w in gathered.warnings] == [
        "Missing IAM permission lambda:ListTags in account prod (111111111111), region eu-west-1"
    ]


def test_run_deadline_turns_hung_task_into_warning() -> None:
    release = threading.Event()

    def hang() -> Outcome[str]:
        release.wait(30)
        return Outcome(items=["late"])

    fanout = FanOut(2, timeout=0.2)
    hung = Task(PROD, "eu-west-1", "ec2:DescribeVolumes", hang)
    try:
        gathered = fanout.run([hung, items_task("fast")])
    finally:
        release.set()
        fanout.shutdown()
    assert gathered.items == ["fast"]
    assert [w.message for w in gathered.warnings] == [
        "Timed out after 0.2 s waiting for ec2:DescribeVolumes in account prod (111111111111), "
        "region eu-west-1; the rest of the reply is complete"
    ]


def test_run_without_deadline_waits_for_all() -> None:
    fanout = FanOut(2)
    gathered = fanout.run([items_task("a"), items_task("b", region="eu-west-1")])
    fanout.shutdown()
    assert sorted(gathered.items) == ["a", "b"]
    assert gathered.regions == ["eu-west-1", "us-east-1"]
    assert gathered.warnings == []
