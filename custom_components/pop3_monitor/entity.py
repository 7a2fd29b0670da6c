"""The base of every entity: one service device per mailbox, names from translations."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import Pop3Coordinator


class Pop3Entity(CoordinatorEntity[Pop3Coordinator]):
    """An entity of one mailbox.

    Unique ids build on the entry id, not on the entry's unique id (`user@host:port`): the
    reconfigure flow may move a mailbox to a new host or port, and its entities (with their
    history and automations) must move along instead of being replaced.
    """

    _attr_has_entity_name = True

    def __init__(self, coordinator: Pop3Coordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            entry_type=DeviceEntryType.SERVICE,
            model="POP3 mailbox",
        )
