"""CloudWatch metric sets of each resource kind, and their summaries over a window.

Gauges (CPU, connections, latency) are read as Average, Maximum and Minimum per
period. Counters (bytes, invocations) are read as Sum per period and also totalled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from services.accounts import Account
from services.fanout import ScanWarning
from services.inventory import RESOURCE_TYPES
from services.lookup import ResourceLocator
from services.metrics import (
    MetricQuery,
    MetricRequest,
    MetricSeries,
    MetricsService,
    MetricWindow,
    utc_now,
)
from services.models import Resource

logger = logging.getLogger(__name__)

GAUGE_STATS = ("Average", "Maximum", "Minimum")
CLOUDWATCH_AGENT = "the CloudWatch agent"
CONTAINER_INSIGHTS = "Container Insights"
# A lookup by name can match in several accounts, so metrics are read for at most this many.
MAX_RESOURCES = 5


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a resource kind. `unit` is the CloudWatch unit of its values.

    `requires` names what publishes the metric when AWS does not by default.
    """

    namespace: str
    name: str
    unit: str
    counter: bool = False
    requires: str | None = None


MEMORY = MetricSpec("CWAgent", "mem_used_percent", "Percent", requires=CLOUDWATCH_AGENT)

METRIC_SETS: dict[str, tuple[MetricSpec, ...]] = {
    "ec2": (
        MetricSpec("AWS/EC2", "CPUUtilization", "Percent"),
        MEMORY,
        MetricSpec("AWS/EC2", "NetworkIn", "Bytes", counter=True),
        MetricSpec("AWS/EC2", "NetworkOut", "Bytes", counter=True),
        MetricSpec("AWS/EC2", "DiskReadBytes", "Bytes", counter=True),
        MetricSpec("AWS/EC2", "DiskWriteBytes", "Bytes", counter=True),
    ),
    "ebs": (
        MetricSpec("AWS/EBS", "VolumeReadBytes", "Bytes", counter=True),
        MetricSpec("AWS/EBS", "VolumeWriteBytes", "Bytes", counter=True),
        MetricSpec("AWS/EBS", "VolumeIdleTime", "Seconds", counter=True),
        MetricSpec("AWS/EBS", "VolumeQueueLength", "Count"),
    ),
    "rds": (
        MetricSpec("AWS/RDS", "CPUUtilization", "Percent"),
        MetricSpec("AWS/RDS", "DatabaseConnections", "Count"),
        MetricSpec("AWS/RDS", "FreeStorageSpace", "Bytes"),
        MetricSpec("AWS/RDS", "FreeableMemory", "Bytes"),
        MetricSpec("AWS/RDS", "ReadLatency", "Seconds"),
        MetricSpec("AWS/RDS", "WriteLatency", "Seconds"),
    ),
    "lambda": (
        MetricSpec("AWS/Lambda", "Invocations", "Count", counter=True),
        MetricSpec("AWS/Lambda", "Errors", "Count", counter=True),
        MetricSpec("AWS/Lambda", "Throttles", "Count", counter=True),
        MetricSpec("AWS/Lambda", "Duration", "Milliseconds"),
    ),
    "eks": (
        MetricSpec("ContainerInsights", "cluster_node_count", "Count", requires=CONTAINER_INSIGHTS),
        MetricSpec(
            "ContainerInsights", "cluster_failed_node_count", "Count", requires=CONTAINER_INSIGHTS
        ),
        MetricSpec(
            "ContainerInsights",
            "namespace_number_of_running_pods",
            "Count",
            requires=CONTAINER_INSIGHTS,
        ),
    ),
    "emr": (
        MetricSpec("AWS/ElasticMapReduce", "IsIdle", "None"),
        MetricSpec("AWS/ElasticMapReduce", "AppsRunning", "Count"),
        MetricSpec("AWS/ElasticMapReduce", "YARNMemoryAvailablePercentage", "Percent"),
    ),
}
CPU_METRICS = {"ec2": METRIC_SETS["ec2"][0], "rds": METRIC_SETS["rds"][0]}


@dataclass(frozen=True)
class MetricSummary:
    """Statistics of one metric over a window; None where the metric has no data.

    For a gauge, `average` is the mean of the per-period averages. For a counter,
    average, maximum and minimum are over the per-period sums and `total` is their sum.
    `available` is False when the CloudWatch request for it failed.
    """

    spec: MetricSpec
    average: float | None = None
    maximum: float | None = None
    minimum: float | None = None
    total: float | None = None
    datapoints: int = 0
    available: bool = True
    dimensions: tuple[tuple[str, str], ...] = ()

    @property
    def has_data(self) -> bool:
        return self.datapoints > 0


@dataclass(frozen=True)
class ResourceMetrics:
    resource: Resource
    summaries: tuple[MetricSummary, ...]


@dataclass
class MetricsAnswer:
    """The metrics of every resource found for one id, and what went wrong on the way."""

    resource_id: str
    window: MetricWindow
    resources: list[ResourceMetrics]
    warnings: list[ScanWarning]
    accounts: list[str]
    regions: list[str]
    elapsed: float
    more_matches: int = 0


def metric_dimension(kind: str) -> str:
    dimension = RESOURCE_TYPES[kind].metric_dimension
    if dimension is None:
        raise ValueError(f"Resource kind {kind} has no CloudWatch dimension")
    return dimension


def spec_queries(
    spec: MetricSpec, dimensions: tuple[tuple[str, str], ...]
) -> dict[str, MetricQuery]:
    """Return the queries that summarise one metric, by statistic."""
    stats = ("Sum",) if spec.counter else GAUGE_STATS
    return {stat: MetricQuery(spec.namespace, spec.name, dimensions, stat) for stat in stats}


def summarise(
    spec: MetricSpec,
    series: dict[str, MetricSeries | None],
    dimensions: tuple[tuple[str, str], ...] = (),
) -> MetricSummary:
    """Summarise the series of one metric. A missing series means that its batch failed."""
    if any(stat_series is None for stat_series in series.values()):
        return MetricSummary(spec, available=False, dimensions=dimensions)
    if spec.counter:
        sums = series["Sum"]
        assert sums is not None
        return MetricSummary(
            spec,
            average=sums.average(),
            maximum=sums.maximum(),
            minimum=sums.minimum(),
            total=sums.total(),
            datapoints=len(sums.values),
            dimensions=dimensions,
        )
    average, maximum, minimum = (series[stat] for stat in GAUGE_STATS)
    assert average is not None
    assert maximum is not None
    assert minimum is not None
    return MetricSummary(
        spec,
        average=average.average(),
        maximum=maximum.maximum(),
        minimum=minimum.minimum(),
        datapoints=len(average.values),
        dimensions=dimensions,
    )


class ResourceMetricsService:
    """Metric summaries for `/aws metrics ID` and the CPU column of `/aws ec2 ... metrics`."""

    def __init__(
        self,
        metrics: MetricsService,
        locator: ResourceLocator,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.metrics = metrics
        self.locator = locator
        self.clock = clock

    def describe(
        self,
        accounts: Sequence[Account],
        resource_id: str,
        duration: timedelta,
        user_id: str | None = None,
    ) -> MetricsAnswer:
        """Find the resource and summarise each metric of its kind over the last `duration`."""
        started = time.monotonic()
        window = MetricWindow.last(duration, self.clock())
        located = self.locator.locate(accounts, resource_id, user_id)
        by_name = {account.name: account for account in accounts}
        resources = located.items[:MAX_RESOURCES]
        warnings = list(located.warnings)

        plans = [
            (resource, by_name[resource.account], self._metric_plan(by_name, resource, user_id))
            for resource in resources
        ]
        requests = [
            MetricRequest(account, resource.region, query, window)
            for resource, account, plan in plans
            for spec, dimensions in plan
            for query in spec_queries(spec, dimensions).values()
        ]
        results = self.metrics.fetch(requests, user_id)
        warnings.extend(results.warnings)

        answered = []
        for resource, account, plan in plans:
            summaries = []
            for spec, dimensions in plan:
                series = {
                    stat: results.get(MetricRequest(account, resource.region, query, window))
                    for stat, query in spec_queries(spec, dimensions).items()
                }
                summaries.append(summarise(spec, series, dimensions))
            answered.append(ResourceMetrics(resource, tuple(summaries)))
        return MetricsAnswer(
            resource_id=resource_id,
            window=window,
            resources=answered,
            warnings=warnings,
            accounts=located.accounts,
            regions=located.regions,
            elapsed=time.monotonic() - started,
            more_matches=len(located.items) - len(resources),
        )

    def average_cpu(
        self,
        accounts: Sequence[Account],
        resources: Sequence[Resource],
        duration: timedelta = timedelta(hours=24),
        user_id: str | None = None,
    ) -> tuple[dict[tuple[str, str, str], float | None], list[ScanWarning]]:
        """Read the average CPU of each EC2 or RDS resource over the last `duration`.

        Keys are (account, region, id). None means no data, and other kinds are left
        out. The whole window is one period, so each resource costs one datapoint.
        """
        window = MetricWindow.last(duration, self.clock(), period=int(duration.total_seconds()))
        by_name = {account.name: account for account in accounts}
        requests: dict[tuple[str, str, str], MetricRequest] = {}
        for resource in resources:
            spec = CPU_METRICS.get(resource.kind)
            if spec is None or resource.account not in by_name:
                continue
            dimensions = ((metric_dimension(resource.kind), resource.id),)
            query = MetricQuery(spec.namespace, spec.name, dimensions, "Average")
            key = (resource.account, resource.region, resource.id)
            requests[key] = MetricRequest(by_name[resource.account], resource.region, query, window)
        results = self.metrics.fetch(requests.values(), user_id)
        averages: dict[tuple[str, str, str], float | None] = {}
        for key, request in requests.items():
            series = results.get(request)
            if series is not None:
                averages[key] = series.average()
        return averages, results.warnings

    def _metric_plan(
        self, by_name: Mapping[str, Account], resource: Resource, user_id: str | None
    ) -> list[tuple[MetricSpec, tuple[tuple[str, str], ...]]]:
        own: tuple[tuple[str, str], ...] = ((metric_dimension(resource.kind), resource.id),)
        plan = []
        for spec in METRIC_SETS.get(resource.kind, ()):
            dimensions = own
            if spec is MEMORY:
                account = by_name[resource.account]
                dimensions = self._agent_dimensions(account, resource, user_id) or own
            plan.append((spec, dimensions))
        return plan

    def _agent_dimensions(
        self, account: Account, resource: Resource, user_id: str | None
    ) -> tuple[tuple[str, str], ...] | None:
        """Find the dimension set that the CloudWatch agent publishes memory under.

        The agent often appends ImageId, InstanceType or AutoScalingGroupName to
        InstanceId, and GetMetricData matches dimension sets exactly, so the set is
        looked up with ListMetrics. Without that permission the plain InstanceId set
        is queried, and data for it shows that the agent publishes.
        """
        own = (("InstanceId", resource.id),)
        try:
            found = self.metrics.list_metrics(
                account, resource.region, MEMORY.namespace, MEMORY.name, own, user_id
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "ListMetrics for %s in %s/%s failed, so only the InstanceId dimension is "
                "queried: %s",
                resource.id,
                account.name,
                resource.region,
                exc,
            )
            return None
        if not found:
            return None
        # The shortest set is the plainest, and sorting makes the choice stable.
        return sorted(found, key=lambda dims: (len(dims), dims))[0]
