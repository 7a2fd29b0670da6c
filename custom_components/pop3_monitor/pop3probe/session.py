"""One POP3 connection: connect, TLS, commands paired with their replies, pipelined batches.

Every command goes through `commands.build_command` (the allowlist). Replies are read in order,
so a batch of pipelined commands is answered reply by reply. Any failure closes the connection:
a late reply would otherwise be paired with the next command.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from .commands import Command
from .errors import (
    CertificateInvalidError,
    ConnectRefusedError,
    DnsError,
    TlsHandshakeError,
)
from .protocol import Pop3Stream, connect
from .replies import MAX_STATUS_LINE, StatusLine, classify_error_reply, parse_status_line

_LOGGER = logging.getLogger(__name__)
MAX_TRANSCRIPT_LINES = 2000


@dataclass
class Transcript:
    """What was said in a session, for `/probe?debug=true`: secrets masked, content summarised."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_TRANSCRIPT_LINES:
            self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Reply:
    command: Command
    status: StatusLine
    body: bytes | None = None  # the multi-line body, when the command has one and succeeded

    def raise_for_error(self) -> None:
        if not self.status.ok:
            raise classify_error_reply(self.command.verb, self.status)


class Pop3Session:
    """An open connection. Use `open_session`, and always `close()`."""

    def __init__(self, stream: Pop3Stream, transcript: Transcript | None) -> None:
        self._stream = stream
        self._transcript = transcript
        self.commands_sent = 0
        self.round_trips = 0
        self._unanswered = 0  # commands written whose replies are not read yet
        self._batched = False  # some of them went out in one write with others

    @property
    def batch_outstanding(self) -> bool:
        """Whether a pipelined command is still unanswered: a failure now may be the server
        dropping what it was sent in one write."""
        return self._batched and self._unanswered > 0

    @property
    def ssl_object(self) -> ssl.SSLSocket | None:
        return self._stream.ssl_object

    def _note(self, line: str) -> None:
        if self._transcript is not None:
            self._transcript.add(line)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._note("-- TLS handshake")
        try:
            await self._stream.start_tls(context, server_hostname)
        except ssl.SSLCertVerificationError as err:
            raise CertificateInvalidError(
                f"certificate not valid for {server_hostname}: {err.verify_message}"
            ) from None
        except (ssl.SSLError, ConnectionError, OSError) as err:
            raise TlsHandshakeError(f"TLS handshake failed: {_reason(err)}") from None
        self._note(f"-- TLS established: {self.ssl_object.version() if self.ssl_object else ''}")

    async def read_status(self) -> tuple[StatusLine, bytes]:
        raw = await self._stream.read_line(MAX_STATUS_LINE)
        status = parse_status_line(raw)
        if self._transcript is not None:
            self._note(f"S: {'+OK' if status.ok else '-ERR'} {status.text}".rstrip())
        return status, raw

    async def write_batch(self, commands: Sequence[Command]) -> None:
        """Write commands in one go (pipelining when more than one); read each with read_reply."""
        if self._transcript is not None:
            for command in commands:
                self._note(f"C: {command.loggable()}")
        self._unanswered += len(commands)
        self._batched = self._batched or self._unanswered > 1
        await self._stream.write(b"".join(c.line for c in commands))
        self.commands_sent += len(commands)
        self.round_trips += 1

    async def read_reply(self, command: Command, body_limit: int = 64 * 1024) -> Reply:
        """The reply to `command`, which must be the oldest written command not yet answered."""
        status, _ = await self.read_status()
        body = None
        if status.ok and command.multiline and not status.continuation:
            body = await self._stream.read_multiline(body_limit)
            if self._transcript is not None:
                lines = body.count(b"\n")
                self._note(f"S: <{lines} lines>")
        self._unanswered -= 1
        self._batched = self._batched and self._unanswered > 0
        return Reply(command, status, body)

    async def execute(self, command: Command, body_limit: int = 64 * 1024) -> Reply:
        """Send one command and read its reply (no raise on -ERR: see Reply.raise_for_error)."""
        await self.write_batch([command])
        return await self.read_reply(command, body_limit)

    def close(self) -> None:
        self._stream.close()


async def open_session(
    host: str, port: int, *, source_address: str | None, transcript: Transcript | None
) -> Pop3Session:
    """TCP connect, classifying DNS failures and refusals. (Timeouts are the caller's.)"""
    if transcript is not None:
        transcript.add(f"-- connecting to {host}:{port}")
    try:
        stream = Pop3Stream(await connect(host, port, source_address))
    except socket.gaierror as err:
        raise DnsError(f"cannot resolve {host}: {err.strerror}") from None
    except ConnectionRefusedError:
        raise ConnectRefusedError(f"connection to {host}:{port} refused") from None
    except OSError as err:
        raise ConnectRefusedError(f"cannot connect to {host}:{port}: {_reason(err)}") from None
    return Pop3Session(stream, transcript)


def _reason(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason)
    return getattr(err, "strerror", None) or str(err) or type(err).__name__
