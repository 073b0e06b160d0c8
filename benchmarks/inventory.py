"""Time the inventory of every service in 3 accounts x 8 regions: sequential loop vs fan-out.

    .venv/bin/python benchmarks/inventory.py [--delay-ms 50] [--repeats 3] [--skip-rss]

moto runs in a child process behind the latency proxy (benchmarks/latency_proxy.py). The
proxy adds the delay to every AWS request and responds to a repeated read with a stored
copy of moto's response, so the fake AWS costs the client latency but almost no CPU. One
run prints:

- a plain sequential boto3 loop over the same calls (one session per account, a client
  per region, no threads) against `Inventory.collect` on the bot's fan-out, for the
  first question after the bot starts (roles assumed and clients created in the run),
  a new Slack user's first question (roles assumed for the user, clients reused) and a
  repeat question, with wall time, AWS requests, the ratio, and the lower bound:
  max(longest chain of dependent requests x delay, requests x delay / max_workers);
- that both found the same resources, with the same states and tags (asserted);
- the same question with a share of requests throttled: retries, attempts, extra time;
- requests saved by the region and bucket-location caches within their time to live;
- the peak RSS of `aws-monitor ask` for each resource kind, run as a child process.

Absolute times drift on a shared machine; the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.exceptions import ClientError

from benchmarks import estate
from benchmarks.latency_proxy import ProxyProcess, clean_environment, fake_aws_environment
from bot.cli import PRELOADED_SERVICES, configure_gc
from services.accounts import Account
from services.emr import ACTIVE_STATES
from services.fanout import FanOut, Gathered
from services.inventory import RESOURCE_TYPES, Inventory
from services.models import Query, Resource
from services.regions import ENABLED, RegionResolver
from services.s3 import normalise_location
from services.sessions import AwsSettings, RequestCounter, SessionFactory

# (kind, account, region, id) -> (state, sorted tags)
Found = dict[tuple[str, str, str, str], tuple[str, tuple[tuple[str, str], ...]]]

TARGET_SPEEDUP = 10.0
TARGET_BOUND_RATIO = 1.5
TARGET_RSS_MB = 300.0
THROTTLE_SHARE = 0.05
LIST_OPERATIONS = (
    "ec2.DescribeInstances",
    "ec2.DescribeVolumes",
    "rds.DescribeDBInstances",
    "lambda.ListFunctions",
    "eks.ListClusters",
    "emr.ListClusters",
)


@dataclass
class Run:
    """One timed inventory: wall time, CPU time of this process, and AWS requests by operation."""

    label: str
    seconds: float
    cpu_seconds: float
    calls: Counter[str]
    attempts: Counter[str]
    found: Found

    @property
    def requests(self) -> int:
        return sum(self.attempts.values())


def _tags(pairs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


def _tag_list(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def found_by_bot(resources: list[Resource]) -> Found:
    return {
        (r.kind, r.account, r.region, r.id): (r.state, _tags(dict(r.tags))) for r in resources
    }


def sequential_inventory(
    accounts: dict[str, str], regions: tuple[str, ...], counter: RequestCounter
) -> Found:
    """List every resource kind with plain boto3, one call after another.

    This is the shape of a discovery script: a session per account, a client per region and
    service, paginated list calls, and the per-resource follow-up calls the bot makes too.
    """
    found: Found = {}

    def client(session: boto3.Session, service: str, region: str) -> Any:
        created = session.client(service, region_name=region)
        counter.attach(created)
        return created

    sts = boto3.client("sts", region_name="us-east-1")
    counter.attach(sts)
    for name, account_id in accounts.items():
        credentials = sts.assume_role(
            RoleArn=estate.role_arn(account_id), RoleSessionName="aws-monitor"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        for region in regions:
            ec2 = client(session, "ec2", region)
            for page in ec2.get_paginator("describe_instances").paginate():
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        key = ("ec2", name, region, instance["InstanceId"])
                        found[key] = (instance["State"]["Name"], _tags(_tag_list(instance.get("Tags"))))
            for page in ec2.get_paginator("describe_volumes").paginate():
                for volume in page["Volumes"]:
                    key = ("ebs", name, region, volume["VolumeId"])
                    found[key] = (volume["State"], _tags(_tag_list(volume.get("Tags"))))

            rds = client(session, "rds", region)
            for page in rds.get_paginator("describe_db_instances").paginate():
                for db in page["DBInstances"]:
                    key = ("rds", name, region, db["DBInstanceIdentifier"])
                    found[key] = (db["DBInstanceStatus"], _tags(_tag_list(db.get("TagList"))))

            lam = client(session, "lambda", region)
            for page in lam.get_paginator("list_functions").paginate():
                for function in page["Functions"]:
                    tags = lam.list_tags(Resource=function["FunctionArn"]).get("Tags") or {}
                    key = ("lambda", name, region, function["FunctionName"])
                    found[key] = (function.get("State") or "Active", _tags(tags))

            eks = client(session, "eks", region)
            for page in eks.get_paginator("list_clusters").paginate():
                for cluster_name in page["clusters"]:
                    cluster = eks.describe_cluster(name=cluster_name)["cluster"]
                    key = ("eks", name, region, cluster_name)
                    found[key] = (cluster["status"], _tags(cluster.get("tags") or {}))

            emr = client(session, "emr", region)
            pages = emr.get_paginator("list_clusters").paginate(ClusterStates=list(ACTIVE_STATES))
            for page in pages:
                for summary in page["Clusters"]:
                    cluster = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
                    key = ("emr", name, region, summary["Id"])
                    found[key] = (cluster["Status"]["State"], _tags(_tag_list(cluster.get("Tags"))))

        s3 = client(session, "s3", "us-east-1")
        regional: dict[str, Any] = {}
        for page in s3.get_paginator("list_buckets").paginate():
            for bucket in page["Buckets"]:
                location = s3.get_bucket_location(Bucket=bucket["Name"])["LocationConstraint"]
                region = normalise_location(location)
                if region not in regional:
                    regional[region] = client(session, "s3", region)
                try:
                    tag_set = regional[region].get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "NoSuchTagSet":
                        raise
                    tag_set = []
                key = ("s3", name, region, bucket["Name"])
                found[key] = ("available", _tags(_tag_list(tag_set)))
    return found


def _timed(label: str, counter: RequestCounter, work: Callable[[], Found]) -> Run:
    counter.reset()
    cpu_started = time.process_time()
    started = time.perf_counter()
    found = work()
    seconds = time.perf_counter() - started
    return Run(
        label=label,
        seconds=seconds,
        cpu_seconds=time.process_time() - cpu_started,
        calls=Counter(counter.calls),
        attempts=Counter(counter.attempts),
        found=found,
    )


class Bot:
    """The bot's service layer as `build_runtime` wires it, for the benchmark's accounts."""

    def __init__(self, regions: tuple[str, ...] | str, warm: bool = True) -> None:
        self.settings = AwsSettings()
        self.factory = SessionFactory(self.settings)
        self.fanout = FanOut(self.settings.max_workers)
        self.inventory = Inventory(self.factory, self.fanout, RegionResolver(self.factory, regions))
        self.accounts = [
            Account(name, role_arn=estate.role_arn(account_id))
            for name, account_id in estate.ACCOUNTS.items()
        ]
        # What `serve` does before it listens (Runtime.warm); `aws-monitor ask` does neither.
        started = time.perf_counter()
        self.factory.preload(PRELOADED_SERVICES)
        self.warmed = self.inventory.warm(self.accounts, self.settings.max_clients)[0] if warm else 0
        self.warm_seconds = time.perf_counter() - started

    def collect(self, user_id: str) -> Gathered[Resource]:
        gathered = self.inventory.collect(self.accounts, list(RESOURCE_TYPES), Query(), user_id)
        if gathered.warnings:
            raise AssertionError(f"the inventory has warnings: {gathered.warnings}")
        return gathered

    def run(self, label: str, user_id: str, keep_locations: bool = False) -> Run:
        if not keep_locations:
            self.inventory.bucket_locations.clear()
        return _timed(label, self.factory.counter, lambda: found_by_bot(self.collect(user_id).items))

    def close(self) -> None:
        self.fanout.shutdown()


def longest_chain(run: Run) -> int:
    """Count the requests that must follow one another in the run's longest chain.

    The S3 chain is the longest: ListBuckets, GetBucketLocation (unless cached), then
    GetBucketTagging. sts:AssumeRole comes before the first call of each account, and
    DescribeRegions before every listing when regions are looked up.
    """
    for operation in LIST_OPERATIONS:
        if run.calls[operation] != run.calls["ec2.DescribeInstances"]:
            raise AssertionError(f"{operation} took more than one page somewhere: {run.calls}")
    chain = 3 if run.calls["s3.GetBucketLocation"] else 2
    if run.calls["sts.AssumeRole"]:
        chain += 1
    if run.calls["ec2.DescribeRegions"]:
        chain += 1
    return chain


def lower_bound(run: Run, delay: float, concurrency: int) -> float:
    return max(longest_chain(run) * delay, run.requests * delay / concurrency)


def compare_found(reference: Found, measured: Found, label: str) -> None:
    missing = sorted(set(reference) - set(measured))
    extra = sorted(set(measured) - set(reference))
    changed = sorted(key for key in set(reference) & set(measured) if reference[key] != measured[key])
    if missing or extra or changed:
        raise AssertionError(
            f"{label} differs from the sequential loop: {len(missing)} missing "
            f"(first {missing[:3]}), {len(extra)} extra (first {extra[:3]}), "
            f"{len(changed)} with other states or tags (first {changed[:3]})"
        )


def by_kind(found: Found) -> str:
    counts = Counter(kind for kind, _, _, _ in found)
    return ", ".join(f"{kind} {counts[kind]}" for kind in RESOURCE_TYPES)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def _mark(passed: bool) -> str:
    return "met" if passed else "NOT MET"


def speed_section(
    proxy: ProxyProcess, delay: float, repeats: int
) -> tuple[Bot, str, Run, Found]:
    """Time the sequential loop and the fan-out, check both found the same, print ratios."""
    # Fills the proxy's replay store; not timed.
    warmup = Bot(estate.REGIONS)
    warmup.collect("U0WARMUP01")
    warmup.close()
    proxy.reset_stats()

    sequential_counter = RequestCounter()
    sequential = _timed(
        "sequential loop",
        sequential_counter,
        lambda: sequential_inventory(estate.ACCOUNTS, estate.REGIONS, sequential_counter),
    )
    # Each started bot is a new SessionFactory with no role sessions. `serve` creates its
    # clients before it listens, and `aws-monitor ask` creates them while it lists.
    started, unwarmed, warm_seconds = [], [], []
    for index in range(repeats):
        bot = Bot(estate.REGIONS)
        warm_seconds.append(bot.warm_seconds)
        started.append(bot.run("fan-out, first after start", f"U0START{index:03d}"))
        bot.close()
        bot = Bot(estate.REGIONS, warm=False)
        unwarmed.append(bot.run("fan-out, no clients at start", f"U0COLD{index:03d}"))
        bot.close()
    bot = Bot(estate.REGIONS)
    concurrency = bot.settings.max_workers
    bot.collect("U0WARMUP01")
    users = [f"U0FIRST{index:03d}" for index in range(repeats)]
    first = [bot.run("fan-out, new user", user) for user in users]
    repeat = [bot.run("fan-out, repeat question", users[-1]) for _ in range(repeats)]
    for run in (*started, *unwarmed, *first, *repeat):
        compare_found(sequential.found, run.found, run.label)
    stats = proxy.stats()

    print(f"\nFound by both (asserted equal, with states and tags): {len(sequential.found)} "
          f"resources: {by_kind(sequential.found)}")
    print(f"Concurrency limit (AwsSettings.max_workers): {concurrency}; delay {delay * 1000:.0f} ms"
          f" per request; max requests in flight at the proxy: {stats['max_in_flight']}")
    print(f"\n{'run':<38}{'wall s':>8}{'cpu s':>8}{'requests':>10}{'chain':>7}"
          f"{'bound s':>9}{'x bound':>9}{'speed-up':>10}")
    sequential_bound = sequential.requests * delay
    print(f"{sequential.label:<38}{sequential.seconds:>8.2f}{sequential.cpu_seconds:>8.2f}"
          f"{sequential.requests:>10}{sequential.requests:>7}{sequential_bound:>9.2f}"
          f"{sequential.seconds / sequential_bound:>9.2f}{1.0:>10.1f}")
    results = {}
    for runs in (started, first, repeat, unwarmed):
        run = median_run(runs)
        bound = lower_bound(run, delay, concurrency)
        speedup = sequential.seconds / run.seconds
        if runs is not unwarmed:
            results[run.label] = (speedup, run.seconds / bound)
        print(f"{run.label + ' (median)':<38}{run.seconds:>8.2f}{run.cpu_seconds:>8.2f}"
              f"{run.requests:>10}{longest_chain(run):>7}{bound:>9.2f}"
              f"{run.seconds / bound:>9.2f}{speedup:>10.1f}")
        print(f"{'':<4}all {len(runs)} runs: " + ", ".join(f"{r.seconds:.2f} s" for r in runs))
    print(f"{'':<4}`serve` parses models and creates {bot.warmed} clients before it listens, "
          f"untimed above: " + ", ".join(f"{seconds:.2f} s" for seconds in warm_seconds))
    print(f"{'':<4}without that warm-up (last row), as in `aws-monitor ask`, the answer creates "
          "them; no target is set for a one-off command")
    print("\nTargets:")
    for label, (speedup, bound_ratio) in results.items():
        print(f"  {label}: {speedup:.1f}x faster than sequential (target >= {TARGET_SPEEDUP:.0f}x:"
              f" {_mark(speedup >= TARGET_SPEEDUP)}), {bound_ratio:.2f}x the lower bound (target"
              f" <= {TARGET_BOUND_RATIO}x: {_mark(bound_ratio <= TARGET_BOUND_RATIO)})")
    print(f"  boto3 clients cached: {bot.factory.cached_clients} "
          f"(bound AwsSettings.max_clients = {bot.settings.max_clients}) for "
          f"{bot.factory.role_sessions} role sessions ({len(users) + 1} users x "
          f"{len(bot.accounts)} accounts)")
    return bot, users[-1], median_run(repeat), sequential.found


def throttling_section(
    proxy: ProxyProcess, bot: Bot, user: str, baseline: Run, reference: Found, repeats: int
) -> None:
    proxy.configure(throttle_share=THROTTLE_SHARE)
    try:
        runs = []
        throttled = 0
        for _ in range(repeats):
            proxy.reset_stats()
            runs.append(bot.run("fan-out, 5% throttled", user))
            throttled += proxy.stats()["throttled"]
    finally:
        proxy.configure(throttle_share=0.0)
    for run in runs:
        compare_found(reference, run.found, run.label)
    run = median_run(runs)
    calls = sum(run.calls.values())
    print(f"\nThrottling: {THROTTLE_SHARE:.0%} of requests answered with RequestLimitExceeded, "
          f"Throttling, SlowDown, TooManyRequestsException or ThrottlingException")
    print(f"  complete in all {len(runs)} runs (asserted equal to the sequential loop); "
          f"{throttled} requests throttled in total")
    print(f"  median run: {calls} API calls, {run.requests} HTTP attempts "
          f"({run.requests - calls} retries), {run.seconds:.2f} s against {baseline.seconds:.2f} s "
          f"unthrottled: {run.seconds - baseline.seconds:+.2f} s "
          f"({run.seconds / baseline.seconds:.2f}x)")
    print("  all runs: " + ", ".join(f"{r.seconds:.2f} s" for r in runs))


def cache_section(bot: Bot, user: str) -> None:
    """Print the requests a repeat question saves through the bucket-location and region caches.

    Each pair is the same user's question asked twice with clients already cached, so the
    difference is what the caches save.
    """
    bot.inventory.bucket_locations.clear()
    located = bot.run("bucket locations looked up", user, keep_locations=True)
    cached = bot.run("bucket locations cached", user, keep_locations=True)
    enabled = Bot(ENABLED)
    try:
        # Fills the clients and moto's backends of the extra regions; not timed.
        enabled.collect("U0CACHE001")
        enabled.inventory.regions = RegionResolver(enabled.factory, ENABLED)
        enabled.inventory.bucket_locations.clear()
        looked_up = enabled.run("regions and locations looked up", "U0CACHE001", keep_locations=True)
        both_cached = enabled.run("both cached", "U0CACHE001", keep_locations=True)
        regions = enabled.inventory.regions.resolve(enabled.accounts[0])
    finally:
        enabled.close()
    print("\nCaches (time to live 1 hour each), the same question asked twice:")
    for before, after, operations in (
        (located, cached, ("s3.GetBucketLocation",)),
        (looked_up, both_cached, ("ec2.DescribeRegions", "s3.GetBucketLocation")),
    ):
        saved = ", ".join(
            f"{operation} {before.calls[operation]} -> {after.calls[operation]}"
            for operation in operations
        )
        print(f"  {before.label} -> {after.label}: {before.requests} -> {after.requests} "
              f"requests ({saved}), {before.seconds:.2f} -> {after.seconds:.2f} s")
    print(f"  (with `regions: enabled` each account scans the {len(regions)} regions that "
          "moto's DescribeRegions returns)")


# Runs the command given after it and prints the peak RSS of that child in kilobytes.
# Linux counts the RSS a child had before exec in its ru_maxrss, and a child of this
# process starts as a copy of it (several hundred MB of cached clients), so the command
# runs under this small launcher instead.
RSS_LAUNCHER = """
import resource, subprocess, sys
status = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, status, file=sys.stderr)
"""


def _peak_rss_of(command: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """Run `command`; return its exit status, its peak RSS in MB and its output."""
    launched = subprocess.run(
        [sys.executable, "-c", RSS_LAUNCHER, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kb, status = launched.stderr.split()[-2:]
    return int(status), int(peak_kb) / 1024, launched.stdout + launched.stderr


# Answers every kind in one process, as `serve` does after one question of each, and
# prints each reply's text fallback.
EVERY_KIND_SCRIPT = """
import sys
from bot.cli import PRELOADED_SERVICES, configure_gc
from bot.config import load_config
from bot.runtime import build_runtime
from handlers.dispatch import handle_text
configure_gc()
config = load_config(sys.argv[1])
runtime = build_runtime(config)
runtime.warm(PRELOADED_SERVICES)
context = config.channel_context(sys.argv[2])
for kind in sys.argv[3:]:
    print(handle_text(kind, context, runtime.backends).text)
runtime.close()
"""


def rss_section(proxy: ProxyProcess, expected: Counter[str]) -> None:
    """Print the peak RSS of `aws-monitor ask` listing each kind for the channel's 3 accounts."""
    executable = Path(sys.executable).with_name("aws-monitor")
    if not executable.exists():
        raise SystemExit(f"{executable} not found; run `make test` first to install the package")
    print("\nPeak RSS of `aws-monitor ask --channel C0BENCH001 KIND` (3 accounts x 8 regions):")
    with tempfile.TemporaryDirectory() as workdir:
        config = estate.write_config(Path(workdir) / "aws-monitor.yaml")
        env = clean_environment(proxy.url)
        env["AWS_MONITOR_DATABASE_URL"] = f"sqlite:///{workdir}/bot.db"
        env["LOG_LEVEL"] = "WARNING"
        peaks = []
        listed = {kind: f"{expected[kind]} {rtype.title}" for kind, rtype in RESOURCE_TYPES.items()}
        for kind in RESOURCE_TYPES:
            command = [
                str(executable), "ask", "--config", str(config), "--channel", estate.CHANNEL_ID, kind
            ]
            started = time.perf_counter()
            status, peak, output = _peak_rss_of(command, env)
            seconds = time.perf_counter() - started
            if status != 0 or listed[kind] not in output:
                raise AssertionError(
                    f"`aws-monitor ask {kind}` exited {status} without {listed[kind]!r}:\n{output}"
                )
            peaks.append(peak)
            print(f"  {kind:<7}{peak:>7.0f} MB  {seconds:5.1f} s  ({listed[kind]})")
        command = [
            sys.executable, "-c", EVERY_KIND_SCRIPT, str(config), estate.CHANNEL_ID, *RESOURCE_TYPES
        ]
        started = time.perf_counter()
        status, every_kind, output = _peak_rss_of(command, env)
        seconds = time.perf_counter() - started
        missing = [text for text in listed.values() if text not in output]
        if status != 0 or missing:
            raise AssertionError(f"listing every kind exited {status} without {missing}:\n{output}")
    worst = max(peaks)
    print(f"  maximum {worst:.0f} MB (target < {TARGET_RSS_MB:.0f} MB: {_mark(worst < TARGET_RSS_MB)})")
    print(f"  one process answering all {len(RESOURCE_TYPES)} kinds in turn, as `serve` does: "
          f"{every_kind:.0f} MB, {seconds:.1f} s (target < {TARGET_RSS_MB:.0f} MB: "
          f"{_mark(every_kind < TARGET_RSS_MB)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="delay per AWS request in ms (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fan-out runs per case (default 3)")
    parser.add_argument("--skip-rss", action="store_true", help="do not run `aws-monitor ask` for the RSS")
    args = parser.parse_args()
    delay = args.delay_ms / 1000
    # The same collector thresholds as the bot process, which `aws-monitor` sets at start.
    configure_gc()

    with ProxyProcess(delay_seconds=0.0) as proxy:
        os.environ.update(fake_aws_environment(proxy.url))
        print(f"Seeding moto at {proxy.url} with {len(estate.ACCOUNTS)} accounts x "
              f"{len(estate.REGIONS)} regions...", flush=True)
        started = time.perf_counter()
        expected = estate.seed_estate()
        print(f"Seeded in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{kind} {expected[kind]}" for kind in RESOURCE_TYPES), flush=True)
        proxy.configure(delay_seconds=delay, replay=True)
        bot, user, repeat, reference = speed_section(proxy, delay, args.repeats)
        try:
            throttling_section(proxy, bot, user, repeat, reference, args.repeats)
            cache_section(bot, user)
        finally:
            bot.close()
        if not args.skip_rss:
            rss_section(proxy, expected)
    print(f"\nMachine: {machine()}")
    return 0


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"nproc {len(os.sched_getaffinity(0))}, {model}, Python {sys.version.split()[0]}"


if __name__ == "__main__":
    sys.exit(main())
