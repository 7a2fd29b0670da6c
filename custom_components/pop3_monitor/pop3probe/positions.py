"""The last LIST as the tracker knows it: each position's size and, once fetched, its headers."""

from __future__ import annotations

from dataclasses import dataclass

from .models import MessageInfo


@dataclass(slots=True)
class TrackedMessage:
    """One position of the last LIST, as the tracker knows it."""

    size: int
    info: MessageInfo | None = None  # None: not identified yet
    pending: bool = False  # identify it, and report it new if its identity is unseen
    maybe_baseline: bool = False  # unknown mail that may predate the baseline (see alignment)
    arrived: int = 0  # the tracker's sequence number when it arrived (0: baseline)


class Positions:
    """A poll's positions, with what a steady-state poll reads of them computed once, so that
    such a poll costs C-level tuple compares and no per-message Python work."""

    __slots__ = ("entries", "known", "sizes", "unidentified")

    def __init__(self, entries: list[TrackedMessage]) -> None:
        self.entries = entries
        self.sizes = tuple(e.size for e in entries)
        self.unidentified = sum(1 for e in entries if e.info is None)
        self.known = tuple(e.info for e in entries if e.info is not None)

    def __len__(self) -> int:
        return len(self.entries)

    def verification_number(self) -> int | None:
        """The message number whose headers prove nothing moved: the last identified message."""
        entries = self.entries
        for number in range(len(entries), 0, -1):
            if entries[number - 1].info is not None:
                return number
        return None

    def unchanged(self, count: int, octets: int, verified: MessageInfo | None) -> bool:
        """Whether STAT and the verification TOP prove these positions stand as they were: the
        last message still last, the same count (nothing arrived or left) and the same total
        size (nothing resized).

        Only once every message is identified: a server that reorders without any count or
        size change then at worst mislabels known messages until the next change heals it,
        and can never hide a message we have not identified yet.
        """
        if self.unidentified or count != len(self.entries) or octets != sum(self.sizes):
            return False
        if count == 0:
            return True
        last = self.entries[-1].info
        return last is not None and verified is not None and verified.identity == last.identity

    def arrived_since(self, mark: int) -> int:
        """How many of these messages arrived after the tracker's sequence number `mark`."""
        return sum(1 for e in self.entries if e.arrived > mark)
