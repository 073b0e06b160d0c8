"""State in SQLAlchemy: the Cost Explorer cache, digest ledger, snoozes, audit log and seen events.

SQLite by default; any SQLAlchemy URL (PostgreSQL for several replicas) through
AWS_MONITOR_DATABASE_URL.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "AWS_MONITOR_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///aws-monitor.db"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CostCacheEntry(Base):
    """A stored Cost Explorer response; `expires_at` is None for closed periods."""

    __tablename__ = "cost_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request: Mapped[str] = mapped_column(Text)
    response: Mapped[Any] = mapped_column(JSON)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DigestLedgerEntry(Base):
    """One row per channel, digest kind and local date: written before posting."""

    __tablename__ = "digest_ledger"
    __table_args__ = (UniqueConstraint("channel_id", "kind", "local_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    local_date: Mapped[date] = mapped_column(Date)
    claimed_by: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32), default="claimed")
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class Snooze(Base):
    """An idle finding kept out of digests until `until`."""

    __tablename__ = "snoozes"
    __table_args__ = (UniqueConstraint("channel_id", "finding_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    finding_key: Mapped[str] = mapped_column(String(512))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Audit record of one request: channel, user and text, never a secret."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))


class SeenEvent(Base):
    """Slack event ids already handled, so a re-sent event gets no second reply."""

    __tablename__ = "seen_events"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def create_tables(engine: Engine, attempts: int = 3) -> None:
    """Create the missing tables.

    Processes that start together on an empty database race to create them: the
    loser's CREATE TABLE fails (IntegrityError or ProgrammingError on PostgreSQL,
    OperationalError on SQLite) once the winner commits, and a retry finds the tables.
    """
    for attempt in range(1, attempts + 1):
        try:
            Base.metadata.create_all(engine)
            return
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            if attempt == attempts:
                raise
            logger.warning(
                "Creating the tables failed (attempt %d of %d), retrying: %s",
                attempt,
                attempts,
                type(exc).__name__,
            )


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


class Store:
    """The bot's tables behind one engine; methods are short transactions, safe across threads."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.url = database_url(url)
        options: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if self.url in ("sqlite://", "sqlite:///:memory:"):
            # Each pooled connection to an in-memory SQLite database opens a database of
            # its own, so every thread shares one connection instead.
            options["poolclass"] = StaticPool
        self.engine = engine or create_engine(self.url, pool_pre_ping=True, future=True, **options)
        create_tables(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    # Cost Explorer cache

    def get_cost(self, key: str, now: datetime | None = None) -> Any | None:
        now = now or utcnow()
        with self.session() as session:
            entry = session.get(CostCacheEntry, key)
            if entry is None:
                return None
            expires_at = _aware(entry.expires_at)
            if expires_at is not None and expires_at <= now:
                return None
            return entry.response

    def put_cost(
        self,
        key: str,
        request: dict[str, Any],
        response: Any,
        expires_at: datetime | None,
        now: datetime | None = None,
    ) -> None:
        with self.session() as session, session.begin():
            session.merge(
                CostCacheEntry(
                    key=key,
                    request=json.dumps(request, sort_keys=True),
                    response=response,
                    stored_at=now or utcnow(),
                    expires_at=expires_at,
                )
            )

    # Digest ledger

    def claim_digest(self, channel_id: str, kind: str, local_date: date, claimed_by: str) -> bool:
        """Insert the ledger row; True only for the one caller whose insert succeeded."""
        try:
            with self.session() as session, session.begin():
                session.add(
                    DigestLedgerEntry(
                        channel_id=channel_id,
                        kind=kind,
                        local_date=local_date,
                        claimed_by=claimed_by,
                        claimed_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def finish_digest(
        self, channel_id: str, kind: str, local_date: date, status: str, detail: str | None = None
    ) -> None:
        with self.session() as session, session.begin():
            entry = session.scalars(
                select(DigestLedgerEntry).where(
                    DigestLedgerEntry.channel_id == channel_id,
                    DigestLedgerEntry.kind == kind,
                    DigestLedgerEntry.local_date == local_date,
                )
            ).first()
            if entry is not None:
                entry.status = status
                entry.detail = detail

    def digest_entry(
        self, channel_id: str, kind: str, local_date: date
    ) -> DigestLedgerEntry | None:
        """Return the ledger row of one digest, or None when no process has claimed it."""
        with self.session() as session:
            return session.scalars(
                select(DigestLedgerEntry).where(
                    DigestLedgerEntry.channel_id == channel_id,
                    DigestLedgerEntry.kind == kind,
                    DigestLedgerEntry.local_date == local_date,
                )
            ).first()

    def digest_entries(self) -> list[DigestLedgerEntry]:
        with self.session() as session:
            return list(session.scalars(select(DigestLedgerEntry).order_by(DigestLedgerEntry.id)))

    # Snoozes

    def snooze(
        self, channel_id: str, finding_key: str, until: datetime, user_id: str | None
    ) -> None:
        with self.session() as session, session.begin():
            existing = session.scalars(
                select(Snooze).where(
                    Snooze.channel_id == channel_id, Snooze.finding_key == finding_key
                )
            ).first()
            if existing is None:
                session.add(
                    Snooze(
                        channel_id=channel_id,
                        finding_key=finding_key,
                        until=until,
                        user_id=user_id,
                        created_at=utcnow(),
                    )
                )
            else:
                existing.until = until
                existing.user_id = user_id

    def snoozed_keys(self, channel_id: str, now: datetime | None = None) -> set[str]:
        now = now or utcnow()
        with self.session() as session:
            rows = session.scalars(select(Snooze).where(Snooze.channel_id == channel_id))
            return {row.finding_key for row in rows if _aware(row.until) > now}  # type: ignore[operator]

    # Audit log and seen events

    def audit(
        self, channel_id: str, user_id: str | None, source: str, text: str, outcome: str
    ) -> None:
        with self.session() as session, session.begin():
            session.add(
                AuditEntry(
                    at=utcnow(),
                    channel_id=channel_id,
                    user_id=user_id,
                    source=source,
                    text=text[:2000],
                    outcome=outcome,
                )
            )

    def audit_entries(self) -> list[AuditEntry]:
        with self.session() as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))

    def first_sighting(self, event_id: str, keep: timedelta = timedelta(days=1)) -> bool:
        """Record an event id; False when it was seen before (a retry from Slack)."""
        try:
            with self.session() as session, session.begin():
                session.add(SeenEvent(event_id=event_id, seen_at=utcnow()))
        except IntegrityError:
            return False
        with self.session() as session, session.begin():
            session.execute(delete(SeenEvent).where(SeenEvent.seen_at < utcnow() - keep))
        return True


def _aware(value: datetime | None) -> datetime | None:
    """SQLite drops time zones; stored values are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
