"""Home Assistant's side of the secret sweep: a unique password (through the config flow, real
Dovecot) and a unique wrong password (refused later by a server, so reauth starts while the entry
stays loaded) are absent from diagnostics, DEBUG logs, entity states and attributes, bus events,
flows in progress, repair issues and the integration's stored files.

Sign-in tokens and the OAuth2 client secret are swept in tests/ha/test_oauth2.py; the core's and
the exporter's handling of tokens in tests/faults/test_secret_sweep.py.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, MATCH_ALL
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer
from tests.fixtures.scripted import scripted_server

from .helpers import entity_id, next_poll

INTERVAL = timedelta(minutes=5)


def _forms(username: str, secret: str) -> list[str]:
    """The secret and the encodings it is sent in (USER/PASS, SASL PLAIN and LOGIN)."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"\0{username}\0{secret}".encode()).decode(),
    ]


def _leaks(forms: list[str], texts: dict[str, str]) -> list[str]:
    return [where for where, text in texts.items() if any(form in text for form in forms)]


async def test_no_secret_in_diagnostics_logs_states_events_or_storage(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    dovecot: DovecotServer,
    freezer: FrozenDateTimeFactory,
    caplog: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[str] = []

    @callback
    def record(event: Event) -> None:
        events.append(f"{event.event_type} {json.dumps(event.data, default=str)}")

    hass.bus.async_listen(MATCH_ALL, record)
    tag = secrets.token_hex(5)
    user = dovecot.add_user(username=f"hasweep{tag}", password=f"Ha-Sweep-{secrets.token_hex(10)}")
    wrong = f"Ha-Wrong-{secrets.token_hex(10)}"
    dovecot.deliver(user, subject="there before")

    # A working mailbox, added the way a user adds it: through the config flow.
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    flow = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "password"}
    )
    created = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {
            "host": dovecot.host,
            "port": dovecot.pop3s_port,
            "tls_mode": "implicit",
            "username": user.username,
            "password": user.password,
            "verify_ssl": True,
        },
    )
    await hass.async_block_till_done()
    assert created["type"] is FlowResultType.CREATE_ENTRY
    good = created["result"]
    dovecot.deliver(user, subject="new one")
    await next_poll(hass, freezer, INTERVAL)
    await hass.services.async_call(
        "button",
        "press",
        {ATTR_ENTITY_ID: entity_id(hass, good.entry_id, "check_now")},
        blocking=True,
    )
    await hass.async_block_till_done()

    # A mailbox whose server starts refusing its password: reauth while the entry stays loaded.
    async with scripted_server() as server:
        refused = MockConfigEntry(
            domain=DOMAIN,
            title="refused@127.0.0.1",
            unique_id=f"refused@127.0.0.1:{server.port}",
            data={
                "host": "127.0.0.1",
                "port": server.port,
                "tls_mode": "plain",
                "username": "refused",
                "password": wrong,
            },
            options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 5},
        )
        refused.add_to_hass(hass)
        assert await hass.config_entries.async_setup(refused.entry_id)
        await hass.async_block_till_done()
        server.replies["PASS"] = b"-ERR [AUTH] Authentication failed.\r\n"
        await next_poll(hass, freezer, INTERVAL)
        assert refused.state is ConfigEntryState.LOADED
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert "reauth" in [f["context"]["source"] for f in flows]

        texts: dict[str, str] = {
            "diagnostics (working)": json.dumps(
                await get_diagnostics_for_config_entry(hass, hass_client, good)
            ),
            "diagnostics (refused)": json.dumps(
                await get_diagnostics_for_config_entry(hass, hass_client, refused)
            ),
        }
        assert await hass.config_entries.async_unload(refused.entry_id)
        await hass.async_block_till_done()
    sent_to_fake = b"".join(server.received).decode(errors="replace")

    for state in hass.states.async_all():
        texts[f"state {state.entity_id}"] = json.dumps(state.as_dict(), default=str)
    texts["events"] = "\n".join(events)
    texts["flows"] = json.dumps(hass.config_entries.flow.async_progress(), default=str)
    texts["repair issues"] = json.dumps(
        [issue.to_json() for issue in ir.async_get(hass).issues.values()], default=str
    )
    texts["storage"] = json.dumps(
        {key: value for key, value in hass_storage.items() if key != "core.config_entries"},
        default=str,
    )
    texts["log at DEBUG"] = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )

    assert "pop3_monitor" in texts["log at DEBUG"]
    assert any("new_message" in line or "pop3_monitor" in line for line in events)
    assert f"PASS {wrong}" in sent_to_fake  # the refused password really was in play
    assert not _leaks(_forms(user.username, user.password), texts)
    assert not _leaks(_forms("refused", wrong), texts)
