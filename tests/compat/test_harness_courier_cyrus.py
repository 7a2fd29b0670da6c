"""The Courier and Cyrus harnesses themselves, checked with the standard library's poplib.

Each server starts once for the module; each test gets a fresh user. Only USER/PASS, STAT and
QUIT are sent: the harness is checked, not the monitor.
"""

from __future__ import annotations

import contextlib
import poplib
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.fixtures.mailservers.base import IMPLICIT, STARTTLS, UNPACKED, MailServer
from tests.fixtures.mailservers.courier import CourierServer
from tests.fixtures.mailservers.cyrus import CyrusServer

SERVER_CLASSES: list[type[MailServer]] = [CourierServer, CyrusServer]


@contextlib.contextmanager
def running(cls: type[MailServer], ca: trustme.CA, **options: Any) -> Iterator[MailServer]:
    if not (UNPACKED / cls.name / "VERSION").exists():
        pytest.fail(f"{cls.name} is not unpacked: run scripts/setup-mailservers")
    root = Path(tempfile.mkdtemp(prefix=f"pop3-{cls.name}-"))
    instance = cls(root, ca, **options)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)
    for port in instance.endpoints.values():  # stop() left nothing listening
        with pytest.raises(ConnectionRefusedError), socket.create_connection((instance.host, port)):
            pass


@pytest.fixture(scope="module", params=SERVER_CLASSES, ids=lambda c: c.name)
def server(request: pytest.FixtureRequest, test_ca: trustme.CA) -> Iterator[MailServer]:
    with running(request.param, test_ca) as instance:
        yield instance


@pytest.fixture(params=[IMPLICIT, STARTTLS])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def connect(server: MailServer, mode: str) -> poplib.POP3:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    timeout = server.login_failure_delay + 10
    port = server.endpoints[mode]
    if mode == IMPLICIT:
        return poplib.POP3_SSL(server.host, port, context=context, timeout=timeout)
    client = poplib.POP3(server.host, port, timeout=timeout)
    client.stls(context)
    return client


def test_delivered_message_is_counted_and_stays_unread(server: MailServer, mode: str) -> None:
    user = server.add_user()
    message_id = server.deliver(user)
    client = connect(server, mode)
    client.user(user.username)
    client.pass_(user.password)
    assert client.stat()[0] == 1
    client.quit()
    stored = server.stored_messages(user)
    assert [m.message_id for m in stored] == [message_id]
    assert not stored[0].marked_read


def test_wrong_password_is_refused(server: MailServer, mode: str) -> None:
    user = server.add_user()
    client = connect(server, mode)
    client.user(user.username)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto, match="-ERR"):
        client.pass_(user.password + "-wrong")
    # The measured delay is what tests size their timeouts by: it must not be an underestimate.
    assert time.monotonic() - started <= server.login_failure_delay + 2
    client.close()


def test_cyrus_popminpoll_refuses_an_early_login(test_ca: trustme.CA) -> None:
    """Debian's `popminpoll: 1`, kept as an option: LOGIN-DELAY 60, enforced at the next PASS."""
    with running(CyrusServer, test_ca, popminpoll=1) as cyrus:
        user = cyrus.add_user()
        first = connect(cyrus, IMPLICIT)
        assert first.capa()["LOGIN-DELAY"] == ["60"]
        first.user(user.username)
        first.pass_(user.password)
        first.quit()
        second = connect(cyrus, IMPLICIT)
        second.user(user.username)
        with pytest.raises(poplib.error_proto, match=r"\[LOGIN-DELAY\]"):
            second.pass_(user.password)
        second.close()
