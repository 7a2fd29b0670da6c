"""The test harness itself: real sockets to 127.0.0.1 only, as the conftest promises."""

from __future__ import annotations

import socket

import pytest
import pytest_socket

from tests.fixtures.dovecot import DovecotServer


def test_sockets_reach_dovecot_on_loopback(dovecot: DovecotServer) -> None:
    with socket.create_connection((dovecot.host, dovecot.pop3s_port), timeout=5):
        pass


# Newer pytest-socket also warns when it blocks; the exception is what counts here.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect")
def test_any_other_address_stays_blocked() -> None:
    with pytest.raises(pytest_socket.SocketConnectBlockedError):
        socket.create_connection(("127.0.0.2", 9), timeout=5)
