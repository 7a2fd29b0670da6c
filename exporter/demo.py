"""`pop3-exporter --demo`: the exporter polling its own built-in POP3S server, zero setup.

A newcomer sees live metrics and the status page within seconds: three mailboxes where mail
keeps arriving (and is now and then fetched away), and one configured with a wrong password so
the failure side is visible too. Everything lives in a temp directory that is removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Any

from .config import build_config
from .demo_server import (
    DemoMailbox,
    DemoPop3Server,
    deliver_forever,
    make_certificates,
    make_message,
)
from .runtime import Exporter
from .serve import serve
from .web import parse_listen_address

DEMO_INTERVAL = 5.0  # seconds: far too often for a real server, right for watching a demo
DEMO_USERS = ("alice", "support", "newsletters")
WRONG_PASSWORD_MAILBOX = "wrong-password"  # noqa: S105 (a mailbox name)


def _port_free(host: str | None, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host or "", port))
        except OSError:
            return False
    return True


def demo_config(pop3_port: int, ca_file: Path, mailboxes: list[DemoMailbox]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"name": m.username, "username": m.username, "password": m.password} for m in mailboxes
    ]
    entries.append(
        {
            "name": WRONG_PASSWORD_MAILBOX,
            "username": mailboxes[0].username,
            "password": "not-" + secrets.token_urlsafe(8),  # deliberately wrong
        }
    )
    return {
        "defaults": {
            "host": "127.0.0.1",
            "port": pop3_port,
            "ca_file": str(ca_file),
            "interval": DEMO_INTERVAL,
            "timeout": DEMO_INTERVAL,
        },
        "mailboxes": entries,
    }


async def run_demo(listen_address: str, *, explicit_address: bool = False) -> int:
    host, port = parse_listen_address(listen_address)
    if not explicit_address and not _port_free(host, port):
        listen_address = f"{host or '127.0.0.1'}:0"  # the usual port is taken: any free one
    with tempfile.TemporaryDirectory(prefix="pop3-exporter-demo-") as tmp:
        certificates = make_certificates(Path(tmp))
        mailboxes = [DemoMailbox(user, secrets.token_urlsafe(12)) for user in DEMO_USERS]
        for index, mailbox in enumerate(mailboxes):
            mailbox.messages.extend(make_message(mailbox.username, n) for n in range(index + 2))
        server = DemoPop3Server(mailboxes, certificates.server_context())
        pop3_port = await server.start()
        config = build_config(demo_config(pop3_port, certificates.ca_file, mailboxes))
        exporter = Exporter(config, start_spread=1.0)
        delivery = asyncio.create_task(deliver_forever(mailboxes))

        def banner(url: str) -> str:
            return "\n".join(
                (
                    f"pop3-exporter demo: a built-in POP3S server on 127.0.0.1:{pop3_port} with "
                    f"{len(mailboxes)} mailboxes where mail keeps arriving,",
                    f"plus '{WRONG_PASSWORD_MAILBOX}', configured with a wrong password on purpose."
                    f" Polled every {DEMO_INTERVAL:g} s.",
                    f"  Status page:  {url}/",
                    f"  Metrics:      {url}/metrics",
                    f"  Live probe:   {url}/probe?mailbox={mailboxes[0].username}&debug=true",
                    "Press Ctrl-C to stop.",
                )
            )

        try:
            return await serve(exporter, listen_address, banner=banner)
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            await server.close()
