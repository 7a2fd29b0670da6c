"""The HTTP side against real clients, from one exporter-toolkit `web-config.yml`: Prometheus 2.42
(itself started with `--web.config.file` of the same file) scrapes the exporter over HTTPS with
basic auth and gzip; curl gets gzip with `--compressed` and one 401 for every wrong credential;
the README's web-config.yml serves pop3-exporter and blackbox_exporter alike; a SIGHUP brings in
new users and a new certificate; a flood of wrong passwords does not keep a new scraper out."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import signal
import ssl
import subprocess
import urllib.error
import urllib.parse
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
from tests.dashboards.stack import running, wait_until
from tests.exporter.helpers import (
    REPO,
    ExporterProcess,
    mailbox_entry,
    parse_metrics,
    start_exporter,
)
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.ports import free_port

SCRAPER, SCRAPER_PASSWORD = "prometheus", "scrape-secret-7fq2"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """server.crt, server.key, ca.crt and a web-config.yml with relative paths, as in README."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    write_web_config(tmp_path, {SCRAPER: hash_password(SCRAPER_PASSWORD)})
    return tmp_path


def authorization(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_web_config(directory: Path, users: dict[str, str]) -> Path:
    path = directory / "web-config.yml"
    document = {
        "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        "basic_auth_users": users,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@contextmanager
def exporter_with(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> Iterator[ExporterProcess]:
    """pop3-exporter with --web.config.file; ready once /-/ready answers over HTTPS."""
    config = {"mailboxes": [mailbox_entry("home", dovecot, mailbox)]}
    exporter = start_exporter(
        config,
        web_dir / "exporter",
        args=["--web.config.file", str(web_dir / "web-config.yml")],
        tls_ca=web_dir / "ca.crt",
    )
    token = base64.b64encode(f"{SCRAPER}:{SCRAPER_PASSWORD}".encode()).decode()
    exporter.default_headers = {"Authorization": f"Basic {token}"}
    try:
        yield exporter
    finally:
        exporter.stop()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )


def split_reply(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """curl -i output: status, headers (lower-cased names), body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_curl_compressed_gets_gzip_and_every_wrong_credential_the_same_401(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    with exporter_with(web_dir, dovecot, mailbox) as exporter:
        exporter.wait_for_metric('pop3_up{mailbox="home"}', lambda v: v == 1)
        url = f"{exporter.url}/metrics"
        tls = ("--cacert", str(web_dir / "ca.crt"))

        decoded = curl(*tls, "--compressed", "-u", f"{SCRAPER}:{SCRAPER_PASSWORD}", "-i", url)
        status, headers, body = split_reply(decoded.stdout)
        assert status == 200, decoded.stderr
        assert headers["content-encoding"] == "gzip"  # curl decompressed it...
        assert parse_metrics(body.decode())['pop3_up{mailbox="home"}'] == 1
        assert headers["x-content-type-options"] == "nosniff"
        raw = curl(*tls, "-H", "Accept-Encoding: gzip", "-u", f"{SCRAPER}:{SCRAPER_PASSWORD}", url)
        assert raw.stdout[:2] == b"\x1f\x8b"  # ...and the bytes on the wire were gzip
        assert len(raw.stdout) < len(body) / 3

        refusals = []
        for credentials in (
            f"{SCRAPER}:wrong-password",
            f"nobody:{SCRAPER_PASSWORD}",
            "nobody:wrong-password",
        ):
            reply = curl(*tls, "-u", credentials, "-i", url)
            status, headers, body = split_reply(reply.stdout)
            refusals.append((status, headers["www-authenticate"], body))
        refusals.append(split_reply(curl(*tls, "-i", url).stdout)[:1] + refusals[0][1:])
        assert len(set(refusals)) == 1  # one answer whoever asks: users cannot be told apart
        assert refusals[0][0] == 401
        assert refusals[0][2] == b"Unauthorized\n"
        # Plain HTTP on the HTTPS port gets no metrics.
        assert b"pop3_up" not in curl(url.replace("https", "http")).stdout
        exporter.stop()
        # Neither the right password nor a wrong one is logged, even at debug level.
        assert SCRAPER_PASSWORD not in exporter.log
        assert "wrong-password" not in exporter.log
        assert '"GET /metrics HTTP/1.1" 401' in exporter.log


@contextmanager
def prometheus_serving(web_config: Path, scrape: dict[str, Any], directory: Path) -> Iterator[int]:
    """Prometheus 2.42 serving HTTPS + basic auth from `web_config`, scraping with `scrape`."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run scripts/setup-system")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [scrape]})
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.config.file={web_config}",
    ]
    with running(argv, port=port, log=directory / "prometheus.log"):
        yield port


def prometheus_query(port: int, context: ssl.SSLContext, expression: str) -> list[Any]:
    url = f"https://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    token = base64.b64encode(f"{SCRAPER}:{SCRAPER_PASSWORD}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as reply:  # noqa: S310
        body = json.load(reply)
    return list(body["data"]["result"])


def test_prometheus_scrapes_over_https_with_basic_auth_and_gzip_from_the_shared_web_config(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    dovecot.deliver(mailbox)
    context = ssl.create_default_context(cafile=str(web_dir / "ca.crt"))
    with exporter_with(web_dir, dovecot, mailbox) as exporter:
        exporter.wait_for_metric('pop3_up{mailbox="home"}', lambda v: v == 1)
        scrape = {
            "job_name": "pop3",
            "scheme": "https",
            "tls_config": {"ca_file": str(web_dir / "ca.crt")},
            "basic_auth": {"username": SCRAPER, "password": SCRAPER_PASSWORD},
            "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
        }
        # The same file configures Prometheus's own HTTPS and basic auth.
        with prometheus_serving(web_dir / "web-config.yml", scrape, web_dir / "prom") as port:
            result = wait_until(
                lambda: _query_or_none(port, context, 'pop3_messages{job="pop3"}'),
                timeout=40,
                what="Prometheus to scrape pop3_messages over HTTPS",
            )
            assert result[0]["metric"]["mailbox"] == "home"
            assert float(result[0]["value"][1]) >= 1
            up = prometheus_query(port, context, 'up{job="pop3"}')
            assert up[0]["value"][1] == "1"
            # Prometheus's own API refuses a request without the file's credentials.
            bare = urllib.request.Request(f"https://127.0.0.1:{port}/api/v1/status/buildinfo")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(bare, context=context, timeout=10)  # noqa: S310
            assert refused.value.code == 401
        # Prometheus asked for gzip and got it (the exporter's access log, at debug level).
        scrapes = [
            line
            for line in exporter.log.splitlines()
            if '"GET /metrics HTTP/1.1" 200' in line and "Prometheus/" in line
        ]
        assert scrapes, exporter.log[-3000:]
        assert all(line.endswith("encoding=gzip") for line in scrapes)


def _query_or_none(port: int, context: ssl.SSLContext, expression: str) -> list[Any] | None:
    try:
        return prometheus_query(port, context, expression) or None
    except (OSError, urllib.error.URLError):
        return None


def readme_web_config() -> dict[str, Any]:
    """The web-config.yml the README shows (the block that starts with its path comment)."""
    text = (REPO / "README.md").read_text()
    block = next(
        part.split("```", 1)[0]
        for part in text.split("```yaml\n")[1:]
        if part.startswith("# /etc/prometheus/web-config.yml")
    )
    document: dict[str, Any] = yaml.safe_load(block)
    return document


def test_the_readme_web_config_serves_pop3_exporter_and_blackbox_exporter_alike(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        pytest.fail("blackbox_exporter is not installed: run scripts/setup-system")
    document = readme_web_config()
    tls = document["tls_server_config"]
    (web_dir / "server.crt").rename(web_dir / tls["cert_file"])
    (web_dir / "server.key").rename(web_dir / tls["key_file"])
    assert set(document["basic_auth_users"]) == {SCRAPER}
    document["basic_auth_users"] = {SCRAPER: hash_password(SCRAPER_PASSWORD)}
    (web_dir / "web-config.yml").write_text(yaml.safe_dump(document))

    modules = web_dir / "blackbox.yml"
    modules.write_text(yaml.safe_dump({"modules": {"tcp": {"prober": "tcp"}}}))
    port = free_port()
    argv = [
        binary,
        f"--config.file={modules}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.config.file={web_dir / 'web-config.yml'}",
    ]
    ca = ("--cacert", str(web_dir / "ca.crt"))
    with (
        running(argv, port=port, log=web_dir / "blackbox.log"),
        exporter_with(web_dir, dovecot, mailbox) as exporter,
    ):
        for url in (f"https://127.0.0.1:{port}/metrics", f"{exporter.url}/metrics"):
            good = curl(*ca, "--compressed", "-u", f"{SCRAPER}:{SCRAPER_PASSWORD}", "-i", url)
            status, headers, _ = split_reply(good.stdout)
            assert status == 200, (url, good.stderr)
            assert headers["strict-transport-security"] == "max-age=31536000", url
            assert headers["x-content-type-options"] == "nosniff", url
            assert split_reply(curl(*ca, "-u", f"{SCRAPER}:nope", "-i", url).stdout)[0] == 401


def test_sighup_brings_in_new_users_and_a_new_certificate_and_a_bad_file_changes_nothing(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    with exporter_with(web_dir, dovecot, mailbox) as exporter:
        old = {
            "Authorization": "Basic " + base64.b64encode(b"prometheus:scrape-secret-7fq2").decode()
        }
        new = {"Authorization": "Basic " + base64.b64encode(b"grafana:rotated-9x").decode()}
        assert exporter.get("/metrics", headers=old).status == 200

        # New users, and a certificate from another CA (a renewal).
        ca2 = trustme.CA()
        leaf = ca2.issue_cert("127.0.0.1")
        leaf.cert_chain_pems[0].write_to_path(str(web_dir / "server.crt"))
        leaf.private_key_pem.write_to_path(str(web_dir / "server.key"))
        write_web_config(web_dir, {"grafana": hash_password("rotated-9x", cost=4)})
        exporter.send_signal(signal.SIGHUP)
        renewed = ssl.create_default_context(cadata=ca2.cert_pem.bytes().decode())
        exporter.tls = renewed  # the client now trusts only the new CA
        wait_until(
            lambda: _status(exporter, new) == 200, timeout=20, what="the reloaded user and cert"
        )
        assert exporter.get("/metrics", headers=old).status == 401

        # A broken file: the reload fails, everything stays as it was.
        (web_dir / "web-config.yml").write_text("basic_auth_users: {grafana: plaintext}\n")
        exporter.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "reload failed" in exporter.log, timeout=20, what="the failed reload's log"
        )
        samples = parse_metrics(exporter.get("/metrics", headers=new).text)
        assert samples["pop3_exporter_config_last_reload_successful"] == 0
        assert "basic_auth_users.grafana: expected a bcrypt hash" in exporter.log


def _status(exporter: ExporterProcess, headers: dict[str, str]) -> int | None:
    try:
        return exporter.get("/metrics", headers=headers, timeout=5).status
    except OSError:
        return None


def test_the_old_web_section_with_scrypt_hashes_keeps_working(
    tmp_path: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    from pop3_exporter.webauth import hash_scrypt_password

    config = {
        "web": {"basic_auth_users": {"prom": hash_scrypt_password("legacy-pw")}},
        "mailboxes": [mailbox_entry("home", dovecot, mailbox)],
    }
    exporter = start_exporter(config, tmp_path)
    try:
        token = base64.b64encode(b"prom:legacy-pw").decode()
        assert exporter.get("/metrics", headers={"Authorization": f"Basic {token}"}).status == 200
        assert exporter.get("/metrics").status == 401
    finally:
        exporter.stop()


async def test_a_new_scraper_gets_in_while_another_address_floods_wrong_passwords(
    web_dir: Path, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """The scraper's first request (nothing cached) from 127.0.0.2 is checked and answered 200
    while 127.0.0.1 keeps 400 wrong-password requests in flight; the flood gets 401s and 429s."""
    context = ssl.create_default_context(cafile=str(web_dir / "ca.crt"))
    good = authorization(SCRAPER, SCRAPER_PASSWORD)
    with exporter_with(web_dir, dovecot, mailbox) as exporter:
        url = f"{exporter.url}/metrics"
        flood_connector = aiohttp.TCPConnector(ssl=context, limit=0)
        scraper_connector = aiohttp.TCPConnector(ssl=context, local_addr=("127.0.0.2", 0))
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(connector=flood_connector, timeout=timeout) as flood,
            aiohttp.ClientSession(connector=scraper_connector, timeout=timeout) as scraper,
        ):

            async def guess(n: int) -> int:
                async with flood.get(url, headers=authorization(SCRAPER, f"guess-{n}")) as reply:
                    await reply.read()
                    return reply.status

            guesses = [asyncio.create_task(guess(n)) for n in range(400)]
            await asyncio.sleep(0.5)  # the flood is under way, the queue full
            async with scraper.get(url, headers=good) as reply:
                scraped = reply.status, await reply.text()
            flood_statuses = set(await asyncio.gather(*guesses))
    assert scraped[0] == 200
    assert "pop3_exporter_build_info" in scraped[1]
    assert flood_statuses <= {401, 429}
    assert 429 in flood_statuses  # refused unchecked: the flood paid, not the scraper
