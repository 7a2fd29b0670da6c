"""The `pop3_monitor.mark_as_read` action refuses, with a translated message, what it cannot do.
(What it does is tested with the button in test_polling.py.)"""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor.const import DOMAIN


async def test_unknown_mailbox_is_refused(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "mark_as_read", {"config_entry_id": "no-such-entry"}, blocking=True
        )
    assert raised.value.translation_key == "entry_not_found"
    assert raised.value.translation_placeholders == {"entry_id": "no-such-entry"}


async def test_mailbox_that_is_not_loaded_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "mark_as_read", {"config_entry_id": init_integration.entry_id}, blocking=True
        )
    assert raised.value.translation_key == "entry_not_loaded"
