"""One coordinator per mailbox: polls through the core, keeps the tracker, fires new-mail events.

The POP3 work (protocol, which messages are new, when to retry) lives in `pop3probe`; this module
only translates its results into Home Assistant terms: error classes become `UpdateFailed` or
`ConfigEntryAuthFailed` with translation keys, the core's `Backoff` sets the next poll time, and
the tracker is persisted with `Store` so new-message events never repeat across restarts. A
sign-in (OAuth2) mailbox gets a fresh access token from Home Assistant's OAuth2 session before
each poll; a grant the provider no longer honours starts a reauth.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeAlias

from aiohttp import ClientError, ClientResponseError
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.config_entry_oauth2_flow import (
    ImplementationUnavailableError,
    OAuth2Session,
    async_get_config_entry_implementation,
)
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .certificates import async_client_context
from .const import (
    CONF_CA_CERT,
    CONF_INTERVAL,
    CONF_TIMEOUT,
    CONF_TLS_MODE,
    CONF_UNREAD_MODE,
    DEFAULT_INTERVAL_MINUTES,
    DEFAULT_TIMEOUT_SECONDS,
    DOMAIN,
    EVENT_NEW_MESSAGE,
    LOGGER,
    MANUAL_REFRESH_COOLDOWN,
    STORAGE_VERSION,
    UnreadMode,
)
from .pop3probe import (
    BUSY_ERRORS,
    DEFAULT_TIMEOUT,
    AuthMechanism,
    Backoff,
    ErrorClass,
    MailboxConfig,
    MessageInfo,
    MessageTracker,
    PollSnapshot,
    SecretSource,
    ServerHints,
    TlsMode,
    hints_from_json,
    poll_mailbox,
    tracker_from_json,
    tracker_to_json,
)

Pop3ConfigEntry: TypeAlias = ConfigEntry["Pop3Coordinator"]
NewMessageListener = Callable[[MessageInfo], None]


def mailbox_config(
    data: Mapping[str, Any], *, verify_tls: bool = True, timeout: float | None = None
) -> MailboxConfig:
    """The core's view of a mailbox, built from config-entry (or config-flow) data.

    A sign-in mailbox logs in with SASL XOAUTH2 and the access token now in `data`.
    """
    tls_mode = TlsMode(data[CONF_TLS_MODE])
    if CONF_TOKEN in data:
        secret, auth = data[CONF_TOKEN]["access_token"], AuthMechanism.XOAUTH2
    else:
        secret, auth = data[CONF_PASSWORD], AuthMechanism.AUTO
    return MailboxConfig(
        host=data[CONF_HOST],
        port=data[CONF_PORT],
        username=data[CONF_USERNAME],
        secret=SecretSource(value=secret),
        auth=auth,
        tls_mode=tls_mode,
        verify_tls=verify_tls,
        # Choosing "no encryption" in the form is the explicit consent the core asks for.
        allow_insecure_auth=tls_mode is TlsMode.PLAIN,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
    )


def new_message_event_data(entry: ConfigEntry, message: MessageInfo) -> dict[str, Any]:
    """The payload of the bus event and of the event entity, for one new message."""
    return {
        "entry_id": entry.entry_id,
        "mailbox": entry.title,
        "sender": message.sender,
        "subject": message.subject,
        "date": message.date.isoformat() if message.date else None,
        "message_id": message.message_id,
        "size": message.size,
    }


class Pop3Coordinator(DataUpdateCoordinator[PollSnapshot]):
    """Polls one mailbox. `data` is the last successful snapshot; `last_poll` the last of any."""

    config_entry: Pop3ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: Pop3ConfigEntry) -> None:
        options = entry.options
        interval = timedelta(minutes=options.get(CONF_INTERVAL, DEFAULT_INTERVAL_MINUTES))
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=interval,
            # "Check now" and the action go through async_request_refresh: at most one poll per
            # cooldown however often they are pressed, since each poll is a login on the server.
            request_refresh_debouncer=Debouncer(
                hass,
                LOGGER,
                cooldown=MANUAL_REFRESH_COOLDOWN.total_seconds(),
                immediate=True,
            ),
        )
        self.unread_mode = UnreadMode(options.get(CONF_UNREAD_MODE, UnreadMode.ALL))
        self.mailbox = mailbox_config(
            entry.data,
            verify_tls=options.get(CONF_VERIFY_SSL, entry.data.get(CONF_VERIFY_SSL, True)),
            timeout=float(options.get(CONF_TIMEOUT, DEFAULT_TIMEOUT_SECONDS)),
        )
        self.ca_pem: str | None = options.get(CONF_CA_CERT) or None
        self.oauth_session: OAuth2Session | None = None  # set up for sign-in mailboxes
        self.backoff = Backoff(interval=interval.total_seconds())
        self.tracker = MessageTracker()
        self.hints = ServerHints()  # what polls learned about the server's batching
        self.acknowledged = 0  # tracker mark of the last "Mark as read"; 0: nothing acknowledged
        self.last_poll: PollSnapshot | None = None
        self._ssl_context: ssl.SSLContext | None = None  # built off the event loop at setup
        self._store = tracker_store(hass, entry.entry_id)
        self._saved_state: dict[str, Any] | None = None
        self._new_message_listeners: list[NewMessageListener] = []
        self._unannounced: list[MessageInfo] = []  # found before the event entity listened

    async def _async_setup(self) -> None:
        """Get the TLS context; restore what the previous run knew, so its mail is not announced
        again."""
        self._ssl_context = await async_client_context(
            self.hass, self.mailbox.verify_tls, self.ca_pem
        )
        if CONF_TOKEN in self.config_entry.data:
            try:
                implementation = await async_get_config_entry_implementation(
                    self.hass, self.config_entry
                )
            except (ImplementationUnavailableError, ValueError) as err:
                # The application credential was deleted, or its provider is unreachable.
                raise ConfigEntryNotReady(
                    translation_domain=DOMAIN,
                    translation_key="oauth_implementation_unavailable",
                    translation_placeholders={"mailbox": self.name},
                ) from err
            self.oauth_session = OAuth2Session(self.hass, self.config_entry, implementation)
        stored = await self._store.async_load()
        if not stored:
            return
        try:
            self.tracker = tracker_from_json(stored["tracker"])
            self.hints = hints_from_json(stored["tracker"])
            self.acknowledged = int(stored.get("acknowledged", 0))
        except (KeyError, TypeError, ValueError) as err:
            # Starting afresh only costs a new baseline: the mail present now is not announced.
            LOGGER.warning("Ignoring unreadable saved state of %s: %s", self.name, err)
            self.tracker = MessageTracker()
            self.hints = ServerHints()
            self.acknowledged = 0
        self._saved_state = stored

    async def _async_update_data(self) -> PollSnapshot:
        if self.oauth_session is not None:
            await self._async_refresh_token()
        snapshot = await poll_mailbox(
            self.mailbox,
            self.tracker,
            hints=self.hints,
            name=self.config_entry.title,
            ssl_context=self._ssl_context,
        )
        self.last_poll = snapshot
        # The core's policy: never below the server's LOGIN-DELAY, sooner after [IN-USE].
        self.update_interval = timedelta(seconds=self.backoff.next_delay(snapshot))
        # Saved after a failure too: the poll may have learned not to batch commands.
        await self._async_save()
        if snapshot.ok:
            self._announce(snapshot.new_messages)
            return snapshot
        if snapshot.error is ErrorClass.AUTH_FAILED:
            # Polling stops until the user re-authenticates: no hammering a locked account.
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="auth_failed",
                translation_placeholders={"mailbox": self.name, "detail": _detail(snapshot)},
            )
        if snapshot.error in BUSY_ERRORS and self.data is not None:
            LOGGER.debug("%s is busy (%s); keeping the last data", self.name, snapshot.error)
            return self.data
        raise UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=f"poll_{snapshot.error.value}",
            translation_placeholders={"mailbox": self.name, "detail": _detail(snapshot)},
        )

    async def _async_refresh_token(self) -> None:
        """A valid access token in the entry (refreshed when it is about to expire), and the
        mailbox config that logs in with it. A refused refresh means the grant is gone:
        expired, revoked, or the password changed; only signing in again helps."""
        assert self.oauth_session is not None
        try:
            await self.oauth_session.async_ensure_token_valid()
        except ClientResponseError as err:
            # Home Assistant before 2026.3; newer versions raise their own OAuth2 errors, which
            # the DataUpdateCoordinator turns into reauth or a retry by itself.
            placeholders = {"mailbox": self.name, "status": str(err.status)}
            if 400 <= err.status < 500 and err.status != 429:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key="oauth_refresh_refused",
                    translation_placeholders=placeholders,
                ) from err
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="oauth_refresh_failed",
                translation_placeholders=placeholders,
            ) from err
        except ClientError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="oauth_refresh_failed",
                translation_placeholders={"mailbox": self.name, "status": type(err).__name__},
            ) from err
        self.mailbox = replace(
            self.mailbox,
            secret=SecretSource(value=self.config_entry.data[CONF_TOKEN]["access_token"]),
        )

    async def _async_save(self) -> None:
        # The server hints go inside the tracker's entry, where earlier versions kept them.
        state = {
            "tracker": tracker_to_json(self.tracker, self.hints),
            "acknowledged": self.acknowledged,
        }
        if state != self._saved_state:
            await self._store.async_save(state)
            self._saved_state = state

    def _announce(self, messages: tuple[MessageInfo, ...]) -> None:
        """A bus event and an event-entity event per new message, oldest first.

        New mail found by the first poll of a setup (mail that arrived while Home Assistant was
        down) comes before the event entity exists: it is kept for the entity until it listens.
        """
        for message in messages:
            self.hass.bus.async_fire(
                EVENT_NEW_MESSAGE, new_message_event_data(self.config_entry, message)
            )
        if not self._new_message_listeners:
            self._unannounced.extend(messages)
            return
        for message in messages:
            for listener in list(self._new_message_listeners):
                listener(message)

    @callback
    def async_add_new_message_listener(self, listener: NewMessageListener) -> CALLBACK_TYPE:
        """Call `listener` for every new message (first for any not yet announced to an
        entity); returns the function that unsubscribes."""
        self._new_message_listeners.append(listener)
        waiting, self._unannounced = self._unannounced, []
        for message in waiting:
            listener(message)

        @callback
        def remove() -> None:
            self._new_message_listeners.remove(listener)

        return remove

    @property
    def unread(self) -> int | None:
        """Unread messages, as the entry's unread mode defines them (POP3 has no read flag)."""
        if self.data is None or self.data.messages is None:
            return None
        if self.unread_mode is UnreadMode.SINCE_ACKNOWLEDGED:
            return self.tracker.arrived_since(self.acknowledged)
        return self.data.messages

    async def async_mark_as_read(self) -> None:
        """Everything on the server now counts as read (for `since_acknowledged`)."""
        self.acknowledged = self.tracker.mark()
        await self._async_save()
        self.async_update_listeners()


def tracker_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where an entry's tracker and "Mark as read" bookmark live between restarts."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")


def _detail(snapshot: PollSnapshot) -> str:
    """The error as a user can act on it: the core's explanation plus the server's own words."""
    if snapshot.server_text and snapshot.server_text not in snapshot.error_text:
        return f"{snapshot.error_text} ({snapshot.server_text})"
    return snapshot.error_text or snapshot.error.value
