"""The new-message event entity: one event per message that arrived since the previous poll."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import EVENT_TYPE_NEW_MESSAGE
from .coordinator import Pop3ConfigEntry, new_message_event_data
from .entity import Pop3Entity
from .pop3probe import MessageInfo

PARALLEL_UPDATES = 0

NEW_MESSAGE = EventEntityDescription(
    key="new_message",
    translation_key="new_message",
    event_types=[EVENT_TYPE_NEW_MESSAGE],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: Pop3ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One event entity per mailbox."""
    async_add_entities([Pop3NewMessageEvent(entry.runtime_data, NEW_MESSAGE)])


class Pop3NewMessageEvent(Pop3Entity, EventEntity):
    """Fires `new_message` with the sender, subject, date, Message-ID and size of each arrival."""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_add_new_message_listener(self._handle_new_message)
        )

    @callback
    def _handle_new_message(self, message: MessageInfo) -> None:
        data = new_message_event_data(self.coordinator.config_entry, message)
        for key in ("entry_id", "mailbox"):  # the entity already says which mailbox
            data.pop(key)
        self._trigger_event(EVENT_TYPE_NEW_MESSAGE, data)
        self.async_write_ha_state()
