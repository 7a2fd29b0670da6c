"""Diagnostics: what a user attaches to a bug report. Never the password, never the username."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import masked

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
