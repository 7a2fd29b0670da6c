"""The matrix harness itself, checked with the standard library's poplib before pop3probe is.

When a matrix test fails, this tells whether the server (as the harness starts it) or the
monitor is at fault. Only USER/PASS, STAT, LIST, TOP and QUIT are sent: nothing that changes a
mailbox. The servers are the session's, shared with the matrix tests.
"""

from __future__ import annotations

import poplib
import ssl
from email.parser import BytesHeaderParser

import pytest

from tests.fixtures.mailservers import matrix_cells
from tests.fixtures.mailservers.base import IMPLICIT, MailServer, MailUser


def _login(server: MailServer, mode: str, user: MailUser) -> poplib.POP3:
    context = ssl.create_default_context(cafile=server.ca_file)
    port = server.endpoints[mode]
    if mode == IMPLICIT:
        client: poplib.POP3 = poplib.POP3_SSL(server.host, port, context=context, timeout=10)
    else:
        client = poplib.POP3(server.host, port, timeout=10)
        client.stls(context=context)
    client.user(user.username)
    client.pass_(user.password)
    return client


def _message_id(headers: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(headers)["Message-ID"]).strip()


@pytest.mark.parametrize(("server_name", "mode"), matrix_cells())
def test_delivered_mail_is_served_and_stored_unread(
    matrix_servers: dict[str, MailServer], server_name: str, mode: str
) -> None:
    server = matrix_servers[server_name]
    assert set(server.endpoints) == set(server.modes)
    user = server.add_user()
    delivered = []
    # Sessions in a row, with a delivery before each: every one shows the new mail.
    for count in (1, 2):
        delivered.append(server.deliver(user, subject=f"message {count}"))
        client = _login(server, mode, user)
        try:
            assert client.stat()[0] == count
            assert len(client.list()[1]) == count
            # Some servers number Maildir mail in directory order: compare as sets.
            seen = {_message_id(b"\n".join(client.top(n, 0)[1])) for n in range(1, count + 1)}
            assert seen == set(delivered)
        finally:
            client.quit()
    stored = server.stored_messages(user)
    assert [m.message_id for m in stored] == delivered
    assert not any(m.marked_read for m in stored)
