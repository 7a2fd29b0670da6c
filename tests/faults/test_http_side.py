"""The exporter's HTTP side, end to end against the real process: basic auth, TLS, and 1,000
concurrent /probe calls for one mailbox that never open more sessions than the per-server limit.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
import yaml

from pop3_exporter.webauth import hash_password
from tests.exporter.helpers import (
    REPO,
    exporter_command,
    mailbox_entry,
    parse_metrics,
    running_exporter,
)
from tests.fixtures.background import BackgroundLoop, CountingScriptedServer
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.ports import free_port

GUARDED = [("GET", "/metrics"), ("GET", "/"), ("GET", "/probe?mailbox=web"), ("POST", "/-/reload")]


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_answers_401_without_the_right_credentials(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    http_password = f"scrape-{secrets.token_hex(8)}"
    config = {
        "web": {"basic_auth_users": {"prometheus": hash_password(http_password)}},
        "mailboxes": [mailbox_entry("web", dovecot, mailbox, interval=3600)],
    }
    with running_exporter(config, tmp_path, log_level="debug") as exporter:
        refusals = {
            "none": {},
            "wrong password": _basic("prometheus", "not-it"),
            "unknown user": _basic("grafana", http_password),
            "not base64": {"Authorization": "Basic %%%"},
            "another scheme": {"Authorization": f"Bearer {http_password}"},
        }
        for method, path in GUARDED:
            for why, headers in refusals.items():
                reply = exporter.get(path, method=method, headers=headers)
                assert reply.status == 401, (path, why)
                assert reply.headers["WWW-Authenticate"].startswith("Basic ")
                assert "web" not in reply.text  # nothing about the mailboxes
        for path in ("/-/healthy", "/-/ready"):  # orchestrators call these without credentials
            assert exporter.get(path).status == 200
        good = _basic("prometheus", http_password)
        assert exporter.get("/metrics", headers=good).status == 200
        assert "pop3_polls_total" in exporter.get("/metrics", headers=good).text
        probe = exporter.get("/probe?mailbox=web", headers=good)
        assert parse_metrics(probe.text)["probe_success"] == 1
        exporter.stop()
        assert http_password not in exporter.log


@contextmanager
def _tls_exporter(config: dict[str, Any], directory: Path, ca: trustme.CA) -> Iterator[str]:
    """The exporter serving HTTPS; yields its base URL once /-/ready answers over TLS."""
    config_path = directory / "tls.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = directory / "tls-exporter.log"
    context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *exporter_command(),
                "--config",
                str(config_path),
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log-level",
                "debug",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", context=context, timeout=2):  # noqa: S310
                    break
            except OSError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _fetch(url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:  # noqa: S310
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_tls_on_the_http_side_serves_https_only_and_keeps_basic_auth(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "web.crt", tmp_path / "web.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    http_password = f"tls-{secrets.token_hex(8)}"
    config = {
        "web": {
            "tls_cert_file": str(cert),
            "tls_key_file": str(key),
            "basic_auth_users": {"prometheus": hash_password(http_password)},
        },
        "mailboxes": [mailbox_entry("web", dovecot, mailbox, interval=3600)],
    }
    trusted = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    with _tls_exporter(config, tmp_path, ca) as url:
        assert _fetch(f"{url}/metrics", trusted) == 401
        assert _fetch(f"{url}/metrics", trusted, _basic("prometheus", http_password)) == 200
        assert _fetch(f"{url}/-/healthy", trusted) == 200
        port = int(url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            trusted.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket,
        ):
            assert tls_socket.version() in ("TLSv1.2", "TLSv1.3")
        # A client that does not trust the certificate is refused by its own verification...
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _fetch(f"{url}/-/healthy", ssl.create_default_context())
        # ...and plain HTTP on the TLS port gets no HTTP answer at all.
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(url.replace("https", "http") + "/metrics", timeout=5)  # noqa: S310


PROBES = 1000
PER_SERVER_LIMIT = 2


async def test_a_thousand_concurrent_probes_never_exceed_the_per_server_limit(
    tmp_path: Path,
) -> None:
    """Measured at the server: the most sessions it ever had open at once."""
    with BackgroundLoop() as background:
        server = CountingScriptedServer()
        background.run(server.start())
        try:
            config = {
                "max_concurrent_polls": 50,
                "max_connections_per_server": PER_SERVER_LIMIT,
                "mailboxes": [
                    {
                        "name": "busy",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "username": "ana",
                        "password": "scripted-secret",
                        "tls_mode": "plain",
                        "allow_insecure_auth": True,
                        "interval": "1h",
                        "timeout": "30s",
                    }
                ],
            }
            with running_exporter(config, tmp_path, log_level="info") as exporter:
                connector = aiohttp.TCPConnector(limit=0)
                timeout = aiohttp.ClientTimeout(total=120)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

                    async def probe() -> tuple[int, str]:
                        async with http.get(f"{exporter.url}/probe?mailbox=busy") as reply:
                            return reply.status, await reply.text()

                    started = time.monotonic()
                    answers = await asyncio.gather(*(probe() for _ in range(PROBES)))
                    elapsed = time.monotonic() - started
                assert exporter.process.poll() is None, exporter.log
        finally:
            background.run(server.stop())
    statuses = [status for status, _ in answers]
    assert statuses == [200] * PROBES
    successes = [parse_metrics(text)["probe_success"] for _, text in answers]
    assert successes == [1.0] * PROBES
    assert server.connections >= PROBES  # every probe was a real session...
    assert 1 <= server.max_live <= PER_SERVER_LIMIT  # ...and never more than the limit at once
    print(f"{PROBES} probes in {elapsed:.1f} s; at most {server.max_live} sessions at once")
