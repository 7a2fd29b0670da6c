"""What a poll needs (MailboxConfig) and what it returns (PollSnapshot): immutable values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from .defaults import DEFAULT_MAX_HEADERS_PER_POLL, DEFAULT_TIMEOUT
from .errors import ConfigurationError, ErrorClass


class TlsMode(StrEnum):
    """How the connection is secured."""

    IMPLICIT = "implicit"  # POP3S, TLS from the first byte (port 995)
    STARTTLS = "starttls"  # plain connect, then STLS (port 110); refuses to go on without it
    PLAIN = "plain"  # no TLS at all: only when the configuration says so explicitly

    @property
    def default_port(self) -> int:
        return 995 if self is TlsMode.IMPLICIT else 110


class AuthMechanism(StrEnum):
    AUTO = "auto"  # SASL PLAIN when offered, else USER/PASS
    USER = "user"  # USER/PASS
    PLAIN = "plain"  # SASL PLAIN with initial response
    LOGIN = "login"  # SASL LOGIN
    APOP = "apop"
    XOAUTH2 = "xoauth2"  # bearer token, read fresh at every poll


def lacks_plain_text_consent(tls_mode: TlsMode, allow_insecure_auth: bool) -> bool:
    """The rule for plain text: credentials cross the network unencrypted only when the
    configuration says so explicitly (`allow_insecure_auth`), never by default."""
    return tls_mode is TlsMode.PLAIN and not allow_insecure_auth


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a password or token comes from. Read at every poll, so rotated tokens are picked up.

    Exactly one of `value`, `file`, `env` is set. The value itself never appears in a repr.
    """

    value: str | None = field(default=None, repr=False)
    file: Path | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.value, self.file, self.env)) != 1:
            raise ValueError("exactly one of value, file, env must be set")

    def read(self) -> str:
        """The secret now. Raises ConfigurationError naming the source (never the secret)."""
        if self.value is not None:
            return self.value
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigurationError(
                    f"cannot read secret file {self.file}: {err.strerror}"
                ) from None
        assert self.env is not None
        secret = os.environ.get(self.env)
        if not secret:
            raise ConfigurationError(f"environment variable {self.env} is not set or empty")
        return secret


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxConfig:
    """One mailbox to poll. Only `host`, `username` and `secret` are required."""

    host: str
    username: str
    secret: SecretSource = field(repr=False)
    port: int | None = None  # None: the TLS mode's default port
    tls_mode: TlsMode = TlsMode.IMPLICIT
    auth: AuthMechanism = AuthMechanism.AUTO
    verify_tls: bool = True
    ca_file: Path | None = None
    server_name: str | None = None  # SNI and certificate host name, when it differs from host
    allow_insecure_auth: bool = False  # allow credentials on a plain (non-TLS) connection
    source_address: str | None = None  # local address to connect from
    timeout: float = DEFAULT_TIMEOUT  # for the whole poll
    max_headers_per_poll: int = DEFAULT_MAX_HEADERS_PER_POLL

    def __post_init__(self) -> None:
        if lacks_plain_text_consent(self.tls_mode, self.allow_insecure_auth):
            raise ValueError(
                "tls_mode 'plain' would send the password unencrypted: "
                "set allow_insecure_auth to accept that"
            )
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.max_headers_per_poll < 1:
            raise ValueError("max_headers_per_poll must be at least 1")

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else self.tls_mode.default_port

    @property
    def server_key(self) -> str:
        """Identifies the server for per-server concurrency limits."""
        return f"{self.host.lower()}:{self.effective_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageInfo:
    """A message's identity and decoded headers (from `TOP n 0`)."""

    identity: str  # Message-ID, or a hash of Date/From/To/Subject when there is none
    number: int  # its message number in the poll that reported it
    size: int  # octets, as LIST said
    sender: str = ""  # decoded From, e.g. 'Ana <ana@example.org>'
    to: str = ""
    subject: str = ""
    date: datetime | None = None  # from the Date header, timezone-aware when it had one
    message_id: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "number": self.number,
            "size": self.size,
            "sender": self.sender,
            "to": self.to,
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "message_id": self.message_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> MessageInfo:
        date = data.get("date")
        return cls(
            identity=str(data["identity"]),
            number=int(str(data["number"])),
            size=int(str(data["size"])),
            sender=str(data.get("sender") or ""),
            to=str(data.get("to") or ""),
            subject=str(data.get("subject") or ""),
            date=datetime.fromisoformat(date) if isinstance(date, str) else None,
            message_id=str(data["message_id"]) if data.get("message_id") else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsInfo:
    """Facts about the TLS session and the server's leaf certificate."""

    version: str  # e.g. 'TLSv1.3'
    cipher: str
    cert_not_after: datetime | None  # UTC
    cert_subject: str
    cert_issuer: str
    cert_sha256: str  # hex, lower case
    verified: bool  # False when verification was off or failed


class Phase(StrEnum):
    """The phases of a poll, in order; a snapshot's `phase_durations` and the exporter's
    `phase` label use these values."""

    CONNECT = "connect"
    TLS = "tls"
    GREETING = "greeting"
    CAPA = "capa"
    AUTH = "auth"
    STAT = "stat"
    LIST = "list"
    TOP = "top"
    QUIT = "quit"
    DONE = "done"  # not timed: the poll is over

    def __str__(self) -> str:
        # The member's own value, not a copy (str() of a str subclass builds a new string):
        # every snapshot keeps these as its `phase_durations` keys.
        return self._value_


PHASES = tuple(phase.value for phase in Phase if phase is not Phase.DONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSnapshot:
    """The outcome of one poll. On failure the counts are None and `error` says why."""

    mailbox: str  # a display name for logs and metrics (the front end picks it)
    started_at: datetime  # UTC
    duration: float  # seconds, whole poll
    error: ErrorClass = ErrorClass.OK
    error_text: str = ""  # our explanation, safe to show (never holds a secret)
    server_text: str = ""  # the server's -ERR text, when there was one
    phase_durations: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    messages: int | None = None  # STAT count
    size_bytes: int | None = None  # STAT size
    message_sizes: tuple[int, ...] = ()  # LIST, in message-number order
    known_messages: tuple[MessageInfo, ...] = ()  # headers of the messages we have identified
    new_messages: tuple[MessageInfo, ...] = ()  # reported new by this poll, oldest first
    tls: TlsInfo | None = None
    capabilities: frozenset[str] = frozenset()  # CAPA tags, upper case (e.g. 'TOP', 'SASL')
    login_delay: int | None = None  # seconds, from CAPA LOGIN-DELAY
    commands_sent: int = 0  # for benchmarks and tests of the tracker's cost
    round_trips: int = 0  # batches written and awaited

    @property
    def ok(self) -> bool:
        return self.error is ErrorClass.OK

    @property
    def newest_message(self) -> MessageInfo | None:
        return max(self.known_messages, key=lambda m: m.number, default=None)

    @property
    def oldest_message_date(self) -> datetime | None:
        return min((m.date for m in self.known_messages if m.date), default=None)

    @property
    def newest_message_date(self) -> datetime | None:
        return max((m.date for m in self.known_messages if m.date), default=None)
