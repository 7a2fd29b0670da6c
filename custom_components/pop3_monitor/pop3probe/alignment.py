"""Planning a poll: which new position holds which known message, and which headers to fetch.

POP3 numbers messages 1..n per session, so the new LIST is aligned with the last one before
anything is fetched. In the common case mail only arrived at the end, proven by one `TOP` of the
last identified message where it stood; then only the tail is unknown. Otherwise (mail deleted,
the server renumbered) every position is unknown until its headers say what it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from .models import MessageInfo
from .positions import Positions, TrackedMessage


@dataclass(frozen=True, slots=True)
class PollPlan:
    """What to fetch in this poll, made by `plan_poll` and consumed by the tracker's commit."""

    entries: tuple[TrackedMessage, ...]
    fetch: tuple[int, ...]  # message numbers to `TOP`, in the order they should be sent
    pending: tuple[int, ...]  # message numbers whose identity commit must resolve
    rearranged: bool  # messages may have left or moved: commit looks for what disappeared


def plan_poll(
    last: Positions | None,
    arrival: int,
    sizes: Sequence[int],
    verified: MessageInfo | None,
    limit: int,
) -> PollPlan:
    """Align the new LIST (`sizes`) with `last` (None at the first poll), and choose which
    messages to `TOP`, at most `limit`. New mail gets the sequence number `arrival`.

    `verified` is the result of `TOP n 0` for `last.verification_number()`, sent with LIST
    (None when it was not sent or failed).
    """
    if last is None:
        entries, rearranged = [TrackedMessage(size) for size in sizes], False
    else:
        entries, rearranged = _align(last, arrival, sizes, verified)
    if verified is not None and verified.number <= len(entries):
        entry = entries[verified.number - 1]
        if entry.info is None and entry.size == verified.size:
            # Identified for free; commit decides if it is new. Copied: it may be shared.
            entries[verified.number - 1] = dataclasses.replace(entry, info=verified)
    # With every carried message known, only the tail can be unknown: don't scan the rest.
    carried = len(last) if last is not None else 0
    first = carried + 1 if last is not None and not last.unidentified and not rearranged else 1
    fetch, pending = _choose(entries, limit, first)
    return PollPlan(tuple(entries), fetch, pending, rearranged)


def _align(
    last: Positions, arrival: int, sizes: Sequence[int], verified: MessageInfo | None
) -> tuple[list[TrackedMessage], bool]:
    """The new LIST's positions, each with what we knew of it, and whether messages may have
    left or moved (then commit looks for what disappeared)."""
    old = last.entries
    if _anchored(last, sizes, verified):
        # Nothing before the last identified message moved. Entries are shared, not
        # copied: commit only touches pending ones, which are always fresh objects.
        if tuple(sizes[: len(old)]) == last.sizes:
            entries, rearranged = list(old), False
        else:  # a server added status headers to some: re-identify those
            maybe_baseline = _baseline_unknown(last)
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
    maybe_baseline = _baseline_unknown(last)
    return [TrackedMessage(s, pending=True, maybe_baseline=maybe_baseline) for s in sizes], True


def _anchored(last: Positions, sizes: Sequence[int], verified: MessageInfo | None) -> bool:
    """True when the old messages still hold their numbers (the common case: mail only
    arrived, at the end). Proven by re-reading the last identified message's headers where
    it stood; with none identified yet, by an unchanged size sequence."""
    if len(last) > len(sizes):
        return False
    anchor = last.verification_number()
    if anchor is None:
        return tuple(sizes[: len(last)]) == last.sizes
    expected = last.entries[anchor - 1].info
    assert expected is not None
    return verified is not None and verified.identity == expected.identity


def _baseline_unknown(last: Positions) -> bool:
    """While some old mail is unidentified, any position that turns unknown may hold it: such
    positions are judged by date (see `identify`) instead of being reported new outright."""
    if not last.unidentified:
        return False
    return any(e.info is None and (not e.pending or e.maybe_baseline) for e in last.entries)


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
