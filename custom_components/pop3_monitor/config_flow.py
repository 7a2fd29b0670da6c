"""Adding a mailbox from the UI: every form is checked with a real (read-only) poll.

The user picks how the mailbox logs in: a password (any server), or signing in with Microsoft or
Google (OAuth2 through Home Assistant's application credentials; the POP3 login is SASL XOAUTH2).
The poll's error class decides the form error, attached to the field that can fix it where there
is one (a certificate problem to "verify" or the CA certificate, a missing STLS to the TLS mode).
Reauth replaces the password or signs in again; reconfigure moves a password mailbox to another
host, port or TLS mode.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.config_entry_oauth2_flow import (
    AbstractOAuth2FlowHandler,
    ImplementationUnavailableError,
    async_get_implementations,
)
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .certificates import CaCertificateError, async_client_context, normalized_ca_pem
from .compat import vol
from .const import (
    CONF_AUTH_IMPLEMENTATION,
    CONF_CA_CERT,
    CONF_INTERVAL,
    CONF_PROVIDER,
    CONF_TIMEOUT,
    CONF_TLS_MODE,
    CONF_UNREAD_MODE,
    DEFAULT_INTERVAL_MINUTES,
    DEFAULT_TIMEOUT_SECONDS,
    DOMAIN,
    LOGGER,
    MAX_INTERVAL_MINUTES,
    MAX_TIMEOUT_SECONDS,
    MIN_INTERVAL_MINUTES,
    VALIDATION_TIMEOUT_SECONDS,
    UnreadMode,
)
from .coordinator import Pop3ConfigEntry, mailbox_config
from .oauth import PRESETS, MailOAuth2Implementation, Provider
from .pop3probe import ErrorClass, MessageTracker, PollSnapshot, TlsMode, poll_mailbox

# Error class -> (form field, error key). Classes not listed mean the mailbox works:
# [IN-USE] and [LOGIN-DELAY] answer a *successful* authentication (RFC 2449).
FORM_ERRORS: dict[ErrorClass, tuple[str, str]] = {
    ErrorClass.DNS: ("base", "cannot_connect"),
    ErrorClass.CONNECT_REFUSED: ("base", "cannot_connect"),
    ErrorClass.CONNECT_TIMEOUT: ("base", "timeout"),
    ErrorClass.TLS_HANDSHAKE: ("base", "cannot_connect"),
    ErrorClass.CERT_INVALID: (CONF_VERIFY_SSL, "cert_invalid"),
    ErrorClass.STLS_UNAVAILABLE: (CONF_TLS_MODE, "stls_unavailable"),
    ErrorClass.AUTH_FAILED: ("base", "invalid_auth"),
    ErrorClass.SERVER_TEMPORARY: ("base", "cannot_connect"),
    ErrorClass.SERVER_PERMANENT: ("base", "cannot_connect"),
    ErrorClass.PROTOCOL_ERROR: ("base", "cannot_connect"),
    ErrorClass.TIMEOUT: ("base", "timeout"),
}

TLS_MODE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[mode.value for mode in TlsMode],
        mode=SelectSelectorMode.DROPDOWN,
        translation_key=CONF_TLS_MODE,
    )
)
PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)
PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)
CA_CERT_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))

SERVER_SCHEMA = {
    vol.Required(CONF_HOST): TextSelector(),
    vol.Optional(CONF_PORT): PORT_SELECTOR,
    vol.Required(CONF_TLS_MODE, default=TlsMode.IMPLICIT.value): TLS_MODE_SELECTOR,
}
USER_SCHEMA = vol.Schema(
    {
        **SERVER_SCHEMA,
        vol.Required(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        ),
        vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
        vol.Required(CONF_VERIFY_SSL, default=True): BooleanSelector(),
        vol.Optional(CONF_CA_CERT): CA_CERT_SELECTOR,
    }
)
SIGN_IN_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="username")
        )
    }
)
REAUTH_SCHEMA = vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR})
RECONFIGURE_SCHEMA = vol.Schema(SERVER_SCHEMA)


def _server_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Host, an explicit port (the TLS mode's default when left empty) and the TLS mode."""
    tls_mode = TlsMode(user_input[CONF_TLS_MODE])
    port = user_input.get(CONF_PORT)
    return {
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(port) if port else tls_mode.default_port,
        CONF_TLS_MODE: tls_mode.value,
    }


def _unique_id(data: Mapping[str, Any]) -> str:
    return f"{data[CONF_USERNAME]}@{data[CONF_HOST]}:{data[CONF_PORT]}".lower()


def _title(data: Mapping[str, Any]) -> str:
    return f"{data[CONF_USERNAME]}@{data[CONF_HOST]}"


def _ca_pem(user_input: Mapping[str, Any], errors: dict[str, str]) -> str | None:
    """The pasted CA certificate as clean PEM (None when the field is empty); a problem with
    it goes into `errors`."""
    text = str(user_input.get(CONF_CA_CERT) or "").strip()
    if not text:
        return None
    try:
        return normalized_ca_pem(text)
    except CaCertificateError as err:
        errors[CONF_CA_CERT] = err.key
        return None


async def _async_try_poll(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    verify_tls: bool,
    ca_pem: str | None = None,
) -> tuple[dict[str, str], PollSnapshot | None]:
    """One real poll with a throwaway tracker; returns form errors (empty when it worked)."""
    config = mailbox_config(data, verify_tls=verify_tls, timeout=VALIDATION_TIMEOUT_SECONDS)
    try:
        context = await async_client_context(hass, verify_tls, ca_pem)
        snapshot = await poll_mailbox(
            config, MessageTracker(), name=_title(data), ssl_context=context
        )
    except Exception:
        LOGGER.exception("Unexpected error while checking %s", _title(data))
        return {"base": "unknown"}, None
    if snapshot.error in FORM_ERRORS:
        field, key = FORM_ERRORS[snapshot.error]
        if key == "cert_invalid" and ca_pem:
            field = CONF_CA_CERT  # the pasted CA did not sign the server's certificate
        LOGGER.debug("Checking %s failed: %s %s", _title(data), snapshot.error, snapshot.error_text)
        return {field: key}, snapshot
    return {}, snapshot


def _default_interval(snapshot: PollSnapshot | None) -> int:
    """The default interval, raised to the server's LOGIN-DELAY when it announces one."""
    login_delay = snapshot.login_delay if snapshot and snapshot.login_delay else 0
    return max(DEFAULT_INTERVAL_MINUTES, math.ceil(login_delay / 60))


class Pop3ConfigFlow(AbstractOAuth2FlowHandler, domain=DOMAIN):
    """Set up one mailbox per entry: with a password, or by signing in with a provider."""

    DOMAIN = DOMAIN
    VERSION = 1

    def __init__(self) -> None:
        super().__init__()
        self._provider: Provider | None = None  # the sign-in being set up or renewed
        self._username = ""

    @property
    def logger(self) -> logging.Logger:
        return LOGGER

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        """The provider's own parameters come from the implementation; this names the account
        the user is about to sign in with, so the provider can preselect it."""
        return {"login_hint": self._username}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Pop3ConfigEntry) -> Pop3OptionsFlow:
        return Pop3OptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """How does the mailbox log in?"""
        return self.async_show_menu(
            step_id="user", menu_options=["password", *(provider.value for provider in Provider)]
        )

    async def async_step_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                **_server_data(user_input),
                CONF_USERNAME: str(user_input[CONF_USERNAME]).strip(),
                CONF_PASSWORD: user_input[CONF_PASSWORD],
            }
            await self.async_set_unique_id(_unique_id(data))
            self._abort_if_unique_id_configured()
            verify = bool(user_input[CONF_VERIFY_SSL])
            ca_pem = _ca_pem(user_input, errors)
            if not errors:
                errors, snapshot = await _async_try_poll(
                    self.hass, data, verify_tls=verify, ca_pem=ca_pem
                )
            if not errors:
                return self.async_create_entry(
                    title=_title(data), data=data, options=_new_options(snapshot, verify, ca_pem)
                )
        return self.async_show_form(
            step_id="password",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_microsoft(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return await self._async_step_sign_in(Provider.MICROSOFT, user_input)

    async def async_step_google(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self._async_step_sign_in(Provider.GOOGLE, user_input)

    async def _async_step_sign_in(
        self, provider: Provider, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Which account, then off to the provider's sign-in page."""
        preset = PRESETS[provider]
        if user_input is not None:
            self._provider = provider
            self._username = str(user_input[CONF_USERNAME]).strip()
            data = {CONF_USERNAME: self._username, CONF_HOST: preset.host, CONF_PORT: preset.port}
            await self.async_set_unique_id(_unique_id(data))
            self._abort_if_unique_id_configured()
            return await self.async_step_pick_implementation()
        return self.async_show_form(
            step_id=provider.value,
            data_schema=SIGN_IN_SCHEMA,
            description_placeholders={"server": f"{preset.host}:{preset.port}"},
        )

    async def async_step_pick_implementation(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Only the credentials of the chosen provider can sign in to its mailboxes."""
        try:
            every = await async_get_implementations(self.hass, DOMAIN)
        except ImplementationUnavailableError:
            return self.async_abort(reason="oauth_implementation_unavailable")
        implementations = {
            key: implementation
            for key, implementation in every.items()
            if isinstance(implementation, MailOAuth2Implementation)
            and implementation.provider is self._provider
        }
        if user_input is not None and user_input.get("implementation") in implementations:
            self.flow_impl = implementations[user_input["implementation"]]
            return await self.async_step_auth()
        if not implementations:
            # Home Assistant's frontend answers this reason with its "add credentials" dialog.
            assert self._provider is not None
            return self.async_abort(
                reason="missing_credentials",
                description_placeholders={"provider": PRESETS[self._provider].name},
            )
        if len(implementations) == 1:
            self.flow_impl = next(iter(implementations.values()))
            return await self.async_step_auth()
        return self.async_show_form(
            step_id="pick_implementation",
            data_schema=vol.Schema(
                {
                    vol.Required("implementation"): vol.In(
                        {key: impl.name for key, impl in implementations.items()}
                    )
                }
            ),
        )

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Signed in: the new access token must open the mailbox before anything is saved."""
        assert self._provider is not None
        preset = PRESETS[self._provider]
        sign_in = {
            CONF_AUTH_IMPLEMENTATION: data[CONF_AUTH_IMPLEMENTATION],
            CONF_TOKEN: data[CONF_TOKEN],
        }
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            entry_data = {**entry.data, **sign_in}  # same account and server, new grant
            errors, snapshot = await _async_try_poll(
                self.hass, entry_data, verify_tls=_verify(entry), ca_pem=_ca(entry)
            )
        else:
            entry_data = {
                CONF_HOST: preset.host,
                CONF_PORT: preset.port,
                CONF_TLS_MODE: TlsMode.IMPLICIT.value,
                CONF_USERNAME: self._username,
                CONF_PROVIDER: self._provider.value,
                **sign_in,
            }
            errors, snapshot = await _async_try_poll(self.hass, entry_data, verify_tls=True)
        if errors:
            # After the provider's page there is no form to go back to: say why and stop.
            reason = "sign_in_refused" if errors.get("base") == "invalid_auth" else "cannot_connect"
            return self.async_abort(
                reason=reason,
                description_placeholders={"username": self._username, "provider": preset.name},
            )
        if self.source == SOURCE_REAUTH:
            return self.async_update_reload_and_abort(self._get_reauth_entry(), data=entry_data)
        return self.async_create_entry(
            title=_title(entry_data), data=entry_data, options=_new_options(snapshot, True, None)
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server refused the stored password, or the provider the stored grant."""
        if CONF_TOKEN in entry_data:
            self._provider = Provider(entry_data[CONF_PROVIDER])
            self._username = entry_data[CONF_USERNAME]
            return await self.async_step_reauth_sign_in()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            return await self.async_step_pick_implementation()
        assert self._provider is not None
        return self.async_show_form(
            step_id="reauth_sign_in",
            description_placeholders={
                "mailbox": self._get_reauth_entry().title,
                "provider": PRESETS[self._provider].name,
            },
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            errors, _ = await _async_try_poll(
                self.hass, data, verify_tls=_verify(entry), ca_pem=_ca(entry)
            )
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_PASSWORD: user_input[CONF_PASSWORD]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders={"mailbox": entry.title},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the mailbox to another host, port or TLS mode; the account stays the same."""
        entry = self._get_reconfigure_entry()
        if CONF_TOKEN in entry.data:
            # A sign-in mailbox lives on its provider's server: there is nowhere to move it.
            return self.async_abort(
                reason="reconfigure_sign_in",
                description_placeholders={
                    "provider": PRESETS[Provider(entry.data[CONF_PROVIDER])].name
                },
            )
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **_server_data(user_input)}
            unique_id = _unique_id(data)
            if unique_id != entry.unique_id:
                await self.async_set_unique_id(unique_id)
                self._abort_if_unique_id_configured()
            errors, _ = await _async_try_poll(
                self.hass, data, verify_tls=_verify(entry), ca_pem=_ca(entry)
            )
            if not errors:
                title = _title(data) if entry.title == _title(entry.data) else entry.title
                return self.async_update_reload_and_abort(
                    entry, unique_id=unique_id, title=title, data=data
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )


def _new_options(snapshot: PollSnapshot | None, verify: bool, ca_pem: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        CONF_INTERVAL: _default_interval(snapshot),
        CONF_UNREAD_MODE: UnreadMode.ALL.value,
        CONF_VERIFY_SSL: verify,
        CONF_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
    }
    if ca_pem:
        options[CONF_CA_CERT] = ca_pem
    return options


def _ca(entry: Pop3ConfigEntry) -> str | None:
    return entry.options.get(CONF_CA_CERT) or None


def _verify(entry: Pop3ConfigEntry) -> bool:
    return bool(entry.options.get(CONF_VERIFY_SSL, True))


class Pop3OptionsFlow(OptionsFlowWithReload):
    """How often to poll, what "unread" means, how to verify the certificate."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        login_delay = self._login_delay()
        placeholders = {"login_delay_minutes": str(math.ceil(login_delay / 60))}
        if user_input is not None:
            options = {
                CONF_INTERVAL: int(user_input[CONF_INTERVAL]),
                CONF_UNREAD_MODE: user_input[CONF_UNREAD_MODE],
                CONF_VERIFY_SSL: bool(user_input[CONF_VERIFY_SSL]),
                CONF_TIMEOUT: int(user_input[CONF_TIMEOUT]),
            }
            if ca_pem := _ca_pem(user_input, errors):
                options[CONF_CA_CERT] = ca_pem
            if options[CONF_INTERVAL] * 60 < login_delay:
                errors[CONF_INTERVAL] = "interval_below_login_delay"
            if not errors:
                return self.async_create_entry(data=options)
        current = {
            CONF_INTERVAL: DEFAULT_INTERVAL_MINUTES,
            CONF_UNREAD_MODE: UnreadMode.ALL.value,
            CONF_VERIFY_SSL: True,
            CONF_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
            **self.config_entry.options,
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_INTERVAL_MINUTES,
                        max=MAX_INTERVAL_MINUTES,
                        step=1,
                        unit_of_measurement="min",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(CONF_UNREAD_MODE): SelectSelector(
                    SelectSelectorConfig(
                        options=[mode.value for mode in UnreadMode],
                        mode=SelectSelectorMode.LIST,
                        translation_key=CONF_UNREAD_MODE,
                    )
                ),
                vol.Required(CONF_VERIFY_SSL): BooleanSelector(),
                vol.Optional(CONF_CA_CERT): CA_CERT_SELECTOR,
                vol.Required(CONF_TIMEOUT): NumberSelector(
                    NumberSelectorConfig(
                        min=1,
                        max=MAX_TIMEOUT_SECONDS,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _login_delay(self) -> int:
        """The server's LOGIN-DELAY in seconds, as last seen by the running coordinator."""
        coordinator = getattr(self.config_entry, "runtime_data", None)
        return coordinator.backoff.login_delay if coordinator is not None else 0
