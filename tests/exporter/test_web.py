"""The HTTP app in process: basic auth guards everything but the health checks, a reload with no
file fails visibly; the listen address and the scrape timeout header parsed."""

from __future__ import annotations

import base64

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pop3_exporter.config import build_config
from pop3_exporter.probe import scrape_timeout
from pop3_exporter.runtime import Exporter
from pop3_exporter.web import build_app, parse_listen_address
from pop3_exporter.webauth import hash_password


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "10"}, 9.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "0.2"}, 1.0),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, None),
    ],
)
def test_scrape_timeout_leaves_a_margin(headers: dict[str, str], expected: float | None) -> None:
    assert scrape_timeout(headers) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [(":19110", (None, 19110)), ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:9", ("::1", 9))],
)
def test_listen_addresses(text: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen_address(text) == expected


async def test_basic_auth_guards_everything_but_health() -> None:
    config = build_config(
        {
            "web": {"basic_auth_users": {"prom": hash_password("s3cret")}},
            "mailboxes": [
                {"name": "a", "host": "h", "username": "u", "password": "p", "interval": 3600}
            ],
        }
    )
    exporter = Exporter(config)
    async with TestClient(TestServer(build_app(exporter))) as client:
        for path in ("/", "/metrics", "/probe?mailbox=a"):
            reply = await client.get(path)
            assert reply.status == 401, path
            assert reply.headers["WWW-Authenticate"].startswith("Basic")
        good = base64.b64encode(b"prom:s3cret").decode()
        bad = base64.b64encode(b"prom:wrong").decode()
        assert (
            await client.get("/metrics", headers={"Authorization": f"Basic {bad}"})
        ).status == 401
        reply = await client.get("/metrics", headers={"Authorization": f"Basic {good}"})
        assert reply.status == 200
        assert "pop3_exporter_build_info" in await reply.text()
        assert (await client.get("/-/healthy")).status == 200
        assert (await client.get("/-/ready")).status == 503  # not started
        reload = await client.post("/-/reload", headers={"Authorization": f"Basic {good}"})
        assert reload.status == 500  # no file to reload from
        metrics = await client.get("/metrics", headers={"Authorization": f"Basic {good}"})
        assert "pop3_exporter_config_last_reload_successful 0.0" in await metrics.text()
