"""Polls of a real Dovecot over real TLS: counts, sizes, headers, TLS facts, new-mail detection."""

from __future__ import annotations

import dataclasses
import hashlib
import imaplib
import ssl
from datetime import UTC, datetime

from pop3probe import (
    ErrorClass,
    MailboxConfig,
    MessageTracker,
    TlsMode,
    Transcript,
    poll_mailbox,
    tracker_from_json,
    tracker_to_json,
)
from tests.fixtures.dovecot import DovecotServer, DovecotUser


def _maildir_total(user: DovecotUser) -> int:
    """The maildrop size as POP3 counts it: files hold LF, POP3 sends CRLF (RFC 1939)."""
    return sum(
        len(path.read_bytes().replace(b"\n", b"\r\n"))
        for sub in ("new", "cur")
        for path in (user.maildir / sub).iterdir()
    )


async def test_pop3s_poll_reports_counts_sizes_and_decoded_headers(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    dovecot.deliver(
        mailbox,
        subject="=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
        sender="=?iso-8859-1?q?Jos=E9?= <jose@example.org>",
    )
    dovecot.deliver(mailbox, subject="no id here", message_id=None, date=1_700_000_000)

    snapshot = await poll_mailbox(mailbox_config)

    assert snapshot.error is ErrorClass.OK, snapshot.error_text
    assert snapshot.messages == 2
    assert snapshot.size_bytes == _maildir_total(mailbox)
    assert sum(snapshot.message_sizes) == snapshot.size_bytes
    subjects = {m.subject: m for m in snapshot.known_messages}
    assert set(subjects) == {"Grüße aus Köln", "no id here"}
    assert subjects["Grüße aus Köln"].sender == "José <jose@example.org>"
    assert subjects["Grüße aus Köln"].message_id is not None
    no_id = subjects["no id here"]
    assert no_id.message_id is None
    assert no_id.identity.startswith("sha256:")
    assert no_id.date == datetime.fromtimestamp(1_700_000_000, UTC)
    assert snapshot.oldest_message_date == no_id.date


async def test_stls_poll_reports_the_same_as_pop3s(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    dovecot.deliver(mailbox, subject="over STLS")
    stls = dataclasses.replace(mailbox_config, port=dovecot.pop3_port, tls_mode=TlsMode.STARTTLS)

    implicit, upgraded = await poll_mailbox(mailbox_config), await poll_mailbox(stls)

    assert implicit.error is ErrorClass.OK, implicit.error_text
    assert upgraded.error is ErrorClass.OK, upgraded.error_text
    assert (upgraded.messages, upgraded.size_bytes) == (implicit.messages, implicit.size_bytes)
    assert [m.subject for m in upgraded.known_messages] == ["over STLS"]
    assert upgraded.tls is not None
    assert upgraded.tls.version.startswith("TLSv1")


async def test_tls_facts_describe_the_server_certificate(
    dovecot: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    snapshot = await poll_mailbox(mailbox_config)

    pem = (dovecot.root / "server.pem").read_text()
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert snapshot.tls is not None
    assert snapshot.tls.cert_sha256 == hashlib.sha256(der).hexdigest()
    assert snapshot.tls.verified
    assert snapshot.tls.cipher
    assert snapshot.tls.cert_not_after is not None
    assert snapshot.tls.cert_not_after.year >= 2027
    assert "O=trustme" in snapshot.tls.cert_issuer
    assert {"TOP", "SASL", "PIPELINING", "USER"} <= snapshot.capabilities
    assert set(snapshot.phase_durations) >= {"connect", "tls", "greeting", "capa", "auth", "stat"}


async def test_mail_delivered_between_polls_is_new_exactly_once(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    dovecot.deliver(mailbox, subject="already there")
    tracker = MessageTracker()
    first = await poll_mailbox(mailbox_config, tracker)
    assert first.new_messages == ()  # mail present at the first poll is the baseline

    dovecot.deliver(mailbox, subject="arrived 1")
    dovecot.deliver(mailbox, subject="arrived 2")
    second = await poll_mailbox(mailbox_config, tracker)
    third = await poll_mailbox(mailbox_config, tracker)

    assert [m.subject for m in second.new_messages] == ["arrived 1", "arrived 2"]
    assert [m.number for m in second.new_messages] == [2, 3]
    assert third.new_messages == ()
    assert second.newest_message is not None
    assert second.newest_message.subject == "arrived 2"


def _imap_delete(dovecot: DovecotServer, user: DovecotUser, subject: str) -> None:
    """Delete a message as another mail client would, over IMAP."""
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port) as imap:
        imap.login(user.username, user.password)
        imap.select("INBOX")
        _, found = imap.search(None, "SUBJECT", f'"{subject}"')
        for number in found[0].split():
            imap.store(number.decode(), "+FLAGS", "\\Deleted")
        imap.expunge()


async def test_message_removed_by_another_client_does_not_make_others_new(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    for subject in ("one", "two", "three"):
        dovecot.deliver(mailbox, subject=subject)
    tracker = MessageTracker()
    await poll_mailbox(mailbox_config, tracker)

    _imap_delete(dovecot, mailbox, "two")
    after_delete = await poll_mailbox(mailbox_config, tracker)
    dovecot.deliver(mailbox, subject="four")
    after_arrival = await poll_mailbox(mailbox_config, tracker)

    assert after_delete.messages == 2
    assert after_delete.new_messages == ()
    assert [m.subject for m in after_arrival.new_messages] == ["four"]
    assert [m.subject for m in after_arrival.known_messages] == ["one", "three", "four"]


async def test_restored_tracker_reports_nothing_twice(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    import json

    tracker = MessageTracker()
    await poll_mailbox(mailbox_config, tracker)
    dovecot.deliver(mailbox, subject="before restart")
    before = await poll_mailbox(mailbox_config, tracker)
    saved = json.dumps(tracker_to_json(tracker))

    restored = tracker_from_json(json.loads(saved))  # as after a restart
    again = await poll_mailbox(mailbox_config, restored)
    dovecot.deliver(mailbox, subject="after restart")
    after = await poll_mailbox(mailbox_config, restored)

    assert [m.subject for m in before.new_messages] == ["before restart"]
    assert again.new_messages == ()
    assert [m.subject for m in after.new_messages] == ["after restart"]


def _tops(transcript: Transcript) -> list[int]:
    return [int(line.split()[2]) for line in transcript.lines if line.startswith("C: TOP ")]


async def test_steady_state_poll_of_a_large_mailbox_sends_top_only_for_new_mail(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    for number in range(2000):
        dovecot.deliver(mailbox, subject=f"old {number}", body="x" * (number % 97))
    config = dataclasses.replace(mailbox_config, max_headers_per_poll=2000, timeout=60)
    tracker = MessageTracker()
    baseline = await poll_mailbox(config, tracker)
    assert baseline.messages == 2000
    assert len(baseline.known_messages) == 2000

    quiet = Transcript()
    await poll_mailbox(config, tracker, transcript=quiet)
    for subject in ("new a", "new b", "new c"):
        dovecot.deliver(mailbox, subject=subject)
    busy = Transcript()
    snapshot = await poll_mailbox(config, tracker, transcript=busy)

    # One TOP re-reads the last known message (proving nothing was renumbered); the rest are
    # exactly the new messages, whatever the mailbox size.
    assert _tops(quiet) == [2000]
    assert sorted(_tops(busy)) == [2000, 2001, 2002, 2003]
    assert [m.subject for m in snapshot.new_messages] == ["new a", "new b", "new c"]


async def test_headers_are_identified_progressively_when_bounded(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    for number in range(12):
        dovecot.deliver(mailbox, subject=f"m{number}")
    config = dataclasses.replace(mailbox_config, max_headers_per_poll=5)
    tracker = MessageTracker()

    known = [len((await poll_mailbox(config, tracker)).known_messages) for _ in range(4)]
    dovecot.deliver(mailbox, subject="late")
    last = await poll_mailbox(config, tracker)

    assert known == [5, 10, 12, 12]
    assert [m.subject for m in last.new_messages] == ["late"]


async def test_a_caller_supplied_tls_context_is_the_one_used(
    dovecot: DovecotServer, mailbox_config: MailboxConfig
) -> None:
    """Home Assistant builds the context off the event loop and passes it in."""
    trusting = ssl.create_default_context(cafile=str(dovecot.ca_file))
    trusting_nothing = ssl.create_default_context(cadata="")  # no CA at all

    good = await poll_mailbox(mailbox_config, ssl_context=trusting)
    refused = await poll_mailbox(mailbox_config, ssl_context=trusting_nothing)

    assert good.error is ErrorClass.OK
    assert refused.error is ErrorClass.CERT_INVALID
