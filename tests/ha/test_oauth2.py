"""Signing in with Microsoft or Google, end to end and for real: Home Assistant's OAuth2 flow
against a local authorization server (authorize redirect, code exchange, refresh), and a real
Dovecot whose `oauth2` passdb asks that same server about every token the integration logs in
with (SASL XOAUTH2).

The providers' presets are pointed at the local server and the local Dovecot; everything else
(application credentials, the client ID deciding the provider, the flow, token refresh, reauth)
is the integration's own code path.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import trustme
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.config_entry_oauth2_flow import (
    ImplementationUnavailableError,
    async_add_implementation_provider,
)
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.pop3_monitor.const import DOMAIN
from custom_components.pop3_monitor.oauth import PRESETS, Provider
from tests.fixtures.dovecot import DovecotServer, DovecotUser, running_dovecot
from tests.fixtures.oauth2 import OAuthAuthority
from tests.fixtures.ports import free_port

from .helpers import next_poll, settled_connections

MICROSOFT_CLIENT_ID = "5f0c9a34-6f2e-4d8b-9d3a-2a1f6b7c8d90"
GOOGLE_CLIENT_ID = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"
CLIENT_SECRETS = {
    MICROSOFT_CLIENT_ID: "ms-client-secret-Q7x",
    GOOGLE_CLIENT_ID: "g-client-secret-Z9y",
}
AUTH_DOMAINS = {Provider.MICROSOFT: "pop3_monitor_ms", Provider.GOOGLE: "pop3_monitor_google"}
CLIENT_IDS = {Provider.MICROSOFT: MICROSOFT_CLIENT_ID, Provider.GOOGLE: GOOGLE_CLIENT_ID}
REDIRECT = "https://example.com/auth/external/callback"
INTERVAL = timedelta(minutes=5)


@pytest.fixture(scope="session")
def authority_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def dovecot_oauth2(test_ca: trustme.CA, authority_port: int) -> Iterator[DovecotServer]:
    """A Dovecot that takes bearer tokens and checks each one with the test's authority."""
    url = f"http://127.0.0.1:{authority_port}/introspect"
    with running_dovecot(test_ca, oauth2_introspection_url=url) as server:
        yield server


@pytest.fixture
async def authority(authority_port: int, loopback_servers: None) -> AsyncIterator[OAuthAuthority]:
    """The identity provider, fresh for each test (no grants yet) on the port Dovecot asks."""
    server = OAuthAuthority(clients=dict(CLIENT_SECRETS))
    await server.start(authority_port)
    yield server
    await server.stop()


@pytest.fixture
def account(dovecot_oauth2: DovecotServer) -> DovecotUser:
    return dovecot_oauth2.add_user()


@pytest.fixture(autouse=True)
def local_presets(
    monkeypatch: pytest.MonkeyPatch, authority: OAuthAuthority, dovecot_oauth2: DovecotServer
) -> None:
    """Microsoft's and Google's endpoints and servers, here: the authority and the Dovecot."""
    for provider in Provider:
        monkeypatch.setitem(
            PRESETS,
            provider,
            replace(
                PRESETS[provider],
                host=dovecot_oauth2.host,
                port=dovecot_oauth2.pop3s_port,
                authorize_url=authority.authorize_url,
                token_url=authority.token_url,
            ),
        )


@pytest.fixture(autouse=True)
async def no_connection_left(
    hass: HomeAssistant, dovecot_oauth2: DovecotServer
) -> AsyncIterator[None]:
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    ports = {dovecot_oauth2.pop3s_port, dovecot_oauth2.pop3_port}
    assert await settled_connections(ports) == 0


async def add_credentials(hass: HomeAssistant, *providers: Provider) -> None:
    """What a user does once in Settings → Application credentials."""
    assert await async_setup_component(hass, "application_credentials", {})
    for provider in providers:
        client_id = CLIENT_IDS[provider]
        await async_import_client_credential(
            hass,
            DOMAIN,
            ClientCredential(client_id, CLIENT_SECRETS[client_id], name=provider.value),
            AUTH_DOMAINS[provider],
        )


async def start_sign_in(hass: HomeAssistant, provider: Provider, username: str) -> dict[str, Any]:
    """Add a mailbox, choose the provider in the menu, enter the address: the external step."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": provider.value}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == provider.value
    return dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {"username": username})
    )


async def consent(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, result: dict[str, Any]
) -> dict[str, Any]:
    """The user's browser: open the sign-in page, consent, land on Home Assistant's callback;
    then the frontend continues the flow."""
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(result["url"], allow_redirects=False) as response,
    ):
        assert response.status == 302
        location = URL(response.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT
    client = await hass_client_no_auth()
    callback = await client.get(location.path_qs)
    assert callback.status == 200
    return dict(await hass.config_entries.flow.async_configure(result["flow_id"]))


def oauth_entry(
    hass: HomeAssistant,
    dovecot: DovecotServer,
    account: DovecotUser,
    access_token: str,
    refresh_token: str,
    expires_in: int,
) -> MockConfigEntry:
    """An entry as a Microsoft sign-in leaves it, holding the given tokens."""
    data = {
        "host": dovecot.host,
        "port": dovecot.pop3s_port,
        "tls_mode": "implicit",
        "username": account.username,
        "provider": "microsoft",
        "auth_implementation": AUTH_DOMAINS[Provider.MICROSOFT],
        "token": {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expires_at": time.time() + expires_in,
        },
    }
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{account.username}@{dovecot.host}",
        unique_id=f"{account.username}@{dovecot.host}:{dovecot.pop3s_port}",
        data=data,
        options={"interval": 5, "unread_mode": "all", "verify_ssl": True, "timeout": 10},
    )
    entry.add_to_hass(hass)
    return entry


def signed_in_entry(
    hass: HomeAssistant,
    authority: OAuthAuthority,
    dovecot: DovecotServer,
    account: DovecotUser,
    lifetime: int = 3600,
) -> tuple[MockConfigEntry, str, str]:
    """The entry a sign-in leaves, with fresh tokens whose access part lasts `lifetime` s."""
    authority.access_lifetime = lifetime
    access, refresh = authority.issue(account.username)
    return oauth_entry(hass, dovecot, account, access, refresh, lifetime), access, refresh


def messages_state(hass: HomeAssistant, account: DovecotUser) -> str:
    state = hass.states.get(f"sensor.{account.username}_127_0_0_1_messages")
    assert state is not None
    return state.state


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[dict[str, Any]]:
    return [
        dict(flow)
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == "reauth"
        and flow["context"].get("entry_id") == entry.entry_id
    ]


@pytest.mark.usefixtures("current_request_with_host")
@pytest.mark.parametrize("provider", list(Provider))
async def test_sign_in_creates_an_entry_that_reads_the_mailbox(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
    provider: Provider,
) -> None:
    """With both providers' credentials added, the chosen provider's app signs the user in,
    asking for its POP scope; Home Assistant exchanges the code, and the mailbox, logged in to
    with that token, shows its mail."""
    await add_credentials(hass, Provider.MICROSOFT, Provider.GOOGLE)
    dovecot_oauth2.deliver(account, subject="Already here")

    result = await start_sign_in(hass, provider, account.username)
    authorize = URL(result["url"])
    assert str(authorize.with_query(None)) == authority.authorize_url
    assert authorize.query["client_id"] == CLIENT_IDS[provider]
    assert authorize.query["redirect_uri"] == REDIRECT
    assert authorize.query["scope"] == PRESETS[provider].scope
    assert authorize.query["login_hint"] == account.username
    if provider is Provider.GOOGLE:
        assert authorize.query["access_type"] == "offline"
    result = await consent(hass, hass_client_no_auth, result)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"{account.username}@{dovecot_oauth2.host}"
    entry = result["result"]
    assert entry.unique_id == f"{account.username}@127.0.0.1:{dovecot_oauth2.pop3s_port}"
    assert entry.data["provider"] == provider.value
    assert entry.data["auth_implementation"] == AUTH_DOMAINS[provider]
    assert "password" not in entry.data
    assert entry.data["token"]["access_token"].startswith("at-")
    assert entry.state is ConfigEntryState.LOADED
    assert messages_state(hass, account) == "1"
    assert authority.requests["token:authorization_code"] == 1
    assert authority.requests["introspect"] >= 2  # the flow's check and the first poll


@pytest.mark.usefixtures("current_request_with_host")
async def test_sign_in_without_that_providers_credentials_asks_for_them(
    hass: HomeAssistant, account: DovecotUser
) -> None:
    """Only a Google app is registered: choosing Microsoft ends in Home Assistant's
    "missing credentials" answer (its frontend then offers to add them), not Google's page."""
    await add_credentials(hass, Provider.GOOGLE)
    result = await start_sign_in(hass, Provider.MICROSOFT, account.username)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


async def test_an_unavailable_sign_in_provider_aborts(
    hass: HomeAssistant, account: DovecotUser
) -> None:
    """A source of sign-in implementations that is down (as Home Assistant Cloud's can be) and
    no credentials of one's own: the flow stops with Home Assistant's "unavailable" reason."""
    assert await async_setup_component(hass, "application_credentials", {})

    async def unavailable(hass: HomeAssistant, domain: str) -> list[Any]:
        raise ImplementationUnavailableError("the provider source is down")

    async_add_implementation_provider(hass, "cloud", unavailable)
    result = await start_sign_in(hass, Provider.MICROSOFT, account.username)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_implementation_unavailable"


@pytest.mark.usefixtures("current_request_with_host")
async def test_signing_in_with_another_account_is_refused(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    """The user types one address and signs in as someone else: the server refuses that token
    for this mailbox, and nothing is saved."""
    await add_credentials(hass, Provider.MICROSOFT)
    authority.sign_in_as = dovecot_oauth2.add_user().username
    result = await consent(
        hass, hass_client_no_auth, await start_sign_in(hass, Provider.MICROSOFT, account.username)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "sign_in_refused"
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_a_token_the_server_rejects_starts_reauth(
    hass: HomeAssistant, dovecot_oauth2: DovecotServer, account: DovecotUser
) -> None:
    """A token Home Assistant believes valid but the provider never issued (or no longer
    honours): the server refuses it, the entry is not set up, and a reauth asks to sign in."""
    await add_credentials(hass, Provider.MICROSOFT)
    entry = oauth_entry(hass, dovecot_oauth2, account, "at-wrong", "rt-wrong", 3600)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "reauth_sign_in"


async def test_access_token_is_refreshed_before_it_expires(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    """Access tokens last ten minutes here: the poll after that gets a new one from the token
    endpoint first, keeps the rotated refresh token, and reads the mailbox with the new token
    (the old one is dead by then, so the mailbox reading proves it)."""
    await add_credentials(hass, Provider.MICROSOFT)
    entry, access, refresh = signed_in_entry(hass, authority, dovecot_oauth2, account, 600)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert messages_state(hass, account) == "0"

    dovecot_oauth2.deliver(account)
    await next_poll(hass, freezer, INTERVAL)  # 5 minutes: the token is still good
    assert authority.requests["token:refresh_token"] == 0
    assert messages_state(hass, account) == "1"

    dovecot_oauth2.deliver(account)
    await next_poll(hass, freezer, INTERVAL)  # 10 minutes: it has expired
    assert authority.requests["token:refresh_token"] == 1
    token = entry.data["token"]
    assert token["access_token"] != access
    assert token["refresh_token"] != refresh
    assert authority.active_tokens(account.username) == 1  # only the new one
    assert messages_state(hass, account) == "2"
    assert entry.state is ConfigEntryState.LOADED
    assert reauth_flows(hass, entry) == []


async def test_expired_grant_starts_reauth_without_a_login(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    """The grant is revoked while the access token still works; once it expires, the token
    endpoint refuses to renew it: reauth starts, and no login is tried with a dead token."""
    await add_credentials(hass, Provider.MICROSOFT)
    entry, _, _ = signed_in_entry(hass, authority, dovecot_oauth2, account, 240)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    logins = authority.requests["introspect"]

    authority.revoke(account.username)
    await next_poll(hass, freezer, INTERVAL)

    assert authority.requests["token:refresh_token"] == 1
    assert authority.requests["introspect"] == logins
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "reauth_sign_in"
    assert messages_state(hass, account) == "unavailable"


@pytest.mark.usefixtures("current_request_with_host")
async def test_revoked_grant_reauth_by_signing_in_again(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    """The user revokes Home Assistant's access (or changes their password): the server refuses
    the next login, reauth asks to sign in again, and after that the mailbox reads again."""
    await add_credentials(hass, Provider.MICROSOFT)
    entry, access, refresh = signed_in_entry(hass, authority, dovecot_oauth2, account)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    authority.revoke(account.username)
    await next_poll(hass, freezer, INTERVAL)
    (flow,) = reauth_flows(hass, entry)
    assert messages_state(hass, account) == "unavailable"

    dovecot_oauth2.deliver(account)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert URL(result["url"]).query["login_hint"] == account.username
    result = await consent(hass, hass_client_no_auth, result)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["token"]["access_token"] not in (access, refresh)
    assert entry.state is ConfigEntryState.LOADED
    assert messages_state(hass, account) == "1"


@pytest.mark.parametrize("outage", ["503", "down"])
async def test_a_token_endpoint_outage_is_not_a_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    authority: OAuthAuthority,
    authority_port: int,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
    outage: str,
) -> None:
    """The provider's token endpoint answers 503, or nothing answers, when the token needs
    renewing: the mailbox is unavailable for that poll, nobody is asked to sign in, and the next
    poll renews the token and reads the mailbox."""
    await add_credentials(hass, Provider.MICROSOFT)
    entry, access, _refresh = signed_in_entry(hass, authority, dovecot_oauth2, account, 240)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    if outage == "503":
        authority.outage = True
    else:
        await authority.stop()
    await next_poll(hass, freezer, INTERVAL)
    assert messages_state(hass, account) == "unavailable"
    assert reauth_flows(hass, entry) == []

    authority.outage = False
    if outage == "down":
        await authority.start(authority_port)
    await next_poll(hass, freezer, INTERVAL)
    assert messages_state(hass, account) == "0"
    assert entry.data["token"]["access_token"] != access


async def test_missing_application_credentials_retry_setup(
    hass: HomeAssistant,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    """An entry whose application credentials are gone (not added on this installation) is
    not set up, says why, and is retried; no login is tried."""
    assert await async_setup_component(hass, "application_credentials", {})
    entry, _, _ = signed_in_entry(hass, authority, dovecot_oauth2, account)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "application credentials" in str(entry.reason)
    assert authority.requests["introspect"] == 0


@pytest.mark.usefixtures("current_request_with_host")
async def test_two_apps_of_one_provider_let_the_user_pick(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    authority: OAuthAuthority,
    account: DovecotUser,
) -> None:
    """Two Microsoft apps (and a Google one): the user picks between the two Microsoft ones."""
    await add_credentials(hass, Provider.MICROSOFT, Provider.GOOGLE)
    second = "0b8e2d4c-1a3f-4e5d-8c7b-6a5f4e3d2c1b"
    authority.clients[second] = "second-secret"
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(second, "second-secret", name="Work app"), "pop3_monitor_2"
    )
    result = await start_sign_in(hass, Provider.MICROSOFT, account.username)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_implementation"
    choices = result["data_schema"].schema["implementation"].container
    assert choices == {AUTH_DOMAINS[Provider.MICROSOFT]: "microsoft", "pop3_monitor_2": "Work app"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "pop3_monitor_2"}
    )
    assert URL(result["url"]).query["client_id"] == second
    result = await consent(hass, hass_client_no_auth, result)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data["auth_implementation"] == "pop3_monitor_2"


async def test_no_token_or_client_secret_in_diagnostics_logs_or_states(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tokens (old and refreshed) and the client secret appear in no diagnostics, log line
    (at DEBUG) or entity state, through setup, a refresh and a refused refresh."""
    caplog.set_level(logging.DEBUG)
    await add_credentials(hass, Provider.MICROSOFT)
    entry, access, refresh = signed_in_entry(hass, authority, dovecot_oauth2, account, 300)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await next_poll(hass, freezer, INTERVAL)  # refreshed
    secrets = [
        access,
        refresh,
        entry.data["token"]["access_token"],
        entry.data["token"]["refresh_token"],
        *CLIENT_SECRETS.values(),
    ]
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    authority.revoke(account.username)
    await next_poll(hass, freezer, INTERVAL)  # refused: reauth
    assert reauth_flows(hass, entry)

    places = {
        "diagnostics": json.dumps(diagnostics, default=str),
        "log": caplog.text,
        "states": json.dumps([s.as_dict() for s in hass.states.async_all()], default=str),
    }
    assert [where for where, text in places.items() if any(s in text for s in secrets)] == []
    assert diagnostics["entry"]["data"]["token"] == "**REDACTED**"


async def test_a_signed_in_mailbox_cannot_be_moved(
    hass: HomeAssistant,
    authority: OAuthAuthority,
    dovecot_oauth2: DovecotServer,
    account: DovecotUser,
) -> None:
    await add_credentials(hass, Provider.MICROSOFT)
    entry, _, _ = signed_in_entry(hass, authority, dovecot_oauth2, account)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_sign_in"
