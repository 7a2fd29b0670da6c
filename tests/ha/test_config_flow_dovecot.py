"""The config flow against the real Dovecot and two hand-written servers: a mailbox is created
and set up, each real failure shows its form error and the flow recovers, no credentials reach a
server without STLS, and a refused password is renewed by reauth. Every form is validated by a
real read-only poll. (Forms, errors, duplicates, reconfigure and options on the mocked core:
test_config_flow.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor import config_flow
from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.ports import free_port

from .fake_servers import FakeServer, no_stls_server, silent_server
from .helpers import (
    reauth_refusing_a_wrong_password,
    start_user_flow,
    unique_id,
    use_ha_trust_store,
)


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
        use_ha_trust_store(None)  # HA's trust store does not know the test CA
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
    flow_id = await reauth_refusing_a_wrong_password(hass, entry)

    result = await hass.config_entries.flow.async_configure(flow_id, {"password": mailbox.password})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["password"] == mailbox.password
    assert entry.state is ConfigEntryState.LOADED
