"""Idle-resource scan across a channel's accounts and regions: list, read metrics, judge.

The rules and their thresholds are in services.idle_rules. The scan lists EC2
instances, EBS volumes, RDS instances, Lambda functions and EMR clusters on the
shared fan-out, reads every metric the rules need in batched GetMetricData calls,
and returns findings plus warnings for the parts that failed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services import awslambda, ec2, emr, rds
from services.accounts import Account
from services.fanout import FanOut, Gathered, Outcome, ScanWarning, Task
from services.idle_rules import (
    EBS_ON_STOPPED_INSTANCE,
    EBS_UNATTACHED,
    EC2_LOW_UTILIZATION,
    EC2_STOPPED,
    EMR_IDLE,
    LAMBDA_NO_INVOCATIONS,
    NO_DATA,
    RDS_NO_CONNECTIONS,
    IdleFinding,
    IdleThresholds,
    Judgement,
    by_rule,
    judge_ebs_volume,
    judge_ec2_low_utilization,
    judge_ec2_stopped,
    judge_emr_idle,
    judge_lambda_no_invocations,
    judge_rds_no_connections,
    total_cost,
)
from services.metrics import (
    MetricQuery,
    MetricRequest,
    MetricResults,
    MetricSeries,
    MetricsService,
    MetricWindow,
    utc_now,
)
from services.models import Query, Resource
from services.query import ResourceType, list_task
from services.regions import RegionResolver
from services.sessions import SessionFactory

logger = logging.getLogger(__name__)

DAY_SECONDS = 86_400
# The EMR window covers at least this much, so an idle stretch shows where it began.
MIN_EMR_WINDOW = timedelta(hours=6)

__all__ = [
    "IdleFinding",
    "IdleReport",
    "IdleScanner",
    "IdleThresholds",
    "by_rule",
    "total_cost",
]


def _parse_instance(raw: dict[str, Any], account: Account, region: str) -> Resource:
    resource = ec2.INSTANCES.parse(raw, account, region)
    reason = raw.get("StateTransitionReason") or ""
    return dataclasses.replace(resource, details=(*resource.details, ("state_reason", reason)))


# The inventory's instance listing plus StateTransitionReason, which contains the stop time.
INSTANCES = dataclasses.replace(ec2.INSTANCES, parse=_parse_instance)
LISTED_TYPES: tuple[ResourceType, ...] = (
    INSTANCES,
    ec2.VOLUMES,
    rds.DB_INSTANCES,
    awslambda.FUNCTIONS,
    emr.CLUSTERS,
)


@dataclass
class IdleReport:
    """The result of one scan. `no_data` counts, per rule, the resources that CloudWatch
    had too little data to judge. `scanned` counts the listed resources per kind."""

    findings: list[IdleFinding]
    warnings: list[ScanWarning]
    accounts: list[str]
    regions: list[str]
    elapsed: float
    checked_at: datetime
    thresholds: IdleThresholds
    scanned: dict[str, int] = field(default_factory=dict)
    no_data: dict[str, int] = field(default_factory=dict)
    metric_requests: int = 0

    def by_rule(self) -> list[tuple[str, list[IdleFinding]]]:
        return by_rule(self.findings)


@dataclass(frozen=True)
class _Windows:
    daily: MetricWindow | None
    emr: MetricWindow | None


def _account_key(resource: Resource) -> tuple[str, str]:
    return (resource.account, resource.region)


class IdleScanner:
    """Idle-resource scanner, shared by the `/aws idle` command and the idle digest."""

    def __init__(
        self,
        factory: SessionFactory,
        fanout: FanOut,
        regions: RegionResolver,
        metrics: MetricsService,
        thresholds: IdleThresholds | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.factory = factory
        self.fanout = fanout
        self.regions = regions
        self.metrics = metrics
        self.thresholds = thresholds or IdleThresholds()
        self.clock = clock

    def scan(
        self, accounts: Sequence[Account], query: Query, user_id: str | None = None
    ) -> tuple[list[IdleFinding], list[ScanWarning]]:
        """Return the findings and the warnings of one scan, for callers that need no more."""
        report = self.run(accounts, query, user_id)
        return report.findings, report.warnings

    def run(
        self, accounts: Sequence[Account], query: Query, user_id: str | None = None
    ) -> IdleReport:
        """Scan the selected accounts and regions and judge every listed resource."""
        started = time.monotonic()
        now = self.clock()
        # Every state is listed: the rules themselves decide which states they judge.
        query = dataclasses.replace(query, states=frozenset())
        listed = self._list(accounts, query, user_id)
        by_name = {account.name: account for account in accounts}
        resources = [r for r in listed.items if r.account in by_name]

        windows = self._windows(resources, now)
        requests = self._metric_requests(resources, by_name, windows)
        results = self.metrics.fetch(
            [request for planned in requests.values() for request in planned.values()], user_id
        )

        findings, no_data = self._judge(resources, requests, results, windows, now)
        report = IdleReport(
            findings=[finding for _, members in by_rule(findings) for finding in members],
            warnings=[*listed.warnings, *results.warnings],
            accounts=listed.accounts,
            regions=listed.regions,
            elapsed=time.monotonic() - started,
            checked_at=now,
            thresholds=self.thresholds,
            scanned=dict(Counter(resource.kind for resource in resources)),
            no_data=dict(no_data),
            metric_requests=results.requests,
        )
        logger.info(
            "Idle scan done: accounts=%d resources=%d findings=%d warnings=%d "
            "cloudwatch_requests=%d elapsed=%.1fs",
            len(listed.accounts),
            len(resources),
            len(report.findings),
            len(report.warnings),
            results.requests,
            report.elapsed,
        )
        return report

    def _list(
        self, accounts: Sequence[Account], query: Query, user_id: str | None
    ) -> Gathered[Resource]:
        selected = [a for a in accounts if not query.accounts or a.name in query.accounts]

        def account_task(account: Account) -> Task[Resource]:
            def run() -> Outcome[Resource]:
                regions = self.regions.resolve(account, user_id)
                scanned = [r for r in regions if not query.regions or r in query.regions]
                return Outcome(
                    followups=[
                        list_task(self.factory, rtype, account, region, query, user_id)
                        for rtype in LISTED_TYPES
                        for region in scanned
                    ]
                )

            return Task(account=account, region=None, action="ec2:DescribeRegions", run=run)

        gathered = self.fanout.run([account_task(account) for account in selected])
        gathered.items.sort(key=lambda r: (r.kind, r.account, r.region, r.id))
        return gathered

    def _windows(self, resources: Sequence[Resource], now: datetime) -> _Windows:
        limits = self.thresholds
        kinds = {resource.kind for resource in resources}
        days = [
            lookback
            for kind, lookback in (
                ("ec2", limits.ec2_lookback_days),
                ("rds", limits.rds_idle_days),
                ("lambda", limits.lambda_idle_days),
            )
            if kind in kinds
        ]
        daily = None
        if days:
            daily = MetricWindow.last(timedelta(days=max(days)), now, period=DAY_SECONDS)
        emr_window = None
        if "emr" in kinds:
            duration = max(MIN_EMR_WINDOW, timedelta(minutes=2 * limits.emr_idle_minutes))
            emr_window = MetricWindow.last(duration, now)
        return _Windows(daily=daily, emr=emr_window)

    def _metric_requests(
        self,
        resources: Sequence[Resource],
        by_name: Mapping[str, Account],
        windows: _Windows,
    ) -> dict[tuple[str, str, str, str], dict[str, MetricRequest]]:
        """Build, per resource, the metric requests its rules read, keyed by metric name."""
        planned: dict[tuple[str, str, str, str], dict[str, MetricRequest]] = {}
        for resource in resources:
            account = by_name[resource.account]
            needed: list[tuple[str, str, str, str, MetricWindow | None]] = []
            if resource.kind == "ec2" and resource.state == "running":
                needed = [
                    ("AWS/EC2", "InstanceId", "CPUUtilization", "Average", windows.daily),
                    ("AWS/EC2", "InstanceId", "NetworkIn", "Sum", windows.daily),
                    ("AWS/EC2", "InstanceId", "NetworkOut", "Sum", windows.daily),
                ]
            elif resource.kind == "rds" and resource.state == "available":
                needed = [
                    (
                        "AWS/RDS",
                        "DBInstanceIdentifier",
                        "DatabaseConnections",
                        "Maximum",
                        windows.daily,
                    )
                ]
            elif resource.kind == "lambda":
                needed = [("AWS/Lambda", "FunctionName", "Invocations", "Sum", windows.daily)]
            elif resource.kind == "emr" and resource.state in ("RUNNING", "WAITING"):
                needed = [("AWS/ElasticMapReduce", "JobFlowId", "IsIdle", "Minimum", windows.emr)]
            requests = {}
            for namespace, dimension_name, metric, stat, window in needed:
                if window is None:
                    continue
                query = MetricQuery(namespace, metric, ((dimension_name, resource.id),), stat)
                requests[metric] = MetricRequest(account, resource.region, query, window)
            if requests:
                planned[(resource.kind, *_account_key(resource), resource.id)] = requests
        return planned

    def _judge(
        self,
        resources: Sequence[Resource],
        requests: Mapping[tuple[str, str, str, str], Mapping[str, MetricRequest]],
        results: MetricResults,
        windows: _Windows,
        now: datetime,
    ) -> tuple[list[IdleFinding], Counter[str]]:
        limits = self.thresholds
        instances: dict[tuple[str, str], dict[str, Resource]] = defaultdict(dict)
        for resource in resources:
            if resource.kind == "ec2":
                instances[_account_key(resource)][resource.id] = resource

        findings: list[IdleFinding] = []
        no_data: Counter[str] = Counter()

        def record(rule: str, judgement: Judgement) -> None:
            if judgement is NO_DATA:
                no_data[rule] += 1
            elif isinstance(judgement, IdleFinding):
                findings.append(judgement)

        for resource in resources:
            planned = requests.get((resource.kind, *_account_key(resource), resource.id), {})

            def series(
                metric: str, planned: Mapping[str, MetricRequest] = planned
            ) -> MetricSeries | None:
                request = planned.get(metric)
                return results.get(request) if request is not None else None

            if resource.kind == "ec2":
                record(EC2_STOPPED, judge_ec2_stopped(resource, now, limits))
                if windows.daily is not None:
                    record(
                        EC2_LOW_UTILIZATION,
                        judge_ec2_low_utilization(
                            resource,
                            series("CPUUtilization"),
                            series("NetworkIn"),
                            series("NetworkOut"),
                            windows.daily,
                            limits,
                        ),
                    )
            elif resource.kind == "ebs":
                judgement = judge_ebs_volume(
                    resource, instances[_account_key(resource)], now, limits
                )
                rule = EBS_UNATTACHED if resource.state == "available" else EBS_ON_STOPPED_INSTANCE
                record(rule, judgement)
            elif resource.kind == "rds" and windows.daily is not None:
                record(
                    RDS_NO_CONNECTIONS,
                    judge_rds_no_connections(
                        resource, series("DatabaseConnections"), windows.daily, limits
                    ),
                )
            elif resource.kind == "lambda" and windows.daily is not None:
                record(
                    LAMBDA_NO_INVOCATIONS,
                    judge_lambda_no_invocations(
                        resource, series("Invocations"), windows.daily, limits
                    ),
                )
            elif resource.kind == "emr" and windows.emr is not None:
                record(EMR_IDLE, judge_emr_idle(resource, series("IsIdle"), windows.emr, limits))
        return findings, no_data
