"""The exporter's YAML configuration: schema, defaults merge, and one-line errors with key paths.

Validation happens once, at load or reload, so that a typo is reported before any server is
contacted and a bad reload can be refused while the old configuration keeps running.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from pop3probe import (
    DEFAULT_INTERVAL,
    DEFAULT_MAX_HEADERS_PER_POLL,
    DEFAULT_TIMEOUT,
    AuthMechanism,
    MailboxConfig,
    SecretSource,
    TlsMode,
    lacks_plain_text_consent,
)

from .webauth import bcrypt_cost, is_supported_hash

DEFAULT_MAX_CONCURRENT_POLLS = 10
# Dovecot refuses the 11th session per user and address; a few per server leaves room for the
# mailbox owner's own client.
DEFAULT_MAX_CONNECTIONS_PER_SERVER = 2
MIN_INTERVAL = 1.0
MAX_TIMEOUT = 600.0

SECRET_KEYS = ("password", "password_file", "password_env")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
_DURATION_PATTERN = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class ConfigError(Exception):
    """A configuration that cannot be used. `str()` is the one line shown to the user."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"config error: {path}: {reason}" if path else f"config error: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxSettings:
    """One configured mailbox: its name (the `mailbox` label), what to poll, and how often."""

    name: str
    config: MailboxConfig
    interval: float = DEFAULT_INTERVAL

    @property
    def identity(self) -> str:
        """Which account this is, so saved state is never applied to a different account."""
        return f"{self.config.username.lower()}@{self.config.server_key}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSettings:
    """HTTPS on the HTTP side, in exporter-toolkit's terms (`tls_server_config`)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    """HTTP side: optional basic auth (hashed passwords), TLS and extra response headers.

    From `--web.config.file` (exporter-toolkit's format) or the config's older `web:` section.
    `tls_context` is built while loading, so a certificate that cannot be used is a config
    error at (re)load; `fingerprint` changes when the TLS settings or their files do.
    """

    basic_auth_users: Mapping[str, str] = field(default_factory=dict)
    tls: TlsSettings | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tls_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    fingerprint: bytes = b""

    @property
    def tls_cert_file(self) -> Path | None:
        return self.tls.cert_file if self.tls else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExporterConfig:
    mailboxes: tuple[MailboxSettings, ...]
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS
    max_connections_per_server: int = DEFAULT_MAX_CONNECTIONS_PER_SERVER
    state_file: Path | None = None
    web: WebSettings = field(default_factory=WebSettings)

    def mailbox(self, name: str) -> MailboxSettings | None:
        return next((m for m in self.mailboxes if m.name == name), None)


# --- validators: each raises vol.Invalid with the reason a user should read -------------------


def _strict_int(low: int, high: int | None = None) -> Callable[[Any], int]:
    reason = f"expected int between {low} and {high}" if high else f"expected int of at least {low}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(reason)
        if value < low or (high is not None and value > high):
            raise vol.Invalid(reason)
        return value

    return check


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like '90s', '5m', '1h30m'."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION_PATTERN.match(value.strip())
        if match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise vol.Invalid("expected a duration such as 30s, 5m or 1h")


def _duration(low: float, high: float | None = None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < low:
            raise vol.Invalid(f"must be at least {low:g}s")
        if high is not None and seconds > high:
            raise vol.Invalid(f"must be at most {high:g}s")
        return seconds

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a non-empty string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


def _enum(values: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in values:
            raise vol.Invalid(f"expected one of {', '.join(values)}")
        return value.lower()

    return check


def _existing_file(value: Any) -> Path:
    path = Path(_text(value)).expanduser()
    if not path.is_file():
        raise vol.Invalid(f"file {path} does not exist")
    return path


def _state_path(value: Any) -> Path:
    path = Path(_text(value)).expanduser()
    if not path.parent.is_dir():
        raise vol.Invalid(f"directory {path.parent} does not exist")
    return path


def _ip_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(_text(value)))
    except ValueError:
        raise vol.Invalid("expected an IP address") from None


def _mailbox_name(value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise vol.Invalid("expected 1-64 characters: letters, digits and _ . @ + - (not first)")
    return value


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise vol.Invalid("expected an environment variable name")
    return value


def _password_hash(value: Any) -> str:
    if not isinstance(value, str) or not is_supported_hash(value):
        raise vol.Invalid(
            "expected a hash made by 'pop3-exporter hash-password' (bcrypt, or scrypt)"
        )
    return value


_SETTINGS: dict[Any, Any] = {
    vol.Optional("host"): _text,
    vol.Optional("port"): _strict_int(1, 65535),
    vol.Optional("tls_mode"): _enum([m.value for m in TlsMode]),
    vol.Optional("auth"): _enum([m.value for m in AuthMechanism]),
    vol.Optional("username"): _text,
    vol.Optional("verify_tls"): _bool,
    vol.Optional("ca_file"): _existing_file,
    vol.Optional("server_name"): _text,
    vol.Optional("allow_insecure_auth"): _bool,
    vol.Optional("source_address"): _ip_address,
    vol.Optional("interval"): _duration(MIN_INTERVAL),
    vol.Optional("timeout"): _duration(0.1, MAX_TIMEOUT),
    vol.Optional("max_headers_per_poll"): _strict_int(1, 10000),
}

MAILBOX_SCHEMA = vol.Schema(
    {
        vol.Required("name"): _mailbox_name,
        vol.Optional("password"): _text,
        vol.Optional("password_file"): _existing_file,
        vol.Optional("password_env"): _env_name,
        **_SETTINGS,
    },
    extra=vol.PREVENT_EXTRA,
)

WEB_SCHEMA = vol.Schema(
    {
        vol.Optional("basic_auth_users"): vol.Schema({_text: _password_hash}),
        vol.Optional("tls_cert_file"): _existing_file,
        vol.Optional("tls_key_file"): _existing_file,
    },
    extra=vol.PREVENT_EXTRA,
)


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required("mailboxes"): vol.All(list, vol.Length(min=1), [MAILBOX_SCHEMA]),
        vol.Optional("defaults"): vol.Schema(_SETTINGS, extra=vol.PREVENT_EXTRA),
        vol.Optional("max_concurrent_polls"): _strict_int(1, 1000),
        vol.Optional("max_connections_per_server"): _strict_int(1, 100),
        vol.Optional("state_file"): _state_path,
        vol.Optional("web"): WEB_SCHEMA,
    },
    extra=vol.PREVENT_EXTRA,
)


# --- --web.config.file: exporter-toolkit's web configuration ----------------------------------

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Client certificates: Python's ssl verifies a certificate it asks for or rejects the handshake;
# it cannot take one unverified, as Go's RequestClientCert and RequireAnyClientCert do.
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
# Go's names (tls.CipherSuites()) -> OpenSSL's. TLS 1.3 suites cannot be chosen in Go either:
# they are accepted and always on.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
TLS13_CIPHER_SUITES = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
# The headers exporter-toolkit lets an operator add, and the values it accepts (None: any).
RESPONSE_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}


def _unsupported(reason: str) -> Callable[[Any], Any]:
    def refuse(value: Any) -> Any:
        raise vol.Invalid(reason)

    return refuse


def _client_auth_type(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected one of {', '.join(CLIENT_AUTH_TYPES)}")
    if value in _UNVERIFIED_CLIENT_AUTH:
        raise vol.Invalid(
            f"{value} is not supported: Python's ssl cannot accept a client certificate without "
            "verifying it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    if value not in CLIENT_AUTH_TYPES:
        raise vol.Invalid(f"expected one of {', '.join(CLIENT_AUTH_TYPES)}")
    return str(value)


def _tls_version(value: Any) -> str:
    if not isinstance(value, str) or value not in TLS_VERSIONS:
        raise vol.Invalid(f"expected one of {', '.join(TLS_VERSIONS)}")
    return str(value)


def _cipher_suite(value: Any) -> str:
    if not isinstance(value, str) or (
        value not in CIPHER_SUITES and value not in TLS13_CIPHER_SUITES
    ):
        raise vol.Invalid(
            "unknown cipher suite; expected one of Go's tls.CipherSuites() names, such as "
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        )
    return str(value)


def _bcrypt_hash(value: Any) -> str:
    if not isinstance(value, str) or bcrypt_cost(value) is None:
        raise vol.Invalid(
            "expected a bcrypt hash ($2y$, $2b$ or $2a$, cost 4-31), as made by "
            "'pop3-exporter hash-password' or 'htpasswd -nBC 10 \"\" | tr -d :'"
        )
    return value


def _header_value(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a string")
    return value


_INLINE = "inline PEM is not supported: put it in a file and give {}_file"

TLS_SERVER_SCHEMA = vol.Schema(
    {
        vol.Optional("cert_file"): _text,
        vol.Optional("key_file"): _text,
        vol.Optional("client_ca_file"): _text,
        vol.Optional("client_auth_type"): _client_auth_type,
        vol.Optional("min_version"): _tls_version,
        vol.Optional("max_version"): _tls_version,
        vol.Optional("cipher_suites"): vol.All(list, [_cipher_suite]),
        vol.Optional("prefer_server_cipher_suites"): _bool,
        vol.Optional("cert"): _unsupported(_INLINE.format("cert")),
        vol.Optional("key"): _unsupported(_INLINE.format("key")),
        vol.Optional("client_ca"): _unsupported(_INLINE.format("client_ca")),
        vol.Optional("curve_preferences"): _unsupported(
            "not supported: Python's ssl cannot set a list of curves (OpenSSL's defaults apply)"
        ),
        vol.Optional("client_allowed_sans"): _unsupported(
            "not supported by pop3-exporter: limit clients with client_ca_file instead"
        ),
    },
    extra=vol.PREVENT_EXTRA,
)

HTTP_SERVER_SCHEMA = vol.Schema(
    {
        # HTTP/2 is negotiated (ALPN): pop3-exporter always answers in HTTP/1.1, either way.
        vol.Optional("http2"): _bool,
        vol.Optional("headers"): vol.Schema({str: _header_value}),
    },
    extra=vol.PREVENT_EXTRA,
)

WEB_CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("tls_server_config"): TLS_SERVER_SCHEMA,
        vol.Optional("http_server_config"): HTTP_SERVER_SCHEMA,
        vol.Optional("basic_auth_users"): vol.Schema({_text: _bcrypt_hash}),
        vol.Optional("rate_limit"): _unsupported("not supported by pop3-exporter"),
    },
    extra=vol.PREVENT_EXTRA,
)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError("", f"cannot read {what}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{what} is not UTF-8 text") from None


def load_web_config(path: Path) -> WebSettings:
    """Read exporter-toolkit's web configuration file; relative paths are relative to it."""
    where = f"web config {path}"
    text = _read_text(path, where)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or err
        raise ConfigError(f"{where}{at}", f"invalid YAML: {problem}") from None
    return build_web_config(raw if raw is not None else {}, path.parent, where)


def build_web_config(raw: Any, base: Path, where: str = "web config") -> WebSettings:
    if not isinstance(raw, dict):
        raise ConfigError(where, "expected a mapping (tls_server_config, basic_auth_users, ...)")
    # An empty section (`basic_auth_users:` with nothing under it) is no section, as in Go.
    raw = {key: value for key, value in raw.items() if value is not None}
    try:
        data = WEB_CONFIG_SCHEMA(raw)
    except vol.MultipleInvalid as err:
        raise _humanize(_first_error(err), where) from None
    except vol.Invalid as err:
        raise _humanize(err, where) from None
    headers: dict[str, str] = {}
    http = data.get("http_server_config") or {}
    for name, value in (http.get("headers") or {}).items():
        key = f"{where}: http_server_config.headers.{shown_key(name)}"
        if name not in RESPONSE_HEADERS:
            allowed = ", ".join(RESPONSE_HEADERS)
            raise ConfigError(key, f"this header cannot be configured; only {allowed}")
        choices = RESPONSE_HEADERS[name]
        if choices is not None and value not in choices:
            raise ConfigError(key, f"expected one of {', '.join(choices)}")
        if value:  # blank means unset, as in exporter-toolkit
            headers[name] = value
    tls = _tls_settings(data.get("tls_server_config") or {}, base, where)
    users = dict(data.get("basic_auth_users") or {})
    return _web_settings(users, tls, headers, lambda name: f"{where}: tls_server_config.{name}")


def _tls_settings(raw: Mapping[str, Any], base: Path, where: str) -> TlsSettings | None:
    key = f"{where}: tls_server_config"
    enabling = ("cert_file", "key_file", "client_ca_file", "client_auth_type")
    if not any(k in raw for k in enabling):
        return None  # as exporter-toolkit: versions or ciphers alone do not turn TLS on
    files: dict[str, Path] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        if name in raw:
            path = Path(raw[name]).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise ConfigError(f"{key}.{name}", f"file {path} does not exist")
            files[name] = path
    for name in ("cert_file", "key_file"):
        if name not in files:
            raise ConfigError(f"{key}.{name}", "required to serve HTTPS")
    auth = raw.get("client_auth_type", "NoClientCert")
    if "client_ca_file" in files and auth == "NoClientCert":
        raise ConfigError(
            f"{key}.client_ca_file",
            "given without client_auth_type: set VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert",
        )
    low, high = raw.get("min_version", "TLS12"), raw.get("max_version", "TLS13")
    if TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        raise ConfigError(f"{key}.min_version", f"{low} is above max_version {high}")
    return TlsSettings(
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        client_ca_file=files.get("client_ca_file"),
        client_auth_type=auth,
        min_version=low,
        max_version=high,
        cipher_suites=tuple(raw.get("cipher_suites", ())),
        prefer_server_cipher_suites=raw.get("prefer_server_cipher_suites", True),
    )


def _web_settings(
    users: dict[str, str],
    tls: TlsSettings | None,
    headers: dict[str, str],
    key_for: Callable[[str], str],
) -> WebSettings:
    context, fingerprint = None, b""
    if tls is not None:
        context = tls_context(tls, key_for)
        digest = hashlib.sha256(repr(tls).encode())
        for path in (tls.cert_file, tls.key_file, tls.client_ca_file):
            if path is not None:
                digest.update(path.read_bytes())
        fingerprint = digest.digest()
    return WebSettings(
        basic_auth_users=users,
        tls=tls,
        headers=headers,
        tls_context=context,
        fingerprint=fingerprint,
    )


def _no_passphrase() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def tls_context(
    tls: TlsSettings, key_for: Callable[[str], str] = lambda name: f"tls_server_config.{name}"
) -> ssl.SSLContext:
    """The server-side SSLContext for `tls`; ConfigError naming the key when one won't do
    (`key_for` turns a tls_server_config key into the path the user wrote)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(
            key_for("cert_file"), f"cannot use it with key_file: {_ssl_reason(err)}"
        ) from None
    suites = [CIPHER_SUITES[name] for name in tls.cipher_suites if name in CIPHER_SUITES]
    if suites:
        try:
            context.set_ciphers(":".join(suites))
        except ssl.SSLError:
            raise ConfigError(
                key_for("cipher_suites"), "none of these suites is available in this OpenSSL"
            ) from None
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.verify_mode = CLIENT_AUTH_TYPES[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as err:
            raise ConfigError(key_for("client_ca_file"), _ssl_reason(err)) from None
    elif context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # as Go: the system's CAs
    return context


def _ssl_reason(err: Exception) -> str:
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason).lower().replace("_", " ")
    return str(err)


def legacy_web_settings(raw: Mapping[str, Any]) -> WebSettings:
    """The config's own `web:` section (kept working): scrypt or bcrypt hashes, cert and key."""
    for key, other in (("tls_cert_file", "tls_key_file"), ("tls_key_file", "tls_cert_file")):
        if key in raw and other not in raw:
            raise ConfigError(f"web.{other}", f"required together with {key}")
    tls = None
    if "tls_cert_file" in raw:
        tls = TlsSettings(cert_file=raw["tls_cert_file"], key_file=raw["tls_key_file"])
    users = dict(raw.get("basic_auth_users", {}))
    return _web_settings(users, tls, {}, lambda name: f"web.tls_{name}")


# --- turning voluptuous errors into one line -------------------------------------------------

_REASONS = {
    "extra keys not allowed": "unknown key",
    "required key not provided": "required key missing",
    "expected list": "expected a list",
    "expected dict": "expected a mapping",
    "expected a dictionary": "expected a mapping",
    "length of value must be at least 1": "must not be empty",
}


def format_path(path: Sequence[Any]) -> str:
    """['mailboxes', 2, 'port'] -> 'mailboxes[2].port'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = shown_key(part)
            text += f".{name}" if text else name
    return text


def shown_key(key: object) -> str:
    """A key as the user wrote it, or quoted when it would not fit on one readable line."""
    text = str(key)
    return text if text.isprintable() else repr(text)


def _humanize(error: vol.Invalid, where: str = "") -> ConfigError:
    reason = _REASONS.get(error.msg, error.msg)
    if reason == "expected a mapping" and error.path and isinstance(error.path[-1], int):
        reason = "expected a mapping (one mailbox)"
    path = format_path(error.path) or "top level"
    return ConfigError(f"{where}: {path}" if where else path, reason)


# --- loading -----------------------------------------------------------------------------------


def load_config(path: Path, *, web_config_file: Path | None = None) -> ExporterConfig:
    """Read, validate and build the configuration (and the web configuration file, when one is
    given, which then sets the HTTP side). Raises ConfigError (one line) on any fault."""
    config = parse_config(_read_text(path, str(path)))
    if web_config_file is None:
        return config
    if config.web != WebSettings():
        raise ConfigError(
            "web",
            f"the HTTP side is set by --web.config.file {web_config_file}: move basic_auth_users "
            "there (bcrypt hashes), tls_cert_file/tls_key_file to tls_server_config.cert_file/"
            "key_file, and remove this section",
        )
    return replace(config, web=load_web_config(web_config_file))


def parse_config(text: str) -> ExporterConfig:
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ConfigError(where, f"invalid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError("", f"invalid YAML: {err}") from None
    return build_config(raw)


def build_config(raw: Any) -> ExporterConfig:
    """Validate a parsed document (a dict as YAML would give) and build ExporterConfig."""
    if not isinstance(raw, dict):
        raise ConfigError("top level", "expected a mapping with a 'mailboxes' list")
    try:
        data = CONFIG_SCHEMA(raw)
    except vol.MultipleInvalid as err:
        raise _humanize(_first_error(err)) from None
    except vol.Invalid as err:
        raise _humanize(err) from None

    defaults: dict[str, Any] = data.get("defaults", {})
    mailboxes: list[MailboxSettings] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["mailboxes"]):
        where = f"mailboxes[{index}]"
        name = entry["name"]
        if name in seen:
            raise ConfigError(
                f"{where}.name", f"duplicate mailbox name {name!r} (also mailboxes[{seen[name]}])"
            )
        seen[name] = index
        mailboxes.append(_build_mailbox(where, {**defaults, **entry}))

    web = legacy_web_settings(data.get("web", {}))
    return ExporterConfig(
        mailboxes=tuple(mailboxes),
        max_concurrent_polls=data.get("max_concurrent_polls", DEFAULT_MAX_CONCURRENT_POLLS),
        max_connections_per_server=data.get(
            "max_connections_per_server", DEFAULT_MAX_CONNECTIONS_PER_SERVER
        ),
        state_file=data.get("state_file"),
        web=web,
    )


def _first_error(err: vol.MultipleInvalid) -> vol.Invalid:
    # The shallowest error first: a missing section explains more than a consequence of it.
    return min(err.errors, key=lambda e: len(e.path))


def _build_mailbox(where: str, merged: Mapping[str, Any]) -> MailboxSettings:
    for key in ("host", "username"):
        if key not in merged:
            raise ConfigError(f"{where}.{key}", "required key missing (here or in defaults)")
    secret = _secret_source(where, merged)
    tls_mode = TlsMode(merged.get("tls_mode", TlsMode.IMPLICIT.value))
    verify = merged.get("verify_tls", True)
    if not verify and "ca_file" in merged:
        raise ConfigError(f"{where}.ca_file", "conflicts with verify_tls: false")
    allow_insecure = merged.get("allow_insecure_auth", False)
    if lacks_plain_text_consent(tls_mode, allow_insecure):
        raise ConfigError(
            f"{where}.tls_mode",
            "plain sends the password unencrypted; set allow_insecure_auth: true to allow it",
        )
    interval = merged.get("interval", DEFAULT_INTERVAL)
    timeout = merged.get("timeout", DEFAULT_TIMEOUT)
    if timeout > interval:
        raise ConfigError(f"{where}.timeout", f"must not exceed interval ({interval:g}s)")
    config = MailboxConfig(
        host=merged["host"],
        port=merged.get("port"),
        username=merged["username"],
        secret=secret,
        tls_mode=tls_mode,
        auth=AuthMechanism(merged.get("auth", AuthMechanism.AUTO.value)),
        verify_tls=verify,
        ca_file=merged.get("ca_file"),
        server_name=merged.get("server_name"),
        allow_insecure_auth=allow_insecure,
        source_address=merged.get("source_address"),
        timeout=timeout,
        max_headers_per_poll=merged.get("max_headers_per_poll", DEFAULT_MAX_HEADERS_PER_POLL),
    )
    return MailboxSettings(name=merged["name"], config=config, interval=interval)


def _secret_source(where: str, merged: Mapping[str, Any]) -> SecretSource:
    given = [key for key in SECRET_KEYS if key in merged]
    if len(given) > 1:
        raise ConfigError(
            f"{where}.{given[1]}",
            f"conflicts with {given[0]}: give only one of {', '.join(SECRET_KEYS)}",
        )
    if "password" in merged:
        return SecretSource(value=merged["password"])
    if "password_file" in merged:
        return SecretSource(file=merged["password_file"])
    if "password_env" in merged:
        return SecretSource(env=merged["password_env"])
    raise ConfigError(
        f"{where}.password", "one of password, password_file, password_env is required"
    )
