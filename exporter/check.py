"""`pop3-exporter check`: one poll, a readable report, Nagios plugin exit codes and perfdata.

So Icinga and Nagios users can alert with the same poller: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (the check itself could not run: bad arguments, unknown mailbox, bad config).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pop3probe import (
    BUSY_ERRORS,
    DEFAULT_TIMEOUT,
    MailboxConfig,
    MessageTracker,
    PollSnapshot,
    SecretSource,
    TlsMode,
    poll_mailbox,
)

from .config import ConfigError, MailboxSettings, load_config

DEFAULT_PASSWORD_ENV = "POP3_PASSWORD"  # noqa: S105 (a variable name)


class Status(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    cert_days_warning: float = 21
    cert_days_critical: float = 7
    messages_warning: int | None = None
    messages_critical: int | None = None
    time_warning: float | None = None
    time_critical: float | None = None


class UsageError(Exception):
    """The check cannot run; the message is shown with UNKNOWN."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        help="a mailbox name from --config, or pop3s://USER@HOST[:PORT] (pop3:// uses STLS)",
    )
    parser.add_argument("--config", dest="check_config_file", type=Path, help="exporter config")
    parser.add_argument(
        "--password-env",
        default=DEFAULT_PASSWORD_ENV,
        help=f"environment variable holding the password for a URL target ({DEFAULT_PASSWORD_ENV})",
    )
    parser.add_argument("--ca-file", type=Path, help="CA bundle to verify a URL target against")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the certificate (URL target)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds for the whole poll (default: config's, or {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--cert-days-warning", type=float, default=21)
    parser.add_argument("--cert-days-critical", type=float, default=7)
    parser.add_argument("--messages-warning", type=int)
    parser.add_argument("--messages-critical", type=int)
    parser.add_argument("--time-warning", type=float, help="seconds")
    parser.add_argument("--time-critical", type=float, help="seconds")


def resolve_target(args: argparse.Namespace) -> MailboxSettings:
    target: str = args.target
    if "://" in target:
        return _from_url(target, args)
    if args.check_config_file is None:
        raise UsageError(f"{target!r} is not a URL; give --config to look up a mailbox name")
    try:
        config = load_config(args.check_config_file)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    settings = config.mailbox(target)
    if settings is None:
        names = ", ".join(m.name for m in config.mailboxes)
        raise UsageError(f"no mailbox named {target!r} in the config (have: {names})")
    return settings


def _from_url(url: str, args: argparse.Namespace) -> MailboxSettings:
    parts = urlsplit(url)
    modes = {"pop3s": TlsMode.IMPLICIT, "pop3": TlsMode.STARTTLS}
    if parts.scheme not in modes:
        raise UsageError("the URL scheme must be pop3s:// or pop3://")
    if parts.password is not None:
        raise UsageError(
            f"do not put the password in the URL; set the environment variable {args.password_env}"
        )
    if not parts.username or not parts.hostname:
        raise UsageError("the URL must name a user and a host: pop3s://USER@HOST[:PORT]")
    try:
        port = parts.port
    except ValueError:
        raise UsageError("the URL's port is not a number between 1 and 65535") from None
    if not os.environ.get(args.password_env):
        raise UsageError(f"set the password in the environment variable {args.password_env}")
    if args.insecure and args.ca_file:
        raise UsageError("--insecure and --ca-file contradict each other")
    config = MailboxConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username),
        secret=SecretSource(env=args.password_env),
        tls_mode=modes[parts.scheme],
        verify_tls=not args.insecure,
        ca_file=args.ca_file,
        timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT,
    )
    return MailboxSettings(name=parts.hostname, config=config)


def thresholds(args: argparse.Namespace) -> Thresholds:
    return Thresholds(
        cert_days_warning=args.cert_days_warning,
        cert_days_critical=args.cert_days_critical,
        messages_warning=args.messages_warning,
        messages_critical=args.messages_critical,
        time_warning=args.time_warning,
        time_critical=args.time_critical,
    )


def _num(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def evaluate(
    name: str, snapshot: PollSnapshot, limits: Thresholds, now: float | None = None
) -> tuple[Status, str]:
    """The plugin output (first line, perfdata, long text) and its status."""
    now = time.time() if now is None else now
    if not snapshot.ok:
        status = Status.WARNING if snapshot.error in BUSY_ERRORS else Status.CRITICAL
        reason = snapshot.error_text or snapshot.error.value
        server = f" (server said: {snapshot.server_text})" if snapshot.server_text else ""
        perf = f"time={snapshot.duration:.3f}s;;;0"
        return (
            status,
            f"POP3 {status.name} - {name}: {snapshot.error.value}: {reason}{server} | {perf}",
        )

    problems: list[tuple[Status, str]] = []
    messages = snapshot.messages or 0

    def above(value: float, warning: float | None, critical: float | None, what: str) -> None:
        if critical is not None and value > critical:
            problems.append((Status.CRITICAL, f"{what} above {critical:g}"))
        elif warning is not None and value > warning:
            problems.append((Status.WARNING, f"{what} above {warning:g}"))

    above(messages, limits.messages_warning, limits.messages_critical, f"{messages} messages")
    above(snapshot.duration, limits.time_warning, limits.time_critical, "poll time")
    cert_days: float | None = None
    if snapshot.tls is not None and snapshot.tls.cert_not_after is not None:
        cert_days = (snapshot.tls.cert_not_after.timestamp() - now) / 86400
        if cert_days < limits.cert_days_critical:
            problems.append((Status.CRITICAL, f"certificate expires in {cert_days:.0f} days"))
        elif cert_days < limits.cert_days_warning:
            problems.append((Status.WARNING, f"certificate expires in {cert_days:.0f} days"))
    status = max((s for s, _ in problems), default=Status.OK)

    summary = (
        f"{messages} messages ({snapshot.size_bytes or 0} bytes), poll {snapshot.duration:.3f} s"
    )
    if snapshot.tls is not None:
        summary += f", {snapshot.tls.version}"
    if cert_days is not None:
        summary += f", certificate valid {cert_days:.0f} more days"
    if problems:
        summary += "; " + "; ".join(text for _, text in problems)
    perfdata = [
        f"messages={messages};{_num(limits.messages_warning)};{_num(limits.messages_critical)};0",
        f"size={snapshot.size_bytes or 0}B;;;0",
        f"time={snapshot.duration:.3f}s;{_num(limits.time_warning)};{_num(limits.time_critical)};0",
    ]
    if cert_days is not None:
        perfdata.append(
            f"cert_days={cert_days:.1f};{_num(limits.cert_days_warning)}:;"
            f"{_num(limits.cert_days_critical)}:"
        )
    details = [
        f"{phase}: {seconds * 1000:.1f} ms" for phase, seconds in snapshot.phase_durations.items()
    ]
    if snapshot.capabilities:
        details.append("capabilities: " + " ".join(sorted(snapshot.capabilities)))
    long_text = "\n".join(details)
    text = f"POP3 {status.name} - {name}: {summary} | {' '.join(perfdata)}"
    return status, f"{text}\n{long_text}" if long_text else text


def run_check(args: argparse.Namespace) -> int:
    try:
        settings = resolve_target(args)
    except UsageError as err:
        print(f"POP3 UNKNOWN - {err}")
        return Status.UNKNOWN
    config = settings.config
    if args.timeout is not None:
        config = replace(config, timeout=args.timeout)
    snapshot = asyncio.run(
        poll_mailbox(config, MessageTracker(), name=settings.name, transcript=None)
    )
    status, text = evaluate(settings.name, snapshot, thresholds(args))
    print(text)
    return int(status)
