"""Which messages are new, without UIDL: identities from headers, and a cheap shortcut.

POP3 numbers messages 1..n per session and our read-only poll may not use UIDL, so a message is
identified by its headers (`headers.message_identity`). Fetching every message's headers at
every poll would cost one `TOP` per message, so the tracker keeps the previous poll's sizes and
identities: when the last known message still stands at its number (one `TOP`, pipelined with
LIST, proves it) mail only arrived at the end, so only the tail and any resized message need
`TOP`. Whenever that does not hold (another client deleted mail, the server renumbered), every
position is re-identified by headers, newest first, at most `limit` per poll; anything still
unknown stays pending for the next poll. Each message is reported new once.

The first poll sets the baseline: the mail already there is never reported new.

A poll goes: `plan` (alignment.py: which positions are known, what to fetch), the session's
`TOP`s, then `commit` (identify.py: which fetched messages are new).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .alignment import PollPlan, plan_poll
from .identify import Departed, identify, renumber
from .models import MessageInfo
from .positions import Positions, TrackedMessage

__all__ = ["MessageTracker", "PollPlan", "TrackerState"]


@dataclass(frozen=True, slots=True)
class TrackerState:
    """Everything a tracker remembers between polls: what `saved` writes and reads back."""

    sequence: int  # successful polls so far
    baseline_time: float | None  # when the first poll ran (Unix time)
    removed: tuple[str, ...]  # identities of removed mail, oldest first
    unplaced: Mapping[str, int]  # identities not placed again since a renumbering: arrival
    messages: tuple[TrackedMessage, ...]


class MessageTracker:
    """Remembers a mailbox between polls. Not thread-safe; one per mailbox.

    A steady-state poll (nothing moved) costs O(1) Python work here beyond C-level copies and
    compares, so a 10,000-message mailbox polls about as fast as an empty one.
    """

    __slots__ = ("_baseline_time", "_departed", "_last", "_sequence")

    def __init__(self) -> None:
        self._last = Positions([])  # the positions of the last successful poll
        self._departed = Departed()
        self._sequence = 0  # successful polls so far
        self._baseline_time: float | None = None  # when the first poll ran (Unix time)

    # what a poll needs

    @property
    def initialized(self) -> bool:
        return self._baseline_time is not None

    def verification_number(self) -> int | None:
        """The message number whose headers prove nothing moved: the last identified message."""
        return self._last.verification_number()

    @property
    def unidentified(self) -> int:
        """How many messages of the last poll have no known headers yet."""
        return self._last.unidentified

    @property
    def sizes(self) -> tuple[int, ...]:
        """The message sizes of the last successful poll, in message-number order."""
        return self._last.sizes

    def unchanged(self, count: int, octets: int, verified: MessageInfo | None) -> bool:
        """Whether STAT and the verification TOP prove the maildrop is as it was, so that LIST
        would say nothing new (see `Positions.unchanged`)."""
        return self.initialized and self._last.unchanged(count, octets, verified)

    def plan(self, sizes: Sequence[int], verified: MessageInfo | None, limit: int) -> PollPlan:
        """Align the new LIST with what we knew, and choose which messages to `TOP`. Plan never
        changes the tracker: a poll that fails later leaves it as it was."""
        last = self._last if self.initialized else None
        return plan_poll(last, self._sequence + 1, sizes, verified, limit)

    def commit(self, plan: PollPlan, fetched: Mapping[int, MessageInfo]) -> list[MessageInfo]:
        """Apply a poll's results; returns the messages new in this poll, oldest first."""
        sequence = self._sequence + 1
        entries = list(plan.entries)
        new: list[MessageInfo] = []
        touched = sorted(set(plan.pending) | set(fetched))
        if touched or plan.rearranged:
            departed = self._departed
            known = dict(departed.unplaced)
            known.update((e.info.identity, e.arrived) for e in self._last.entries if e.info)
            new = identify(
                entries,
                touched,
                fetched,
                known,
                arrival=sequence if self.initialized else None,
                baseline_time=self._baseline_time,
                seen=known.keys() | set(departed.removed or ()),
            )
            if plan.rearranged:
                departed.settle(entries, known)
            elif departed.unplaced and not any(e.info is None for e in entries):
                departed.settle(entries, departed.unplaced)
        if plan.rearranged:
            renumber(entries)
        if entries != self._last.entries:  # the same objects: compared at C speed
            self._last = Positions(entries)
        self._sequence = sequence
        if self._baseline_time is None:
            self._baseline_time = time.time()
        return new

    # what front ends read

    @property
    def known_messages(self) -> tuple[MessageInfo, ...]:
        return self._last.known

    def mark(self) -> int:
        """A bookmark: everything that arrived up to now counts as acknowledged (read)."""
        return self._sequence

    def arrived_since(self, mark: int) -> int:
        """How many messages still on the server arrived after `mark`."""
        return self._last.arrived_since(mark)

    # saving and restoring (the JSON form is in `saved`)

    def state(self) -> TrackerState:
        """What to save. Its messages are the tracker's own: encode them before the next poll."""
        return TrackerState(
            sequence=self._sequence,
            baseline_time=self._baseline_time,
            removed=tuple(self._departed.removed or ()),
            unplaced=dict(self._departed.unplaced),
            messages=tuple(self._last.entries),
        )

    @classmethod
    def from_state(cls, state: TrackerState) -> MessageTracker:
        tracker = cls()
        tracker._sequence = state.sequence
        tracker._baseline_time = state.baseline_time
        if state.removed:
            tracker._departed.remember_removed(state.removed)
        tracker._departed.unplaced = dict(state.unplaced)
        tracker._last = Positions(list(state.messages))
        return tracker
