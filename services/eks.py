"""EKS clusters: list_clusters returns names, describe_cluster the rest."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.accounts import Account
from services.models import Resource
from services.query import Detail, ResourceType


def _parse_cluster_name(raw: str, account: Account, region: str) -> Resource:
    return Resource(
        kind="eks",
        id=raw,
        account=account.name,
        account_id=account.account_id,
        region=region,
        state="unknown",
        name=raw,
    )


def _describe(client: Any, resource: Resource) -> Resource:
    cluster = client.describe_cluster(name=resource.id).get("cluster") or {}
    return dataclasses.replace(
        resource,
        state=cluster.get("status", "unknown"),
        type=f"k8s {cluster['version']}" if cluster.get("version") else None,
        tags=dict(cluster.get("tags") or {}),
        created=cluster.get("createdAt"),
        details=(
            ("platform", cluster.get("platformVersion") or "-"),
            ("endpoint", cluster.get("endpoint") or "-"),
        ),
    )


CLUSTERS = ResourceType(
    kind="eks",
    title="EKS clusters",
    service="eks",
    operation="list_clusters",
    iam_action="eks:ListClusters",
    items=lambda page: page.get("clusters", []),
    parse=_parse_cluster_name,  # type: ignore[arg-type]
    detail=Detail(iam_action="eks:DescribeCluster", call=_describe),
    metric_namespace="ContainerInsights",
    metric_dimension="ClusterName",
)
