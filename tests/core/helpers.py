"""Small helpers for the core tests: leak checks and a recording TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.asynccontextmanager
async def no_leaks() -> AsyncIterator[None]:
    """Asserts that the block leaves no extra task and no extra open file descriptor."""
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    fds_before = open_fds()
    yield
    for _ in range(50):  # transports close on a later loop iteration
        await asyncio.sleep(0.01)
        extra_tasks = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
        if open_fds() <= fds_before and not extra_tasks:
            return
    assert not extra_tasks, f"tasks left behind: {extra_tasks}"
    assert open_fds() <= fds_before, f"file descriptors leaked: {fds_before} -> {open_fds()}"


@dataclass
class RecordingProxy:
    """Forwards loopback TCP to a server and records every byte the client sent."""

    target_port: int
    client_bytes: bytearray = field(default_factory=bytearray)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def client_lines(self) -> list[str]:
        return bytes(self.client_bytes).decode("ascii", "replace").splitlines()

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            try:
                while data := await src.read(65536):
                    if record:
                        self.client_bytes.extend(data)
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
