"""Up to 10,000 mailboxes in one exporter, and where one process stops keeping up (scripts/bench).

For each size, the real `pop3-exporter` with that many mailboxes on one private Dovecot (one user
per mailbox, two messages each; settings as tests/bench/bench_exporter.py's 1,000-mailbox run:
10 sessions at a time, `interval` 1 s so every mailbox polls again as soon as the round lets it).
After the first round (every mailbox polled once), a steady window of at least one round is
measured between two scrapes: a round is mailboxes / polls per second in that window, and the
exporter's CPU per poll is its CPU (utime + stime, all threads) over the polls of the window. Only
two scrapes fall in the window, so /metrics' own cost (hundreds of milliseconds at 10,000) stays
out of the figure. The baseline: poplib doing the same sessions (login, STAT, LIST, one TOP,
QUIT) with the same concurrency, in the same run.

The limit of one process against a 5-minute interval comes from a least-squares line through the
measured rounds (wall seconds against mailboxes): where it reaches 300 s. Dovecot runs on the same
two CPUs, so that limit is the machine's (server and exporter together); the exporter's own limit
is where its CPU per poll fills one core (its event loop is one thread): 300 s / CPU per poll.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.bench_exporter import (
    SCALE_CONCURRENCY,
    _cpu_seconds,
    _polls_by_mailbox,
    _poplib_round,
    _scale_exporter,
    _status_kib,
    _users_with_mail,
    exporter_dovecot,
)
from tests.exporter.helpers import ExporterProcess, parse_metrics
from tests.fixtures.dovecot import DovecotServer, DovecotUser

Row = tuple[str, str, str, str]
INTERVAL = 300.0  # the default poll interval the limit is measured against


def _failed(exporter: ExporterProcess) -> int:
    samples = parse_metrics(exporter.get("/metrics").text)
    return int(
        sum(
            v
            for k, v in samples.items()
            if k.startswith("pop3_polls_total{") and 'result="ok"' not in k
        )
    )


def _first_round(exporter: ExporterProcess, names: list[str], timeout: float) -> float:
    """Seconds from now until every mailbox has been polled once (checked every N/1000 s)."""
    started = time.monotonic()
    check_every = max(0.5, len(names) / 1000)
    while True:
        polls = _polls_by_mailbox(exporter)
        if len(polls) >= len(names) and all(polls.get(n, 0) >= 1 for n in names):
            return time.monotonic() - started
        if exporter.process.poll() is not None or time.monotonic() - started > timeout:
            raise RuntimeError(f"first round not complete:\n{exporter.log[-3000:]}")
        time.sleep(check_every)


def _measure_size(
    dovecot: DovecotServer, users: list[DovecotUser], mailboxes: int, directory: Path
) -> dict[str, Any]:
    names = [f"box{i:04d}" for i in range(mailboxes)]
    with _scale_exporter(dovecot, users[:mailboxes], directory) as exporter:
        pid = exporter.process.pid
        first = _first_round(exporter, names, timeout=3600)
        before = _polls_by_mailbox(exporter)
        t0, cpu0 = time.monotonic(), _cpu_seconds(pid)
        time.sleep(max(20.0, first * 1.1))
        after = _polls_by_mailbox(exporter)
        t1, cpu1 = time.monotonic(), _cpu_seconds(pid)
        polls = sum(after.values()) - sum(before.values())
        grew = [after.get(n, 0) - before.get(n, 0) for n in names]
        rss = _status_kib(pid, "VmRSS")
        failed = _failed(exporter)
    poplib_wall, poplib_cpu = _poplib_round(dovecot, users[:mailboxes])
    return {
        "first": first,
        "round": mailboxes * (t1 - t0) / polls,
        "cpu_per_poll": (cpu1 - cpu0) / polls,
        "min_grew": min(grew),
        "spread": (min(grew), statistics.median(grew), max(grew)),
        "rss": rss,
        "failed": failed,
        "poplib_wall": poplib_wall,
        "poplib_cpu": poplib_cpu,
    }


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares y = a + b x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else my / mx
    return my - b * mx, b


def bench_scale_curve(sizes: tuple[int, ...] = (1000, 2000)) -> list[Row]:
    rows: list[Row] = []
    results: dict[int, dict[str, Any]] = {}
    directory = Path(tempfile.mkdtemp(prefix="pop3-bench-curve-"))
    try:
        with exporter_dovecot(max(sizes)) as dovecot:
            users = _users_with_mail(dovecot, max(sizes), messages=2)
            _poplib_round(dovecot, users[:50])  # warm-up
            for size in sizes:
                results[size] = r = _measure_size(dovecot, users, size, directory / str(size))
                rows.append(
                    (
                        f"Full round, {size:,} mailboxes in one exporter "
                        f"({SCALE_CONCURRENCY} sessions at a time; wall, steady)",
                        f"{r['round']:.1f} s (first round {r['first']:.1f} s; polls per "
                        f"mailbox in the window min/median/max {r['spread'][0]}/"
                        f"{r['spread'][1]:.0f}/{r['spread'][2]}; {r['failed']} failed)",
                        f"poplib same sessions {r['poplib_wall']:.1f} s",
                        f"{r['round'] / r['poplib_wall']:.2f}x",
                    )
                )
                rows.append(
                    (
                        f"Exporter CPU per poll, {size:,} mailboxes (all threads)",
                        f"{r['cpu_per_poll'] * 1000:.2f} ms (RSS {r['rss'] / 1024:.0f} MiB)",
                        f"poplib client {r['poplib_cpu'] * 1000:.2f} ms",
                        f"{r['cpu_per_poll'] / r['poplib_cpu']:.2f}x",
                    )
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    ours = _fit([(n, r["round"]) for n, r in results.items()])
    theirs = _fit([(n, r["poplib_wall"]) for n, r in results.items()])
    cpu = statistics.median(r["cpu_per_poll"] for r in results.values())
    poplib_cpu = statistics.median(r["poplib_cpu"] for r in results.values())
    limit, poplib_limit = (INTERVAL - ours[0]) / ours[1], (INTERVAL - theirs[0]) / theirs[1]
    rows.append(
        (
            "Mailboxes one process keeps at a 5-minute interval, this machine "
            f"(fit of rounds at {', '.join(f'{n:,}' for n in sizes)})",
            f"{limit:,.0f} ({ours[1] * 1000:.1f} ms per mailbox + {ours[0]:.1f} s)",
            f"poplib {poplib_limit:,.0f} ({theirs[1] * 1000:.1f} ms per mailbox)",
            f"{limit / poplib_limit:.2f}x",
        )
    )
    rows.append(
        (
            "Exporter's own limit: one core full at a 5-minute interval (300 s / CPU per poll)",
            f"{INTERVAL / cpu:,.0f} mailboxes ({cpu * 1000:.2f} ms per poll)",
            f"poplib {INTERVAL / poplib_cpu:,.0f} ({poplib_cpu * 1000:.2f} ms)",
            f"{poplib_cpu / cpu:.2f}x",
        )
    )
    return rows


if __name__ == "__main__":
    import sys

    sizes = tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (1000, 2000)
    for row in bench_scale_curve(sizes):
        print(" | ".join(row))
