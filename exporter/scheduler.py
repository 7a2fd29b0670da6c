"""Polls every mailbox on its own timer; scrapes only read what the last poll found.

Why own timers: a POP3 login locks the maildrop and servers rate-limit logins, so polling on each
scrape would lock the owner out and risk a ban. Each mailbox has its own task, so one slow or
failing mailbox never delays another; a per-server limit (taken first) and a global limit bound
the sessions we open, and the core's Backoff spaces retries and honours LOGIN-DELAY.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pop3probe import (
    Backoff,
    ErrorClass,
    MailboxConfig,
    MessageTracker,
    PollSnapshot,
    ServerHints,
    Transcript,
    hints_from_json,
    poll_mailbox,
    tracker_from_json,
    tracker_to_json,
)

from .config import ExporterConfig, MailboxSettings
from .sharding import Shard
from .state import SavedMailbox, encode_entry, load_state, write_entries

_LOGGER = logging.getLogger(__name__)

PollFunction = Callable[..., Awaitable[PollSnapshot]]

START_SPREAD_LIMIT = 60.0  # first polls spread over at most this many seconds
RESCHEDULE_JITTER = 0.05  # later polls drift up to 5% late, so mailboxes don't fall into step
SHUTDOWN_GRACE = 3.0  # running polls get this long to finish with QUIT before they're cancelled
SAVE_SPACING = 1.0  # at most one state file write per second


@dataclass(slots=True, eq=False)
class MailboxState:
    """What the exporter knows about one mailbox. Read by /metrics and the status page."""

    settings: MailboxSettings
    tracker: MessageTracker
    backoff: Backoff
    hints: ServerHints = field(default_factory=ServerHints)  # the server's batching, learned
    last: PollSnapshot | None = None
    last_success: PollSnapshot | None = None
    polls_total: Counter[str] = field(default_factory=Counter)
    new_messages_total: int = 0
    next_poll_at: float | None = None  # wall clock
    polling: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    saved_text: str | None = None  # encode_entry(saved()) until the next poll

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def interval(self) -> float:
        return self.settings.interval

    def saved_entry(self) -> str:
        """The state file's entry for this mailbox, encoded once between two polls (a poll
        commits its tracker before QUIT, so nothing is kept while one runs)."""
        if self.polling:
            return encode_entry(self.saved())
        if self.saved_text is None:
            self.saved_text = encode_entry(self.saved())
        return self.saved_text

    def saved(self) -> SavedMailbox:
        return SavedMailbox(
            identity=self.settings.identity,
            tracker=tracker_to_json(self.tracker, self.hints),
            new_messages_total=self.new_messages_total,
            polls_total=dict(self.polls_total),
        )


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


class Scheduler:
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
        self._poll = poll
        self._on_poll = on_poll
        self._start_spread = start_spread
        self._limiter = ConnectionLimiter(
            config.max_concurrent_polls, config.max_connections_per_server
        )
        self._states: dict[str, MailboxState] = {}
        self._saved: dict[str, SavedMailbox] = {}
        self._saved_text: dict[str, tuple[SavedMailbox, str]] = {}  # encoded _saved entries
        self._dirty = asyncio.Event()
        self._saver_stop = asyncio.Event()
        self._saver: asyncio.Task[None] | None = None
        self._stopping = False

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
        if self._config.state_file is not None:
            self._saved = await asyncio.to_thread(load_state, self._config.state_file)
        for settings in self._mine(self._config.mailboxes):
            self._add(settings)
        if self._config.state_file is not None:
            self._saver = asyncio.create_task(self._save_loop(), name="pop3-exporter state")
            self._dirty.set()  # write at once: a corrupt file is replaced even before a poll

    async def apply(self, config: ExporterConfig) -> None:
        """Switch to a new configuration: unchanged mailboxes keep their timers and state."""
        wanted = {m.name: m for m in self._mine(config.mailboxes)}
        ended = [s for name, s in self._states.items() if wanted.get(name) != s.settings]
        await self._end(ended)
        for state in ended:
            del self._states[state.name]
            self._saved[state.name] = state.saved()
        self._config = config
        self._limiter = ConnectionLimiter(
            config.max_concurrent_polls, config.max_connections_per_server
        )
        for name, settings in wanted.items():
            if name not in self._states:
                self._add(settings)
        self._saved = {n: s for n, s in self._saved.items() if n in wanted}
        self._saved_text = {n: t for n, t in self._saved_text.items() if n in self._saved}
        self._dirty.set()

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let running polls finish (they end with QUIT), cancel what is left, save the state."""
        self._stopping = True
        await self._end(list(self._states.values()), grace)
        if self._saver is not None:
            # Not cancelled: a write cut off mid-way could land after the final one below.
            self._saver_stop.set()
            self._dirty.set()
            await asyncio.gather(self._saver, return_exceptions=True)
            self._saver = None
        await self._write_state()

    # --- polling ------------------------------------------------------------------------------

    async def probe(
        self, settings: MailboxSettings, *, time_limit: float | None, transcript: Transcript | None
    ) -> PollSnapshot:
        """A live poll for /probe and `check`: same limits, throwaway copies of tracker and hints.

        The copy means a probe knows which headers it needn't fetch, but never consumes the
        "new message" reports of the scheduled polls.
        """
        config = settings.config
        if time_limit is not None and time_limit < config.timeout:
            config = replace(config, timeout=time_limit)
        state = self._states.get(settings.name)
        if state is not None and state.settings == settings:
            tracker = tracker_from_json(tracker_to_json(state.tracker))
            hints = replace(state.hints)
        else:
            tracker, hints = MessageTracker(), ServerHints()
        async with self._limiter.slot(config):
            return await self._poll(
                config, tracker, hints=hints, name=settings.name, transcript=transcript
            )

    def _mine(self, mailboxes: Iterable[MailboxSettings]) -> list[MailboxSettings]:
        return [m for m in mailboxes if self.owns(m.name)]

    def _add(self, settings: MailboxSettings) -> None:
        tracker = MessageTracker()
        state = MailboxState(
            settings=settings, tracker=tracker, backoff=Backoff(interval=settings.interval)
        )
        saved = self._saved.get(settings.name)
        if saved is not None and saved.identity == settings.identity:
            try:
                state.tracker = tracker_from_json(saved.tracker)
                state.hints = hints_from_json(saved.tracker)
            except (ValueError, TypeError, KeyError) as err:
                _LOGGER.warning(
                    "saved state of %s is unusable (%s): starting fresh", settings.name, err
                )
            else:
                state.new_messages_total = saved.new_messages_total
                state.polls_total.update(saved.polls_total)
        self._states[settings.name] = state
        state.task = asyncio.create_task(
            self._run(state), name=f"pop3-exporter poll {settings.name}"
        )

    async def _end(self, states: list[MailboxState], grace: float = SHUTDOWN_GRACE) -> None:
        tasks = [s.task for s in states if s.task is not None]
        for state in states:
            state.stop.set()
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, state: MailboxState) -> None:
        delay = random.uniform(0, min(state.settings.interval, self._start_spread))
        while True:
            state.next_poll_at = time.time() + delay
            if await self._wait_or_stop(state, delay):
                return
            snapshot = await self._poll_once(state)
            delay = state.backoff.next_delay(snapshot)  # includes the LOGIN-DELAY floor
            delay *= random.uniform(1.0, 1.0 + RESCHEDULE_JITTER)

    async def _wait_or_stop(self, state: MailboxState, delay: float) -> bool:
        # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own, and at a
        # thousand mailboxes those waiting tasks were a good part of the memory per mailbox.
        try:
            async with asyncio.timeout(delay):
                await state.stop.wait()
        except TimeoutError:
            return False
        return True

    async def _poll_once(self, state: MailboxState) -> PollSnapshot:
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
                state.saved_text = None  # the poll may have committed the tracker
        self.record(state, snapshot)
        return snapshot

    def record(self, state: MailboxState, snapshot: PollSnapshot) -> None:
        state.last = snapshot
        state.saved_text = None  # tracker and counters changed: encode again at the next write
        state.polls_total[snapshot.error.value] += 1
        if snapshot.ok:
            state.last_success = snapshot
            state.new_messages_total += len(snapshot.new_messages)
        self._dirty.set()
        if self._on_poll is not None:
            self._on_poll(snapshot)
        if snapshot.ok:
            _LOGGER.debug(
                "polled %s: %s messages, %s bytes, %d new, %.3fs",
                state.name,
                snapshot.messages,
                snapshot.size_bytes,
                len(snapshot.new_messages),
                snapshot.duration,
            )
        else:
            level = logging.INFO if snapshot.error is ErrorClass.IN_USE else logging.WARNING
            _LOGGER.log(
                level,
                "poll of %s failed: %s %s%s",
                state.name,
                snapshot.error.value,
                snapshot.error_text,
                f" (server said: {snapshot.server_text})" if snapshot.server_text else "",
            )

    # --- state file ---------------------------------------------------------------------------

    def _saved_entry(self, name: str, saved: SavedMailbox) -> str:
        """A kept entry of a mailbox not polled here (another shard's, or removed on reload)."""
        cached = self._saved_text.get(name)
        if cached is None or cached[0] is not saved:
            cached = self._saved_text[name] = (saved, encode_entry(saved))
        return cached[1]

    async def _save_loop(self) -> None:
        while True:
            await self._dirty.wait()
            if self._saver_stop.is_set():
                return
            self._dirty.clear()
            await self._write_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._saver_stop.wait(), timeout=SAVE_SPACING)

    async def _write_state(self) -> None:
        path: Path | None = self._config.state_file
        if path is None:
            return
        # Encoded here, in the event loop, so no poll changes a tracker while it is read; only
        # mailboxes polled since the last write are encoded again.
        entries = {
            name: self._saved_entry(name, saved)
            for name, saved in self._saved.items()
            if name not in self._states
        }
        entries.update({name: state.saved_entry() for name, state in self._states.items()})
        try:
            await asyncio.to_thread(write_entries, path, entries)
        except OSError as err:
            _LOGGER.error("cannot write state file %s: %s", path, err)
