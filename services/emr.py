"""EMR clusters in the active states, completed by describe_cluster."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.accounts import Account
from services.models import Query, Resource, tag_dict
from services.query import Detail, ResourceType

ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
ALL_STATES = (*ACTIVE_STATES, "TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")


def _request(query: Query) -> dict[str, Any]:
    wanted = [state.upper() for state in query.states if state.upper() in ALL_STATES]
    return {"ClusterStates": wanted or list(ACTIVE_STATES)}


def _parse_cluster(raw: dict[str, Any], account: Account, region: str) -> Resource:
    status = raw.get("Status") or {}
    timeline = status.get("Timeline") or {}
    return Resource(
        kind="emr",
        id=raw["Id"],
        account=account.name,
        account_id=account.account_id,
        region=region,
        state=status.get("State", "unknown"),
        name=raw.get("Name"),
        created=timeline.get("CreationDateTime"),
        details=(("instance_hours", str(raw.get("NormalizedInstanceHours", "-"))),),
    )


def _describe(client: Any, resource: Resource) -> Resource:
    cluster = client.describe_cluster(ClusterId=resource.id).get("Cluster") or {}
    status = cluster.get("Status") or {}
    return dataclasses.replace(
        resource,
        state=status.get("State", resource.state),
        type=cluster.get("ReleaseLabel"),
        tags=tag_dict(cluster.get("Tags")),
        details=(
            *resource.details,
            ("ready_at", str((status.get("Timeline") or {}).get("ReadyDateTime") or "-")),
        ),
    )


CLUSTERS = ResourceType(
    kind="emr",
    title="EMR clusters",
    service="emr",
    operation="list_clusters",
    iam_action="elasticmapreduce:ListClusters",
    items=lambda page: page.get("Clusters", []),
    parse=_parse_cluster,
    request=_request,
    detail=Detail(iam_action="elasticmapreduce:DescribeCluster", call=_describe),
    metric_namespace="AWS/ElasticMapReduce",
    metric_dimension="JobFlowId",
)
