"""Every error class, provoked for real and classified; nothing leaks, nothing escapes `poll`.

Real Dovecot where it can produce the fault; the scripted server for what no honest server does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import socket
import ssl
from collections.abc import Iterator

import pytest

from pop3probe import ErrorClass, MailboxConfig, TlsMode, poll_mailbox
from tests.core.helpers import no_leaks, scripted_config
from tests.fixtures.dovecot import EXPIRED_NAME, DovecotServer, DovecotUser
from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.ports import free_port
from tests.fixtures.scripted import (
    scripted_server,
    send_then_close,
    send_then_stall,
    stall,
)

_source_addresses = (f"127.0.0.{n}" for n in itertools.count(20))


# Real Dovecot


async def test_wrong_password_is_auth_failed(mailbox_config: MailboxConfig) -> None:
    from pop3probe import SecretSource

    config = dataclasses.replace(
        mailbox_config,
        secret=SecretSource(value="not-the-password"),
        source_address=next(_source_addresses),  # dodge Dovecot's per-address penalty
    )
    async with no_leaks():
        snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.AUTH_FAILED
    assert snapshot.server_text == "Authentication failed."
    assert snapshot.messages is None


async def test_closed_port_is_connect_refused(mailbox_config: MailboxConfig) -> None:
    async with no_leaks():
        snapshot = await poll_mailbox(dataclasses.replace(mailbox_config, port=free_port()))
    assert snapshot.error is ErrorClass.CONNECT_REFUSED


@contextlib.contextmanager
def _listener_that_never_accepts() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connection attempts hang unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the backlog (its real size is a little over what we asked)
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_unanswered_connect_is_connect_timeout(mailbox_config: MailboxConfig) -> None:
    with _listener_that_never_accepts() as port:
        config = dataclasses.replace(mailbox_config, port=port, timeout=1.0)
        async with no_leaks():
            snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.CONNECT_TIMEOUT
    assert 0.9 < snapshot.duration < 3


async def test_tls_against_a_plain_port_is_tls_handshake(
    dovecot: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    async with no_leaks():
        snapshot = await poll_mailbox(dataclasses.replace(mailbox_config, port=dovecot.pop3_port))
    assert snapshot.error is ErrorClass.TLS_HANDSHAKE


async def test_expired_certificate_is_cert_invalid_and_its_expiry_still_reported(
    dovecot: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    config = dataclasses.replace(mailbox_config, server_name=EXPIRED_NAME)
    async with no_leaks():
        snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.CERT_INVALID
    assert "expired" in snapshot.error_text
    assert snapshot.tls is not None
    assert snapshot.tls.cert_not_after == dovecot.expired_not_after
    assert not snapshot.tls.verified


async def test_wrong_host_name_is_cert_invalid(mailbox_config: MailboxConfig) -> None:
    config = dataclasses.replace(mailbox_config, server_name="mail.example.net")
    async with no_leaks():
        snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.CERT_INVALID
    assert "mail.example.net" in snapshot.error_text


async def test_no_verification_accepts_what_verification_refuses(
    mailbox_config: MailboxConfig,
) -> None:
    config = dataclasses.replace(mailbox_config, server_name=EXPIRED_NAME, verify_tls=False)
    snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.OK
    assert snapshot.tls is not None
    assert not snapshot.tls.verified


async def test_stls_not_offered_is_stls_unavailable_and_nothing_is_sent(
    dovecot_broken: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    async with FaultProxy(target_port=dovecot_broken.pop3_port) as proxy:
        config = dataclasses.replace(mailbox_config, port=proxy.port, tls_mode=TlsMode.STARTTLS)
        async with no_leaks():
            snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.STLS_UNAVAILABLE
    assert proxy.sent_by_clients().decode().splitlines() == ["CAPA"]


async def test_sys_temp_is_server_temporary(
    dovecot_broken: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    """Dovecot with an unreadable user database answers every login `-ERR [SYS/TEMP]`."""
    config = dataclasses.replace(
        mailbox_config,
        port=dovecot_broken.pop3_port,
        tls_mode=TlsMode.PLAIN,
        allow_insecure_auth=True,
    )
    async with no_leaks():
        snapshot = await poll_mailbox(config)
    assert snapshot.error is ErrorClass.SERVER_TEMPORARY
    assert "Temporary" in snapshot.server_text


async def test_maildrop_held_by_other_sessions_is_in_use(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    """Dovecot refuses the 11th session per user and address with `[IN-USE]`."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    held = []
    try:
        for _ in range(10):
            raw = socket.create_connection((dovecot.host, dovecot.pop3s_port))
            conn = context.wrap_socket(raw, server_hostname=dovecot.host)
            held.append(conn)
            conn.recv(512)
            conn.sendall(f"USER {mailbox.username}\r\n".encode())
            conn.recv(512)
            conn.sendall(f"PASS {mailbox.password}\r\n".encode())
            assert conn.recv(512).startswith(b"+OK")
        async with no_leaks():
            snapshot = await poll_mailbox(mailbox_config)
    finally:
        for conn in held:
            conn.close()
    assert snapshot.error is ErrorClass.IN_USE
    assert "mail_max_userip_connections" in snapshot.server_text


async def test_unresolvable_host_is_dns(
    mailbox_config: MailboxConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one simulated fault: a real lookup would query a resolver off this machine."""
    import asyncio

    async def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    snapshot = await poll_mailbox(dataclasses.replace(mailbox_config, host="mail.invalid"))
    assert snapshot.error is ErrorClass.DNS
    assert "mail.invalid" in snapshot.error_text


# The scripted server: what honest servers don't do


@pytest.mark.parametrize(
    ("verb", "reply", "expected"),
    [
        ("PASS", b"-ERR [LOGIN-DELAY] wait 10 minutes\r\n", ErrorClass.LOGIN_DELAY),
        ("PASS", b"-ERR\r\n", ErrorClass.AUTH_FAILED),  # bare -ERR to PASS
        ("USER", b"-ERR no such user\r\n", ErrorClass.AUTH_FAILED),
        ("PASS", b"-ERR [SYS/PERM] account disabled\r\n", ErrorClass.SERVER_PERMANENT),
        ("GREETING", b"-ERR [SYS/TEMP] try later\r\n", ErrorClass.SERVER_TEMPORARY),
        ("GREETING", b"-ERR too many connections\r\n", ErrorClass.SERVER_TEMPORARY),
        ("GREETING", b"-ERR [SYS/PERM] closed for good\r\n", ErrorClass.SERVER_PERMANENT),
        ("GREETING", b"* OK IMAP4rev1 ready\r\n", ErrorClass.PROTOCOL_ERROR),
        ("STAT", b"+OK lots of mail\r\n", ErrorClass.PROTOCOL_ERROR),
        ("STAT", b"+OK -3 100\r\n", ErrorClass.PROTOCOL_ERROR),
        ("STAT", b"+OK " + b"9" * 30 + b" 1\r\n", ErrorClass.PROTOCOL_ERROR),
        ("STAT", b"+OK 2000000 1\r\n", ErrorClass.PROTOCOL_ERROR),
        ("LIST", b"+OK\r\n1 10\r\n1 20\r\n.\r\n", ErrorClass.PROTOCOL_ERROR),  # duplicate
        ("LIST", b"+OK\r\n1 10\r\n3 20\r\n.\r\n", ErrorClass.PROTOCOL_ERROR),  # gap
        ("STAT", b"+OK " + b"x" * 600 + b"\r\n", ErrorClass.PROTOCOL_ERROR),  # over 512
        ("LIST", send_then_stall(b"+OK\r\n1 100\r\n"), ErrorClass.TIMEOUT),  # never ends
        ("TOP", send_then_close(b"+OK\r\nFrom: a@b\r\nSubj"), ErrorClass.PROTOCOL_ERROR),
        ("GREETING", stall, ErrorClass.TIMEOUT),
        ("GREETING", send_then_close(b""), ErrorClass.PROTOCOL_ERROR),
        ("GREETING", b"\x00\xff\xfe binary junk\r\n", ErrorClass.PROTOCOL_ERROR),
    ],
    ids=lambda v: v.name if isinstance(v, ErrorClass) else None,
)
async def test_broken_server_replies_are_classified(
    verb: str, reply: object, expected: ErrorClass
) -> None:
    async with scripted_server(replies={verb: reply}) as server, no_leaks():
        snapshot = await poll_mailbox(scripted_config(server, timeout=1.0))
    assert snapshot.error is expected, snapshot.error_text
    assert snapshot.duration < 2.0


async def test_over_long_status_line_is_refused_before_it_is_all_read() -> None:
    """A 'line' that never ends is cut off at 512 octets, not buffered until memory runs out."""
    async with scripted_server(
        replies={"GREETING": send_then_stall(b"+OK " + b"A" * 100_000)}
    ) as server:
        snapshot = await poll_mailbox(scripted_config(server))
    assert snapshot.error is ErrorClass.PROTOCOL_ERROR
    assert "512" in snapshot.error_text


async def test_old_server_refusing_capa_still_gets_polled_with_user_pass() -> None:
    async with scripted_server(replies={"CAPA": b"-ERR unknown command\r\n"}) as server:
        snapshot = await poll_mailbox(scripted_config(server))
    assert snapshot.error is ErrorClass.OK, snapshot.error_text
    assert snapshot.messages == 2
    assert [m.subject for m in snapshot.known_messages] == ["first", "second"]
    assert "USER" in server.verbs
    assert "PASS" in server.verbs


async def test_server_without_top_still_reports_counts() -> None:
    async with scripted_server(replies={"TOP": b"-ERR TOP not supported\r\n"}) as server:
        snapshot = await poll_mailbox(scripted_config(server))
    assert snapshot.error is ErrorClass.OK
    assert snapshot.messages == 2
    assert snapshot.known_messages == ()
    assert "TOP" not in snapshot.capabilities


async def test_login_delay_capability_is_reported() -> None:
    capa = b"+OK\r\nTOP\r\nUSER\r\nLOGIN-DELAY 900\r\nEXPIRE NEVER\r\n.\r\n"
    async with scripted_server(capa=capa) as server:
        snapshot = await poll_mailbox(scripted_config(server))
    assert snapshot.error is ErrorClass.OK
    assert snapshot.login_delay == 900
    assert "LOGIN-DELAY" in snapshot.capabilities


async def test_stls_refused_when_required_sends_no_credentials() -> None:
    capa = b"+OK\r\nSTLS\r\nTOP\r\nUSER\r\n.\r\n"
    async with scripted_server(capa=capa, replies={"STLS": b"-ERR not now\r\n"}) as server:
        snapshot = await poll_mailbox(scripted_config(server, tls_mode=TlsMode.STARTTLS))
    assert snapshot.error is ErrorClass.STLS_UNAVAILABLE
    assert server.verbs == ["CAPA", "STLS"]
    assert not any(b"scripted-secret" in line for line in server.received)


async def test_plaintext_injected_after_stls_is_discarded(
    test_ca: object,
) -> None:
    """RFC 2595: whatever arrives before the handshake is dropped, never taken as a reply."""
    import trustme

    assert isinstance(test_ca, trustme.CA)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def stls_with_injection(conn: object) -> None:
        from tests.fixtures.scripted import Connection

        assert isinstance(conn, Connection)
        await conn.send(b"+OK begin TLS\r\n-ERR [AUTH] injected\r\n+OK 99 99\r\n")
        await conn.writer.start_tls(server_context)

    capa = b"+OK\r\nSTLS\r\nTOP\r\nUSER\r\n.\r\n"
    async with scripted_server(capa=capa, replies={"STLS": stls_with_injection}) as server:
        ca_file = _ca_file(test_ca)
        snapshot = await poll_mailbox(
            scripted_config(
                server, tls_mode=TlsMode.STARTTLS, ca_file=ca_file, allow_insecure_auth=False
            )
        )
    assert snapshot.error is ErrorClass.OK, snapshot.error_text
    assert snapshot.messages == 2


def _ca_file(ca: object) -> object:
    import tempfile
    from pathlib import Path

    import trustme

    assert isinstance(ca, trustme.CA)
    path = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
