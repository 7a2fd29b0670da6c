"""Proof that polling never changes the mailbox: files, flags, and every command on the wire."""

from __future__ import annotations

import dataclasses
import imaplib
import re
import time

from pop3probe import ErrorClass, MailboxConfig, MessageTracker, TlsMode, poll_mailbox
from pop3probe.commands import ALLOWED_COMMANDS
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.faultproxy import FaultProxy


def _messages(user: DovecotUser) -> dict[str, str]:
    """Message file base name -> its Maildir flags ('' for mail still in new/)."""
    found = {}
    for sub in ("new", "cur"):
        for path in (user.maildir / sub).iterdir():
            base, _, info = path.name.partition(":2,")
            found[base] = info
    return found


def _imap_flags(dovecot: DovecotServer, user: DovecotUser) -> list[str]:
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port) as imap:
        imap.login(user.username, user.password)
        imap.select("INBOX", readonly=True)  # EXAMINE: looking changes no flag itself
        _, data = imap.fetch("1:*", "(FLAGS)")
    return [re.search(rb"FLAGS \(([^)]*)\)", item).group(1).decode() for item in data if item]  # type: ignore[union-attr]


async def test_twenty_polls_lose_no_message_and_mark_none_seen(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    for number in range(3):
        dovecot.deliver(mailbox, subject=f"unread {number}", folder="new")
    for number in range(2):
        dovecot.deliver(mailbox, subject=f"in cur {number}", folder="cur")
    before = _messages(mailbox)
    tracker = MessageTracker()

    snapshots = [await poll_mailbox(mailbox_config, tracker) for _ in range(20)]
    time.sleep(0.2)  # Dovecot's uidlist lock can linger a moment after QUIT

    assert all(s.error is ErrorClass.OK for s in snapshots)
    after = _messages(mailbox)
    assert set(after) == set(before), "a message file disappeared or appeared"
    assert not any("S" in flags for flags in after.values()), after
    assert not any("\\Seen" in flags for flags in _imap_flags(dovecot, mailbox))
    assert snapshots[-1].messages == 5


async def test_every_command_on_the_wire_is_on_the_allowlist(
    dovecot: DovecotServer, mailbox: DovecotUser, mailbox_config: MailboxConfig
) -> None:
    """A plain-text session (insecure auth explicitly allowed) through a recording proxy."""
    dovecot.deliver(mailbox, subject="one")
    tracker = MessageTracker()
    async with FaultProxy(target_port=dovecot.pop3_port) as proxy:
        config = dataclasses.replace(
            mailbox_config,
            port=proxy.port,
            tls_mode=TlsMode.PLAIN,
            allow_insecure_auth=True,
        )
        await poll_mailbox(config, tracker)
        dovecot.deliver(mailbox, subject="two")
        snapshot = await poll_mailbox(config, tracker)

    assert snapshot.error is ErrorClass.OK, snapshot.error_text
    assert [m.subject for m in snapshot.new_messages] == ["two"]
    verbs = [
        line.split(" ", 1)[0].upper() for line in proxy.sent_by_clients().decode().splitlines()
    ]
    assert {"CAPA", "AUTH", "STAT", "LIST", "TOP", "QUIT"} <= set(verbs)
    assert set(verbs) <= ALLOWED_COMMANDS
    assert not {"RETR", "DELE", "RSET", "UIDL", "LAST"} & set(verbs)
