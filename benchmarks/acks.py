"""Time the HTTP ack of /aws slash commands while every AWS request takes 5 seconds.

    .venv/bin/python benchmarks/acks.py [--requests 200] [--delay-ms 5000] [--rate 20]

The bot runs as `python -m bot serve --http --port 0`, against moto behind the latency
proxy and a local stand-in for the Slack Web API that records what arrives at each
response URL. Signed slash commands go out at a fixed rate from several threads; the
script prints the ack time percentiles and checks that every answer arrives at its
response URL after its ack. Slack gives up on an ack after 3 seconds; the target here
is a 99th percentile under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import estate
from benchmarks.latency_proxy import ProxyProcess, clean_environment, fake_aws_environment
from tests.fakes.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackApi

SIGNING_SECRET = "bench-signing-secret"
ACCOUNT_ID = "111111111111"
REGION = "us-east-1"
INSTANCES = 5
TARGET_P99_SECONDS = 0.3


def seed(endpoint_url: str) -> None:
    ec2 = estate.account_session(ACCOUNT_ID).client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=INSTANCES, MaxCount=INSTANCES)


def percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="slash commands to send (default 200)")
    parser.add_argument("--delay-ms", type=float, default=5000.0, help="delay per AWS request in ms (default 5000)")
    parser.add_argument("--rate", type=float, default=20.0, help="slash commands sent per second (default 20)")
    parser.add_argument("--senders", type=int, default=8, help="threads sending commands at once (default 8)")
    args = parser.parse_args()

    with (
        ProxyProcess(delay_seconds=0.0) as proxy,
        FakeSlackApi() as slack,
        tempfile.TemporaryDirectory() as workdir,
    ):
        os.environ.update(fake_aws_environment(proxy.url))
        seed(proxy.url)
        proxy.configure(delay_seconds=args.delay_ms / 1000, replay=True)
        env = clean_environment(proxy.url)
        env.update(
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_BASE_URL=slack.base_url,
            AWS_MONITOR_DATABASE_URL=f"sqlite:///{workdir}/bot.db",
            LOG_LEVEL="INFO",
        )
        config = estate.write_config(
            Path(workdir) / "aws-monitor.yaml", (REGION,), {"prod": ACCOUNT_ID}
        )
        bot = BotProcess(env, config)
        try:
            acked_at: dict[str, float] = {}
            durations: list[float] = []
            statuses: list[int] = []
            lock = threading.Lock()
            started = time.monotonic()

            def send(index: int) -> None:
                time.sleep(max(0.0, started + index / args.rate - time.monotonic()))
                name = f"ack{index:04d}"
                status, seconds = bot.slash_command(
                    SIGNING_SECRET, "ec2", estate.CHANNEL_ID, slack.response_url(name)
                )
                with lock:
                    acked_at[f"/response/{name}"] = time.monotonic()
                    durations.append(seconds)
                    statuses.append(status)

            print(f"Sending {args.requests} slash commands at {args.rate:.0f}/s from {args.senders} "
                  f"threads; every AWS request takes {args.delay_ms / 1000:.1f} s", flush=True)
            with ThreadPoolExecutor(args.senders) as senders:
                list(senders.map(send, range(args.requests)))
            sent = time.monotonic() - started
            arrived = slack.wait_for(lambda: len(slack.responses) >= args.requests, timeout=600)
            answered = time.monotonic() - started
        finally:
            bot.stop()

    answers = {call.method: call for call in slack.responses}
    late = [path for path, call in answers.items() if call.at <= acked_at.get(path, float("inf"))]
    p50, p90, p99 = (percentile(durations, p) for p in (50, 90, 99))
    print(f"Acks: HTTP {sorted(set(statuses))}; p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms "
          f"(target p99 < {TARGET_P99_SECONDS * 1000:.0f} ms: "
          f"{'met' if p99 < TARGET_P99_SECONDS else 'NOT MET'})")
    print(f"Answers at the response URLs: {len(answers)} of {args.requests}, "
          f"{len(slack.responses)} posts in all; {len(late)} arrived before their ack; "
          f"all sent after {sent:.1f} s, all answered after {answered:.1f} s")
    ok = (
        arrived
        and statuses.count(200) == args.requests
        and len(answers) == args.requests
        and len(slack.responses) == args.requests
        and not late
    )
    if not ok:
        print("FAILED: some commands were not acked with HTTP 200 or not answered exactly once")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
