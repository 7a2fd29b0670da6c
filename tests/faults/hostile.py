"""Hostile replies for the scripted server: dribbling, endless and enormous answers.

Each returns promptly once the client has hung up, so no server task outlives the poll by more
than a loop iteration or two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from tests.fixtures.scripted import Connection

ReplyFunction = Callable[[Connection], Awaitable[None]]


async def _client_gone(conn: Connection, wait: float) -> bool:
    """True once the client has closed (EOF or error) within `wait` seconds."""
    try:
        data = await asyncio.wait_for(conn.reader.read(65536), wait)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return not data


def dribble(data: bytes, interval: float = 1.0) -> ReplyFunction:
    """One byte every `interval` seconds (a slowloris server)."""

    async def reply(conn: Connection) -> None:
        with contextlib.suppress(ConnectionError):
            for index in range(len(data)):
                await conn.send(data[index : index + 1])
                if await _client_gone(conn, interval):
                    break
        conn.close()

    return reply


def endless(head: bytes, line: bytes) -> ReplyFunction:
    """`head`, then `line` over and over until the client hangs up."""

    async def reply(conn: Connection) -> None:
        chunk = line * max(1, 65536 // len(line))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send(head)
            while not conn.writer.is_closing():
                await conn.send(chunk)
        conn.close()

    return reply


def enormous(head: bytes, total: int, tail: bytes = b"\r\n.\r\n") -> ReplyFunction:
    """`head`, then `total` octets of header-like lines, then `tail`: never built in memory."""

    async def reply(conn: Connection) -> None:
        chunk = (b"X-Filler: " + b"a" * 52 + b"\r\n") * 1024  # 64 KiB
        sent = 0
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send(head)
            while sent < total and not conn.writer.is_closing():
                await conn.send(chunk)
                sent += len(chunk)
            await conn.send(tail)
        conn.close()

    return reply


async def challenge_forever(conn: Connection) -> None:
    """Answer a SASL AUTH, and every line after it, with another empty `+ ` challenge."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await conn.send(b"+ \r\n")
        while await conn.reader.readline():
            await conn.send(b"+ \r\n")
    conn.close()
