"""Regions to scan for an account: a fixed list, or every region it has enabled."""

from __future__ import annotations

import logging

from services.accounts import Account
from services.cache import TtlCache
from services.sessions import SessionFactory

logger = logging.getLogger(__name__)

ENABLED = "enabled"
NOT_OPTED_IN = "not-opted-in"


class RegionResolver:
    """Resolves regions per account; `enabled` calls describe_regions and caches the result."""

    def __init__(
        self,
        factory: SessionFactory,
        default: tuple[str, ...] | str,
        ttl_seconds: float = 3600.0,
    ) -> None:
        self.factory = factory
        self.default = default
        self._enabled: TtlCache[str, tuple[str, ...]] = TtlCache(ttl_seconds)

    def configured(self, account: Account) -> tuple[str, ...] | str:
        return account.regions if account.regions is not None else self.default

    def needs_lookup(self, account: Account) -> bool:
        return self.configured(account) == ENABLED and self._enabled.get(account.name) is None

    def resolve(self, account: Account, user_id: str | None = None) -> tuple[str, ...]:
        """Return the account's regions; may call ec2:DescribeRegions, whose errors propagate."""
        configured = self.configured(account)
        if configured != ENABLED:
            assert isinstance(configured, tuple)
            return configured
        cached = self._enabled.get(account.name)
        if cached is not None:
            return cached
        client = self.factory.client(
            account, "ec2", self.factory.settings.default_region, user_id=user_id
        )
        # The OptInStatus filter is applied here as well because not every endpoint honours it.
        response = client.describe_regions(
            Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}]
        )
        regions = tuple(
            sorted(
                region["RegionName"]
                for region in response.get("Regions", [])
                if region.get("OptInStatus") != NOT_OPTED_IN
            )
        )
        logger.info("Account %s has %d enabled regions", account.name, len(regions))
        self._enabled.put(account.name, regions)
        return regions
