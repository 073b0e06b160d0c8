"""The fast timestamp parser returns what botocore's parser returns, and clients use it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from services.accounts import Account
from services.sessions import AwsSettings, SessionFactory
from services.timestamps import parse_timestamp

VALUES = [
    "2026-12-04T22:00:00.000Z",
    "2026-12-04T22:00:00Z",
    "2026-12-04T22:00:00.123456Z",
    "2026-12-04T22:00:00.1234567Z",
    "2026-12-04T22:00:00.12Z",
    "2026-12-04T22:00:00+02:00",
    "2026-12-04T22:00:00.000+0000",
    "2026-12-04 22:00:00+00:00",
    "2026-12-04T22:00:00",
    "Fri, 04 Dec 2026 22:00:00 GMT",
    "1733349600",
    1733349600,
    1733349600.5,
]


@pytest.mark.parametrize("value", VALUES, ids=str)
def test_parse_timestamp_matches_botocore(value: str | float) -> None:
    parsed = parse_timestamp(value)
    expected = botocore_parse_timestamp(value)

    assert isinstance(parsed, datetime)
    assert parsed.replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert parsed.utcoffset() == expected.utcoffset()


def test_parse_timestamp_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_timestamp("not a time")


def test_factory_clients_use_fast_parser(aws: None) -> None:
    factory = SessionFactory(AwsSettings())
    roles = Account("prod", "arn:aws:iam::111111111111:role/AwsMonitorReadOnly")
    own = Account("own")

    for account in (roles, own):
        client = factory.client(account, "ec2", "us-east-1")
        image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        client.run_instances(ImageId=image, MinCount=1, MaxCount=1)
        reservation = client.describe_instances()["Reservations"][0]
        # botocore's own parser would return dateutil's tzutc() here.
        assert reservation["Instances"][0]["LaunchTime"].tzinfo is UTC
