"""The byte level: a bounded, buffered asyncio protocol for POP3 replies.

Reads are bounded everywhere: a status line by RFC 2449's 512 octets, a multi-line reply by a cap
on the whole reply (its lines are message content and may be long). Before a TLS upgrade the read
buffer is discarded, so plaintext injected after `+OK` to STLS is never taken as a reply.
"""

from __future__ import annotations

import asyncio
import re
import ssl

from .errors import ProtocolError, ServerDisconnectedError

_END_OF_MULTILINE = b"\r\n.\r\n"
_STUFFED_DOT = re.compile(rb"^\.", re.MULTILINE)  # RFC 1939: a line starting "." got one more
_HIGH_WATER = 256 * 1024  # stop reading from the socket while this much is unread
_COMPACT_AT = 64 * 1024


class Pop3Protocol(asyncio.Protocol):
    """Buffers what the server sends and hands it out as lines and multi-line blocks."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._start = 0  # bytes before this offset have been consumed
        self._waiter: asyncio.Future[None] | None = None
        self._closed: BaseException | None = None
        self._paused = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) - self._start > _HIGH_WATER and self.transport and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._closed = self._closed or ServerDisconnectedError("server closed the connection")
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = self._closed or ServerDisconnectedError(
            "connection lost" + (f": {exc}" if exc else "")
        )
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # reading

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._start

    async def _wait_for_data(self) -> None:
        if self._closed is not None:
            raise self._closed
        if self._paused and self.transport is not None:
            self.transport.resume_reading()
            self._paused = False
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _take(self, end: int) -> bytes:
        data = bytes(self._buffer[self._start : end])
        self._start = end
        if self._start >= _COMPACT_AT and self._start * 2 >= len(self._buffer):
            del self._buffer[: self._start]
            self._start = 0
        return data

    async def read_line(self, limit: int) -> bytes:
        """One line including its LF. More than `limit` octets without one is a protocol error."""
        scanned = self._start
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end >= 0:
                if end + 1 - self._start > limit:
                    raise ProtocolError(f"line longer than {limit} octets")
                return self._take(end + 1)
            if self.buffered > limit:
                raise ProtocolError(f"line longer than {limit} octets")
            scanned = len(self._buffer)
            await self._wait_for_data()

    async def read_multiline(self, limit: int) -> bytes:
        """The body of a multi-line reply, dot-unstuffed, without the terminating `.` line.

        The reply's status line must already have been read. A body over `limit` octets is a
        protocol error: the caller's cap on the whole reply, not a per-line rule.
        """
        scanned = self._start
        while True:
            if self._buffer.startswith(b".\r\n", self._start):  # an empty body
                self._take(self._start + 3)
                return b""
            end = self._buffer.find(_END_OF_MULTILINE, scanned)
            if end >= 0:
                if end - self._start > limit:
                    raise ProtocolError(f"multi-line reply longer than {limit} octets")
                body = self._take(end + len(_END_OF_MULTILINE))[:-3]  # keep the last CRLF
                return _STUFFED_DOT.sub(b"", body) if b"\n." in body or body[:1] == b"." else body
            if self.buffered > limit:
                raise ProtocolError(f"multi-line reply longer than {limit} octets")
            scanned = max(self._start, len(self._buffer) - len(_END_OF_MULTILINE) + 1)
            await self._wait_for_data()

    def discard_buffer(self) -> int:
        """Drop everything unread (before a TLS upgrade); returns how much was dropped."""
        dropped = self.buffered
        self._buffer.clear()
        self._start = 0
        return dropped

    # writing

    def write(self, data: bytes) -> None:
        if self._closed is not None or self.transport is None or self.transport.is_closing():
            raise self._closed or ServerDisconnectedError("connection is closed")
        self.transport.write(data)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        assert self.transport is not None
        self.discard_buffer()
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            self.transport,
            self,
            context,
            server_hostname=server_hostname,
        )
        assert transport is not None
        self.transport = transport

    def close(self) -> None:
        if self.transport is None:
            return
        if self._closed is not None:
            self.transport.abort()
        else:
            self.transport.close()
