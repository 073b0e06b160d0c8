"""The Cost Explorer cache in the store: closed periods kept for good, open ones for hours."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from bot.store import CostCacheEntry
from services.cost_periods import resolve_period
from services.costs import SERVICE_GROUPING, CostExplorer, GroupBy
from tests.cost_support import ACCOUNTS, PROD, cost_explorer, page, result, seed

EC2 = "Amazon Elastic Compute Cloud - Compute"
TODAY = date(2026, 3, 14)


@pytest.fixture
def explorer(aws: None, tmp_path: Path) -> Iterator[CostExplorer]:
    with cost_explorer(tmp_path) as instance:
        yield instance


def seed_month(account_id: str, amount: str, estimated: bool = False) -> None:
    seed(
        account_id,
        page(result("2026-02-01", "2026-02-02", {EC2: amount}, estimated=estimated)),
        page(result("2026-01-01", "2026-01-02", {EC2: "1.00"})),
        page(result("2026-02-01", "2026-03-01", {})),
    )


def cache_rows(explorer: CostExplorer) -> list[CostCacheEntry]:
    store: Any = explorer.cache
    with store.session() as session:
        return list(session.scalars(select(CostCacheEntry)))


def test_cache_hundred_questions_one_request_each(explorer: CostExplorer) -> None:
    seed_month("111111111111", "42.00")
    last_month = resolve_period("last month", TODAY)
    with freeze_time("2026-03-14T09:00:00") as frozen:
        reports = []
        for _ in range(100):
            reports.append(explorer.report([PROD], last_month, SERVICE_GROUPING))
            frozen.tick(timedelta(seconds=36))

    # One question needs three distinct requests: usage, the previous month, and credits
    # and tax. Each is sent once, and the cache serves the 99 repeats.
    assert reports[0].requests_sent == 3
    assert sum(report.requests_sent for report in reports) == 3
    assert explorer.requests_sent["GetCostAndUsage"] == 3
    assert explorer.factory.counter.calls["ce.GetCostAndUsage"] == 3
    assert explorer.cache_hits["GetCostAndUsage"] == 99 * 3
    assert all(str(report.total) == "42.00" for report in reports)


def test_cache_closed_period_kept_for_good(explorer: CostExplorer) -> None:
    seed_month("111111111111", "42.00")
    last_month = resolve_period("last month", TODAY)
    with freeze_time("2026-03-14T09:00:00"):
        explorer.report([PROD], last_month, SERVICE_GROUPING)
    assert [row.expires_at for row in cache_rows(explorer)] == [None, None, None]

    with freeze_time("2026-09-14T09:00:00"):
        later = explorer.report([PROD], last_month, SERVICE_GROUPING)
    assert later.requests_sent == 0
    assert later.cache_hits == 3


def test_cache_open_period_expires(explorer: CostExplorer) -> None:
    seed(
        "111111111111",
        page(result("2026-03-13", "2026-03-14", {EC2: "5.00"})),
        page(result("2026-03-12", "2026-03-13", {EC2: "4.00"})),
        page(result("2026-03-13", "2026-03-14", {})),
    )
    yesterday = resolve_period("yesterday", TODAY)
    with freeze_time("2026-03-14T09:00:00") as frozen:
        first = explorer.report([PROD], yesterday, SERVICE_GROUPING)
        expiries = {row.expires_at for row in cache_rows(explorer)}
        frozen.tick(timedelta(hours=5, minutes=59))
        within = explorer.report([PROD], yesterday, SERVICE_GROUPING)
        frozen.tick(timedelta(minutes=2))
        after = explorer.report([PROD], yesterday, SERVICE_GROUPING)

    stored = [expiry.replace(tzinfo=None) for expiry in expiries if expiry is not None]
    assert stored == [datetime(2026, 3, 14, 15, 0)]
    assert first.requests_sent == 3
    assert within.requests_sent == 0
    assert after.requests_sent == 3


def test_cache_estimated_closed_period_expires(explorer: CostExplorer) -> None:
    seed_month("111111111111", "42.00", estimated=True)
    with freeze_time("2026-03-02T09:00:00"):
        explorer.report([PROD], resolve_period("last month", TODAY), SERVICE_GROUPING)
    expiries = sorted(str(row.expires_at) for row in cache_rows(explorer))
    # The estimated February usage expires; January and the credit request are final.
    assert expiries.count("None") == 2
    assert any(expiry.startswith("2026-03-02 15:00") for expiry in expiries)


def test_cache_concurrent_questions_send_once(explorer: CostExplorer) -> None:
    seed_month("111111111111", "42.00")
    last_month = resolve_period("last month", TODAY)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            explorer.report([PROD], last_month, SERVICE_GROUPING)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert explorer.requests_sent["GetCostAndUsage"] == 3


def test_cache_zero_hours_always_asks(aws: None, tmp_path: Path) -> None:
    seed(
        "111111111111",
        page(result("2026-03-13", "2026-03-14", {EC2: "5.00"})),
        page(result("2026-03-12", "2026-03-13", {EC2: "4.00"})),
        page(result("2026-03-13", "2026-03-14", {})),
    )
    with cost_explorer(tmp_path, ACCOUNTS, cache_hours=0) as explorer:
        yesterday = resolve_period("yesterday", TODAY)
        with freeze_time("2026-03-14T09:00:00"):
            explorer.report([PROD], yesterday, SERVICE_GROUPING)
            second = explorer.report([PROD], yesterday, SERVICE_GROUPING)
    assert second.requests_sent == 3


class BrokenCache:
    def get_cost(self, key: str) -> Any:
        raise OSError("disk full")

    def put_cost(self, key: str, request: Any, response: Any, expires_at: Any) -> None:
        raise OSError("disk full")


def test_cache_failure_still_answers(
    explorer: CostExplorer, caplog: pytest.LogCaptureFixture
) -> None:
    seed_month("111111111111", "42.00")
    explorer.cache = BrokenCache()
    with caplog.at_level(logging.WARNING, logger="services.costs"):
        report = explorer.report([PROD], resolve_period("last month", TODAY), SERVICE_GROUPING)

    assert str(report.total) == "42.00"
    assert report.warnings == []
    assert "Reading the cost cache failed" in caplog.text
    assert "Writing the cost cache failed" in caplog.text


def test_cache_keys_differ_per_account_and_grouping(explorer: CostExplorer) -> None:
    seed_month("111111111111", "42.00")
    seed(
        "111111111111",
        page(result("2026-02-01", "2026-02-02", {"us-east-1": "42.00"})),
        page(result("2026-01-01", "2026-01-02", {"us-east-1": "1.00"})),
    )
    seed_month("222222222222", "7.00")
    last_month = resolve_period("last month", TODAY)
    by_service = explorer.report([PROD], last_month, SERVICE_GROUPING)
    by_region = explorer.report([PROD], last_month, GroupBy.parse("region"))
    staging = explorer.report([ACCOUNTS["staging"]], last_month, SERVICE_GROUPING)

    assert by_service.requests_sent == 3
    # The credits request does not depend on the grouping, so it comes from the cache.
    assert by_region.requests_sent == 2
    assert by_region.cache_hits == 1
    assert staging.requests_sent == 3
    assert str(staging.total) == "7.00"
