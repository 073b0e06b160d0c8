"""Run listing work across accounts x regions x services on one bounded thread pool.

A task may return follow-up tasks (a describe per cluster, the tags of each bucket);
they go to the same pool instead of blocking a worker, so nested work cannot deadlock
and the pool bound holds for every request in flight.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.accounts import Account
from services.errors import describe_aws_error

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ScanWarning:
    """A part of the scan that failed: shown under the reply, never instead of it."""

    account: str
    region: str | None
    message: str


@dataclass
class Outcome(Generic[T]):
    """Result of one task: items, and more tasks to run on the same pool."""

    items: list[T] = field(default_factory=list)
    followups: list[Task[T]] = field(default_factory=list)


@dataclass
class Task(Generic[T]):
    """One unit of AWS work, named by the IAM action it needs for error messages.

    `fallback` is kept when the task fails, e.g. a bucket without its tags.
    """

    account: Account
    region: str | None
    action: str
    run: Callable[[], Outcome[T]]
    fallback: list[T] = field(default_factory=list)


@dataclass
class Gathered(Generic[T]):
    items: list[T]
    warnings: list[ScanWarning]
    accounts: list[str]
    regions: list[str]
    elapsed: float


class FanOut:
    """A bounded pool shared by every request, sized against AWS request rates."""

    def __init__(self, max_workers: int, timeout: float | None = None) -> None:
        self.max_workers = max_workers
        # Maximum wait for one run's tasks. What is still running then becomes a warning,
        # because botocore's timeouts multiplied by its attempts can add up to minutes.
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aws")

    def run(self, tasks: Iterable[Task[T]]) -> Gathered[T]:
        started = time.monotonic()
        items: list[T] = []
        warnings: list[ScanWarning] = []
        seen_warnings: set[str] = set()
        accounts: dict[str, None] = {}
        regions: dict[str, None] = {}
        # Each task runs in its own copy of a context: the caller's for the first tasks, and
        # the parent task's for follow-ups. So a context variable that a task sets, such as
        # the role session its AWS calls sign as, reaches the tasks it spawns.
        pending: dict[Future[Outcome[T]], tuple[Task[T], contextvars.Context]] = {}
        # Finished futures arrive here in completion order. Unlike wait(), which registers
        # a waiter on every pending future at each call, this costs O(1) per task.
        finished: queue.SimpleQueue[Future[Outcome[T]]] = queue.SimpleQueue()

        def submit(task: Task[T], context: contextvars.Context) -> None:
            accounts.setdefault(task.account.name)
            if task.region:
                regions.setdefault(task.region)
            future = self._executor.submit(context.run, task.run)
            pending[future] = (task, context)
            future.add_done_callback(finished.put)

        for task in tasks:
            submit(task, contextvars.copy_context())
        deadline = None if self.timeout is None else started + self.timeout
        while pending:
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                future = finished.get(timeout=remaining)
            except queue.Empty:
                self._give_up(pending, warnings, seen_warnings)
                break
            task, context = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # every failure becomes a warning line
                message = describe_aws_error(
                    exc,
                    action=task.action,
                    account=task.account.name,
                    account_id=task.account.account_id,
                    region=task.region,
                )
                logger.warning("%s", message, exc_info=logger.isEnabledFor(logging.DEBUG))
                if message not in seen_warnings:
                    seen_warnings.add(message)
                    warnings.append(ScanWarning(task.account.name, task.region, message))
                items.extend(task.fallback)
                continue
            items.extend(outcome.items)
            for followup in outcome.followups:
                submit(followup, context.copy())
        return Gathered(
            items=items,
            warnings=warnings,
            accounts=list(accounts),
            regions=sorted(regions),
            elapsed=time.monotonic() - started,
        )

    def _give_up(
        self,
        pending: dict[Future[Outcome[T]], tuple[Task[T], contextvars.Context]],
        warnings: list[ScanWarning],
        seen_warnings: set[str],
    ) -> None:
        """Turn the tasks still pending at the deadline into warnings; their threads finish alone."""
        for future, (task, _) in pending.items():
            future.cancel()
            where = f"account {task.account.label}"
            if task.region:
                where += f", region {task.region}"
            message = (
                f"Timed out after {self.timeout:g} s waiting for {task.action} in {where}; "
                "the rest of the reply is complete"
            )
            logger.warning("%s", message)
            if message not in seen_warnings:
                seen_warnings.add(message)
                warnings.append(ScanWarning(task.account.name, task.region, message))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
