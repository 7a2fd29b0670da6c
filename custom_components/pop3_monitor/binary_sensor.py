"""The connectivity sensor: is the mail server answering and letting us in?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .compat import BinarySensorDeviceClass
from .coordinator import Pop3ConfigEntry
from .entity import Pop3Entity

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: Pop3ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One connectivity sensor per mailbox."""
    async_add_entities([Pop3ConnectivitySensor(entry.runtime_data, CONNECTIVITY)])


class Pop3ConnectivitySensor(Pop3Entity, BinarySensorEntity):
    """On while polls succeed; off, and still available, while they fail.

    Reporting an outage is this entity's whole point, so unlike the measurement sensors it never
    becomes unavailable itself. The `error` attribute names the last poll's error class.
    """

    @property
    def available(self) -> bool:
        return True

    @property
    def is_on(self) -> bool:
        return self.coordinator.last_update_success

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        last = self.coordinator.last_poll
        return {"error": last.error.value if last else None}
