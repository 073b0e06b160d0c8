"""The Bolt app: thin listeners that ack at once and reply from a worker pool."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from slack_bolt import Ack, App, BoltResponse, Respond, Say
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.digests import snooze_listener
from bot.runtime import Runtime
from bot.slack import upload_files
from handlers.blocks import Reply, context, echo, escape, shorten
from handlers.context import ChannelContext
from handlers.digests import SNOOZE_ACTION_ID
from handlers.dispatch import handle_mention, handle_text, unmapped_channel_reply
from handlers.intents import strip_mention

logger = logging.getLogger(__name__)

Answer = Callable[[str, ChannelContext], Reply]

# Maximum length of a log message, in characters, before it is cut. Bolt logs the whole
# body of a request whose signature is invalid, so one request could add megabytes.
MAX_LOG_MESSAGE = 1000
NO_CHANNEL_TEXT = (
    "aws-monitor cannot answer this: Slack sent the command without a channel id, so the "
    "bot cannot tell which AWS accounts to use. Try again from a channel."
)
NO_RESPONSE_URL_TEXT = (
    "aws-monitor cannot answer this: Slack sent the command without a response URL to "
    "answer through. Try again in a moment."
)


class TruncateLongMessages(logging.Filter):
    """Cut log messages longer than `limit` characters, noting the full length."""

    def __init__(self, limit: int = MAX_LOG_MESSAGE) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left for the handler to report
            return True
        if len(message) > self.limit:
            record.msg = f"{message[: self.limit]}… (cut from {len(message)} characters)"
            record.args = None
        return True


class SkipTokenUnusedWarning(logging.Filter):
    """Drop Bolt's warning that its token is unused because a client was given.

    slack_bolt 1.30 reads SLACK_BOT_TOKEN from the environment even when App gets a
    client, and then warns at every start, although the client was built from that token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != warning_client_prioritized_and_token_skipped()


def bolt_logger() -> logging.Logger:
    """Return the `slack_bolt` logger with TruncateLongMessages installed.

    A filter on a logger does not see records of its child loggers. Given to App as its
    logger, this one is copied by Bolt (slack_bolt 1.30, get_bolt_logger) onto each
    child logger it creates afterwards, such as `slack_bolt.RequestVerification`, and
    it is added here to the children that exist already.
    """
    base = logging.getLogger("slack_bolt")
    loggers = [base]
    for name, existing in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("slack_bolt.") and isinstance(existing, logging.Logger):
            loggers.append(existing)
    for target in loggers:
        if not any(isinstance(f, TruncateLongMessages) for f in target.filters):
            target.addFilter(TruncateLongMessages())
    if not any(isinstance(f, SkipTokenUnusedWarning) for f in base.filters):
        base.addFilter(SkipTokenUnusedWarning())
    return base


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
                reply = unmapped_channel_reply(
                    channel_id, self.runtime.config.path, list(self.runtime.config.accounts)
                )
            else:
                reply = answer(text, ctx)
            deliver(reply)
            if reply.files:
                problems = upload_files(client, channel_id, reply, thread_ts)
                if problems:
                    deliver(Reply(text=problems[0], blocks=[context(*map(escape, problems))]))
        except Exception as exc:
            outcome = "error"
            logger.exception(
                "Answering %s %r in channel %s failed", source, shorten(text), channel_id
            )
            message = (
                f"Sorry, answering `{echo(text)}` failed ({type(exc).__name__}). "
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
        logger=bolt_logger(),
        # Every listener acks, at most records the event id, and hands the rest to a pool,
        # so Bolt runs it in the request thread and sends the ack when it returns. With
        # False, Bolt runs listeners on a 5-thread executor and polls for the ack every
        # 10 ms, and the median ack time in benchmarks/acks.py was 12 ms instead of 2 ms.
        process_before_response=True,
    )
    metrics = Metrics(runtime)
    answerer = Answerer(runtime, metrics)
    backends = runtime.backends

    @app.command("/aws")
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        text = str(body.get("text") or "")
        channel_id = body.get("channel_id")
        if not channel_id:
            logger.warning(
                "Rejected a command without channel_id from user %s", body.get("user_id")
            )
            ack(response_type="ephemeral", text=NO_CHANNEL_TEXT)
            return
        if not body.get("response_url"):
            logger.warning(
                "Rejected a command without response_url in channel %s", channel_id
            )
            ack(response_type="ephemeral", text=NO_RESPONSE_URL_TEXT)
            return
        ack(
            response_type="ephemeral",
            text=f":hourglass_flowing_sand: Working on `/aws {echo(text)}`…",
        )

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
            channel_id,
            body.get("user_id"),
            lambda words, ctx: handle_text(words, ctx, backends),
            deliver,
            client,
        )

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any], say: Say, client: WebClient) -> None:
        channel = event.get("channel")
        if not channel:
            logger.warning("Ignoring app_mention event %s without a channel", body.get("event_id"))
            return
        event_id = body.get("event_id") or f"{channel}:{event.get('ts')}"
        if not runtime.store.first_sighting(event_id):
            metrics.retries_ignored.inc()
            logger.info("Ignoring event %s re-sent by Slack: it was answered already", event_id)
            return
        thread_ts = event.get("thread_ts") or event.get("ts")
        text = strip_mention(str(event.get("text") or ""))

        def deliver(reply: Reply) -> None:
            say(text=reply.text, blocks=reply.blocks, thread_ts=thread_ts)

        answerer.pool.submit(
            answerer.answer,
            "mention",
            text,
            channel,
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
