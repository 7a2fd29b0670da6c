"""Opening POP3 sessions for the exporter, within its limits (`limits`): scheduled polls, which
move a mailbox's state on, and live probes, which leave it as it was.

A scheduled poll waits for its slots as a queued callback and gets a task of its own only once
it holds them: a mailbox between polls costs no task.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
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
from .limits import ConnectionLimiter
from .mailbox import MailboxState
from .state_store import StateStore

_LOGGER = logging.getLogger(__name__)

AfterPoll = Callable[[MailboxState, PollSnapshot], None]


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

    def scheduled(self, state: MailboxState, then: AfterPoll) -> None:
        """Poll a mailbox with its own tracker once the limits let it, in a task of its own;
        record the result in its state, then call `then(state, snapshot)`. Nothing happens if
        the mailbox's timer has ended (`state.ending`) by the time it gets its slots."""
        limiter = self._limiter  # a reload may replace it; the slots go back where they came from
        limiter.request(
            state.settings.config.server_key, functools.partial(self._start, state, then, limiter)
        )

    def _start(self, state: MailboxState, then: AfterPoll, limiter: ConnectionLimiter) -> bool:
        if state.ending:  # its timer ended while it waited: the slots pass on
            return False
        task = asyncio.create_task(
            self._scheduled(state, then), name=f"pop3-exporter poll {state.name}"
        )
        # A done callback, so the slots go back even if the task is cancelled before it runs.
        task.add_done_callback(functools.partial(_finished, state, limiter))
        state.task = task
        return True

    async def _scheduled(self, state: MailboxState, then: AfterPoll) -> None:
        if state.ending:  # ended between the grant and the task's start
            return
        settings = state.settings
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
        then(state, snapshot)

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


def _finished(state: MailboxState, limiter: ConnectionLimiter, task: asyncio.Task[None]) -> None:
    state.task = None
    limiter.release(state.settings.config.server_key)
    if not task.cancelled() and (error := task.exception()) is not None:
        _LOGGER.error("scheduled poll of %s failed", state.name, exc_info=error)
