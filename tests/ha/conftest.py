"""Fixtures for the Home Assistant tests: custom integrations on, the test CA trusted, entries.

These run in .venv-ha (CPython >= 3.13.2 with pytest-homeassistant-custom-component), where
pop3probe is not installed as a package: entries are built from config-flow data, as a user
would create them, never from a `MailboxConfig`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest
import pytest_socket
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import entry_data, settled_connections, unique_id


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    """Allow creating sockets in these tests; connections stay limited to 127.0.0.1.

    pytest-homeassistant-custom-component calls `socket_allow_hosts(["127.0.0.1"])` and then
    `disable_socket()` at the start of every test's setup. These tests need real sockets (Dovecot
    and its port probes, the integration's real polls), all on loopback: during setup the
    creation block is skipped, the host restriction stays.
    """
    original_disable, original_allow = (
        pytest_socket.disable_socket,
        pytest_socket.socket_allow_hosts,
    )
    pytest_socket.disable_socket = lambda allow_unix_socket=False: None
    # 127.0.0.2 too: nothing listens there, a reconfigure test starts from a server that moved.
    pytest_socket.socket_allow_hosts = lambda allowed=None, allow_unix_socket=False: original_allow(
        ["127.0.0.1", "127.0.0.2"], allow_unix_socket
    )
    try:
        return (yield)
    finally:
        pytest_socket.disable_socket = original_disable
        pytest_socket.socket_allow_hosts = original_allow


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/pop3_monitor."""


@pytest.fixture(autouse=True)
def trust_test_ca(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify Dovecot's certificate against the test CA, the way a user's system CA store would.

    OpenSSL reads SSL_CERT_FILE whenever a default context loads its trust store, so the
    integration's normal code path (verification on, no CA option) sees the test CA as trusted.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))


@pytest.fixture(autouse=True)
async def unload_entries_at_end(hass: HomeAssistant, dovecot: DovecotServer) -> AsyncIterator[None]:
    """Every test ends with its entries unloaded and no connection to Dovecot left open.

    Entries a test created (a config flow sets its entry up) are unloaded here, before the
    harness's lingering-task and lingering-timer checks run; then no socket may remain.
    """
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await settled_connections({dovecot.pop3s_port, dovecot.pop3_port}) == 0


@pytest.fixture
def mailbox_data(dovecot: DovecotServer, mailbox: DovecotUser) -> dict[str, Any]:
    """Config-entry data for the test's fresh mailbox, over POP3S."""
    return entry_data(dovecot, mailbox)


@pytest.fixture
def options() -> dict[str, Any]:
    """Entry options; tests override this fixture (or parametrize it) to change them."""
    return {}


@pytest.fixture
def config_entry(
    hass: HomeAssistant, mailbox_data: dict[str, Any], options: dict[str, Any]
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{mailbox_data['username']}@{mailbox_data['host']}",
        unique_id=unique_id(mailbox_data),
        data=mailbox_data,
        options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 10, **options},
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The entry, set up against the real Dovecot; unloaded again at the end of the test."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    yield config_entry
    if config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()
