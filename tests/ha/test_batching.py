"""A server that drops batched commands: the entry learns to poll it step by step, remembers
that in Home Assistant's storage, and recovers without a restart.

On the real clock (no freezer): the poll's timeout has to run out.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.scripted import scripted_server

pytestmark = pytest.mark.usefixtures("loopback_servers")
PIPELINING_CAPA = b"+OK\r\nTOP\r\nUSER\r\nPIPELINING\r\nRESP-CODES\r\n.\r\n"


async def test_a_server_dropping_batches_is_polled_step_by_step_after_one_failure(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    async with scripted_server(capa=PIPELINING_CAPA, drops_batches=True) as server:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="batches",
            unique_id="ana@127.0.0.1",
            data={
                "host": "127.0.0.1",
                "port": server.port,
                "tls_mode": "plain",
                "username": "ana",
                "password": "scripted-secret",
            },
            options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 1},
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        # The first poll batched STAT and LIST after the login, and the server dropped LIST.
        assert entry.state is ConfigEntryState.SETUP_RETRY
        saved = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["tracker"]["server"]
        assert saved["demotions"] == 1

        # Setting up again (as the retry will) polls step by step and succeeds.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert await hass.config_entries.async_unload(entry.entry_id)
    # One good step-by-step poll is the probation after a first failure: batching may resume.
    saved = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["tracker"]["server"]
    assert (saved["demotions"], saved["step_polls"]) == (1, 1)
