"""Poll results made by hand, for the unit layer's mocked `poll_mailbox`: what polling a mailbox
with two messages leaves behind, a poll that found new mail, and failures.

Fixed values throughout (times, sizes, the certificate), so entity snapshots are stable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from custom_components.pop3_monitor.pop3probe import ErrorClass, MessageInfo, PollSnapshot, TlsInfo

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
CERT_NOT_AFTER = datetime(2026, 3, 1, tzinfo=UTC)
MAILBOX_DATA: dict[str, Any] = {
    "host": "pop.example.org",
    "port": 995,
    "tls_mode": "implicit",
    "username": "ana",
    "password": "unit-test-password",
}
TLS = TlsInfo(
    version="TLSv1.3",
    cipher="TLS_AES_256_GCM_SHA384",
    cert_not_after=CERT_NOT_AFTER,
    cert_subject="CN=pop.example.org",
    cert_issuer="CN=Example CA",
    cert_sha256="ab" * 32,
    verified=True,
)
WELCOME = MessageInfo(
    identity="<welcome@example.org>",
    number=1,
    size=1200,
    sender="Ana <ana@example.org>",
    to="ana@example.org",
    subject="Welcome",
    date=NOW - timedelta(days=2),
    message_id="<welcome@example.org>",
)
REPORT_CARD = MessageInfo(
    identity="<report-card@school.example>",
    number=2,
    size=3400,
    sender="School <office@school.example>",
    to="ana@example.org",
    subject="Report card",
    date=NOW - timedelta(minutes=10),
    message_id="<report-card@school.example>",
)


def good_poll(*messages: MessageInfo, **fields: Any) -> PollSnapshot:
    """A successful poll of a mailbox holding `messages` (by default: the welcome message);
    any field can be overridden (`new_messages=...` for mail this poll found new)."""
    held = messages or (WELCOME,)
    base: dict[str, Any] = {
        "mailbox": "ana@pop.example.org",
        "started_at": NOW,
        "duration": 0.25,
        "phase_durations": MappingProxyType({"connect": 0.01, "tls": 0.02, "auth": 0.1}),
        "messages": len(held),
        "size_bytes": sum(message.size for message in held),
        "message_sizes": tuple(message.size for message in held),
        "known_messages": held,
        "tls": TLS,
        "capabilities": frozenset({"TOP", "USER", "UIDL", "SASL"}),
    }
    base.update(fields)
    return PollSnapshot(**base)


def failed_poll(error: ErrorClass, **fields: Any) -> PollSnapshot:
    """A poll that failed with `error`: no counts, no messages; the certificate as it was seen
    (a failure before TLS sees none: pass `tls=None`)."""
    base: dict[str, Any] = {
        "error": error,
        "error_text": f"the poll failed: {error.value}",
        "messages": None,
        "size_bytes": None,
        "message_sizes": (),
        "known_messages": (),
    }
    base.update(fields)
    return good_poll(**base)
