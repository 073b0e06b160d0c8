"""The digest schedule: cron triggers in the channel's time zone, late runs, catch-up after a
restart, and daylight saving changes, all on a controlled clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from bot.config import AppConfig, parse_config
from bot.scheduler import DigestScheduler, digest_trigger, latest_fire_time, scheduled_digests
from bot.store import Store

CHANNEL = "C0BERLIN01"
OTHER_CHANNEL = "C0NEWYORK1"
GRACE = timedelta(minutes=240)


def make_config(
    at: str = "09:00", days: str = "mon-sun", grace_minutes: int = 240, kind: str = "costs"
) -> AppConfig:
    return parse_config(
        {
            "accounts": {"prod": {}},
            "channels": {
                CHANNEL: {
                    "accounts": ["prod"],
                    "timezone": "Europe/Berlin",
                    "digests": {kind: {"at": at, "days": days}},
                },
                OTHER_CHANNEL: {"accounts": ["prod"], "timezone": "America/New_York"},
            },
            "digests": {"grace_minutes": grace_minutes},
        },
        "test configuration",
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fire_times(config: AppConfig, start: datetime, count: int) -> list[datetime]:
    trigger = scheduled_digests(config)[0].trigger
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire.astimezone(UTC))
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return times


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield store
    store.engine.dispose()


class Recorder:
    """Stands in for DigestPoster.run_once: claims the ledger row as it does, records posts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, str, date]] = []
        self.posts: list[tuple[str, str, date]] = []
        self.lock = threading.Lock()

    def __call__(self, channel_id: str, kind: str, local_date: date) -> str:
        with self.lock:
            self.calls.append((channel_id, kind, local_date))
        if not self.store.claim_digest(channel_id, kind, local_date, "test"):
            return "already-claimed"
        with self.lock:
            self.posts.append((channel_id, kind, local_date))
        self.store.finish_digest(channel_id, kind, local_date, "posted")
        return "posted"


def wait_until(predicate: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    # Counts sleeps instead of reading a clock, because freezegun freezes time.monotonic.
    for _ in range(int(timeout / step)):
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def test_digest_trigger_berlin_spring_change_keeps_local_time() -> None:
    # Europe/Berlin moves from UTC+1 to UTC+2 on 2025-03-30 at 02:00.
    times = fire_times(make_config(), utc("2025-03-28 12:00:00"), 3)
    assert times == [
        utc("2025-03-29 08:00:00"),
        utc("2025-03-30 07:00:00"),
        utc("2025-03-31 07:00:00"),
    ]


def test_digest_trigger_berlin_autumn_change_keeps_local_time() -> None:
    # Europe/Berlin moves from UTC+2 back to UTC+1 on 2025-10-26 at 03:00.
    times = fire_times(make_config(), utc("2025-10-24 12:00:00"), 3)
    assert times == [
        utc("2025-10-25 07:00:00"),
        utc("2025-10-26 08:00:00"),
        utc("2025-10-27 08:00:00"),
    ]


def test_digest_trigger_skipped_hour_fires_late() -> None:
    # 02:30 does not exist in Berlin on 2025-03-30; APScheduler 3 fires at 03:30 local.
    times = fire_times(make_config(at="02:30"), utc("2025-03-29 12:00:00"), 2)
    assert times == [utc("2025-03-30 01:30:00"), utc("2025-03-31 00:30:00")]


def test_digest_trigger_weekdays_skip_weekend() -> None:
    # 2025-03-14 is a Friday.
    times = fire_times(make_config(days="mon-fri"), utc("2025-03-14 12:00:00"), 2)
    assert times == [utc("2025-03-17 08:00:00"), utc("2025-03-18 08:00:00")]


def test_digest_trigger_has_channel_time_zone() -> None:
    digest = scheduled_digests(make_config())[0]
    trigger = digest_trigger(digest.schedule, "Europe/Berlin")
    assert str(trigger.timezone) == "Europe/Berlin"
    assert digest.job_id == f"digest:{CHANNEL}:costs"


def test_latest_fire_time_five_seconds_late() -> None:
    trigger = scheduled_digests(make_config())[0].trigger
    due = latest_fire_time(trigger, utc("2025-03-31 07:00:05"), GRACE)
    assert due is not None
    assert due.astimezone(UTC) == utc("2025-03-31 07:00:00")


def test_latest_fire_time_none_past_grace() -> None:
    trigger = scheduled_digests(make_config())[0].trigger
    assert latest_fire_time(trigger, utc("2025-03-31 11:00:01"), GRACE) is None
    assert latest_fire_time(trigger, utc("2025-03-31 11:00:00"), GRACE) is not None


def test_latest_fire_time_none_before_scheduled_time() -> None:
    trigger = scheduled_digests(make_config())[0].trigger
    assert latest_fire_time(trigger, utc("2025-03-31 06:59:59"), GRACE) is None


@pytest.mark.parametrize(
    ("now", "local_date"),
    [
        ("2025-03-31 07:30:00", date(2025, 3, 31)),  # 09:30 CEST
        ("2025-03-30 07:03:00", date(2025, 3, 30)),  # the day of the spring change
        ("2025-10-26 10:00:00", date(2025, 10, 26)),  # the day of the autumn change, 11:00 CET
        ("2025-03-31 22:30:00", None),  # 00:30 on April 1: yesterday's run is past the grace
    ],
)
def test_catch_up_after_restart_runs_missed_digest_once(
    store: Store, now: str, local_date: date | None
) -> None:
    recorder = Recorder(store)
    scheduler = DigestScheduler(make_config(), store, recorder, clock=lambda: utc(now))
    due = scheduler.catch_up()
    expected = [] if local_date is None else [(CHANNEL, "costs", local_date)]
    assert due == expected
    for item in due:
        recorder(*item)
    # A second restart finds the ledger row and runs nothing.
    assert scheduler.catch_up() == []
    assert recorder.posts == expected


def test_catch_up_past_grace_skips(store: Store) -> None:
    scheduler = DigestScheduler(
        make_config(grace_minutes=60),
        store,
        Recorder(store),
        clock=lambda: utc("2025-03-31 08:01:00"),
    )
    assert scheduler.catch_up() == []


def test_catch_up_on_day_not_scheduled_skips(store: Store) -> None:
    # 2025-03-15 is a Saturday.
    scheduler = DigestScheduler(
        make_config(days="mon-fri"),
        store,
        Recorder(store),
        clock=lambda: utc("2025-03-15 08:30:00"),
    )
    assert scheduler.catch_up() == []


def test_catch_up_leaves_claimed_digest_alone(store: Store) -> None:
    assert store.claim_digest(CHANNEL, "costs", date(2025, 3, 31), "replica-a")
    scheduler = DigestScheduler(
        make_config(), store, Recorder(store), clock=lambda: utc("2025-03-31 07:30:00")
    )
    assert scheduler.catch_up() == []


def test_fire_repeated_autumn_hour_posts_once(store: Store) -> None:
    # 02:30 happens twice in Berlin on 2025-10-26, and APScheduler fires at both.
    config = make_config(at="02:30")
    times = fire_times(config, utc("2025-10-25 12:00:00"), 3)
    assert times == [
        utc("2025-10-26 00:30:00"),
        utc("2025-10-26 01:30:00"),
        utc("2025-10-27 01:30:00"),
    ]
    recorder = Recorder(store)
    clock_now = [times[0]]
    scheduler = DigestScheduler(config, store, recorder, clock=lambda: clock_now[0])
    for fire in times:
        clock_now[0] = fire + timedelta(seconds=5)
        scheduler.fire(CHANNEL, "costs")
    assert recorder.calls == [
        (CHANNEL, "costs", date(2025, 10, 26)),
        (CHANNEL, "costs", date(2025, 10, 26)),
        (CHANNEL, "costs", date(2025, 10, 27)),
    ]
    assert recorder.posts == [
        (CHANNEL, "costs", date(2025, 10, 26)),
        (CHANNEL, "costs", date(2025, 10, 27)),
    ]


def test_fire_just_after_midnight_uses_scheduled_date(store: Store) -> None:
    # A 23:59 digest that runs 90 s late belongs to the day it was scheduled for.
    recorder = Recorder(store)
    config = make_config(at="23:59")
    scheduler = DigestScheduler(config, store, recorder, clock=lambda: utc("2025-03-31 22:00:30"))
    scheduler.fire(CHANNEL, "costs")
    assert recorder.calls == [(CHANNEL, "costs", date(2025, 3, 31))]


def test_scheduler_job_options_from_config(store: Store) -> None:
    scheduler = DigestScheduler(make_config(grace_minutes=30), store, Recorder(store))
    scheduler.add_jobs()
    # Job defaults are applied when the scheduler starts; paused, it runs nothing.
    scheduler.scheduler.start(paused=True)
    try:
        jobs = scheduler.scheduler.get_jobs()
    finally:
        scheduler.shutdown()
    assert [job.id for job in jobs] == [f"digest:{CHANNEL}:costs"]
    assert jobs[0].coalesce is True
    assert jobs[0].misfire_grace_time == 30 * 60
    assert str(jobs[0].trigger.timezone) == "Europe/Berlin"


def test_scheduler_runs_job_five_seconds_late(store: Store) -> None:
    recorder = Recorder(store)
    # 08:59:50 in Berlin (CEST) on Monday 2025-03-31.
    with freeze_time("2025-03-31 06:59:50") as frozen:
        scheduler = DigestScheduler(make_config(), store, recorder)
        scheduler.start()
        try:
            assert scheduler.next_fire_times()[f"digest:{CHANNEL}:costs"] == utc(
                "2025-03-31 07:00:00"
            )
            assert recorder.calls == []
            frozen.move_to("2025-03-31 07:00:05")
            scheduler.scheduler.wakeup()
            assert wait_until(lambda: recorder.posts)
            assert recorder.posts == [(CHANNEL, "costs", date(2025, 3, 31))]
            assert wait_until(
                lambda: (
                    scheduler.next_fire_times()[f"digest:{CHANNEL}:costs"]
                    == utc("2025-04-01 07:00:00")
                )
            )
        finally:
            scheduler.shutdown(wait=True)


def test_scheduler_skips_job_later_than_grace(store: Store) -> None:
    recorder = Recorder(store)
    missed = threading.Event()
    with freeze_time("2025-03-31 06:59:50") as frozen:
        scheduler = DigestScheduler(make_config(grace_minutes=1), store, recorder)
        scheduler.scheduler.add_listener(lambda event: missed.set(), mask=_job_missed_mask())
        scheduler.start()
        try:
            frozen.move_to("2025-03-31 07:01:01")
            scheduler.scheduler.wakeup()
            assert missed.wait(10)
            assert recorder.calls == []
            assert scheduler.catch_up() == []
        finally:
            scheduler.shutdown(wait=True)


def test_scheduler_start_catches_up_after_restart(store: Store) -> None:
    recorder = Recorder(store)
    # Started at 10:15 in Berlin, 75 minutes after the 09:00 digest.
    with freeze_time("2025-03-31 08:15:00"):
        scheduler = DigestScheduler(make_config(), store, recorder)
        scheduler.start()
        try:
            assert wait_until(lambda: recorder.posts)
            assert recorder.posts == [(CHANNEL, "costs", date(2025, 3, 31))]
            assert scheduler.next_fire_times()[f"digest:{CHANNEL}:costs"] == utc(
                "2025-04-01 07:00:00"
            )
        finally:
            scheduler.shutdown(wait=True)
        second = DigestScheduler(make_config(), store, recorder)
        second.start()
        try:
            assert second.catch_up() == []
        finally:
            second.shutdown(wait=True)
    assert recorder.posts == [(CHANNEL, "costs", date(2025, 3, 31))]


def _job_missed_mask() -> int:
    from apscheduler.events import EVENT_JOB_MISSED

    return EVENT_JOB_MISSED
