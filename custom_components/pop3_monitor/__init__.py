"""POP3 Monitor: watches a POP3 mailbox read-only and reports its mail and its server's health."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import Pop3ConfigEntry, Pop3Coordinator, tracker_store
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT, Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, whether or not any mailbox is set up yet."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: Pop3ConfigEntry) -> bool:
    """Poll once before the entities exist: a mailbox that cannot be read is not set up."""
    coordinator = Pop3Coordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: Pop3ConfigEntry) -> bool:
    """The coordinator stops its timer itself (it registered async_shutdown on unload)."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: Pop3ConfigEntry) -> None:
    """A deleted mailbox leaves no saved tracker behind."""
    await tracker_store(hass, entry.entry_id).async_remove()
