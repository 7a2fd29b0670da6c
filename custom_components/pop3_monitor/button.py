"""Buttons: "Check now" polls at once; "Mark as read" acknowledges everything on the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import Pop3ConfigEntry, Pop3Coordinator
from .entity import Pop3Entity

PARALLEL_UPDATES = 1  # a press is a login on the server: one at a time


@dataclass(frozen=True, kw_only=True)
class Pop3ButtonEntityDescription(ButtonEntityDescription):
    """What a press does, and whether the button works while polls fail."""

    press_fn: Callable[[Pop3Coordinator], Awaitable[None]]
    available_when_failing: bool = False


BUTTONS: tuple[Pop3ButtonEntityDescription, ...] = (
    Pop3ButtonEntityDescription(
        key="check_now",
        translation_key="check_now",
        press_fn=lambda coordinator: coordinator.async_request_refresh(),
        available_when_failing=True,  # retrying by hand is what one does when the server is down
    ),
    Pop3ButtonEntityDescription(
        key="mark_as_read",
        translation_key="mark_as_read",
        press_fn=lambda coordinator: coordinator.async_mark_as_read(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: Pop3ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Both buttons per mailbox."""
    async_add_entities(Pop3Button(entry.runtime_data, description) for description in BUTTONS)


class Pop3Button(Pop3Entity, ButtonEntity):
    """A button of one mailbox."""

    entity_description: Pop3ButtonEntityDescription

    @property
    def available(self) -> bool:
        return self.entity_description.available_when_failing or super().available

    async def async_press(self) -> None:
        await self.entity_description.press_fn(self.coordinator)
