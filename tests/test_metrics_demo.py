"""Demo metric seeding: discovered resources get busy or idle data that the bot then reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from bot.demo_metrics import METRICS_TOUR, SeededMetrics, metrics_tour, seed_metrics
from services.accounts import Account
from services.fanout import FanOut
from services.idle import IdleScanner
from services.idle_rules import EC2_LOW_UTILIZATION, EMR_IDLE, RDS_NO_CONNECTIONS
from services.lookup import ResourceLocator
from services.metrics import MetricsService
from services.models import Query
from services.regions import RegionResolver
from services.resource_metrics import ResourceMetricsService
from services.sessions import AwsSettings, SessionFactory
from tests.conftest import account_session

NOW = datetime.now(UTC).replace(microsecond=0)
PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")


@pytest.fixture
def services(aws: None) -> Iterator[tuple[IdleScanner, ResourceMetricsService]]:
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    regions = RegionResolver(factory, ("us-east-1",))
    metrics = MetricsService(factory, fanout)
    yield (
        IdleScanner(factory, fanout, regions, metrics, clock=lambda: NOW),
        ResourceMetricsService(metrics, ResourceLocator(factory, fanout, regions), lambda: NOW),
    )
    fanout.shutdown()


def launch(session: boto3.Session, **tags: str) -> str:
    params: dict[str, object] = {"ImageId": "ami-12c6146b", "MinCount": 1, "MaxCount": 1}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    ec2 = session.client("ec2", region_name="us-east-1")
    return str(ec2.run_instances(**params)["Instances"][0]["InstanceId"])


def create_db(session: boto3.Session, name: str, environment: str) -> None:
    session.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.medium",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
        Tags=[{"Key": "Environment", "Value": environment}],
    )


def test_seed_metrics_busy_and_idle(services: tuple[IdleScanner, ResourceMetricsService]) -> None:
    scanner, resource_metrics = services
    prod, staging = account_session("111111111111"), account_session("222222222222")
    busy = launch(prod, Name="web", Environment="production")
    untagged = launch(prod)
    staging_web = launch(staging, Name="web-stg", Environment="staging")
    create_db(prod, "orders-db", "production")
    create_db(staging, "orders-db-stg", "staging")
    cluster = (
        staging.client("emr", region_name="us-east-1")
        .run_job_flow(
            Name="nightly",
            ReleaseLabel="emr-6.10.0",
            Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )
        .get("JobFlowId")
    )

    seeded = seed_metrics(
        {"prod": "111111111111", "staging": "222222222222"}, NOW, regions=("us-east-1",)
    )

    assert seeded.busy_instances == [busy]
    assert sorted(seeded.idle_instances) == sorted([untagged, staging_web])
    assert seeded.memory_instance == busy
    assert seeded.emr_clusters == [cluster]
    report = scanner.run([PROD, STAGING], Query())
    low = {f.resource_id for f in report.findings if f.rule == EC2_LOW_UTILIZATION}
    assert low == {untagged, staging_web}
    assert {f.resource_id for f in report.findings if f.rule == RDS_NO_CONNECTIONS} == {
        "orders-db-stg"
    }
    assert {f.resource_id for f in report.findings if f.rule == EMR_IDLE} == {cluster}
    assert report.no_data == {}

    answer = resource_metrics.describe([PROD, STAGING], busy, timedelta(hours=24))
    summaries = {s.spec.name: s for s in answer.resources[0].summaries}
    assert summaries["mem_used_percent"].has_data
    assert summaries["CPUUtilization"].average is not None
    assert summaries["CPUUtilization"].average > 10


def test_seed_metrics_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seed_metrics({}, datetime(2026, 3, 10, 12))


def test_metrics_tour_adds_seeded_ids() -> None:
    seeded = SeededMetrics(idle_instances=["i-idle"], memory_instance="i-mem", emr_clusters=["j-1"])
    steps = metrics_tour(seeded)
    assert steps[0] == "idle"
    assert "metrics i-mem 24h" in steps
    assert "metrics i-idle 7d" in steps
    assert steps[-1] == "metrics j-1 1h"
    assert set(METRICS_TOUR) <= set(steps)
