"""Count the Cost Explorer requests (USD 0.01 each) that a day of cost questions sends.

A channel with the three demo accounts sends four cost questions every 15 minutes for
24 hours (384 questions), once with the store as cache and once with a cache that
stores nothing. The AWS side is moto in process with the demo cost table, and the
clock is frozen and moved forward, so the run takes seconds and needs no network.

    .venv/bin/python benchmarks/cost_requests.py
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun import freeze_time

from bot.demo_costs import seed_costs
from bot.store import Store
from services.accounts import Account
from services.cost_periods import local_today, resolve_period
from services.costs import CostCache, CostExplorer, GroupBy
from services.fanout import FanOut
from services.sessions import AwsSettings, SessionFactory

IDS = {"prod": "111111111111", "staging": "222222222222", "data": "333333333333"}
QUESTIONS = (
    ("this month", "service"),
    ("last month", "region"),
    ("7d", "tag:Team"),
    ("yesterday", "account"),
)
START = datetime(2026, 3, 14, 0, 0)
STEP = timedelta(minutes=15)
STEPS = 96


class NoCache:
    """A cache that stores nothing, so that every question sends its requests."""

    def get_cost(self, key: str) -> Any | None:
        return None

    def put_cost(self, key: str, request: Any, response: Any, expires_at: Any) -> None:
        return None


def run(cache: CostCache, accounts: list[Account]) -> tuple[int, int]:
    factory = SessionFactory(AwsSettings(max_workers=8))
    fanout = FanOut(8)
    explorer = CostExplorer(factory, fanout, cache, {a.name: a for a in accounts})
    questions = 0
    try:
        with freeze_time(START) as frozen:
            for _ in range(STEPS):
                today = local_today("UTC")
                for period_text, grouping in QUESTIONS:
                    period = resolve_period(period_text, today)
                    explorer.report(accounts, period, GroupBy.parse(grouping))
                    questions += 1
                frozen.tick(STEP)
    finally:
        fanout.shutdown()
    return questions, explorer.total_requests


def main() -> int:
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    accounts = [
        Account(name, f"arn:aws:iam::{account_id}:role/AwsMonitorReadOnly")
        for name, account_id in IDS.items()
    ]
    results = {}
    with tempfile.TemporaryDirectory() as folder, mock_aws():
        seed_costs(dict(IDS), date(START.year, START.month, START.day))
        store = Store(f"sqlite:///{Path(folder) / 'bench.db'}")
        results["store, cache_hours 6"] = run(store, accounts)
        results["no cache"] = run(NoCache(), accounts)
        store.engine.dispose()
    for name, (questions, requests) in results.items():
        print(f"{name:22s} {questions} questions, {requests} requests, USD {requests / 100:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
