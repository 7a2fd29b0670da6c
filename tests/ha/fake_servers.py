"""Hand-written loopback servers for the two cases the honest Dovecot cannot play.

- `silent_server`: accepts connections and never says a word (a hung server), for timeouts.
- `no_stls_server`: a POP3 greeting and a CAPA without STLS, for "the server requires STARTTLS
  but does not offer it": the client must stop before sending any credentials.
Both listen on 127.0.0.1 only and close every connection when the test leaves the context.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class FakeServer:
    port: int
    received: list[bytes] = field(default_factory=list)  # every line a client sent


@asynccontextmanager
async def _serve(
    handler_factory: type[_Handler],
) -> AsyncIterator[FakeServer]:
    fake = FakeServer(port=0)
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await handler_factory(fake, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    try:
        yield fake
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await server.wait_closed()


class _Handler:
    def __init__(
        self, fake: FakeServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.fake, self.reader, self.writer = fake, reader, writer

    async def run(self) -> None:
        raise NotImplementedError


class _Silent(_Handler):
    async def run(self) -> None:
        while line := await self.reader.readline():  # until the client gives up and closes
            self.fake.received.append(line)


class _NoStls(_Handler):
    async def run(self) -> None:
        self.writer.write(b"+OK POP3 server without STLS ready\r\n")
        while line := await self.reader.readline():
            self.fake.received.append(line)
            command = line.strip().split(b" ")[0].upper()
            if command == b"CAPA":
                self.writer.write(b"+OK Capability list follows\r\nUSER\r\nTOP\r\n.\r\n")
            elif command == b"QUIT":
                self.writer.write(b"+OK bye\r\n")
                await self.writer.drain()
                return
            else:
                self.writer.write(b"-ERR not supported here\r\n")
            await self.writer.drain()


def silent_server() -> AbstractAsyncContextManager[FakeServer]:
    return _serve(_Silent)


def no_stls_server() -> AbstractAsyncContextManager[FakeServer]:
    return _serve(_NoStls)
