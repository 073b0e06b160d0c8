"""HTTP serving with waitress: Slack requests, a health check and Prometheus metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.app import Metrics

logger = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
StartResponse = Callable[..., Any]


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
            return slack(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return wsgi


class HttpServer:
    """A waitress server on a thread of its own; port 0 picks a free port."""

    def __init__(self, wsgi: Callable[..., Any], host: str, port: int, threads: int = 16) -> None:
        self._server = create_server(
            wsgi, host=host, port=port, threads=threads, ident="aws-monitor"
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
