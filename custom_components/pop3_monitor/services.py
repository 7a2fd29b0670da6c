"""The `pop3_monitor.mark_as_read` action: what the "Mark as read" button does, for automations."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .compat import vol
from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, SERVICE_MARK_AS_READ
from .coordinator import Pop3ConfigEntry

MARK_AS_READ_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> Pop3ConfigEntry:
    entry: Pop3ConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"mailbox": entry.title},
        )
    return entry


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (called once from async_setup)."""

    async def mark_as_read(call: ServiceCall) -> None:
        entry = _loaded_entry(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        await entry.runtime_data.async_mark_as_read()

    hass.services.async_register(
        DOMAIN, SERVICE_MARK_AS_READ, mark_as_read, schema=MARK_AS_READ_SCHEMA
    )
