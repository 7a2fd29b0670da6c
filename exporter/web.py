"""The HTTP side (aiohttp): /, /metrics, /probe, /-/healthy, /-/ready, POST /-/reload.

Set up like exporter-toolkit's web configuration (`--web.config.file`): optional basic auth
(bcrypt hashes) guarding everything but the two health endpoints, which orchestrators call
without credentials and which reveal nothing; optional TLS; extra response headers. A reload
swaps users and headers at once and, when the TLS settings or files changed, re-opens the
listening socket with the new ones (connections already open keep theirs).

/metrics and /probe answer like prometheus_client's own handlers: the format the `Accept`
header asks for (OpenMetrics or text), gzip when `Accept-Encoding` allows it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client.exposition import choose_encoder, gzip_accepted

from . import __version__
from .collector import render_scrape
from .config import ExporterConfig, WebSettings
from .probe import run_probe
from .runtime import Exporter
from .status import render_status
from .webauth import AuthGate, PasswordVerifier

_LOGGER = logging.getLogger(__name__)
# With --log-level debug, one line per request: who, what, status, size, client, encoding.
# (The path's query is only ever ?mailbox=NAME; no header carrying credentials is logged.)
_ACCESS_LOGGER = logging.getLogger("pop3_exporter.access")
ACCESS_LOG_FORMAT = '%a "%r" %s %b "%{User-Agent}i" encoding=%{Content-Encoding}o'
UNGUARDED = frozenset({"/-/healthy", "/-/ready"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class WebState:
    """What a reload may change, read by every request."""

    verifier: PasswordVerifier | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gate: AuthGate = field(default_factory=AuthGate)

    def apply(self, settings: WebSettings) -> None:
        users = settings.basic_auth_users
        successes = self.verifier.successes if self.verifier is not None else None
        self.verifier = PasswordVerifier(dict(users), successes) if users else None
        self.headers = dict(settings.headers)


EXPORTER_KEY = web.AppKey("exporter", Exporter)
STATE_KEY = web.AppKey("web_state", WebState)


def parse_listen_address(text: str) -> tuple[str | None, int]:
    """':19110' -> (None, 19110) (all interfaces); '127.0.0.1:1' and '[::1]:1' as usual."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or :PORT, got {text!r}")
    host = host.strip("[]")
    return (host or None), int(port)


def compress_body(body: bytes) -> bytes:
    """gzip as prometheus_client's handlers do it (`gzip.compress`, level 9)."""
    return gzip.compress(body)


def _unauthorized() -> web.Response:
    # One answer for every refusal (no header, wrong scheme, unknown user, wrong password).
    return web.Response(
        status=401,
        text="Unauthorized\n",
        headers={"WWW-Authenticate": 'Basic realm="pop3-exporter", charset="UTF-8"'},
    )


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon and username else None


@web.middleware
async def _basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    verifier = state.verifier
    if verifier is None or request.path in UNGUARDED:
        return await handler(request)
    credentials = _credentials(request.headers.get("Authorization", ""))
    if credentials is None:
        return _unauthorized()
    allowed = await state.gate.allows(verifier, *credentials, client=request.remote or "")
    if allowed is None:  # the queue of checks is full: not checked, so neither yes nor no
        return web.Response(status=429, text="Too Many Requests\n", headers={"Retry-After": "1"})
    if not allowed:
        return _unauthorized()
    return await handler(request)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in request.app[STATE_KEY].headers.items():
        response.headers[name] = value


def _exposition_response(request: web.Request, body: bytes, content_type: str) -> web.Response:
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if gzip_accepted(request.headers.get("Accept-Encoding", "")):
        body = compress_body(body)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


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
    gzipped = gzip_accepted(request.headers.get("Accept-Encoding", ""))
    views = exporter.frozen_views()  # copied here, in the event loop

    def render() -> bytes:
        body = render_scrape(exporter.registry, views, encoder, exporter.exposition)
        return compress_body(body) if gzipped else body

    # Rendered (and compressed) in a thread: a big exposition must not stall the polls.
    body = await asyncio.to_thread(render)
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def _probe(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER_KEY]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    result = await run_probe(
        exporter.scheduler,
        request.query,
        request.headers,
        encoder=encoder,
        content_type=content_type,
    )
    if not result.exposition:  # an error, or ?debug=true: text for a person to read
        return web.Response(
            status=result.status, body=result.body, headers={"Content-Type": result.content_type}
        )
    return _exposition_response(request, result.body, result.content_type)


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


async def _close_gate(app: web.Application) -> None:
    await app[STATE_KEY].gate.close()


def build_app(exporter: Exporter) -> web.Application:
    app = web.Application(middlewares=[_basic_auth])
    app[EXPORTER_KEY] = exporter
    state = WebState()
    state.apply(exporter.config.web)
    app[STATE_KEY] = state
    app.on_response_prepare.append(_add_headers)
    app.on_cleanup.append(_close_gate)
    app.router.add_get("/", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/probe", _probe)
    app.router.add_get("/-/healthy", _healthy)
    app.router.add_get("/-/ready", _ready)
    app.router.add_post("/-/reload", _reload)
    return app


class WebServer:
    """The listening site and the app behind it; follows the exporter's reloads."""

    def __init__(self, exporter: Exporter, listen_address: str) -> None:
        self.exporter = exporter
        self.host, self.port = parse_listen_address(listen_address)
        self.app = build_app(exporter)
        # A short shutdown timeout: SIGTERM must not wait for a slow /probe (its poll is
        # cancelled).
        debug = _ACCESS_LOGGER.isEnabledFor(logging.DEBUG)
        self.runner = web.AppRunner(
            self.app,
            access_log=_ACCESS_LOGGER if debug else None,
            access_log_format=ACCESS_LOG_FORMAT,
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        self._settings = exporter.config.web
        self._site: web.TCPSite | None = None

    @property
    def tls(self) -> bool:
        return self._settings.tls_context is not None

    async def start(self) -> None:
        await self.runner.setup()
        try:
            await self._open(self._settings)
        except BaseException:
            await self.runner.cleanup()
            raise
        self.exporter.reload_listeners.append(self.apply)

    async def _open(self, settings: WebSettings) -> None:
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=settings.tls_context)
        await site.start()
        self._site = site
        if self.port == 0:  # keep the port the system chose when the socket is re-opened
            self.port = int(self.runner.addresses[0][1])

    async def apply(self, config: ExporterConfig) -> None:
        """A reload is in force: new users and headers now, new TLS for new connections."""
        settings = config.web
        self.app[STATE_KEY].apply(settings)
        if settings.fingerprint == self._settings.fingerprint:
            self._settings = settings
            return
        old, self._settings = self._settings, settings
        if self._site is not None:
            await self._site.stop()
            self._site = None
        try:
            await self._open(settings)
        except OSError as err:
            _LOGGER.error("cannot listen with the new TLS settings: %s", err.strerror or err)
            self._settings = old
            await self._open(old)
            return
        _LOGGER.info("HTTP side re-opened: %s", "HTTPS" if self.tls else "plain HTTP")

    async def stop(self) -> None:
        if self.apply in self.exporter.reload_listeners:
            self.exporter.reload_listeners.remove(self.apply)
        await self.runner.cleanup()


async def start_site(exporter: Exporter, listen_address: str) -> WebServer:
    """Start serving; returns the server (call `stop()` to stop)."""
    server = WebServer(exporter, listen_address)
    await server.start()
    return server
