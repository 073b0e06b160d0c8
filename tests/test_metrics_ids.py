"""Resource ids checked against AWS naming rules before any AWS call."""

from __future__ import annotations

import pytest

from handlers.grammar import CommandError
from handlers.metrics import parse_metrics_args
from services.lookup import ResourceLocator, kinds_for_id


@pytest.mark.parametrize(
    ("resource_id", "kinds"),
    [
        ("i-0abc123", ("ec2",)),
        ("i-0123456789abcdef0", ("ec2",)),
        ("vol-0abc", ("ebs",)),
        ("j-2AXXXXXXGAPLF", ("emr",)),
        ("orders-db", ("rds", "lambda", "eks")),
        ("orders_fn", ("lambda", "eks")),
        ("9lives", ("lambda", "eks")),
        ("i-xyz", ("rds", "lambda", "eks")),
        ("a" * 64, ("lambda", "eks")),
        ("a" * 65, ("eks",)),
        ("db--two", ("lambda", "eks")),
        ("db-", ("lambda", "eks")),
        ("-lead", ("lambda",)),
    ],
)
def test_kinds_for_id_naming_rules(resource_id: str, kinds: tuple[str, ...]) -> None:
    assert kinds_for_id(resource_id) == kinds


@pytest.mark.parametrize(
    "resource_id", ["../../etc/passwd", "a" * 101, "name.with.dots", "<!here>", "user@host"]
)
def test_kinds_for_id_fits_none(resource_id: str) -> None:
    assert kinds_for_id(resource_id) == ()


def test_parse_metrics_args_rejects_bad_id() -> None:
    with pytest.raises(CommandError) as raised:
        parse_metrics_args(["../../etc/passwd"])
    message = str(raised.value)
    assert "`../../etc/passwd` is not a resource id or name aws-monitor can look up" in message
    assert "EC2 instance id (`i-` and hex digits)" in message


def test_locate_rejects_bad_id_without_aws() -> None:
    locator = ResourceLocator(None, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fits no AWS naming rule"):
        locator.locate([], "../../etc/passwd")
