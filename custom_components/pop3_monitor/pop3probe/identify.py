"""Judging fetched headers: each pending position holds mail seen before, mail older than the
baseline, or new mail. Each message is reported new once, even after it left and came back."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from .models import MessageInfo
from .positions import TrackedMessage

MAX_REMEMBERED_REMOVED = 1000  # identities of removed mail kept, so a reappearance isn't new


class Departed:
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


def identify(
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


def renumber(entries: list[TrackedMessage]) -> None:
    """Numbers may have shifted: every kept message must carry its current number."""
    for number, entry in enumerate(entries, start=1):
        if entry.info is not None and entry.info.number != number:
            info = dataclasses.replace(entry.info, number=number)
            entries[number - 1] = dataclasses.replace(entry, info=info)
