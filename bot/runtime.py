"""Wire the services and handlers together from a loaded configuration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import boto3

from bot.config import AppConfig
from bot.digests import digest_options
from bot.store import Store
from handlers.dispatch import Backends
from services.costs import CostExplorer
from services.fanout import FanOut
from services.idle import IdleScanner
from services.inventory import Inventory
from services.lookup import ResourceLocator
from services.metrics import MetricsService
from services.regions import RegionResolver
from services.resource_metrics import ResourceMetricsService
from services.sessions import SessionFactory

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one bot process shares between requests, jobs and the CLI."""

    config: AppConfig
    factory: SessionFactory
    fanout: FanOut
    store: Store
    backends: Backends

    def warm(self, services: Iterable[str]) -> None:
        """Parse the botocore models of `services` and create the inventory's clients.

        `serve` calls this before it listens, so neither the first acks nor the first
        reply wait for work that holds the GIL for about a second on a large estate.
        """
        started = time.perf_counter()
        self.factory.preload(services)
        limit = self.config.aws.max_clients
        created, needed = self.backends.inventory.warm(self.config.accounts.values(), limit)
        logger.info(
            "Parsed the AWS models and created %d clients in %.1f s",
            created,
            time.perf_counter() - started,
        )
        if needed > created:
            logger.warning(
                "The configured accounts and regions need %d clients but aws.max_clients is %d, "
                "so inventories across all of them create clients again. Raise aws.max_clients "
                "(about 0.5 MB a client) to keep them",
                needed,
                limit,
            )

    def close(self) -> None:
        self.fanout.shutdown()
        self.store.engine.dispose()


def build_runtime(
    config: AppConfig,
    store: Store | None = None,
    base_session: Callable[[], boto3.Session] = boto3.Session,
) -> Runtime:
    factory = SessionFactory(config.aws, base_session=base_session)
    fanout = FanOut(config.aws.max_workers, timeout=config.aws.answer_timeout)
    regions = RegionResolver(factory, config.regions)
    inventory = Inventory(factory, fanout, regions)
    store = store or Store()
    costs = CostExplorer(
        factory,
        fanout,
        store,
        config.accounts,
        cache_hours=config.costs.cache_hours,
        metric=config.costs.metric,
        top=config.costs.top,
    )
    metrics = MetricsService(factory, fanout)
    resource_metrics = ResourceMetricsService(metrics, ResourceLocator(factory, fanout, regions))
    idle = IdleScanner(factory, fanout, regions, metrics, config.idle)
    backends = Backends(
        inventory=inventory,
        costs=costs,
        metrics=resource_metrics,
        idle=idle,
        digests=digest_options(config, store),
    )
    return Runtime(config=config, factory=factory, fanout=fanout, store=store, backends=backends)
