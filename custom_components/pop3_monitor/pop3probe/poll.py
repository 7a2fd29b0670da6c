"""One poll of one mailbox: connect, TLS, greeting, CAPA, auth, STAT, LIST, TOP, QUIT.

`poll_mailbox` never raises (but for cancellation): every failure becomes a snapshot with an
error class. The session is short, because a POP3 login locks the maildrop for the owner's own
mail client: QUIT goes out with the last batch. The session's steps are in `steps`, in order;
whether commands are batched is decided in `batching`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from . import steps
from .batching import Batching
from .commands import build_command
from .errors import (
    CertificateInvalidError,
    ConnectTimeoutError,
    PollTimeoutError,
    Pop3Error,
    ProtocolError,
)
from .hints import ServerHints
from .models import MailboxConfig, Phase, PollSnapshot, TlsInfo, TlsMode
from .replies import shared_tags
from .session import Pop3Session, Transcript, open_session
from .steps import Conversation, Findings, PhaseClock
from .tls import client_context, describe_session, inspection_context
from .tracker import MessageTracker

_LOGGER = logging.getLogger(__name__)

INSPECTION_TIMEOUT = 10.0


class _Poll:
    """One poll in progress: its session once open, and what its steps find."""

    __slots__ = (
        "batching",
        "clock",
        "config",
        "found",
        "session",
        "ssl_context",
        "tracker",
        "transcript",
    )

    def __init__(
        self,
        config: MailboxConfig,
        tracker: MessageTracker,
        hints: ServerHints,
        transcript: Transcript | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.transcript = transcript
        self.ssl_context = ssl_context
        self.batching = Batching(hints)
        self.clock = PhaseClock()
        self.found = Findings()
        self.session: Pop3Session | None = None

    async def run(self) -> None:
        """The session's steps, in order."""
        config = self.config
        self.session = session = await open_session(
            config.host,
            config.effective_port,
            source_address=config.source_address,
            transcript=self.transcript,
        )
        talk = Conversation(config, session, self.tracker, self.batching, self.clock, self.found)
        context = self.ssl_context or client_context(
            verify=config.verify_tls, ca_file=config.ca_file
        )
        server_name = config.server_name or config.host
        if config.tls_mode is TlsMode.IMPLICIT:
            await steps.start_implicit_tls(talk, context, server_name)
        greeting = await steps.read_greeting(talk)
        if config.tls_mode is TlsMode.STARTTLS:
            await steps.upgrade_with_stls(talk, context, server_name)
        steps.record_tls(talk)
        await steps.log_in(talk, greeting)
        verified = await steps.look(talk)
        await steps.fetch_headers_and_quit(talk, verified)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


async def poll_mailbox(
    config: MailboxConfig,
    tracker: MessageTracker | None = None,
    *,
    hints: ServerHints | None = None,
    name: str | None = None,
    transcript: Transcript | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> PollSnapshot:
    """Poll once. Never raises but for cancellation; the tracker is updated only on success.

    `hints` is what earlier polls learned about the server's batching, updated by this poll;
    a caller that polls the same server again keeps it (and saves it) beside the tracker.

    `ssl_context` replaces the one built from `verify_tls`/`ca_file`: callers whose event loop
    must not do file I/O (Home Assistant) build it once in an executor and pass it in.
    """
    name = name or f"{config.username}@{config.host}"
    tracker = tracker if tracker is not None else MessageTracker()
    hints = hints if hints is not None else ServerHints()
    poll = _Poll(config, tracker, hints, transcript, ssl_context)
    clock, found = poll.clock, poll.found
    started_at = datetime.now(UTC)
    started = time.monotonic()
    error: Pop3Error | None = None
    try:
        async with asyncio.timeout(config.timeout) as deadline:
            await poll.run()
    except TimeoutError:
        if not deadline.expired():
            raise  # pragma: no cover - only asyncio.timeout raises TimeoutError in run()
        error_type = ConnectTimeoutError if clock.phase is Phase.CONNECT else PollTimeoutError
        error = error_type(f"no answer within {config.timeout:g} s (during {clock.phase})")
    except Pop3Error as err:
        error = err
    except (OSError, EOFError, ValueError, UnicodeError) as err:
        # Anything else the network or a broken server can cause: classified, never a crash.
        error = ProtocolError(f"unexpected {type(err).__name__} during {clock.phase}")
    finally:
        if error is not None and not found.complete:
            poll.batching.failed(poll.session)
        poll.close()
    if error is not None and found.complete:
        # The server answered everything and then failed at goodbye: that is not "down".
        _LOGGER.debug("poll %s: %s after all answers were in; counted as ok", name, error)
        error = None
    if clock.phase is not Phase.DONE:
        clock.enter(Phase.DONE)
    tls = found.tls
    if isinstance(error, CertificateInvalidError):
        tls = await _inspect_certificate(config)
    snapshot = _snapshot(poll, name, started_at, time.monotonic() - started, error, tls)
    _LOGGER.debug(
        "poll %s: %s in %.3f s, %s messages, %d new",
        name,
        snapshot.error,
        snapshot.duration,
        snapshot.messages,
        len(snapshot.new_messages),
    )
    return snapshot


def _snapshot(
    poll: _Poll,
    name: str,
    started_at: datetime,
    duration: float,
    error: Pop3Error | None,
    tls: TlsInfo | None,
) -> PollSnapshot:
    session, found = poll.session, poll.found
    capabilities = set(found.caps.tags)
    if not found.top_supported:
        capabilities.discard("TOP")
    facts: dict[str, Any] = {
        "mailbox": name,
        "started_at": started_at,
        "duration": duration,
        "phase_durations": MappingProxyType(dict(poll.clock.durations)),
        "tls": tls,
        "capabilities": shared_tags(capabilities),
        "login_delay": found.login_delay,
        "commands_sent": session.commands_sent if session else 0,
        "round_trips": session.round_trips if session else 0,
    }
    # One constructor call per poll: dataclasses.replace would build a second frozen
    # snapshot field by field, a cost every poll paid for nothing.
    if error is not None:
        return PollSnapshot(
            **facts,
            error=error.error_class,
            error_text=error.message,
            server_text=error.server_text or "",
        )
    return PollSnapshot(
        **facts,
        messages=found.messages,
        size_bytes=found.size_bytes,
        message_sizes=found.sizes,
        known_messages=poll.tracker.known_messages if found.top_supported else (),
        new_messages=tuple(found.new_messages),
    )


async def _inspect_certificate(config: MailboxConfig) -> TlsInfo | None:
    """A second handshake that trusts nothing and sends no credentials, to read the expiry.

    blackbox_exporter loses the certificate metrics exactly when a certificate expires; we don't.
    """
    session: Pop3Session | None = None
    try:
        async with asyncio.timeout(min(config.timeout, INSPECTION_TIMEOUT)):
            session = await open_session(
                config.host,
                config.effective_port,
                source_address=config.source_address,
                transcript=None,
            )
            if config.tls_mode is TlsMode.STARTTLS:
                greeting, _ = await session.read_status()
                reply = await session.execute(build_command("STLS"))
                if not (greeting.ok and reply.status.ok):
                    return None
            await session.start_tls(inspection_context(), config.server_name or config.host)
            assert session.ssl_object is not None
            return describe_session(session.ssl_object, verified=False)
    except (Pop3Error, OSError, TimeoutError, ValueError):
        return None
    finally:
        if session is not None:
            session.close()
