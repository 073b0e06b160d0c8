"""Metrics of one resource and the CPU column: lookup by id, metric sets, CWAgent, summaries."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time

from services.accounts import Account
from services.fanout import FanOut
from services.lookup import ResourceLocator, kinds_for_id
from services.metrics import MetricSeries, MetricsService
from services.regions import RegionResolver
from services.resource_metrics import (
    CLOUDWATCH_AGENT,
    CONTAINER_INSIGHTS,
    MEMORY,
    MetricSpec,
    MetricSummary,
    ResourceMetrics,
    ResourceMetricsService,
    summarise,
)
from services.sessions import AwsSettings, SessionFactory
from tests.conftest import account_session

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")
REGIONS = ("us-east-1", "eu-west-1")
DAY = timedelta(hours=24)


@pytest.fixture
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


@pytest.fixture
def service(frozen: None, aws: None) -> Iterator[ResourceMetricsService]:
    factory = SessionFactory(AwsSettings(max_workers=4))
    fanout = FanOut(4)
    regions = RegionResolver(factory, REGIONS)
    yield ResourceMetricsService(
        MetricsService(factory, fanout), ResourceLocator(factory, fanout, regions)
    )
    fanout.shutdown()


def prod() -> boto3.Session:
    return account_session("111111111111")


def put(
    session: boto3.Session,
    region: str,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    points: list[tuple[timedelta, float]],
) -> None:
    """Put datapoints at NOW minus each offset."""
    session.client("cloudwatch", region_name=region).put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": NOW - offset,
                "Value": value,
            }
            for offset, value in points
        ],
    )


def run_instance(session: boto3.Session, region: str = "us-east-1", **tags: str) -> str:
    ec2 = session.client("ec2", region_name=region)
    params: dict[str, Any] = {
        "ImageId": "ami-12c6146b",
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": "t3.large",
    }
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return str(ec2.run_instances(**params)["Instances"][0]["InstanceId"])


def create_db(session: boto3.Session, name: str, region: str = "us-east-1") -> None:
    session.client("rds", region_name=region).create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.medium",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )


def create_function(session: boto3.Session, name: str, region: str) -> None:
    role = session.client("iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    session.client("lambda", region_name=region).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )


def by_name(metrics: ResourceMetrics) -> dict[str, MetricSummary]:
    return {summary.spec.name: summary for summary in metrics.summaries}


def test_kinds_for_id_uses_prefix() -> None:
    assert kinds_for_id("i-0abc") == ("ec2",)
    assert kinds_for_id("vol-0abc") == ("ebs",)
    assert kinds_for_id("j-ABC123") == ("emr",)
    assert kinds_for_id("orders-db") == ("rds", "lambda", "eks")


def test_summarise_gauge_uses_average_maximum_minimum() -> None:
    spec = MetricSpec("AWS/EC2", "CPUUtilization", "Percent")
    times = (NOW - timedelta(minutes=30), NOW - timedelta(minutes=15))
    summary = summarise(
        spec,
        {
            "Average": MetricSeries(times, (20.0, 50.0)),
            "Maximum": MetricSeries(times, (30.0, 50.0)),
            "Minimum": MetricSeries(times, (10.0, 50.0)),
        },
    )
    assert summary.average == 35.0
    assert summary.maximum == 50.0
    assert summary.minimum == 10.0
    assert summary.total is None
    assert summary.datapoints == 2


def test_summarise_counter_totals_period_sums() -> None:
    spec = MetricSpec("AWS/EC2", "NetworkIn", "Bytes", counter=True)
    times = (NOW - timedelta(minutes=30), NOW - timedelta(minutes=15))
    summary = summarise(spec, {"Sum": MetricSeries(times, (2e6, 3e6))})
    assert summary.total == 5e6
    assert summary.average == 2.5e6
    assert summary.maximum == 3e6
    assert summary.minimum == 2e6


def test_summarise_no_data_is_none() -> None:
    spec = MetricSpec("AWS/EC2", "CPUUtilization", "Percent")
    empty = MetricSeries()
    summary = summarise(spec, {"Average": empty, "Maximum": empty, "Minimum": empty})
    assert summary.available
    assert not summary.has_data
    assert summary.average is None
    assert summary.minimum is None


def test_summarise_failed_batch_is_unavailable() -> None:
    spec = MetricSpec("AWS/Lambda", "Invocations", "Count", counter=True)
    summary = summarise(spec, {"Sum": None})
    assert not summary.available
    assert summary.total is None


def test_describe_ec2_gauges_and_counters(service: ResourceMetricsService) -> None:
    instance = run_instance(prod())
    dims = {"InstanceId": instance}
    # Two samples in one 15-minute period and one in another.
    put(
        prod(),
        "us-east-1",
        "AWS/EC2",
        "CPUUtilization",
        dims,
        [
            (timedelta(minutes=29), 10.0),
            (timedelta(minutes=28), 30.0),
            (timedelta(minutes=14), 50.0),
        ],
    )
    put(
        prod(),
        "us-east-1",
        "AWS/EC2",
        "NetworkIn",
        dims,
        [(timedelta(minutes=29), 1e6), (timedelta(minutes=28), 1e6), (timedelta(minutes=14), 3e6)],
    )

    answer = service.describe([PROD], instance, DAY)

    assert [m.resource.id for m in answer.resources] == [instance]
    summaries = by_name(answer.resources[0])
    cpu = summaries["CPUUtilization"]
    assert cpu.average == 35.0
    assert cpu.maximum == 50.0
    assert cpu.minimum == 10.0
    network = summaries["NetworkIn"]
    assert network.total == 5e6
    assert network.maximum == 3e6
    assert network.minimum == 2e6
    assert not summaries["DiskReadBytes"].has_data
    assert answer.window.period == 900
    assert answer.window.end == NOW
    assert answer.warnings == []


def test_describe_ec2_memory_with_agent(service: ResourceMetricsService) -> None:
    instance = run_instance(prod())
    put(
        prod(),
        "us-east-1",
        "CWAgent",
        "mem_used_percent",
        {"InstanceId": instance},
        [(timedelta(minutes=40), 61.0), (timedelta(minutes=10), 63.0)],
    )
    memory = by_name(service.describe([PROD], instance, DAY).resources[0])["mem_used_percent"]
    assert memory.has_data
    assert memory.maximum == 63.0
    assert memory.dimensions == (("InstanceId", instance),)


def test_describe_memory_appended_dimensions(service: ResourceMetricsService) -> None:
    instance = run_instance(prod())
    dims = {"InstanceId": instance, "ImageId": "ami-12c6146b", "InstanceType": "t3.large"}
    put(prod(), "us-east-1", "CWAgent", "mem_used_percent", dims, [(timedelta(minutes=10), 77.0)])
    memory = by_name(service.describe([PROD], instance, DAY).resources[0])["mem_used_percent"]
    assert memory.average == 77.0
    assert dict(memory.dimensions) == dims


def test_describe_ec2_memory_without_agent(service: ResourceMetricsService) -> None:
    instance = run_instance(prod())
    put(
        prod(),
        "us-east-1",
        "AWS/EC2",
        "CPUUtilization",
        {"InstanceId": instance},
        [(timedelta(minutes=10), 5.0)],
    )
    memory = by_name(service.describe([PROD], instance, DAY).resources[0])["mem_used_percent"]
    assert not memory.has_data
    assert memory.average is None
    assert memory.spec.requires == CLOUDWATCH_AGENT


def test_describe_memory_without_list_metrics(
    service: ResourceMetricsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = run_instance(prod())
    put(
        prod(),
        "us-east-1",
        "CWAgent",
        "mem_used_percent",
        {"InstanceId": instance},
        [(timedelta(minutes=10), 55.0)],
    )

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListMetrics")

    monkeypatch.setattr(service.metrics, "list_metrics", denied)
    memory = by_name(service.describe([PROD], instance, DAY).resources[0])["mem_used_percent"]
    assert memory.average == 55.0
    assert memory.dimensions == (("InstanceId", instance),)


def test_describe_finds_rds_by_name(service: ResourceMetricsService) -> None:
    create_db(prod(), "orders-db", "eu-west-1")
    dims = {"DBInstanceIdentifier": "orders-db"}
    put(
        prod(),
        "eu-west-1",
        "AWS/RDS",
        "DatabaseConnections",
        dims,
        [(timedelta(minutes=50), 4.0), (timedelta(minutes=20), 12.0)],
    )
    put(prod(), "eu-west-1", "AWS/RDS", "FreeableMemory", dims, [(timedelta(minutes=20), 2e9)])
    answer = service.describe([PROD], "orders-db", DAY)
    (found,) = answer.resources
    assert found.resource.kind == "rds"
    assert found.resource.region == "eu-west-1"
    summaries = by_name(found)
    assert list(summaries) == [
        "CPUUtilization",
        "DatabaseConnections",
        "FreeStorageSpace",
        "FreeableMemory",
        "ReadLatency",
        "WriteLatency",
    ]
    assert summaries["DatabaseConnections"].maximum == 12.0
    assert summaries["DatabaseConnections"].minimum == 4.0
    assert summaries["FreeableMemory"].average == 2e9


def test_describe_finds_lambda_by_name(service: ResourceMetricsService) -> None:
    create_function(prod(), "ingest", "eu-west-1")
    dims = {"FunctionName": "ingest"}
    put(
        prod(),
        "eu-west-1",
        "AWS/Lambda",
        "Invocations",
        dims,
        [(timedelta(minutes=50), 1.0), (timedelta(minutes=49), 1.0), (timedelta(minutes=5), 1.0)],
    )
    put(prod(), "eu-west-1", "AWS/Lambda", "Duration", dims, [(timedelta(minutes=5), 120.0)])
    (found,) = service.describe([PROD], "ingest", DAY).resources
    summaries = by_name(found)
    assert found.resource.kind == "lambda"
    assert summaries["Invocations"].total == 3.0
    assert summaries["Invocations"].maximum == 2.0
    assert summaries["Duration"].average == 120.0
    assert not summaries["Throttles"].has_data


def test_describe_eks_without_container_insights(service: ResourceMetricsService) -> None:
    prod().client("eks", region_name="us-east-1").create_cluster(
        name="platform", roleArn="arn:aws:iam::111111111111:role/eks", resourcesVpcConfig={}
    )
    (found,) = service.describe([PROD], "platform", DAY).resources
    assert found.resource.kind == "eks"
    assert [s.spec.name for s in found.summaries] == [
        "cluster_node_count",
        "cluster_failed_node_count",
        "namespace_number_of_running_pods",
    ]
    assert all(not s.has_data for s in found.summaries)
    assert {s.spec.requires for s in found.summaries} == {CONTAINER_INSIGHTS}


def test_describe_eks_with_container_insights(service: ResourceMetricsService) -> None:
    prod().client("eks", region_name="us-east-1").create_cluster(
        name="platform", roleArn="arn:aws:iam::111111111111:role/eks", resourcesVpcConfig={}
    )
    put(
        prod(),
        "us-east-1",
        "ContainerInsights",
        "cluster_node_count",
        {"ClusterName": "platform"},
        [(timedelta(minutes=30), 3.0), (timedelta(minutes=5), 4.0)],
    )
    (found,) = service.describe([PROD], "platform", DAY).resources
    nodes = by_name(found)["cluster_node_count"]
    assert nodes.minimum == 3.0
    assert nodes.maximum == 4.0


def test_describe_finds_emr_cluster(service: ResourceMetricsService) -> None:
    cluster = (
        prod()
        .client("emr", region_name="us-east-1")
        .run_job_flow(
            Name="nightly",
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
    put(
        prod(),
        "us-east-1",
        "AWS/ElasticMapReduce",
        "IsIdle",
        {"JobFlowId": cluster},
        [(timedelta(minutes=10), 1.0)],
    )
    (found,) = service.describe([PROD], cluster, DAY).resources
    assert found.resource.kind == "emr"
    assert found.resource.type == "emr-6.10.0"
    assert by_name(found)["IsIdle"].maximum == 1.0


def test_describe_same_name_in_two_accounts(service: ResourceMetricsService) -> None:
    create_db(prod(), "shared-db")
    create_db(account_session("222222222222"), "shared-db")
    answer = service.describe([PROD, STAGING], "shared-db", DAY)
    assert [m.resource.account for m in answer.resources] == ["prod", "staging"]
    assert answer.accounts == ["prod", "staging"]


def test_describe_unknown_id_finds_nothing(service: ResourceMetricsService) -> None:
    answer = service.describe([PROD], "i-0000000000000dead", DAY)
    assert answer.resources == []
    assert answer.warnings == []
    assert sorted(answer.regions) == sorted(REGIONS)


def test_average_cpu_per_resource(service: ResourceMetricsService) -> None:
    busy = run_instance(prod())
    silent = run_instance(prod())
    create_db(prod(), "orders-db")
    put(
        prod(),
        "us-east-1",
        "AWS/EC2",
        "CPUUtilization",
        {"InstanceId": busy},
        [(timedelta(hours=20), 40.0), (timedelta(hours=2), 60.0), (timedelta(hours=30), 99.0)],
    )
    put(
        prod(),
        "us-east-1",
        "AWS/RDS",
        "CPUUtilization",
        {"DBInstanceIdentifier": "orders-db"},
        [(timedelta(hours=1), 7.0)],
    )
    listed = (
        service.locator.locate([PROD], busy).items + service.locator.locate([PROD], silent).items
    )
    listed += service.locator.locate([PROD], "orders-db").items
    averages, warnings = service.average_cpu([PROD], listed, DAY)
    assert averages == {
        ("prod", "us-east-1", busy): 50.0,
        ("prod", "us-east-1", silent): None,
        ("prod", "us-east-1", "orders-db"): 7.0,
    }
    assert warnings == []
    assert service.metrics.factory.counter.calls["cloudwatch.GetMetricData"] == 1


def test_memory_spec_is_cwagent() -> None:
    assert (MEMORY.namespace, MEMORY.name) == ("CWAgent", "mem_used_percent")
