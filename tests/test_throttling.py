"""Throttled AWS: botocore's standard retries still complete the inventory.

The latency proxy (tests.fakes.aws_latency) responds to a share of requests with the
throttling error of each service's protocol before they reach moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.estate import Scale, role_arn, seed_estate
from services.accounts import Account
from services.fanout import FanOut
from services.inventory import RESOURCE_TYPES, Inventory
from services.models import Query, Resource
from services.regions import RegionResolver
from services.sessions import AwsSettings, RequestCounter, SessionFactory
from tests.conftest import reset_moto
from tests.fakes.aws_latency import LatencyServer

ACCOUNTS = {"prod": "111111111111"}
REGIONS = ("us-east-1", "eu-west-1")
SMALL = Scale(
    instances=2,
    extra_volumes=1,
    db_instances=1,
    functions=1,
    eks_clusters=1,
    emr_clusters=1,
    buckets_per_account=3,
)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[LatencyServer]:
    """moto behind the latency proxy, with no delay, as the endpoint of every boto3 client."""
    with LatencyServer(delay_seconds=0.0) as server:
        reset_moto(server.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        try:
            yield server
        finally:
            reset_moto(server.url)


def _inventory(settings: AwsSettings) -> tuple[Inventory, SessionFactory]:
    factory = SessionFactory(settings)
    return Inventory(factory, FanOut(settings.max_workers), RegionResolver(factory, REGIONS)), factory


def _found(resources: list[Resource]) -> dict[tuple[str, str, str, str], Any]:
    return {
        (r.kind, r.account, r.region, r.id): (r.state, sorted(r.tags.items())) for r in resources
    }


def test_inventory_throttled_is_complete(proxy: LatencyServer) -> None:
    expected = seed_estate(SMALL, REGIONS, ACCOUNTS)
    accounts = [Account(name, role_arn=role_arn(account_id)) for name, account_id in ACCOUNTS.items()]
    kinds = list(RESOURCE_TYPES)
    # One worker sends the requests in a fixed order, so the seeded proxy throttles the
    # same requests on every run. With 10 retries, a call that fails every attempt at a 30%
    # share has a chance of 0.3 ** 11, about 2e-6, if the order ever changes.
    settings = AwsSettings(max_workers=1, max_attempts=10)
    baseline_inventory, _ = _inventory(settings)
    baseline = baseline_inventory.collect(accounts, kinds, Query())
    baseline_inventory.fanout.shutdown()

    proxy.middleware.configure(throttle_share=0.3)
    proxy.middleware.reset_stats()
    inventory, factory = _inventory(settings)
    throttled = inventory.collect(accounts, kinds, Query())
    inventory.fanout.shutdown()

    assert baseline.warnings == []
    assert sorted(r.kind for r in baseline.items) == sorted(expected.elements())
    assert throttled.warnings == []
    assert _found(throttled.items) == _found(baseline.items)
    stats = proxy.middleware.stats()
    assert stats["throttled"] > 0
    assert factory.counter.total_attempts == factory.counter.total_calls + stats["throttled"]


THROTTLES = [
    ("ec2", "describe_instances", "RequestLimitExceeded", 503),
    ("rds", "describe_db_instances", "Throttling", 400),
    ("sts", "get_caller_identity", "Throttling", 400),
    ("s3", "list_buckets", "SlowDown", 503),
    ("lambda", "list_functions", "TooManyRequestsException", 429),
    ("eks", "list_clusters", "ThrottlingException", 400),
    ("emr", "list_clusters", "ThrottlingException", 400),
    ("cloudwatch", "list_metrics", "Throttling", 400),
]


@pytest.mark.parametrize(("service", "operation", "code", "status"), THROTTLES)
def test_proxy_throttle_retried_by_botocore(
    proxy: LatencyServer, service: str, operation: str, code: str, status: int
) -> None:
    proxy.middleware.configure(throttle_share=1.0)
    # In a Config, max_attempts counts retries: one retry, two attempts.
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    client = boto3.client(service, region_name="eu-west-1", config=config)
    counter = RequestCounter()
    counter.attach(client)

    with pytest.raises(ClientError) as raised:
        getattr(client, operation)()

    error = raised.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["RetryAttempts"] == 1
    assert sum(counter.calls.values()) == 1
    assert sum(counter.attempts.values()) == 2
