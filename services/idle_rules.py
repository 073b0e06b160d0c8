"""Idle-resource rules: each judges one resource from its description and metrics.

A rule returns an IdleFinding, None when the resource is in use, or NO_DATA when
CloudWatch has too little data to judge it. The defaults of IdleThresholds follow
AWS Trusted Advisor where it has a matching check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services import pricing
from services.metrics import MetricSeries, MetricWindow
from services.models import Resource

EC2_LOW_UTILIZATION = "ec2-low-utilization"
EC2_STOPPED = "ec2-stopped"
EBS_UNATTACHED = "ebs-unattached"
EBS_ON_STOPPED_INSTANCE = "ebs-on-stopped-instance"
RDS_NO_CONNECTIONS = "rds-no-connections"
LAMBDA_NO_INVOCATIONS = "lambda-no-invocations"
EMR_IDLE = "emr-idle"
RULES = (
    EC2_LOW_UTILIZATION,
    EC2_STOPPED,
    EBS_UNATTACHED,
    EBS_ON_STOPPED_INSTANCE,
    RDS_NO_CONNECTIONS,
    LAMBDA_NO_INVOCATIONS,
    EMR_IDLE,
)

BYTES_PER_MB = 1_000_000
# CloudWatch keeps hourly data for 455 days, so no rule can look back further.
MAX_LOOKBACK_DAYS = 455
DAY = timedelta(days=1)
# A latest IsIdle datapoint older than this many periods does not describe the cluster now.
EMR_MAX_LAG_PERIODS = 3
# StateTransitionReason of a stopped instance, e.g. "User initiated (2024-05-01 10:00:00 GMT)".
_STOP_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


@dataclass(frozen=True)
class IdleThresholds:
    """Thresholds of the idle rules.

    The EC2 defaults are those of Trusted Advisor's "Low Utilization Amazon EC2
    Instances" check: daily average CPU of at most 10% and network I/O (in plus out)
    of at most 5 MB (10^6 bytes) on at least 4 of the last 14 days. The RDS default
    matches its "Amazon RDS Idle DB Instances" check (no connection in 7 days), and its
    EBS check also flags unattached volumes. Trusted Advisor has no check for stopped
    instances, Lambda or EMR, so those defaults are this project's choice.
    """

    ec2_cpu_percent: float = 10.0
    ec2_network_mb: float = 5.0
    ec2_low_days: int = 4
    ec2_lookback_days: int = 14
    ec2_stopped_days: int = 30
    rds_idle_days: int = 7
    lambda_idle_days: int = 30
    emr_idle_minutes: int = 30

    def __post_init__(self) -> None:
        for name in ("ec2_lookback_days", "rds_idle_days", "lambda_idle_days"):
            if not 1 <= getattr(self, name) <= MAX_LOOKBACK_DAYS:
                raise ValueError(
                    f"idle.{name} must be 1 to {MAX_LOOKBACK_DAYS} days, because CloudWatch "
                    f"keeps metrics for {MAX_LOOKBACK_DAYS} days, but got {getattr(self, name)}"
                )
        if not 1 <= self.ec2_low_days <= self.ec2_lookback_days:
            raise ValueError(
                f"idle.ec2_low_days must be 1 to ec2_lookback_days ({self.ec2_lookback_days}), "
                f"but got {self.ec2_low_days}"
            )
        if self.emr_idle_minutes < 5:
            raise ValueError(
                "idle.emr_idle_minutes must be at least 5, the period of EMR's IsIdle metric, "
                f"but got {self.emr_idle_minutes}"
            )


@dataclass(frozen=True)
class IdleFinding:
    """One idle resource: which rule flagged it, why, since when, and its estimated cost.

    `since_label` names what `since` is, e.g. "stopped at" or "launched at".
    `monthly_cost` is an estimate in USD from services.pricing, None where no price is
    known, and `cost_note` says how it was estimated or why there is none.
    """

    rule: str
    kind: str
    resource_id: str
    account: str
    region: str
    reason: str
    since: datetime | None
    since_label: str
    monthly_cost: Decimal | None
    cost_note: str
    name: str | None = None
    resource_type: str | None = None
    account_id: str | None = None

    @property
    def key(self) -> str:
        """Stable id for snoozing: account/region/kind/id/rule."""
        return "/".join((self.account, self.region, self.kind, self.resource_id, self.rule))


class NoData:
    """Marker returned by a rule that has too little CloudWatch data to judge."""

    def __repr__(self) -> str:
        return "NO_DATA"


NO_DATA = NoData()
Judgement = IdleFinding | NoData | None


def _finding(
    rule: str,
    resource: Resource,
    reason: str,
    since: datetime | None,
    since_label: str,
    monthly_cost: Decimal | None,
    cost_note: str,
) -> IdleFinding:
    return IdleFinding(
        rule=rule,
        kind=resource.kind,
        resource_id=resource.id,
        account=resource.account,
        region=resource.region,
        reason=reason,
        since=since,
        since_label=since_label,
        monthly_cost=monthly_cost,
        cost_note=cost_note,
        name=resource.name,
        resource_type=resource.type,
        account_id=resource.account_id,
    )


def points_since(series: MetricSeries, start: datetime) -> list[tuple[datetime, float]]:
    return [(timestamp, value) for timestamp, value in series.points() if timestamp >= start]


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "-") else None
    except ValueError:
        return None


def _format_number(value: float) -> str:
    return f"{value:g}"


def stop_time(resource: Resource) -> tuple[datetime | None, str]:
    """Return when a stopped instance stopped, and a label that names where that came from.

    The time comes from StateTransitionReason. When the reason has no time, LaunchTime
    is used, because it is the last start and so the earliest the instance can have stopped.
    """
    match = _STOP_TIME.search(resource.detail("state_reason") or "")
    if match:
        return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC), (
            "stopped at"
        )
    if resource.created is not None:
        return resource.created.astimezone(UTC), "launched at"
    return None, "stop time unknown"


def parse_lambda_time(text: str | None) -> datetime | None:
    """Parse Lambda's LastModified, e.g. 2024-05-01T10:00:00.000+0000, as UTC."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    offset = re.search(r"([+-])(\d{2}):?(\d{2})$", text)
    if offset is None:
        return moment.replace(tzinfo=UTC)
    sign = 1 if offset.group(1) == "+" else -1
    shift = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
    return (moment - sign * shift).replace(tzinfo=UTC)


def judge_ec2_low_utilization(
    instance: Resource,
    cpu: MetricSeries | None,
    network_in: MetricSeries | None,
    network_out: MetricSeries | None,
    window: MetricWindow,
    thresholds: IdleThresholds,
) -> Judgement:
    """Flag a running instance whose daily CPU and network I/O were low on enough days.

    `window` has daily periods. Only its last `ec2_lookback_days` days count, and a
    day counts only when it has CPU, NetworkIn and NetworkOut data.
    """
    if instance.state != "running":
        return None
    if cpu is None or network_in is None or network_out is None:
        return NO_DATA
    start = window.end - thresholds.ec2_lookback_days * DAY
    cpu_by_day = dict(points_since(cpu, start))
    in_by_day = dict(network_in.points())
    out_by_day = dict(network_out.points())
    days = [day for day in cpu_by_day if day in in_by_day and day in out_by_day]
    if not days:
        return NO_DATA
    network_limit = thresholds.ec2_network_mb * BYTES_PER_MB
    low_days = [
        day
        for day in days
        if cpu_by_day[day] <= thresholds.ec2_cpu_percent
        and in_by_day[day] + out_by_day[day] <= network_limit
    ]
    if len(low_days) < thresholds.ec2_low_days:
        return None
    highest_cpu = max(cpu_by_day[day] for day in low_days)
    reason = (
        f"Daily average CPU ≤ {_format_number(thresholds.ec2_cpu_percent)}% and network I/O "
        f"≤ {_format_number(thresholds.ec2_network_mb)} MB on {len(low_days)} of the last "
        f"{thresholds.ec2_lookback_days} days ({len(days)} days with data; highest daily "
        f"CPU on those days {highest_cpu:.1f}%)"
    )
    cost = pricing.ec2_monthly(instance.type)
    note = (
        f"{instance.type} on-demand Linux price"
        if cost is not None
        else f"no list price for instance type {instance.type or 'unknown'}"
    )
    return _finding(
        EC2_LOW_UTILIZATION, instance, reason, min(low_days), "first low day", cost, note
    )


def judge_ec2_stopped(instance: Resource, now: datetime, thresholds: IdleThresholds) -> Judgement:
    """Flag an instance stopped for more than `ec2_stopped_days` days."""
    if instance.state != "stopped":
        return None
    stopped, label = stop_time(instance)
    if stopped is None:
        return NO_DATA
    stopped_for = now - stopped
    if stopped_for <= thresholds.ec2_stopped_days * DAY:
        return None
    reason = f"Stopped for {stopped_for.days} days, more than {thresholds.ec2_stopped_days}"
    if label != "stopped at":
        reason += ", counted from the launch time because the stop time is not recorded"
    return _finding(
        EC2_STOPPED,
        instance,
        reason,
        stopped,
        label,
        None,
        "no instance charge while stopped; its EBS volumes are listed under their own rule",
    )


def judge_ebs_volume(
    volume: Resource,
    instances: dict[str, Resource],
    now: datetime,
    thresholds: IdleThresholds,
) -> Judgement:
    """Flag a volume that is unattached, or attached only to instances stopped for more
    than `ec2_stopped_days` days. `instances` maps instance ids to listed instances."""
    size = _number(volume.detail("size_gib"))
    cost = pricing.ebs_monthly(volume.type, size)
    note = (
        f"{volume.type} storage list price per GB-month, without provisioned IOPS and throughput"
        if cost is not None
        else f"no list price for volume type {volume.type or 'unknown'}"
    )

    if volume.state == "available":
        size_text = f" {_format_number(size)} GiB" if size is not None else ""
        type_text = f" {volume.type}" if volume.type else ""
        reason = (
            f"Unattached{size_text}{type_text} volume (AWS does not record when it was detached)"
        )
        return _finding(EBS_UNATTACHED, volume, reason, volume.created, "created at", cost, note)
    if volume.state != "in-use":
        return None

    attached = [part.strip() for part in (volume.detail("attached_to") or "").split(",")]
    attached = [instance_id for instance_id in attached if instance_id and instance_id != "-"]
    if not attached or any(instance_id not in instances for instance_id in attached):
        return None

    # The volume is idle only when every instance it is attached to is a stopped finding.
    stops = []
    for instance_id in attached:
        judgement = judge_ec2_stopped(instances[instance_id], now, thresholds)
        if not isinstance(judgement, IdleFinding):
            return None
        stops.append(judgement)
    latest = max(stops, key=lambda finding: finding.since or now)
    reason = (
        f"Attached only to {', '.join(attached)}, stopped for more than "
        f"{thresholds.ec2_stopped_days} days"
    )
    return _finding(
        EBS_ON_STOPPED_INSTANCE, volume, reason, latest.since, latest.since_label, cost, note
    )


def judge_rds_no_connections(
    database: Resource,
    connections: MetricSeries | None,
    window: MetricWindow,
    thresholds: IdleThresholds,
) -> Judgement:
    """Flag an available DB instance whose daily maximum of DatabaseConnections was 0 on
    every day of the last `rds_idle_days` days.

    RDS publishes the metric every minute while the instance is available, so the
    first of those days must have data, and a younger instance is not judged yet.
    """
    if database.state != "available":
        return None
    if connections is None:
        return NO_DATA
    start = window.end - thresholds.rds_idle_days * DAY
    points = points_since(connections, start)
    if not points or points[0][0] >= start + DAY:
        return NO_DATA
    if any(value > 0 for _, value in points):
        return None
    engine = (database.detail("engine") or "").split(" ")[0]
    multi_az = database.detail("multi_az") == "yes"
    cost = pricing.rds_monthly(
        engine, database.type, multi_az, _number(database.detail("storage_gib"))
    )
    note = (
        f"{database.type} {engine} {'Multi-AZ' if multi_az else 'Single-AZ'} list price "
        "with gp2 storage"
        if cost is not None
        else f"no list price for {engine or 'this engine'} {database.type or ''}".rstrip()
    )
    reason = f"No database connections in the last {thresholds.rds_idle_days} days"
    return _finding(
        RDS_NO_CONNECTIONS, database, reason, start, "no connections since at least", cost, note
    )


def judge_lambda_no_invocations(
    function: Resource,
    invocations: MetricSeries | None,
    window: MetricWindow,
    thresholds: IdleThresholds,
) -> Judgement:
    """Flag a function with no invocations in the last `lambda_idle_days` days.

    Lambda publishes Invocations only for periods in which the function ran, so here
    a series without datapoints does mean no invocations. A function modified within
    the period is too young to judge.
    """
    if invocations is None:
        return NO_DATA
    start = window.end - thresholds.lambda_idle_days * DAY
    modified = parse_lambda_time(function.detail("last_modified"))
    if modified is None or modified > start:
        return None
    if any(value > 0 for _, value in points_since(invocations, start)):
        return None
    reason = f"No invocations in the last {thresholds.lambda_idle_days} days"
    return _finding(
        LAMBDA_NO_INVOCATIONS,
        function,
        reason,
        start,
        "no invocations since at least",
        None,
        "Lambda charges only for invocations, except provisioned concurrency",
    )


def judge_emr_idle(
    cluster: Resource,
    is_idle: MetricSeries | None,
    window: MetricWindow,
    thresholds: IdleThresholds,
) -> Judgement:
    """Flag a RUNNING or WAITING cluster whose IsIdle metric has been 1 for more than
    `emr_idle_minutes` minutes up to its latest datapoint.

    `is_idle` contains the per-period Minimum, so a period is idle only when every sample
    in it was 1. A gap in the data ends the idle stretch.
    """
    if cluster.state not in ("RUNNING", "WAITING"):
        return None
    if is_idle is None or not is_idle.has_data:
        return NO_DATA
    points = is_idle.points()
    period = timedelta(seconds=window.period)
    latest = points[-1][0]
    if latest < window.end - EMR_MAX_LAG_PERIODS * period:
        return NO_DATA
    idle_since = None
    expected = latest
    for timestamp, value in reversed(points):
        if value < 1 or timestamp != expected:
            break
        idle_since = timestamp
        expected = timestamp - period
    if idle_since is None:
        return None
    idle_for = latest + period - idle_since
    if idle_for <= timedelta(minutes=thresholds.emr_idle_minutes):
        return None
    at_least = idle_since <= window.start
    minutes = int(idle_for.total_seconds() // 60)
    reason = (
        f"{cluster.state} with no work (IsIdle = 1) for {'at least ' if at_least else ''}"
        f"{minutes} minutes, more than {thresholds.emr_idle_minutes}"
    )
    return _finding(
        EMR_IDLE,
        cluster,
        reason,
        idle_since,
        "idle since at least" if at_least else "idle since",
        None,
        "EMR prices depend on the cluster's instances, which are not listed here",
    )


def by_rule(findings: Sequence[IdleFinding]) -> list[tuple[str, list[IdleFinding]]]:
    """Group findings by rule: the rule with the largest estimated cost first, and in a
    rule the largest cost first. Findings without a price come last."""
    groups: dict[str, list[IdleFinding]] = {}
    for finding in findings:
        groups.setdefault(finding.rule, []).append(finding)

    def finding_order(finding: IdleFinding) -> tuple[bool, Decimal, str]:
        cost = finding.monthly_cost
        return (cost is None, -(cost or Decimal(0)), finding.key)

    def rule_order(item: tuple[str, list[IdleFinding]]) -> tuple[Decimal, int]:
        rule, members = item
        total = sum((f.monthly_cost or Decimal(0) for f in members), Decimal(0))
        return (-total, RULES.index(rule) if rule in RULES else len(RULES))

    return [
        (rule, sorted(members, key=finding_order))
        for rule, members in sorted(groups.items(), key=rule_order)
    ]


def total_cost(findings: Sequence[IdleFinding]) -> Decimal:
    return sum((f.monthly_cost for f in findings if f.monthly_cost is not None), Decimal(0))
