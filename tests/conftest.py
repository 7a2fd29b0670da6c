"""Fixtures shared by every suite: the real Dovecot and the other real servers of the matrix."""

pytest_plugins = ["tests.fixtures.dovecot", "tests.fixtures.mailservers.fixtures"]
