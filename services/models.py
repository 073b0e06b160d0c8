"""Plain data the services return: resources and the query that selects them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One listed AWS resource, the same shape for every service."""

    kind: str
    id: str
    account: str
    region: str
    state: str
    name: str | None = None
    type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    details: tuple[tuple[str, str], ...] = ()
    account_id: str | None = None

    def detail(self, key: str) -> str | None:
        return dict(self.details).get(key)


@dataclass(frozen=True)
class Query:
    """Selection of resources to keep; empty fields select everything."""

    environment_tag: str = "Environment"
    environment: str | None = None
    states: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    tags: tuple[tuple[str, str], ...] = ()

    def matches(self, resource: Resource) -> bool:
        environment_tag = resource.tags.get(self.environment_tag)
        if self.environment is not None and environment_tag != self.environment:
            return False
        if self.states and resource.state.lower() not in self.states:
            return False
        if self.regions and resource.region not in self.regions:
            return False
        if self.accounts and resource.account not in self.accounts:
            return False
        return all(resource.tags.get(key) == value for key, value in self.tags)

    def tag_filters(self) -> list[dict[str, Any]]:
        """EC2-style server-side filters for the tag part of the query."""
        filters = []
        if self.environment is not None:
            filters.append({"Name": f"tag:{self.environment_tag}", "Values": [self.environment]})
        for key, value in self.tags:
            filters.append({"Name": f"tag:{key}", "Values": [value]})
        return filters


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Turn AWS's [{'Key': k, 'Value': v}] into a dict; a missing list means no tags."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or [] if "Key" in tag}
