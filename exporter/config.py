"""The exporter's YAML configuration: schema, defaults merge, and one-line errors with key paths.

Validation happens once, at load or reload, so that a typo is reported before any server is
contacted and a bad reload can be refused while the old configuration keeps running.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from pop3probe import AuthMechanism, MailboxConfig, SecretSource, TlsMode

from .webauth import is_supported_hash

DEFAULT_INTERVAL = 300.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_HEADERS_PER_POLL = 50
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
class WebSettings:
    """HTTP side: optional basic auth (hashed passwords) and TLS."""

    basic_auth_users: Mapping[str, str] = field(default_factory=dict)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


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
        raise vol.Invalid("expected a hash made by 'pop3-exporter hash-password'")
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
            text += f".{part}" if text else str(part)
    return text


def _humanize(error: vol.Invalid) -> ConfigError:
    reason = _REASONS.get(error.msg, error.msg)
    if reason == "expected a mapping" and error.path and isinstance(error.path[-1], int):
        reason = "expected a mapping (one mailbox)"
    return ConfigError(format_path(error.path) or "top level", reason)


# --- loading -----------------------------------------------------------------------------------


def load_config(path: Path) -> ExporterConfig:
    """Read, validate and build the configuration. Raises ConfigError (one line) on any fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError("", f"cannot read {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8 text") from None
    return parse_config(text)


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

    web_raw: dict[str, Any] = data.get("web", {})
    for key, other in (("tls_cert_file", "tls_key_file"), ("tls_key_file", "tls_cert_file")):
        if key in web_raw and other not in web_raw:
            raise ConfigError(f"web.{other}", f"required together with {key}")
    web = WebSettings(
        basic_auth_users=dict(web_raw.get("basic_auth_users", {})),
        tls_cert_file=web_raw.get("tls_cert_file"),
        tls_key_file=web_raw.get("tls_key_file"),
    )
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
    if tls_mode is TlsMode.PLAIN and not allow_insecure:
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
