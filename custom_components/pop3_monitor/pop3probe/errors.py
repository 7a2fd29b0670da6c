"""Error classes of a poll: one enum for metrics, logs and Home Assistant, and an exception tree.

Each exception also inherits the built-in it resembles, so callers that only know asyncio and
OSError still handle it sensibly. A server's refusal carries its response code and text as fields.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """Why a poll failed (or `OK`). The values are stable: they are metric label values."""

    OK = "ok"
    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS_HANDSHAKE = "tls_handshake"
    CERT_INVALID = "cert_invalid"
    STLS_UNAVAILABLE = "stls_unavailable"
    AUTH_FAILED = "auth_failed"
    IN_USE = "in_use"
    LOGIN_DELAY = "login_delay"
    SERVER_TEMPORARY = "server_temporary"
    SERVER_PERMANENT = "server_permanent"
    PROTOCOL_ERROR = "protocol_error"
    TIMEOUT = "timeout"


class Pop3Error(Exception):
    """Base of every error the client raises. `error_class` says which kind it is."""

    error_class: ErrorClass = ErrorClass.PROTOCOL_ERROR

    def __init__(
        self, message: str, *, server_text: str | None = None, response_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.server_text = server_text
        self.response_code = response_code


class DnsError(Pop3Error, OSError):
    error_class = ErrorClass.DNS


class ConnectRefusedError(Pop3Error, ConnectionRefusedError):
    error_class = ErrorClass.CONNECT_REFUSED


class ConnectTimeoutError(Pop3Error, TimeoutError):
    error_class = ErrorClass.CONNECT_TIMEOUT


class TlsHandshakeError(Pop3Error, ConnectionError):
    error_class = ErrorClass.TLS_HANDSHAKE


class CertificateInvalidError(TlsHandshakeError):
    error_class = ErrorClass.CERT_INVALID


class StlsUnavailableError(Pop3Error):
    error_class = ErrorClass.STLS_UNAVAILABLE


class ServerReplyError(Pop3Error):
    """The server answered `-ERR`. Subclasses say what the reply means."""

    error_class = ErrorClass.SERVER_PERMANENT


class AuthFailedError(ServerReplyError):
    error_class = ErrorClass.AUTH_FAILED


class InUseError(ServerReplyError):
    error_class = ErrorClass.IN_USE


class LoginDelayError(ServerReplyError):
    error_class = ErrorClass.LOGIN_DELAY


class ServerTemporaryError(ServerReplyError):
    error_class = ErrorClass.SERVER_TEMPORARY


class ServerPermanentError(ServerReplyError):
    error_class = ErrorClass.SERVER_PERMANENT


class ProtocolError(Pop3Error):
    """The server broke the protocol: malformed, oversized or missing replies, a dropped link."""

    error_class = ErrorClass.PROTOCOL_ERROR


class ServerDisconnectedError(ProtocolError, ConnectionError):
    pass


class PollTimeoutError(Pop3Error, TimeoutError):
    error_class = ErrorClass.TIMEOUT


class ForbiddenCommandError(Pop3Error, ValueError):
    """A command outside the read-only allowlist, or an argument that could inject one.

    Raised before a byte is written; it is a bug in the caller, not a server fault.
    """

    error_class = ErrorClass.PROTOCOL_ERROR


class ConfigurationError(Pop3Error, ValueError):
    """The mailbox settings cannot work (e.g. a secret file that cannot be read)."""

    error_class = ErrorClass.AUTH_FAILED
