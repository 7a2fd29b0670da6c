"""The running exporter: the current configuration, its scheduler, and the metrics registry.

Reload lives here so SIGHUP and POST /-/reload behave the same: a new configuration is fully
validated before anything changes, and a bad one leaves the old one polling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from pop3probe import poll_mailbox

from .collector import FrozenView, MailboxExposition, SelfMetrics, freeze
from .config import ConfigError, ExporterConfig, load_config
from .poller import PollFunction
from .scheduler import START_SPREAD_LIMIT, Scheduler
from .sharding import Shard

_LOGGER = logging.getLogger(__name__)


class Exporter:
    """The exporter while it runs: its scheduler, its own metrics, reloads."""

    def __init__(
        self,
        config: ExporterConfig,
        *,
        config_path: Path | None = None,
        web_config_path: Path | None = None,
        shard: Shard | None = None,
        poll: PollFunction = poll_mailbox,
        start_spread: float = START_SPREAD_LIMIT,
    ) -> None:
        self.config_path = config_path
        self.web_config_path = web_config_path
        # Called with each new configuration once it is in force (the web server's TLS, users).
        self.reload_listeners: list[Callable[[ExporterConfig], Awaitable[None]]] = []
        self.registry = CollectorRegistry(auto_describe=False)  # the exporter's own metrics
        self.self_metrics = SelfMetrics(self.registry)
        self.exposition = MailboxExposition()  # /metrics text, cached per unchanged mailbox
        self.scheduler = Scheduler(
            config,
            shard=shard,
            poll=poll,
            on_poll=self.self_metrics.observe,
            start_spread=start_spread,
        )
        self.reload_ok = True
        self.ready = False
        self._reload_lock = asyncio.Lock()  # SIGHUP and POST /-/reload may arrive together
        self.self_metrics.reload_successful.set(1)
        self.self_metrics.reload_timestamp.set(time.time())

    def frozen_views(self) -> list[FrozenView]:
        """The mailboxes' state for one scrape, copied in the event loop."""
        return freeze(self.scheduler.states())

    @property
    def config(self) -> ExporterConfig:
        return self.scheduler.config

    async def start(self) -> None:
        await self.scheduler.start()
        self.ready = True
        _LOGGER.info(
            "polling %d of %d configured mailboxes%s",
            len(self.scheduler.states()),
            len(self.config.mailboxes),
            f" (shard {self.scheduler.shard})" if self.scheduler.shard else "",
        )

    async def stop(self) -> None:
        self.ready = False
        await self.scheduler.stop()

    async def reload(self) -> ConfigError | None:
        """Re-read the config file. On error keep the old config and return the error."""
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> ConfigError | None:
        if self.config_path is None:
            error = ConfigError("", "no configuration file to reload (demo mode)")
            self._reload_failed(error)
            return error
        try:
            config = load_config(self.config_path, web_config_file=self.web_config_path)
        except ConfigError as error:
            self._reload_failed(error)
            return error
        await self.scheduler.apply(config)
        for listener in self.reload_listeners:
            await listener(config)
        self.reload_ok = True
        self.self_metrics.reload_successful.set(1)
        self.self_metrics.reload_timestamp.set(time.time())
        _LOGGER.info("configuration reloaded: %d mailboxes", len(config.mailboxes))
        return None

    def _reload_failed(self, error: ConfigError) -> None:
        self.reload_ok = False
        self.self_metrics.reload_successful.set(0)
        _LOGGER.error("reload failed, keeping the old configuration: %s", error)
