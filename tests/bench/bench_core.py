"""Benchmarks of the core against poplib on the same real Dovecot (run: scripts/bench).

Each figure is a ratio against a baseline measured in the same run on the same server.
"""

from __future__ import annotations

import asyncio
import json
import poplib
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pop3probe import (
    MailboxConfig,
    MessageTracker,
    SecretSource,
    ServerHints,
    Transcript,
    poll_mailbox,
)
from tests.bench.latency import LatencyProxy
from tests.fixtures.dovecot import DovecotServer, DovecotUser

Row = tuple[str, str, str, str]


def _config(dovecot: DovecotServer, user: DovecotUser, port: int | None = None) -> MailboxConfig:
    return MailboxConfig(
        host="127.0.0.1",
        port=port or dovecot.pop3s_port,
        username=user.username,
        secret=SecretSource(value=user.password),
        ca_file=dovecot.ca_file,
        timeout=120,
    )


def _poplib_session(
    dovecot: DovecotServer, user: DovecotUser, context: ssl.SSLContext, port: int, tops: int
) -> None:
    client = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=120)
    client.user(user.username)
    client.pass_(user.password)
    count, _ = client.stat()
    client.list()
    for number in range(max(1, count - tops + 1), count + 1):
        client.top(number, 0)
    client.quit()


def _cpu(run: Callable[[], None], repeat: int) -> float:
    """Client-process CPU seconds per call (the server is another process)."""
    run()  # warm-up
    start = time.process_time()
    for _ in range(repeat):
        run()
    return (time.process_time() - start) / repeat


def bench_cpu_per_poll(dovecot: DovecotServer, repeat: int = 200) -> Row:
    user = dovecot.add_user()
    for number in range(5):
        dovecot.deliver(user, subject=f"message {number}")
    config = _config(dovecot, user)
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    loop = asyncio.new_event_loop()

    def ours() -> None:
        snapshot = loop.run_until_complete(poll_mailbox(config, MessageTracker()))
        assert snapshot.ok, snapshot.error_text
        assert len(snapshot.known_messages) == 5

    ours_cpu = _cpu(ours, repeat)
    theirs_cpu = _cpu(
        lambda: _poplib_session(dovecot, user, context, dovecot.pop3s_port, 5), repeat
    )
    loop.close()
    return (
        "CPU per full poll (TLS, login, STAT, LIST, 5 TOP, QUIT)",
        f"{ours_cpu * 1000:.2f} ms",
        f"poplib {theirs_cpu * 1000:.2f} ms",
        f"{ours_cpu / theirs_cpu:.2f}x (goal <= 1.0x)",
    )


def instructions(
    server_file: Path, client: str, count: int, env: dict[str, str] | None = None
) -> int:
    """User-space instructions of a process running `count` polls (valgrind's callgrind):
    unlike CPU time, the count does not move with the load on the machine."""
    result = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, "-m", "tests.bench.drive", str(server_file), client, str(count),
        ],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2], env=env,
    )  # fmt: skip
    match = re.search(r"Collected : (\d+)", result.stderr)
    assert match, result.stderr[-2000:]
    return int(match.group(1))


def drive_server_file(dovecot: DovecotServer, name: str) -> Path:
    """A new user with five messages, described in a JSON file for `tests.bench.drive`."""
    user = dovecot.add_user()
    for number in range(5):
        dovecot.deliver(user, subject=f"message {number}")
    server_file = dovecot.root / f"{name}.json"
    server_file.write_text(json.dumps({
        "port": dovecot.pop3s_port, "user": user.username, "password": user.password,
        "ca": str(dovecot.ca_file),
    }))  # fmt: skip
    return server_file


def bench_instructions(dovecot: DovecotServer, count: int = 40) -> list[Row]:
    """The same session as bench_cpu_per_poll, counted in instructions (start-up subtracted)."""
    if shutil.which("valgrind") is None:
        return []
    server_file = drive_server_file(dovecot, "bench-server")
    per_poll = {
        client: (instructions(server_file, client, count) - instructions(server_file, client, 0))
        / count
        for client in ("ours", "poplib", "ours-steady", "poplib-steady")
    }
    return [
        (
            "Instructions per full poll (callgrind, same session)",
            f"{per_poll['ours'] / 1e6:.2f} M",
            f"poplib {per_poll['poplib'] / 1e6:.2f} M",
            f"{per_poll['ours'] / per_poll['poplib']:.2f}x (goal <= 1.0x)",
        ),
        (
            "Instructions per steady-state poll (callgrind)",
            f"{per_poll['ours-steady'] / 1e6:.2f} M",
            f"poplib login/STAT/LIST/TOP/QUIT {per_poll['poplib-steady'] / 1e6:.2f} M",
            f"{per_poll['ours-steady'] / per_poll['poplib-steady']:.2f}x",
        ),
    ]


def bench_round_trips(dovecot: DovecotServer, one_way: float = 0.025, repeat: int = 5) -> Row:
    user = dovecot.add_user()
    for number in range(5):
        dovecot.deliver(user, subject=f"message {number}")
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))

    async def run() -> tuple[float, float, int]:
        async with LatencyProxy(dovecot.pop3s_port, one_way) as proxy:
            config = _config(dovecot, user, proxy.port)
            tracker, hints = MessageTracker(), ServerHints()
            await poll_mailbox(config, tracker, hints=hints)  # baseline; then steady state
            ours, batches = [], 0
            for _ in range(repeat):
                transcript = Transcript()
                start = time.perf_counter()
                snapshot = await poll_mailbox(config, tracker, hints=hints, transcript=transcript)
                ours.append(time.perf_counter() - start)
                assert snapshot.ok, snapshot.error_text
                batches = snapshot.round_trips
            theirs = []
            for _ in range(repeat):
                start = time.perf_counter()
                # poplib doing the same steady-state work: login, STAT, LIST, one TOP, QUIT.
                await asyncio.to_thread(_poplib_session, dovecot, user, context, proxy.port, 1)
                theirs.append(time.perf_counter() - start)
        return statistics.median(ours), statistics.median(theirs), batches

    ours, theirs, batches = asyncio.run(run())
    rtt = 2 * one_way
    return (
        f"Round trips per steady-state poll (RTT {rtt * 1000:.0f} ms)",
        f"{ours / rtt:.1f} RTT ({batches} command batches)",
        f"poplib {theirs / rtt:.1f} RTT",
        f"{ours / theirs:.2f}x (goal <= 5 RTT)",
    )


def bench_big_mailbox(dovecot: DovecotServer, size: int = 10_000) -> list[Row]:
    """First and steady-state polls of a big mailbox against an empty one. The server's own
    cost of opening a big maildrop is in every client's wall time, so poplib doing the same
    steady-state session on both mailboxes is shown beside ours, and our client CPU apart."""
    big, empty = dovecot.add_user(), dovecot.add_user()
    for number in range(size):
        dovecot.deliver(big, subject=f"old {number}", body=f"body {number}\n")
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))

    async def run() -> dict[str, float | int]:
        results: dict[str, float | int] = {}
        for name, user, limit in (("big", big, size), ("empty", empty, 50)):
            config = MailboxConfig(
                **{**_asdict(_config(dovecot, user)), "max_headers_per_poll": limit}
            )
            tracker, hints = MessageTracker(), ServerHints()
            start = time.perf_counter()
            first = await poll_mailbox(config, tracker, hints=hints)
            results[f"{name}_first"] = time.perf_counter() - start
            results[f"{name}_first_commands"] = first.commands_sent
            await poll_mailbox(config, tracker, hints=hints)  # the server has seen it once
            times, cpu, commands = [], [], 0
            for _ in range(10):
                start, start_cpu = time.perf_counter(), time.process_time()
                steady = await poll_mailbox(config, tracker, hints=hints)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                commands = steady.commands_sent
                assert steady.ok, steady.error_text
            results[f"{name}_steady"] = statistics.median(times)
            results[f"{name}_cpu"] = statistics.median(cpu)
            results[f"{name}_steady_commands"] = commands
            poplib_times = []
            for _ in range(10):
                start = time.perf_counter()
                _poplib_session(dovecot, user, context, dovecot.pop3s_port, 1)
                poplib_times.append(time.perf_counter() - start)
            results[f"{name}_poplib"] = statistics.median(poplib_times)
        return results

    r = asyncio.run(run())
    return [
        (
            f"First poll of a {size:,}-message mailbox (headers of all)",
            f"{r['big_first']:.2f} s, {r['big_first_commands']} commands",
            f"empty {r['empty_first'] * 1000:.1f} ms, {r['empty_first_commands']} commands",
            f"{r['big_first'] / r['empty_first']:.0f}x",
        ),
        (
            f"Steady-state poll, {size:,} messages vs empty (wall)",
            f"{r['big_steady'] * 1000:.1f} / {r['empty_steady'] * 1000:.1f} ms, "
            f"{r['big_steady_commands']} commands",
            f"poplib same server {r['big_poplib'] / r['empty_poplib']:.2f}x "
            f"({r['big_poplib'] * 1000:.1f} / {r['empty_poplib'] * 1000:.1f} ms)",
            f"{r['big_steady'] / r['empty_steady']:.2f}x (goal <= 1.5x)",
        ),
        (
            f"Steady-state poll, {size:,} messages vs empty (client CPU)",
            f"{r['big_cpu'] * 1000:.2f} ms",
            f"empty {r['empty_cpu'] * 1000:.2f} ms",
            f"{r['big_cpu'] / r['empty_cpu']:.2f}x",
        ),
    ]


def _asdict(config: MailboxConfig) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
