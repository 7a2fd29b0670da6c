"""Running the exporter as a process: web server, scheduler, and the signals that steer them.

SIGTERM and SIGINT stop gracefully (running polls end with QUIT, the state file is written);
SIGHUP reloads the configuration like POST /-/reload.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from .allocator import keep_mmap_threshold
from .runtime import Exporter
from .web import WebServer, start_site

_LOGGER = logging.getLogger("pop3_exporter")


def base_url(server: WebServer) -> str:
    """The URL a person can open, from the address actually bound (port 0 becomes real)."""
    scheme = "https" if server.tls else "http"
    addresses = server.runner.addresses
    address = addresses[0] if addresses else ("127.0.0.1", 0)
    host, port = str(address[0]), int(address[1])
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 (bound already; this picks a URL)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


async def serve(
    exporter: Exporter, listen_address: str, banner: Callable[[str], str] | None = None
) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration."""
    if keep_mmap_threshold():
        _LOGGER.debug("large buffers are returned to the system when freed (mmap threshold)")
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[object]] = set()

    def reload() -> None:
        task: asyncio.Task[object] = asyncio.create_task(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    await exporter.start()
    try:
        server = await start_site(exporter, listen_address)
    except OSError as err:
        _LOGGER.error("cannot listen on %s: %s", listen_address, err.strerror or err)
        await exporter.stop()
        return 1
    _LOGGER.info("listening on %s", base_url(server))
    if banner is not None:
        print(banner(base_url(server)), flush=True)
    try:
        await stopping.wait()
        _LOGGER.info("shutting down")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await asyncio.gather(*reloads, return_exceptions=True)
        # Together: in-flight requests and running polls get their grace at the same time.
        await asyncio.gather(server.stop(), exporter.stop())
    _LOGGER.info("stopped")
    return 0
