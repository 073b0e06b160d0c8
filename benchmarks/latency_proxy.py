"""moto behind a latency and throttling proxy on 127.0.0.1, run alone or from a benchmark.

    .venv/bin/python benchmarks/latency_proxy.py --delay-ms 50 --throttle-percent 5

prints `Listening on http://127.0.0.1:PORT` and serves until interrupted. The benchmarks
start it through `ProxyProcess`, in a process of its own, so moto's CPU work does not
compete with the measured code for one interpreter lock. The middleware itself is
`tests.fakes.aws_latency`, which the tests run in a thread.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.aws_latency import LatencyServer

READY_PREFIX = "Listening on "


def fake_aws_environment(endpoint_url: str | None) -> dict[str, str]:
    """Return fake credentials, no metadata lookups and, when given, `endpoint_url` for boto3."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def clean_environment(endpoint_url: str | None) -> dict[str, str]:
    """Copy os.environ without AWS_ and SLACK_ variables, then add the fake AWS ones."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SLACK_"))
    }
    env.update(fake_aws_environment(endpoint_url))
    return env


class ProxyProcess:
    """`latency_proxy.py` as a child process, driven through its control endpoints."""

    def __init__(
        self, delay_seconds: float = 0.05, throttle_share: float = 0.0, replay: bool = False
    ) -> None:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--port",
            "0",
            "--delay-ms",
            str(delay_seconds * 1000),
            "--throttle-percent",
            str(throttle_share * 100),
            *(["--replay"] if replay else []),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=clean_environment(None)
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self.process.kill()
            raise RuntimeError(f"latency proxy failed to start; its first output line was {line!r}")
        self.url = line.removeprefix(READY_PREFIX).strip()

    def _request(self, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        body = None if data is None else json.dumps(data).encode()
        method = "GET" if data is None else "POST"
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
            return result

    def configure(
        self,
        delay_seconds: float | None = None,
        throttle_share: float | None = None,
        replay: bool | None = None,
    ) -> dict[str, Any]:
        """Change the given settings of the running proxy and return all of them."""
        changes = {"delay_seconds": delay_seconds, "throttle_share": throttle_share, "replay": replay}
        return self._request(
            "/latency-proxy/settings", {k: v for k, v in changes.items() if v is not None}
        )

    def stats(self) -> dict[str, Any]:
        return self._request("/latency-proxy/stats")

    def reset_stats(self) -> None:
        self._request("/latency-proxy/stats", {})

    def reset_moto(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)"
    )
    parser.add_argument(
        "--delay-ms", type=float, default=50.0, help="delay per AWS request in ms (default 50)"
    )
    parser.add_argument(
        "--throttle-percent",
        type=float,
        default=0.0,
        help="percentage of AWS requests that get a throttling error (default 0)",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="respond to a repeated read request with a stored copy of moto's response",
    )
    args = parser.parse_args()

    server = LatencyServer(
        delay_seconds=args.delay_ms / 1000,
        throttle_share=args.throttle_percent / 100,
        port=args.port,
        replay=args.replay,
    )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"{READY_PREFIX}{server.url}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
