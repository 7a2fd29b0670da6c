"""The HTTP side (aiohttp): /, /metrics, /probe, /-/healthy, /-/ready, POST /-/reload.

Optional basic auth (hashed passwords) guards everything but the two health endpoints, which
orchestrators call without credentials and which reveal nothing. Optional TLS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from . import __version__
from .collector import render_scrape
from .config import WebSettings
from .probe import run_probe
from .runtime import Exporter
from .status import render_status
from .webauth import PasswordVerifier

_LOGGER = logging.getLogger(__name__)
EXPORTER_KEY = web.AppKey("exporter", Exporter)
VERIFIER_KEY = web.AppKey("verifier", PasswordVerifier)
UNGUARDED = frozenset({"/-/healthy", "/-/ready"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_listen_address(text: str) -> tuple[str | None, int]:
    """':19110' -> (None, 19110) (all interfaces); '127.0.0.1:1' and '[::1]:1' as usual."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or :PORT, got {text!r}")
    host = host.strip("[]")
    return (host or None), int(port)


@web.middleware
async def _basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    verifier = request.app.get(VERIFIER_KEY)
    if verifier is None or request.path in UNGUARDED:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
        # scrypt is slow on purpose: keep it off the event loop.
        allowed = bool(username) and await asyncio.to_thread(verifier.verify, username, password)
        if allowed:
            return await handler(request)
    return web.Response(
        status=401,
        text="Unauthorized\n",
        headers={"WWW-Authenticate": 'Basic realm="pop3-exporter", charset="UTF-8"'},
    )


async def _status(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER_KEY]
    shard = exporter.scheduler.shard
    html = render_status(
        exporter.scheduler.states(),
        version=__version__,
        configured=len(exporter.config.mailboxes),
        shard=str(shard) if shard else None,
        reload_ok=exporter.reload_ok,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def _metrics(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER_KEY]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    # Copy the state here, render in a thread: a big exposition must not stall the polls.
    body = await asyncio.to_thread(
        render_scrape, exporter.registry, exporter.frozen_views(), encoder, exporter.exposition
    )
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _probe(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER_KEY]
    result = await run_probe(exporter.scheduler, request.query, request.headers)
    return web.Response(
        status=result.status, body=result.body, headers={"Content-Type": result.content_type}
    )


async def _healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def _ready(request: web.Request) -> web.Response:
    if request.app[EXPORTER_KEY].ready:
        return web.Response(text="Ready\n")
    return web.Response(status=503, text="Not ready\n")


async def _reload(request: web.Request) -> web.Response:
    error = await request.app[EXPORTER_KEY].reload()
    if error is not None:
        return web.Response(status=500, text=f"{error}\n")
    return web.Response(text="configuration reloaded\n")


def build_app(exporter: Exporter) -> web.Application:
    app = web.Application(middlewares=[_basic_auth])
    app[EXPORTER_KEY] = exporter
    users = exporter.config.web.basic_auth_users
    if users:
        app[VERIFIER_KEY] = PasswordVerifier(dict(users))
    app.router.add_get("/", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/probe", _probe)
    app.router.add_get("/-/healthy", _healthy)
    app.router.add_get("/-/ready", _ready)
    app.router.add_post("/-/reload", _reload)
    return app


def tls_context(settings: WebSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


async def start_site(exporter: Exporter, listen_address: str) -> web.AppRunner:
    """Start serving; returns the runner (call `cleanup()` to stop)."""
    host, port = parse_listen_address(listen_address)
    # A short shutdown timeout: SIGTERM must not wait for a slow /probe (its poll is cancelled).
    runner = web.AppRunner(
        build_app(exporter), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls_context(exporter.config.web))
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
