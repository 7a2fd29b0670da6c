"""The harness itself, against Mailutils, popa3d, Solid (mbox and Maildir) and perdition
(in front of Dovecot): each starts, serves its TLS modes, and its store reads back what was
delivered. Stdlib poplib only (STAT, LIST, TOP, QUIT: nothing that changes a mailbox), so a
failure here is the harness's, not pop3probe's."""

from __future__ import annotations

import poplib
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
import trustme

from tests.fixtures.mailservers.base import IMPLICIT, STARTTLS, MailServer, MailUser
from tests.fixtures.mailservers.mailutils import MailutilsServer
from tests.fixtures.mailservers.perdition import PerditionServer
from tests.fixtures.mailservers.popa3d import Popa3dServer
from tests.fixtures.mailservers.solid import SolidMaildirServer, SolidServer

# Each server with the TLS modes it must offer.
CASES: list[tuple[type[MailServer], tuple[str, ...]]] = [
    (MailutilsServer, (IMPLICIT, STARTTLS)),
    (Popa3dServer, (IMPLICIT,)),
    (SolidServer, (IMPLICIT,)),
    (SolidMaildirServer, (IMPLICIT,)),
    (PerditionServer, (IMPLICIT, STARTTLS)),
]
PARAMS = [
    pytest.param(cls, mode, id=f"{cls.name}-{mode}") for cls, modes in CASES for mode in modes
]


@pytest.mark.parametrize(("cls", "modes"), CASES, ids=[cls.name for cls, _ in CASES])
def test_classes_declare_their_modes(cls: type[MailServer], modes: tuple[str, ...]) -> None:
    assert cls.modes == modes


@pytest.fixture(scope="module")
def servers(test_ca: trustme.CA) -> Iterator[dict[type[MailServer], MailServer]]:
    """Each server class started once for the module, on first use."""
    roots: list[Path] = []

    class Servers(dict[type[MailServer], MailServer]):
        def __missing__(self, cls: type[MailServer]) -> MailServer:
            root = Path(tempfile.mkdtemp(prefix=f"pop3-{cls.name}-"))
            roots.append(root)
            server = cls(root, test_ca)
            if server.version() == "unknown":
                pytest.fail(f"{cls.name} is not unpacked: run scripts/setup-mailservers")
            server.start()
            self[cls] = server
            return server

    pool = Servers()
    try:
        yield pool
    finally:
        for server in pool.values():
            server.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def connect(server: MailServer, mode: str, timeout: float = 10.0) -> poplib.POP3:
    context = ssl.create_default_context(cafile=server.ca_file)
    port = server.endpoints[mode]
    if mode == IMPLICIT:
        return poplib.POP3_SSL(server.host, port, context=context, timeout=timeout)
    client = poplib.POP3(server.host, port, timeout=timeout)
    client.stls(context=context)
    return client


def login(server: MailServer, mode: str, user: MailUser) -> poplib.POP3:
    client = connect(server, mode)
    client.user(user.username)
    client.pass_(user.password)
    return client


def message_id(headers: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(headers)["Message-ID"]).strip()


@pytest.mark.parametrize(("cls", "mode"), PARAMS)
def test_delivered_mail_is_counted_and_stays_unread(
    servers: dict[type[MailServer], MailServer], cls: type[MailServer], mode: str
) -> None:
    server = servers[cls]
    assert set(server.endpoints) == set(cls.modes)
    user = server.add_user()
    delivered = []
    # Sessions in a row, with a delivery before each: every one shows the new mail.
    for count in (1, 2):
        delivered.append(server.deliver(user, subject=f"message {count}"))
        client = login(server, mode, user)
        try:
            assert client.stat()[0] == count
            assert len(client.list()[1]) == count
            # Some servers number Maildir mail in directory order: compare as sets.
            seen = {message_id(b"\n".join(client.top(n, 0)[1])) for n in range(1, count + 1)}
            assert seen == set(delivered)
        finally:
            client.quit()
    stored = server.stored_messages(user)
    assert [m.message_id for m in stored] == delivered
    assert not any(m.marked_read for m in stored)


@pytest.mark.parametrize(("cls", "mode"), PARAMS)
def test_wrong_password_is_refused(
    servers: dict[type[MailServer], MailServer], cls: type[MailServer], mode: str
) -> None:
    server = servers[cls]
    user = server.add_user()
    client = connect(server, mode, timeout=server.login_failure_delay + 10)
    try:
        client.user(user.username)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR"):
            client.pass_(user.password + "-wrong")
    finally:
        client.close()
