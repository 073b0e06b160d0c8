"""Idle scan end to end on moto in process, with frozen time: every rule, batching, failures
and the `/aws idle` reply."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from handlers.blocks import MAX_BLOCKS, MAX_SECTION_TEXT
from handlers.context import ChannelContext
from handlers.dispatch import Backends, handle_text
from handlers.idle import RULE_TITLES
from services import metrics as metrics_module
from services.accounts import Account
from services.fanout import FanOut
from services.idle import IdleReport, IdleScanner
from services.idle_rules import (
    EBS_ON_STOPPED_INSTANCE,
    EBS_UNATTACHED,
    EC2_LOW_UTILIZATION,
    EC2_STOPPED,
    EMR_IDLE,
    LAMBDA_NO_INVOCATIONS,
    RDS_NO_CONNECTIONS,
)
from services.inventory import Inventory
from services.metrics import MetricsService
from services.models import Query
from services.regions import RegionResolver
from services.sessions import AwsSettings, SessionFactory
from tests.conftest import account_session

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OWN = Account("own")
PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")
MB = 1_000_000


@pytest.fixture
def clock(aws: None) -> Iterator[FrozenDateTimeFactory]:
    with freeze_time(NOW) as frozen:
        yield frozen


@pytest.fixture
def scanner(clock: FrozenDateTimeFactory) -> Iterator[IdleScanner]:
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    regions = RegionResolver(factory, ("us-east-1",))
    yield IdleScanner(factory, fanout, regions, MetricsService(factory, fanout))
    fanout.shutdown()


def ec2(session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client("ec2", region_name="us-east-1")


def run_instances(count: int = 1, session: boto3.Session | None = None, **tags: str) -> list[str]:
    params: dict[str, Any] = {
        "ImageId": "ami-12c6146b",
        "MinCount": count,
        "MaxCount": count,
        "InstanceType": "t3.large",
    }
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return [i["InstanceId"] for i in ec2(session).run_instances(**params)["Instances"]]


def put(
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    points: list[tuple[datetime, float]],
    session: boto3.Session | None = None,
) -> None:
    client = (session or boto3.Session()).client("cloudwatch", region_name="us-east-1")
    client.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": timestamp,
                "Value": value,
            }
            for timestamp, value in points
        ],
    )


def put_daily_usage(
    instance_id: str,
    cpu: float,
    network_bytes: float,
    days: range = range(1, 15),
    session: boto3.Session | None = None,
) -> None:
    """One sample per day, an hour into each daily period of the scan's window."""
    dims = {"InstanceId": instance_id}
    stamps = [NOW - timedelta(days=n) + timedelta(hours=1) for n in days]
    put("AWS/EC2", "CPUUtilization", dims, [(t, cpu) for t in stamps], session)
    put("AWS/EC2", "NetworkIn", dims, [(t, network_bytes / 2) for t in stamps], session)
    put("AWS/EC2", "NetworkOut", dims, [(t, network_bytes / 2) for t in stamps], session)


def create_db(name: str) -> None:
    boto3.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.medium",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )


def create_function(name: str) -> None:
    role = boto3.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )


def create_emr_cluster(name: str) -> str:
    return str(
        boto3.client("emr", region_name="us-east-1").run_job_flow(
            Name=name,
            ReleaseLabel="emr-6.10.0",
            Instances={
                "InstanceCount": 1,
                "KeepJobFlowAliveWhenNoSteps": True,
                "MasterInstanceType": "m5.xlarge",
            },
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
    )


def flagged(report: IdleReport, rule: str) -> set[str]:
    return {f.resource_id for f in report.findings if f.rule == rule}


def test_scan_ec2_low_over_and_under(scanner: IdleScanner) -> None:
    idle, busy, three_days = run_instances(3)
    put_daily_usage(idle, cpu=9.9, network_bytes=4.9 * MB)
    put_daily_usage(busy, cpu=10.1, network_bytes=4.9 * MB)
    put_daily_usage(three_days, cpu=2.0, network_bytes=1 * MB, days=range(1, 4))
    put_daily_usage(three_days, cpu=80.0, network_bytes=900 * MB, days=range(4, 15))
    report = scanner.run([OWN], Query())
    assert flagged(report, EC2_LOW_UTILIZATION) == {idle}
    (finding,) = [f for f in report.findings if f.rule == EC2_LOW_UTILIZATION]
    assert "on 14 of the last 14 days" in finding.reason
    assert str(finding.monthly_cost) == "60.74"


def test_scan_counts_missing_data(scanner: IdleScanner) -> None:
    run_instances(2)
    report = scanner.run([OWN], Query())
    assert flagged(report, EC2_LOW_UTILIZATION) == set()
    assert report.no_data == {EC2_LOW_UTILIZATION: 2}


def test_scan_stopped_instances_over_and_under(
    scanner: IdleScanner, clock: FrozenDateTimeFactory
) -> None:
    clock.move_to(NOW - timedelta(days=31))
    (long_stopped,) = run_instances()
    ec2().stop_instances(InstanceIds=[long_stopped])
    clock.move_to(NOW - timedelta(days=29))
    (recently_stopped,) = run_instances()
    ec2().stop_instances(InstanceIds=[recently_stopped])
    clock.move_to(NOW)
    report = scanner.run([OWN], Query())
    assert flagged(report, EC2_STOPPED) == {long_stopped}
    (finding,) = [f for f in report.findings if f.rule == EC2_STOPPED]
    assert finding.since == NOW - timedelta(days=31)
    assert finding.since_label == "stopped at"
    # The stopped instances have no metrics, which is no reason to count them as no data.
    assert EC2_LOW_UTILIZATION not in report.no_data
    volumes = ec2().describe_volumes()["Volumes"]
    root_of_long_stopped = {
        v["VolumeId"] for v in volumes if v["Attachments"][0]["InstanceId"] == long_stopped
    }
    assert flagged(report, EBS_ON_STOPPED_INSTANCE) == root_of_long_stopped


def test_scan_ignores_state_filter(scanner: IdleScanner, clock: FrozenDateTimeFactory) -> None:
    clock.move_to(NOW - timedelta(days=40))
    (stopped,) = run_instances()
    ec2().stop_instances(InstanceIds=[stopped])
    clock.move_to(NOW)
    report = scanner.run([OWN], Query(states=frozenset({"running"})))
    assert flagged(report, EC2_STOPPED) == {stopped}


def test_scan_unattached_volume(scanner: IdleScanner) -> None:
    volume = ec2().create_volume(Size=100, AvailabilityZone="us-east-1a", VolumeType="gp3")
    report = scanner.run([OWN], Query())
    assert flagged(report, EBS_UNATTACHED) == {volume["VolumeId"]}
    assert str(report.findings[0].monthly_cost) == "8.00"


def test_scan_rds_connections_over_and_under(scanner: IdleScanner) -> None:
    create_db("idle-db")
    create_db("used-db")
    create_db("new-db")
    stamps = [NOW - timedelta(days=n) + timedelta(hours=2) for n in range(1, 9)]
    put(
        "AWS/RDS",
        "DatabaseConnections",
        {"DBInstanceIdentifier": "idle-db"},
        [(t, 0.0) for t in stamps],
    )
    put(
        "AWS/RDS",
        "DatabaseConnections",
        {"DBInstanceIdentifier": "used-db"},
        [(t, 1.0 if t == stamps[5] else 0.0) for t in stamps],
    )
    put("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": "new-db"},
        [(t, 0.0) for t in stamps[:3]])  # fmt: skip
    report = scanner.run([OWN], Query())
    assert flagged(report, RDS_NO_CONNECTIONS) == {"idle-db"}
    assert report.no_data[RDS_NO_CONNECTIONS] == 1


def test_scan_lambda_invocations_over_and_under(
    scanner: IdleScanner, clock: FrozenDateTimeFactory
) -> None:
    clock.move_to(NOW - timedelta(days=60))
    create_function("forgotten")
    create_function("nightly")
    clock.move_to(NOW - timedelta(days=5))
    create_function("fresh")
    clock.move_to(NOW)
    put("AWS/Lambda", "Invocations", {"FunctionName": "nightly"},
        [(NOW - timedelta(days=29, hours=20), 1.0)])  # fmt: skip
    put("AWS/Lambda", "Invocations", {"FunctionName": "forgotten"},
        [(NOW - timedelta(days=30, hours=1), 1.0)])  # fmt: skip
    report = scanner.run([OWN], Query())
    assert flagged(report, LAMBDA_NO_INVOCATIONS) == {"forgotten"}


def test_scan_emr_idle_over_and_under(scanner: IdleScanner) -> None:
    idle = create_emr_cluster("idle")
    short = create_emr_cluster("short")
    put(
        "AWS/ElasticMapReduce",
        "IsIdle",
        {"JobFlowId": idle},
        [(NOW - timedelta(minutes=5 * n), 1.0) for n in range(1, 8)],
    )
    put("AWS/ElasticMapReduce", "IsIdle", {"JobFlowId": short},
        [(NOW - timedelta(minutes=5 * n), 1.0 if n <= 5 else 0.0) for n in range(1, 12)])  # fmt: skip
    report = scanner.run([OWN], Query())
    assert flagged(report, EMR_IDLE) == {idle}
    (finding,) = [f for f in report.findings if f.rule == EMR_IDLE]
    assert finding.since == NOW - timedelta(minutes=35)


def test_scan_batches_all_rules(scanner: IdleScanner) -> None:
    run_instances(40)
    create_db("idle-db")
    create_function("forgotten")
    report = scanner.run([OWN], Query())
    calls = scanner.factory.counter.calls
    assert calls["cloudwatch.GetMetricData"] == 1
    assert calls.get("cloudwatch.GetMetricStatistics", 0) == 0
    assert report.metric_requests == 1
    assert report.scanned["ec2"] == 40


def test_scan_failed_metrics_keeps_other_rules(
    scanner: IdleScanner, monkeypatch: pytest.MonkeyPatch
) -> None:
    (instance,) = run_instances()
    put_daily_usage(instance, cpu=1.0, network_bytes=1 * MB)
    volume = ec2().create_volume(Size=10, AvailabilityZone="us-east-1a", VolumeType="gp2")

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    monkeypatch.setattr(metrics_module, "fetch_metric_data", denied)
    report = scanner.run([OWN], Query())
    assert flagged(report, EBS_UNATTACHED) == {volume["VolumeId"]}
    assert flagged(report, EC2_LOW_UTILIZATION) == set()
    assert report.no_data == {EC2_LOW_UTILIZATION: 1}
    assert [w.message for w in report.warnings] == [
        "Missing IAM permission cloudwatch:GetMetricData in account own, region us-east-1"
    ]


def test_scan_filters_environment_and_accounts(scanner: IdleScanner) -> None:
    prod = account_session("111111111111")
    staging = account_session("222222222222")
    (prod_idle,) = run_instances(1, prod, Environment="production")
    (prod_dev,) = run_instances(1, prod, Environment="development")
    (staging_idle,) = run_instances(1, staging, Environment="production")
    for instance_id, session in ((prod_idle, prod), (prod_dev, prod), (staging_idle, staging)):
        put_daily_usage(instance_id, cpu=1.0, network_bytes=1 * MB, session=session)
    report = scanner.run([PROD, STAGING], Query(environment="production"))
    assert flagged(report, EC2_LOW_UTILIZATION) == {prod_idle, staging_idle}
    assert {f.account for f in report.findings} == {"prod", "staging"}
    only_prod = scanner.run([PROD, STAGING], Query(accounts=frozenset({"prod"})))
    assert flagged(only_prod, EC2_LOW_UTILIZATION) == {prod_idle, prod_dev}


def test_scan_returns_findings_and_warnings(scanner: IdleScanner) -> None:
    ec2().create_volume(Size=10, AvailabilityZone="us-east-1a", VolumeType="gp2")
    findings, warnings = scanner.scan([OWN], Query())
    assert [f.rule for f in findings] == [EBS_UNATTACHED]
    assert warnings == []


@pytest.fixture
def backends(scanner: IdleScanner) -> Backends:
    inventory = Inventory(scanner.factory, scanner.fanout, scanner.regions)
    return Backends(inventory=inventory, idle=scanner)


def test_idle_command_groups_rules_by_cost(backends: Backends) -> None:
    (instance,) = run_instances(1, Name="<!here> web")
    put_daily_usage(instance, cpu=1.0, network_bytes=1 * MB)
    ec2().create_volume(Size=10, AvailabilityZone="us-east-1a", VolumeType="gp2")
    ctx = ChannelContext(channel_id="C0TEST0001", accounts=(OWN,))
    reply = handle_text("idle", ctx, backends)
    sections = [b["text"]["text"] for b in reply.blocks if b["type"] == "section"]
    titles = tuple(f"*{title}*" for title in RULE_TITLES.values())
    headings = [text for text in sections if text.startswith(titles)]
    assert headings == [
        "*EC2 instances with low utilization* (1) · ~$60.74/month",
        "*Unattached EBS volumes* (1) · ~$1.00/month",
    ]
    text = json.dumps(reply.blocks)
    assert "&lt;!here&gt; web" in text
    assert "<!here>" not in text
    assert reply.text.startswith("2 idle resources")
    assert reply.files == []


def test_idle_command_attaches_csv(backends: Backends) -> None:
    for size in range(1, 13):
        ec2().create_volume(Size=size, AvailabilityZone="us-east-1a", VolumeType="gp3")
    ctx = ChannelContext(channel_id="C0TEST0001", accounts=(OWN,))
    reply = handle_text("idle", ctx, backends)
    assert len(reply.blocks) <= MAX_BLOCKS
    assert all(
        len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in reply.blocks if b["type"] == "section"
    )
    assert "…and 4 more in the attached CSV file." in json.dumps(reply.blocks, ensure_ascii=False)
    (attachment,) = reply.files
    rows = list(csv.DictReader(io.StringIO(attachment.content.decode())))
    assert len(rows) == 12
    assert rows[0]["estimated_monthly_usd"] == "0.96"
    assert rows[0]["key"].startswith("own/us-east-1/ebs/vol-")


def test_idle_command_rejects_state_filter(backends: Backends) -> None:
    ctx = ChannelContext(channel_id="C0TEST0001", accounts=(OWN,))
    reply = handle_text("idle state=stopped", ctx, backends)
    assert "takes no `state=` filter" in reply.text


def test_idle_command_reports_nothing_idle(backends: Backends) -> None:
    ctx = ChannelContext(channel_id="C0TEST0001", accounts=(OWN,))
    reply = handle_text("idle production", ctx, backends)
    assert reply.text == "No idle resources among the 0 resources scanned."
    assert "Environment=production" in json.dumps(reply.blocks)
