"""docs/iam-policy.json contains exactly the actions the bot uses and `check` tries."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.inventory import RESOURCE_TYPES
from services.permissions import PROBES

ROOT = Path(__file__).resolve().parent.parent
ACTION = re.compile(r"\"((?:ec2|rds|s3|lambda|eks|elasticmapreduce|cloudwatch|ce):[A-Za-z]+)\"")


def policy_actions() -> set[str]:
    policy = json.loads((ROOT / "docs" / "iam-policy.json").read_text())
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    return set(statement["Action"])


def test_policy_matches_check_probes() -> None:
    assert policy_actions() == {probe.action for probe in PROBES}


def test_policy_covers_actions_named_in_code() -> None:
    named = set()
    for path in [*ROOT.glob("services/*.py"), *ROOT.glob("handlers/*.py")]:
        named.update(ACTION.findall(path.read_text()))
    assert named <= policy_actions()
    assert "ec2:DescribeInstances" in named


def test_policy_covers_resource_types() -> None:
    for rtype in RESOURCE_TYPES.values():
        assert rtype.iam_action in policy_actions()
        if rtype.detail is not None:
            assert rtype.detail.iam_action in policy_actions()


def test_policy_is_read_only() -> None:
    writes = re.compile(r":(Put|Create|Delete|Update|Modify|Start|Stop|Terminate|Run|Tag)")
    assert not [action for action in policy_actions() if writes.search(action)]
