"""Fixtures shared by every suite: the real Dovecot and the scripted hostile server."""

pytest_plugins = ["tests.fixtures.dovecot"]
