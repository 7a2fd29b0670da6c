"""One poll of one mailbox: connect, TLS, greeting, CAPA, auth, STAT, LIST, TOP, QUIT.

`poll_mailbox` never raises (but for cancellation): every failure becomes a snapshot with an
error class. The session is short, because a POP3 login locks the maildrop for the owner's own
mail client: QUIT goes out with the last batch.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import UTC, datetime
from types import MappingProxyType

from .auth import authenticate, choose_mechanism
from .commands import Command, build_command
from .errors import (
    CertificateInvalidError,
    ConnectTimeoutError,
    PollTimeoutError,
    Pop3Error,
    ProtocolError,
    StlsUnavailableError,
)
from .headers import parse_headers
from .models import PHASES, MailboxConfig, MessageInfo, PollSnapshot, TlsInfo, TlsMode
from .replies import (
    Capabilities,
    apop_timestamp,
    classify_error_reply,
    parse_capabilities,
    parse_list,
    parse_stat,
)
from .session import Pop3Session, Reply, Transcript, open_session
from .tls import client_context, describe_session, inspection_context
from .tracker import MessageTracker

_LOGGER = logging.getLogger(__name__)

MAX_MESSAGES = 1_000_000  # a STAT count above this is a broken or hostile server
MAX_HEADER_BYTES = 64 * 1024  # per TOP reply
MAX_CAPA_BYTES = 16 * 1024
LIST_BYTES_PER_MESSAGE = 44  # two 20-digit numbers, a space, CRLF
INSPECTION_TIMEOUT = 10.0


class _Poll:
    """The state of one poll in progress; `run` does the work, the rest builds the snapshot."""

    def __init__(
        self,
        config: MailboxConfig,
        tracker: MessageTracker,
        transcript: Transcript | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.config = config
        self.ssl_context = ssl_context
        self.tracker = tracker
        self.transcript = transcript
        self.session: Pop3Session | None = None
        self.phase = "connect"
        self._phase_started = time.monotonic()
        self.durations: dict[str, float] = {}
        self.caps = Capabilities.unknown()
        self.login_delay: int | None = None
        self.tls: TlsInfo | None = None
        self.messages: int | None = None
        self.size_bytes: int | None = None
        self.sizes: tuple[int, ...] = ()
        self.new_messages: list[MessageInfo] = []
        self.top_supported = True

    def enter(self, phase: str) -> None:
        now = time.monotonic()
        self.durations[self.phase] = self.durations.get(self.phase, 0.0) + now - self._phase_started
        self.phase, self._phase_started = phase, now

    async def run(self) -> None:
        config = self.config
        self.session = session = await open_session(
            config.host,
            config.effective_port,
            source_address=config.source_address,
            transcript=self.transcript,
        )
        context = self.ssl_context or client_context(
            verify=config.verify_tls, ca_file=config.ca_file
        )
        server_name = config.server_name or config.host
        if config.tls_mode is TlsMode.IMPLICIT:
            self.enter("tls")
            await session.start_tls(context, server_name)
        self.enter("greeting")
        greeting, raw_greeting = await session.read_status()
        if not greeting.ok:
            raise classify_error_reply("greeting", greeting)
        self.enter("capa")
        capa_ok = await self._capa()
        if config.tls_mode is TlsMode.STARTTLS:
            await self._stls(context, server_name, capa_ok)
            capa_ok = await self._capa()
        if session.ssl_object is not None:
            self.tls = describe_session(session.ssl_object, verified=config.verify_tls)
        self.enter("auth")
        pipelining = "PIPELINING" in self.caps.tags
        await authenticate(
            session,
            config,
            choose_mechanism(config, self.caps, capa_ok),
            pipelining=pipelining,
            apop_timestamp=apop_timestamp(greeting, raw_greeting),
        )
        await self._look(pipelining)

    async def _capa(self) -> bool:
        assert self.session is not None
        reply = await self.session.execute(build_command("CAPA"), MAX_CAPA_BYTES)
        if not reply.status.ok or reply.body is None:
            return False  # RFC 2449 lets older servers refuse CAPA: assume USER and TOP
        self._take_capabilities(parse_capabilities(reply.body))
        return True

    def _take_capabilities(self, caps: Capabilities) -> None:
        self.caps = caps
        if caps.login_delay is not None:
            self.login_delay = caps.login_delay

    async def _stls(self, context: ssl.SSLContext, server_name: str, capa_ok: bool) -> None:
        assert self.session is not None
        if capa_ok and "STLS" not in self.caps.tags:
            raise StlsUnavailableError("the server does not offer STLS; nothing was sent")
        reply = await self.session.execute(build_command("STLS"))
        if not reply.status.ok:
            raise StlsUnavailableError(
                "the server refused STLS; nothing was sent", server_text=reply.status.text
            )
        self.enter("tls")
        await self.session.start_tls(context, server_name)
        self.enter("capa")

    async def _look(self, pipelining: bool) -> None:
        """STAT, LIST and the TOPs the tracker asks for, then QUIT: two batches when pipelining."""
        session = self.session
        assert session is not None
        capa = build_command("CAPA")  # after login LOGIN-DELAY may differ (RFC 2449)
        stat, listing = build_command("STAT"), build_command("LIST")
        verify_number = self.tracker.verification_number()
        verify = build_command("TOP", verify_number, 0) if verify_number else None
        first = [c for c in (capa if pipelining else None, stat, listing, verify) if c]
        if pipelining:
            session.write_batch(first)
            if capa in first:
                self.enter("capa")
                reply = await session.read_reply(capa, MAX_CAPA_BYTES)
                if reply.status.ok and reply.body is not None:
                    self._take_capabilities(_merge(self.caps, parse_capabilities(reply.body)))
        self.enter("stat")
        reply = await self._reply(stat, pipelining, 0)
        reply.raise_for_error()
        self.messages, self.size_bytes = parse_stat(reply.status)
        if self.messages > MAX_MESSAGES:
            raise ProtocolError(f"STAT reports {self.messages} messages, more than plausible")
        self.enter("list")
        reply = await self._reply(listing, pipelining, 64 + LIST_BYTES_PER_MESSAGE * self.messages)
        reply.raise_for_error()
        self.sizes = tuple(parse_list(reply.body or b"", self.messages))
        verified = None
        if verify is not None and verify_number is not None:
            self.enter("top")
            reply = await self._reply(verify, pipelining, MAX_HEADER_BYTES)
            if reply.status.ok and verify_number <= len(self.sizes):
                verified = parse_headers(
                    reply.body or b"", verify_number, self.sizes[verify_number - 1]
                )
            elif verify_number <= len(self.sizes):
                self.top_supported = False
        await self._fetch_and_quit(verified, pipelining)

    async def _reply(self, command: Command, pipelining: bool, limit: int) -> Reply:
        """The reply to `command`: already written when pipelining, else sent now."""
        assert self.session is not None
        if pipelining:
            return await self.session.read_reply(command, limit)
        return await self.session.execute(command, limit)

    async def _fetch_and_quit(self, verified: MessageInfo | None, pipelining: bool) -> None:
        session = self.session
        assert session is not None
        plan = self.tracker.plan(self.sizes, verified, self.config.max_headers_per_poll)
        fetch = plan.fetch if self.top_supported else ()
        tops = [build_command("TOP", number, 0) for number in fetch]
        quit_command = build_command("QUIT")
        if pipelining:
            session.write_batch([*tops, quit_command])
        fetched: dict[int, MessageInfo] = {}
        if tops:
            self.enter("top")
        for number, top in zip(fetch, tops, strict=True):
            reply = await self._reply(top, pipelining, MAX_HEADER_BYTES)
            if not reply.status.ok:
                self.top_supported = False  # TOP is optional (RFC 1939): counts still stand
                if not pipelining:
                    break
                continue
            fetched[number] = parse_headers(reply.body or b"", number, self.sizes[number - 1])
        self.enter("quit")
        reply = await self._reply(quit_command, pipelining, 0)
        if not reply.status.ok:
            _LOGGER.debug("QUIT refused (%s); nothing was to be updated", reply.status.text)
        self.enter("done")
        if self.top_supported:
            self.new_messages = self.tracker.commit(plan, fetched)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _merge(before: Capabilities, after: Capabilities) -> Capabilities:
    """Pre-login tags (SASL, USER, STLS) with the post-login LOGIN-DELAY and additions."""
    return Capabilities(
        before.tags | after.tags,
        before.sasl | after.sasl,
        after.login_delay if after.login_delay is not None else before.login_delay,
        after.implementation or before.implementation,
    )


async def poll_mailbox(
    config: MailboxConfig,
    tracker: MessageTracker | None = None,
    *,
    name: str | None = None,
    transcript: Transcript | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> PollSnapshot:
    """Poll once. Never raises but for cancellation; the tracker is updated only on success.

    `ssl_context` replaces the one built from `verify_tls`/`ca_file`: callers whose event loop
    must not do file I/O (Home Assistant) build it once in an executor and pass it in.
    """
    name = name or f"{config.username}@{config.host}"
    tracker = tracker if tracker is not None else MessageTracker()
    poll = _Poll(config, tracker, transcript, ssl_context)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    error: Pop3Error | None = None
    try:
        async with asyncio.timeout(config.timeout) as deadline:
            await poll.run()
    except TimeoutError:
        if not deadline.expired():
            raise  # pragma: no cover - only asyncio.timeout raises TimeoutError in run()
        error_type = ConnectTimeoutError if poll.phase == "connect" else PollTimeoutError
        error = error_type(f"no answer within {config.timeout:g} s (during {poll.phase})")
    except Pop3Error as err:
        error = err
    except (OSError, EOFError, ValueError, UnicodeError) as err:
        # Anything else the network or a broken server can cause: classified, never a crash.
        error = ProtocolError(f"unexpected {type(err).__name__} during {poll.phase}")
    finally:
        poll.close()
    if poll.phase not in ("done",) and poll.phase in PHASES:
        poll.enter("done")
    tls = poll.tls
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
    session = poll.session
    capabilities = set(poll.caps.tags)
    if not poll.top_supported:
        capabilities.discard("TOP")
    if error is not None:
        return PollSnapshot(
            mailbox=name,
            started_at=started_at,
            duration=duration,
            error=error.error_class,
            error_text=error.message,
            server_text=error.server_text or "",
            phase_durations=MappingProxyType(dict(poll.durations)),
            tls=tls,
            capabilities=frozenset(capabilities),
            login_delay=poll.login_delay,
            commands_sent=session.commands_sent if session else 0,
            round_trips=session.round_trips if session else 0,
        )
    return PollSnapshot(
        mailbox=name,
        started_at=started_at,
        duration=duration,
        phase_durations=MappingProxyType(dict(poll.durations)),
        messages=poll.messages,
        size_bytes=poll.size_bytes,
        message_sizes=poll.sizes,
        known_messages=poll.tracker.known_messages if poll.top_supported else (),
        new_messages=tuple(poll.new_messages),
        tls=tls,
        capabilities=frozenset(capabilities),
        login_delay=poll.login_delay,
        commands_sent=session.commands_sent if session else 0,
        round_trips=session.round_trips if session else 0,
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
