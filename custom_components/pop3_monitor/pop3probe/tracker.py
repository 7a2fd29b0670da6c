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
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .models import MessageInfo

MAX_REMEMBERED_REMOVED = 1000  # identities of removed mail kept, so a reappearance isn't new


@dataclass(slots=True)
class TrackedMessage:
    """One position of the last LIST, as the tracker knows it."""

    size: int
    info: MessageInfo | None = None  # None: not identified yet
    pending: bool = False  # identify it, and report it new if its identity is unseen
    maybe_baseline: bool = False  # unknown mail that may predate the baseline (see plan)
    arrived: int = 0  # the tracker's sequence number when it arrived (0: baseline)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """What to fetch in this poll, made by `MessageTracker.plan` and consumed by `commit`."""

    entries: tuple[TrackedMessage, ...]
    fetch: tuple[int, ...]  # message numbers to `TOP`, in the order they should be sent
    pending: tuple[int, ...]  # message numbers whose identity commit must resolve
    rearranged: bool  # messages may have left or moved: commit looks for what disappeared


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

    def __init__(self) -> None:
        self._entries: list[TrackedMessage] = []
        self._sizes: tuple[int, ...] = ()  # the entries' sizes, for a C-speed prefix compare
        self._unidentified = 0  # entries without info
        self._known: tuple[MessageInfo, ...] = ()  # cached for snapshots
        self._departed = _Departed()
        self._sequence = 0  # successful polls so far
        self._baseline_time: float | None = None  # when the first poll ran (Unix time)

    # what a poll needs

    @property
    def initialized(self) -> bool:
        return self._baseline_time is not None

    def verification_number(self) -> int | None:
        """The message number whose headers prove nothing moved: the last identified message."""
        for number in range(len(self._entries), 0, -1):
            if self._entries[number - 1].info is not None:
                return number
        return None

    @property
    def unidentified(self) -> int:
        """How many messages of the last poll have no known headers yet."""
        return self._unidentified

    @property
    def sizes(self) -> tuple[int, ...]:
        """The message sizes of the last successful poll, in message-number order."""
        return self._sizes

    def unchanged(self, count: int, octets: int, verified: MessageInfo | None) -> bool:
        """Whether STAT and the verification TOP prove the maildrop is as it was, so that
        LIST would say nothing new: the last message still stands last, the count is the
        same (nothing arrived or left) and so is the total size (nothing was resized).

        Only once every message is identified: a server that reorders without any count or
        size change then at worst mislabels known messages until the next change heals it,
        and can never hide a message we have not identified yet.
        """
        if not self.initialized or self._unidentified:
            return False
        if count != len(self._entries) or octets != sum(self._sizes):
            return False
        if count == 0:
            return True
        last = self._entries[-1].info
        return last is not None and verified is not None and verified.identity == last.identity

    def plan(self, sizes: Sequence[int], verified: MessageInfo | None, limit: int) -> PollPlan:
        """Align the new LIST with what we knew, and choose which messages to `TOP`.

        `verified` is the result of `TOP verification_number() 0` sent with LIST (None when it
        was not sent or failed). Plan never changes the tracker: a poll that fails later
        leaves it as it was.
        """
        old = self._entries
        if not self.initialized:
            entries, rearranged = [TrackedMessage(size) for size in sizes], False
        else:
            anchor = self.verification_number()
            arrival = self._sequence + 1
            entries, rearranged = _align(
                old, self._sizes, self._unidentified, anchor, arrival, sizes, verified
            )
        if verified is not None and verified.number <= len(entries):
            entry = entries[verified.number - 1]
            if entry.info is None and entry.size == verified.size:
                # Identified for free; commit decides if it is new. Copied: it may be shared.
                entries[verified.number - 1] = dataclasses.replace(entry, info=verified)
        # With every carried message known, only the tail can be unknown: don't scan the rest.
        first = len(old) + 1 if not self._unidentified and not rearranged else 1
        fetch, pending = _choose(entries, limit, first)
        return PollPlan(tuple(entries), fetch, pending, rearranged)

    def commit(self, plan: PollPlan, fetched: Mapping[int, MessageInfo]) -> list[MessageInfo]:
        """Apply a poll's results; returns the messages new in this poll, oldest first."""
        sequence = self._sequence + 1
        entries = list(plan.entries)
        new: list[MessageInfo] = []
        touched = sorted(set(plan.pending) | set(fetched))
        if touched or plan.rearranged:
            departed = self._departed
            known = dict(departed.unplaced)
            known.update((e.info.identity, e.arrived) for e in self._entries if e.info)
            new = _identify(
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
            _renumber(entries)
        self._install(entries)
        self._sequence = sequence
        if self._baseline_time is None:
            self._baseline_time = time.time()
        return new

    def _install(self, entries: list[TrackedMessage]) -> None:
        if entries == self._entries:  # the same objects: compared at C speed
            return
        self._entries = entries
        self._sizes = tuple(e.size for e in entries)
        self._unidentified = sum(1 for e in entries if e.info is None)
        self._known = tuple(e.info for e in entries if e.info is not None)

    # what front ends read

    @property
    def known_messages(self) -> tuple[MessageInfo, ...]:
        return self._known

    def mark(self) -> int:
        """A bookmark: everything that arrived up to now counts as acknowledged (read)."""
        return self._sequence

    def arrived_since(self, mark: int) -> int:
        """How many messages still on the server arrived after `mark`."""
        return sum(1 for e in self._entries if e.arrived > mark)

    # saving and restoring (the JSON form is in `saved`)

    def state(self) -> TrackerState:
        """What to save. Its messages are the tracker's own: encode them before the next poll."""
        return TrackerState(
            sequence=self._sequence,
            baseline_time=self._baseline_time,
            removed=tuple(self._departed.removed or ()),
            unplaced=dict(self._departed.unplaced),
            messages=tuple(self._entries),
        )

    @classmethod
    def from_state(cls, state: TrackerState) -> MessageTracker:
        tracker = cls()
        tracker._sequence = state.sequence
        tracker._baseline_time = state.baseline_time
        if state.removed:
            tracker._departed.remember_removed(state.removed)
        tracker._departed.unplaced = dict(state.unplaced)
        tracker._install(list(state.messages))
        return tracker


class _Departed:
    """Identities no longer at a known position: removed mail, so a reappearance isn't new,
    and, after a renumbering, mail not placed again yet, with when it arrived."""

    __slots__ = ("removed", "unplaced")

    def __init__(self) -> None:
        # Made on the first removal: an empty bounded deque costs most of a kilobyte, in every
        # tracker.
        self.removed: deque[str] | None = None
        self.unplaced: dict[str, int] = {}

    def remember_removed(self, identities: Iterable[str]) -> None:
        if self.removed is None:
            self.removed = deque(maxlen=MAX_REMEMBERED_REMOVED)
        self.removed.extend(identities)

    def settle(self, entries: Sequence[TrackedMessage], known: Mapping[str, int]) -> None:
        """Known identities missing from `entries`: removed once every position is identified,
        else unplaced (they may still be among the unidentified positions)."""
        present = {e.info.identity for e in entries if e.info}
        missing = {i: a for i, a in known.items() if i not in present}
        if any(e.info is None for e in entries):
            self.unplaced = missing
        else:
            self.remember_removed(missing)
            self.unplaced = {}


def _align(
    old: list[TrackedMessage],
    old_sizes: tuple[int, ...],
    unidentified: int,
    anchor: int | None,
    arrival: int,
    sizes: Sequence[int],
    verified: MessageInfo | None,
) -> tuple[list[TrackedMessage], bool]:
    """The new LIST's positions, each with what we knew of it, and whether messages may have
    left or moved (then `commit` looks for what disappeared)."""
    if _anchored(old, old_sizes, anchor, sizes, verified):
        # Nothing before the last identified message moved. Entries are shared, not
        # copied: commit only touches pending ones, which are always fresh objects.
        if tuple(sizes[: len(old)]) == old_sizes:
            entries, rearranged = list(old), False
        else:  # a server added status headers to some: re-identify those
            maybe_baseline = _baseline_unknown(old, unidentified)
            entries = [
                e
                if e.size == size
                else TrackedMessage(size, pending=True, maybe_baseline=maybe_baseline)
                for e, size in zip(old, sizes, strict=False)
            ]
            rearranged = True
        entries += [TrackedMessage(s, pending=True, arrived=arrival) for s in sizes[len(old) :]]
        return entries, rearranged
    # Mail was deleted or renumbered: every position is unknown until its headers say what it
    # is. Identities we knew stay "seen" meanwhile, so none is reported again.
    maybe_baseline = _baseline_unknown(old, unidentified)
    return [TrackedMessage(s, pending=True, maybe_baseline=maybe_baseline) for s in sizes], True


def _anchored(
    old: Sequence[TrackedMessage],
    old_sizes: tuple[int, ...],
    anchor: int | None,
    sizes: Sequence[int],
    verified: MessageInfo | None,
) -> bool:
    """True when the old messages still hold their numbers (the common case: mail only
    arrived, at the end). Proven by re-reading the last identified message's headers where
    it stood (`anchor`); with none identified yet, by an unchanged size sequence."""
    if len(old) > len(sizes):
        return False
    if anchor is None:
        return tuple(sizes[: len(old)]) == old_sizes
    expected = old[anchor - 1].info
    assert expected is not None
    return verified is not None and verified.identity == expected.identity


def _baseline_unknown(old: Sequence[TrackedMessage], unidentified: int) -> bool:
    """While some old mail is unidentified, any position that turns unknown may hold it:
    such positions are judged by date (see `_identify`) instead of being reported new outright."""
    if not unidentified:
        return False
    return any(e.info is None and (not e.pending or e.maybe_baseline) for e in old)


def _choose(
    entries: Sequence[TrackedMessage], limit: int, first: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which to `TOP`, from message `first` on: pending messages newest first, then message 1
    (the oldest date), then the rest. Also returns every pending message number."""
    unknown = [n for n in range(len(entries), first - 1, -1) if entries[n - 1].info is None]
    pending = [n for n in unknown if entries[n - 1].pending]
    baseline = [n for n in unknown if not entries[n - 1].pending]
    if 1 in baseline:
        baseline.remove(1)
        baseline.insert(0, 1)
    all_pending = tuple(n for n in range(first, len(entries) + 1) if entries[n - 1].pending)
    return tuple((pending + baseline)[: max(limit, 0)]), all_pending


def _identify(
    entries: list[TrackedMessage],
    touched: Sequence[int],
    fetched: Mapping[int, MessageInfo],
    known: Mapping[str, int],
    *,
    arrival: int | None,
    baseline_time: float | None,
    seen: set[str],
) -> list[MessageInfo]:
    """Give each touched position its headers, and judge each pending one: seen before (it
    keeps its arrival), older than the baseline, or new. `arrival` is None at the first poll,
    which sets the baseline: nothing is new then. Returns the new ones, oldest first."""
    new: list[MessageInfo] = []
    for number in touched:
        entry = entries[number - 1]
        info = fetched.get(number) or entry.info
        if info is None:
            continue
        if info.number != number or info.size != entry.size:
            info = dataclasses.replace(info, number=number, size=entry.size)
        entry = entries[number - 1] = dataclasses.replace(entry, info=info)
        if not entry.pending:
            continue
        entry.pending = False
        if info.identity in seen:
            entry.arrived = known.get(info.identity, entry.arrived)
        elif entry.maybe_baseline and _predates(info, baseline_time):
            entry.arrived = 0
        elif arrival is not None:
            entry.arrived = entry.arrived or arrival
            new.append(info)
            seen.add(info.identity)
        entry.maybe_baseline = False
    return new


def _predates(info: MessageInfo, baseline_time: float | None) -> bool:
    date = info.date
    return baseline_time is not None and date is not None and date.timestamp() <= baseline_time


def _renumber(entries: list[TrackedMessage]) -> None:
    """Numbers may have shifted: every kept message must carry its current number."""
    for number, entry in enumerate(entries, start=1):
        if entry.info is not None and entry.info.number != number:
            info = dataclasses.replace(entry.info, number=number)
            entries[number - 1] = dataclasses.replace(entry, info=info)
