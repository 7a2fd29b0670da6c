"""The compatibility table's measured columns: run with `scripts/compat-report`.

For every server and TLS mode of the matrix: the server's version, the login the poll chose,
and a steady-state poll (one message there, nothing new) on loopback and through a proxy that
adds 25 ms each way, in round trips of that link. Printed as a Markdown table.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import trustme

from pop3probe import (
    MailboxConfig,
    MessageTracker,
    SecretSource,
    ServerHints,
    TlsMode,
    Transcript,
    poll_mailbox,
)
from tests.bench.latency import LatencyProxy
from tests.fixtures.mailservers import matrix_cells, running_servers
from tests.fixtures.mailservers.base import MailServer

ONE_WAY = 0.025
REPEAT = 5
PAUSE = 0.5


def _config(
    server: MailServer, mode: str, username: str, password: str, port: int
) -> MailboxConfig:
    return MailboxConfig(
        host=server.host,
        port=port,
        tls_mode=TlsMode(mode),
        username=username,
        secret=SecretSource(value=password),
        ca_file=server.ca_file,
        server_name="localhost",
        timeout=20.0,
    )


def _login(transcript: Transcript) -> str:
    for line in transcript.lines:
        if line.startswith("C: AUTH "):
            return "AUTH " + line.split()[2]
        if line.startswith("C: USER"):
            return "USER/PASS"
    return "?"


async def _measure(server: MailServer, mode: str) -> list[str]:
    user = server.add_user()
    server.deliver(user, subject="already there")
    await asyncio.sleep(1.1)  # popa3d delays a login within a second of a delivery
    direct = _config(server, mode, user.username, user.password, server.endpoints[mode])
    tracker, hints = MessageTracker(), ServerHints()  # kept from poll to poll, as front ends do
    transcript = Transcript()
    first = await poll_mailbox(direct, tracker, hints=hints, transcript=transcript)
    if not first.ok:
        return [server.name, server.version(), mode, "-", f"first poll: {first.error}", "", ""]
    walls, batches = [], 0
    for _ in range(REPEAT):
        # Polls are minutes apart in use: back to back, Mailutils may still hold the maildrop
        # for the last session (its QUIT is not waited for) and answer [IN-USE].
        await asyncio.sleep(PAUSE)
        snapshot = await poll_mailbox(direct, tracker, hints=hints)
        assert snapshot.ok, f"{server.name} {mode}: {snapshot.error} {snapshot.error_text}"
        walls.append(snapshot.duration)
        batches = snapshot.round_trips
    async with LatencyProxy(server.endpoints[mode], ONE_WAY) as proxy:
        slow = _config(server, mode, user.username, user.password, proxy.port)
        delayed = []
        for _ in range(REPEAT):
            await asyncio.sleep(PAUSE)
            started = time.perf_counter()
            snapshot = await poll_mailbox(slow, tracker, hints=hints)
            assert snapshot.ok, snapshot.error_text
            delayed.append(time.perf_counter() - started)
    return [
        server.name,
        server.version(),
        mode,
        _login(transcript),
        str(batches),
        f"{statistics.median(walls) * 1000:.0f} ms",
        f"{statistics.median(delayed) / (2 * ONE_WAY):.1f}",
    ]


def main() -> int:
    header = [
        "server",
        "version",
        "TLS mode",
        "login",
        "command batches",
        "steady poll (loopback)",
        "steady poll (RTTs at 50 ms)",
    ]
    rows = []
    with running_servers(trustme.CA()) as servers:
        for name, mode in matrix_cells():
            rows.append(asyncio.run(_measure(servers[name], mode)))
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
