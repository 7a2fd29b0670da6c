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
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import entry_data, settled_connections, unique_id


class SessionServersOpenSockets:
    """Lets session fixtures (Dovecot and its port probes) open sockets, whichever test starts them.

    pytest-homeassistant-custom-component blocks socket creation at every test's setup, and
    session fixtures are set up before the test's own `socket_enabled`. pytest-socket's
    `enable_socket()` lifts that block only; its connect allow-list (127.0.0.1) stays. A plugin
    rather than a hook in this conftest: a session fixture's hooks are the root directory's.
    """

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[object]:
        if fixturedef.scope != "function":
            pytest_socket.enable_socket()
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SessionServersOpenSockets(), "pop3-session-servers-sockets")


@pytest.fixture(autouse=True)
def real_sockets(socket_enabled: None) -> None:
    """These tests talk to a real Dovecot: sockets on, connections still limited to 127.0.0.1
    by the allow-list pytest-homeassistant-custom-component sets (HA's own tests of real servers
    request `socket_enabled` the same way)."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/pop3_monitor."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's snapshot format, kept in tests/ha/snapshots, on every version tested.

    The plugin also defines this fixture, but which plugin's `snapshot` wins (its or syrupy's own)
    differs between releases; a conftest fixture wins always, as in Home Assistant's own tests.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


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
