"""The steady-state benchmark on every real server of the compatibility matrix (scripts/bench).

One row per server and TLS mode: wall time, client CPU and round trips of a steady-state poll (one
message waiting, nothing new), ours against poplib doing the same check on the same server in the
same run (login, STAT, LIST, one TOP, QUIT). The two clients alternate poll by poll, so a burst of
load from the rest of the machine falls on both. Round trips: through tests/bench/latency.py's
proxy (25 ms each way), wall time divided by the 50 ms round trip, TCP and TLS included.

Manners kept per server (see tests/fixtures/mailservers): polls are sequential, each session ends
with QUIT before the next starts (Mailutils answers a second concurrent session with [IN-USE]);
the mail is delivered once, more than a second before the first login (popa3d makes a login within
a second of a delivery wait 1 s); Cyrus runs with popminpoll 0 (no LOGIN-DELAY); Courier
advertises LOGIN-DELAY 10 and does not enforce it, so polling faster than it asks is a benchmark's
liberty, not the exporter's behaviour.
"""

from __future__ import annotations

import asyncio
import poplib
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trustme

from pop3probe import (
    ErrorClass,
    MailboxConfig,
    MessageTracker,
    SecretSource,
    ServerHints,
    TlsMode,
    poll_mailbox,
)
from tests.bench.latency import LatencyProxy
from tests.fixtures.mailservers import matrix_cells, running_servers
from tests.fixtures.mailservers.base import IMPLICIT, MailServer, MailUser

ONE_WAY = 0.025
Row = tuple[str, str, str, str]


def _config(server: MailServer, mode: str, user: MailUser, port: int) -> MailboxConfig:
    return MailboxConfig(
        host=server.host,
        port=port,
        tls_mode=TlsMode(mode),
        username=user.username,
        secret=SecretSource(value=user.password),
        ca_file=server.ca_file,
        server_name="localhost",
        timeout=20.0,
    )


def poplib_check(host: str, port: int, mode: str, user: MailUser, context: ssl.SSLContext) -> None:
    """What a steady-state check needs, the poplib way: login, STAT, LIST, the last TOP, QUIT."""
    if mode == IMPLICIT:
        client: poplib.POP3 = poplib.POP3_SSL(host, port, context=context, timeout=20)
    else:
        client = poplib.POP3(host, port, timeout=20)
        client.stls(context)
    client.user(user.username)
    client.pass_(user.password)
    count, _ = client.stat()
    client.list()
    client.top(max(1, count), 0)
    client.quit()


@dataclass
class _Side:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    busy: int = 0  # sessions refused with [IN-USE], retried

    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


GAP = 0.05  # seconds between two sessions, outside the measurement
BUSY_RETRIES = 20


def _busy(err: BaseException) -> bool:
    return isinstance(err, poplib.error_proto) and b"IN-USE" in str(err).encode()


async def _timed(call: Callable[[], Awaitable[bool]], side: _Side) -> None:
    """Measure one session; a session the server refused as busy ([IN-USE]: Mailutils still
    closing the previous one) is retried after a pause, counted, and not measured."""
    for _ in range(BUSY_RETRIES):
        await asyncio.sleep(GAP)
        start, start_cpu = time.perf_counter(), time.process_time()
        if await call():
            side.wall.append(time.perf_counter() - start)
            side.cpu.append(time.process_time() - start_cpu)
            return
        side.busy += 1
        await asyncio.sleep(0.2)
    raise RuntimeError(f"still [IN-USE] after {BUSY_RETRIES} tries")


async def _alternate(
    ours: Callable[[], Awaitable[bool]], theirs: Callable[[], Awaitable[bool]], repeat: int
) -> tuple[_Side, _Side]:
    """`repeat` of each, interleaved; wall and client-process CPU of each session."""
    mine, poplib_side = _Side(), _Side()
    for _ in range(repeat):
        await _timed(ours, mine)
        await _timed(theirs, poplib_side)
    return mine, poplib_side


@dataclass
class CellResult:
    """Medians of one cell, each as (ours, poplib)."""

    batches: int
    failures: list[str]
    wall: tuple[float, float]
    cpu: tuple[float, float]
    rtt: tuple[float, float]
    busy: tuple[int, int]  # sessions refused with [IN-USE] and retried


async def _measure_cell(server: MailServer, mode: str, repeat: int) -> CellResult | str:
    user = server.add_user()
    server.deliver(user, subject="already there")
    await asyncio.sleep(1.2)  # popa3d makes a login within a second of a delivery wait 1 s
    context = ssl.create_default_context(cafile=str(server.ca_file))
    port = server.endpoints[mode]
    tracker, hints = MessageTracker(), ServerHints()  # kept from poll to poll, as front ends do
    direct = _config(server, mode, user, port)
    first = await poll_mailbox(direct, tracker, hints=hints)
    if not first.ok:
        return f"first poll: {first.error} {first.server_text}"
    batches: list[int] = []
    failures: list[str] = []

    def ours(config: MailboxConfig, where: str) -> Callable[[], Awaitable[bool]]:
        async def poll() -> bool:
            snapshot = await poll_mailbox(config, tracker, hints=hints)
            if snapshot.error == ErrorClass.IN_USE:
                return False
            if not snapshot.ok:
                failures.append(f"{where}{snapshot.error}")
            batches.append(snapshot.round_trips)
            return True

        return poll

    def theirs(port: int, *, in_thread: bool) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            try:
                if in_thread:  # poplib blocks; the proxy in this loop must keep relaying
                    await asyncio.to_thread(poplib_check, server.host, port, mode, user, context)
                else:
                    poplib_check(server.host, port, mode, user, context)
            except poplib.error_proto as err:
                if _busy(err):
                    return False
                raise
            return True

        return check

    # Loopback: wall and client CPU (nothing else runs in this process meanwhile).
    await _timed(theirs(port, in_thread=False), _Side())  # warm-up
    loop_ours, loop_theirs = await _alternate(
        ours(direct, ""), theirs(port, in_thread=False), repeat
    )
    # Through the latency proxy (it runs in this process: wall time only).
    async with LatencyProxy(port, ONE_WAY) as proxy:
        slow = _config(server, mode, user, proxy.port)
        slow_ours, slow_theirs = await _alternate(
            ours(slow, "proxy "), theirs(proxy.port, in_thread=True), max(3, repeat // 6)
        )
    return CellResult(
        batches=statistics.mode(batches),
        failures=failures,
        wall=(loop_ours.median_wall(), loop_theirs.median_wall()),
        cpu=(loop_ours.median_cpu(), loop_theirs.median_cpu()),
        rtt=(slow_ours.median_wall() / (2 * ONE_WAY), slow_theirs.median_wall() / (2 * ONE_WAY)),
        busy=(loop_ours.busy + slow_ours.busy, loop_theirs.busy + slow_theirs.busy),
    )


def bench_matrix(repeat: int = 30) -> list[Row]:
    """Rows for the main table: one per server and mode, with CPU, wall and RTT in each cell."""
    rows: list[Row] = []
    with running_servers(trustme.CA()) as servers:
        for name, mode in matrix_cells():
            label = f"Steady poll, {name} {'STLS' if mode != IMPLICIT else 'implicit TLS'}"
            try:
                r = asyncio.run(_measure_cell(servers[name], mode, repeat))
            except Exception as err:  # a server's failure is one row, not the whole run
                rows.append((label, f"failed: {type(err).__name__}: {err}"[:120], "-", "-"))
                continue
            if isinstance(r, str):
                rows.append((label, r, "-", "-"))
                continue
            wall, cpu, rtt, failed = r.wall, r.cpu, r.rtt, r.failures
            note = f", {len(failed)} failed: {sorted(set(failed))}" if failed else ""
            if r.busy[0]:
                note += f", {r.busy[0]} [IN-USE] retried"
            their_note = f", {r.busy[1]} [IN-USE] retried" if r.busy[1] else ""
            rows.append(
                (
                    label,
                    f"CPU {cpu[0] * 1000:.2f} ms, wall {wall[0] * 1000:.1f} ms, "
                    f"{rtt[0]:.1f} RTT ({r.batches} batches){note}",
                    f"poplib CPU {cpu[1] * 1000:.2f} ms, wall {wall[1] * 1000:.1f} ms, "
                    f"{rtt[1]:.1f} RTT{their_note}",
                    f"CPU {cpu[0] / cpu[1]:.2f}x, wall {wall[0] / wall[1]:.2f}x, "
                    f"RTT {rtt[0] / rtt[1]:.2f}x",
                )
            )
    return rows


if __name__ == "__main__":
    import sys

    for row in bench_matrix(int(sys.argv[1]) if len(sys.argv) > 1 else 30):
        print(" | ".join(row))
