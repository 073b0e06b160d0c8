"""Inventory across accounts x regions x resource types, on the shared fan-out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services import awslambda, ec2, eks, emr, rds, s3
from services.accounts import Account
from services.cache import TtlCache
from services.fanout import FanOut, Gathered, Outcome, Task
from services.models import Query, Resource
from services.query import ResourceType, list_task
from services.regions import ENABLED, RegionResolver
from services.sessions import SessionFactory

RESOURCE_TYPES: dict[str, ResourceType] = {
    rtype.kind: rtype
    for rtype in (
        ec2.INSTANCES,
        ec2.VOLUMES,
        rds.DB_INSTANCES,
        s3.BUCKETS,
        awslambda.FUNCTIONS,
        eks.CLUSTERS,
        emr.CLUSTERS,
    )
}


class Inventory:
    """Lists resources for a set of accounts; one instance serves every request."""

    def __init__(
        self,
        factory: SessionFactory,
        fanout: FanOut,
        regions: RegionResolver,
        bucket_location_ttl: float = 3600.0,
    ) -> None:
        self.factory = factory
        self.fanout = fanout
        self.regions = regions
        self.bucket_locations: TtlCache[tuple[str, str], str] = TtlCache(bucket_location_ttl)

    def collect(
        self,
        accounts: Sequence[Account],
        kinds: Sequence[str],
        query: Query,
        user_id: str | None = None,
    ) -> Gathered[Resource]:
        """List `kinds` in every selected account and region; failures become warnings."""
        selected = [a for a in accounts if not query.accounts or a.name in query.accounts]
        tasks: list[Task[Resource]] = []
        for account in selected:
            if self.regions.needs_lookup(account):
                tasks.append(self._regions_task(account, kinds, query, user_id))
            else:
                regions = self.regions.resolve(account, user_id)
                tasks.extend(self._tasks(account, regions, kinds, query, user_id))
        gathered = self.fanout.run(tasks)
        gathered.items.sort(key=lambda r: (r.kind, r.account, r.region, r.name or "", r.id))
        return gathered

    def warm(self, accounts: Iterable[Account], limit: int) -> tuple[int, int]:
        """Create the clients that listing every kind in `accounts` needs.

        Creating a client takes 5 to 25 ms of CPU, so a serving process does this before it
        listens rather than in its first reply. An account scanning `enabled` regions gets
        only the client that looks them up, which needs an AWS call. Creates at most
        `limit` and returns the numbers created and needed.
        """
        services = sorted({rtype.service for rtype in RESOURCE_TYPES.values()})
        needed: dict[tuple[str, str, str], Account] = {}
        for account in accounts:
            if self.regions.configured(account) == ENABLED:
                needed[(account.name, "ec2", self.factory.settings.default_region)] = account
                continue
            needed[(account.name, "s3", s3.GLOBAL_REGION)] = account
            for region in self.regions.resolve(account):
                for service in services:
                    needed[(account.name, service, region)] = account
        created = list(needed.items())[:limit]
        for (_, service, region), account in created:
            self.factory.client(account, service, region)
        return len(created), len(needed)

    def _tasks(
        self,
        account: Account,
        regions: Sequence[str],
        kinds: Sequence[str],
        query: Query,
        user_id: str | None,
    ) -> list[Task[Resource]]:
        scanned = [r for r in regions if not query.regions or r in query.regions]
        tasks: list[Task[Resource]] = []
        for kind in kinds:
            if kind == "s3":
                tasks.append(
                    s3.bucket_tasks(self.factory, account, query, user_id, self.bucket_locations)
                )
                continue
            rtype = RESOURCE_TYPES[kind]
            tasks.extend(
                list_task(self.factory, rtype, account, region, query, user_id)
                for region in scanned
            )
        return tasks

    def _regions_task(
        self, account: Account, kinds: Sequence[str], query: Query, user_id: str | None
    ) -> Task[Resource]:
        def run() -> Outcome[Resource]:
            regions = self.regions.resolve(account, user_id)
            return Outcome(followups=self._tasks(account, regions, kinds, query, user_id))

        return Task(account=account, region=None, action="ec2:DescribeRegions", run=run)
