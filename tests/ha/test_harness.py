"""The test harness itself: real sockets, to 127.0.0.1 only, for a test that requests a real
server, as the conftest promises. (A unit test cannot create a socket at all: Home Assistant's
test plugin blocks that, and its newer releases also fail a test that tried.)"""

from __future__ import annotations

import socket

import pytest
import pytest_socket

from tests.fixtures.dovecot import DovecotServer


async def test_sockets_reach_dovecot_on_loopback(dovecot: DovecotServer) -> None:
    with socket.create_connection((dovecot.host, dovecot.pop3s_port), timeout=5):
        pass


# Newer pytest-socket also warns when it blocks; the exception is what counts here.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect")
@pytest.mark.usefixtures("loopback_servers")
def test_any_other_address_stays_blocked() -> None:
    with pytest.raises(pytest_socket.SocketConnectBlockedError):
        socket.create_connection(("127.0.0.2", 9), timeout=5)
