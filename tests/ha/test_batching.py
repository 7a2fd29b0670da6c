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


def saved_server_hints(hass_storage: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """What the entry's storage remembers about the server's batching, wherever in the entry's
    stores it is kept."""

    def find(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if "demotions" in node:
                return node
            for child in node.values():
                if (found := find(child)) is not None:
                    return found
        return None

    entry_stores = [
        store
        for key, store in hass_storage.items()
        if key.startswith(f"{DOMAIN}.") and entry_id in key
    ]
    for store in entry_stores:
        if (hints := find(store["data"])) is not None:
            return hints
    raise AssertionError(f"no server hints saved for {entry_id}: {sorted(hass_storage)}")


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
        assert saved_server_hints(hass_storage, entry.entry_id)["demotions"] == 1

        # Setting up again (as the retry will) polls step by step and succeeds.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert await hass.config_entries.async_unload(entry.entry_id)
    # One good step-by-step poll is the probation after a first failure: batching may resume.
    saved = saved_server_hints(hass_storage, entry.entry_id)
    assert (saved["demotions"], saved["step_polls"]) == (1, 1)
