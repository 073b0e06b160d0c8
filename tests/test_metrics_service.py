"""CloudWatch metric fetching: windows, batching, ordering, pagination and failed batches."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from botocore.stub import ANY, Stubber
from freezegun import freeze_time

from services.accounts import Account
from services.fanout import FanOut
from services.metrics import (
    MAX_QUERIES_PER_REQUEST,
    MetricQuery,
    MetricRequest,
    MetricSeries,
    MetricsService,
    MetricWindow,
    batch_size,
    choose_period,
    fetch_metric_data,
    minimum_period,
)
from services.sessions import AwsSettings, SessionFactory
from tests.conftest import account_session

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROD = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
STAGING = Account("staging", "arn:aws:iam::222222222222:role/AwsMonitorReadOnly")
OWN = Account("own")


@pytest.fixture
def service(aws: None) -> Iterator[MetricsService]:
    fanout = FanOut(4)
    yield MetricsService(SessionFactory(AwsSettings(max_workers=4)), fanout)
    fanout.shutdown()


def cpu_query(instance_id: str, stat: str = "Average") -> MetricQuery:
    return MetricQuery("AWS/EC2", "CPUUtilization", (("InstanceId", instance_id),), stat)


def put_cpu(
    session: boto3.Session | None,
    region: str,
    instance_id: str,
    points: list[tuple[datetime, float]],
) -> None:
    client = (session or boto3.Session()).client("cloudwatch", region_name=region)
    client.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": timestamp,
                "Value": value,
                "Unit": "Percent",
            }
            for timestamp, value in points
        ],
    )


class StubFactory:
    """Stands in for SessionFactory: returns a prepared client per region."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(
        self, account: Account, service: str, region: str, *, user_id: str | None = None
    ) -> Any:
        return self.clients[region]


def test_window_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="UTC"):
        MetricWindow(datetime(2026, 3, 9, 12), datetime(2026, 3, 10, 12), 300)


def test_window_rejects_odd_period() -> None:
    with pytest.raises(ValueError, match="multiple of 60"):
        MetricWindow(NOW - timedelta(hours=1), NOW, 90)


def test_window_rejects_too_many_datapoints() -> None:
    with pytest.raises(ValueError, match="100800"):
        MetricWindow(NOW - timedelta(days=100), NOW, 60)


def test_window_last_rounds_to_minute() -> None:
    window = MetricWindow.last(timedelta(hours=1), datetime(2026, 3, 10, 12, 34, 56, tzinfo=UTC))
    assert window.end == datetime(2026, 3, 10, 12, 34, tzinfo=UTC)
    assert window.start == datetime(2026, 3, 10, 11, 34, tzinfo=UTC)
    assert window.period == 60


def test_window_last_old_data_resolution() -> None:
    window = MetricWindow.last(timedelta(days=30), datetime(2026, 3, 10, 12, 34, 56, tzinfo=UTC))
    assert window.end == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    assert window.period % 300 == 0
    assert window.points <= 200


def test_window_last_converts_to_utc() -> None:
    berlin = datetime.fromisoformat("2026-03-10T13:00:00+01:00")
    window = MetricWindow.last(timedelta(hours=1), berlin)
    assert window.end == NOW
    assert window.end.utcoffset() == timedelta(0)


def test_minimum_period_follows_cloudwatch_retention() -> None:
    assert minimum_period(NOW - timedelta(days=14), NOW) == 60
    assert minimum_period(NOW - timedelta(days=30), NOW) == 300
    assert minimum_period(NOW - timedelta(days=90), NOW) == 3600


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(hours=1), 60),
        (timedelta(hours=24), 900),
        (timedelta(days=7), 3600),
        (timedelta(days=30), 21_600),
        (timedelta(days=400), 172_800),
    ],
)
def test_choose_period_standard_windows(duration: timedelta, expected: int) -> None:
    assert choose_period(duration) == expected


def test_choose_period_respects_minimum() -> None:
    assert choose_period(timedelta(hours=1), minimum=300) == 300


def test_batch_size_fits_datapoint_limit() -> None:
    assert batch_size(MetricWindow(NOW - timedelta(hours=24), NOW, 900)) == 500
    assert batch_size(MetricWindow(NOW - timedelta(hours=24), NOW, 60)) == 70


def test_fetch_batches_500_queries_per_request(service: MetricsService) -> None:
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    put_cpu(None, "us-east-1", "i-00000007", [(NOW - timedelta(minutes=30), 7.0)])
    requests = [
        MetricRequest(OWN, "us-east-1", cpu_query(f"i-{n:08d}"), window) for n in range(1200)
    ]
    results = service.fetch(requests)
    assert service.factory.counter.calls["cloudwatch.GetMetricData"] == 3
    assert results.requests == 3
    assert len(results.series) == 1200
    assert results.series[requests[7]].values == (7.0,)
    assert not results.series[requests[8]].has_data


def test_fetch_groups_by_account_and_region(service: MetricsService) -> None:
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    put_cpu(
        account_session("111111111111"),
        "eu-west-1",
        "i-prod",
        [(NOW - timedelta(minutes=10), 11.0)],
    )
    put_cpu(
        account_session("222222222222"), "us-east-1", "i-stg", [(NOW - timedelta(minutes=10), 22.0)]
    )
    requests = [
        MetricRequest(account, region, cpu_query(instance_id), window)
        for account in (PROD, STAGING)
        for region in ("us-east-1", "eu-west-1")
        for instance_id in ("i-prod", "i-stg")
    ]
    results = service.fetch(requests)
    found = {
        (request.account.name, request.region, request.query.dimensions[0][1]): series.values
        for request, series in results.series.items()
        if series.has_data
    }
    assert found == {
        ("prod", "eu-west-1", "i-prod"): (11.0,),
        ("staging", "us-east-1", "i-stg"): (22.0,),
    }
    assert results.requests == 4


def test_fetch_sorts_datapoints_out_of_order(service: MetricsService) -> None:
    window = MetricWindow(NOW - timedelta(hours=6), NOW, 300)
    points = [(NOW - timedelta(minutes=5 * n + 5), float(n)) for n in range(12)]
    shuffled = points[:]
    random.Random(4).shuffle(shuffled)
    put_cpu(None, "us-east-1", "i-order", shuffled)
    request = MetricRequest(OWN, "us-east-1", cpu_query("i-order"), window)
    series = service.fetch([request]).series[request]
    assert list(series.timestamps) == sorted(series.timestamps)
    assert series.points() == sorted(points)
    assert all(timestamp.tzinfo is not None for timestamp in series.timestamps)


def test_fetch_missing_data_is_none(service: MetricsService) -> None:
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    request = MetricRequest(OWN, "us-east-1", cpu_query("i-silent"), window)
    series = service.fetch([request]).series[request]
    assert not series.has_data
    assert series.average() is None
    assert series.maximum() is None
    assert series.total() is None


def test_fetch_reads_frozen_time_window(service: MetricsService) -> None:
    # moto stores the Timestamp given to put_metric_data and buckets GetMetricData
    # results from StartTime, so a frozen clock gives exact, repeatable buckets.
    with freeze_time("2026-03-10 12:00:30"):
        window = MetricWindow.last(timedelta(hours=1))
        put_cpu(
            None,
            "us-east-1",
            "i-frozen",
            [
                (NOW - timedelta(minutes=61), 99.0),
                (NOW - timedelta(minutes=59, seconds=30), 5.0),
                (NOW - timedelta(seconds=10), 6.0),
            ],
        )
        request = MetricRequest(OWN, "us-east-1", cpu_query("i-frozen"), window)
        series = service.fetch([request]).series[request]
    assert window.end == NOW
    assert series.points() == [
        (NOW - timedelta(minutes=60), 5.0),
        (NOW - timedelta(minutes=1), 6.0),
    ]


def test_fetch_failed_batch_becomes_warning(caplog: pytest.LogCaptureFixture) -> None:
    healthy = boto3.client("cloudwatch", region_name="us-east-1")
    broken = boto3.client("cloudwatch", region_name="eu-west-1")
    healthy_stub, broken_stub = Stubber(healthy), Stubber(broken)
    healthy_stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "m0", "Timestamps": [NOW], "Values": [3.0], "StatusCode": "Complete"}
            ]
        },
    )
    broken_stub.add_client_error("get_metric_data", "AccessDenied", "not allowed")

    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    requests = [
        MetricRequest(OWN, region, cpu_query("i-one"), window)
        for region in ("us-east-1", "eu-west-1")
    ]
    fanout = FanOut(2)
    service = MetricsService(
        cast(SessionFactory, StubFactory({"us-east-1": healthy, "eu-west-1": broken})), fanout
    )
    with healthy_stub, broken_stub, caplog.at_level(logging.WARNING):
        results = service.fetch(requests)
    fanout.shutdown()

    assert results.get(requests[0]) == MetricSeries((NOW,), (3.0,))
    assert results.get(requests[1]) is None
    assert [w.message for w in results.warnings] == [
        "Missing IAM permission cloudwatch:GetMetricData in account own, region eu-west-1"
    ]
    assert "cloudwatch:GetMetricData" in caplog.text


def test_fetch_metric_data_follows_next_token() -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1")
    stub = Stubber(client)
    later, earlier = NOW - timedelta(minutes=5), NOW - timedelta(minutes=10)
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "m0", "Timestamps": [later], "Values": [2.0], "StatusCode": "PartialData"},
                {"Id": "m1", "Timestamps": [], "Values": [], "StatusCode": "Complete"},
            ],
            "NextToken": "page-2",
        },
    )
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "m0", "Timestamps": [earlier], "Values": [1.0], "StatusCode": "Complete"}
            ]
        },
        expected_params={
            "MetricDataQueries": ANY,
            "StartTime": NOW - timedelta(hours=1),
            "EndTime": NOW,
            "ScanBy": "TimestampAscending",
            "NextToken": "page-2",
        },
    )
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    with stub:
        first, second = fetch_metric_data(client, [cpu_query("i-a"), cpu_query("i-b")], window)
    stub.assert_no_pending_responses()
    assert first.points() == [(earlier, 1.0), (later, 2.0)]
    assert first.complete
    assert not second.has_data


def test_fetch_metric_data_keeps_failed_status(caplog: pytest.LogCaptureFixture) -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "m0", "Timestamps": [], "Values": [], "StatusCode": "InternalError"}
            ]
        },
    )
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    with stub, caplog.at_level(logging.WARNING):
        (series,) = fetch_metric_data(client, [cpu_query("i-a")], window)
    assert series.status == "InternalError"
    assert not series.complete
    assert "InternalError" in caplog.text


def test_fetch_metric_data_rejects_oversized_batch() -> None:
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 300)
    queries = [cpu_query(f"i-{n}") for n in range(MAX_QUERIES_PER_REQUEST + 1)]
    with pytest.raises(ValueError, match="500"):
        fetch_metric_data(object(), queries, window)


def test_statistics_sorts_datapoints(service: MetricsService) -> None:
    put_cpu(
        None, "us-east-1", "i-stats", [(NOW - timedelta(minutes=m), float(m)) for m in (50, 10, 30)]
    )
    window = MetricWindow(NOW - timedelta(hours=1), NOW, 600)
    series = service.statistics(
        OWN, "us-east-1", cpu_query("i-stats"), window, ("Average", "Maximum")
    )
    assert service.factory.counter.calls["cloudwatch.GetMetricStatistics"] == 1
    assert series["Average"].values == (50.0, 30.0, 10.0)
    assert list(series["Maximum"].timestamps) == sorted(series["Maximum"].timestamps)


def test_statistics_rejects_over_1440_points(service: MetricsService) -> None:
    window = MetricWindow(NOW - timedelta(days=2), NOW, 60)
    with pytest.raises(ValueError, match="1440"):
        service.statistics(OWN, "us-east-1", cpu_query("i-a"), window)


def test_list_metrics_returns_dimension_sets(service: MetricsService) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch.put_metric_data(
        Namespace="CWAgent",
        MetricData=[
            {
                "MetricName": "mem_used_percent",
                "Dimensions": [
                    {"Name": "InstanceId", "Value": "i-agent"},
                    {"Name": "InstanceType", "Value": "t3.large"},
                ],
                "Value": 40.0,
            }
        ],
    )
    found = service.list_metrics(
        OWN, "us-east-1", "CWAgent", "mem_used_percent", [("InstanceId", "i-agent")]
    )
    assert found == [(("InstanceId", "i-agent"), ("InstanceType", "t3.large"))]
    assert (
        service.list_metrics(
            OWN, "us-east-1", "CWAgent", "mem_used_percent", [("InstanceId", "i-x")]
        )
        == []
    )
