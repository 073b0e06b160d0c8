"""Wire the services and handlers together from a loaded configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import boto3

from bot.config import AppConfig
from bot.store import Store
from handlers.dispatch import Backends
from services.fanout import FanOut
from services.inventory import Inventory
from services.regions import RegionResolver
from services.sessions import SessionFactory


@dataclass
class Runtime:
    """Everything one bot process shares between requests, jobs and the CLI."""

    config: AppConfig
    factory: SessionFactory
    fanout: FanOut
    store: Store
    backends: Backends

    def close(self) -> None:
        self.fanout.shutdown()
        self.store.engine.dispose()


def build_runtime(
    config: AppConfig,
    store: Store | None = None,
    base_session: Callable[[], boto3.Session] = boto3.Session,
) -> Runtime:
    factory = SessionFactory(config.aws, base_session=base_session)
    fanout = FanOut(config.aws.max_workers)
    regions = RegionResolver(factory, config.regions)
    inventory = Inventory(factory, fanout, regions)
    store = store or Store()
    backends = Backends(inventory=inventory)
    return Runtime(config=config, factory=factory, fanout=fanout, store=store, backends=backends)
