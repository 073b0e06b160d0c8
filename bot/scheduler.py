"""Daily digests on APScheduler 3: one cron job per channel and digest, in the channel's
time zone, plus a catch-up at start for a digest whose time passed while no process ran.

A job that starts late (a busy pool, a suspended host) still runs within the grace
(`digests.grace_minutes`), and coalesce folds missed runs into one. The in-memory job
store loses every job at a restart, so `catch_up` looks for a fire time within the
grace before now and runs it unless the digest ledger already has its row. The ledger
claim in DigestPoster.run_once makes every path post a digest at most once per local
date, across restarts and replicas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import AppConfig, DigestSchedule
from bot.store import Store

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.runtime import Runtime

logger = logging.getLogger(__name__)

# Digests built at the same time; each one's AWS calls share the runtime's fan-out pool.
MAX_CONCURRENT_DIGESTS = 4
# A latest_fire_time search stops after this many fire times, far more than a day holds.
MAX_FIRE_TIMES = 10_000

RunDigest = Callable[[str, str, date], object]


def utcnow() -> datetime:
    return datetime.now(UTC)


def digest_trigger(schedule: DigestSchedule, timezone: str) -> CronTrigger:
    """Build the cron trigger of one digest: its days and time, in the channel's time zone.

    NOTE: APScheduler 3.11 fires a time that falls in the hour repeated when daylight
    saving time ends (02:30 in Europe/Berlin on the last Sunday of October) twice, an
    hour apart, and a time skipped when it begins an hour late. The ledger keys on the
    local date, so the second run of that day posts nothing.
    """
    return CronTrigger(
        day_of_week=schedule.days,
        hour=schedule.at.hour,
        minute=schedule.at.minute,
        timezone=ZoneInfo(timezone),
    )


def latest_fire_time(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime | None:
    """Return the trigger's latest fire time in [now - grace, now], or None.

    The search steps in UTC: wall-clock arithmetic on a local time in a repeated hour
    would step backwards.
    """
    fire = trigger.get_next_fire_time(None, (now - grace).astimezone(UTC))
    latest = None
    for _ in range(MAX_FIRE_TIMES):
        if fire is None or fire > now:
            break
        latest = fire
        after = fire.astimezone(UTC) + timedelta(microseconds=1)
        fire = trigger.get_next_fire_time(fire, after)
    return latest


@dataclass(frozen=True)
class ScheduledDigest:
    """One configured digest of one channel, with its trigger."""

    channel_id: str
    kind: str
    timezone: str
    schedule: DigestSchedule
    trigger: CronTrigger

    @property
    def job_id(self) -> str:
        return f"digest:{self.channel_id}:{self.kind}"

    def describe(self) -> str:
        return f"{self.schedule.at:%H:%M} {self.timezone} on {self.schedule.days}"


def scheduled_digests(config: AppConfig) -> list[ScheduledDigest]:
    return [
        ScheduledDigest(
            channel_id=channel.channel_id,
            kind=schedule.kind,
            timezone=channel.timezone,
            schedule=schedule,
            trigger=digest_trigger(schedule, channel.timezone),
        )
        for channel in config.channels.values()
        for schedule in channel.digests
    ]


class DigestScheduler:
    """Runs the configured digests on a BackgroundScheduler whose clock is UTC.

    `run(channel_id, kind, local_date)` does the work; DigestPoster.run_once fits.
    `clock` is read for the ledger date and the catch-up, so tests can set the time.
    """

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        run: RunDigest,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_concurrent: int = MAX_CONCURRENT_DIGESTS,
    ) -> None:
        self.store = store
        self.run = run
        self.clock = clock
        self.digests = scheduled_digests(config)
        # APScheduler reads misfire_grace_time=None as "no limit", so a grace of 0 becomes 1 s.
        self.grace = timedelta(minutes=config.digests.grace_minutes)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_concurrent)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(self.grace.total_seconds())),
            },
        )

    def add_jobs(self) -> None:
        for digest in self.digests:
            job = self.scheduler.add_job(
                self.fire,
                digest.trigger,
                args=(digest.channel_id, digest.kind),
                id=digest.job_id,
                name=f"{digest.kind} digest of {digest.channel_id}",
                replace_existing=True,
            )
            logger.info(
                "Scheduled the %s digest of channel %s at %s",
                digest.kind,
                digest.channel_id,
                digest.describe(),
            )
            logger.debug("Job %s: %s", job.id, job)

    def start(self) -> None:
        """Add the jobs, start the scheduler's thread, then catch up on missed digests."""
        self.add_jobs()
        self.scheduler.start()
        for channel_id, kind, local_date in self.catch_up():
            self.scheduler.add_job(
                self.run,
                args=(channel_id, kind, local_date),
                id=f"catch-up:{channel_id}:{kind}:{local_date.isoformat()}",
                name=f"catch-up of the {kind} digest of {channel_id}",
                misfire_grace_time=None,
            )

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def digest(self, channel_id: str, kind: str) -> ScheduledDigest:
        return next(d for d in self.digests if d.channel_id == channel_id and d.kind == kind)

    def local_date(self, digest: ScheduledDigest, now: datetime) -> date:
        """Return the local date a run at `now` belongs to: that of the latest fire time
        within the grace, or today's when there is none."""
        due = latest_fire_time(digest.trigger, now, self.grace)
        moment = due if due is not None else now
        return moment.astimezone(ZoneInfo(digest.timezone)).date()

    def fire(self, channel_id: str, kind: str) -> None:
        """Run one digest for the local date of its fire time; this is the cron job."""
        digest = self.digest(channel_id, kind)
        self.run(channel_id, kind, self.local_date(digest, self.clock()))

    def catch_up(self, now: datetime | None = None) -> list[tuple[str, str, date]]:
        """Return the digests due within the grace before `now` that the ledger lacks.

        A digest whose row exists was posted (or is being posted) by this or another
        process, so it is left alone.
        """
        now = now or self.clock()
        due_digests = []
        for digest in self.digests:
            due = latest_fire_time(digest.trigger, now, self.grace)
            if due is None:
                continue
            local_date = due.astimezone(ZoneInfo(digest.timezone)).date()
            entry = self.store.digest_entry(digest.channel_id, digest.kind, local_date)
            if entry is not None:
                logger.info(
                    "The %s digest of channel %s for %s is in the ledger already (%s by %s)",
                    digest.kind,
                    digest.channel_id,
                    local_date,
                    entry.status,
                    entry.claimed_by,
                )
                continue
            late = now - due
            logger.info(
                "Catching up the %s digest of channel %s for %s: it was due at %s, %d "
                "minutes ago, within the grace of %d minutes",
                digest.kind,
                digest.channel_id,
                local_date,
                due.isoformat(),
                late.total_seconds() // 60,
                self.grace.total_seconds() // 60,
            )
            due_digests.append((digest.channel_id, digest.kind, local_date))
        return due_digests

    def next_fire_times(self) -> dict[str, Any]:
        """Return each job's next run time, for logs and tests."""
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}


def start_digest_scheduler(runtime: Runtime, client: WebClient) -> DigestScheduler | None:
    """Start the digest scheduler of `aws-monitor serve`; None when no channel has digests."""
    from bot.digests import DigestPoster

    scheduler = DigestScheduler(
        runtime.config, runtime.store, DigestPoster(runtime, client).run_once
    )
    if not scheduler.digests:
        logger.info("No channel asks for digests; the digest scheduler is not started")
        return None
    scheduler.start()
    for job_id, next_run in sorted(scheduler.next_fire_times().items()):
        if job_id.startswith("digest:"):
            logger.info("Next run of %s: %s", job_id, next_run.isoformat() if next_run else "none")
    return scheduler
