"""Slack Web API access: the client with a bounded Retry-After policy, and reply delivery."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from handlers.blocks import Reply

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://slack.com/api/"
MAX_RETRY_AFTER_SECONDS = 30.0


class BoundedRateLimitRetryHandler(RetryHandler):
    """Retries HTTP 429 after Retry-After seconds, at most `max_wait` each and `max_retry_count` times."""

    def __init__(self, max_retry_count: int = 3, max_wait: float = MAX_RETRY_AFTER_SECONDS) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None
        header = next(
            (values for name, values in response.headers.items() if name.lower() == "retry-after"),
            None,
        )
        try:
            wait = float(header[0]) if header else 1.0
        except ValueError:
            wait = 1.0
        wait = min(wait, self.max_wait) + random.random() / 10
        logger.warning(
            "Slack rate limited %s; retrying in %.1f s (attempt %d of %d)",
            request.url,
            wait,
            state.current_attempt + 1,
            self.max_retry_count,
        )
        time.sleep(wait)
        state.next_attempt_requested = True
        state.increment_current_attempt()


def make_client(token: str | None, base_url: str | None) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url or DEFAULT_API_BASE_URL,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(),
        ],
    )


def upload_files(
    client: WebClient, channel_id: str, reply: Reply, thread_ts: str | None = None
) -> list[str]:
    """Upload a reply's files with files_upload_v2; return one problem line per failed file."""
    problems = []
    for attachment in reply.files:
        try:
            kwargs: dict[str, Any] = {
                "channel": channel_id,
                "file": attachment.content,
                "filename": attachment.filename,
                "title": attachment.title,
            }
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            client.files_upload_v2(**kwargs)
        except SlackApiError as exc:
            reason = exc.response.get("error", "unknown_error")
            logger.warning(
                "Uploading %s to channel %s failed: %s", attachment.filename, channel_id, reason
            )
            hint = (
                " Invite the bot with /invite @aws-monitor." if reason == "not_in_channel" else ""
            )
            problems.append(f"Could not attach {attachment.filename}: {reason}.{hint}")
    return problems
