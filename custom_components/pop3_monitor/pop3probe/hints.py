"""What polls learn about a server's manners, so the next poll can batch its commands safely.

RFC 2449 lets a client pipeline when `CAPA` lists `PIPELINING`, but servers differ: Courier and
Cyrus advertise it and drop whatever arrives behind a login command. So a command that changes
the session's state always ends its batch (see `poll`), the transaction-state batches are
planned from the `CAPA` read *after* the last login (before it, a proxy may be the one that
answers), and a server that fails while a batch is outstanding is polled step by step for a
while. Each such failure doubles how many step-by-step polls must succeed before batching is
tried again, so a server that really cannot take batches costs a failed poll ever more rarely,
while a one-off network fault costs one slower poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import AuthMechanism

MAX_STEP_POLLS = 64  # a server that keeps failing batches is retried at most this seldom


@dataclass(slots=True)
class ServerHints:
    """What polls learned about one server's batching; the poll reads and updates it, the front
    ends keep it per mailbox beside the tracker (see `saved`)."""

    # A one-step login (USER/PASS or AUTH PLAIN) taken when the pre-login CAPA listed
    # PIPELINING: the next session may send CAPA and it in one batch, before reading CAPA.
    login: AuthMechanism | None = None
    # The CAPA after the last login listed PIPELINING: the next session may send CAPA, STAT,
    # LIST and TOP in one batch right after the login's reply.
    pipelining: bool = False
    demotions: int = 0  # failures with a batch outstanding since the last batched success
    step_polls: int = 0  # step-by-step polls that succeeded since the last such failure

    @property
    def may_batch(self) -> bool:
        """Whether this poll may batch at all (not while the server is on probation)."""
        return self.demotions == 0 or self.step_polls >= self._probation

    @property
    def _probation(self) -> int:
        return min(MAX_STEP_POLLS, 1 << max(0, self.demotions - 1))

    def failed_with_batch_outstanding(self) -> None:
        self.demotions += 1
        self.step_polls = 0

    def succeeded(self, *, batched: bool, login: AuthMechanism | None, pipelining: bool) -> None:
        """A poll got every answer. `batched`: it sent a batch; the other two as `learn` says."""
        if batched:
            self.demotions = 0
        elif not self.may_batch:
            self.step_polls += 1
        self.login = login
        self.pipelining = pipelining
