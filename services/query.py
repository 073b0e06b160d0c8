"""Declarative resource types and the one paginated fetch that lists them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from services.accounts import Account
from services.fanout import Outcome, Task
from services.models import Query, Resource
from services.sessions import SessionFactory

Parse = Callable[[dict[str, Any], Account, str], Resource]
Enrich = Callable[[Any, Resource], Resource]


@dataclass(frozen=True)
class Detail:
    """A per-resource follow-up call, such as describe_cluster after list_clusters."""

    iam_action: str
    call: Enrich


@dataclass(frozen=True)
class ResourceType:
    """Declaration of what one service lists: the operation, the items' path, and the parser."""

    kind: str
    title: str
    service: str
    operation: str
    iam_action: str
    items: Callable[[dict[str, Any]], Iterable[Any]]
    parse: Parse
    request: Callable[[Query], dict[str, Any]] = lambda query: {}
    detail: Detail | None = None
    metric_namespace: str | None = None
    metric_dimension: str | None = None


def fetch_pages(client: Any, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Yield every page of a list call, through botocore's paginator when it has one."""
    if client.can_paginate(operation):
        yield from client.get_paginator(operation).paginate(**params)
    else:
        yield getattr(client, operation)(**params)


def list_task(
    factory: SessionFactory,
    rtype: ResourceType,
    account: Account,
    region: str,
    query: Query,
    user_id: str | None = None,
) -> Task[Resource]:
    """Build the task that lists one resource type in one account and region."""

    def run() -> Outcome[Resource]:
        client = factory.client(account, rtype.service, region, user_id=user_id)
        found = [
            rtype.parse(raw, account, region)
            for page in fetch_pages(client, rtype.operation, **rtype.request(query))
            for raw in rtype.items(page)
        ]
        if rtype.detail is None:
            return Outcome(items=[resource for resource in found if query.matches(resource)])
        return Outcome(
            followups=[
                detail_task(factory, rtype.detail, rtype.service, resource, account, query, user_id)
                for resource in found
            ]
        )

    return Task(account=account, region=region, action=rtype.iam_action, run=run)


def detail_task(
    factory: SessionFactory,
    detail: Detail,
    service: str,
    resource: Resource,
    account: Account,
    query: Query,
    user_id: str | None,
) -> Task[Resource]:
    """Build the follow-up that completes one resource; on failure the bare resource is kept."""

    def run() -> Outcome[Resource]:
        client = factory.client(account, service, resource.region, user_id=user_id)
        completed = detail.call(client, resource)
        return Outcome(items=[completed] if query.matches(completed) else [])

    fallback = [resource] if query.matches(resource) else []
    return Task(
        account=account,
        region=resource.region,
        action=detail.iam_action,
        run=run,
        fallback=fallback,
    )
