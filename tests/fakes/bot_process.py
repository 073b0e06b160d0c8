"""`python -m bot serve --http --port 0` as a child process, and signed slash commands to it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.fakes.slack_api import slack_signature_headers

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"Serving Slack requests at http://127\.0\.0\.1:(\d+)/slack/events")
_CONNECTED = re.compile(r"Connected to Slack in Socket Mode; /healthz and /metrics on port (\d+)")


class BotProcess:
    """The bot on a free port of 127.0.0.1, with its stderr collected in `lines`.

    In Socket Mode the port serves only /healthz and /metrics.
    """

    def __init__(
        self,
        env: dict[str, str],
        config: Path,
        start_timeout: float = 60.0,
        socket_mode: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.lines: list[str] = []
        self._ready = _CONNECTED if socket_mode else _SERVING
        mode = [] if socket_mode else ["--http"]
        command = [sys.executable, "-m", "bot", "serve", *mode, "--port", "0", *extra_args]
        self.process = subprocess.Popen(
            [*command, "--config", str(config)],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = self._wait_for_port(start_timeout)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = self._ready.search(line)
                if match:
                    return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the bot did not start:\n" + "".join(self.lines))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def slash_command(
        self,
        secret: str,
        text: str,
        channel: str,
        response_url: str,
        user: str = "U0SLASH001",
        timeout: float = 10.0,
    ) -> tuple[int, float]:
        """POST a signed /aws command as Slack does; return the HTTP status and seconds to the ack."""
        body = urllib.parse.urlencode(
            {
                "command": "/aws",
                "text": text,
                "channel_id": channel,
                "user_id": user,
                "team_id": "T0TEST",
                "response_url": response_url,
                "trigger_id": "1.2.3",
            }
        )
        request = urllib.request.Request(
            self.url("/slack/events"),
            data=body.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                **slack_signature_headers(secret, body),
            },
            method="POST",
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return response.status, time.perf_counter() - started
        except urllib.error.HTTPError as exc:
            return exc.code, time.perf_counter() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
