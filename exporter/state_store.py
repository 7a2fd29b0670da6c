"""What outlives a mailbox's timer: its tracker and counters, kept across a reload in memory and
across a restart in the state file, which this keeps current (at most one write a second).

Entries are encoded in the event loop, so no poll changes a tracker while it is read, and each
entry's text is kept until its mailbox changes: at a thousand mailboxes, encoding every tracker
at every write cost more CPU than the polls it records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Mapping
from pathlib import Path

from .mailbox import MailboxState
from .state import SavedMailbox, encode_entry, load_state, write_entries

_LOGGER = logging.getLogger(__name__)

SAVE_SPACING = 1.0  # at most one state file write per second


class StateStore:
    """Saved mailboxes by name, and the writer of the state file when one is configured.

    `live` is the scheduler's mapping of the mailboxes it polls, read (never changed) at each
    write: their entries come from their current state, the others' from what was saved.
    """

    def __init__(self, path: Path | None, live: Mapping[str, MailboxState]) -> None:
        self._path = path
        self._live = live
        self._kept: dict[str, SavedMailbox] = {}  # loaded at start, or ended by a reload
        self._texts: dict[str, str] = {}  # encode_entry of each entry, until it changes
        self._dirty = asyncio.Event()
        self._closing = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def saved(self, name: str) -> SavedMailbox | None:
        return self._kept.get(name)

    def changed(self, name: str) -> None:
        """Mailbox `name` changed (polled, started or ended): encode it again at the next write."""
        self._texts.pop(name, None)
        self._dirty.set()

    def keep(self, state: MailboxState) -> None:
        """Remember a mailbox whose timer ends, for a reload that starts it again."""
        self._kept[state.name] = state.saved()
        self.changed(state.name)

    def retain(self, names: Collection[str]) -> None:
        """Forget the saved entries of mailboxes not in `names` (removed from the config)."""
        self._kept = {n: s for n, s in self._kept.items() if n in names}
        self._texts = {n: t for n, t in self._texts.items() if n in names}
        self._dirty.set()

    async def load(self) -> None:
        """Read the state file (a missing or corrupt one reads as empty, see `load_state`)."""
        if self._path is not None:
            self._kept = await asyncio.to_thread(load_state, self._path)

    def start_writing(self) -> None:
        """Write now, and from now on after each change, at most once every SAVE_SPACING."""
        if self._path is not None:
            self._writer = asyncio.create_task(self._write_loop(), name="pop3-exporter state")
            self._dirty.set()

    async def close(self) -> None:
        """Stop the writer and write the final state."""
        if self._writer is not None:
            # Not cancelled: a write cut off mid-way could land after the final one below.
            self._closing.set()
            self._dirty.set()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.write()

    async def write(self) -> None:
        if self._path is None:
            return
        entries = self._entries()
        try:
            await asyncio.to_thread(write_entries, self._path, entries)
        except OSError as err:
            _LOGGER.error("cannot write state file %s: %s", self._path, err)

    async def _write_loop(self) -> None:
        while True:
            await self._dirty.wait()
            if self._closing.is_set():
                return
            self._dirty.clear()
            await self.write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=SAVE_SPACING)

    def _entries(self) -> dict[str, str]:
        entries: dict[str, str] = {}
        texts = self._texts
        for name, saved in self._kept.items():
            if name not in self._live:  # another shard's, or ended on reload
                text = texts.get(name)
                if text is None:
                    text = texts[name] = encode_entry(saved)
                entries[name] = text
        for name, state in self._live.items():
            # A poll commits its tracker before QUIT: nothing is kept while one runs.
            text = None if state.polling else texts.get(name)
            if text is None:
                text = encode_entry(state.saved())
                if not state.polling:
                    texts[name] = text
            entries[name] = text
        return entries
