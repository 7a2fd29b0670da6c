"""Benchmarks of the exporter (run: scripts/bench): /metrics at 10,000 mailboxes against a plain
prometheus_client registry, 1,000 mailboxes in one real `pop3-exporter` process, and the CPU of
`/probe` against blackbox_exporter's POP3S module on the same Dovecot.

Each figure is printed beside a baseline measured in the same run; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import trustme
import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pop3_exporter.collector import (
    FrozenView,
    MailboxExposition,
    ScrapeCollector,
    SelfMetrics,
    freeze,
    render_scrape,
)
from pop3_exporter.sharding import shard_of
from pop3probe import PHASES, ErrorClass, MessageInfo, PollSnapshot
from tests.bench.bench_core import _poplib_session
from tests.exporter.helpers import ExporterProcess, parse_metrics, start_exporter
from tests.exporter.snapshots import NOW, TLS
from tests.fixtures.dovecot import DovecotServer, DovecotUser, running_dovecot
from tests.fixtures.ports import free_port, wait_for_port

Row = tuple[str, str, str, str]

# --- 5. /metrics at 10,000 mailboxes -------------------------------------------------------------

DOVECOT_CAPABILITIES = frozenset(
    {"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL", "PLAIN", "LOGIN"}
)


def _synthetic_snapshot(name: str, rng: random.Random, *, failed: bool = False) -> PollSnapshot:
    """What a Dovecot poll leaves behind: nine phase timings, three known messages, TLS facts."""
    started = NOW + timedelta(seconds=rng.uniform(0, 300))
    phases = MappingProxyType({phase: rng.uniform(0.0005, 0.02) for phase in PHASES})
    if failed:
        return PollSnapshot(
            mailbox=name,
            started_at=started,
            duration=sum(phases.values()),
            error=ErrorClass.IN_USE,
            server_text="[IN-USE] Mailbox is locked",
            phase_durations=phases,
            tls=TLS,
            capabilities=DOVECOT_CAPABILITIES,
        )
    messages = tuple(
        MessageInfo(
            identity=f"<{name}.{n}@example.org>",
            number=n + 1,
            size=rng.randint(800, 90_000),
            sender="Ana <ana@example.org>",
            subject=f"message {n}",
            date=started - timedelta(hours=rng.uniform(0, 500)),
        )
        for n in range(3)
    )
    return PollSnapshot(
        mailbox=name,
        started_at=started,
        duration=sum(phases.values()),
        phase_durations=phases,
        messages=len(messages),
        size_bytes=sum(m.size for m in messages),
        message_sizes=tuple(m.size for m in messages),
        known_messages=messages,
        tls=TLS,
        capabilities=DOVECOT_CAPABILITIES,
        commands_sent=6,
        round_trips=2,
    )


def _synthetic_views(count: int, rng: random.Random) -> list[FrozenView]:
    views = []
    for index in range(count):
        name = f"mailbox{index:05d}"
        good = _synthetic_snapshot(name, rng)
        last = _synthetic_snapshot(name, rng, failed=True) if index % 20 == 0 else good
        polls = {"ok": rng.randint(1, 5000)} | ({"in_use": 1} if last is not good else {})
        views.append(FrozenView(name, last, good, polls, rng.randint(0, 300), 300.0))
    return views


def _repolled(views: list[FrozenView], share: float, rng: random.Random) -> list[FrozenView]:
    """The scheduler's state one scrape later: `share` of the mailboxes have a new snapshot."""
    out = list(views)
    for index in rng.sample(range(len(views)), int(len(views) * share)):
        view = views[index]
        snapshot = _synthetic_snapshot(view.name, rng)
        polls = dict(view.polls_total)
        polls["ok"] = polls.get("ok", 0) + 1
        out[index] = replace(view, last=snapshot, last_success=snapshot, polls_total=polls)
    return out


def _plain_registry(exposition: str) -> CollectorRegistry:
    """The same series as `exposition`, held by ordinary prometheus_client Gauges."""
    registry = CollectorRegistry(auto_describe=False)
    for family in text_string_to_metric_families(exposition):
        gauges: dict[str, Gauge] = {}
        for sample in family.samples:
            gauge = gauges.get(sample.name)
            if gauge is None:
                gauge = gauges[sample.name] = Gauge(
                    sample.name, family.documentation, sorted(sample.labels), registry=registry
                )
            (gauge.labels(**sample.labels) if sample.labels else gauge).set(sample.value)
    return registry


def _cpu_median(run: Callable[[], object], repeat: int) -> float:
    """Median process CPU seconds of `run()` (single-threaded here, so it is the render's cost)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def bench_metrics_render(mailboxes: int = 10_000, repeat: int = 5) -> list[Row]:
    """One scrape of the exporter (copy of the state + render) against `generate_latest` of a
    plain registry of Gauges with the same series. Measured in steady state (between two
    scrapes 5% of the mailboxes were polled again: a 15 s scrape interval against the default
    5-minute poll interval), cold (the first scrape of a process), and through the custom
    Collector alone, which is how /metrics was written before the per-mailbox cache."""
    rng = random.Random(6)
    own = CollectorRegistry(auto_describe=False)
    SelfMetrics(own)
    views = _synthetic_views(mailboxes, rng)
    exposition = MailboxExposition()
    ours = render_scrape(own, freeze(views), generate_latest, exposition)
    # Valid text format: prometheus_client's own parser reads every sample back.
    samples = sum(len(f.samples) for f in text_string_to_metric_families(ours.decode()))
    plain = _plain_registry(ours.decode())
    theirs = generate_latest(plain)
    plain_cpu = _cpu_median(lambda: generate_latest(plain), repeat)

    steady = iter([_repolled(views, 0.05, rng) for _ in range(repeat)])
    steady_cpu = _cpu_median(
        lambda: render_scrape(own, freeze(next(steady)), generate_latest, exposition), repeat
    )
    cold_cpu = _cpu_median(
        lambda: render_scrape(own, freeze(views), generate_latest, MailboxExposition()), repeat
    )

    def collector_only() -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ScrapeCollector(own, freeze(views)))
        return generate_latest(registry)

    assert collector_only() == render_scrape(own, freeze(views), generate_latest)
    before_cpu = _cpu_median(collector_only, max(2, repeat // 2))
    return [
        (
            f"/metrics at {mailboxes:,} mailboxes, steady scrape (5% re-polled)",
            f"{steady_cpu * 1000:.0f} ms, {len(ours) / 1e6:.1f} MB, {samples:,} samples",
            f"plain Gauges {plain_cpu * 1000:.0f} ms, {len(theirs) / 1e6:.1f} MB",
            f"{steady_cpu / plain_cpu:.2f}x (goal <= 0.2x)",
        ),
        (
            f"/metrics at {mailboxes:,} mailboxes, first scrape (cold cache)",
            f"{cold_cpu * 1000:.0f} ms",
            f"plain Gauges {plain_cpu * 1000:.0f} ms",
            f"{cold_cpu / plain_cpu:.2f}x",
        ),
        (
            f"/metrics at {mailboxes:,} mailboxes, Collector alone (before)",
            f"{before_cpu * 1000:.0f} ms",
            f"plain Gauges {plain_cpu * 1000:.0f} ms",
            f"{before_cpu / plain_cpu:.2f}x",
        ),
    ]


# --- shared: a Dovecot with enough users, process figures from /proc ---------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def exporter_dovecot(users: int) -> Iterator[DovecotServer]:
    """A private Dovecot with `users` pre-written users (plus a few spare), stopped afterwards."""
    with running_dovecot(trustme.CA(), user_pool=users + 20) as dovecot:
        yield dovecot


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, for the table's machine line."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _users_with_mail(dovecot: DovecotServer, count: int, messages: int) -> list[DovecotUser]:
    users = [dovecot.add_user() for _ in range(count)]
    for user in users:
        for number in range(messages):
            dovecot.deliver(user, subject=f"waiting {number}")
    return users


def _entry(name: str, dovecot: DovecotServer, user: DovecotUser) -> dict[str, Any]:
    return {
        "name": name,
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "username": user.username,
        "password": user.password,
        "ca_file": str(dovecot.ca_file),
    }


# --- 3. 1,000 mailboxes in one exporter --------------------------------------------------------

# Mailboxes poll again as soon as the round lets them: the round is then as short as the server
# and the exporter can make it. One Dovecot user per mailbox, so Dovecot's limit of 10 sessions
# per user and address never applies; the exporter's per-server limit is raised to that 10.
SCALE_SETTINGS = {"interval": "1s", "timeout": "1s"}
SCALE_CONCURRENCY = 10


def _polls_by_mailbox(exporter: ExporterProcess) -> dict[str, int]:
    polls: dict[str, int] = {}
    for key, value in parse_metrics(exporter.get("/metrics").text).items():
        if key.startswith('pop3_polls_total{mailbox="'):
            name = key.split('"', 2)[1]
            polls[name] = polls.get(name, 0) + int(value)
    return polls


def _wait_round(
    exporter: ExporterProcess, before: dict[str, int], timeout: float
) -> dict[str, int]:
    """Until every mailbox has been polled once more than in `before`; returns the counts."""
    deadline = time.monotonic() + timeout
    while True:
        polls = _polls_by_mailbox(exporter)
        if polls and all(polls.get(name, 0) > count for name, count in before.items()):
            return polls
        if exporter.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"round not complete in {timeout:.0f}s:\n{exporter.log[-3000:]}")
        time.sleep(0.5)


@contextlib.contextmanager
def _scale_exporter(
    dovecot: DovecotServer, users: list[DovecotUser], directory: Path
) -> Iterator[ExporterProcess]:
    config = {
        "max_concurrent_polls": SCALE_CONCURRENCY,
        "max_connections_per_server": SCALE_CONCURRENCY,
        "state_file": str(directory / "state.json"),
        "defaults": SCALE_SETTINGS,
        "mailboxes": [_entry(f"box{i:04d}", dovecot, u) for i, u in enumerate(users)],
    }
    exporter = start_exporter(config, directory, log_level="warning", ready_timeout=60)
    try:
        yield exporter
    finally:
        exporter.stop()


def _rounds(exporter: ExporterProcess, names: list[str], rounds: int) -> dict[str, Any]:
    """Time the first round (from start) and `rounds` more; CPU, RSS and fds along the way."""
    pid = exporter.process.pid
    zero = dict.fromkeys(names, 0)
    started = time.monotonic()
    polls = _wait_round(exporter, zero, timeout=600)
    first = time.monotonic() - started
    cpu_start, polls_start = _cpu_seconds(pid), sum(polls.values())
    times, fds, rss = [], [_fds(pid)], [_status_kib(pid, "VmRSS")]
    for _ in range(rounds):
        started = time.monotonic()
        polls = _wait_round(exporter, polls, timeout=600)
        times.append(time.monotonic() - started)
        fds.append(_fds(pid))
        rss.append(_status_kib(pid, "VmRSS"))
    cpu = _cpu_seconds(pid) - cpu_start
    samples = parse_metrics(exporter.get("/metrics").text)
    failed = sum(
        v
        for k, v in samples.items()
        if k.startswith("pop3_polls_total{") and 'result="ok"' not in k
    )
    return {
        "first": first,
        "round": statistics.median(times),
        "cpu_per_poll": cpu / max(1, sum(polls.values()) - polls_start),
        # The median of the samples at each round's end: one sample may catch a scrape or a
        # state-file write in the middle of its work.
        "rss": statistics.median(rss),
        "peak": _status_kib(pid, "VmHWM"),
        "fds": fds,
        "failed": int(failed),
        "polls": sum(polls.values()),
    }


def _poplib_round(dovecot: DovecotServer, users: list[DovecotUser]) -> tuple[float, float]:
    """The same steady-state sessions (login, STAT, LIST, one TOP, QUIT) by poplib, with the
    same concurrency: (wall seconds for all, client CPU seconds per session)."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    port = dovecot.pop3s_port
    start, start_cpu = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(SCALE_CONCURRENCY) as pool:
        list(pool.map(lambda u: _poplib_session(dovecot, u, context, port, 1), users))
    return time.monotonic() - start, (time.process_time() - start_cpu) / len(users)


def bench_scale(dovecot: DovecotServer, mailboxes: int = 1000, rounds: int = 4) -> list[Row]:
    """The real pop3-exporter with `mailboxes` mailboxes (two messages each), against the same
    exporter with 10 mailboxes (memory baseline) and poplib doing a round's sessions."""
    users = _users_with_mail(dovecot, mailboxes + 10, messages=2)
    big_users, small_users = users[:mailboxes], users[mailboxes:]
    names = [f"box{i:04d}" for i in range(mailboxes)]
    directory = Path(tempfile.mkdtemp(prefix="pop3-bench-scale-"))
    try:
        with _scale_exporter(dovecot, small_users, directory / "small") as small:
            small_result = _rounds(small, names[:10], rounds)
        with _scale_exporter(dovecot, big_users, directory / "big") as big:
            big_result = _rounds(big, names, rounds)
        _poplib_round(dovecot, big_users[:50])  # warm-up: Dovecot has seen these users already
        poplib_wall, poplib_cpu = _poplib_round(dovecot, big_users)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    per_mailbox = (big_result["rss"] - small_result["rss"]) / (mailboxes - 10)
    fds = big_result["fds"]
    return [
        (
            f"Full round, {mailboxes:,} mailboxes in one exporter (steady, "
            f"{SCALE_CONCURRENCY} sessions at a time)",
            f"{big_result['round']:.1f} s (first round {big_result['first']:.1f} s), "
            f"{big_result['failed']} of {big_result['polls']} polls failed",
            f"poplib same sessions {poplib_wall:.1f} s",
            f"{big_result['round'] / poplib_wall:.2f}x",
        ),
        (
            f"Exporter CPU per scheduled poll at {mailboxes:,} mailboxes",
            f"{big_result['cpu_per_poll'] * 1000:.2f} ms (all threads, scrapes included)",
            f"poplib client {poplib_cpu * 1000:.2f} ms",
            f"{big_result['cpu_per_poll'] / poplib_cpu:.2f}x",
        ),
        (
            f"RSS per mailbox, {mailboxes:,} vs 10 mailboxes (median after each round)",
            f"{per_mailbox:.1f} KiB (RSS {big_result['rss'] / 1024:.1f} MiB, "
            f"peak {big_result['peak'] / 1024:.1f} MiB)",
            f"10 mailboxes: RSS {small_result['rss'] / 1024:.1f} MiB",
            f"goal <= 20 KiB: {'met' if per_mailbox <= 20 else 'missed'}",
        ),
        (
            f"Open fds after each of {rounds + 1} rounds, {mailboxes:,} mailboxes",
            ", ".join(str(n) for n in fds) + f" (up to {SCALE_CONCURRENCY} sessions open)",
            f"10 mailboxes: {', '.join(str(n) for n in small_result['fds'])}",
            f"growth {fds[-1] - fds[0]:+d} (goal: none)",
        ),
    ]


# --- 6. CPU per /probe against blackbox_exporter ------------------------------------------------

BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")


def _probe_names(count: int) -> list[str]:
    """Mailbox names that all fall in shard 1 of 2: an exporter run as shard 0/2 then polls
    none of them on its own timers, and its CPU is the probes' alone (a probe-only instance,
    as when Prometheus drives /probe)."""
    names = (f"probe{n:03d}" for n in range(10_000))
    return [name for name in names if shard_of(name, 2) == 1][:count]


def _probe_cpu(pid: int, port: int, paths: list[str]) -> tuple[float, float, int]:
    """(process CPU seconds per request, wall seconds per request, failed probes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    failed = 0

    def get(path: str) -> bool:
        connection.request("GET", path)
        body = connection.getresponse().read()
        return b"\nprobe_success 1" in body

    for path in paths[:5]:  # warm-up
        get(path)
    start_cpu, start = _cpu_seconds(pid), time.monotonic()
    for path in paths:
        failed += not get(path)
    wall = time.monotonic() - start
    cpu = _cpu_seconds(pid) - start_cpu
    connection.close()
    return cpu / len(paths), wall / len(paths), failed


@contextlib.contextmanager
def _blackbox(dovecot: DovecotServer, directory: Path) -> Iterator[tuple[int, int]]:
    """blackbox_exporter with a POP3S module (TLS, expect +OK, QUIT): yields (pid, port)."""
    assert BLACKBOX is not None
    config = {
        "modules": {
            "pop3s": {
                "prober": "tcp",
                "timeout": "10s",
                "tcp": {
                    "tls": True,
                    "tls_config": {"ca_file": str(dovecot.ca_file)},
                    "query_response": [{"expect": "^\\+OK"}, {"send": "QUIT"}],
                },
            }
        }
    }
    path = directory / "blackbox.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    with (directory / "blackbox.log").open("wb") as log:
        process = subprocess.Popen(
            [BLACKBOX, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, "127.0.0.1")
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench_probe(dovecot: DovecotServer, count: int = 300, mailboxes: int = 10) -> list[Row]:
    """CPU per health probe: our /probe?mailbox=NAME (TLS, login, STAT, LIST, TOP, QUIT) against
    blackbox_exporter's tcp prober (TLS, greeting, QUIT, no login), same Dovecot, same count."""
    if BLACKBOX is None:
        return []
    users = _users_with_mail(dovecot, mailboxes, messages=2)
    names = _probe_names(mailboxes)
    directory = Path(tempfile.mkdtemp(prefix="pop3-bench-probe-"))
    try:
        config = {"mailboxes": [_entry(n, dovecot, u) for n, u in zip(names, users, strict=True)]}
        exporter = start_exporter(config, directory, args=["--shard", "0/2"], log_level="warning")
        try:
            paths = [f"/probe?mailbox={names[i % mailboxes]}" for i in range(count)]
            ours, ours_wall, ours_failed = _probe_cpu(exporter.process.pid, exporter.port, paths)
        finally:
            exporter.stop()
        with _blackbox(dovecot, directory) as (pid, port):
            target = f"/probe?module=pop3s&target=127.0.0.1:{dovecot.pop3s_port}"
            theirs, theirs_wall, theirs_failed = _probe_cpu(pid, port, [target] * count)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    failures = f", {ours_failed} failed" if ours_failed else ""
    their_failures = f", {theirs_failed} failed" if theirs_failed else ""
    return [
        (
            f"CPU per /probe ({count} probes of {mailboxes} mailboxes)",
            f"{ours * 1000:.2f} ms ({ours_wall * 1000:.0f} ms wall{failures})",
            f"blackbox_exporter POP3S {theirs * 1000:.2f} ms "
            f"({theirs_wall * 1000:.0f} ms wall{their_failures})",
            f"{ours / theirs:.2f}x (goal <= 2x)",
        )
    ]
