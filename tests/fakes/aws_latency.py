"""Fake AWS with network latency: moto's server app behind WSGI middleware.

The middleware delays every AWS request by a set time. It responds to a set share of
them with the throttling error of the service's protocol:

- EC2: `RequestLimitExceeded`, HTTP 503;
- the query protocol (RDS, STS, IAM): `Throttling`, HTTP 400;
- S3: `SlowDown`, HTTP 503;
- Lambda: `TooManyRequestsException`, HTTP 429;
- the other JSON protocols: `ThrottlingException`, HTTP 400, as in the common errors of
  the AWS API references.

botocore's standard retry mode (botocore/retries/standard.py) retries each of these codes
whatever the status. A throttled request never reaches moto, so moto's state stays as it was.

With `replay` on, a read request (Describe*, List*, Get*, or GET in the REST protocols)
seen before in the same account and region gets a stored copy of moto's response, after
the same delay. moto used about 20 ms of CPU to list 16 instances on a 2-core machine,
under one interpreter lock, so without replay a benchmark there measures moto, not the
client. Any other request except sts:AssumeRole drops the stored copies.

Requests under /moto-api/ and /latency-proxy/ are neither delayed nor throttled.
`/latency-proxy/settings` (GET, or POST a JSON object) reads or changes the delay, the
throttled share and replay at run time, and `/latency-proxy/stats` (GET, or POST to
reset) returns the request counts, so a benchmark can drive a server that runs in
another process.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

CONTROL_PREFIX = "/latency-proxy/"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_READ_PREFIXES = ("Describe", "List", "Get")
# Operations that change moto's state without changing what any read returns.
_KEEPS_REPLAY = frozenset({"AssumeRole"})


@dataclass(frozen=True)
class Credential:
    """The SigV4 credential scope of a request; empty strings when it is unsigned."""

    access_key: str = ""
    region: str = ""
    service: str = ""


@dataclass(frozen=True)
class StoredResponse:
    """One complete HTTP response: status line, headers and body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def credential(environ: dict[str, Any]) -> Credential:
    """Read the access key, region and service from the SigV4 Authorization header."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return Credential(*match.groups()) if match else Credential()


def signing_name(environ: dict[str, Any]) -> str:
    """Return the SigV4 service name from the Authorization header, or '' when unsigned."""
    return credential(environ).service


def throttle_error(environ: dict[str, Any]) -> StoredResponse:
    """Build the throttling error that AWS returns for this request's service and protocol."""
    service = signing_name(environ)
    content_type = environ.get("CONTENT_TYPE", "")
    request_id = str(uuid.uuid4())

    # NOTE: the EC2 API reference names RequestLimitExceeded but not its HTTP status, so
    # 503 is an assumption. botocore retries the code whatever the status.
    if service == "ec2":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<Response><Errors><Error>"
            "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return StoredResponse(
            "503 Service Unavailable", [("Content-Type", "text/xml")], body.encode()
        )

    if service == "s3":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>SlowDown</Code>"
            "<Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        return StoredResponse("503 Slow Down", headers, body.encode())

    # Services that moved from the query protocol to JSON, such as CloudWatch, mark
    # requests with x-amzn-query-mode and get the query error code in a header.
    query_error = (
        [("x-amzn-query-error", "Throttling;Sender")]
        if environ.get("HTTP_X_AMZN_QUERY_MODE") == "true"
        else []
    )
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return StoredResponse("400 Bad Request", [("Content-Type", "text/xml")], body.encode())

    if service == "lambda":
        code, status = "TooManyRequestsException", "429 Too Many Requests"
    else:
        code, status = "ThrottlingException", "400 Bad Request"
    headers = [
        ("Content-Type", content_type or "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", code),
        *query_error,
    ]
    body_json = json.dumps({"__type": code, "message": "Rate exceeded"})
    return StoredResponse(status, headers, body_json.encode())


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the app behind can read it too."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def operation_name(environ: dict[str, Any], body: bytes) -> str:
    """Name the AWS operation of a request in the RPC protocols, or '' for REST ones."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target.rsplit(".", 1)[-1])
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
        return action[0] if action else ""
    return ""


def _send(start_response: StartResponse, response: StoredResponse) -> list[bytes]:
    headers = [
        (name, value) for name, value in response.headers if name.lower() != "content-length"
    ]
    headers.append(("Content-Length", str(len(response.body))))
    start_response(response.status, headers)
    return [response.body]


class LatencyMiddleware:
    """Delays each AWS request by `delay_seconds` and throttles `throttle_share` of them.

    Throttled requests are picked at random with `seed`, so a run that sends one request
    at a time throttles the same requests every time. The counters are safe to read from
    any thread.
    """

    def __init__(
        self,
        app: WsgiApp,
        delay_seconds: float = 0.05,
        throttle_share: float = 0.0,
        seed: int | None = 0,
        replay: bool = False,
    ) -> None:
        self.app = app
        self.delay_seconds = delay_seconds
        self.throttle_share = throttle_share
        self.replay = replay
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stored: dict[tuple[str, ...], StoredResponse] = {}
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.replayed = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def configure(
        self,
        delay_seconds: float | None = None,
        throttle_share: float | None = None,
        replay: bool | None = None,
    ) -> None:
        if delay_seconds is not None:
            if delay_seconds < 0:
                raise ValueError(f"delay_seconds must be 0 or more, got {delay_seconds!r}")
            self.delay_seconds = delay_seconds
        if throttle_share is not None:
            if not 0.0 <= throttle_share <= 1.0:
                raise ValueError(f"throttle_share must be from 0 to 1, got {throttle_share!r}")
            self.throttle_share = throttle_share
        if replay is not None:
            self.replay = bool(replay)
            if not self.replay:
                with self._lock:
                    self._stored.clear()

    def settings(self) -> dict[str, Any]:
        return {
            "delay_seconds": self.delay_seconds,
            "throttle_share": self.throttle_share,
            "replay": self.replay,
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "throttled": sum(self.throttled.values()),
                "replayed": self.replayed,
                "by_service": dict(self.requests),
                "throttled_by_service": dict(self.throttled),
                "max_in_flight": self.max_in_flight,
            }

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.throttled.clear()
            self.replayed = 0
            self.max_in_flight = self.in_flight

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        scope = credential(environ)
        if scope.service == "elasticmapreduce" and scope.region:
            # moto's EMR reads the region from the host name only and falls back to
            # us-east-1 for 127.0.0.1, so every region would list one region's clusters.
            environ["HTTP_HOST"] = f"elasticmapreduce.{scope.region}.amazonaws.com"
        service = scope.service or "unsigned"
        with self._lock:
            self.requests[service] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            throttle = self.throttle_share > 0 and self._random.random() < self.throttle_share
            if throttle:
                self.throttled[service] += 1
        try:
            if self.delay_seconds > 0:
                time.sleep(self.delay_seconds)
            if throttle:
                return _send(start_response, throttle_error(environ))
            return self._forward(environ, start_response, scope)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(
        self, environ: dict[str, Any], start_response: StartResponse, scope: Credential
    ) -> Iterable[bytes]:
        body = _read_body(environ)
        operation = operation_name(environ, body)
        method = environ.get("REQUEST_METHOD", "GET")
        # The RPC protocols name the operation. In the REST protocols a read is a GET or HEAD.
        is_read = operation.startswith(_READ_PREFIXES) if operation else method in ("GET", "HEAD")
        if not is_read:
            if operation not in _KEEPS_REPLAY:
                with self._lock:
                    self._stored.clear()
            return self.app(environ, start_response)
        if not self.replay:
            return self.app(environ, start_response)
        key = (
            get_account_id_from(scope.access_key),
            scope.region,
            scope.service,
            method,
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_X_AMZ_TARGET", ""),
            body.decode("utf-8", "replace"),
        )
        with self._lock:
            stored = self._stored.get(key)
            if stored is not None:
                self.replayed += 1
        if stored is None:
            stored = self._call_app(environ)
            with self._lock:
                self._stored[key] = stored
        return _send(start_response, stored)

    def _call_app(self, environ: dict[str, Any]) -> StoredResponse:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = status
            captured["headers"] = list(headers)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return StoredResponse(captured["status"], captured["headers"], body)

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"].removeprefix(CONTROL_PREFIX)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "settings":
                if method == "POST":
                    changes = json.loads(_read_body(environ) or b"{}")
                    self.configure(
                        changes.get("delay_seconds"),
                        changes.get("throttle_share"),
                        changes.get("replay"),
                    )
                return _json_response(start_response, "200 OK", self.settings())
            if path == "stats":
                if method == "POST":
                    self.reset_stats()
                return _json_response(start_response, "200 OK", self.stats())
        except (ValueError, TypeError) as exc:
            return _json_response(start_response, "400 Bad Request", {"error": str(exc)})
        return _json_response(start_response, "404 Not Found", {"error": f"unknown path {path!r}"})


def _json_response(
    start_response: StartResponse, status: str, data: dict[str, Any]
) -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler with TCP_NODELAY and without an access log line per request.

    werkzeug sends the headers and the body in separate writes. With Nagle's algorithm on,
    the body waits for the client's delayed ACK of the headers, which adds up to 40 ms on
    Linux to a response larger than a few kilobytes.
    """

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LatencyServer:
    """moto behind `LatencyMiddleware`, served on 127.0.0.1 with a thread per connection."""

    def __init__(
        self,
        delay_seconds: float = 0.05,
        throttle_share: float = 0.0,
        port: int = 0,
        seed: int | None = 0,
        replay: bool = False,
    ) -> None:
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.middleware = LatencyMiddleware(
            moto_app, delay_seconds, throttle_share, seed=seed, replay=replay
        )
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, self.middleware, threaded=True, request_handler=_QuietRequestHandler
        )
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> LatencyServer:
        self._thread = threading.Thread(
            target=self.serve_forever, name="latency-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LatencyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
