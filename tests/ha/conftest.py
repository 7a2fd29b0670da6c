"""Fixtures for the Home Assistant tests, in two layers.

- Unit layer (the default): no network at all (Home Assistant's test harness blocks sockets).
  The core is replaced where the integration calls it: `mock_poll` is an autospec'd
  `poll_mailbox` answering with hand-made snapshots (tests/ha/polls.py); `mock_config_entry`
  and `init_integration` set a mailbox up on it, as Home Assistant's own integration tests do.
- Real-server layer: a test that polls a real server requests it. Requesting `dovecot` (or
  `mailbox`, `config_entry`, `loaded_entry`) brings the session's Dovecot with sockets on for
  127.0.0.1, the test CA trusted as a system store would trust it, and the check that the test
  ends with its entries unloaded and no connection left; modules whose servers are not Dovecot
  request `loopback_servers`. Either way such a test is marked `real_server`, so
  `pytest tests/ha -m "not real_server"` runs the unit layer alone.

These run in .venv-ha and .venv-ha-newest, where pop3probe is not installed as a package:
entries are built from config-flow data, as a user would create them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
import pytest_socket
import trustme
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.pop3_monitor.const import DOMAIN
from tests.fixtures.dovecot import DovecotServer, DovecotUser

from .helpers import entry_data, settled_connections, unique_id, use_ha_trust_store
from .polls import MAILBOX_DATA, good_poll

REAL_SERVER_FIXTURES = frozenset(
    {"loopback_servers", "dovecot", "matrix_servers", "dovecot_oauth2"}
)


class SessionServersOpenSockets:
    """Lets session fixtures (Dovecot and its port probes) open sockets when a real-server test
    starts them.

    pytest-homeassistant-custom-component blocks socket creation at every test's setup, and
    session fixtures are set up before the test's own `socket_enabled`. pytest-socket's
    `enable_socket()` lifts that block only; its connect allow-list (127.0.0.1) stays. Only for a
    test marked `real_server`: a unit test keeps the block, even when it happens to be the first
    of its module (pytest-asyncio sets up a module-scoped event loop fixture then). A plugin
    rather than a hook in this conftest: a session fixture's hooks are the root directory's.
    """

    def __init__(self) -> None:
        self.item: pytest.Item | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None]:
        self.item = item
        try:
            return (yield)
        finally:
            self.item = None

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[object]:
        real = self.item is not None and self.item.get_closest_marker("real_server")
        if fixturedef.scope != "function" and real:
            pytest_socket.enable_socket()
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SessionServersOpenSockets(), "pop3-session-servers-sockets")
    config.addinivalue_line(
        "markers", "real_server: the test polls a real server (Dovecot, the matrix, a fake one)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that requests a real server, so each layer can be run on its own."""
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_server)


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


# --- unit layer: the core mocked where the integration calls it ---------------------------------


@pytest.fixture
def mock_poll() -> Iterator[AsyncMock]:
    """`poll_mailbox` as the coordinator and the config flow call it, autospec'd (a call that no
    longer fits the real signature fails), answering `good_poll()` until a test says otherwise
    (`return_value` or `side_effect`)."""
    with (
        patch(
            "custom_components.pop3_monitor.coordinator.poll_mailbox", autospec=True
        ) as poll_mailbox,
        patch("custom_components.pop3_monitor.config_flow.poll_mailbox", new=poll_mailbox),
    ):
        poll_mailbox.return_value = good_poll()
        yield poll_mailbox


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A password mailbox, as the config flow would have created it."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01UNITTESTENTRY",
        title=f"{MAILBOX_DATA['username']}@{MAILBOX_DATA['host']}",
        unique_id=unique_id(MAILBOX_DATA),
        data=dict(MAILBOX_DATA),
        options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 30},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_poll: AsyncMock
) -> MockConfigEntry:
    """The mailbox set up on the mocked core (its first poll is `mock_poll`'s answer)."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    return mock_config_entry


# --- real-server layer --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_ca_file(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def loopback_servers(socket_enabled: None, trust_test_ca: None) -> None:
    """Sockets on, connections still limited to 127.0.0.1 by the allow-list
    pytest-homeassistant-custom-component sets (HA's own tests of real servers request
    `socket_enabled` the same way), and the test CA trusted."""


@pytest.fixture
def trust_test_ca(test_ca_file: Path) -> Iterator[None]:
    """Verify the real servers' certificates against the test CA, as a Home Assistant started
    with REQUESTS_CA_BUNDLE naming it would: the integration's normal code path (verification
    on, no pasted CA) uses HA's shared client context, which then trusts the test CA."""
    use_ha_trust_store(test_ca_file)
    yield
    use_ha_trust_store(None)


@pytest.fixture
async def dovecot(
    dovecot: DovecotServer, loopback_servers: None, hass: HomeAssistant
) -> AsyncIterator[DovecotServer]:
    """The session's real Dovecot, for this test; the test ends with its entries unloaded and no
    connection to Dovecot left open.

    Entries a test created (a config flow sets its entry up) are unloaded here, before the
    harness's lingering-task and lingering-timer checks run; then no socket may remain.
    """
    yield dovecot
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await settled_connections({dovecot.pop3s_port, dovecot.pop3_port}) == 0


@pytest.fixture
def mailbox_data(dovecot: DovecotServer, mailbox: DovecotUser) -> dict[str, Any]:
    """Config-entry data for the test's fresh mailbox on the real Dovecot, over POP3S."""
    return entry_data(dovecot, mailbox)


@pytest.fixture
def options() -> dict[str, Any]:
    """Entry options; tests override this fixture (or parametrize it) to change them."""
    return {}


@pytest.fixture
def config_entry(
    hass: HomeAssistant, mailbox_data: dict[str, Any], options: dict[str, Any]
) -> MockConfigEntry:
    """An entry for the test's mailbox on the real Dovecot, added but not set up."""
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
