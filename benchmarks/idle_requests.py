"""CloudWatch requests and time of the idle scan: batched GetMetricData against one
GetMetricStatistics per metric per instance, side by side in one run.

Runs a moto server on 127.0.0.1 (free port) and seeds one account with running
instances spread over a few regions, each with 14 days of daily CPUUtilization,
NetworkIn and NetworkOut. Then the same IdleScanner runs twice, and only the way it
reads metrics differs. Both runs must produce the same findings. A fixed delay is
added to every AWS request on the client side to stand in for network latency, and
both runs use the same fan-out bound.

    .venv/bin/python benchmarks/idle_requests.py [--instances 500] [--regions a,b]

Exits 1 unless both runs agree and batching needs at least 100 times fewer requests.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.accounts import Account
from services.fanout import FanOut, Outcome, Task
from services.idle import IdleReport, IdleScanner
from services.metrics import MetricRequest, MetricResults, MetricSeries, MetricsService
from services.models import Query
from services.regions import RegionResolver
from services.sessions import AwsSettings, SessionFactory

DEFAULT_REGIONS = "us-east-1,us-west-2,eu-west-1,eu-central-1,ap-southeast-2"
DAYS = 14
MB = 1_000_000
# moto takes long over a large GetMetricData, and a botocore retry would distort the count.
READ_TIMEOUT = 300.0


class PerMetricStatistics(MetricsService):
    """The approach batching replaces: one GetMetricStatistics call per metric per resource."""

    def fetch(self, requests: Iterable[MetricRequest], user_id: str | None = None) -> MetricResults:
        unique = list(dict.fromkeys(requests))

        def task(request: MetricRequest) -> Task[tuple[MetricRequest, MetricSeries]]:
            def run() -> Outcome[tuple[MetricRequest, MetricSeries]]:
                stat = request.query.stat
                series = self.statistics(
                    request.account,
                    request.region,
                    request.query,
                    request.window,
                    (stat,),
                    user_id,
                )
                return Outcome(items=[(request, series[stat])])

            return Task(request.account, request.region, "cloudwatch:GetMetricStatistics", run)

        gathered = self.fanout.run([task(request) for request in unique])
        results = MetricResults(warnings=gathered.warnings, requests=len(unique))
        results.series.update(gathered.items)
        return results


@dataclass
class RunResult:
    name: str
    report: IdleReport
    cloudwatch_requests: int
    cloudwatch_attempts: int
    all_requests: int
    seconds: float


def start_server() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def use_local_endpoint(endpoint: str, region: str) -> None:
    """Point every boto3 client of this process at the moto server, with fake credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=region,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )


def seed(instances: int, regions: Sequence[str], idle_every: int, now: datetime) -> int:
    """Launch the instances round-robin over `regions` and put one datum per metric and
    day. Every `idle_every`-th instance is idle: 2% CPU and 1 MB of network a day."""
    per_region = [
        instances // len(regions) + (i < instances % len(regions)) for i in range(len(regions))
    ]
    index = 0
    for region, count in zip(regions, per_region, strict=True):
        ec2 = boto3.client("ec2", region_name=region)
        ids: list[str] = []
        while len(ids) < count:
            batch = min(100, count - len(ids))
            launched = ec2.run_instances(
                ImageId="ami-12c6146b", MinCount=batch, MaxCount=batch, InstanceType="t3.large"
            )
            ids.extend(instance["InstanceId"] for instance in launched["Instances"])
        datums: list[dict[str, Any]] = []
        for instance_id in ids:
            idle = index % idle_every == 0
            index += 1
            dims = [{"Name": "InstanceId", "Value": instance_id}]
            cpu = 2.0 if idle else 45.0
            network = 0.5 * MB if idle else 400 * MB
            for day in range(1, DAYS + 1):
                stamp = now - timedelta(days=day) + timedelta(hours=1)
                for name, value, unit in (
                    ("CPUUtilization", cpu, "Percent"),
                    ("NetworkIn", network, "Bytes"),
                    ("NetworkOut", network, "Bytes"),
                ):
                    datums.append(
                        {
                            "MetricName": name,
                            "Dimensions": dims,
                            "Timestamp": stamp,
                            "Value": value,
                            "Unit": unit,
                        }
                    )
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        for offset in range(0, len(datums), 1000):
            cloudwatch.put_metric_data(
                Namespace="AWS/EC2", MetricData=datums[offset : offset + 1000]
            )
    return index


def delayed_session(delay: float) -> Callable[[], boto3.Session]:
    """Build sessions whose clients sleep `delay` seconds before sending each request."""

    def sleep(**_: Any) -> None:
        time.sleep(delay)

    def make() -> boto3.Session:
        session = boto3.Session()
        session.events.register("before-send", sleep)
        return session

    return make


def run_scan(
    name: str,
    metrics_type: type[MetricsService],
    regions: Sequence[str],
    workers: int,
    delay: float,
    now: datetime,
) -> RunResult:
    settings = AwsSettings(
        max_workers=workers, default_region=regions[0], read_timeout=READ_TIMEOUT
    )
    factory = SessionFactory(settings, base_session=delayed_session(delay))
    fanout = FanOut(workers)
    try:
        scanner = IdleScanner(
            factory,
            fanout,
            RegionResolver(factory, tuple(regions)),
            metrics_type(factory, fanout),
            clock=lambda: now,
        )
        started = time.monotonic()
        report = scanner.run([Account("bench")], Query())
        seconds = time.monotonic() - started
    finally:
        fanout.shutdown()
    counter = factory.counter
    cloudwatch = sum(n for op, n in counter.calls.items() if op.startswith("cloudwatch."))
    attempts = sum(n for op, n in counter.attempts.items() if op.startswith("cloudwatch."))
    return RunResult(name, report, cloudwatch, attempts, counter.total_calls, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=500, help="running instances to seed")
    parser.add_argument(
        "--regions", default=DEFAULT_REGIONS, help="comma-separated regions to spread them over"
    )
    parser.add_argument("--idle-every", type=int, default=5, help="every Nth instance is idle")
    parser.add_argument(
        "--delay-ms", type=float, default=20.0, help="delay added to every AWS request, in ms"
    )
    parser.add_argument(
        "--workers", type=int, default=16, help="fan-out bound of both runs (aws.max_workers)"
    )
    args = parser.parse_args(argv)
    regions = [region.strip() for region in args.regions.split(",") if region.strip()]
    # The moto server logs every request through werkzeug.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server, endpoint = start_server()
    try:
        use_local_endpoint(endpoint, regions[0])
        # Whole seconds keep the daily periods aligned with the seeded timestamps.
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.monotonic()
        seeded = seed(args.instances, regions, args.idle_every, now)
        print(
            f"Seeded {seeded} running instances in {len(regions)} regions with {DAYS} days of "
            f"CPU and network data on moto at {endpoint} in {time.monotonic() - started:.1f} s"
        )
        delay = args.delay_ms / 1000
        batched = run_scan(
            "GetMetricData, batched", MetricsService, regions, args.workers, delay, now
        )
        single = run_scan(
            "GetMetricStatistics, one per metric",
            PerMetricStatistics,
            regions,
            args.workers,
            delay,
            now,
        )
    finally:
        server.stop()

    for result in (batched, single):
        print(
            f"{result.name:37} {result.cloudwatch_requests:5d} CloudWatch requests "
            f"({result.cloudwatch_attempts} HTTP attempts; {result.all_requests} AWS requests "
            f"in all) {result.seconds:6.1f} s, {len(result.report.findings)} findings, "
            f"{len(result.report.warnings)} warnings"
        )
    same = {f.key for f in batched.report.findings} == {f.key for f in single.report.findings}
    print(f"Same findings in both runs: {'yes' if same else 'NO'}")
    request_ratio = single.cloudwatch_requests / max(1, batched.cloudwatch_requests)
    print(f"CloudWatch requests: {request_ratio:.0f} times fewer with batching")
    print(f"Scan time: {single.seconds / batched.seconds:.1f} times faster with batching")
    floor_single = single.cloudwatch_requests * delay / args.workers
    floor_batched = max(1, batched.cloudwatch_requests / args.workers) * delay
    print(
        f"Latency floor of the CloudWatch part at {args.delay_ms:g} ms per request and "
        f"{args.workers} workers: {floor_batched:.2f} s batched, {floor_single:.2f} s per metric. "
        "moto computes GetMetricData in Python in time proportional to queries x periods x "
        "stored datapoints, so on moto the batched run's time is mostly moto's own work."
    )
    return 0 if same and request_ratio >= 100 and not batched.report.warnings else 1


if __name__ == "__main__":
    sys.exit(main())
