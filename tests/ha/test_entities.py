"""Snapshots (syrupy) of every entity of a mailbox: registry entry, state and attributes.

A fixed user, fixed messages (Message-ID, date, sender) and a fixed entry id make everything
stable but what truly varies between runs: the poll duration and the time the event fired.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer

from .helpers import entity_id, entry_data, next_poll, unique_id

JAN_2026 = 1767225600.0  # 2026-01-01T00:00:00Z


def describe(hass: HomeAssistant, entry: er.RegistryEntry) -> dict[str, Any]:
    state = hass.states.get(entry.entity_id)
    assert state is not None, entry.entity_id
    volatile = entry.translation_key == "poll_duration" or entry.domain == "event"
    return {
        "entity_id": entry.entity_id,
        "unique_id": entry.unique_id,
        "translation_key": entry.translation_key,
        "original_device_class": entry.original_device_class,
        "entity_category": entry.entity_category,
        "unit_of_measurement": entry.unit_of_measurement,
        "state": f"<{entry.translation_key or entry.domain} at this run>"
        if volatile and state.state not in ("unknown", "unavailable")
        else state.state,
        # Keys as the UI and the API see them: newer versions key some with a StrEnum member.
        "attributes": {str(key): value for key, value in state.attributes.items()},
    }


async def test_every_entity(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """All ten entities after a baseline message and one new arrival."""
    user = dovecot.add_user(username="ha-snapshot", password="snapshot-password")
    dovecot.deliver(
        user,
        subject="Welcome",
        sender="Ana <ana@example.org>",
        message_id="<welcome@test.example.org>",
        date=JAN_2026,
    )
    data = entry_data(dovecot, user)
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01SNAPSHOTENTRY",
        title="ha-snapshot@127.0.0.1",
        unique_id=unique_id(data),
        data=data,
        options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 10},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, entry.entry_id)
    disabled_by_default = sorted(e.entity_id for e in entries if e.disabled_by is not None)
    assert disabled_by_default == [entity_id(hass, entry.entry_id, "poll_duration")]
    for registry_entry in entries:  # as a user would, to see the diagnostics sensors too
        registry.async_update_entity(registry_entry.entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    dovecot.deliver(
        user,
        subject="Report card",
        sender="School <office@school.example>",
        message_id="<report-card@test.example.org>",
        date=JAN_2026 + 3600,
    )
    await next_poll(hass, freezer, timedelta(minutes=5))

    entries = er.async_entries_for_config_entry(registry, entry.entry_id)
    assert len(entries) == 10
    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.identifiers == {(DOMAIN, entry.entry_id)}
    assert {
        "device": {"name": device.name, "model": device.model, "entry_type": device.entry_type},
        "entities": [describe(hass, e) for e in sorted(entries, key=lambda e: e.entity_id)],
    } == snapshot
