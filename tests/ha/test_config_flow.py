"""The config flow against the real Dovecot: create, each failure and its recovery, duplicates,
reauth, reconfigure, options. Every form is validated by a real read-only poll."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pop3_monitor import config_flow
from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.ports import free_port

from .fake_servers import FakeServer, no_stls_server, silent_server
from .helpers import unique_id


def user_input(dovecot: DovecotServer, user: DovecotUser, **changes: Any) -> dict[str, Any]:
    """What a user types into the form for the test mailbox over POP3S."""
    return {
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "tls_mode": "implicit",
        "username": user.username,
        "password": user.password,
        "verify_ssl": True,
        **changes,
    }


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


async def test_user_flow_creates_a_working_entry(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """A real mailbox: the entry is created, named user@host, and set up with its sensors."""
    dovecot.deliver(mailbox, subject="Already here")
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input(dovecot, mailbox))
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"{mailbox.username}@{dovecot.host}"
    assert result["data"] == {
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "tls_mode": "implicit",
        "username": mailbox.username,
        "password": mailbox.password,
    }
    assert result["options"] == {
        "interval": 5,
        "unread_mode": "all",
        "verify_ssl": True,
        "timeout": 30,
    }
    entry = result["result"]
    assert entry.unique_id == f"{mailbox.username}@127.0.0.1:{dovecot.pop3s_port}"
    assert entry.state is ConfigEntryState.LOADED
    messages = hass.states.get(f"sensor.{mailbox.username}_127_0_0_1_messages")
    assert messages is not None
    assert messages.state == "1"


async def test_forms_reach_the_frontend_and_setup_logs_no_warning(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    caplog: pytest.LogCaptureFixture,
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
        f"/api/config/config_entries/flow/{form['flow_id']}", json=user_input(dovecot, mailbox)
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


async def test_empty_port_means_the_tls_modes_default(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """Leaving the port empty picks 995 for TLS: nothing listens there, so the form says so."""
    flow_id = await start_user_flow(hass)
    form = user_input(dovecot, mailbox)
    del form["port"]

    result = await hass.config_entries.flow.async_configure(flow_id, form)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.fixture
async def silent() -> AsyncIterator[FakeServer]:
    async with silent_server() as server:
        yield server


@pytest.fixture
async def no_stls() -> AsyncIterator[FakeServer]:
    async with no_stls_server() as server:
        yield server


# Each case: (what goes wrong, the form error it must show, how the user fixes it).
Case = Callable[..., dict[str, Any]]
FAILURES: dict[str, tuple[Case, dict[str, str], Case]] = {
    "wrong_password": (
        lambda d, u, **_: user_input(d, u, password="not-the-password"),
        {"base": "invalid_auth"},
        lambda d, u, **_: user_input(d, u),
    ),
    "closed_port": (
        lambda d, u, **_: user_input(d, u, port=free_port()),
        {"base": "cannot_connect"},
        lambda d, u, **_: user_input(d, u),
    ),
    "untrusted_certificate": (
        lambda d, u, **_: user_input(d, u),
        {"verify_ssl": "cert_invalid"},
        lambda d, u, **_: user_input(d, u, verify_ssl=False),
    ),
    "stls_unavailable": (
        lambda d, u, no_stls, **_: user_input(d, u, port=no_stls.port, tls_mode="starttls"),
        {"tls_mode": "stls_unavailable"},
        lambda d, u, **_: user_input(d, u, port=d.pop3_port, tls_mode="starttls"),
    ),
    "timeout": (
        lambda d, u, silent, **_: user_input(d, u, port=silent.port),
        {"base": "timeout"},
        lambda d, u, **_: user_input(d, u),
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_each_failure_shows_its_error_then_the_flow_recovers(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    silent: FakeServer,
    no_stls: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    """Wrong password, closed port, bad certificate, no STLS, a hung server: each has its own
    form error, and correcting the form creates the entry."""
    broken, expected_errors, fixed = FAILURES[case]
    if case == "untrusted_certificate":
        monkeypatch.delenv("SSL_CERT_FILE")  # the system store does not know the test CA
    if case == "timeout":
        monkeypatch.setattr(config_flow, "VALIDATION_TIMEOUT_SECONDS", 1.0)  # a short wait
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, broken(dovecot, mailbox, silent=silent, no_stls=no_stls)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == expected_errors

    result = await hass.config_entries.flow.async_configure(
        flow_id, fixed(dovecot, mailbox, silent=silent, no_stls=no_stls)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert result["result"].state is ConfigEntryState.LOADED


async def test_an_unexpected_error_shows_unknown_then_recovers(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    mailbox: DovecotUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug (the core is never supposed to raise) becomes "unknown", not a broken form."""
    real_poll = config_flow.poll_mailbox
    calls = 0

    async def poll_that_fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return await real_poll(*args, **kwargs)

    monkeypatch.setattr(config_flow, "poll_mailbox", poll_that_fails_once)
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, user_input(dovecot, mailbox))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(flow_id, user_input(dovecot, mailbox))
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_no_credentials_reach_a_server_without_stls(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser, no_stls: FakeServer
) -> None:
    """STARTTLS chosen, STLS missing: the flow stops before USER or PASS is sent in clear."""
    flow_id = await start_user_flow(hass)
    await hass.config_entries.flow.async_configure(
        flow_id, user_input(dovecot, mailbox, port=no_stls.port, tls_mode="starttls")
    )
    sent = b"".join(no_stls.received)
    assert mailbox.password.encode() not in sent
    assert b"USER" not in sent.upper()
    assert b"PASS" not in sent.upper()


async def test_a_mailbox_already_added_aborts(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser
) -> None:
    """The same user@host:port twice (in any letter case) is refused before any login."""
    data = user_input(dovecot, mailbox)
    MockConfigEntry(domain=DOMAIN, unique_id=unique_id(data), data=data).add_to_hass(hass)
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**data, "username": mailbox.username.upper()}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_with_the_new_password(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser, mailbox_data: dict[str, Any]
) -> None:
    """An entry whose password the server refuses asks for a new one; a wrong one is refused,
    the right one is stored and the mailbox is polled again."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{mailbox.username}@{dovecot.host}",
        unique_id=unique_id(mailbox_data),
        data={**mailbox_data, "password": "old-password"},
        options={"verify_ssl": True},
    )
    entry.add_to_hass(hass)
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

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"password": mailbox.password}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == mailbox.password
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_moves_the_mailbox_to_another_port_and_tls_mode(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser, mailbox_data: dict[str, Any]
) -> None:
    """A mailbox whose server moved (here: from a port where nothing listens to Dovecot's
    STARTTLS port; the test harness allows connections to 127.0.0.1 only) is reconfigured in
    place: same entry, new unique id."""
    old = {**mailbox_data, "port": free_port()}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{mailbox.username}@127.0.0.1",
        unique_id=unique_id(old),
        data=old,
        options={"verify_ssl": True},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": dovecot.host, "port": dovecot.pop3_port, "tls_mode": "starttls"},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["host"] == dovecot.host
    assert entry.data["port"] == dovecot.pop3_port
    assert entry.data["tls_mode"] == "starttls"
    assert entry.data["password"] == mailbox.password
    assert entry.unique_id == f"{mailbox.username}@127.0.0.1:{dovecot.pop3_port}"
    assert entry.unique_id != unique_id(old)
    assert entry.title == f"{mailbox.username}@127.0.0.1"
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_onto_another_entrys_mailbox_aborts(
    hass: HomeAssistant, dovecot: DovecotServer, mailbox: DovecotUser, mailbox_data: dict[str, Any]
) -> None:
    """Two entries must not end up watching the same mailbox."""
    existing = MockConfigEntry(domain=DOMAIN, unique_id=unique_id(mailbox_data), data=mailbox_data)
    existing.add_to_hass(hass)
    moved = {**mailbox_data, "port": dovecot.pop3_port, "tls_mode": "starttls"}
    entry = MockConfigEntry(domain=DOMAIN, unique_id=unique_id(moved), data=moved)
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": dovecot.host, "port": dovecot.pop3s_port, "tls_mode": "implicit"},
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["port"] == dovecot.pop3_port


async def test_options_change_polling_and_unread_mode(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """The options flow stores the choices and the entry reloads with them."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"interval": 15, "unread_mode": "since_acknowledged", "verify_ssl": True, "timeout": 20},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {
        "interval": 15,
        "unread_mode": "since_acknowledged",
        "verify_ssl": True,
        "timeout": 20,
    }
    assert loaded_entry.state is ConfigEntryState.LOADED
    coordinator = loaded_entry.runtime_data
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() == 15 * 60
    assert coordinator.mailbox.timeout == 20


async def test_options_refuse_an_interval_below_the_servers_login_delay(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A server that allows a login only every 15 minutes gets no 5-minute interval."""
    loaded_entry.runtime_data.backoff.login_delay = 900  # as a CAPA LOGIN-DELAY 900 would set
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 30},
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"interval": "interval_below_login_delay"}
    assert result["description_placeholders"] == {"login_delay_minutes": "15"}
