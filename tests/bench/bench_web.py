"""Benchmarks of the exporter's HTTP side (run: scripts/bench):

- /metrics latency for a scraper with the right password while 200 wrong-password requests a
  second arrive, against the same scraper with no attack, in one real `pop3-exporter` process;
- bytes on the wire and render time of /metrics at 10,000 mailboxes, with and without gzip,
  beside plain prometheus_client (`generate_latest` + `gzip.compress`, what its handlers do).

Each figure is printed beside a baseline measured in the same run; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from pop3_exporter.collector import MailboxExposition, SelfMetrics, freeze, render_scrape
from pop3_exporter.web import compress_body
from pop3_exporter.webauth import DEFAULT_BCRYPT_COST, hash_password, hash_scrypt_password
from tests.bench.bench_exporter import _cpu_median, _plain_registry, _repolled, _synthetic_views
from tests.exporter.helpers import ExporterProcess, start_exporter

Row = tuple[str, str, str, str]

# --- /metrics latency under a password-guessing attack ------------------------------------------

ATTACK_RATE = 200  # wrong-password requests per second
ATTACK_MAILBOXES = 1000
SCRAPE_GAP = 0.2  # seconds between the valid scraper's requests


def _authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _unreachable_mailboxes(count: int) -> list[dict[str, Any]]:
    """Mailboxes on a closed port, polled once an hour: /metrics has their series to render,
    and no POP3 work competes with the HTTP side during the measurement."""
    return [
        {
            "name": f"box{n:04d}",
            "host": "127.0.0.1",
            "port": 9,
            "username": f"user{n}",
            "password": "unused-secret",
            "tls_mode": "plain",
            "allow_insecure_auth": True,
            "interval": "1h",
            "timeout": "1s",
        }
        for n in range(count)
    ]


class _Attacker:
    """Sends `rate` wrong-password requests a second (open loop: it does not wait for answers)
    from a thread of its own, until stopped; counts the answers by status."""

    def __init__(self, url: str, rate: int, user: str) -> None:
        self.url, self.rate, self.user = url, rate, user
        self.statuses: Counter[str] = Counter()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> _Attacker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            tasks: set[asyncio.Task[None]] = set()
            start = time.monotonic()
            while not self._stop.is_set():
                due = start + self.sent / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if len(tasks) < 2000:
                    task = asyncio.create_task(self._one(http, f"guess-{self.sent}"))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    self.statuses["not sent (2,000 in flight)"] += 1
                self.sent += 1
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, http: aiohttp.ClientSession, password: str) -> None:
        headers = {"Authorization": _authorization(self.user, password)}
        try:
            async with http.get(f"{self.url}/metrics", headers=headers) as reply:
                await reply.read()
                self.statuses[str(reply.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as err:
            self.statuses[type(err).__name__] += 1


SCRAPE_TIMEOUT = 10.0  # Prometheus's default scrape_timeout
MEASURE_LIMIT = 40.0  # seconds of scraping at most, however slow the answers


def _scrape_latencies(exporter: ExporterProcess, authorization: str, count: int) -> list[float]:
    """Wall seconds of up to `count` /metrics requests on one keep-alive connection, SCRAPE_GAP
    apart, for MEASURE_LIMIT seconds at most; a scrape that fails or takes longer than
    Prometheus's default timeout counts as infinitely slow (Prometheus would mark it down)."""
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=SCRAPE_TIMEOUT)
    latencies: list[float] = []
    limit = time.monotonic() + MEASURE_LIMIT
    try:
        while len(latencies) < count and time.monotonic() < limit:
            started = time.perf_counter()
            try:
                connection.request("GET", "/metrics", headers={"Authorization": authorization})
                reply = connection.getresponse()
                body = reply.read()
                ok = reply.status == 200 and b"pop3_up{" in body
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            latencies.append(time.perf_counter() - started if ok else float("inf"))
            time.sleep(SCRAPE_GAP)
    finally:
        connection.close()
    return latencies


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    failed = sum(1 for x in ordered if x == float("inf"))
    text = f"{len(ordered)} scrapes, median {_ms(statistics.median(ordered))}, p90 {_ms(p90)}"
    return text + (f", {failed} failed or over {SCRAPE_TIMEOUT:g} s" if failed else "")


def _ms(seconds: float) -> str:
    return "failed" if seconds == float("inf") else f"{seconds * 1000:.1f} ms"


def _web_setup(
    directory: Path, scheme: str, user: str, password: str
) -> tuple[dict[str, Any], list[str]]:
    """(config additions, extra arguments) for basic auth with `scheme`'s hash:
    'bcrypt' (--web.config.file, exporter-toolkit's format) or 'scrypt' (the config's old
    `web:` section)."""
    if scheme == "bcrypt":
        path = directory / "web-config.yml"
        users = {user: hash_password(password, cost=DEFAULT_BCRYPT_COST)}
        path.write_text(yaml.safe_dump({"basic_auth_users": users}))
        return {}, ["--web.config.file", str(path)]
    return {"web": {"basic_auth_users": {user: hash_scrypt_password(password)}}}, []


def bench_auth_under_attack(scheme: str = "bcrypt", scrapes: int = 50) -> list[Row]:
    """The valid scraper's /metrics latency: no attack, then ATTACK_RATE wrong passwords a
    second for the known user (the worst case: each one costs a full hash check). 'bcrypt':
    --web.config.file with a cost-10 hash; 'scrypt': the config's older web: section."""
    user, password = "prometheus", "the-right-password"
    directory = Path(tempfile.mkdtemp(prefix="pop3-bench-auth-"))
    try:
        extra, args = _web_setup(directory, scheme, user, password)
        config = {"mailboxes": _unreachable_mailboxes(ATTACK_MAILBOXES), **extra}
        exporter = start_exporter(config, directory, args=args, log_level="warning")
        try:
            authorization = _authorization(user, password)
            _scrape_latencies(exporter, authorization, 3)  # warm-up: the success is now cached
            quiet = _scrape_latencies(exporter, authorization, scrapes)
            with _Attacker(exporter.url, ATTACK_RATE, user) as attacker:
                time.sleep(2)  # let the attack reach its steady state
                attacked = _scrape_latencies(exporter, authorization, scrapes)
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(attacker.statuses.items()))
        finally:
            exporter.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    ratio = statistics.median(attacked) / statistics.median(quiet)
    shown = "inf" if ratio == float("inf") else f"{ratio:.2f}"
    return [
        (
            f"/metrics latency ({ATTACK_MAILBOXES:,} mailboxes, {scheme} basic auth) under "
            f"{ATTACK_RATE} wrong passwords/s",
            _summary(attacked) + f"; attack answers: {statuses}",
            "no attack: " + _summary(quiet),
            f"{shown}x (goal <= 2x)",
        )
    ]


# --- /metrics bytes and render time, with and without gzip ----------------------------------


def bench_metrics_gzip(mailboxes: int = 10_000, repeat: int = 5) -> list[Row]:
    """One steady scrape (5% re-polled) of the exporter, as /metrics answers it, against
    prometheus_client's own handler path for a plain registry with the same series:
    `generate_latest` then, when the scraper accepts gzip, `gzip.compress` (level 9)."""
    rng = random.Random(7)
    own = CollectorRegistry(auto_describe=False)
    SelfMetrics(own)
    views = _synthetic_views(mailboxes, rng)
    exposition = MailboxExposition()
    text = render_scrape(own, freeze(views), generate_latest, exposition)
    plain = _plain_registry(text.decode())

    def ours(gzipped: bool) -> bytes:
        body = render_scrape(own, freeze(next(steady)), generate_latest, exposition)
        return compress_body(body) if gzipped else body

    def theirs(gzipped: bool) -> bytes:
        body = generate_latest(plain)
        return gzip.compress(body) if gzipped else body

    rows: list[Row] = []
    for gzipped in (False, True):
        steady = iter([_repolled(views, 0.05, rng) for _ in range(repeat + 1)])
        size = len(ours(gzipped))
        cpu = _cpu_median(lambda g=gzipped: ours(g), repeat)
        their_size = len(theirs(gzipped))
        their_cpu = _cpu_median(lambda g=gzipped: theirs(g), repeat)
        label = "gzip" if gzipped else "identity"
        rows.append(
            (
                f"/metrics at {mailboxes:,} mailboxes, {label}: bytes on the wire, render CPU",
                f"{size / 1e6:.2f} MB, {cpu * 1000:.0f} ms",
                f"prometheus_client {their_size / 1e6:.2f} MB, {their_cpu * 1000:.0f} ms",
                f"{size / their_size:.2f}x bytes, {cpu / their_cpu:.2f}x CPU",
            )
        )
    level6 = _cpu_median(lambda: gzip.compress(text, compresslevel=6), repeat)
    level9 = _cpu_median(lambda: gzip.compress(text, compresslevel=9), repeat)
    rows.append(
        (
            f"gzip alone of that {len(text) / 1e6:.1f} MB text, level 9 (prometheus_client's)",
            f"{level9 * 1000:.0f} ms, {len(gzip.compress(text)) / 1e6:.2f} MB",
            f"level 6 (Go's default) {level6 * 1000:.0f} ms, "
            f"{len(gzip.compress(text, compresslevel=6)) / 1e6:.2f} MB",
            f"{level9 / level6:.2f}x CPU",
        )
    )
    return rows


if __name__ == "__main__":
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else "bcrypt"
    rows = bench_metrics_gzip() if what == "gzip" else bench_auth_under_attack(what)
    for row in rows:
        print(" | ".join(row))
