"""The byte level: a bounded reply buffer, and a non-blocking socket stream around it.

Reads are bounded everywhere: a status line by RFC 2449's 512 octets, a multi-line reply by a cap
on the whole reply (its lines are message content and may be long). Before a TLS upgrade the
buffer is discarded, so plaintext injected after `+OK` to STLS is never taken as a reply.

TLS runs on an `ssl.SSLSocket` in non-blocking mode, driven by the event loop's readiness
callbacks: the encryption stays in C, which costs a poll about half the CPU that asyncio's
memory-BIO transports add (tests/bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ProtocolError, ServerDisconnectedError

_END_OF_MULTILINE = b"\r\n.\r\n"
_STUFFED_DOT = re.compile(rb"^\.", re.MULTILINE)  # RFC 1939: a line starting "." got one more
_COMPACT_AT = 64 * 1024
_RECV_SIZE = 64 * 1024
T = TypeVar("T")
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class ReplyBuffer:
    """What the server sent and we have not consumed, handed out as lines and multi-line bodies.

    Pure: `feed` bytes in, `take_*` returns a complete unit or None when more is needed.
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0  # bytes before this offset have been consumed
        self._scanned = 0  # no terminator before this offset (for the unit being looked for)

    def __len__(self) -> int:
        return len(self._data) - self._start

    def feed(self, data: bytes) -> None:
        self._data += data

    def clear(self) -> int:
        """Drop everything unconsumed; returns how much was dropped."""
        dropped = len(self)
        self._data.clear()
        self._start = self._scanned = 0
        return dropped

    def _take(self, end: int) -> bytes:
        data = bytes(self._data[self._start : end])
        self._start = self._scanned = end
        if self._start >= _COMPACT_AT and self._start * 2 >= len(self._data):
            del self._data[: self._start]
            self._start = self._scanned = 0
        return data

    def take_line(self, limit: int) -> bytes | None:
        """One line including its LF. More than `limit` octets without one: ProtocolError."""
        end = self._data.find(b"\n", max(self._scanned, self._start))
        if end < 0:
            if len(self) > limit:
                raise ProtocolError(f"line longer than {limit} octets")
            self._scanned = len(self._data)
            return None
        if end + 1 - self._start > limit:
            raise ProtocolError(f"line longer than {limit} octets")
        return self._take(end + 1)

    def take_multiline(self, limit: int) -> bytes | None:
        """The body of a multi-line reply, dot-unstuffed, without the terminating `.` line.

        Its status line must already be taken. A body over `limit` octets is a ProtocolError:
        the caller's cap on the whole reply, not a per-line rule.
        """
        if self._data.startswith(b".\r\n", self._start):  # an empty body
            self._take(self._start + 3)
            return b""
        end = self._data.find(_END_OF_MULTILINE, max(self._scanned, self._start))
        if end < 0:
            if len(self) > limit:
                raise ProtocolError(f"multi-line reply longer than {limit} octets")
            self._scanned = max(self._start, len(self._data) - len(_END_OF_MULTILINE) + 1)
            return None
        if end - self._start > limit:
            raise ProtocolError(f"multi-line reply longer than {limit} octets")
        body = self._take(end + len(_END_OF_MULTILINE))[:-3]  # keep the last line's CRLF
        return _STUFFED_DOT.sub(b"", body) if b"\n." in body or body[:1] == b"." else body


def _literal_address(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """An IP address needs no lookup: getaddrinfo would cost a trip to a worker thread."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    return None


async def connect(host: str, port: int, source_address: str | None) -> socket.socket:
    """A non-blocking TCP socket connected to the first address of `host` that answers.

    OSErrors propagate (socket.gaierror for a failed lookup).
    """
    loop = asyncio.get_running_loop()
    infos = _literal_address(host, port) or await loop.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source_address:
                sock.bind((source_address, 0))
            try:
                sock.connect(address)
            except BlockingIOError:  # in progress: the outcome comes with writability
                await _writable(loop, sock)
                if code := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise OSError(code, os.strerror(code)) from None
        except OSError as err:
            sock.close()
            error = err
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error or OSError(f"no address for {host}")


def _ack_now(sock: socket.socket) -> None:
    """Acknowledge what came in at once instead of after Linux's delayed-ACK timeout (40 ms).

    A server that writes its replies to a batch one by one holds the second back until the
    first is acknowledged (Nagle), and we have nothing to send that would carry the ACK.
    """
    if _QUICKACK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until `sock` takes more data (rare: commands are short)."""
    if (fd := sock.fileno()) < 0:
        raise ServerDisconnectedError("connection is closed")
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _wake, ready)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


class _ReadWatch:
    """Waits for a socket to be readable; stays registered with the event loop between waits.

    Registering for every reply cost two epoll_ctl calls and a wake-up more. A waiter that
    wants data gets it received in the callback, so readiness left over from an earlier wait
    cannot wake it for nothing.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd  # the same number after the TLS wrap
        self._watching = False
        self._waiter: asyncio.Future[bytes | None] | None = None
        self._receive_from: socket.socket | None = None  # the waiter wants data, not readiness

    async def wait(self, sock: socket.socket, *, receive: bool) -> bytes | None:
        """Until `sock` is readable; with `receive`, what it then had (None: receive yourself)."""
        if sock.fileno() < 0:
            raise ServerDisconnectedError("connection is closed")
        if not self._watching:
            self._loop.add_reader(self._fd, self._on_readable)
            self._watching = True
        self._receive_from = sock if receive else None
        waiter: asyncio.Future[bytes | None] = self._loop.create_future()
        self._waiter = waiter
        try:
            return await waiter
        finally:
            self._waiter = None

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Nobody waits: stop watching, or level-triggered readiness would spin the loop.
            self.stop()
            return
        data = None
        if self._receive_from is not None:
            try:
                data = self._receive_from.recv(_RECV_SIZE)
            except ssl.SSLWantReadError:
                # Half a TLS record, or a record without data (a session ticket): the rest
                # may wait for our ACK.
                _ack_now(self._receive_from)
                return
            except BlockingIOError:
                return  # the readiness was used up already
            except ssl.SSLWantWriteError:
                pass  # TLS must write first: the waiter receives the slow way
            except (ssl.SSLError, OSError) as err:
                waiter.set_exception(err)
                return
        waiter.set_result(data)

    def stop(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False


class Pop3Stream:
    """A connected non-blocking socket (plain, or TLS after `start_tls`) with a ReplyBuffer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket = sock
        self._tls: ssl.SSLSocket | None = None
        self._buffer = ReplyBuffer()
        self._loop = asyncio.get_running_loop()
        self._readable = _ReadWatch(self._loop, sock.fileno())
        self._closed = False
        self._wrote = False  # since the last read: the answer cannot be there yet

    @property
    def ssl_object(self) -> ssl.SSLSocket | None:
        return self._tls

    async def _until_done(self, operation: Callable[..., T], *args: Any) -> T:
        """Run a non-blocking socket operation, waiting for readiness until it goes through.

        TLS can need the other direction than the operation's own (WantRead while writing).
        """
        while True:
            try:
                return operation(*args)
            except ssl.SSLWantReadError:
                _ack_now(self._sock)
                await self._readable.wait(self._sock, receive=False)
            except (ssl.SSLWantWriteError, BlockingIOError):
                await _writable(self._loop, self._sock)

    async def _fill(self) -> None:
        """Read what the socket has (waiting for it) into the buffer."""
        data = None
        try:
            # Right after a write the answer is not there yet, unless OpenSSL holds some of it.
            if not self._wrote or (self._tls is not None and self._tls.pending()):
                with contextlib.suppress(ssl.SSLWantReadError, BlockingIOError):
                    data = self._sock.recv(_RECV_SIZE)
            if data is None:
                if not self._wrote:  # the rest of an answer, which the server may hold back
                    _ack_now(self._sock)
                data = await self._readable.wait(self._sock, receive=True)
            if data is None:
                data = await self._until_done(self._sock.recv, _RECV_SIZE)
        except (ssl.SSLError, OSError) as err:
            raise ServerDisconnectedError(f"connection lost: {err}") from None
        if not data:
            raise ServerDisconnectedError("server closed the connection")
        self._wrote = False
        self._buffer.feed(data)

    async def read_line(self, limit: int) -> bytes:
        while (line := self._buffer.take_line(limit)) is None:
            await self._fill()
        return line

    async def read_multiline(self, limit: int) -> bytes:
        while (body := self._buffer.take_multiline(limit)) is None:
            await self._fill()
        return body

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        self._wrote = True
        try:
            while view:
                view = view[await self._until_done(self._sock.send, view) :]
        except (ssl.SSLError, OSError) as err:
            raise ServerDisconnectedError(f"connection lost: {err}") from None

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        """Discard anything unread, then handshake. SSL errors propagate for classification."""
        self._buffer.clear()
        self._sock = self._tls = context.wrap_socket(
            self._sock, server_hostname=server_hostname, do_handshake_on_connect=False
        )
        await self._until_done(self._tls.do_handshake)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readable.stop()
        if self._tls is not None:
            # Send our close_notify if the session is still up; don't wait for the peer's.
            with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                self._tls.unwrap()
        self._sock.close()
