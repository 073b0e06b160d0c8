"""CloudWatch data for the demo: moto publishes no metrics by itself, so the demo puts them.

seed_metrics discovers the demo's instances, databases, functions and clusters with
describe calls in each account and region, then puts plausible metric data through
put_metric_data: some resources busy, some idle, one instance with the CloudWatch
agent's memory metric. It only calls AWS through boto3, so it must run while moto
intercepts the calls (the demo's embedded AWS).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3

logger = logging.getLogger(__name__)

SEED_ROLE = "AwsMonitorDemoSeed"
DEMO_REGIONS = ("us-east-1", "eu-west-1")
# Environment tag values whose resources the demo makes idle.
IDLE_ENVIRONMENTS = frozenset({"staging", "development"})
# Hourly data covers the last day (the 1h and 24h views). Older days get one aggregate each.
HOURLY_SPAN = timedelta(hours=24)
EC2_DAYS = 14
LAMBDA_DAYS = 30
RDS_DAYS = 8
# Basic monitoring samples EC2 every 5 minutes, 12 times an hour.
SAMPLES_PER_HOUR = 12
# put_metric_data accepts up to 1,000 datums a request.
MAX_DATUMS_PER_REQUEST = 1000
MB = 1_000_000

METRICS_TOUR = [
    "idle",
    "ec2 prod metrics",
    "metrics orders-db 24h",
    "metrics orders-db-stg 7d",
    "metrics ingest-01 24h",
    "metrics prod-main 1h",
    "metrics analytics 1h",
]


@dataclass
class SeededMetrics:
    """Ids of the resources that received metric data, for the demo tour."""

    busy_instances: list[str] = field(default_factory=list)
    idle_instances: list[str] = field(default_factory=list)
    memory_instance: str | None = None
    databases: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    emr_clusters: list[str] = field(default_factory=list)
    eks_clusters: list[str] = field(default_factory=list)
    datums: int = 0


def metrics_tour(seeded: SeededMetrics) -> list[str]:
    """Return METRICS_TOUR plus commands for the seeded instance and EMR cluster ids."""
    steps = list(METRICS_TOUR)
    if seeded.memory_instance:
        steps.insert(2, f"metrics {seeded.memory_instance} 24h")
    if seeded.idle_instances:
        steps.insert(3, f"metrics {seeded.idle_instances[0]} 7d")
    if seeded.emr_clusters:
        steps.append(f"metrics {seeded.emr_clusters[0]} 1h")
    return steps


def seed_session(account_id: str) -> boto3.Session:
    """Open a session in `account_id` through moto's assume_role, whose credentials land there."""
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{SEED_ROLE}", RoleSessionName="demo-metrics"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def seed_metrics(
    account_ids: dict[str, str],
    now: datetime,
    regions: Sequence[str] = DEMO_REGIONS,
) -> SeededMetrics:
    """Put demo metric data for every instance, DB instance, function and cluster found.

    `account_ids` maps account names to ids; `now` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("seed_metrics needs a timezone-aware `now`")
    seeded = SeededMetrics()
    for name, account_id in sorted(account_ids.items()):
        session = seed_session(account_id)
        for region in regions:
            writer = MetricWriter(session.client("cloudwatch", region_name=region))
            _seed_instances(session, region, now, writer, seeded)
            _seed_databases(session, region, now, writer, seeded)
            _seed_functions(session, region, now, writer, seeded)
            _seed_eks(session, region, now, writer, seeded)
            _seed_emr(session, region, now, writer, seeded)
            writer.flush()
            seeded.datums += writer.written
        logger.info("Seeded demo metrics for account %s (%s)", name, account_id)
    return seeded


class MetricWriter:
    """Buffer of datums per namespace, sent in put_metric_data requests of at most 1,000."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.written = 0

    def add(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        timestamp: datetime,
        unit: str,
        total: float,
        samples: int = 1,
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        """Add one aggregated datum: `samples` values summing to `total`."""
        average = total / samples
        datum = {
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": timestamp,
            "Unit": unit,
            "StatisticValues": {
                "SampleCount": float(samples),
                "Sum": float(total),
                "Minimum": float(average if low is None else low),
                "Maximum": float(average if high is None else high),
            },
        }
        batch = self.pending.setdefault(namespace, [])
        batch.append(datum)
        if len(batch) >= MAX_DATUMS_PER_REQUEST:
            self._send(namespace)

    def flush(self) -> None:
        for namespace in list(self.pending):
            self._send(namespace)

    def _send(self, namespace: str) -> None:
        batch = self.pending.pop(namespace, [])
        if batch:
            self.client.put_metric_data(Namespace=namespace, MetricData=batch)
            self.written += len(batch)


def variation(resource_id: str, salt: str) -> float:
    """Return a stable number in [0, 1) per resource and salt, so each demo run looks the same."""
    return (zlib.crc32(f"{resource_id}/{salt}".encode()) % 1000) / 1000


def hours(now: datetime) -> Iterator[datetime]:
    """Yield the start of each of the last 24 hours, oldest first."""
    for index in range(int(HOURLY_SPAN / timedelta(hours=1)), 0, -1):
        yield now - timedelta(hours=index)


def older_days(now: datetime, days: int) -> Iterator[datetime]:
    """Yield one time per day for the days before the hourly span, oldest first."""
    for index in range(days, 1, -1):
        yield now - timedelta(days=index) + timedelta(hours=12)


def _tag(tags: list[dict[str, str]] | None, key: str) -> str | None:
    return next((tag.get("Value") for tag in tags or [] if tag.get("Key") == key), None)


def _seed_instances(
    session: boto3.Session, region: str, now: datetime, writer: MetricWriter, seeded: SeededMetrics
) -> None:
    ec2 = session.client("ec2", region_name=region)
    running = [
        instance
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
        )
        for reservation in page.get("Reservations", [])
        for instance in reservation.get("Instances", [])
    ]
    for instance in sorted(running, key=lambda raw: raw["InstanceId"]):
        instance_id = instance["InstanceId"]
        tags = instance.get("Tags")
        idle = _tag(tags, "Name") is None or _tag(tags, "Environment") in IDLE_ENVIRONMENTS
        (seeded.idle_instances if idle else seeded.busy_instances).append(instance_id)
        _put_instance(writer, instance_id, now, idle)
        if not idle and seeded.memory_instance is None:
            seeded.memory_instance = instance_id
            _put_agent_memory(writer, instance_id, instance.get("InstanceType", "unknown"), now)


def _put_instance(writer: MetricWriter, instance_id: str, now: datetime, idle: bool) -> None:
    dims = {"InstanceId": instance_id}
    base_cpu = (
        1.5 + 2 * variation(instance_id, "cpu") if idle else 30 + 35 * variation(instance_id, "cpu")
    )
    hourly_net = (40_000 if idle else 40 * MB) * (1 + variation(instance_id, "net"))
    for hour in hours(now):
        # Busy instances peak in the afternoon (UTC) and quieten at night.
        load = 1.0 if idle else 0.6 + 0.8 * (12 <= hour.hour <= 18)
        cpu = base_cpu * load
        writer.add(
            "AWS/EC2",
            "CPUUtilization",
            dims,
            hour,
            "Percent",
            cpu * SAMPLES_PER_HOUR,
            SAMPLES_PER_HOUR,
            low=cpu * 0.7,
            high=min(100.0, cpu * 1.6),
        )
        for metric in ("NetworkIn", "NetworkOut"):
            writer.add("AWS/EC2", metric, dims, hour, "Bytes", hourly_net * load, SAMPLES_PER_HOUR)
        if not idle:
            writer.add(
                "AWS/EC2", "DiskReadBytes", dims, hour, "Bytes", 3 * MB * load, SAMPLES_PER_HOUR
            )
            writer.add(
                "AWS/EC2", "DiskWriteBytes", dims, hour, "Bytes", 9 * MB * load, SAMPLES_PER_HOUR
            )
    samples_per_day = SAMPLES_PER_HOUR * 24
    for day in older_days(now, EC2_DAYS):
        writer.add(
            "AWS/EC2",
            "CPUUtilization",
            dims,
            day,
            "Percent",
            base_cpu * samples_per_day,
            samples_per_day,
            low=base_cpu * 0.5,
            high=min(100.0, base_cpu * 2),
        )
        for metric in ("NetworkIn", "NetworkOut"):
            writer.add("AWS/EC2", metric, dims, day, "Bytes", hourly_net * 24, samples_per_day)


def _put_agent_memory(
    writer: MetricWriter, instance_id: str, instance_type: str, now: datetime
) -> None:
    # The agent's default configuration appends InstanceType (and ImageId) to InstanceId.
    dims = {"InstanceId": instance_id, "InstanceType": instance_type}
    for hour in hours(now):
        used = 55 + 15 * (12 <= hour.hour <= 18) + 5 * variation(instance_id, hour.isoformat())
        writer.add(
            "CWAgent",
            "mem_used_percent",
            dims,
            hour,
            "Percent",
            used * 6,
            6,
            low=used - 3,
            high=used + 4,
        )


def _seed_databases(
    session: boto3.Session, region: str, now: datetime, writer: MetricWriter, seeded: SeededMetrics
) -> None:
    rds = session.client("rds", region_name=region)
    databases = [
        database
        for page in rds.get_paginator("describe_db_instances").paginate()
        for database in page.get("DBInstances", [])
    ]
    for database in databases:
        name = database["DBInstanceIdentifier"]
        idle = _tag(database.get("TagList"), "Environment") in IDLE_ENVIRONMENTS
        seeded.databases.append(name)
        _put_database(writer, name, database.get("AllocatedStorage", 100), now, idle)


def _put_database(
    writer: MetricWriter, name: str, storage_gib: int, now: datetime, idle: bool
) -> None:
    dims = {"DBInstanceIdentifier": name}
    free_storage = storage_gib * 1024**3 * (0.35 + 0.3 * variation(name, "disk"))
    for hour in hours(now):
        busy_hour = 12 <= hour.hour <= 18
        connections = 0.0 if idle else 25 + 30 * busy_hour
        cpu = 2.0 if idle else 20 + 25 * busy_hour
        writer.add(
            "AWS/RDS",
            "DatabaseConnections",
            dims,
            hour,
            "Count",
            connections * 60,
            60,
            low=connections * 0.6,
            high=connections * 1.3,
        )
        writer.add(
            "AWS/RDS",
            "CPUUtilization",
            dims,
            hour,
            "Percent",
            cpu * 60,
            60,
            low=cpu * 0.7,
            high=cpu * 1.5,
        )
        writer.add("AWS/RDS", "FreeStorageSpace", dims, hour, "Bytes", free_storage)
        writer.add("AWS/RDS", "FreeableMemory", dims, hour, "Bytes", (6 if idle else 2.5) * 1024**3)
        latency = 0.0008 if idle else 0.002 + 0.004 * busy_hour
        writer.add("AWS/RDS", "ReadLatency", dims, hour, "Seconds", latency)
        writer.add("AWS/RDS", "WriteLatency", dims, hour, "Seconds", latency * 1.8)
    for day in older_days(now, RDS_DAYS):
        connections = 0.0 if idle else 35.0
        writer.add(
            "AWS/RDS",
            "DatabaseConnections",
            dims,
            day,
            "Count",
            connections * 1440,
            1440,
            low=0.0 if idle else 12.0,
            high=connections * 1.8,
        )


def _seed_functions(
    session: boto3.Session, region: str, now: datetime, writer: MetricWriter, seeded: SeededMetrics
) -> None:
    client = session.client("lambda", region_name=region)
    names = sorted(
        function["FunctionName"]
        for page in client.get_paginator("list_functions").paginate()
        for function in page.get("Functions", [])
    )
    for index, name in enumerate(names):
        seeded.functions.append(name)
        # Every fourth function gets no invocations: Lambda publishes nothing for those.
        if index % 4 == 3:
            continue
        _put_function(writer, name, now)


def _put_function(writer: MetricWriter, name: str, now: datetime) -> None:
    dims = {"FunctionName": name}
    rate = 20 + int(200 * variation(name, "rate"))
    for hour in hours(now):
        invocations = rate * (2 if 12 <= hour.hour <= 18 else 1)
        writer.add(
            "AWS/Lambda",
            "Invocations",
            dims,
            hour,
            "Count",
            invocations,
            invocations,
            low=1.0,
            high=1.0,
        )
        errors = invocations // 50 if variation(name, hour.isoformat()) > 0.7 else 0
        if errors:
            writer.add(
                "AWS/Lambda", "Errors", dims, hour, "Count", errors, errors, low=1.0, high=1.0
            )
        duration = 80 + 400 * variation(name, "duration")
        writer.add(
            "AWS/Lambda",
            "Duration",
            dims,
            hour,
            "Milliseconds",
            duration * invocations,
            invocations,
            low=duration * 0.4,
            high=duration * 3,
        )
    for day in older_days(now, LAMBDA_DAYS):
        writer.add(
            "AWS/Lambda", "Invocations", dims, day, "Count", rate * 30, rate * 30, low=1.0, high=1.0
        )


def _seed_eks(
    session: boto3.Session, region: str, now: datetime, writer: MetricWriter, seeded: SeededMetrics
) -> None:
    client = session.client("eks", region_name=region)
    names = sorted(
        name
        for page in client.get_paginator("list_clusters").paginate()
        for name in page.get("clusters", [])
    )
    for index, name in enumerate(names):
        seeded.eks_clusters.append(name)
        # Only the first cluster of each account and region runs Container Insights.
        if index > 0 or "analytics" in name:
            continue
        dims = {"ClusterName": name}
        for hour in hours(now):
            nodes = 6.0 if 12 <= hour.hour <= 18 else 4.0
            writer.add("ContainerInsights", "cluster_node_count", dims, hour, "Count", nodes)
            writer.add("ContainerInsights", "cluster_failed_node_count", dims, hour, "Count", 0.0)
            writer.add(
                "ContainerInsights",
                "namespace_number_of_running_pods",
                dims,
                hour,
                "Count",
                nodes * 11,
            )


def _seed_emr(
    session: boto3.Session, region: str, now: datetime, writer: MetricWriter, seeded: SeededMetrics
) -> None:
    client = session.client("emr", region_name=region)
    clusters = [
        cluster
        for page in client.get_paginator("list_clusters").paginate(
            ClusterStates=["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]
        )
        for cluster in page.get("Clusters", [])
    ]
    for cluster in clusters:
        cluster_id = cluster["Id"]
        seeded.emr_clusters.append(cluster_id)
        dims = {"JobFlowId": cluster_id}
        # Busy until 55 minutes ago and idle since, like a cluster left running after its nightly job.
        for minutes in range(5, 6 * 60 + 1, 5):
            stamp = now - timedelta(minutes=minutes)
            idle = minutes <= 55
            writer.add("AWS/ElasticMapReduce", "IsIdle", dims, stamp, "None", 1.0 if idle else 0.0)
            writer.add(
                "AWS/ElasticMapReduce", "AppsRunning", dims, stamp, "Count", 0.0 if idle else 3.0
            )
