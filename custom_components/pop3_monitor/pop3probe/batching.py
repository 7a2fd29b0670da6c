"""Whether a poll may send several commands in one write: every such decision, in one place.

The rules (why: see `hints`): a command that changes the session's state (STLS, the last command
of a login) always ends its batch; in the transaction state commands are batched only when the
CAPA read after the login lists PIPELINING, or listed it last time, when that CAPA itself goes
out in the batch and is checked on arrival; while the server is on probation (it failed with a
batch outstanding) nothing is batched. What this poll learns goes back into the `ServerHints`
only when the poll got every answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from .auth import ONE_STEP_LOGINS
from .commands import Command
from .hints import ServerHints
from .models import AuthMechanism
from .replies import Capabilities
from .session import Pop3Session


class Batching:
    """One poll's batching: decided from the server's hints, learned from its capabilities."""

    __slots__ = ("_advertises_pipelining", "_batched", "_hints", "_learned_login", "_may_batch")

    def __init__(self, hints: ServerHints) -> None:
        self._hints = hints
        self._may_batch = hints.may_batch  # False while the server is on probation
        self._batched = False  # some commands of this poll went out in one write
        self._learned_login: AuthMechanism | None = None  # a login to batch with CAPA next time
        self._advertises_pipelining = False  # the CAPA after the login lists PIPELINING

    # decisions, in the order a poll asks for them

    def login_with_capa(self, configured: AuthMechanism) -> AuthMechanism | None:
        """The one-step login to send in one batch with CAPA, learned from an earlier poll."""
        login = self._hints.login if self._may_batch else None
        if login is not None and configured in (AuthMechanism.AUTO, login):
            return login
        return None

    def user_and_pass_together(self, caps: Capabilities) -> bool:
        """USER and PASS in one write (PASS, the login's last command, still ends the batch)."""
        return self._may_batch and "PIPELINING" in caps.tags

    @property
    def capa_with_look(self) -> bool:
        """The CAPA after the login goes with STAT, LIST and TOP: it listed PIPELINING last time."""
        return self._may_batch and self._hints.pipelining

    @property
    def transaction(self) -> bool:
        """Commands after the login go out together: the CAPA read after the login allows it."""
        return self._may_batch and self._advertises_pipelining

    # what the poll tells it

    async def write(self, session: Pop3Session, commands: Sequence[Command]) -> None:
        self._batched = self._batched or len(commands) > 1
        await session.write_batch(commands)

    def logged_in(
        self, mechanism: AuthMechanism, caps: Capabilities, *, batched: bool, one_step: bool
    ) -> None:
        """A login succeeded. `batched`: its commands went out together; `one_step`: the server
        asked for no challenge, so the next poll may send it in one batch with CAPA."""
        self._batched = self._batched or batched
        if one_step and "PIPELINING" in caps.tags and mechanism in ONE_STEP_LOGINS:
            self._learned_login = mechanism

    def challenged(self) -> None:
        """The server wanted a challenge for a batched login: never batch that login again."""
        self._hints.login = None

    def took_transaction_capa(self, caps: Capabilities) -> None:
        self._advertises_pipelining = "PIPELINING" in caps.tags

    def succeeded(self) -> None:
        """Every answer is in: what this poll learned holds for the next one."""
        self._hints.succeeded(
            batched=self._batched,
            login=self._learned_login,
            pipelining=self._advertises_pipelining,
        )

    def failed(self, session: Pop3Session | None) -> None:
        """The poll failed before every answer was in."""
        if session is not None and session.batch_outstanding:
            # Perhaps the server dropped what it was sent in one write: step by step for a while.
            self._hints.failed_with_batch_outstanding()
