"""The integration against every real server of the compatibility matrix, in every TLS mode.

As Home Assistant runs it: one entry per mailbox, polled again and again with its state kept,
mail arriving between polls. Each poll is a real session with the server (the clock is frozen,
the network is not).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.pop3_monitor.const import DOMAIN, EVENT_NEW_MESSAGE
from tests.fixtures.mailservers import SERVER_NAMES, matrix_cells
from tests.fixtures.mailservers.base import MailServer, MailUser

from .helpers import entity_id, next_poll, unique_id

pytestmark = pytest.mark.usefixtures("loopback_servers")
POLLS = 5
NEW_SUBJECT = "Zeugnis für Ana, Woche 48"  # RFC 2047-encoded on the wire
NEW_SENDER = "Grundschule Nörd <buero@schule.example>"
# Longer than any server's LOGIN-DELAY (Courier advertises 10 s): every tick is due.
INTERVAL = timedelta(minutes=5)


def _entry(hass: HomeAssistant, server: MailServer, mode: str, user: MailUser) -> MockConfigEntry:
    data = {
        "host": server.host,
        "port": server.endpoints[mode],
        "tls_mode": mode,
        "username": user.username,
        "password": user.password,
    }
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{server.name} {mode}",
        unique_id=unique_id(data),
        data=data,
        # The test CA is trusted through HA's own trust store (conftest: REQUESTS_CA_BUNDLE).
        options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 20},
    )
    entry.add_to_hass(hass)
    return entry


def _state(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    found = hass.states.get(entity_id(hass, entry.entry_id, key))
    assert found is not None
    return found.state


@pytest.mark.parametrize(("server_name", "mode"), matrix_cells())
async def test_polled_again_and_again_with_mail_arriving_between_polls(
    hass: HomeAssistant,
    matrix_servers: dict[str, MailServer],
    freezer: FrozenDateTimeFactory,
    server_name: str,
    mode: str,
) -> None:
    server = matrix_servers[server_name]
    user = server.add_user()
    server.deliver(user, subject="already there")
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)
    entry = _entry(hass, server, mode, user)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    new_message_id = ""
    for poll in range(POLLS):
        if poll == 2:
            new_message_id = server.deliver(user, subject=NEW_SUBJECT, sender=NEW_SENDER)
        await next_poll(hass, freezer, INTERVAL)
        assert _state(hass, entry, "connectivity") == STATE_ON, f"poll {poll + 1}"
        assert _state(hass, entry, "messages") == ("1" if poll < 2 else "2"), f"poll {poll + 1}"

    assert [(e.data["sender"], e.data["subject"]) for e in events] == [(NEW_SENDER, NEW_SUBJECT)]
    assert events[0].data["message_id"] == new_message_id
    stored = server.stored_messages(user)
    assert [m.message_id for m in stored][-1] == new_message_id
    assert len(stored) == 2
    assert not [m for m in stored if m.marked_read]
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("server_name", SERVER_NAMES)
async def test_a_wrong_password_asks_for_reauth_and_polling_stops(
    hass: HomeAssistant,
    matrix_servers: dict[str, MailServer],
    freezer: FrozenDateTimeFactory,
    server_name: str,
) -> None:
    """`auth_failed`, never a timeout (which would retry): the user is asked for the password
    and the server is left alone until then."""
    server = matrix_servers[server_name]
    user = server.add_user()
    entry = _entry(hass, server, server.modes[0], MailUser(user.username, "wrong-password"))
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR, entry.reason
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    await next_poll(hass, freezer, INTERVAL * 12)
    assert entry.state is ConfigEntryState.SETUP_ERROR
