"""Start a real `pop3-exporter` process for end-to-end tests (reused by tests/dashboards).

from tests.exporter.helpers import mailbox_entry, running_exporter

config = {"mailboxes": [mailbox_entry("work", dovecot, user)]}
with running_exporter(config, tmp_path) as exporter:
    text = exporter.get("/metrics").text
    exporter.wait_for_metric('pop3_up{mailbox="work"}', lambda v: v == 1)
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.ports import free_port

REPO = Path(__file__).resolve().parents[2]

_octets = itertools.count(random.randint(1, 200) * 256)


def fresh_source_address() -> str:
    """A loopback address of our own: Dovecot's auth-failure penalty is per source address."""
    n = next(_octets)
    return f"127.{101 + (n >> 16) % 100}.{(n >> 8) % 256}.{n % 254 + 1}"


def exporter_command() -> list[str]:
    """The installed console script (next to this Python), else `python -m`."""
    script = Path(sys.executable).with_name("pop3-exporter")
    if script.exists():
        return [str(script)]
    found = shutil.which("pop3-exporter")
    return [found] if found else [sys.executable, "-m", "pop3_exporter.cli"]


def mailbox_entry(name: str, dovecot: Any, user: Any, **settings: Any) -> dict[str, Any]:
    """A config entry for a DovecotUser on the harness's Dovecot, over POP3S with its CA."""
    entry: dict[str, Any] = {
        "name": name,
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "username": user.username,
        "password": user.password,
        "ca_file": str(dovecot.ca_file),
        "interval": 2,
        "timeout": 2,
    }
    entry.update(settings)
    return entry


@dataclass
class Response:
    status: int
    text: str
    headers: Mapping[str, str]


def parse_metrics(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for the samples of an exposition (labels as printed)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples


def series(samples: Mapping[str, float], metric: str) -> dict[str, float]:
    """The samples of one metric name (any labels)."""
    pattern = re.compile(rf"^{re.escape(metric)}(\{{|$)")
    return {k: v for k, v in samples.items() if pattern.match(k)}


def up(samples: dict[str, float]) -> dict[str, float]:
    """pop3_up by mailbox name."""
    return {k.split('"')[1]: v for k, v in series(samples, "pop3_up").items()}


class ExporterProcess:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        config_path: Path,
        *,
        tls_ca: Path | None = None,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.config_path = config_path
        self.tls = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
        # Sent with every request unless overridden (e.g. the scraper's Authorization).
        self.default_headers: dict[str, str] = {}
        self.url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        request = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            self.url + path, method=method, headers={**self.default_headers, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls) as reply:  # noqa: S310
                return Response(reply.status, reply.read().decode(), dict(reply.headers))
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read().decode(), dict(err.headers))

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.get("/metrics").text)

    def wait_for(
        self, condition: Callable[[dict[str, float]], bool], *, timeout: float = 20.0
    ) -> dict[str, float]:
        """Poll /metrics until `condition(samples)` holds; fail with the last samples."""
        deadline = time.monotonic() + timeout
        samples: dict[str, float] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exporter exited with {self.process.returncode}:\n{self.log}")
            samples = self.metrics()
            if condition(samples):
                return samples
            time.sleep(0.2)
        pop3 = {k: v for k, v in samples.items() if k.startswith("pop3_") and "_bucket" not in k}
        raise AssertionError(
            f"condition not met within {timeout}s; last pop3 samples: {pop3}\nlog:\n{self.log}"
        )

    def wait_for_metric(
        self, key: str, check: Callable[[float], bool] = lambda v: True, *, timeout: float = 20.0
    ) -> float:
        samples = self.wait_for(lambda s: key in s and check(s[key]), timeout=timeout)
        return samples[key]

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_exporter(
    config: Mapping[str, Any] | str | Path,
    directory: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_level: str = "debug",
    ready_timeout: float = 20.0,
    tls_ca: Path | None = None,
) -> ExporterProcess:
    """Write the config (a dict, YAML text, or an existing file), start the exporter on a free
    loopback port and wait until /-/ready answers. Call `.stop()` (or use `running_exporter`).

    `tls_ca`: the exporter serves HTTPS (config `web.tls_*`); verify it against this CA.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Path):
        config_path = config
    else:
        config_path = directory / f"exporter-{time.monotonic_ns()}.yml"
        text = config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False)
        config_path.write_text(text)
    port = free_port()
    log_path = directory / f"exporter-{port}.log"
    command = [
        *exporter_command(),
        "--config",
        str(config_path),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log-level",
        log_level,
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PYTHONWARNINGS": "default"},
            cwd=REPO,
        )
    exporter = ExporterProcess(process, port, log_path, config_path, tls_ca=tls_ca)
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"exporter exited with {process.returncode}:\n{exporter.log}")
        try:
            if exporter.get("/-/ready", timeout=2).status == 200:
                return exporter
        except OSError:
            pass
        if time.monotonic() > deadline:
            exporter.stop()
            raise RuntimeError(f"exporter not ready after {ready_timeout}s:\n{exporter.log}")
        time.sleep(0.05)


@contextmanager
def running_exporter(
    config: Mapping[str, Any] | str | Path, directory: Path, **kwargs: Any
) -> Iterator[ExporterProcess]:
    exporter = start_exporter(config, directory, **kwargs)
    try:
        yield exporter
    finally:
        exporter.stop()


class PrometheusProcess:
    """A real Prometheus (Debian package) on a free loopback port with a temp TSDB."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, expression: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (each item has 'metric' and 'value')."""
        from urllib.parse import urlencode

        url = f"{self.url}/api/v1/query?{urlencode({'query': expression})}"
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 (loopback)
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_for_query(
        self,
        expression: str,
        condition: Callable[[list[dict[str, Any]]], bool],
        *,
        timeout: float = 40.0,
    ) -> list[dict[str, Any]]:
        """Query until `condition(result)` holds (the first scrape comes ~6 s after start)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log}")
            result = self.query(expression)
            if condition(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{expression}: condition not met in {timeout}s; last: {result}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_prometheus(
    scrape_configs: Sequence[Mapping[str, Any]], directory: Path, *, interval: str = "1s"
) -> Iterator[PrometheusProcess]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [dict(c) for c in scrape_configs],
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    prometheus = PrometheusProcess(process, port, log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus did not start:\n{prometheus.log}") from None
                time.sleep(0.1)
        yield prometheus
    finally:
        prometheus.stop()
