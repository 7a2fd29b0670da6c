"""The soak run (not collected by pytest): the real exporter polling 200 mailboxes on the real
Dovecot for minutes, through fault proxies that hit a share of the sessions at random.

    scripts/soak                 # 10 minutes
    scripts/soak --minutes 3 --fault-rate 0.2

It reports polls done, results by error class, faults injected, the exporter's RSS (start, end,
slope) and open file descriptors at start and end, and ends with a verdict: the exporter must
still be running and answering, must not have logged a traceback, and must hold no more fds at
the end than at the start (plus a small slack).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme

from tests.exporter.helpers import ExporterProcess, start_exporter
from tests.fixtures.background import BackgroundLoop
from tests.fixtures.dovecot import DovecotServer, DovecotUser, running_dovecot
from tests.fixtures.faultproxy import Direction, Fault, FaultKind, FaultProxy

SAMPLE_EVERY = 5.0  # seconds between RSS/fd samples and deliveries
FD_SLACK = 10


def _chooser(tls: bool, rate: float, rng: random.Random) -> Callable[[], Fault | None]:
    """A random fault for `rate` of the connections, in a phase the proxy can see."""
    phases = (
        ["connect", "tls"] if tls else ["connect", "greeting", "auth", "stat_list", "top", "quit"]
    )

    def choose() -> Fault | None:
        if rng.random() >= rate:
            return None
        phase = rng.choice(phases)
        if phase == "connect":
            kind = rng.choice([FaultKind.LATENCY, FaultKind.RESET, FaultKind.DROP])
        else:
            kind = rng.choice(list(FaultKind))
        direction = Direction.TO_CLIENT
        if kind is FaultKind.DROP and phase not in ("connect", "greeting") and rng.random() < 0.5:
            direction = Direction.TO_SERVER
        # Over plain POP3 only the status line's first byte is flipped: a flip inside a header
        # would pass unnoticed there (TLS would catch it), and is no test of the client.
        after = rng.randint(0, 40) if (kind is not FaultKind.FLIP or tls) else 0
        return Fault(kind, phase, direction, after_bytes=after, delay=rng.uniform(0.05, 0.4))

    return choose


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def _totals(samples: dict[str, float], metric: str, label: str) -> Counter[str]:
    found: Counter[str] = Counter()
    pattern = re.compile(rf'^{metric}\{{.*{label}="([^"]+)"')
    for key, value in samples.items():
        match = pattern.match(key)
        if match:
            found[match.group(1)] += int(value)
    return found


def _config(
    dovecot: DovecotServer,
    users: list[DovecotUser],
    tls_proxy: FaultProxy,
    plain_proxy: FaultProxy,
    args: argparse.Namespace,
    state_file: Path,
) -> dict[str, Any]:
    mailboxes = []
    for index, user in enumerate(users):
        tls = index % 2 == 0
        entry: dict[str, Any] = {
            "name": f"box{index:03d}",
            "host": "127.0.0.1",
            "port": tls_proxy.port if tls else plain_proxy.port,
            "username": user.username,
            "password": user.password,
        }
        if tls:
            entry["ca_file"] = str(dovecot.ca_file)
        else:
            entry.update(tls_mode="plain", allow_insecure_auth=True)
        mailboxes.append(entry)
    return {
        "state_file": str(state_file),
        "max_concurrent_polls": 20,
        "max_connections_per_server": 8,
        "defaults": {"interval": args.interval, "timeout": args.timeout},
        "mailboxes": mailboxes,
    }


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="pop3-soak-"))
    try:
        with running_dovecot(trustme.CA()) as dovecot, BackgroundLoop() as background:
            return _run_against(dovecot, background, root, args, rng)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_against(
    dovecot: DovecotServer,
    background: BackgroundLoop,
    root: Path,
    args: argparse.Namespace,
    rng: random.Random,
) -> int:
    users = [dovecot.add_user() for _ in range(args.mailboxes)]
    for user in users:
        for n in range(2):
            dovecot.deliver(user, subject=f"waiting {n}")
    tls_proxy = FaultProxy(
        dovecot.pop3s_port, tls=True, record=False, chooser=_chooser(True, args.fault_rate, rng)
    )
    plain_proxy = FaultProxy(
        dovecot.pop3_port, record=False, chooser=_chooser(False, args.fault_rate, rng)
    )
    background.run(tls_proxy.start())
    background.run(plain_proxy.start())
    exporter: ExporterProcess | None = None
    try:
        config = _config(dovecot, users, tls_proxy, plain_proxy, args, root / "state.json")
        exporter = start_exporter(config, root, log_level="info")
        report = _soak(exporter, dovecot, users, args, rng)
        exit_code = exporter.stop()
        log = exporter.log
    finally:
        if exporter is not None:
            exporter.stop()
        background.run(tls_proxy.stop())
        background.run(plain_proxy.stop())
    faults = tls_proxy.faults_injected + plain_proxy.faults_injected
    sessions = tls_proxy.connections + plain_proxy.connections
    return _report(report, faults, sessions, log, exit_code, args)


def _soak(
    exporter: ExporterProcess,
    dovecot: DovecotServer,
    users: list[DovecotUser],
    args: argparse.Namespace,
    rng: random.Random,
) -> dict[str, Any]:
    pid = exporter.process.pid
    started = time.monotonic()
    end = started + args.minutes * 60
    rss: list[tuple[float, float]] = []
    fds: list[int] = []
    delivered = 0
    slowest_scrape = 0.0
    samples: dict[str, float] = {}
    next_line = started + 60
    while (now := time.monotonic()) < end:
        if exporter.process.poll() is not None:
            break
        for user in rng.sample(users, 3):
            dovecot.deliver(user, subject=f"arrived at {now - started:.0f} s")
            delivered += 1
        minutes = (now - started) / 60
        rss.append((minutes, _rss_kib(pid)))
        fds.append(_fds(pid))
        before = time.monotonic()
        samples = exporter.metrics()
        slowest_scrape = max(slowest_scrape, time.monotonic() - before)
        if now >= next_line:
            polls = sum(_totals(samples, "pop3_polls_total", "result").values())
            print(
                f"  {minutes:5.1f} min: {polls} polls, RSS {rss[-1][1] / 1024:.1f} MiB, "
                f"{fds[-1]} fds",
                flush=True,
            )
            next_line += 60
        time.sleep(max(0.0, SAMPLE_EVERY - (time.monotonic() - now)))
    alive = exporter.process.poll() is None
    if alive:
        samples = exporter.metrics()
        rss.append(((time.monotonic() - started) / 60, _rss_kib(pid)))
        fds.append(_fds(pid))
    return {
        "alive": alive,
        "minutes": (time.monotonic() - started) / 60,
        "samples": samples,
        "rss": rss,
        "fds": fds,
        "delivered": delivered,
        "slowest_scrape": slowest_scrape,
    }


def _report(
    report: dict[str, Any],
    faults: Counter[str],
    sessions: int,
    log: str,
    exit_code: int | None,
    args: argparse.Namespace,
) -> int:
    samples: dict[str, float] = report["samples"]
    results = _totals(samples, "pop3_polls_total", "result")
    polls = sum(results.values())
    new_mail = sum(v for k, v in samples.items() if k.startswith("pop3_new_messages_total{"))
    rss: list[tuple[float, float]] = report["rss"]
    settled = [p for p in rss if p[0] >= min(1.0, report["minutes"] / 3)] or rss
    slope = _slope(settled)
    fds: list[int] = report["fds"]
    tracebacks = log.count("Traceback")
    print(
        f"== soak: {args.mailboxes} mailboxes, {report['minutes']:.1f} min, interval "
        f"{args.interval}, timeout {args.timeout}, fault rate {args.fault_rate}, seed {args.seed}"
    )
    print(f"polls done: {polls} ({sessions} sessions through the proxies)")
    print("results by class: " + ", ".join(f"{k} {v}" for k, v in results.most_common()))
    print(f"faults injected: {sum(faults.values())}")
    for label, count in sorted(faults.items()):
        print(f"    {count:>6}  {label}")
    print(
        f"mail delivered during the run: {report['delivered']}; new messages counted: "
        f"{int(new_mail)}"
    )
    if rss:
        late = [p for p in rss if p[0] >= report["minutes"] / 2]
        print(
            f"RSS: start {rss[0][1] / 1024:.1f} MiB, end {rss[-1][1] / 1024:.1f} MiB, "
            f"max {max(v for _, v in rss) / 1024:.1f} MiB; slope {slope:+.1f} KiB/min after "
            f"warm-up, {_slope(late):+.1f} KiB/min over the second half"
        )
    if fds:
        print(f"open fds: start {fds[0]}, end {fds[-1]}, max {max(fds)}")
    reasons = Counter(
        re.sub(r"box\d+", "boxN", m.group(1))
        for m in re.finditer(r"poll of box\d+ failed: (.*)", log)
    )
    print("failures by reason (from the exporter's log):")
    for reason, count in reasons.most_common(12):
        print(f"    {count:>6}  {reason[:110]}")
    print(f"slowest /metrics scrape: {report['slowest_scrape'] * 1000:.0f} ms")
    print(
        f"exporter: {'running to the end' if report['alive'] else 'DIED'}, exit code "
        f"{exit_code}, tracebacks in its log: {tracebacks}"
    )
    problems = []
    if not report["alive"] or exit_code != 0:
        problems.append("the exporter did not run to the end and exit 0")
    if tracebacks:
        problems.append("tracebacks in the log")
    if fds and fds[-1] > fds[0] + FD_SLACK:
        problems.append("fds grew")
    if polls == 0:
        problems.append("no polls")
    if new_mail > report["delivered"]:
        problems.append("more new messages counted than delivered (mail reported twice)")
    print("== soak: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    return 0 if not problems else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--interval", default="15s", help="poll interval per mailbox")
    parser.add_argument("--timeout", default="3s", help="poll timeout")
    parser.add_argument("--fault-rate", type=float, default=0.15, help="share of faulty sessions")
    parser.add_argument("--seed", type=int, default=7)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
