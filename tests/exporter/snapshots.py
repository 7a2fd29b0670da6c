"""Poll snapshots made by hand, for the exporter's unit tests and benchmarks: what a poll of a
Dovecot mailbox with two messages leaves behind, and failures of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from pop3probe import ErrorClass, MessageInfo, PollSnapshot, TlsInfo

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TLS = TlsInfo(
    version="TLSv1.3",
    cipher="TLS_AES_256_GCM_SHA384",
    cert_not_after=NOW + timedelta(days=30),
    cert_subject="CN=localhost",
    cert_issuer="CN=test CA",
    cert_sha256="ab" * 32,
    verified=True,
)


def snapshot(**fields: object) -> PollSnapshot:
    """A successful poll of mailbox 'work'; any field can be overridden."""
    base: dict[str, object] = {
        "mailbox": "work",
        "started_at": NOW,
        "duration": 0.25,
        "phase_durations": MappingProxyType({"connect": 0.01, "tls": 0.02, "auth": 0.1}),
        "messages": 2,
        "size_bytes": 2048,
        "tls": TLS,
        "capabilities": frozenset({"TOP", "USER", "SASL"}),
        "known_messages": (
            MessageInfo(identity="a", number=1, size=1000, date=NOW - timedelta(hours=2)),
            MessageInfo(identity="b", number=2, size=1048, date=NOW - timedelta(minutes=5)),
        ),
    }
    base.update(fields)
    return PollSnapshot(**base)  # type: ignore[arg-type]


def failed(error: ErrorClass, **fields: object) -> PollSnapshot:
    """A poll that failed with `error`: no counts, no messages."""
    return snapshot(error=error, messages=None, size_bytes=None, known_messages=(), **fields)
