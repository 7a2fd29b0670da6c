"""Setting a mailbox up and taking it down: failures at setup, and a clean unload.

These run on the real clock (no freezer), since the timeout case needs real time to pass.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.pop3_monitor.const import DOMAIN, EVENT_NEW_MESSAGE
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .fake_servers import silent_server


async def test_wrong_password_at_setup_asks_for_reauth(
    hass: HomeAssistant, mailbox_data: dict[str, object]
) -> None:
    """The server refuses the stored password: the entry is not set up, a reauth flow waits."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="x", data={**mailbox_data, "password": "wrong"}, title="x"
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]


@pytest.mark.parametrize("options", [{"timeout": 1}])
async def test_a_hung_server_times_out_and_setup_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A server that accepts and never answers: after the (short) timeout the entry waits to
    retry, and says why."""
    async with silent_server() as silent:
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, "port": silent.port}
        )
        await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()

        assert config_entry.state is ConfigEntryState.SETUP_RETRY
        assert "did not answer within the timeout" in str(config_entry.reason)
        assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_saved_state_survives_and_goes_with_the_entry(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    """The tracker is saved in Home Assistant's storage, and deleting the mailbox deletes it."""
    key = f"{DOMAIN}.{loaded_entry.entry_id}"
    assert hass_storage[key]["data"]["tracker"]["sequence"] == 1

    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()

    assert key not in hass_storage


async def test_unreadable_saved_state_starts_a_new_baseline(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A damaged save is ignored with a warning: the mailbox loads, and its mail is counted
    but not announced as new (a flood of old mail would be worse than a missed event)."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "data": {"tracker": {"version": 999}, "acknowledged": 0},
    }
    dovecot.deliver(mailbox)
    events = async_capture_events(hass, EVENT_NEW_MESSAGE)

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    assert config_entry.state is ConfigEntryState.LOADED
    assert "Ignoring unreadable saved state" in caplog.text
    assert events == []
    messages = hass.states.get(f"sensor.{mailbox.username}_127_0_0_1_messages")
    assert messages is not None
    assert messages.state == "1"
