"""Mailbox states made by hand, for the collector's and the status page's unit tests: a
configured mailbox and the polls it has seen (snapshots from tests/exporter/snapshots.py)."""

from __future__ import annotations

from pop3_exporter.config import build_config
from pop3_exporter.scheduler import MailboxState
from pop3probe import Backoff, MessageTracker, PollSnapshot


def state_for(name: str, *snapshots: PollSnapshot, username: str = "u") -> MailboxState:
    config = build_config(
        {"mailboxes": [{"name": name, "host": "h", "username": username, "password": "pw"}]}
    )
    state = MailboxState(
        settings=config.mailboxes[0], tracker=MessageTracker(), backoff=Backoff(interval=300)
    )
    for snap in snapshots:
        state.last = snap
        state.polls_total[snap.error.value] += 1
        if snap.ok:
            state.last_success = snap
    return state
