"""Snapshots (syrupy) of every entity of a mailbox on the mocked core: registry entry, state and
attributes, after a first poll and a second that found a new message.

The polls are hand-made (tests/ha/polls.py) and the clock is frozen, so every value is stable.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import AsyncMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.pop3_monitor.const import DOMAIN

from .helpers import entity_id, next_poll
from .polls import NOW, REPORT_CARD, WELCOME, good_poll


def describe(hass: HomeAssistant, entry: er.RegistryEntry) -> dict[str, Any]:
    """What a user sees of one entity: its registry entry (the parts stable across the Home
    Assistant versions tested), its state and attributes."""
    state = hass.states.get(entry.entity_id)
    assert state is not None, entry.entity_id
    return {
        "entity_id": entry.entity_id,
        "unique_id": entry.unique_id,
        "translation_key": entry.translation_key,
        "original_device_class": entry.original_device_class,
        "entity_category": entry.entity_category,
        "unit_of_measurement": entry.unit_of_measurement,
        "state": state.state,
        # Keys as the UI and the API see them: newer versions key some with a StrEnum member.
        "attributes": {str(key): value for key, value in state.attributes.items()},
    }


async def test_every_entity(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_poll: AsyncMock,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """All ten entities of one device; the poll duration sensor is disabled by default."""
    freezer.move_to(NOW)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, mock_config_entry.entry_id)
    disabled_by_default = sorted(e.entity_id for e in entries if e.disabled_by is not None)
    assert disabled_by_default == [entity_id(hass, mock_config_entry.entry_id, "poll_duration")]
    for registry_entry in entries:  # as a user would, to see the diagnostics sensors too
        registry.async_update_entity(registry_entry.entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    mock_poll.return_value = good_poll(WELCOME, REPORT_CARD, new_messages=(REPORT_CARD,))
    await next_poll(hass, freezer, timedelta(minutes=5))

    entries = er.async_entries_for_config_entry(registry, mock_config_entry.entry_id)
    assert len(entries) == 10
    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), mock_config_entry.entry_id)
    assert device.identifiers == {(DOMAIN, mock_config_entry.entry_id)}
    assert all(e.device_id == device.id for e in entries)
    assert {
        "device": {"name": device.name, "model": device.model, "entry_type": device.entry_type},
        "entities": [describe(hass, e) for e in sorted(entries, key=lambda e: e.entity_id)],
    } == snapshot
