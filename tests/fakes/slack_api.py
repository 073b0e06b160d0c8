"""A local stand-in for the Slack Web API that records what it receives.

It answers the methods the bot calls (auth.test, chat.postMessage, files.*,
conversations.join) and response URLs, and can be set to fail a method with a
Slack error or an HTTP 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    error: str | None = None
    status: int = 200
    retry_after: int | None = None


class FakeSlackApi:
    """Serves on 127.0.0.1 only; `base_url` is what SLACK_API_BASE_URL should be."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[Call] = []
        self.uploads: list[bytes] = []
        self.socket_mode_url: str | None = None
        self._failures: dict[str, list[Failure]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        handler = self._handler_class()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlackApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def response_url(self, name: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def fail(self, method: str, *failures: Failure) -> None:
        """Fail the next calls of `method` with these failures, in order."""
        with self._lock:
            self._failures.setdefault(method, []).extend(failures)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def _next_failure(self, method: str) -> Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            return queue.pop(0) if queue else None

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": "T0TEST",
                "user": "aws-monitor",
            }
        if method == "chat.postMessage":
            return {"ok": True, "channel": params.get("channel"), "ts": f"1700000000.{number:06d}"}
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_mode_url}
        if method == "files.getUploadURLExternal":
            return {
                "ok": True,
                "upload_url": f"http://127.0.0.1:{self.port}/upload/F{number}",
                "file_id": f"F{number}",
            }
        if method == "files.completeUploadExternal":
            files = params.get("files")
            parsed = json.loads(files) if isinstance(files, str) else files or []
            return {
                "ok": True,
                "files": [{"id": item.get("id"), "title": item.get("title")} for item in parsed],
            }
        return {"ok": True}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
            ) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if isinstance(body, dict) else "text/plain"
                )
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                if self.path.startswith("/upload/"):
                    with api._lock:
                        api.uploads.append(raw)
                    self._send(200, "OK")
                    return
                if self.path.startswith("/response/"):
                    with api._lock:
                        api.responses.append(Call(self.path, json.loads(raw or b"{}"), headers))
                    self._send(200, "ok")
                    return
                method = self.path.removeprefix("/api/").split("?")[0]
                if headers.get("content-type", "").startswith("application/json"):
                    params = json.loads(raw or b"{}")
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                failure = api._next_failure(method)
                with api._lock:
                    api.calls.append(Call(method, params, headers))
                if failure is not None:
                    extra = (
                        {"Retry-After": str(failure.retry_after)}
                        if failure.retry_after is not None
                        else {}
                    )
                    body = {"ok": False, "error": failure.error or "ratelimited"}
                    self._send(failure.status, body, extra)
                    return
                self._send(200, api._answer(method, params))

        return Handler


def slack_signature_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Sign a request body as Slack does: v0 HMAC-SHA256 over `v0:timestamp:body`."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
