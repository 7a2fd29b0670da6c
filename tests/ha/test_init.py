"""Setting a mailbox up and taking it down: failures at setup, and a clean unload.

These run on the real clock (no freezer), since the timeout case needs real time to pass.
"""

from __future__ import annotations

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor.const import DOMAIN

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
