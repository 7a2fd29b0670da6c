"""Small helpers for the Home Assistant tests: entry data, driving polls, finding entities."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import ssl as ha_ssl
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser


def use_ha_trust_store(ca_bundle: Path | None) -> None:
    """Rebuild Home Assistant's shared client contexts from `ca_bundle` (None: certifi's
    store), as HA builds them at start with REQUESTS_CA_BUNDLE set to that file or unset."""
    if ca_bundle is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca_bundle)
    ha_ssl._client_context.cache_clear()


def entry_data(
    dovecot: DovecotServer,
    user: DovecotUser,
    *,
    tls_mode: str = "implicit",
    port: int | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """What the config flow stores for a mailbox on the test Dovecot."""
    default_port = dovecot.pop3s_port if tls_mode == "implicit" else dovecot.pop3_port
    return {
        "host": dovecot.host,
        "port": port or default_port,
        "tls_mode": tls_mode,
        "username": user.username,
        "password": password or user.password,
    }


def unique_id(data: dict[str, Any]) -> str:
    return f"{data['username']}@{data['host']}:{data['port']}".lower()


async def next_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, interval: timedelta
) -> None:
    """Let the poll interval pass and wait until the poll it triggers has finished."""
    freezer.tick(interval)
    async_fire_time_changed(hass)
    # The coordinator polls in a background task of the entry: wait for those too.
    await hass.async_block_till_done(wait_background_tasks=True)


def entity_id(hass: HomeAssistant, entry_id: str, key: str) -> str:
    """The entity id of one of an entry's entities, by description key (ids derive from names)."""
    registry = er.async_get(hass)
    platform_of = {
        "connectivity": "binary_sensor",
        "new_message": "event",
        "check_now": "button",
        "mark_as_read": "button",
    }
    found = registry.async_get_entity_id(
        platform_of.get(key, "sensor"), DOMAIN, f"{entry_id}_{key}"
    )
    assert found, f"no entity {key} for entry {entry_id}"
    return found


async def settled_connections(ports: set[int], rounds: int = 1000) -> int:
    """Open connections to `ports` once the event loop has handled pending socket events.

    A closed asyncio transport releases its socket on a later loop iteration (and a TLS one
    after the peer's close_notify or EOF), so let the loop run (no time passes: nothing here
    waits on a timer) until none is left or the rounds are used up.
    """
    for _ in range(rounds):
        if not (count := open_connections(ports)):
            return 0
        await asyncio.sleep(0)
    return count


def open_connections(ports: set[int]) -> int:
    """TCP connections this process holds open to any of `ports` (from /proc, IPv4 loopback).

    Closed sockets vanish from our file descriptors at once, whatever TIME_WAIT the kernel keeps.
    """
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port in ports and fields[9] in inodes:
            count += 1
    return count


def masked(value: Any, keys: set[str]) -> Any:
    """`value` with the values under `keys` (at any depth) replaced by a placeholder: for
    snapshots of things that change from run to run (durations, times, ports, random names)."""
    if isinstance(value, dict):
        return {
            key: f"<{key}>" if key in keys and item is not None else masked(item, keys)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked(item, keys) for item in value]
    return value


async def start_user_flow(hass: HomeAssistant) -> str:
    """Add a mailbox, choose "with a password" in the menu: the password form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["password", "microsoft", "google"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "password"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "password"
    assert result["errors"] == {}
    return str(result["flow_id"])


async def reauth_refusing_a_wrong_password(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Set up `entry`, whose password the server refuses: setup fails into a reauth flow, which
    refuses a wrong password too. Returns the flow's id, waiting for the right password."""
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"password": "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    return str(flow["flow_id"])
