"""Diagnostics: what a user attaches to a bug report. Never the password, never the username:
on the mocked core (a server text that names the user), and downloaded after a real poll."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest.mock import AsyncMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.pop3_monitor.pop3probe import ErrorClass
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import masked, next_poll
from .polls import MAILBOX_DATA, failed_poll

VOLATILE = {
    "port",  # Dovecot's ports are picked per test session
    "started_at",
    "duration",
    "connect",
    "tls",
    "greeting",
    "capa",
    "auth",
    "stat",
    "list",
    "top",
    "quit",
    "done",
    "cert_subject",
    "cert_issuer",
    "cert_sha256",
    "cipher",
}


async def test_diagnostics_hold_no_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    loaded_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Downloaded through Home Assistant's API: the poll facts are there, the secrets are not."""
    dovecot.deliver(mailbox)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)

    text = json.dumps(diagnostics)
    assert mailbox.password not in text
    assert mailbox.username not in text
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"
    assert masked(diagnostics, VOLATILE) == snapshot


async def test_diagnostics_scrub_the_username_from_what_the_server_said(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """A server whose refusal names the account: the last poll's texts show it redacted, and
    the password appears nowhere."""
    mock_poll.return_value = failed_poll(
        ErrorClass.SERVER_PERMANENT,
        error_text="the server refused the session for ana",
        server_text="[SYS/PERM] Mailbox of ana is locked by the administrator",
    )
    await next_poll(hass, freezer, timedelta(minutes=5))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    text = json.dumps(diagnostics)
    assert MAILBOX_DATA["password"] not in text
    assert "Mailbox of **REDACTED** is locked" in text
    assert " ana" not in text
    assert diagnostics == snapshot
