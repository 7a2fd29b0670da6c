"""Sensors: what waits in the mailbox, and (as diagnostics) how the last poll went."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfInformation, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import Pop3ConfigEntry, Pop3Coordinator
from .entity import Pop3Entity
from .pop3probe import TlsInfo

PARALLEL_UPDATES = 0  # the coordinator polls; entities only read its data


@dataclass(frozen=True, kw_only=True)
class Pop3SensorEntityDescription(SensorEntityDescription):
    """How a sensor reads its value (and attributes) from the coordinator."""

    value_fn: Callable[[Pop3Coordinator], int | float | datetime | None]
    attributes_fn: Callable[[Pop3Coordinator], Mapping[str, Any] | None] = lambda _: None
    # True when the value is known even though the last poll failed.
    known_despite_failure_fn: Callable[[Pop3Coordinator], bool] = lambda _: False


def _newest_attributes(coordinator: Pop3Coordinator) -> Mapping[str, Any] | None:
    newest = coordinator.data.newest_message
    if newest is None:
        return None
    return {"sender": newest.sender, "subject": newest.subject}


def _newest_date(coordinator: Pop3Coordinator) -> datetime | None:
    newest = coordinator.data.newest_message
    return newest.date if newest else None


def _last_tls(coordinator: Pop3Coordinator) -> TlsInfo | None:
    """The certificate seen by the last poll, even a failed one: when verification fails the
    core reads the certificate in a second handshake (that sends no credentials), so an expired
    certificate shows its date exactly when it matters."""
    last = coordinator.last_poll
    if last is not None and last.tls is not None:
        return last.tls
    return coordinator.data.tls if coordinator.data else None


def _failed_poll_saw_certificate(coordinator: Pop3Coordinator) -> bool:
    last = coordinator.last_poll
    return last is not None and last.tls is not None and last.tls.cert_not_after is not None


def _cert_expiry(coordinator: Pop3Coordinator) -> datetime | None:
    tls = _last_tls(coordinator)
    return tls.cert_not_after if tls else None


SENSORS: tuple[Pop3SensorEntityDescription, ...] = (
    Pop3SensorEntityDescription(
        key="messages",
        translation_key="messages",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator: coordinator.data.messages,
    ),
    Pop3SensorEntityDescription(
        key="unread",
        translation_key="unread",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator: coordinator.unread,
    ),
    Pop3SensorEntityDescription(
        key="mailbox_size",
        translation_key="mailbox_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.KIBIBYTES,
        suggested_display_precision=1,
        value_fn=lambda coordinator: coordinator.data.size_bytes,
    ),
    Pop3SensorEntityDescription(
        key="newest_message",
        translation_key="newest_message",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_newest_date,
        attributes_fn=_newest_attributes,
    ),
    Pop3SensorEntityDescription(
        key="poll_duration",
        translation_key="poll_duration",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=3,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,  # changes at every poll: noise in the recorder
        value_fn=lambda coordinator: round(coordinator.data.duration, 3),
    ),
    Pop3SensorEntityDescription(
        key="certificate_expiry",
        translation_key="certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_cert_expiry,
        known_despite_failure_fn=_failed_poll_saw_certificate,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: Pop3ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One of each sensor per mailbox."""
    async_add_entities(Pop3Sensor(entry.runtime_data, description) for description in SENSORS)


class Pop3Sensor(Pop3Entity, SensorEntity):
    """A value from the last successful poll; unavailable while polls fail (but for what the
    failed poll still measured, such as the certificate's expiry)."""

    entity_description: Pop3SensorEntityDescription

    @property
    def available(self) -> bool:
        return super().available or self.entity_description.known_despite_failure_fn(
            self.coordinator
        )

    @property
    def native_value(self) -> int | float | datetime | None:
        return self.entity_description.value_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        return self.entity_description.attributes_fn(self.coordinator)
