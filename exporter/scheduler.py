"""Polls every mailbox on its own timer; scrapes only read what the last poll found.

Why own timers: a POP3 login locks the maildrop and servers rate-limit logins, so polling on each
scrape would lock the owner out and risk a ban. Each mailbox has its own timer and each poll its
own task, so one slow or failing mailbox never delays another; the poller's limits bound the
sessions we open, and the core's Backoff spaces retries and honours LOGIN-DELAY. What a
mailbox's timer leaves behind when it ends is the state store's (`state_store`); what a reload
changes is planned in `reload`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable

from pop3probe import PollSnapshot, Transcript, poll_mailbox

from .config import ExporterConfig, MailboxSettings
from .mailbox import MailboxState
from .poller import Poller, PollFunction
from .reload import plan_reload
from .sharding import Shard
from .state_store import StateStore

__all__ = ["START_SPREAD_LIMIT", "MailboxState", "PollFunction", "Scheduler"]

START_SPREAD_LIMIT = 60.0  # first polls spread over at most this many seconds
RESCHEDULE_JITTER = 0.05  # later polls drift up to 5% late, so mailboxes don't fall into step
SHUTDOWN_GRACE = 3.0  # running polls get this long to finish with QUIT before they're cancelled


class Scheduler:
    """The mailboxes of this shard, each polled on its own timer; live probes within the same
    limits; the state store kept current."""

    def __init__(
        self,
        config: ExporterConfig,
        *,
        shard: Shard | None = None,
        poll: PollFunction = poll_mailbox,
        on_poll: Callable[[PollSnapshot], None] | None = None,
        start_spread: float = START_SPREAD_LIMIT,
    ) -> None:
        self._config = config
        self._shard = shard
        self._start_spread = start_spread
        self._states: dict[str, MailboxState] = {}
        self._store = StateStore(config.state_file, self._states)
        self._poller = Poller(config, poll, self._store, on_poll)

    # --- what the front ends read ----------------------------------------------------------

    @property
    def config(self) -> ExporterConfig:
        return self._config

    @property
    def shard(self) -> Shard | None:
        return self._shard

    def states(self) -> list[MailboxState]:
        return list(self._states.values())

    def owns(self, name: str) -> bool:
        return self._shard is None or self._shard.contains(name)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._store.load()
        for settings in self._mine(self._config.mailboxes):
            self._add(settings)
        self._store.start_writing()  # at once: a corrupt file is replaced even before a poll

    async def apply(self, config: ExporterConfig) -> None:
        """Switch to a new configuration: unchanged mailboxes keep their timers and state."""
        plan = plan_reload(self._states, self._mine(config.mailboxes))
        await self._end(plan.ended)
        for state in plan.ended:
            del self._states[state.name]
            self._store.keep(state)
        self._config = config
        self._poller.limit(config)
        for settings in plan.started:
            self._add(settings)
        self._store.retain(plan.wanted)

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let running polls finish (they end with QUIT), cancel what is left, save the state."""
        await self._end(list(self._states.values()), grace)
        await self._store.close()

    # --- polling ------------------------------------------------------------------------------

    async def probe(
        self, settings: MailboxSettings, *, time_limit: float | None, transcript: Transcript | None
    ) -> PollSnapshot:
        """A live poll for /probe: same limits, and no effect on the scheduled polls."""
        state = self._states.get(settings.name)
        return await self._poller.live(
            settings, state, time_limit=time_limit, transcript=transcript
        )

    def _mine(self, mailboxes: Iterable[MailboxSettings]) -> list[MailboxSettings]:
        return [m for m in mailboxes if self.owns(m.name)]

    def _add(self, settings: MailboxSettings) -> None:
        state = MailboxState.fresh(settings, self._store.saved(settings.name))
        self._states[settings.name] = state
        self._store.changed(settings.name)
        self._wait(state, random.uniform(0, min(settings.interval, self._start_spread)))

    def _wait(self, state: MailboxState, delay: float) -> None:
        # A timer handle, and a task only while a poll runs (see `Poller.scheduled`): at a
        # thousand mailboxes a sleeping task per mailbox was a good part of the memory.
        state.next_poll_at = time.time() + delay
        state.timer = asyncio.get_running_loop().call_later(delay, self._due, state)

    def _due(self, state: MailboxState) -> None:
        state.timer = None
        self._poller.scheduled(state, self._polled)

    def _polled(self, state: MailboxState, snapshot: PollSnapshot) -> None:
        if not state.ending:
            delay = state.backoff.next_delay(snapshot)  # includes the LOGIN-DELAY floor
            self._wait(state, delay * random.uniform(1.0, 1.0 + RESCHEDULE_JITTER))

    async def _end(self, states: list[MailboxState], grace: float = SHUTDOWN_GRACE) -> None:
        """End the timers of `states`; a queued poll is dropped when its turn comes, a running
        one gets `grace` to finish (with QUIT) before it is cancelled."""
        for state in states:
            state.ending = True
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
        tasks = [s.task for s in states if s.task is not None]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
