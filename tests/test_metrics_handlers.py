"""`/aws metrics ID [window]` and `/aws ec2 ... metrics`: parsing, rendering and dispatch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from freezegun import freeze_time

from handlers.blocks import MAX_BLOCKS, MAX_SECTION_TEXT, Reply
from handlers.context import ChannelContext
from handlers.dispatch import Backends, handle_text
from handlers.grammar import CommandError
from handlers.metrics import (
    format_bytes,
    format_period,
    format_value,
    metrics_reply,
    parse_metrics_args,
)
from services.accounts import Account
from services.fanout import FanOut, ScanWarning
from services.inventory import Inventory
from services.lookup import ResourceLocator
from services.metrics import MetricsService, MetricWindow
from services.models import Resource
from services.regions import RegionResolver
from services.resource_metrics import (
    MEMORY,
    METRIC_SETS,
    MetricsAnswer,
    MetricSummary,
    ResourceMetrics,
    ResourceMetricsService,
)
from services.sessions import AwsSettings, SessionFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OWN = Account("own")
CTX = ChannelContext(channel_id="C0TEST0001", accounts=(OWN,))
WINDOW = MetricWindow(NOW - timedelta(hours=24), NOW, 900)


@pytest.fixture
def backends(aws: None) -> Iterator[Backends]:
    with freeze_time(NOW):
        factory = SessionFactory(AwsSettings(max_workers=4))
        fanout = FanOut(4)
        regions = RegionResolver(factory, ("us-east-1",))
        metrics = ResourceMetricsService(
            MetricsService(factory, fanout), ResourceLocator(factory, fanout, regions)
        )
        yield Backends(inventory=Inventory(factory, fanout, regions), metrics=metrics)
        fanout.shutdown()


def all_text(reply: Reply) -> str:
    return json.dumps(reply.blocks, ensure_ascii=False) + reply.text


def put_cpu(instance_id: str, points: list[tuple[timedelta, float]]) -> None:
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": NOW - offset,
                "Value": value,
            }
            for offset, value in points
        ],
    )


def run_instances(count: int, **tags: str) -> list[str]:
    params: dict[str, object] = {"ImageId": "ami-12c6146b", "MinCount": count, "MaxCount": count}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    instances = boto3.client("ec2", region_name="us-east-1").run_instances(**params)["Instances"]
    return [instance["InstanceId"] for instance in instances]


def answer_for(resource: Resource, summaries: tuple[MetricSummary, ...]) -> MetricsAnswer:
    return MetricsAnswer(
        resource_id=resource.id,
        window=WINDOW,
        resources=[ResourceMetrics(resource, summaries)],
        warnings=[],
        accounts=["own"],
        regions=["us-east-1"],
        elapsed=0.2,
    )


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (None, "Percent", "no data"),
        (12.345, "Percent", "12.3%"),
        (0.0, "Percent", "0.0%"),
        (1_500_000, "Bytes", "1.5 MB"),
        (0.0042, "Seconds", "4.2 ms"),
        (2.5, "Seconds", "2.50 s"),
        (120.04, "Milliseconds", "120.0 ms"),
        (1234.0, "Count", "1,234"),
        (2.5, "Count", "2.5"),
        (1.0, "None", "1"),
        (0.916667, "None", "0.92"),
    ],
)
def test_format_value_units(value: float | None, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_format_bytes_decimal_prefixes() -> None:
    assert format_bytes(999) == "999 B"
    assert format_bytes(1000) == "1.0 kB"
    assert format_bytes(2_500_000_000) == "2.5 GB"
    assert format_bytes(3e18) == "3000.0 PB"


def test_format_period_names() -> None:
    assert format_period(60) == "1 min"
    assert format_period(900) == "15 min"
    assert format_period(3600) == "hour"
    assert format_period(86_400) == "day"


def test_parse_metrics_args_defaults_to_24h() -> None:
    assert parse_metrics_args(("i-0abc",)) == ("i-0abc", "24h")
    assert parse_metrics_args(("i-0abc", "7D")) == ("i-0abc", "7d")


def test_parse_metrics_args_rejects_unknown_window() -> None:
    with pytest.raises(CommandError, match="1h"):
        parse_metrics_args(("i-0abc", "2h"))


def test_parse_metrics_args_rejects_extra_words() -> None:
    with pytest.raises(CommandError, match="resource id and a window"):
        parse_metrics_args(("i-0abc", "24h", "extra"))


def test_parse_metrics_args_needs_id() -> None:
    with pytest.raises(CommandError, match="needs a resource id"):
        parse_metrics_args(())


def test_metrics_reply_escapes_aws_strings() -> None:
    resource = Resource(
        kind="ec2",
        id="i-0abc",
        account="own",
        region="us-east-1",
        state="running",
        name="<!channel> & <http://evil|click>",
        type="t3.large",
    )
    cpu = MetricSummary(METRIC_SETS["ec2"][0], 1.0, 2.0, 0.5, datapoints=3)
    text = all_text(metrics_reply(answer_for(resource, (cpu,)), "24h"))
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text
    assert "<!channel>" not in text
    assert "<http://evil" not in text


def test_metrics_reply_says_agent_is_needed() -> None:
    resource = Resource("ec2", "i-0abc", "own", "us-east-1", "running")
    memory = MetricSummary(MEMORY)
    reply = metrics_reply(answer_for(resource, (memory,)), "1h")
    text = all_text(reply)
    assert "mem_used_percent* (CWAgent) no data" in text
    assert "Install the CloudWatch agent" in text


def test_metrics_reply_marks_failed_request() -> None:
    resource = Resource("lambda", "ingest", "own", "us-east-1", "Active", name="ingest")
    invocations = MetricSummary(METRIC_SETS["lambda"][0], available=False)
    answer = answer_for(resource, (invocations,))
    answer.warnings = [
        ScanWarning("own", "us-east-1", "Missing IAM permission cloudwatch:GetMetricData")
    ]
    reply = metrics_reply(answer, "24h")
    text = all_text(reply)
    assert "not available: the CloudWatch request failed" in text
    assert "Missing IAM permission cloudwatch:GetMetricData" in text
    assert reply.text.endswith("(1 warning)")


def test_metrics_reply_counter_total() -> None:
    resource = Resource("ec2", "i-0abc", "own", "us-east-1", "running")
    network = MetricSummary(METRIC_SETS["ec2"][2], 2e6, 3e6, 1e6, total=6e6, datapoints=3)
    text = all_text(metrics_reply(answer_for(resource, (network,)), "24h"))
    assert "*NetworkIn* total 6.0 MB · per 15 min: avg 2.0 MB · max 3.0 MB · min 1.0 MB" in text


def test_metrics_reply_not_found() -> None:
    answer = MetricsAnswer("orders-db", WINDOW, [], [], ["own"], ["us-east-1"], 0.1)
    reply = metrics_reply(answer, "24h")
    assert "No resource `orders-db` was found" in all_text(reply)
    assert reply.text == "No resource orders-db found"


def test_metrics_reply_stays_within_slack_limits() -> None:
    resources = [
        ResourceMetrics(
            Resource("rds", f"db-{n}", "own", "us-east-1", "available", name="x" * 200),
            tuple(MetricSummary(spec, 1.0, 2.0, 0.5, datapoints=1) for spec in METRIC_SETS["rds"]),
        )
        for n in range(5)
    ]
    answer = MetricsAnswer("db", WINDOW, resources, [], ["own"], ["us-east-1"], 0.1, more_matches=3)
    reply = metrics_reply(answer, "7d")
    assert len(reply.blocks) <= MAX_BLOCKS
    for block in reply.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    assert "3 more resources" in all_text(reply)


def test_dispatch_metrics_command(backends: Backends) -> None:
    with freeze_time(NOW):
        (instance,) = run_instances(1)
        put_cpu(instance, [(timedelta(minutes=50), 20.0), (timedelta(minutes=20), 40.0)])
        reply = handle_text(f"metrics {instance} 1h", CTX, backends)
    text = all_text(reply)
    assert f"Metrics of {instance} · last 1h" in text
    assert "*CPUUtilization* avg 30.0% · max 40.0% · min 20.0%" in text
    assert "period 1 min" in text


def test_dispatch_metrics_unknown_window(backends: Backends) -> None:
    reply = handle_text("metrics i-0abc 2h", CTX, backends)
    assert "Unknown window `2h`" in reply.text


def test_dispatch_metrics_without_service(backends: Backends) -> None:
    plain = Backends(inventory=backends.inventory)
    reply = handle_text("metrics i-0abc", CTX, plain)
    assert "not enabled" in reply.text


def test_dispatch_ec2_metrics_adds_cpu(backends: Backends) -> None:
    with freeze_time(NOW):
        busy, _silent = run_instances(2, Environment="production")
        put_cpu(busy, [(timedelta(hours=3), 12.0)])
        reply = handle_text("ec2 production metrics", CTX, backends)
        plain = handle_text("ec2 production", CTX, backends)
    text = all_text(reply)
    assert "cpu 12% (24h avg)" in text
    assert "cpu no data (24h avg)" in text
    assert "cpu " not in all_text(plain)


def test_dispatch_ebs_metrics_warns(backends: Backends) -> None:
    with freeze_time(NOW):
        run_instances(1)
        reply = handle_text("ebs metrics", CTX, backends)
    assert "adds average CPU to `ec2` and `rds` lists only" in all_text(reply)
