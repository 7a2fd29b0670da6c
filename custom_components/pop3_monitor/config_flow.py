"""Adding a mailbox from the UI: every form is checked with a real (read-only) poll.

The poll's error class decides the form error, attached to the field that can fix it where there
is one (a certificate problem to "verify", a missing STLS to the TLS mode). Reauth replaces the
password; reconfigure moves the mailbox to another host, port or TLS mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
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

from .compat import vol
from .const import (
    CONF_INTERVAL,
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
from .coordinator import Pop3ConfigEntry, build_ssl_context, mailbox_config
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


async def _async_try_poll(
    hass: HomeAssistant, data: Mapping[str, Any], *, verify_tls: bool
) -> tuple[dict[str, str], PollSnapshot | None]:
    """One real poll with a throwaway tracker; returns form errors (empty when it worked)."""
    config = mailbox_config(data, verify_tls=verify_tls, timeout=VALIDATION_TIMEOUT_SECONDS)
    try:
        context = await hass.async_add_executor_job(build_ssl_context, verify_tls)
        snapshot = await poll_mailbox(
            config, MessageTracker(), name=_title(data), ssl_context=context
        )
    except Exception:
        LOGGER.exception("Unexpected error while checking %s", _title(data))
        return {"base": "unknown"}, None
    if snapshot.error in FORM_ERRORS:
        field, key = FORM_ERRORS[snapshot.error]
        LOGGER.debug("Checking %s failed: %s %s", _title(data), snapshot.error, snapshot.error_text)
        return {field: key}, snapshot
    return {}, snapshot


def _default_interval(snapshot: PollSnapshot | None) -> int:
    """The default interval, raised to the server's LOGIN-DELAY when it announces one."""
    login_delay = snapshot.login_delay if snapshot and snapshot.login_delay else 0
    return max(DEFAULT_INTERVAL_MINUTES, math.ceil(login_delay / 60))


class Pop3ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one mailbox per entry."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Pop3ConfigEntry) -> Pop3OptionsFlow:
        return Pop3OptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
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
            errors, snapshot = await _async_try_poll(self.hass, data, verify_tls=verify)
            if not errors:
                return self.async_create_entry(
                    title=_title(data),
                    data=data,
                    options={
                        CONF_INTERVAL: _default_interval(snapshot),
                        CONF_UNREAD_MODE: UnreadMode.ALL.value,
                        CONF_VERIFY_SSL: verify,
                        CONF_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
                    },
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server refused the stored password: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            errors, _ = await _async_try_poll(self.hass, data, verify_tls=_verify(entry))
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
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **_server_data(user_input)}
            unique_id = _unique_id(data)
            if unique_id != entry.unique_id:
                await self.async_set_unique_id(unique_id)
                self._abort_if_unique_id_configured()
            errors, _ = await _async_try_poll(self.hass, data, verify_tls=_verify(entry))
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


def _verify(entry: Pop3ConfigEntry) -> bool:
    return bool(entry.options.get(CONF_VERIFY_SSL, True))


class Pop3OptionsFlow(OptionsFlowWithReload):
    """How often to poll, what "unread" means, whether to verify the certificate."""

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
            if options[CONF_INTERVAL] * 60 < login_delay:
                errors[CONF_INTERVAL] = "interval_below_login_delay"
            else:
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
