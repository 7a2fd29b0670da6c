"""What the exporter knows about one mailbox it polls: the last polls, its counters, its timer.

The scheduler writes it; /metrics, the status page and the state file read it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from pop3probe import (
    Backoff,
    ErrorClass,
    MessageTracker,
    PollSnapshot,
    ServerHints,
    hints_from_json,
    tracker_from_json,
    tracker_to_json,
)

from .config import MailboxSettings
from .state import SavedMailbox

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class MailboxState:
    """One polled mailbox. Snapshots are immutable, so readers may keep them."""

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
    ending: bool = False  # its timer ends after the running poll, if any
    timer: asyncio.TimerHandle | None = None  # until its next poll is due
    task: asyncio.Task[None] | None = None  # while a poll runs

    @classmethod
    def fresh(cls, settings: MailboxSettings, saved: SavedMailbox | None = None) -> MailboxState:
        """A mailbox about to be polled, carrying on from `saved` when that is the same account
        (so a restart or a reload neither reports mail twice nor resets the counters)."""
        state = cls(
            settings=settings, tracker=MessageTracker(), backoff=Backoff(interval=settings.interval)
        )
        if saved is None or saved.identity != settings.identity:
            return state
        try:
            state.tracker = tracker_from_json(saved.tracker)
            state.hints = hints_from_json(saved.tracker)
        except (ValueError, TypeError, KeyError) as err:
            _LOGGER.warning("saved state of %s is unusable (%s): starting fresh", state.name, err)
            return state
        state.new_messages_total = saved.new_messages_total
        state.polls_total.update(saved.polls_total)
        return state

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def interval(self) -> float:
        return self.settings.interval

    def record(self, snapshot: PollSnapshot) -> None:
        """Take in a finished poll (its tracker changes were committed by the poll itself)."""
        self.last = snapshot
        self.polls_total[snapshot.error.value] += 1
        if snapshot.ok:
            self.last_success = snapshot
            self.new_messages_total += len(snapshot.new_messages)
        _log_poll(self.name, snapshot)

    def saved(self) -> SavedMailbox:
        """What the state file keeps of this mailbox."""
        return SavedMailbox(
            identity=self.settings.identity,
            tracker=tracker_to_json(self.tracker, self.hints),
            new_messages_total=self.new_messages_total,
            polls_total=dict(self.polls_total),
        )


def _log_poll(name: str, snapshot: PollSnapshot) -> None:
    if snapshot.ok:
        _LOGGER.debug(
            "polled %s: %s messages, %s bytes, %d new, %.3fs",
            name,
            snapshot.messages,
            snapshot.size_bytes,
            len(snapshot.new_messages),
            snapshot.duration,
        )
        return
    # A mailbox in use is the owner's mail client at work, not a fault.
    level = logging.INFO if snapshot.error is ErrorClass.IN_USE else logging.WARNING
    _LOGGER.log(
        level,
        "poll of %s failed: %s %s%s",
        name,
        snapshot.error.value,
        snapshot.error_text,
        f" (server said: {snapshot.server_text})" if snapshot.server_text else "",
    )
