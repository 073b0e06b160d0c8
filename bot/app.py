"""The Bolt app: thin listeners that ack at once and reply from a worker pool."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from slack_bolt import Ack, App, BoltResponse, Respond, Say
from slack_sdk import WebClient

from bot.digests import snooze_listener
from bot.runtime import Runtime
from bot.slack import upload_files
from handlers.blocks import Reply, context, escape
from handlers.context import ChannelContext
from handlers.digests import SNOOZE_ACTION_ID
from handlers.dispatch import handle_mention, handle_text, unmapped_channel_reply
from handlers.intents import strip_mention

logger = logging.getLogger(__name__)

Answer = Callable[[str, ChannelContext], Reply]


class Metrics:
    """Prometheus metrics of one app, on a registry of its own."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aws_monitor_requests", "Slack requests answered", ["source", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aws_monitor_answer_seconds", "Time from ack to answer", ["source"],
            registry=self.registry,
        )
        self.retries_ignored = Counter(
            "aws_monitor_slack_retries_ignored", "Events re-sent by Slack and not answered again",
            registry=self.registry,
        )
        aws_calls = Gauge(
            "aws_monitor_aws_api_calls", "AWS API calls made since start", registry=self.registry
        )
        aws_calls.set_function(lambda: runtime.factory.counter.total_calls)
        clients = Gauge(
            "aws_monitor_aws_clients", "boto3 clients held in the cache", registry=self.registry
        )
        clients.set_function(lambda: runtime.factory.cached_clients)


class Answerer:
    """Builds replies after the ack, on a pool of its own so Bolt's listener threads stay free."""

    def __init__(self, runtime: Runtime, metrics: Metrics, max_workers: int = 32) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="answer")

    def context(self, channel_id: str, user_id: str | None) -> ChannelContext | None:
        return self.runtime.config.channel_context(channel_id, user_id)

    def answer(
        self,
        source: str,
        text: str,
        channel_id: str,
        user_id: str | None,
        answer: Answer,
        deliver: Callable[[Reply], None],
        client: WebClient,
        thread_ts: str | None = None,
    ) -> None:
        """Build the reply, deliver it, then attach its files; every failure reaches the user."""
        started = time.monotonic()
        outcome = "ok"
        try:
            ctx = self.context(channel_id, user_id)
            if ctx is None:
                outcome = "unmapped"
                reply = unmapped_channel_reply(channel_id, self.runtime.config.path)
            else:
                reply = answer(text, ctx)
            deliver(reply)
            if reply.files:
                problems = upload_files(client, channel_id, reply, thread_ts)
                if problems:
                    deliver(Reply(text=problems[0], blocks=[context(*map(escape, problems))]))
        except Exception as exc:
            outcome = "error"
            logger.exception("Answering %s %r in channel %s failed", source, text, channel_id)
            message = (
                f"Sorry, answering `{escape(text)}` failed ({type(exc).__name__}). "
                "The error is in the bot's log; try again, or ask an admin to run `aws-monitor check`."
            )
            try:
                deliver(Reply(text=message, blocks=[context(message)]))
            except Exception:
                logger.exception("Reporting the failure to channel %s failed too", channel_id)
        finally:
            self.metrics.requests.labels(source, outcome).inc()
            self.metrics.duration.labels(source).observe(time.monotonic() - started)
            try:
                self.runtime.store.audit(channel_id, user_id, source, text, outcome)
            except Exception:
                logger.exception("Writing the audit log for channel %s failed", channel_id)


def build_app(
    runtime: Runtime,
    client: WebClient,
    signing_secret: str | None,
    *,
    socket_mode: bool = False,
    token_verification: bool = True,
) -> tuple[App, Metrics, Answerer]:
    """Create the Bolt app with its listeners; `signing_secret` is required in HTTP mode."""
    app = App(
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=not socket_mode,
        token_verification_enabled=token_verification,
        process_before_response=False,
    )
    metrics = Metrics(runtime)
    answerer = Answerer(runtime, metrics)
    backends = runtime.backends

    @app.command("/aws")
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        text = body.get("text", "") or ""
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: Working on `/aws {escape(text)}`…")

        def deliver(reply: Reply) -> None:
            respond(
                text=reply.text,
                blocks=reply.blocks,
                response_type="in_channel",
                replace_original=False,
            )

        answerer.pool.submit(
            answerer.answer,
            "command",
            text,
            body["channel_id"],
            body.get("user_id"),
            lambda words, ctx: handle_text(words, ctx, backends),
            deliver,
            client,
        )

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any], say: Say, client: WebClient) -> None:
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not runtime.store.first_sighting(event_id):
            metrics.retries_ignored.inc()
            logger.info("Ignoring event %s re-sent by Slack: it was answered already", event_id)
            return
        thread_ts = event.get("thread_ts") or event.get("ts")
        text = strip_mention(event.get("text", ""))

        def deliver(reply: Reply) -> None:
            say(text=reply.text, blocks=reply.blocks, thread_ts=thread_ts)

        answerer.pool.submit(
            answerer.answer,
            "mention",
            text,
            event["channel"],
            event.get("user"),
            lambda words, ctx: handle_mention(words, ctx, backends),
            deliver,
            client,
            thread_ts,
        )

    # Snooze buttons of the idle digest: ack within Slack's 3 seconds, store on the pool.
    app.action(SNOOZE_ACTION_ID)(snooze_listener(runtime, answerer.pool.submit))

    @app.event("message")
    def on_message(body: dict[str, Any]) -> None:
        """Slack sends message events too; the bot replies to mentions only."""

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        logger.error("Unhandled error in a listener: %s", error, exc_info=error)
        return BoltResponse(status=500, body="")

    return app, metrics, answerer
