"""What a new configuration changes among the mailboxes polled: which timers end, which start.

A mailbox whose settings are unchanged keeps its timer and its state; one whose settings changed
is ended and started again (carrying on from its saved tracker when the account is the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import MailboxSettings
from .mailbox import MailboxState


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    ended: list[MailboxState]  # removed from the configuration, or their settings changed
    started: list[MailboxSettings]  # new, or their settings changed
    wanted: frozenset[str]  # every mailbox polled after the reload


def plan_reload(
    running: Mapping[str, MailboxState], wanted: Iterable[MailboxSettings]
) -> ReloadPlan:
    by_name = {settings.name: settings for settings in wanted}
    ended = [s for name, s in running.items() if by_name.get(name) != s.settings]
    ending = {s.name for s in ended}
    started = [m for name, m in by_name.items() if name not in running or name in ending]
    return ReloadPlan(ended=ended, started=started, wanted=frozenset(by_name))
