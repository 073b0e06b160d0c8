"""One boto3 session per account, assumed through STS, and a bounded cache of clients.

Clients are created lazily and reused per (account, service, region), so a fan-out
across hundreds of targets creates each client once, and a new Slack user reuses them.
Each user still gets an STS role session of their own: a shared client signs each call
with the credentials of the role session named in the calling context, which
`SessionFactory.client` sets and `FanOut` carries into its tasks.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import (
    Credentials,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, DataNotFoundError

from services.accounts import Account
from services.errors import AccountAccessError, error_code
from services.timestamps import use_fast_timestamps

logger = logging.getLogger(__name__)

DEFAULT_SESSION_NAME = "aws-monitor"
MAX_ASSUME_ROLE_SECONDS = 3600
_INVALID_SESSION_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)

# The role session that AWS calls made in this context sign as. Each fan-out task runs in
# a copy of the context that submitted it, so concurrent requests of different users
# sign their calls through the same client with their own credentials.
_role_session: contextvars.ContextVar[str] = contextvars.ContextVar(
    "aws_monitor_role_session", default=DEFAULT_SESSION_NAME
)


@dataclass(frozen=True)
class AwsSettings:
    """Settings of AWS calls: retries, timeouts and the number of requests in flight."""

    retry_mode: str = "standard"
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_workers: int = 16
    answer_timeout: float = 60.0
    max_clients: int = 512
    max_sessions: int = 64
    assume_role_seconds: int = MAX_ASSUME_ROLE_SECONDS
    default_region: str = "us-east-1"

    def botocore_config(self) -> Config:
        return Config(
            retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=max(10, self.max_workers),
            user_agent_extra="aws-monitor",
        )


def role_session_name(user_id: str | None) -> str:
    """Build an STS RoleSessionName from a Slack user id: [\\w+=,.@-], 2 to 64 characters."""
    if not user_id:
        return DEFAULT_SESSION_NAME
    cleaned = _INVALID_SESSION_CHARS.sub("-", f"{DEFAULT_SESSION_NAME}-{user_id}")
    return cleaned[:64]


def use_role_session(user_id: str | None) -> None:
    """Make the AWS calls of the current context sign as `user_id`'s role session."""
    _role_session.set(role_session_name(user_id))


# NOTE: botocore caches S3 Express (directory bucket) session credentials per client and
# bucket, so users sharing a client would share them. The bot calls no directory bucket.
class RoleSessionCredentials(Credentials):
    """The credentials of one role, with an STS role session per name, picked per call.

    botocore's request signer calls `get_frozen_credentials` each time it signs, so a
    client built with these signs every call as the role session of the calling context.
    Each role session is assumed on first use and refreshed before it expires, and the
    `max_sessions` most recently used are kept.

    A failed AssumeRole is remembered for `retry_after` seconds, so the dozens of tasks
    of one reply fail at once instead of each sending its own AssumeRole.
    """

    def __init__(
        self,
        fetch: Callable[[str], dict[str, str]],
        max_sessions: int,
        retry_after: float = 30.0,
    ) -> None:
        # Credentials.__init__ would assign the key attributes, which are properties here.
        self.method = "sts-assume-role"
        self._fetch = fetch
        self._max_sessions = max_sessions
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, DeferredRefreshableCredentials] = OrderedDict()
        self._failures: dict[str, tuple[float, str, BaseException | None]] = {}

    def _assume(self, name: str) -> dict[str, str]:
        with self._lock:
            failed = self._failures.get(name)
        if failed is not None and time.monotonic() - failed[0] < self._retry_after:
            # A new exception for each task, with the original cause for error classification.
            raise AccountAccessError(failed[1]) from failed[2]
        try:
            credentials = self._fetch(name)
        except AccountAccessError as exc:
            # The clock is read after the failure: a timed-out AssumeRole can take minutes.
            failed_at = time.monotonic()
            with self._lock:
                expired = [
                    n for n, (at, _, _) in self._failures.items() if failed_at - at >= self._retry_after
                ]
                for stale in expired:
                    del self._failures[stale]
                self._failures[name] = (failed_at, str(exc), exc.__cause__)
            raise
        with self._lock:
            self._failures.pop(name, None)
        return credentials

    def current(self) -> DeferredRefreshableCredentials:
        name = _role_session.get()
        with self._lock:
            credentials = self._sessions.get(name)
            if credentials is None:
                assume = self._assume
                credentials = DeferredRefreshableCredentials(
                    refresh_using=lambda: assume(name), method=self.method
                )
                self._sessions[name] = credentials
                while len(self._sessions) > self._max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(name)
            return credentials

    @property
    def role_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return self.current().get_frozen_credentials()

    @property
    def access_key(self) -> str:  # type: ignore[override]
        return self.get_frozen_credentials().access_key

    @property
    def secret_key(self) -> str:  # type: ignore[override]
        return self.get_frozen_credentials().secret_key

    @property
    def token(self) -> str:  # type: ignore[override]
        return self.get_frozen_credentials().token

    @property
    def account_id(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().account_id


class RequestCounter:
    """Counts AWS API calls and HTTP attempts (retries included) per operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def attach(self, client: BaseClient) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}.*", self._on_call)
        client.meta.events.register(f"before-send.{service}.*", self._on_send)

    def _on_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def _on_send(self, event_name: str, **_: Any) -> None:
        # The event name is before-send.SERVICE.OPERATION; the request carries no operation name.
        service, operation = event_name.split(".", 2)[1:]
        with self._lock:
            self.attempts[f"{service}.{operation}"] += 1

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    @property
    def total_attempts(self) -> int:
        with self._lock:
            return sum(self.attempts.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()


class SessionFactory:
    """Hands out boto3 sessions and clients per account; safe to share between threads.

    `base_session` supplies the bot's own credentials (the standard chain) and is used
    directly for accounts without a role and to call STS for the others.
    """

    def __init__(
        self,
        settings: AwsSettings | None = None,
        base_session: Callable[[], boto3.Session] = boto3.Session,
    ) -> None:
        self.settings = settings or AwsSettings()
        self.config = self.settings.botocore_config()
        self.counter = RequestCounter()
        self._make_base = base_session
        self._base: boto3.Session | None = None
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[boto3.Session, threading.Lock]] = {}
        self._role_credentials: dict[str, RoleSessionCredentials] = {}
        self._clients: OrderedDict[tuple[str, str, str], BaseClient] = OrderedDict()
        # One lock per client being created, so two tasks that need the same client create it once.
        self._creating: dict[tuple[str, str, str], threading.Lock] = {}
        self._base_client_lock = threading.Lock()
        # Creating a client is 5 to 25 ms of CPU under the GIL (EC2 the most). One creator
        # at a time for every assumed-role session, against one per session, cut the CPU
        # time of 144 clients for a first inventory from 2.8 s to 2.3 s on 2 cores.
        self._assumed_client_lock = threading.Lock()
        # Shared by every assumed-role session, so each service model and endpoint
        # ruleset is read and parsed from botocore's JSON files once, not once per account.
        self._loader = botocore.loaders.create_loader()
        self._sts: BaseClient | None = None

    def base_session(self) -> boto3.Session:
        with self._lock:
            if self._base is None:
                self._base = self._make_base()
                # boto3 exposes its botocore session only as `_session`.
                use_fast_timestamps(self._base._session)
            return self._base

    def client(
        self, account: Account, service: str, region: str, *, user_id: str | None = None
    ) -> Any:
        """Return the account's client for the service and region, created on first use.

        The calls made with it in the current context, and in the fan-out tasks submitted
        from it, sign as `user_id`'s role session (assumed on its first call).
        """
        use_role_session(user_id)
        key = (account.name, service, region)
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None:
                self._clients.move_to_end(key)
                return cached
            creating = self._creating.setdefault(key, threading.Lock())
        with creating:
            with self._lock:
                cached = self._clients.get(key)
                if cached is not None:
                    return cached
            try:
                client = self._create_client(account, service, region)
            finally:
                with self._lock:
                    self._creating.pop(key, None)
            with self._lock:
                self._clients[key] = client
                while len(self._clients) > self.settings.max_clients:
                    self._clients.popitem(last=False)
        return client

    def _create_client(self, account: Account, service: str, region: str) -> Any:
        session, session_lock = self._session(account)
        # botocore sessions are not safe for concurrent client creation.
        with session_lock:
            client = session.client(service, region_name=region, config=self.config)
        self.counter.attach(client)
        return client

    @property
    def cached_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def role_sessions(self) -> int:
        """The role sessions held across accounts: one per account and Slack user."""
        with self._lock:
            credentials = list(self._role_credentials.values())
        return sum(role.role_sessions for role in credentials)

    def preload(self, services: Iterable[str]) -> None:
        """Create the base session and the STS client, and parse the models of `services`.

        A serving process calls this before it listens. Parsing EC2's model is one
        json.loads of about 50 ms that holds the GIL, and acks wait while it runs. With 200
        slash commands sent at once by benchmarks/acks.py, the p99 ack time was 130 to
        355 ms without this and 52 to 114 ms with it (3 runs each).
        """
        self._sts_client(self.base_session())
        for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
            self._loader.load_data(name)
        for service in services:
            for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1"):
                try:
                    self._loader.load_service_model(service, type_name)
                except DataNotFoundError:
                    logger.debug("botocore has no %s model for %s", type_name, service)

    def _session(self, account: Account) -> tuple[boto3.Session, threading.Lock]:
        with self._lock:
            entry = self._sessions.get(account.name)
            if entry is not None:
                return entry
        base = self.base_session()
        if account.role_arn is None:
            with self._lock:
                return self._sessions.setdefault(account.name, (base, self._base_lock()))
        session, role_credentials = self._assumed_session(account, base)
        with self._lock:
            if account.name not in self._sessions:
                self._sessions[account.name] = (session, self._assumed_client_lock)
                self._role_credentials[account.name] = role_credentials
            return self._sessions[account.name]

    def _base_lock(self) -> threading.Lock:
        return self._base_client_lock

    def _assumed_session(
        self, account: Account, base: boto3.Session
    ) -> tuple[boto3.Session, RoleSessionCredentials]:
        """Build a session whose credentials come from sts:AssumeRole, one role session per user.

        Each role session is assumed on its first call, inside the fan-out, so an account
        whose role cannot be assumed becomes a warning for that account only.
        """
        assert account.role_arn is not None
        role_arn = account.role_arn
        sts = self._sts_client(base)
        duration = min(self.settings.assume_role_seconds, MAX_ASSUME_ROLE_SECONDS)

        def fetch(session_name: str) -> dict[str, str]:
            params: dict[str, Any] = {
                "RoleArn": role_arn,
                "RoleSessionName": session_name,
                "DurationSeconds": duration,
            }
            if account.external_id:
                params["ExternalId"] = account.external_id
            logger.info("Assuming %s for account %s as %s", role_arn, account.name, session_name)
            try:
                credentials = sts.assume_role(**params)["Credentials"]
            except ClientError as exc:
                raise AccountAccessError(
                    f"Could not assume {role_arn} ({error_code(exc)}): allow sts:AssumeRole "
                    "for the bot's identity in the role's trust policy"
                ) from exc
            except BotoCoreError as exc:
                raise AccountAccessError(f"Could not assume {role_arn}: {exc}") from exc
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        role_credentials = RoleSessionCredentials(fetch, self.settings.max_sessions)
        botocore_session = botocore.session.get_session()
        botocore_session.register_component("data_loader", self._loader)
        use_fast_timestamps(botocore_session)
        botocore_session._credentials = role_credentials
        with self._assumed_client_lock:
            session = boto3.Session(botocore_session=botocore_session)
            # boto3.Session appends its data folder to the loader's search paths each time,
            # and the loader is shared, so one copy of each path is kept.
            self._loader.search_paths[:] = list(dict.fromkeys(self._loader.search_paths))
        return session, role_credentials

    def _sts_client(self, base: boto3.Session) -> Any:
        """Return the one STS client, from the base session, that assumes every role."""
        with self._base_lock():
            if self._sts is None:
                self._sts = base.client(
                    "sts", region_name=self.settings.default_region, config=self.config
                )
                self.counter.attach(self._sts)
            return self._sts
