"""RDS database instances."""

from __future__ import annotations

from typing import Any

from services.accounts import Account
from services.models import Resource, tag_dict
from services.query import ResourceType


def _parse_db_instance(raw: dict[str, Any], account: Account, region: str) -> Resource:
    endpoint = raw.get("Endpoint") or {}
    engine = raw.get("Engine", "-")
    version = raw.get("EngineVersion")
    details = (
        ("engine", f"{engine} {version}" if version else engine),
        ("storage_gib", str(raw.get("AllocatedStorage", "-"))),
        ("multi_az", "yes" if raw.get("MultiAZ") else "no"),
        ("endpoint", endpoint.get("Address") or "-"),
    )
    return Resource(
        kind="rds",
        id=raw["DBInstanceIdentifier"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state=raw.get("DBInstanceStatus", "unknown"),
        name=raw["DBInstanceIdentifier"],
        type=raw.get("DBInstanceClass"),
        tags=tag_dict(raw.get("TagList")),
        created=raw.get("InstanceCreateTime"),
        details=details,
    )


DB_INSTANCES = ResourceType(
    kind="rds",
    title="RDS instances",
    service="rds",
    operation="describe_db_instances",
    iam_action="rds:DescribeDBInstances",
    items=lambda page: page.get("DBInstances", []),
    parse=_parse_db_instance,
    metric_namespace="AWS/RDS",
    metric_dimension="DBInstanceIdentifier",
)
