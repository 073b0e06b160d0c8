"""Idle rules on hand-made resources and series, each just over and just under its threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services import pricing
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
    by_rule,
    judge_ebs_volume,
    judge_ec2_low_utilization,
    judge_ec2_stopped,
    judge_emr_idle,
    judge_lambda_no_invocations,
    judge_rds_no_connections,
    parse_lambda_time,
    stop_time,
    total_cost,
)
from services.metrics import MetricSeries, MetricWindow
from services.models import Resource

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAILY = MetricWindow(NOW - timedelta(days=30), NOW, 86_400)
EMR_WINDOW = MetricWindow(NOW - timedelta(hours=6), NOW, 300)
LIMITS = IdleThresholds()
MB = 1_000_000


def day(n: int) -> datetime:
    """Start of the daily period that ends n - 1 days before NOW (day(1) is the latest)."""
    return NOW - timedelta(days=n)


def daily(values: dict[int, float]) -> MetricSeries:
    return MetricSeries.from_points((day(n), value) for n, value in values.items())


def instance(
    state: str = "running", reason: str = "", launched: datetime | None = None
) -> Resource:
    return Resource(
        kind="ec2",
        id="i-0abc",
        account="prod",
        region="us-east-1",
        state=state,
        name="web",
        type="t3.large",
        created=launched or NOW - timedelta(days=100),
        details=(("state_reason", reason),),
    )


def stopped_instance(days_ago: float, instance_id: str = "i-0abc") -> Resource:
    stopped = NOW - timedelta(days=days_ago)
    reason = f"User initiated ({stopped:%Y-%m-%d %H:%M:%S} GMT)"
    return Resource(
        "ec2", instance_id, "prod", "us-east-1", "stopped", type="t3.large",
        created=NOW - timedelta(days=400), details=(("state_reason", reason),),
    )  # fmt: skip


def volume(state: str, attached: str = "-") -> Resource:
    return Resource(
        kind="ebs",
        id="vol-0abc",
        account="prod",
        region="us-east-1",
        state=state,
        type="gp3",
        created=NOW - timedelta(days=90),
        details=(("size_gib", "100"), ("attached_to", attached)),
    )


def database(state: str = "available") -> Resource:
    return Resource(
        kind="rds",
        id="orders-db",
        account="prod",
        region="us-east-1",
        state=state,
        name="orders-db",
        type="db.t3.medium",
        details=(("engine", "postgres 14.7"), ("storage_gib", "20"), ("multi_az", "no")),
    )


def function(modified_days_ago: int) -> Resource:
    modified = NOW - timedelta(days=modified_days_ago)
    return Resource(
        kind="lambda",
        id="ingest",
        account="prod",
        region="us-east-1",
        state="Active",
        name="ingest",
        details=(("last_modified", f"{modified:%Y-%m-%dT%H:%M:%S}.000+0000"),),
    )


def cluster(state: str = "WAITING") -> Resource:
    return Resource("emr", "j-ABC", "prod", "us-east-1", state, name="nightly")


def idle_points(periods: list[float], lag: int = 1) -> MetricSeries:
    """IsIdle values, the last one `lag` periods before the window end."""
    count = len(periods)
    return MetricSeries.from_points(
        (NOW - timedelta(minutes=5 * (lag + count - 1 - index)), value)
        for index, value in enumerate(periods)
    )


def low_usage(
    low_days: int, cpu: float = 10.0, network: float = 5 * MB
) -> tuple[MetricSeries, MetricSeries, MetricSeries]:
    """14 days of data: `low_days` low days, the rest busy."""
    cpu_values = {n: (cpu if n <= low_days else 60.0) for n in range(1, 15)}
    network_values = {n: (network / 2 if n <= low_days else 500 * MB) for n in range(1, 15)}
    return daily(cpu_values), daily(network_values), daily(network_values)


def test_ec2_low_four_days_flagged() -> None:
    finding = judge_ec2_low_utilization(instance(), *low_usage(4), DAILY, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == EC2_LOW_UTILIZATION
    assert "on 4 of the last 14 days" in finding.reason
    assert finding.since == day(4)
    assert finding.monthly_cost == Decimal("60.74")
    assert finding.key == "prod/us-east-1/ec2/i-0abc/ec2-low-utilization"


def test_ec2_low_three_days_not_flagged() -> None:
    assert judge_ec2_low_utilization(instance(), *low_usage(3), DAILY, LIMITS) is None


def test_ec2_low_cpu_just_over() -> None:
    assert judge_ec2_low_utilization(instance(), *low_usage(4, cpu=10.01), DAILY, LIMITS) is None


def test_ec2_low_network_just_over() -> None:
    usage = low_usage(4, network=5 * MB + 2)
    assert judge_ec2_low_utilization(instance(), *usage, DAILY, LIMITS) is None


def test_ec2_low_ignores_older_days() -> None:
    cpu = daily({n: 1.0 for n in range(15, 25)} | {n: 80.0 for n in range(1, 15)})
    network = daily({n: 1.0 for n in range(1, 25)})
    assert judge_ec2_low_utilization(instance(), cpu, network, network, DAILY, LIMITS) is None


def test_ec2_low_day_needs_network() -> None:
    cpu, network_in, network_out = low_usage(4)
    missing_day = MetricSeries.from_points(p for p in network_out.points() if p[0] != day(1))
    assert (
        judge_ec2_low_utilization(instance(), cpu, network_in, missing_day, DAILY, LIMITS) is None
    )


def test_ec2_low_running_without_data() -> None:
    empty = MetricSeries()
    assert judge_ec2_low_utilization(instance(), empty, empty, empty, DAILY, LIMITS) is NO_DATA
    assert judge_ec2_low_utilization(instance(), None, empty, empty, DAILY, LIMITS) is NO_DATA


def test_ec2_low_skips_stopped_instance() -> None:
    stopped = stopped_instance(2)
    assert judge_ec2_low_utilization(stopped, None, None, None, DAILY, LIMITS) is None


def test_ec2_low_threshold_configurable() -> None:
    strict = IdleThresholds(ec2_cpu_percent=5.0, ec2_low_days=2)
    assert judge_ec2_low_utilization(instance(), *low_usage(4, cpu=6.0), DAILY, strict) is None
    flagged = judge_ec2_low_utilization(instance(), *low_usage(2, cpu=5.0), DAILY, strict)
    assert isinstance(flagged, IdleFinding)


def test_ec2_stopped_just_over_threshold() -> None:
    finding = judge_ec2_stopped(stopped_instance(30.01), NOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == EC2_STOPPED
    assert finding.since_label == "stopped at"
    assert finding.since == (NOW - timedelta(days=30.01)).replace(microsecond=0)
    assert finding.monthly_cost is None
    assert "EBS volumes" in finding.cost_note


def test_ec2_stopped_just_under_threshold() -> None:
    assert judge_ec2_stopped(stopped_instance(29.99), NOW, LIMITS) is None
    assert judge_ec2_stopped(stopped_instance(30), NOW, LIMITS) is None


def test_ec2_stopped_launch_time_fallback() -> None:
    stopped = instance("stopped", reason="", launched=NOW - timedelta(days=45))
    finding = judge_ec2_stopped(stopped, NOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.since_label == "launched at"
    assert finding.since == NOW - timedelta(days=45)
    assert "counted from the launch time" in finding.reason


def test_ec2_stopped_ignores_running() -> None:
    assert judge_ec2_stopped(instance("running"), NOW, LIMITS) is None


def test_stop_time_reads_gmt_and_utc() -> None:
    for zone in ("GMT", "UTC"):
        moment, label = stop_time(
            instance("stopped", f"User initiated (2026-01-02 03:04:05 {zone})")
        )
        assert moment == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert label == "stopped at"


def test_ebs_unattached_volume() -> None:
    finding = judge_ebs_volume(volume("available"), {}, NOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == EBS_UNATTACHED
    assert finding.monthly_cost == Decimal("8.00")
    assert finding.since == NOW - timedelta(days=90)
    assert finding.since_label == "created at"


def test_ebs_on_stopped_just_over() -> None:
    stopped = stopped_instance(31)
    finding = judge_ebs_volume(volume("in-use", "i-0abc"), {"i-0abc": stopped}, NOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == EBS_ON_STOPPED_INSTANCE
    assert finding.since == (NOW - timedelta(days=31))
    assert finding.monthly_cost == Decimal("8.00")


def test_ebs_on_stopped_just_under() -> None:
    stopped = stopped_instance(29)
    assert judge_ebs_volume(volume("in-use", "i-0abc"), {"i-0abc": stopped}, NOW, LIMITS) is None


def test_ebs_on_running_instance() -> None:
    instances = {"i-0abc": stopped_instance(90), "i-0def": instance("running")}
    multi = volume("in-use", "i-0abc, i-0def")
    assert judge_ebs_volume(multi, instances, NOW, LIMITS) is None


def test_ebs_on_unlisted_instance() -> None:
    assert judge_ebs_volume(volume("in-use", "i-0zzz"), {}, NOW, LIMITS) is None


def test_rds_without_connections_flags() -> None:
    connections = daily({n: 0.0 for n in range(1, 9)})
    finding = judge_rds_no_connections(database(), connections, DAILY, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == RDS_NO_CONNECTIONS
    assert finding.since == day(7)
    # db.t3.medium PostgreSQL 0.072 x 730 h + 20 GiB x 0.115.
    assert finding.monthly_cost == Decimal("54.86")


def test_rds_one_connection_is_not_idle() -> None:
    connections = daily({n: (1.0 if n == 7 else 0.0) for n in range(1, 9)})
    assert judge_rds_no_connections(database(), connections, DAILY, LIMITS) is None


def test_rds_connection_before_window_is_idle() -> None:
    connections = daily({n: (5.0 if n == 8 else 0.0) for n in range(1, 9)})
    assert isinstance(judge_rds_no_connections(database(), connections, DAILY, LIMITS), IdleFinding)


def test_rds_young_instance_no_data() -> None:
    connections = daily({n: 0.0 for n in range(1, 7)})
    assert judge_rds_no_connections(database(), connections, DAILY, LIMITS) is NO_DATA
    assert judge_rds_no_connections(database(), MetricSeries(), DAILY, LIMITS) is NO_DATA
    assert judge_rds_no_connections(database(), None, DAILY, LIMITS) is NO_DATA


def test_rds_stopped_is_not_judged() -> None:
    assert judge_rds_no_connections(database("stopped"), None, DAILY, LIMITS) is None


def test_lambda_without_invocations_flags() -> None:
    finding = judge_lambda_no_invocations(function(60), MetricSeries(), DAILY, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == LAMBDA_NO_INVOCATIONS
    assert finding.since == NOW - timedelta(days=30)
    assert finding.monthly_cost is None


def test_lambda_invoked_just_inside() -> None:
    invocations = daily({30: 1.0})
    assert judge_lambda_no_invocations(function(60), invocations, DAILY, LIMITS) is None


def test_lambda_invoked_just_before() -> None:
    window = MetricWindow(NOW - timedelta(days=31), NOW, 86_400)
    invocations = daily({31: 1.0})
    finding = judge_lambda_no_invocations(function(60), invocations, window, LIMITS)
    assert isinstance(finding, IdleFinding)


def test_lambda_recently_modified() -> None:
    assert judge_lambda_no_invocations(function(29), MetricSeries(), DAILY, LIMITS) is None


def test_lambda_failed_batch_is_no_data() -> None:
    assert judge_lambda_no_invocations(function(60), None, DAILY, LIMITS) is NO_DATA


def test_parse_lambda_time_formats() -> None:
    expected = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parse_lambda_time("2024-05-01T10:00:00.000+0000") == expected
    assert parse_lambda_time("2024-05-01T12:00:00.000+02:00") == expected
    assert parse_lambda_time("2024-05-01T10:00:00.123456000Z") == expected
    assert parse_lambda_time("yesterday") is None
    assert parse_lambda_time(None) is None


def test_emr_idle_just_over_threshold() -> None:
    finding = judge_emr_idle(cluster(), idle_points([1.0] * 7), EMR_WINDOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.rule == EMR_IDLE
    assert finding.since == NOW - timedelta(minutes=35)
    assert finding.since_label == "idle since"
    assert "for 35 minutes" in finding.reason


def test_emr_idle_just_under_threshold() -> None:
    assert judge_emr_idle(cluster(), idle_points([1.0] * 6), EMR_WINDOW, LIMITS) is None
    assert judge_emr_idle(cluster(), idle_points([1.0] * 5), EMR_WINDOW, LIMITS) is None


def test_emr_busy_period_ends_idle_stretch() -> None:
    series = idle_points([1.0] * 6 + [0.0] + [1.0] * 3)
    assert judge_emr_idle(cluster(), series, EMR_WINDOW, LIMITS) is None


def test_emr_gap_ends_idle_stretch() -> None:
    before_gap = idle_points([1.0] * 6, lag=6)
    after_gap = idle_points([1.0] * 4)
    series = MetricSeries.from_points(before_gap.points() + after_gap.points())
    assert judge_emr_idle(cluster(), series, EMR_WINDOW, LIMITS) is None


def test_emr_stale_data_is_no_data() -> None:
    assert judge_emr_idle(cluster(), idle_points([1.0] * 12, lag=4), EMR_WINDOW, LIMITS) is NO_DATA
    assert judge_emr_idle(cluster(), MetricSeries(), EMR_WINDOW, LIMITS) is NO_DATA


def test_emr_idle_whole_window() -> None:
    finding = judge_emr_idle(cluster("RUNNING"), idle_points([1.0] * 72), EMR_WINDOW, LIMITS)
    assert isinstance(finding, IdleFinding)
    assert finding.since_label == "idle since at least"
    assert finding.since == EMR_WINDOW.start


def test_emr_terminated_is_not_judged() -> None:
    assert (
        judge_emr_idle(cluster("TERMINATED"), idle_points([1.0] * 10), EMR_WINDOW, LIMITS) is None
    )


def make_finding(rule: str, resource_id: str, cost: str | None) -> IdleFinding:
    return IdleFinding(
        rule=rule,
        kind="ebs",
        resource_id=resource_id,
        account="prod",
        region="us-east-1",
        reason="",
        since=None,
        since_label="",
        monthly_cost=None if cost is None else Decimal(cost),
        cost_note="",
    )


def test_by_rule_orders_by_estimated_cost() -> None:
    findings = [
        make_finding(EC2_STOPPED, "i-1", None),
        make_finding(EBS_UNATTACHED, "vol-small", "2.00"),
        make_finding(EC2_LOW_UTILIZATION, "i-2", "60.00"),
        make_finding(EBS_UNATTACHED, "vol-big", "40.00"),
        make_finding(EBS_UNATTACHED, "vol-big2", "40.00"),
    ]
    grouped = by_rule(findings)
    assert [rule for rule, _ in grouped] == [EBS_UNATTACHED, EC2_LOW_UTILIZATION, EC2_STOPPED]
    assert [f.resource_id for f in grouped[0][1]] == ["vol-big", "vol-big2", "vol-small"]
    assert total_cost(findings) == Decimal("142.00")


def test_thresholds_reject_lookback_beyond_retention() -> None:
    with pytest.raises(ValueError, match="455"):
        IdleThresholds(lambda_idle_days=500)
    with pytest.raises(ValueError, match="ec2_low_days"):
        IdleThresholds(ec2_low_days=15)
    with pytest.raises(ValueError, match="emr_idle_minutes"):
        IdleThresholds(emr_idle_minutes=1)


def test_pricing_estimates() -> None:
    assert pricing.ec2_monthly("m5.large") == Decimal("70.08")
    assert pricing.ec2_monthly("x9.huge") is None
    assert pricing.ebs_monthly("gp2", 50) == Decimal("5.00")
    assert pricing.ebs_monthly("io9", 50) is None
    assert pricing.rds_monthly("mysql", "db.t3.micro", True, 10) == Decimal("27.12")
    assert pricing.rds_monthly("aurora-mysql", "db.r5.large", False, None) is None
