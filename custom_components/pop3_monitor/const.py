"""Names shared by the integration's modules: the domain, option keys, defaults, the bus event."""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from typing import Final

from .pop3probe import DEFAULT_INTERVAL, DEFAULT_TIMEOUT

DOMAIN: Final = "pop3_monitor"
LOGGER = logging.getLogger(__package__)

CONF_TLS_MODE: Final = "tls_mode"
CONF_INTERVAL: Final = "interval"  # minutes between polls
CONF_UNREAD_MODE: Final = "unread_mode"
CONF_TIMEOUT: Final = "timeout"  # seconds for one whole poll
CONF_CA_CERT: Final = "ca_cert"  # PEM of the CA that signed the server's certificate
CONF_PROVIDER: Final = "provider"  # set for sign-in (OAuth2) mailboxes: microsoft or google
CONF_AUTH_IMPLEMENTATION: Final = "auth_implementation"  # HA's key for the OAuth2 credential

DEFAULT_INTERVAL_MINUTES: Final = int(DEFAULT_INTERVAL // 60)  # the form asks for minutes
MIN_INTERVAL_MINUTES: Final = 1
MAX_INTERVAL_MINUTES: Final = 24 * 60
DEFAULT_TIMEOUT_SECONDS: Final = int(DEFAULT_TIMEOUT)  # the form takes whole seconds
MAX_TIMEOUT_SECONDS: Final = 120
# The config flow's test poll: a user waits on it, so it gives up sooner than a background poll.
VALIDATION_TIMEOUT_SECONDS: Final = 20.0

# A "Check now" press or an action never polls more often than this, to spare the server.
MANUAL_REFRESH_COOLDOWN: Final = timedelta(seconds=10)

EVENT_NEW_MESSAGE: Final = f"{DOMAIN}_new_message"
EVENT_TYPE_NEW_MESSAGE: Final = "new_message"  # the event entity's event type

SERVICE_MARK_AS_READ: Final = "mark_as_read"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

STORAGE_VERSION: Final = 1


class UnreadMode(StrEnum):
    """What the unread sensor counts. POP3 has no read flag, so both are approximations."""

    ALL = "all"  # every message waiting on the server (clients that download and delete)
    SINCE_ACKNOWLEDGED = "since_acknowledged"  # arrived after the last "Mark as read"
