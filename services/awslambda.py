"""Lambda functions and their tags (list_functions carries none)."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.accounts import Account
from services.models import Resource
from services.query import Detail, ResourceType


def _parse_function(raw: dict[str, Any], account: Account, region: str) -> Resource:
    details = (
        ("arn", raw.get("FunctionArn", "")),
        ("memory_mb", str(raw.get("MemorySize", "-"))),
        ("timeout_s", str(raw.get("Timeout", "-"))),
        ("last_modified", str(raw.get("LastModified", "-"))),
    )
    return Resource(
        kind="lambda",
        id=raw["FunctionName"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state=raw.get("State") or "Active",
        name=raw["FunctionName"],
        type=raw.get("Runtime") or raw.get("PackageType") or "-",
        details=details,
    )


def _add_tags(client: Any, resource: Resource) -> Resource:
    arn = resource.detail("arn")
    tags = client.list_tags(Resource=arn).get("Tags") or {}
    return dataclasses.replace(resource, tags=dict(tags))


FUNCTIONS = ResourceType(
    kind="lambda",
    title="Lambda functions",
    service="lambda",
    operation="list_functions",
    iam_action="lambda:ListFunctions",
    items=lambda page: page.get("Functions", []),
    parse=_parse_function,
    detail=Detail(iam_action="lambda:ListTags", call=_add_tags),
    metric_namespace="AWS/Lambda",
    metric_dimension="FunctionName",
)
