"""Opening POP3 sessions for the exporter, within its limits: scheduled polls, which move a
mailbox's state on, and live probes, which leave it as it was.

A POP3 session locks the maildrop and servers count logins per user and address (Dovecot
refuses the 11th), so every session, scheduled or live, first takes a slot of its server (taken
first) and one of the global limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from pop3probe import (
    MailboxConfig,
    MessageTracker,
    PollSnapshot,
    ServerHints,
    Transcript,
    tracker_from_json,
    tracker_to_json,
)

from .config import ExporterConfig, MailboxSettings
from .mailbox import MailboxState
from .state_store import StateStore


class PollFunction(Protocol):
    """`pop3probe.poll_mailbox` as the exporter calls it (tests pass a stand-in)."""

    def __call__(
        self,
        config: MailboxConfig,
        tracker: MessageTracker,
        *,
        hints: ServerHints,
        name: str,
        transcript: Transcript | None,
    ) -> Awaitable[PollSnapshot]: ...


class ConnectionLimiter:
    """A global limit and one per server (`MailboxConfig.server_key`) on concurrent sessions."""

    def __init__(self, max_total: int, max_per_server: int) -> None:
        self._total = asyncio.Semaphore(max_total)
        self._max_per_server = max_per_server
        self._servers: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, config: MailboxConfig) -> AsyncIterator[None]:
        server = self._servers.setdefault(
            config.server_key, asyncio.Semaphore(self._max_per_server)
        )
        # The server's slot first: waiting for a busy server must not hold a global slot that
        # a mailbox on another server could use.
        async with server, self._total:
            yield


def _limiter_for(config: ExporterConfig) -> ConnectionLimiter:
    return ConnectionLimiter(config.max_concurrent_polls, config.max_connections_per_server)


class Poller:
    """Runs the poll function for the scheduler's timers and for /probe, one limiter for both."""

    def __init__(
        self,
        config: ExporterConfig,
        poll: PollFunction,
        store: StateStore,
        on_poll: Callable[[PollSnapshot], None] | None = None,
    ) -> None:
        self._poll = poll
        self._store = store
        self._on_poll = on_poll
        self._limiter = _limiter_for(config)

    def limit(self, config: ExporterConfig) -> None:
        """Take the limits of a new configuration (sessions already open keep their slots)."""
        self._limiter = _limiter_for(config)

    async def scheduled(self, state: MailboxState) -> PollSnapshot:
        """Poll a mailbox with its own tracker and record the result in its state."""
        settings = state.settings
        async with self._limiter.slot(settings.config):
            state.polling = True
            try:
                snapshot = await self._poll(
                    settings.config,
                    state.tracker,
                    hints=state.hints,
                    name=settings.name,
                    transcript=None,
                )
            finally:
                state.polling = False
                self._store.changed(state.name)  # even a cancelled poll may have committed
        state.record(snapshot)
        self._store.changed(state.name)
        if self._on_poll is not None:
            self._on_poll(snapshot)
        return snapshot

    async def live(
        self,
        settings: MailboxSettings,
        state: MailboxState | None,
        *,
        time_limit: float | None,
        transcript: Transcript | None,
    ) -> PollSnapshot:
        """A poll for /probe: throwaway copies of the tracker and hints of `state` when it is the
        same mailbox with the same settings, so the probe knows which headers it needn't fetch
        but never consumes the "new message" reports of the scheduled polls."""
        config = settings.config
        if time_limit is not None and time_limit < config.timeout:
            config = replace(config, timeout=time_limit)
        if state is not None and state.settings == settings:
            tracker = tracker_from_json(tracker_to_json(state.tracker))
            hints = replace(state.hints)
        else:
            tracker, hints = MessageTracker(), ServerHints()
        async with self._limiter.slot(config):
            return await self._poll(
                config, tracker, hints=hints, name=settings.name, transcript=transcript
            )
