"""A unique password and a unique XOAUTH2 token, then a search of everything the core and the
exporter emit: DEBUG logs, exception reprs, transcripts, snapshots, /metrics, the status page,
/probe and its debug output, /-/reload and `check` output, the state file. Neither may appear,
in clear or in any encoding the client sends them in.
(Home Assistant's side: tests/ha/test_secret_sweep.py.)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pop3probe import (
    AuthMechanism,
    ErrorClass,
    MailboxConfig,
    Pop3Error,
    SecretSource,
    TlsMode,
    Transcript,
    poll_mailbox,
)
from tests.exporter.helpers import REPO, exporter_command, running_exporter
from tests.faults.helpers import dovecot_config, leaked_in, secret_forms
from tests.fixtures.background import BackgroundLoop
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.faultproxy import Direction, Fault, FaultKind, FaultProxy
from tests.fixtures.scripted import Connection, ScriptedServer

OAUTH_USER = "ana@example.org"
OAUTH_CAPA = b"+OK\r\nTOP\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n"
# What Gmail sends before refusing a token: a JSON error as a SASL challenge.
GMAIL_CHALLENGE = b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n"


async def _refuse_token(conn: Connection) -> None:
    await conn.send(GMAIL_CHALLENGE)
    await conn.reader.readline()  # the client's empty answer
    await conn.send(b"-ERR [AUTH] Invalid credentials (Failure)\r\n")


@dataclasses.dataclass(frozen=True)
class Secrets:
    user: DovecotUser
    password: str  # the mailbox's real password
    wrong: str  # a wrong password, also unique
    token: str  # an XOAUTH2 token the server accepts
    refused_token: str  # one it refuses

    def forms(self) -> list[bytes]:
        return [
            *secret_forms(self.user.username, self.password),
            *secret_forms(self.user.username, self.wrong),
            *secret_forms(OAUTH_USER, self.token),
            *secret_forms(OAUTH_USER, self.refused_token),
        ]


@pytest.fixture(scope="module")
def unique(dovecot: DovecotServer) -> Secrets:
    tag = secrets.token_hex(6)
    user = dovecot.add_user(username=f"sweep{tag}", password=f"Sweep-Pw-{secrets.token_hex(10)}")
    dovecot.deliver(user, subject="for the sweep")
    return Secrets(
        user=user,
        password=user.password,
        wrong=f"Wrong-Pw-{secrets.token_hex(10)}",
        token=f"ya29.Good-{secrets.token_urlsafe(24)}",
        refused_token=f"ya29.Refused-{secrets.token_urlsafe(24)}",
    )


_addresses: Iterator[int] = iter(range(60, 250))


def _fresh_source() -> str:
    return f"127.0.3.{next(_addresses)}"


async def test_the_core_emits_no_secret_anywhere(
    dovecot: DovecotServer,
    unique: Secrets,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    created: list[Pop3Error] = []
    original_init = Pop3Error.__init__

    def recording_init(self: Pop3Error, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(Pop3Error, "__init__", recording_init)
    transcripts: list[Transcript] = []
    snapshots = []

    async def poll(config: MailboxConfig) -> None:
        transcripts.append(Transcript())
        snapshots.append(await poll_mailbox(config, transcript=transcripts[-1]))

    good = dovecot_config(dovecot, unique.user, port=dovecot.pop3s_port, tls=True, timeout=10)
    for mechanism in (AuthMechanism.USER, AuthMechanism.PLAIN, AuthMechanism.LOGIN):
        await poll(dataclasses.replace(good, auth=mechanism))
        await poll(
            dataclasses.replace(
                good,
                auth=mechanism,
                secret=SecretSource(value=unique.wrong),
                source_address=_fresh_source(),
            )
        )
    # Faults in the middle of the login: the errors built there hold no secret either.
    for fault in (
        Fault(FaultKind.DROP, "auth", Direction.TO_CLIENT, after_bytes=3),
        Fault(FaultKind.FLIP, "auth", Direction.TO_CLIENT),
        Fault(FaultKind.DROP, "auth", Direction.TO_SERVER, after_bytes=20),
    ):
        async with FaultProxy(dovecot.pop3_port, fault=fault) as proxy:
            plain = dovecot_config(dovecot, unique.user, port=proxy.port, tls=False)
            await poll(plain)
    # XOAUTH2: a token the server takes and one it refuses (after a JSON challenge).
    async with _oauth_servers() as (accepting, refusing):
        for server, token in ((accepting, unique.token), (refusing, unique.refused_token)):
            await poll(
                MailboxConfig(
                    host="127.0.0.1",
                    port=server.port,
                    username=OAUTH_USER,
                    secret=SecretSource(value=token),
                    auth=AuthMechanism.XOAUTH2,
                    tls_mode=TlsMode.PLAIN,
                    allow_insecure_auth=True,
                    timeout=5,
                )
            )
        sent_oauth = b"".join(accepting.received + refusing.received)

    results = [s.error for s in snapshots]
    assert results[0::2][:3] == [ErrorClass.OK] * 3, snapshots
    assert results[1::2][:3] == [ErrorClass.AUTH_FAILED] * 3
    assert results[-2:] == [ErrorClass.OK, ErrorClass.AUTH_FAILED]
    assert unique.token.encode() not in sent_oauth  # sent base64-encoded only...
    assert secret_forms(OAUTH_USER, unique.token)[3] in sent_oauth  # ...as the SASL response
    assert created, "no error was raised: the sweep would prove nothing"

    emitted: list[str] = [
        *(r.getMessage() for r in caplog.records),
        *(r.exc_text or "" for r in caplog.records),
        *(t.text() for t in transcripts),
        *(repr(s) for s in snapshots),
        *(f"{e!r} {e} {e.server_text} {e.__context__!r} {e.__cause__!r}" for e in created),
        repr(good),
        str(good),
    ]
    assert any("C: AUTH" in t.text() or "C: PASS" in t.text() for t in transcripts)
    assert not leaked_in(unique.forms(), *emitted)


class _OAuthServers:
    def __init__(self) -> None:
        self.accepting = ScriptedServer(capa=OAUTH_CAPA)
        self.refusing = ScriptedServer(capa=OAUTH_CAPA, replies={"AUTH": _refuse_token})

    async def __aenter__(self) -> tuple[ScriptedServer, ScriptedServer]:
        await self.accepting.start()
        await self.refusing.start()
        return self.accepting, self.refusing

    async def __aexit__(self, *exc: object) -> None:
        await self.accepting.stop()
        await self.refusing.stop()


def _oauth_servers() -> _OAuthServers:
    return _OAuthServers()


def test_the_exporter_emits_no_secret_anywhere(
    dovecot: DovecotServer, unique: Secrets, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(unique.token + "\n")
    state_file = tmp_path / "state.json"
    env = {"SWEEP_WRONG_PASSWORD": unique.wrong, "SWEEP_REFUSED_TOKEN": unique.refused_token}
    with BackgroundLoop() as background:
        servers = background.run(_OAuthServers().__aenter__())
        accepting, refusing = servers
        try:
            dovecot_box = {
                "host": dovecot.host,
                "port": dovecot.pop3s_port,
                "username": unique.user.username,
                "ca_file": str(dovecot.ca_file),
                "interval": 2,
                "timeout": 2,
            }
            oauth_box = {
                "host": "127.0.0.1",
                "username": OAUTH_USER,
                "auth": "xoauth2",
                "tls_mode": "plain",
                "allow_insecure_auth": True,
                "interval": 2,
                "timeout": 2,
            }
            config: dict[str, Any] = {
                "state_file": str(state_file),
                "mailboxes": [
                    {"name": "good", "password": unique.password, **dovecot_box},
                    {
                        "name": "wrong",
                        "password_env": "SWEEP_WRONG_PASSWORD",
                        "source_address": _fresh_source(),
                        **dovecot_box,
                    },
                    {
                        "name": "oauth",
                        "password_file": str(token_file),
                        "port": accepting.port,
                        **oauth_box,
                    },
                    {
                        "name": "oauth-refused",
                        "password_env": "SWEEP_REFUSED_TOKEN",
                        "port": refusing.port,
                        **oauth_box,
                    },
                ],
            }
            pages = _exercise_exporter(config, tmp_path, env)
        finally:
            background.run(accepting.stop())
            background.run(refusing.stop())
    pages["state file"] = state_file.read_text()
    assert '"good"' in pages["state file"]
    for where, text in pages.items():
        assert not leaked_in(unique.forms(), text), f"secret leaked in {where}"


def _exercise_exporter(
    config: dict[str, Any], directory: Path, env: dict[str, str]
) -> dict[str, str]:
    """Everything the exporter shows, after each mailbox has polled at least once."""
    pages: dict[str, str] = {}
    with running_exporter(config, directory, env=env, log_level="debug") as exporter:
        exporter.wait_for(
            lambda s: (
                s.get('pop3_up{mailbox="good"}') == 1
                and s.get('pop3_up{mailbox="oauth"}') == 1
                and s.get('pop3_polls_total{mailbox="wrong",result="auth_failed"}', 0) >= 1
                and s.get('pop3_polls_total{mailbox="oauth-refused",result="auth_failed"}', 0) >= 1
            ),
            timeout=60,
        )
        pages["/metrics"] = exporter.get("/metrics").text
        pages["/"] = exporter.get("/").text
        for name in ("good", "wrong", "oauth", "oauth-refused"):
            pages[f"/probe {name}"] = exporter.get(f"/probe?mailbox={name}").text
            debug = exporter.get(f"/probe?mailbox={name}&debug=true").text
            assert "Session transcript" in debug
            pages[f"/probe {name} debug"] = debug
        # A reload refused because of an error in the very entry that holds the password.
        broken = yaml.safe_load(exporter.config_path.read_text())
        broken["mailboxes"][0]["port"] = "not a port"
        good_text = exporter.config_path.read_text()
        exporter.config_path.write_text(yaml.safe_dump(broken))
        reply = exporter.get("/-/reload", method="POST")
        assert reply.status == 500
        pages["/-/reload error"] = reply.text
        check = subprocess.run(
            [*exporter_command(), "--check-config", str(exporter.config_path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
            env={**os.environ, **env},
        )
        pages["--check-config"] = check.stdout + check.stderr
        exporter.config_path.write_text(good_text)
        # The search itself works: the config file holds the inline password.
        assert leaked_in(secret_forms("", config["mailboxes"][0]["password"]), good_text)
        for name in ("good", "wrong", "oauth-refused"):
            one_shot = subprocess.run(
                [*exporter_command(), "check", name, "--config", str(exporter.config_path)],
                capture_output=True,
                text=True,
                cwd=REPO,
                check=False,
                env={**os.environ, **env},
            )
            pages[f"check {name}"] = one_shot.stdout + one_shot.stderr
        exporter.stop()
        pages["log at DEBUG"] = exporter.log
    assert "DEBUG" in pages["log at DEBUG"]
    assert "auth_failed" in pages["/metrics"]
    return pages
