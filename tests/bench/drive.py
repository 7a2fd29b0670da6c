"""Runs N polls of one client against a server described in a JSON file; for instruction counts
under valgrind (bench_instructions), where each client must be its own process.

It also drives an older revision's core (bench_versus puts it first on PYTHONPATH): before the
server hints left the tracker, `poll_mailbox` took no `hints`.
"""

from __future__ import annotations

import asyncio
import json
import poplib
import ssl
import sys
from pathlib import Path
from typing import Any

import pop3probe
from pop3probe import MailboxConfig, MessageTracker, SecretSource, poll_mailbox


def _hints() -> dict[str, Any]:
    hints = getattr(pop3probe, "ServerHints", None)
    return {"hints": hints()} if hints else {}


def main(server_file: str, client: str, count: int) -> None:
    server = json.loads(Path(server_file).read_text())
    context = ssl.create_default_context(cafile=server["ca"])
    if client in ("ours", "ours-steady"):
        config = MailboxConfig(
            host="127.0.0.1",
            port=server["port"],
            username=server["user"],
            secret=SecretSource(value=server["password"]),
        )
        # "ours": every poll is a first poll (TOP of every message); "ours-steady": one tracker
        # and one set of server hints across polls, as the exporter and Home Assistant poll.
        # The warm-up poll runs even when count is 0, so it is subtracted with the start-up.
        steady = client == "ours-steady"

        async def polls() -> None:
            tracker, hints = MessageTracker(), _hints()
            if steady:
                await poll_mailbox(config, tracker, ssl_context=context, **hints)
            for _ in range(count):
                if not steady:
                    tracker, hints = MessageTracker(), _hints()
                snapshot = await poll_mailbox(config, tracker, ssl_context=context, **hints)
                assert snapshot.ok, snapshot.error_text

        asyncio.run(polls())
        return
    for _ in range(count):
        session = poplib.POP3_SSL("127.0.0.1", server["port"], context=context)
        session.user(server["user"])
        session.pass_(server["password"])
        messages, _ = session.stat()
        session.list()
        # poplib-steady: what a steady-state check needs, the last message's headers only.
        first = messages if client == "poplib-steady" else 1
        for number in range(first, messages + 1):
            session.top(number, 0)
        session.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
