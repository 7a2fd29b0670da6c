"""The config flow on the mocked core: the forms, each poll error as the form shows it and the
recovery from it, duplicates, reauth, reconfigure and options. (The same flow against the real
Dovecot: test_config_flow_dovecot.py.)"""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import AsyncMock

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pop3_monitor.const import DOMAIN
from custom_components.pop3_monitor.pop3probe import ErrorClass

from .helpers import reauth_refusing_a_wrong_password, start_user_flow
from .polls import MAILBOX_DATA, failed_poll, good_poll

pytestmark = pytest.mark.usefixtures("mock_poll")


def polled_config(mock_poll: AsyncMock) -> Any:
    """The mailbox settings the integration last polled with."""
    call = mock_poll.await_args
    assert call is not None
    return call.args[0] if call.args else call.kwargs["config"]


def user_input(**changes: Any) -> dict[str, Any]:
    """What a user types into the password form."""
    return {**MAILBOX_DATA, "verify_ssl": True, **changes}


async def test_user_flow_creates_an_entry_with_the_default_options(hass: HomeAssistant) -> None:
    """The mailbox answers: the entry is created, named user@host, and set up with its sensors."""
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ana@pop.example.org"
    assert result["data"] == MAILBOX_DATA
    assert result["options"] == {
        "interval": 5,
        "unread_mode": "all",
        "verify_ssl": True,
        "timeout": 30,
    }
    entry = result["result"]
    assert entry.unique_id == "ana@pop.example.org:995"
    assert entry.state is ConfigEntryState.LOADED
    messages = hass.states.get("sensor.ana_pop_example_org_messages")
    assert messages is not None
    assert messages.state == "1"


async def test_forms_reach_the_frontend_and_setup_logs_no_warning(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the HTTP API the frontend uses, the forms' schemas serialise (voluptuous before
    Home Assistant 2026.9, probatio since), the mailbox is added and set up, and Home Assistant's
    log holds no warning from or about the integration."""
    caplog.set_level(logging.WARNING)
    assert await async_setup_component(hass, "config", {})
    # Loaded before the HTTP server starts, as at Home Assistant's start-up: its dependencies
    # (application credentials, and through them auth) register HTTP views.
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client()

    async def choose(next_step: str) -> dict[str, Any]:
        response = await client.post("/api/config/config_entries/flow", json={"handler": DOMAIN})
        assert response.status == 200, await response.text()
        menu = await response.json()
        assert menu["type"] == "menu"
        response = await client.post(
            f"/api/config/config_entries/flow/{menu['flow_id']}", json={"next_step_id": next_step}
        )
        assert response.status == 200, await response.text()
        return dict(await response.json())

    sign_in = await choose("microsoft")
    assert [field["name"] for field in sign_in["data_schema"]] == ["username"]
    form = await choose("password")
    assert {"host", "username", "password", "ca_cert"} <= {
        field["name"] for field in form["data_schema"]
    }
    response = await client.post(
        f"/api/config/config_entries/flow/{form['flow_id']}", json=user_input()
    )
    assert response.status == 200, await response.text()
    created = await response.json()
    assert created["type"] == "create_entry"
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(created["result"]["entry_id"])
    assert entry is not None
    assert entry.state is ConfigEntryState.LOADED

    response = await client.post(
        "/api/config/config_entries/options/flow", json={"handler": entry.entry_id}
    )
    assert response.status == 200, await response.text()
    options_form = await response.json()
    assert {"interval", "ca_cert"} <= {field["name"] for field in options_form["data_schema"]}

    # From the integration's loggers, or about it (deprecated helpers are reported by HA's frame
    # helper naming the integration); HA's notice that a custom integration is loaded aside.
    warnings = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and (record.name.startswith("custom_components.") or DOMAIN in record.getMessage())
        and not (record.name == "homeassistant.loader" and "custom integration" in record.msg)
    ]
    assert warnings == []
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(("tls_mode", "port"), [("implicit", 995), ("starttls", 110)])
async def test_empty_port_means_the_tls_modes_default(
    hass: HomeAssistant, tls_mode: str, port: int
) -> None:
    """Leaving the port empty picks 995 for TLS and 110 for STARTTLS."""
    flow_id = await start_user_flow(hass)
    form = user_input(tls_mode=tls_mode)
    del form["port"]

    result = await hass.config_entries.flow.async_configure(flow_id, form)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["port"] == port
    assert result["result"].unique_id == f"ana@pop.example.org:{port}"


# Each error class the core can report, and the form error a user sees for it (attached to the
# field that can fix it, where there is one).
FORM_ERROR_OF = {
    ErrorClass.DNS: {"base": "cannot_connect"},
    ErrorClass.CONNECT_REFUSED: {"base": "cannot_connect"},
    ErrorClass.CONNECT_TIMEOUT: {"base": "timeout"},
    ErrorClass.TLS_HANDSHAKE: {"base": "cannot_connect"},
    ErrorClass.CERT_INVALID: {"verify_ssl": "cert_invalid"},
    ErrorClass.STLS_UNAVAILABLE: {"tls_mode": "stls_unavailable"},
    ErrorClass.AUTH_FAILED: {"base": "invalid_auth"},
    ErrorClass.SERVER_TEMPORARY: {"base": "cannot_connect"},
    ErrorClass.SERVER_PERMANENT: {"base": "cannot_connect"},
    ErrorClass.PROTOCOL_ERROR: {"base": "cannot_connect"},
    ErrorClass.TIMEOUT: {"base": "timeout"},
}


def test_every_failure_class_has_a_form_error_here() -> None:
    """The table below covers every error class but success and "busy" (which pass the flow)."""
    busy = {ErrorClass.IN_USE, ErrorClass.LOGIN_DELAY}
    assert set(FORM_ERROR_OF) == set(ErrorClass) - busy - {ErrorClass.OK}


@pytest.mark.parametrize(("error", "form_error"), list(FORM_ERROR_OF.items()), ids=str)
async def test_each_poll_error_shows_its_form_error_then_the_flow_recovers(
    hass: HomeAssistant, mock_poll: AsyncMock, error: ErrorClass, form_error: dict[str, str]
) -> None:
    flow_id = await start_user_flow(hass)
    mock_poll.return_value = failed_poll(error)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == form_error

    mock_poll.return_value = good_poll()
    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize("error", [ErrorClass.IN_USE, ErrorClass.LOGIN_DELAY], ids=str)
async def test_a_busy_mailbox_is_added_since_its_login_worked(
    hass: HomeAssistant, mock_poll: AsyncMock, error: ErrorClass
) -> None:
    """[IN-USE] and [LOGIN-DELAY] answer a successful login: the password is right."""
    mock_poll.return_value = failed_poll(error)
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_servers_login_delay_raises_the_default_interval(
    hass: HomeAssistant, mock_poll: AsyncMock
) -> None:
    """A server that allows a login every 15 minutes gets a 15-minute interval, not 5."""
    mock_poll.return_value = good_poll(login_delay=900)
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["interval"] == 15


async def test_an_unexpected_error_shows_unknown_then_recovers(
    hass: HomeAssistant, mock_poll: AsyncMock
) -> None:
    """A bug (the core is never supposed to raise) becomes "unknown", not a broken form."""
    mock_poll.side_effect = RuntimeError("a bug")
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    mock_poll.side_effect = None
    result = await hass.config_entries.flow.async_configure(flow_id, user_input())
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_mailbox_already_added_aborts_before_any_login(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """The same user@host:port twice (in any letter case) is refused without polling."""
    mock_config_entry.add_to_hass(hass)
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(username="ANA", host="POP.example.org")
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    mock_poll.assert_not_awaited()


async def test_reauth_with_the_new_password(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """An entry whose password the server refuses asks for a new one; a wrong one is refused,
    the right one is stored and the mailbox is polled again."""
    mock_config_entry.add_to_hass(hass)
    mock_poll.return_value = failed_poll(ErrorClass.AUTH_FAILED)
    flow_id = await reauth_refusing_a_wrong_password(hass, mock_config_entry)

    mock_poll.return_value = good_poll()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"password": "the-new-password"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data["password"] == "the-new-password"
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_moves_the_mailbox_to_another_host_port_and_tls_mode(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """A mailbox whose server moved (here: the old one refuses connections) is reconfigured in
    place: same entry and password, new unique id and title."""
    mock_config_entry.add_to_hass(hass)
    mock_poll.return_value = failed_poll(ErrorClass.CONNECT_REFUSED, tls=None)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY

    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    mock_poll.return_value = good_poll()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "mail.example.net", "port": 110, "tls_mode": "starttls"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data == {
        **MAILBOX_DATA,
        "host": "mail.example.net",
        "port": 110,
        "tls_mode": "starttls",
    }
    assert mock_config_entry.unique_id == "ana@mail.example.net:110"
    assert mock_config_entry.title == "ana@mail.example.net"
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_a_reconfigure_the_server_refuses_shows_the_error_and_keeps_the_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    mock_poll.return_value = failed_poll(ErrorClass.CONNECT_REFUSED, tls=None)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "mail.example.net", "port": 995, "tls_mode": "implicit"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert init_integration.data == MAILBOX_DATA


async def test_reconfigure_onto_another_entrys_mailbox_aborts(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Two entries must not end up watching the same mailbox."""
    mock_config_entry.add_to_hass(hass)
    moved = {**MAILBOX_DATA, "port": 110, "tls_mode": "starttls"}
    entry = MockConfigEntry(domain=DOMAIN, unique_id="ana@pop.example.org:110", data=moved)
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "pop.example.org", "port": 995, "tls_mode": "implicit"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["port"] == 110


async def test_options_change_polling_and_unread_mode(
    hass: HomeAssistant, init_integration: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """The options flow stores the choices and the entry reloads with them."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"interval": 15, "unread_mode": "since_acknowledged", "verify_ssl": True, "timeout": 20},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        "interval": 15,
        "unread_mode": "since_acknowledged",
        "verify_ssl": True,
        "timeout": 20,
    }
    assert init_integration.state is ConfigEntryState.LOADED
    coordinator = init_integration.runtime_data
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() == 15 * 60
    assert polled_config(mock_poll).timeout == 20


async def test_options_refuse_an_interval_below_the_servers_login_delay(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_poll: AsyncMock
) -> None:
    """A server that allows a login only every 15 minutes (CAPA LOGIN-DELAY 900) gets no
    5-minute interval; 15 minutes is accepted."""
    mock_poll.return_value = good_poll(login_delay=900)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 30},
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"interval": "interval_below_login_delay"}
    assert result["description_placeholders"] == {"login_delay_minutes": "15"}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"interval": 15, "unread_mode": "all", "verify_ssl": True, "timeout": 30},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
