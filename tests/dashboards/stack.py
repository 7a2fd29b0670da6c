"""A real Prometheus for the end-to-end test (the exporter comes from tests/exporter/helpers.py).

It runs in its own process group and is ended by its pid, so a failed test leaves nothing
running. Waiting is always on a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.fixtures.ports import wait_for_port
from tests.fixtures.processes import stop_process_group

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@contextmanager
def running(
    argv: list[str], *, port: int, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv`, wait for it to listen on 127.0.0.1:port, stop it (and its group) at exit."""
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or _listening(port),
            timeout=20,
            what=f"{argv[0]} to listen on {port}",
            interval=0.05,
        )
        if process.poll() is not None:
            raise AssertionError(
                f"{argv[0]} exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        yield process
    finally:
        stop_process_group(process)


def _listening(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0)
    except TimeoutError:
        return False
    return True


def prometheus_argv(config: Path, data: Path, port: int) -> list[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise AssertionError("prometheus is not installed: run scripts/setup-system")
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


class PrometheusAPI:
    """The few calls of Prometheus's HTTP API the tests read, through urllib."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
                body = json.load(response)
        except urllib.error.HTTPError as err:
            raise AssertionError(
                f"{url}: {err.code} {err.read().decode(errors='replace')}"
            ) from None
        if body.get("status") != "success":
            raise AssertionError(f"{url}: {body}")
        return body["data"]

    def ready(self) -> bool:
        """Whether /-/ready says yes: the API answers 503 while the TSDB is still opening."""
        try:
            with urllib.request.urlopen(f"{self.base}/-/ready", timeout=5) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        return result

    def label_values(self, label: str, match: str) -> list[str]:
        values: list[str] = self.get(f"/api/v1/label/{label}/values", **{"match[]": match})
        return values

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        return [
            alert
            for alert in self.alerts()
            if alert["state"] == "firing"
            and alert["labels"].get("alertname") == alertname
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def targets_up(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self.get("/api/v1/targets", state="active")["activeTargets"]
        return [t for t in targets if t["health"] == "up"]
