"""One poll of one mailbox: connect, TLS, greeting, CAPA, auth, STAT, LIST, TOP, QUIT.

`poll_mailbox` never raises (but for cancellation): every failure becomes a snapshot with an
error class. The session is short, because a POP3 login locks the maildrop for the owner's own
mail client: QUIT goes out with the last batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from .auth import ONE_STEP_LOGINS, authenticate, choose_mechanism, login_commands, read_secret
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
from .models import (
    AuthMechanism,
    MailboxConfig,
    MessageInfo,
    PollSnapshot,
    TlsInfo,
    TlsMode,
)
from .replies import (
    Capabilities,
    StatusLine,
    apop_timestamp,
    classify_error_reply,
    parse_capabilities,
    parse_list,
    parse_stat,
    shared_tags,
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
QUIT_GRACE = 2.0  # seconds to wait for QUIT's +OK once every answer is in


@dataclass(frozen=True, slots=True)
class _Look:
    """The first batch after login: STAT, LIST and the tracker's verification TOP."""

    stat: Command
    listing: Command | None  # None: LIST only if STAT shows a change
    verify: Command | None
    verify_number: int | None

    @property
    def commands(self) -> list[Command]:
        return [c for c in (self.stat, self.listing, self.verify) if c is not None]


class _Poll:
    """The state of one poll in progress; `run` does the work, the rest builds the snapshot.

    Batches (see `hints`): a command that changes the session's state (STLS, the last command
    of a login) always ends its batch; in the transaction state commands are batched only when
    the CAPA read after the login lists PIPELINING (or listed it last time, when that CAPA
    itself goes out in the batch and is checked on arrival).
    """

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
        self.hints = tracker.hints
        self.may_batch = self.hints.may_batch  # False while the server is on probation
        self.transcript = transcript
        self.session: Pop3Session | None = None
        self.phase = "connect"
        self._phase_started = time.monotonic()
        self.durations: dict[str, float] = {}
        self.caps = Capabilities.unknown()
        self.capa_refused = False  # the server answered CAPA with -ERR (RFC 2449 allows it)
        self.login_delay: int | None = None
        self.tls: TlsInfo | None = None
        self.messages: int | None = None
        self.size_bytes: int | None = None
        self.sizes: tuple[int, ...] = ()
        self.new_messages: list[MessageInfo] = []
        self.top_supported = True
        self.batched = False  # some commands of this poll went out in one write
        self.learned_login: AuthMechanism | None = None  # a login to batch with CAPA next time
        self.advertises_pipelining = False  # the CAPA after the login lists PIPELINING
        self.complete = False  # every answer is in and committed; only QUIT may be left

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
        if config.tls_mode is TlsMode.STARTTLS:
            self.enter("capa")
            await self._stls(context, server_name, await self._capa())
        if session.ssl_object is not None:
            self.tls = describe_session(session.ssl_object, verified=config.verify_tls)
        login = self.hints.login if self.may_batch else None
        if login is not None and config.auth in (AuthMechanism.AUTO, login):
            await self._batched_login(login)
        else:
            await self._stepwise_login(greeting, raw_greeting)
        await self._look()

    async def _batched_login(self, mechanism: AuthMechanism) -> None:
        """CAPA and a one-step login in one batch, which the login ends.

        The fresh CAPA is still read and checked: a server that has stopped offering
        PIPELINING or wants a challenge now loses the hint, and the next poll goes step by step.
        """
        session = self.session
        assert session is not None
        capa = build_command("CAPA")
        login = login_commands(self.config, mechanism, read_secret(session, self.config))
        await self._write([capa, *login])
        self.enter("capa")
        reply = await session.read_reply(capa, MAX_CAPA_BYTES)
        self._take_capa_reply(reply)
        self.enter("auth")
        for command in login:
            reply = await session.read_reply(command)
            if reply.status.continuation:
                self.hints.login = None
                raise ProtocolError("the server asked for a login challenge; will not batch it")
            reply.raise_for_error()
        if "PIPELINING" in self.caps.tags:
            self.learned_login = mechanism

    async def _stepwise_login(self, greeting: StatusLine, raw_greeting: bytes) -> None:
        """CAPA alone, then the login its answer calls for (USER and PASS batched if allowed)."""
        session = self.session
        assert session is not None
        self.enter("capa")
        capa_ok = await self._capa()
        self.enter("auth")
        pipelining = self.may_batch and "PIPELINING" in self.caps.tags
        mechanism = choose_mechanism(self.config, self.caps, capa_ok)
        one_step = await authenticate(
            session,
            self.config,
            mechanism,
            pipelining=pipelining,
            apop_timestamp=apop_timestamp(greeting, raw_greeting),
        )
        self.batched = self.batched or (pipelining and mechanism is AuthMechanism.USER)
        if one_step and "PIPELINING" in self.caps.tags and mechanism in ONE_STEP_LOGINS:
            self.learned_login = mechanism

    async def _capa(self) -> bool:
        assert self.session is not None
        reply = await self.session.execute(build_command("CAPA"), MAX_CAPA_BYTES)
        return self._take_capa_reply(reply)

    def _take_capa_reply(self, reply: Reply) -> bool:
        if not reply.status.ok or reply.body is None:
            self.capa_refused = True  # RFC 2449 lets older servers refuse CAPA: assume USER, TOP
            return False
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

    async def _write(self, commands: list[Command]) -> None:
        assert self.session is not None
        self.batched = self.batched or len(commands) > 1
        await self.session.write_batch(commands)

    def _look_commands(self) -> _Look:
        tracker = self.tracker
        verify_number = tracker.verification_number()
        # LIST costs the server and us time in proportion to the mailbox: skip it when the
        # last poll's sizes can be proven still true (see MessageTracker.unchanged).
        may_skip_list = (
            tracker.initialized
            and (verify_number == len(tracker.sizes) or not tracker.sizes)
            and not tracker.unidentified
        )
        return _Look(
            stat=build_command("STAT"),
            listing=None if may_skip_list else build_command("LIST"),
            verify=build_command("TOP", verify_number, 0) if verify_number else None,
            verify_number=verify_number,
        )

    @property
    def transaction_batching(self) -> bool:
        return self.may_batch and self.advertises_pipelining

    def _take_transaction_capa(self, reply: Reply) -> None:
        """The CAPA after the login: LOGIN-DELAY may differ there (RFC 2449), and behind a
        proxy only this one is the mailbox server's. It alone decides batching from now on."""
        if reply.status.ok and reply.body is not None:
            after = parse_capabilities(reply.body)
            self.advertises_pipelining = "PIPELINING" in after.tags
            self._take_capabilities(_merge(self.caps, after))

    async def _look(self) -> None:
        """CAPA, STAT, LIST and the TOPs the tracker asks for, then QUIT."""
        session = self.session
        assert session is not None
        look = self._look_commands()
        self.enter("capa")
        capa = build_command("CAPA")
        if self.may_batch and self.hints.pipelining:
            # PIPELINING was there last time: CAPA goes in the batch, checked when it arrives.
            await self._write([capa, *look.commands])
            self._take_transaction_capa(await session.read_reply(capa, MAX_CAPA_BYTES))
            written = True
        else:
            if not self.capa_refused:
                self._take_transaction_capa(await session.execute(capa, MAX_CAPA_BYTES))
            written = self.transaction_batching
            if written:
                await self._write(look.commands)
        self.enter("stat")
        reply = await self._reply(look.stat, written, 0)
        reply.raise_for_error()
        self.messages, self.size_bytes = parse_stat(reply.status)
        if self.messages > MAX_MESSAGES:
            raise ProtocolError(f"STAT reports {self.messages} messages, more than plausible")
        if look.listing is not None:
            await self._list(look.listing, written)
        verified = None
        if look.verify is not None and look.verify_number is not None:
            self.enter("top")
            number = look.verify_number
            reply = await self._reply(look.verify, written, MAX_HEADER_BYTES)
            if reply.status.ok and number <= self.messages:
                verified = parse_headers(reply.body or b"", number, 0)
            elif number <= self.messages:
                self.top_supported = False
        if look.listing is None:
            if self.tracker.unchanged(self.messages, self.size_bytes, verified):
                self.sizes = self.tracker.sizes
            else:  # something changed: now LIST is worth its cost (one more round trip)
                await self._list(build_command("LIST"), written=False)
        if verified is not None:
            size = self.sizes[verified.number - 1] if verified.number <= len(self.sizes) else 0
            verified = dataclasses.replace(verified, size=size)
        await self._fetch_and_quit(verified)

    async def _list(self, command: Command, written: bool) -> None:
        assert self.messages is not None
        self.enter("list")
        limit = 64 + LIST_BYTES_PER_MESSAGE * self.messages
        reply = await self._reply(command, written, limit)
        reply.raise_for_error()
        self.sizes = tuple(parse_list(reply.body or b"", self.messages))

    async def _reply(self, command: Command, written: bool, limit: int) -> Reply:
        """The reply to `command`: already written in a batch, or sent now on its own."""
        assert self.session is not None
        if written:
            return await self.session.read_reply(command, limit)
        return await self.session.execute(command, limit)

    async def _fetch_and_quit(self, verified: MessageInfo | None) -> None:
        session = self.session
        assert session is not None
        pipelining = self.transaction_batching
        plan = self.tracker.plan(self.sizes, verified, self.config.max_headers_per_poll)
        fetch = plan.fetch if self.top_supported else ()
        tops = [build_command("TOP", number, 0) for number in fetch]
        quit_command = build_command("QUIT")
        if pipelining:
            await self._write([*tops, quit_command])
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
        # Everything is in: commit now, so that trouble with QUIT cannot cost the poll.
        if self.top_supported:
            self.new_messages = self.tracker.commit(plan, fetched)
        self.hints.succeeded(
            batched=self.batched,
            login=self.learned_login,
            pipelining=self.advertises_pipelining,
        )
        self.complete = True
        self.enter("quit")
        if tops or not pipelining:
            # Its +OK comes right behind the TOP replies. Alone, waiting would cost a round
            # trip for nothing: a read-only session has nothing for QUIT to commit.
            try:
                async with asyncio.timeout(QUIT_GRACE):
                    await self._reply(quit_command, pipelining, 0)
            except (Pop3Error, OSError, TimeoutError) as err:
                _LOGGER.debug("no proper reply to QUIT (%s); all answers were in", err)
        self.enter("done")

    @property
    def batch_outstanding(self) -> bool:
        return self.session is not None and self.session.batch_outstanding

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
        if error is not None and not poll.complete and poll.batch_outstanding:
            # Perhaps the server dropped what it was sent in one write: step by step for a while.
            poll.hints.failed_with_batch_outstanding()
        poll.close()
    if error is not None and poll.complete:
        # The server answered everything and then failed at goodbye: that is not "down".
        _LOGGER.debug("poll %s: %s after all answers were in; counted as ok", name, error)
        error = None
    if poll.phase != "done":
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
    facts = PollSnapshot(
        mailbox=name,
        started_at=started_at,
        duration=duration,
        phase_durations=MappingProxyType(dict(poll.durations)),
        tls=tls,
        capabilities=shared_tags(capabilities),
        login_delay=poll.login_delay,
        commands_sent=session.commands_sent if session else 0,
        round_trips=session.round_trips if session else 0,
    )
    if error is not None:
        return dataclasses.replace(
            facts,
            error=error.error_class,
            error_text=error.message,
            server_text=error.server_text or "",
        )
    return dataclasses.replace(
        facts,
        messages=poll.messages,
        size_bytes=poll.size_bytes,
        message_sizes=poll.sizes,
        known_messages=poll.tracker.known_messages if poll.top_supported else (),
        new_messages=tuple(poll.new_messages),
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
