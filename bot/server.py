"""HTTP serving with waitress: Slack requests, a health check and Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.app import Metrics

logger = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
StartResponse = Callable[..., Any]
# Largest request body accepted. Slack's own requests are a few kB; nothing bigger is
# read into memory or handed to Bolt.
MAX_BODY_BYTES = 1024 * 1024
# Slack sends Unix seconds. Bolt's verifier calls int() on the header and fails with a
# ValueError, an HTTP 500, on anything else.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class RejectedRequest(Exception):
    """A Slack request rejected before it reaches Bolt, with its HTTP status and reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body, rejecting one over MAX_BODY_BYTES without reading it."""
    declared = environ.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        raise RejectedRequest("400 Bad Request", f"invalid Content-Length {declared[:20]!r}")
    length = int(declared)
    if length > MAX_BODY_BYTES:
        raise RejectedRequest(
            "413 Request Entity Too Large", f"body of {length} bytes is over {MAX_BODY_BYTES}"
        )
    stream = environ.get("wsgi.input")
    if stream is None or length == 0:
        return b""
    # Never more than the declared length, which is at most MAX_BODY_BYTES here.
    body: bytes = stream.read(length)
    return body


def check_signature_headers(environ: dict[str, Any]) -> None:
    """Reject a request whose signature headers cannot be checked, as Bolt rejects a bad one."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    if timestamp is None or not environ.get("HTTP_X_SLACK_SIGNATURE"):
        raise RejectedRequest("401 Unauthorized", "missing Slack signature headers")
    if not _TIMESTAMP.match(timestamp):
        raise RejectedRequest(
            "401 Unauthorized", f"invalid X-Slack-Request-Timestamp {timestamp[:20]!r}"
        )


def check_payload(body: bytes, content_type: str | None) -> None:
    """Reject a body that Bolt would fail to parse, which would be an HTTP 500.

    The checks follow slack_bolt.request.internals.parse_body (slack_bolt 1.30): JSON when
    the content type is application/json or the body starts with `{`, else a form whose
    `payload` field, when present, is JSON. Each JSON value must be an object.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedRequest("400 Bad Request", "body is not UTF-8") from None
    if not text:
        return
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/json" or text.startswith("{"):
        _check_json_object(text, "body")
        return
    if "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            _check_json_object(payload, "payload field")


def _check_json_object(text: str, what: str) -> None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RejectedRequest("400 Bad Request", f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RejectedRequest(
            "400 Bad Request", f"{what} is JSON {type(value).__name__}, not an object"
        )
    event = value.get("event")
    if event is not None and not isinstance(event, dict):
        raise RejectedRequest("400 Bad Request", f"`event` in the {what} is not an object")


def make_wsgi_app(
    app: App | None, metrics: Metrics
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Route /slack/events to Bolt (when given), /healthz and /metrics to plain handlers."""
    slack = SlackRequestHandler(app, path=SLACK_PATH) if app is not None else None

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if path == "/metrics" and method == "GET":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest(metrics.registry)]
        if path == SLACK_PATH and slack is not None:
            if method != "POST":
                start_response("405 Method Not Allowed", [("Allow", "POST")])
                return [b"POST Slack requests here\n"]
            try:
                body = read_body(environ)
                check_signature_headers(environ)
                check_payload(body, environ.get("CONTENT_TYPE"))
            except RejectedRequest as exc:
                logger.warning(
                    "Rejected a request to %s from %s with HTTP %s: %s",
                    SLACK_PATH,
                    environ.get("REMOTE_ADDR", "an unknown address"),
                    exc.status,
                    exc.reason,
                )
                start_response(exc.status, [("Content-Type", "text/plain; charset=utf-8")])
                return [f"{exc.reason}\n".encode()]
            # Bolt reads the body again, so it gets the bytes already read.
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return slack(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return wsgi


class HttpServer:
    """A waitress server on a thread of its own; port 0 picks a free port."""

    def __init__(self, wsgi: Callable[..., Any], host: str, port: int, threads: int = 16) -> None:
        # waitress responds with 413 itself past this size, before buffering the body,
        # and also caps bodies sent without a Content-Length (chunked).
        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            ident="aws-monitor",
            max_request_body_size=MAX_BODY_BYTES,
        )
        self.host = host
        self.port = int(self._server.effective_port)  # type: ignore[union-attr]
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        logger.info("Listening on http://%s:%d", self.host, self.port)
        self._server.run()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()
