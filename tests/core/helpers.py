"""Small helpers for the core tests: leak checks, a config for the scripted server."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from pop3probe import MailboxConfig, SecretSource, TlsMode
from tests.fixtures.scripted import ScriptedServer


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.asynccontextmanager
async def no_leaks() -> AsyncIterator[None]:
    """Asserts that the block leaves no extra task and no extra open file descriptor."""
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    fds_before = open_fds()
    yield
    for _ in range(50):  # transports close on a later loop iteration
        await asyncio.sleep(0.01)
        extra_tasks = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
        if open_fds() <= fds_before and not extra_tasks:
            return
    assert not extra_tasks, f"tasks left behind: {extra_tasks}"
    assert open_fds() <= fds_before, f"file descriptors leaked: {fds_before} -> {open_fds()}"


def scripted_config(server: ScriptedServer, **overrides: object) -> MailboxConfig:
    """A plain-text mailbox on the scripted server (it speaks no TLS unless given a context)."""
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": "ana",
        "secret": SecretSource(value="scripted-secret"),
        "tls_mode": TlsMode.PLAIN,
        "allow_insecure_auth": True,
        "timeout": 2.0,
    }
    settings.update(overrides)
    return MailboxConfig(**settings)  # type: ignore[arg-type]
