"""Posting digests to Slack, at most once per channel, kind and local date, and snoozes.

A scheduled digest is claimed in the digest ledger (a unique row per channel, kind
and local date) before it is built. Only the process whose insert succeeded posts
it, so replicas sharing one database and restarts within the day never post it
twice. The outcome is written to the same row afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import AppConfig
from bot.slack import MAX_RETRY_AFTER_SECONDS, make_client, upload_files
from bot.store import Store
from handlers.blocks import Reply, escape, simple_reply
from handlers.digests import (
    DigestOptions,
    SnoozeRequest,
    build_digest,
    mark_snoozed,
    parse_snooze,
    snooze_note,
)
from handlers.terminal import render_reply
from services.cost_digest import SpikeRule
from services.cost_periods import local_today
from services.errors import ConfigError

if TYPE_CHECKING:
    from bot.runtime import Runtime

logger = logging.getLogger(__name__)

POSTED = "posted"
FAILED = "failed"
ALREADY_CLAIMED = "already-claimed"
# Waits for Retry-After after the client's own retries of HTTP 429 gave up.
MAX_RATE_LIMIT_WAITS = 2
DIGEST_TOUR_COMMANDS = ("digest costs", "digest idle")


def utcnow() -> datetime:
    return datetime.now(UTC)


def instance_id() -> str:
    """Name this process in the ledger's `claimed_by` column: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def digest_options(config: AppConfig, store: Store) -> DigestOptions:
    """Build the digest settings that handlers need from the config and the store."""
    settings = config.digests
    rule = SpikeRule(
        percent=Decimal(str(settings.spike_percent)),
        min_amount=Decimal(str(settings.spike_min_amount)),
    )
    return DigestOptions(spike_rule=rule, snoozed_keys=store.snoozed_keys)


def digest_tour_steps() -> list[str]:
    """Return the commands that show both digests.

    Run each as an `/aws` command in a channel with accounts, as the demo tour runs its
    other steps.
    """
    return list(DIGEST_TOUR_COMMANDS)


class DigestPostError(Exception):
    """A digest could not be posted to a channel; the message is Slack's reason."""


@dataclass(frozen=True)
class PostResult:
    """Outcome of posting one digest: the message's ts, or the reason it failed."""

    ok: bool
    detail: str
    ts: str | None = None


class DigestPoster:
    """Builds and posts digests for the channels of one runtime.

    It is safe to share between threads, because every call uses only its arguments,
    the store and the Slack client.
    """

    def __init__(
        self,
        runtime: Runtime,
        client: WebClient,
        *,
        claimed_by: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.claimed_by = claimed_by or instance_id()
        self._sleep = sleep
        self.max_wait = max_wait

    def build(self, channel_id: str, kind: str) -> Reply:
        ctx = self.runtime.config.channel_context(channel_id)
        if ctx is None:
            raise DigestPostError(f"channel {channel_id} is not mapped in the configuration")
        return build_digest(kind, ctx, self.runtime.backends)

    def run_once(self, channel_id: str, kind: str, local_date: date) -> str:
        """Claim, build and post one digest; return POSTED, FAILED or ALREADY_CLAIMED.

        Every failure is logged with the channel id and written to the ledger, never
        raised, so one channel's failure cannot stop another channel's digest.
        """
        store = self.runtime.store
        try:
            claimed = store.claim_digest(channel_id, kind, local_date, self.claimed_by)
        except Exception:  # a database failure skips this digest only
            logger.exception(
                "Claiming the %s digest of channel %s for %s failed; not posting it",
                kind,
                channel_id,
                local_date,
            )
            return FAILED
        if not claimed:
            entry = store.digest_entry(channel_id, kind, local_date)
            logger.info(
                "The %s digest of channel %s for %s was claimed by %s already; not posting it",
                kind,
                channel_id,
                local_date,
                entry.claimed_by if entry else "another process",
            )
            return ALREADY_CLAIMED

        logger.info("Building the %s digest of channel %s for %s", kind, channel_id, local_date)
        build_error: str | None = None
        try:
            reply = self.build(channel_id, kind)
        except Exception as exc:  # reported in the channel and the ledger
            logger.exception(
                "Building the %s digest of channel %s for %s failed", kind, channel_id, local_date
            )
            build_error = f"building failed: {type(exc).__name__}: {exc}"
            reply = simple_reply(
                f"The {kind} digest for {local_date.isoformat()} could not be built "
                f"({escape(type(exc).__name__)}). The error is in the bot's log; "
                f"`/aws digest {kind}` tries again."
            )
        result = self.post(channel_id, reply)
        status = POSTED if result.ok and build_error is None else FAILED
        detail = "; ".join(part for part in (build_error, result.detail) if part)
        try:
            store.finish_digest(channel_id, kind, local_date, status, detail[:2000])
        except Exception:
            logger.exception(
                "Recording the %s digest of channel %s for %s as %s failed",
                kind,
                channel_id,
                local_date,
                status,
            )
        if result.ok:
            logger.info(
                "Posted the %s digest to channel %s for %s (ts %s)",
                kind,
                channel_id,
                local_date,
                result.ts,
            )
        return status

    def post(self, channel_id: str, reply: Reply) -> PostResult:
        """Post a reply with chat.postMessage, then upload its files into the channel.

        `not_in_channel` joins the channel once and retries; `ratelimited` waits for
        Retry-After, at most MAX_RATE_LIMIT_WAITS times. Other errors are logged with
        the channel id and returned.
        """
        try:
            response = self._post_message(channel_id, reply)
        except DigestPostError as exc:
            logger.error("Posting a digest to channel %s failed: %s", channel_id, exc)
            return PostResult(ok=False, detail=str(exc))
        except SlackApiError as exc:
            reason = slack_error(exc)
            logger.error("Posting a digest to channel %s failed: %s", channel_id, reason)
            return PostResult(ok=False, detail=reason)
        except Exception as exc:  # connection errors and the like, per channel
            logger.exception("Posting a digest to channel %s failed", channel_id)
            return PostResult(ok=False, detail=f"{type(exc).__name__}: {exc}")
        ts = response.get("ts")
        problems = upload_files(self.client, channel_id, reply) if reply.files else []
        detail = "; ".join(problems)
        return PostResult(ok=True, detail=detail, ts=str(ts) if ts else None)

    def _post_message(self, channel_id: str, reply: Reply) -> Any:
        joined = False
        waits = 0
        while True:
            try:
                return self.client.chat_postMessage(
                    channel=channel_id,
                    text=reply.text,
                    blocks=reply.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as exc:
                reason = slack_error(exc)
                if reason == "not_in_channel" and not joined:
                    joined = True
                    self._join(channel_id)
                    continue
                if reason == "ratelimited" and waits < MAX_RATE_LIMIT_WAITS:
                    waits += 1
                    wait = retry_after(exc, self.max_wait)
                    logger.warning(
                        "Slack rate limited the digest for channel %s; retrying in %.1f s "
                        "(wait %d of %d)",
                        channel_id,
                        wait,
                        waits,
                        MAX_RATE_LIMIT_WAITS,
                    )
                    self._sleep(wait)
                    continue
                raise

    def _join(self, channel_id: str) -> None:
        """Join a public channel with conversations.join (scope channels:join)."""
        logger.info("The bot is not in channel %s; joining it to post the digest", channel_id)
        try:
            self.client.conversations_join(channel=channel_id)
        except SlackApiError as exc:
            reason = slack_error(exc)
            raise DigestPostError(
                f"not_in_channel, and conversations.join failed: {reason}. Invite the bot "
                "with /invite @aws-monitor, or grant the channels:join scope for public channels"
            ) from None


def slack_error(exc: SlackApiError) -> str:
    response = exc.response
    reason = response.get("error") if response is not None else None
    return str(reason or "unknown_error")


def retry_after(exc: SlackApiError, max_wait: float) -> float:
    """Return the Retry-After seconds of a rate-limited response, at most `max_wait`, or 1
    when the header is missing or invalid."""
    headers = getattr(exc.response, "headers", None) or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        wait = float(value) if value is not None else 1.0
    except ValueError:
        wait = 1.0
    return max(0.0, min(wait, max_wait))


# Snooze buttons


def apply_snooze(
    runtime: Runtime,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Callable[..., Any],
    now: datetime | None = None,
) -> None:
    """Store the snooze of a pressed button, then update the message or reply ephemerally.

    Runs after the ack. Each rejected button is logged and reported to the user.
    """
    channel_id = str((body.get("channel") or {}).get("id") or "")
    user_id = (body.get("user") or {}).get("id")
    action_id = str(action.get("action_id", ""))
    try:
        request = parse_snooze(action_id, str(action.get("value", "")))
    except ValueError as exc:
        logger.warning("Rejected snooze button %s in channel %s: %s", action_id, channel_id, exc)
        respond(
            text=f"That button is not valid: {exc}.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    ctx = runtime.config.channel_context(channel_id, user_id)
    foreign = request.accounts - {account.name for account in ctx.accounts} if ctx else set()
    if ctx is None or foreign:
        logger.warning(
            "Rejected snooze in channel %s by %s: findings of accounts %s are not mapped there",
            channel_id,
            user_id,
            ", ".join(sorted(foreign)) or "(channel not mapped)",
        )
        respond(
            text="These findings do not belong to the accounts of this channel; nothing was "
            "snoozed.",
            response_type="ephemeral",
            replace_original=False,
        )
        return

    moment = now or utcnow()
    until = moment + timedelta(days=request.days)
    for key in request.keys:
        runtime.store.snooze(channel_id, key, until, user_id)
    logger.info(
        "Snoozed %d idle findings in channel %s for %d days, by %s",
        len(request.keys),
        channel_id,
        request.days,
        user_id,
    )
    try:
        runtime.store.audit(channel_id, user_id, "action", _audit_text(action_id, request), "ok")
    except Exception:
        logger.exception("Writing the audit log for channel %s failed", channel_id)

    note = snooze_note(request, user_id, until.astimezone(ZoneInfo(ctx.timezone)).date())
    message = body.get("message") or {}
    blocks = mark_snoozed(message.get("blocks") or [], request, str(action.get("block_id")), note)
    if blocks is None:
        respond(text=note, response_type="ephemeral", replace_original=False)
    else:
        respond(text=message.get("text") or note, blocks=blocks, replace_original=True)


def _audit_text(action_id: str, request: SnoozeRequest) -> str:
    return f"{action_id} {' '.join(request.keys)}"


def snooze_listener(runtime: Runtime, submit: Callable[..., Any]) -> Callable[..., None]:
    """Return a Bolt listener for the snooze buttons: ack at once, do the work on `submit`."""

    def on_snooze(
        ack: Callable[..., Any],
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Callable[..., Any],
    ) -> None:
        ack()
        submit(_apply_snooze_safely, runtime, body, action, respond)

    return on_snooze


def _apply_snooze_safely(
    runtime: Runtime, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any]
) -> None:
    channel_id = (body.get("channel") or {}).get("id")
    try:
        apply_snooze(runtime, body, action, respond)
    except Exception as exc:
        logger.exception("Snoozing from a button in channel %s failed", channel_id)
        try:
            respond(
                text=f"Sorry, snoozing failed ({type(exc).__name__}). The error is in the "
                "bot's log; try the button again.",
                response_type="ephemeral",
                replace_original=False,
            )
        except Exception:
            logger.exception("Reporting the snooze failure to channel %s failed too", channel_id)


# The `aws-monitor digest` command


def digest_command(
    config: AppConfig,
    channel_id: str,
    kind: str,
    post: bool,
    once: bool,
    runtime: Runtime | None = None,
    client: WebClient | None = None,
) -> int:
    """Print one digest, post it (`post`), or post it through the ledger (`once`).

    Return 0 when it was printed, posted or already posted today, 1 when posting failed
    or the channel is not mapped.
    """
    from bot.runtime import build_runtime

    ctx = config.channel_context(channel_id)
    if ctx is None:
        print(
            f"Channel {channel_id} is not mapped in {config.path}; add it under `channels:`.",
            file=sys.stderr,
        )
        return 1
    if post and client is None:
        token = os.environ.get("SLACK_BOT_TOKEN")
        if not token:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set; export the bot token (xoxb-...) to post a digest."
            )
        client = make_client(token, os.environ.get("SLACK_API_BASE_URL"))
    runtime = runtime or build_runtime(config)
    try:
        if not post:
            print(render_reply(build_digest(kind, ctx, runtime.backends)))
            return 0
        assert client is not None
        poster = DigestPoster(runtime, client)
        if once:
            local_date = local_today(ctx.timezone)
            status = poster.run_once(channel_id, kind, local_date)
            if status == ALREADY_CLAIMED:
                print(f"The {kind} digest of {channel_id} for {local_date} was posted already.")
                return 0
            print(f"The {kind} digest of {channel_id} for {local_date}: {status}.")
            return 0 if status == POSTED else 1
        result = poster.post(channel_id, poster.build(channel_id, kind))
        if not result.ok:
            print(
                f"Posting the {kind} digest to {channel_id} failed: {result.detail}",
                file=sys.stderr,
            )
            return 1
        print(f"Posted the {kind} digest to {channel_id} (ts {result.ts}).")
        return 0
    finally:
        runtime.close()
