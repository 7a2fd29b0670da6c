"""pop3probe: a read-only POP3 client and poll engine, shared by the exporter and Home Assistant.

Standard library only (plus `cryptography`), no Home Assistant imports, relative imports only:
the Home Assistant integration ships this folder inside itself.
"""

from .backoff import Backoff
from .defaults import (
    BUSY_ERRORS,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_HEADERS_PER_POLL,
    DEFAULT_TIMEOUT,
)
from .errors import ErrorClass, Pop3Error
from .hints import ServerHints
from .models import (
    PHASES,
    AuthMechanism,
    MailboxConfig,
    MessageInfo,
    Phase,
    PollSnapshot,
    SecretSource,
    TlsInfo,
    TlsMode,
    lacks_plain_text_consent,
)
from .poll import poll_mailbox
from .saved import hints_from_json, tracker_from_json, tracker_to_json
from .session import Transcript
from .tls import build_client_context
from .tracker import MessageTracker

__all__ = [
    "BUSY_ERRORS",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_HEADERS_PER_POLL",
    "DEFAULT_TIMEOUT",
    "PHASES",
    "AuthMechanism",
    "Backoff",
    "ErrorClass",
    "MailboxConfig",
    "MessageInfo",
    "MessageTracker",
    "Phase",
    "PollSnapshot",
    "Pop3Error",
    "SecretSource",
    "ServerHints",
    "TlsInfo",
    "TlsMode",
    "Transcript",
    "build_client_context",
    "hints_from_json",
    "lacks_plain_text_consent",
    "poll_mailbox",
    "tracker_from_json",
    "tracker_to_json",
]
