"""The hostile-server corpus: what broken or malicious POP3 servers send, against the real client.

Every case ends in a classified outcome (an error class, or `ok` where a tolerant client should
still read the mailbox) within the poll timeout, with a bounded memory peak (tracemalloc), no task
or file descriptor left behind, and credentials sent only where they belong: never when the
poll fails before login, at most once otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import ssl
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from pop3probe import (
    AuthMechanism,
    ErrorClass,
    MailboxConfig,
    MessageTracker,
    PollSnapshot,
    SecretSource,
    TlsMode,
    poll_mailbox,
)
from tests.core.helpers import no_leaks
from tests.faults.helpers import MARGIN, leaked_in, secret_forms
from tests.faults.hostile import challenge_forever, dribble, endless, enormous
from tests.fixtures.scripted import (
    DEFAULT_MESSAGES,
    Connection,
    ScriptedServer,
    scripted_server,
    send_then_close,
    send_then_stall,
    stall,
)

TIMEOUT = 1.0
MEMORY_LIMIT = 8 * 1024 * 1024  # peak bytes traced during one poll; the 200 MB reply included
OK, PROTOCOL, TIMED_OUT = ErrorClass.OK, ErrorClass.PROTOCOL_ERROR, ErrorClass.TIMEOUT
NEVER, ONCE = "never", "once"
USERNAME = "ana@example.org"


def _message(subject: bytes, extra: bytes = b"", message_id: bytes = b"<h@example.org>") -> bytes:
    return (
        b"From: Ana <ana@example.org>\r\nSubject: "
        + subject
        + b"\r\nMessage-ID: "
        + message_id
        + b"\r\n"
        + extra
        + b"\r\nBody\r\n"
    )


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    expected: ErrorClass
    credentials: str  # NEVER or ONCE
    replies: dict[str, Any] = dataclasses.field(default_factory=dict)
    capa: bytes | None = None
    messages: tuple[bytes, ...] | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    check: Callable[[PollSnapshot], None] | None = None


def _subject_is_clean(snapshot: PollSnapshot) -> None:
    for message in snapshot.known_messages:
        assert message.subject.isprintable()
        assert "\x00" not in message.subject + message.sender
        assert len(message.subject) <= 2000


def _printable_server_text(snapshot: PollSnapshot) -> None:
    assert snapshot.server_text.isprintable()
    assert len(snapshot.server_text) <= 300


PATHOLOGICAL_2047 = [
    # thousands of encoded words in one header
    b"=?utf-8?q?a?= " * 4000,
    # an unknown charset, broken base64, a word cut short
    b"=?x-no-such-charset?b?////?= =?utf-8?b?%%%%?= =?utf-8?q?unterminated",
    # an encoded word that decodes to another encoded word, nested many times
    b"=?utf-8?b?"
    + base64.b64encode(b"=?utf-8?b?" + base64.b64encode(b"=?utf-8?q?x?=") + b"?=")
    + b"?=",
    # 50 KiB folded over many lines
    b"=?iso-8859-1?q?" + b"=E9" * 300 + b"?=\r\n " * 50,
    # invalid UTF-8 inside an encoded word and raw
    b"=?utf-8?b?" + base64.b64encode(b"\xff\xfe\xc3\x28\xed\xa0\x80") + b"?= \xff\xfe\xc3\x28",
]

CASES: list[Case] = [
    # over-long lines
    Case(
        "status line of 100 kB, never ended",
        PROTOCOL,
        NEVER,
        {"GREETING": send_then_stall(b"+OK " + b"A" * 100_000)},
    ),
    Case("greeting of 600 octets", PROTOCOL, NEVER, {"GREETING": b"+OK " + b"g" * 600 + b"\r\n"}),
    Case(
        "CAPA line of 200 kB", PROTOCOL, NEVER, {"CAPA": b"+OK\r\n" + b"X" * 200_000 + b"\r\n.\r\n"}
    ),
    Case(
        "header line of 1 MB in TOP",
        PROTOCOL,
        ONCE,
        {"TOP": send_then_stall(b"+OK\r\nSubject: " + b"x" * 1_000_000)},
    ),
    # multi-line replies that never end
    Case(
        "LIST that never ends (stalls)",
        TIMED_OUT,
        ONCE,
        {"LIST": send_then_stall(b"+OK\r\n1 100\r\n")},
    ),
    Case(
        "CAPA that never ends (stalls)",
        TIMED_OUT,
        NEVER,
        {"CAPA": send_then_stall(b"+OK\r\nTOP\r\n")},
    ),
    Case(
        "TOP that streams header lines forever",
        PROTOCOL,
        ONCE,
        {"TOP": endless(b"+OK\r\n", b"X-Loop: again and again\r\n")},
    ),
    Case(
        "CAPA that streams lines forever",
        PROTOCOL,
        NEVER,
        {"CAPA": endless(b"+OK\r\n", b"X-CAPA-LOOP\r\n")},
    ),
    # a 200 MB TOP reply
    Case("TOP reply of 200 MB", PROTOCOL, ONCE, {"TOP": enormous(b"+OK\r\n", 200 * 1024 * 1024)}),
    # NUL bytes
    Case("NUL bytes in the greeting text", OK, ONCE, {"GREETING": b"+OK \x00\x00 ready\x00\r\n"}),
    Case("NUL byte in STAT", PROTOCOL, ONCE, {"STAT": b"+OK 2\x00 100\r\n"}),
    Case("NUL bytes in LIST", PROTOCOL, ONCE, {"LIST": b"+OK\r\n1\x00 10\r\n2 20\r\n.\r\n"}),
    Case(
        "NUL bytes in headers",
        OK,
        ONCE,
        messages=(_message(b"nul\x00in\x00subject", b"X-Nul: \x00\x00\r\n"),),
        check=_subject_is_clean,
    ),
    # invalid UTF-8 and pathological RFC 2047
    Case(
        "invalid UTF-8 in headers",
        OK,
        ONCE,
        messages=(_message(b"\xff\xfe\xc3\x28 caf\xe9", b"From: \xc0\xaf\xed\xa0\x80\r\n"),),
        check=_subject_is_clean,
    ),
    *[
        Case(
            f"pathological RFC 2047 #{n}",
            OK,
            ONCE,
            messages=(_message(subject),),
            check=_subject_is_clean,
        )
        for n, subject in enumerate(PATHOLOGICAL_2047, 1)
    ],
    Case(
        "6,000 short headers",
        OK,
        ONCE,
        messages=(_message(b"many", b"".join(b"X-%d: v\r\n" % n for n in range(6000))),),
    ),
    Case(
        "a Date header of 1,000 digits",
        OK,
        ONCE,
        messages=(_message(b"date", b"Date: " + b"9" * 1000 + b"\r\n"),),
    ),
    # STAT: huge, negative, not numbers
    Case("STAT count of 30 digits", PROTOCOL, ONCE, {"STAT": b"+OK " + b"9" * 30 + b" 1\r\n"}),
    Case("STAT count of two million", PROTOCOL, ONCE, {"STAT": b"+OK 2000000 1\r\n"}),
    Case("STAT count negative", PROTOCOL, ONCE, {"STAT": b"+OK -2 100\r\n"}),
    Case("STAT size negative", PROTOCOL, ONCE, {"STAT": b"+OK 2 -100\r\n"}),
    Case("STAT not numbers", PROTOCOL, ONCE, {"STAT": b"+OK two hundred\r\n"}),
    Case("STAT with one number", PROTOCOL, ONCE, {"STAT": b"+OK 2\r\n"}),
    Case("STAT in hexadecimal", PROTOCOL, ONCE, {"STAT": b"+OK 0x2 0x100\r\n"}),
    # LIST with duplicate or missing numbers, or disagreeing with STAT
    Case("LIST with a duplicate number", PROTOCOL, ONCE, {"LIST": b"+OK\r\n1 10\r\n1 20\r\n.\r\n"}),
    Case("LIST with a missing number", PROTOCOL, ONCE, {"LIST": b"+OK\r\n1 10\r\n3 20\r\n.\r\n"}),
    Case(
        "LIST longer than STAT", PROTOCOL, ONCE, {"LIST": b"+OK\r\n1 10\r\n2 20\r\n3 30\r\n.\r\n"}
    ),
    Case("LIST shorter than STAT", PROTOCOL, ONCE, {"LIST": b"+OK\r\n1 10\r\n.\r\n"}),
    Case(
        "LIST of 100,000 lines for a STAT of 2",
        PROTOCOL,
        ONCE,
        {"LIST": b"+OK\r\n" + b"".join(b"%d 10\r\n" % n for n in range(1, 100_001)) + b".\r\n"},
    ),
    Case(
        "LIST size of 30 digits",
        PROTOCOL,
        ONCE,
        {"LIST": b"+OK\r\n1 " + b"9" * 30 + b"\r\n2 20\r\n.\r\n"},
    ),
    # no greeting, junk greeting, a slowloris server
    Case("no greeting at all", TIMED_OUT, NEVER, {"GREETING": stall}),
    Case(
        "connection closed instead of a greeting",
        PROTOCOL,
        NEVER,
        {"GREETING": send_then_close(b"")},
    ),
    Case(
        "greeting of binary junk",
        PROTOCOL,
        NEVER,
        {"GREETING": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xff\xfe\r\n"},
    ),
    Case("an IMAP server's greeting", PROTOCOL, NEVER, {"GREETING": b"* OK IMAP4rev1 ready\r\n"}),
    Case(
        "greeting at one byte per second",
        TIMED_OUT,
        NEVER,
        {"GREETING": dribble(b"+OK slow server ready\r\n")},
    ),
    Case(
        "TOP reply at one byte per second",
        TIMED_OUT,
        ONCE,
        {"TOP": dribble(b"+OK\r\nSubject: slow\r\n\r\n.\r\n")},
    ),
    # STLS required but refused or not offered: nothing secret may be sent
    Case(
        "STLS answered -ERR when STLS is required",
        ErrorClass.STLS_UNAVAILABLE,
        NEVER,
        {"STLS": b"-ERR not now\r\n"},
        capa=b"+OK\r\nSTLS\r\nTOP\r\nUSER\r\n.\r\n",
        config={"tls_mode": TlsMode.STARTTLS, "allow_insecure_auth": False},
    ),
    Case(
        "STLS not offered when STLS is required",
        ErrorClass.STLS_UNAVAILABLE,
        NEVER,
        capa=b"+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
        config={"tls_mode": TlsMode.STARTTLS, "allow_insecure_auth": False},
    ),
    Case(
        "CAPA refused and STLS refused when STLS is required",
        ErrorClass.STLS_UNAVAILABLE,
        NEVER,
        {"CAPA": b"-ERR what?\r\n", "STLS": b"-ERR no\r\n"},
        config={"tls_mode": TlsMode.STARTTLS, "allow_insecure_auth": False},
    ),
    # login exchanges that go wrong
    Case(
        "SASL challenges that never stop",
        PROTOCOL,
        ONCE,
        {"AUTH": challenge_forever},
        capa=b"+OK\r\nTOP\r\nSASL PLAIN\r\n.\r\n",
        config={"auth": AuthMechanism.PLAIN},
    ),
    Case(
        "-ERR [AUTH] with 400 octets of binary text",
        ErrorClass.AUTH_FAILED,
        ONCE,
        {"PASS": b"-ERR [AUTH] " + b"\xff\x01" * 200 + b"\r\n"},
        check=_printable_server_text,
    ),
    Case(
        "APOP greeting with a pathological timestamp",
        OK,
        ONCE,
        {"GREETING": b"+OK " + b"<" * 200 + b"@" + b">" * 200 + b"\r\n"},
    ),
    # capabilities that lie or are malformed
    Case(
        "2,000 capability lines under the cap",
        OK,
        ONCE,
        capa=b"+OK\r\n" + b"".join(b"C%d\r\n" % n for n in range(2000)) + b"TOP\r\nUSER\r\n.\r\n",
    ),
    Case(
        "binary junk capability lines",
        OK,
        ONCE,
        capa=b"+OK\r\n\xff\xfe\x00\r\nSASL \x00\xff\r\nLOGIN-DELAY 99999999999\r\nUSER\r\n.\r\n",
    ),
    Case("dot-stuffing gone wrong in TOP", OK, ONCE, {"TOP": b"+OK\r\n..Subject: dots\r\n.\r\n"}),
]


def _config(server: ScriptedServer, secret: str, **overrides: Any) -> MailboxConfig:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": USERNAME,
        "secret": SecretSource(value=secret),
        "tls_mode": TlsMode.PLAIN,
        "allow_insecure_auth": True,
        "timeout": TIMEOUT,
    }
    settings.update(overrides)
    return MailboxConfig(**settings)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_hostile_server_gives_a_classified_bounded_outcome(case: Case) -> None:
    secret = f"corpus-{secrets.token_hex(8)}"
    kwargs: dict[str, Any] = {"replies": case.replies}
    if case.capa is not None:
        kwargs["capa"] = case.capa
    if case.messages is not None:
        kwargs["messages"] = case.messages
    async with scripted_server(**kwargs) as server:
        config = _config(server, secret, **case.config)
        async with no_leaks():
            tracemalloc.start()
            try:
                started = time.monotonic()
                snapshot = await poll_mailbox(config)
                elapsed = time.monotonic() - started
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert snapshot.error is case.expected, f"{snapshot.error}: {snapshot.error_text}"
    assert elapsed < TIMEOUT + MARGIN, f"took {elapsed:.2f} s"
    assert peak < MEMORY_LIMIT, f"memory peak {peak / 1e6:.1f} MB"
    sent = b"".join(server.received)
    if case.credentials == NEVER:
        assert not leaked_in(secret_forms(USERNAME, secret), sent), server.verbs
    else:
        assert server.verbs.count("PASS") + server.verbs.count("AUTH") <= 1, server.verbs
    assert not leaked_in(
        secret_forms(USERNAME, secret), repr(snapshot), snapshot.error_text, snapshot.server_text
    )
    if case.check is not None:
        case.check(snapshot)


async def test_top_answering_with_another_message_never_reports_mail_twice() -> None:
    """A server whose TOP always returns message 1 cannot be caught (the same mail may really
    be there twice), but it must not make the tracker report anything new more than once."""
    first, second, third = (
        _message(b"one", message_id=b"<one@example.org>"),
        _message(b"two", message_id=b"<two@example.org>"),
        _message(b"three", message_id=b"<three@example.org>"),
    )
    liar = b"+OK\r\n" + first.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n.\r\n"
    tracker = MessageTracker()
    reported: list[str] = []
    async with scripted_server(messages=(first, second), replies={"TOP": liar}) as server:
        config = _config(server, "liar-secret")
        async with no_leaks():
            for mailbox in ((first, second), (first, second, third), (first, second, third)):
                server.messages = mailbox
                snapshot = await poll_mailbox(config, tracker)
                assert snapshot.error is OK, snapshot.error_text
                assert snapshot.messages == len(mailbox)
                reported += [m.identity for m in snapshot.new_messages]
    assert len(reported) == len(set(reported)), reported
    assert "<one@example.org>" not in reported  # it was there at the first poll


@pytest.fixture(scope="module")
def stls_server_context(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("stls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


async def test_plaintext_injected_after_stls_is_discarded_and_no_secret_crosses_in_clear(
    stls_server_context: tuple[ssl.SSLContext, Path],
) -> None:
    """RFC 2595: whatever arrives between `+OK` to STLS and the handshake is dropped unread."""
    from tests.fixtures.faultproxy import FaultProxy

    context, ca_file = stls_server_context

    async def stls_with_injection(conn: Connection) -> None:
        await conn.send(b"+OK begin TLS\r\n-ERR [AUTH] injected\r\n+OK 99 99\r\n")
        await conn.writer.start_tls(context)

    secret = f"stls-{secrets.token_hex(8)}"
    capa = b"+OK\r\nSTLS\r\nTOP\r\nUSER\r\n.\r\n"
    async with (
        scripted_server(capa=capa, replies={"STLS": stls_with_injection}) as server,
        FaultProxy(server.port) as wire,  # records the raw bytes on the wire
    ):
        config = _config(
            server,
            secret,
            port=wire.port,
            tls_mode=TlsMode.STARTTLS,
            allow_insecure_auth=False,
            ca_file=ca_file,
        )
        async with no_leaks():
            snapshot = await poll_mailbox(config)
    assert snapshot.error is OK, snapshot.error_text
    assert snapshot.messages == len(DEFAULT_MESSAGES)
    assert snapshot.tls is not None
    assert b"PASS" in b"".join(server.received)  # the login happened, inside TLS
    assert not leaked_in(secret_forms(USERNAME, secret), wire.sent_by_clients())
    assert wire.sent_by_clients().startswith(b"CAPA\r\nSTLS\r\n\x16")  # then a TLS handshake
