"""A known password or token never shows in an exception, a repr, a transcript or a log record."""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets

import pytest

from pop3probe import (
    AuthMechanism,
    ErrorClass,
    MailboxConfig,
    SecretSource,
    TlsMode,
    Transcript,
    poll_mailbox,
)
from pop3probe.commands import build_command
from pop3probe.errors import ForbiddenCommandError
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.scripted import scripted_server

_SOURCES = iter(f"127.0.1.{n}" for n in range(1, 255))  # fresh per wrong password


def _forms(secret: str) -> list[str]:
    """The secret and the encodings it travels in."""
    return [secret, base64.b64encode(secret.encode()).decode()]


def _assert_absent(secret: str, *texts: str) -> None:
    for text in texts:
        for form in _forms(secret):
            assert form not in text


@pytest.mark.parametrize(
    "mechanism", [AuthMechanism.USER, AuthMechanism.PLAIN, AuthMechanism.LOGIN]
)
async def test_password_stays_out_of_everything_a_poll_emits(
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    mailbox_config: MailboxConfig,
    mechanism: AuthMechanism,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = dataclasses.replace(mailbox_config, auth=mechanism)
    good_transcript, bad_transcript = Transcript(), Transcript()
    wrong = f"wrong-{secrets.token_hex(8)}"

    good = await poll_mailbox(config, transcript=good_transcript)
    bad = await poll_mailbox(
        dataclasses.replace(
            config, secret=SecretSource(value=wrong), source_address=next(_SOURCES)
        ),
        transcript=bad_transcript,
    )

    assert good.error is ErrorClass.OK, good.error_text
    assert bad.error is ErrorClass.AUTH_FAILED
    emitted = [
        repr(config),
        str(config),
        repr(good),
        repr(bad),
        good_transcript.text(),
        bad_transcript.text(),
        *(r.getMessage() for r in caplog.records),
        *(r.exc_text or "" for r in caplog.records),
    ]
    _assert_absent(mailbox.password, *emitted)
    _assert_absent(wrong, *emitted)
    assert "****" in good_transcript.text()


async def test_xoauth2_token_read_fresh_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first, second = f"ya29.{secrets.token_urlsafe(24)}", f"ya29.{secrets.token_urlsafe(24)}"
    capa = b"+OK\r\nTOP\r\nSASL XOAUTH2\r\n.\r\n"
    async with scripted_server(capa=capa) as server:
        config = MailboxConfig(
            host="127.0.0.1",
            port=server.port,
            username="ana@example.org",
            secret=SecretSource(env="POP3_TEST_TOKEN"),
            auth=AuthMechanism.XOAUTH2,
            tls_mode=TlsMode.PLAIN,
            allow_insecure_auth=True,
        )
        transcript = Transcript()
        monkeypatch.setenv("POP3_TEST_TOKEN", first)
        one = await poll_mailbox(config, transcript=transcript)
        monkeypatch.setenv("POP3_TEST_TOKEN", second)  # rotated between polls
        two = await poll_mailbox(config, transcript=transcript)

    assert one.error is ErrorClass.OK
    assert two.error is ErrorClass.OK
    sent = [line for line in server.received if line.startswith(b"AUTH XOAUTH2 ")]
    tokens = [base64.b64decode(line.split()[2]).decode() for line in sent]
    assert tokens == [
        f"user=ana@example.org\x01auth=Bearer {first}\x01\x01",
        f"user=ana@example.org\x01auth=Bearer {second}\x01\x01",
    ]
    emitted = [
        repr(config),
        repr(one),
        transcript.text(),
        *(r.getMessage() for r in caplog.records),
    ]
    _assert_absent(first, *emitted)
    _assert_absent(second, *emitted)


def test_injection_attempt_error_does_not_echo_the_password() -> None:
    password = f"p4ss\r\nDELE 1 {secrets.token_hex(4)}"
    with pytest.raises(ForbiddenCommandError) as raised:
        build_command("PASS", password)
    _assert_absent(password, str(raised.value), repr(raised.value))
    _assert_absent("p4ss", str(raised.value))


async def test_unreadable_secret_file_is_reported_by_path_not_content(
    tmp_path: object, mailbox_config: MailboxConfig
) -> None:
    from pathlib import Path

    missing = Path(str(tmp_path)) / "no-such-secret"
    snapshot = await poll_mailbox(
        dataclasses.replace(mailbox_config, secret=SecretSource(file=missing))
    )
    assert snapshot.error is ErrorClass.AUTH_FAILED
    assert str(missing) in snapshot.error_text


def test_plain_mode_without_insecure_auth_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="allow_insecure_auth"):
        MailboxConfig(
            host="h", username="u", secret=SecretSource(value="x"), tls_mode=TlsMode.PLAIN
        )
