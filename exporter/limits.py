"""The exporter's limits on concurrent POP3 sessions: a global one and one per server.

A POP3 session locks the maildrop and servers count logins per user and address (Dovecot
refuses the 11th), so every session, scheduled or live, first takes a slot of its server, then
one of the global limit, each in arrival order. Waiting for a busy server must not hold a
global slot that a mailbox on another server could use.

Who waits is a callback in a queue, not a task: when a thousand mailboxes fall due together,
each costs a queue entry rather than a task suspended in two semaphores.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pop3probe import MailboxConfig

# Called when the slots are taken for a waiter: True if it uses them, False if it no longer
# wants them (a probe given up, a mailbox whose timer ended), and they pass on.
Grant = Callable[[], bool]


@dataclass(slots=True)
class _Server:
    busy: int = 0  # sessions holding a slot of this server (or waiting for a global one)
    waiting: deque[Grant] = field(default_factory=deque)


class ConnectionLimiter:
    """A global limit and one per server (`MailboxConfig.server_key`) on concurrent sessions."""

    def __init__(self, max_total: int, max_per_server: int) -> None:
        self._max_total = max_total
        self._max_per_server = max_per_server
        self._total = 0  # sessions holding a global slot
        self._waiting_total: deque[tuple[str, Grant]] = deque()  # each holding its server's slot
        self._servers: dict[str, _Server] = {}  # only servers with sessions or waiters

    def request(self, server_key: str, grant: Grant) -> None:
        """Call `grant()` once a slot of the server and a global one are taken for it (maybe
        at once). If it takes them, it gives both back with `release(server_key)`."""
        server = self._servers.get(server_key)
        if server is None:
            server = self._servers[server_key] = _Server()
        if server.busy >= self._max_per_server:
            server.waiting.append(grant)
            return
        server.busy += 1
        if self._total < self._max_total:
            self._total += 1
            if not grant():
                self.release(server_key)
        else:
            self._waiting_total.append((server_key, grant))

    def release(self, server_key: str) -> None:
        """Give back a session's slots: each passes to the first in line that still wants it."""
        self._pass_server_slot(server_key)
        # A loop, not recursion: any number of waiters may have given up.
        while self._waiting_total:
            key, grant = self._waiting_total.popleft()
            if grant():
                return
            self._pass_server_slot(key)
        self._total -= 1

    @contextlib.asynccontextmanager
    async def slot(self, config: MailboxConfig) -> AsyncIterator[None]:
        """Hold both slots for the `async with` block (for a caller that is a task already)."""
        key = config.server_key
        granted = asyncio.get_running_loop().create_future()

        def grant() -> bool:
            if granted.done():  # the caller was cancelled while it waited
                return False
            granted.set_result(None)
            return True

        self.request(key, grant)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted, then cancelled
                self.release(key)
            raise
        try:
            yield
        finally:
            self.release(key)

    def _pass_server_slot(self, server_key: str) -> None:
        # To the first waiting for this server, who then waits for a global slot (the caller
        # passes one on next); none waiting: the slot is free.
        server = self._servers[server_key]
        if server.waiting:
            self._waiting_total.append((server_key, server.waiting.popleft()))
        else:
            server.busy -= 1
            if not server.busy:
                del self._servers[server_key]
