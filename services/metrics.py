"""CloudWatch metric data for many resources at once, batched through GetMetricData.

Windows are timezone-aware UTC. A series without datapoints is "no data" and its
statistics are None, never 0. Requests are grouped per account, region and window,
one client per account and region, up to 500 queries a request, and every batch
runs on the shared fan-out. A failed batch becomes a warning, and the other batches
still return their series.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.accounts import Account
from services.fanout import FanOut, Outcome, ScanWarning, Task
from services.sessions import SessionFactory

logger = logging.getLogger(__name__)

# Service limits of GetMetricData, from the CloudWatch API reference.
MAX_QUERIES_PER_REQUEST = 500
MAX_DATAPOINTS_PER_REQUEST = 100_800
# GetMetricStatistics returns at most 1,440 datapoints per call.
MAX_STATISTICS_DATAPOINTS = 1_440
# 500 series of 200 periods each fit in one GetMetricData response (100,000 datapoints).
MAX_POINTS_PER_SERIES = 200
STANDARD_PERIODS = (60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400)
# A runaway NextToken loop stops here instead of paging forever.
MAX_PAGES = 100
COMPLETE = "Complete"


def utc_now() -> datetime:
    return datetime.now(UTC)


def minimum_period(start: datetime, now: datetime) -> int:
    """Return the smallest period CloudWatch still stores for data that begins at `start`.

    CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and hourly
    data for 455 days, so older windows need coarser periods.
    """
    age = now - start
    if age <= timedelta(days=15):
        return 60
    if age <= timedelta(days=63):
        return 300
    return 3600


def choose_period(
    duration: timedelta, minimum: int = 60, max_points: int = MAX_POINTS_PER_SERIES
) -> int:
    """Pick the smallest standard period of at least `minimum` seconds that gives at most
    `max_points` periods over `duration`. When no standard period fits, whole hours are used."""
    seconds = duration.total_seconds()
    for period in STANDARD_PERIODS:
        if period >= minimum and math.ceil(seconds / period) <= max_points:
            return period
    hours = math.ceil(seconds / max_points / 3600)
    return max(hours * 3600, minimum)


@dataclass(frozen=True)
class MetricWindow:
    """A time range in UTC and the period, in seconds, that splits it into datapoints."""

    start: datetime
    end: datetime
    period: int

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise ValueError(f"MetricWindow.{name} must be a UTC datetime, got {value!r}")
        if self.start >= self.end:
            raise ValueError(f"MetricWindow start {self.start} is not before end {self.end}")
        if self.period < 60 or self.period % 60:
            raise ValueError(f"Period must be a multiple of 60 seconds, got {self.period}")
        if self.points > MAX_DATAPOINTS_PER_REQUEST:
            raise ValueError(
                f"Period {self.period} s gives {self.points} datapoints per series, more than "
                f"the {MAX_DATAPOINTS_PER_REQUEST} GetMetricData returns; use a longer period"
            )

    @classmethod
    def last(
        cls, duration: timedelta, now: datetime | None = None, period: int | None = None
    ) -> MetricWindow:
        """Build the window of `duration` that ends at `now`, rounded down to CloudWatch's
        storage resolution for that age (1 minute, 5 minutes or 1 hour)."""
        now = (now or utc_now()).astimezone(UTC)
        resolution = minimum_period(now - duration, now)
        end = floor_time(now, resolution)
        chosen = period if period is not None else choose_period(duration, resolution)
        return cls(start=end - duration, end=end, period=chosen)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def points(self) -> int:
        """Number of periods in the window, the maximum datapoints of one series."""
        return math.ceil(self.duration.total_seconds() / self.period)


def floor_time(moment: datetime, seconds: int) -> datetime:
    """Round a UTC datetime down to a multiple of `seconds` since the epoch."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


@dataclass(frozen=True)
class MetricQuery:
    """One metric statistic: namespace, name, exact dimension set and statistic."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def api_dimensions(self) -> list[dict[str, str]]:
        return [{"Name": name, "Value": value} for name, value in self.dimensions]


@dataclass(frozen=True)
class MetricRequest:
    """A query to run in one account, region and window."""

    account: Account
    region: str
    query: MetricQuery
    window: MetricWindow


@dataclass(frozen=True)
class MetricSeries:
    """Datapoints of one query in ascending time order. An empty series means no data."""

    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()
    status: str = COMPLETE

    @classmethod
    def from_points(
        cls, points: Iterable[tuple[datetime, float]], status: str = COMPLETE
    ) -> MetricSeries:
        """Build a series sorted by time. A timestamp seen twice keeps its last value."""
        by_time: dict[datetime, float] = {}
        for timestamp, value in points:
            by_time[timestamp.astimezone(UTC)] = float(value)
        ordered = sorted(by_time.items())
        return cls(
            timestamps=tuple(t for t, _ in ordered),
            values=tuple(v for _, v in ordered),
            status=status,
        )

    @property
    def has_data(self) -> bool:
        return bool(self.values)

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    def points(self) -> list[tuple[datetime, float]]:
        return list(zip(self.timestamps, self.values, strict=True))

    def average(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None

    def maximum(self) -> float | None:
        return max(self.values) if self.values else None

    def minimum(self) -> float | None:
        return min(self.values) if self.values else None

    def total(self) -> float | None:
        return sum(self.values) if self.values else None


@dataclass
class MetricResults:
    """Series per request. A request missing here was in a batch that failed."""

    series: dict[MetricRequest, MetricSeries] = field(default_factory=dict)
    warnings: list[ScanWarning] = field(default_factory=list)
    requests: int = 0

    def get(self, request: MetricRequest) -> MetricSeries | None:
        return self.series.get(request)


def batch_size(window: MetricWindow) -> int:
    """Return how many queries of this window fit in one GetMetricData response."""
    return max(1, min(MAX_QUERIES_PER_REQUEST, MAX_DATAPOINTS_PER_REQUEST // window.points))


def metric_data_query(query_id: str, query: MetricQuery, period: int) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": query.namespace,
                "MetricName": query.metric_name,
                "Dimensions": query.api_dimensions(),
            },
            "Period": period,
            "Stat": query.stat,
        },
        "ReturnData": True,
    }


def fetch_metric_data(
    client: Any, queries: Sequence[MetricQuery], window: MetricWindow
) -> list[MetricSeries]:
    """Run one batch of at most 500 queries through GetMetricData, following NextToken.

    Returns one series per query in the same order. A series whose StatusCode is not
    Complete keeps the datapoints it got and carries that status, and the failure is logged.
    """
    if len(queries) > MAX_QUERIES_PER_REQUEST:
        raise ValueError(f"{len(queries)} queries in one batch; the maximum is 500")
    ids = [f"m{index}" for index in range(len(queries))]
    points: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    statuses: dict[str, str] = {}
    params: dict[str, Any] = {
        "MetricDataQueries": [
            metric_data_query(query_id, query, window.period)
            for query_id, query in zip(ids, queries, strict=True)
        ],
        "StartTime": window.start,
        "EndTime": window.end,
        "ScanBy": "TimestampAscending",
    }
    for _ in range(MAX_PAGES):
        response = client.get_metric_data(**params)
        for result in response.get("MetricDataResults", []):
            query_id = result["Id"]
            points[query_id].extend(
                zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
            )
            statuses[query_id] = result.get("StatusCode", COMPLETE)
        for message in response.get("Messages", []):
            logger.warning(
                "GetMetricData message %s: %s", message.get("Code"), message.get("Value")
            )
        token = response.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    else:
        raise RuntimeError(f"GetMetricData still returned a NextToken after {MAX_PAGES} pages")

    series = []
    for query_id, query in zip(ids, queries, strict=True):
        status = statuses.get(query_id, COMPLETE)
        if status != COMPLETE:
            logger.warning(
                "GetMetricData returned %s for %s %s %s",
                status,
                query.namespace,
                query.metric_name,
                dict(query.dimensions),
            )
        series.append(MetricSeries.from_points(points.get(query_id, []), status))
    return series


class MetricsService:
    """CloudWatch reader of the services layer, shared by every request."""

    def __init__(self, factory: SessionFactory, fanout: FanOut) -> None:
        self.factory = factory
        self.fanout = fanout

    def fetch(self, requests: Iterable[MetricRequest], user_id: str | None = None) -> MetricResults:
        """Fetch every request with as few GetMetricData calls as the limits allow."""
        groups: dict[tuple[Account, str, MetricWindow], list[MetricQuery]] = defaultdict(list)
        for request in dict.fromkeys(requests):
            groups[(request.account, request.region, request.window)].append(request.query)

        tasks: list[Task[tuple[MetricRequest, MetricSeries]]] = []
        for (account, region, window), queries in groups.items():
            size = batch_size(window)
            for offset in range(0, len(queries), size):
                batch = queries[offset : offset + size]
                tasks.append(self._batch_task(account, region, window, batch, user_id))

        gathered = self.fanout.run(tasks)
        results = MetricResults(warnings=gathered.warnings, requests=len(tasks))
        results.series.update(gathered.items)
        logger.debug(
            "Fetched %d metric series in %d batches, %d failed",
            len(results.series),
            len(tasks),
            len(gathered.warnings),
        )
        return results

    def _batch_task(
        self,
        account: Account,
        region: str,
        window: MetricWindow,
        queries: list[MetricQuery],
        user_id: str | None,
    ) -> Task[tuple[MetricRequest, MetricSeries]]:
        def run() -> Outcome[tuple[MetricRequest, MetricSeries]]:
            client = self.factory.client(account, "cloudwatch", region, user_id=user_id)
            series = fetch_metric_data(client, queries, window)
            return Outcome(
                items=[
                    (MetricRequest(account, region, query, window), query_series)
                    for query, query_series in zip(queries, series, strict=True)
                ]
            )

        return Task(account=account, region=region, action="cloudwatch:GetMetricData", run=run)

    def statistics(
        self,
        account: Account,
        region: str,
        query: MetricQuery,
        window: MetricWindow,
        statistics: Sequence[str] = ("Average", "Maximum", "Minimum"),
        user_id: str | None = None,
    ) -> dict[str, MetricSeries]:
        """Read one metric through GetMetricStatistics, one series per statistic.

        `query.stat` is ignored in favour of `statistics`. Errors propagate, because a
        single metric has no other batches to fall back on.
        """
        if window.points > MAX_STATISTICS_DATAPOINTS:
            raise ValueError(
                f"Period {window.period} s gives {window.points} datapoints; "
                f"GetMetricStatistics returns at most {MAX_STATISTICS_DATAPOINTS}"
            )
        client = self.factory.client(account, "cloudwatch", region, user_id=user_id)
        response = client.get_metric_statistics(
            Namespace=query.namespace,
            MetricName=query.metric_name,
            Dimensions=query.api_dimensions(),
            StartTime=window.start,
            EndTime=window.end,
            Period=window.period,
            Statistics=list(statistics),
        )
        datapoints = response.get("Datapoints", [])
        return {
            statistic: MetricSeries.from_points(
                (point["Timestamp"], point[statistic]) for point in datapoints if statistic in point
            )
            for statistic in statistics
        }

    def list_metrics(
        self,
        account: Account,
        region: str,
        namespace: str,
        metric_name: str,
        dimensions: Sequence[tuple[str, str]],
        user_id: str | None = None,
    ) -> list[tuple[tuple[str, str], ...]]:
        """Return the dimension sets under which a metric exists and includes `dimensions`.

        CloudWatch lists a metric only if it received data in the past two weeks.
        """
        client = self.factory.client(account, "cloudwatch", region, user_id=user_id)
        found: list[tuple[tuple[str, str], ...]] = []
        for page in client.get_paginator("list_metrics").paginate(
            Namespace=namespace,
            MetricName=metric_name,
            Dimensions=[{"Name": name, "Value": value} for name, value in dimensions],
        ):
            for metric in page.get("Metrics", []):
                found.append(tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
        return found
