"""The steps of one POP3 session, in the order a poll takes them.

connect and TLS (`start_implicit_tls`, or `upgrade_with_stls` after the greeting), greeting
and capabilities (`read_greeting`), login (`log_in`), look (`look`: CAPA again, STAT, LIST and
the TOP that proves nothing moved), fetch headers and quit (`fetch_headers_and_quit`). Each step
takes the `Conversation` (the open session and what the poll has found so far); whether
commands go out in one write is asked of `Batching` alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field

from .auth import authenticate, choose_mechanism, login_commands, read_secret
from .batching import Batching
from .commands import Command, build_command
from .errors import Pop3Error, ProtocolError, StlsUnavailableError
from .headers import parse_headers
from .models import AuthMechanism, MailboxConfig, MessageInfo, Phase, TlsInfo
from .replies import (
    Capabilities,
    StatusLine,
    apop_timestamp,
    classify_error_reply,
    parse_capabilities,
    parse_list,
    parse_stat,
)
from .session import Pop3Session, Reply
from .tls import describe_session
from .tracker import MessageTracker

_LOGGER = logging.getLogger(__name__)

MAX_MESSAGES = 1_000_000  # a STAT count above this is a broken or hostile server
MAX_HEADER_BYTES = 64 * 1024  # per TOP reply
MAX_CAPA_BYTES = 16 * 1024
LIST_BYTES_PER_MESSAGE = 44  # two 20-digit numbers, a space, CRLF
QUIT_GRACE = 2.0  # seconds to wait for QUIT's +OK once every answer is in


class PhaseClock:
    """Which phase a poll is in, and how long each phase took."""

    __slots__ = ("_started", "durations", "phase")

    def __init__(self) -> None:
        self.phase = Phase.CONNECT
        self._started = time.monotonic()
        self.durations: dict[str, float] = {}

    def enter(self, phase: Phase) -> None:
        now = time.monotonic()
        key = str(self.phase)  # the plain value: cheaper than `.value`, a property in Python
        self.durations[key] = self.durations.get(key, 0.0) + now - self._started
        self.phase, self._started = phase, now


@dataclass(slots=True)
class Findings:
    """What a poll has found so far; the snapshot is built from it."""

    caps: Capabilities = field(default_factory=Capabilities.unknown)
    capa_refused: bool = False  # the server answered CAPA with -ERR (RFC 2449 allows it)
    login_delay: int | None = None
    tls: TlsInfo | None = None
    messages: int | None = None
    size_bytes: int | None = None
    sizes: tuple[int, ...] = ()
    new_messages: list[MessageInfo] = field(default_factory=list)
    top_supported: bool = True
    complete: bool = False  # every answer is in and committed; only QUIT may be left

    def take_capabilities(self, caps: Capabilities) -> None:
        self.caps = caps
        if caps.login_delay is not None:
            self.login_delay = caps.login_delay


@dataclass(slots=True, eq=False)
class Conversation:
    """One open session and everything its steps read or record."""

    config: MailboxConfig
    session: Pop3Session
    tracker: MessageTracker
    batching: Batching
    clock: PhaseClock
    found: Findings

    async def reply(self, command: Command, written: bool, limit: int) -> Reply:
        """The reply to `command`: already written in a batch, or sent now on its own."""
        if written:
            return await self.session.read_reply(command, limit)
        return await self.session.execute(command, limit)


# connect and TLS


def start_implicit_tls(
    talk: Conversation, context: ssl.SSLContext, server: str
) -> Coroutine[None, None, None]:
    # Not a coroutine itself: one frame less to resume at every step of the handshake.
    talk.clock.enter(Phase.TLS)
    return talk.session.start_tls(context, server)


async def upgrade_with_stls(talk: Conversation, context: ssl.SSLContext, server: str) -> None:
    """CAPA, then STLS and the handshake; nothing else is sent in the clear."""
    talk.clock.enter(Phase.CAPA)
    capa_ok = await _capa(talk)
    if capa_ok and "STLS" not in talk.found.caps.tags:
        raise StlsUnavailableError("the server does not offer STLS; nothing was sent")
    reply = await talk.session.execute(build_command("STLS"))
    if not reply.status.ok:
        raise StlsUnavailableError(
            "the server refused STLS; nothing was sent", server_text=reply.status.text
        )
    talk.clock.enter(Phase.TLS)
    await talk.session.start_tls(context, server)
    talk.clock.enter(Phase.CAPA)


def record_tls(talk: Conversation) -> None:
    if talk.session.ssl_object is not None:
        talk.found.tls = describe_session(talk.session.ssl_object, verified=talk.config.verify_tls)


# greeting and capabilities


@dataclass(frozen=True, slots=True)
class Greeting:
    status: StatusLine
    raw: bytes  # APOP takes its timestamp from here


async def read_greeting(talk: Conversation) -> Greeting:
    talk.clock.enter(Phase.GREETING)
    status, raw = await talk.session.read_status()
    if not status.ok:
        raise classify_error_reply("greeting", status)
    return Greeting(status, raw)


async def _capa(talk: Conversation) -> bool:
    reply = await talk.session.execute(build_command("CAPA"), MAX_CAPA_BYTES)
    return _take_capa_reply(talk, reply)


def _take_capa_reply(talk: Conversation, reply: Reply) -> bool:
    if not reply.status.ok or reply.body is None:
        talk.found.capa_refused = True  # RFC 2449 lets older servers refuse CAPA: assume USER, TOP
        return False
    talk.found.take_capabilities(parse_capabilities(reply.body))
    return True


# login


def log_in(talk: Conversation, greeting: Greeting) -> Coroutine[None, None, None]:
    """In one batch with CAPA when an earlier poll learned that this server takes it."""
    # Not a coroutine itself: one frame less to resume at every reply of the login.
    login = talk.batching.login_with_capa(talk.config.auth)
    if login is not None:
        return _log_in_batched(talk, login)
    return _log_in_step_by_step(talk, greeting)


async def _log_in_batched(talk: Conversation, mechanism: AuthMechanism) -> None:
    """CAPA and a one-step login in one batch, which the login ends.

    The fresh CAPA is still read and checked: a server that has stopped offering PIPELINING
    or wants a challenge now loses the hint, and the next poll goes step by step.
    """
    session = talk.session
    capa = build_command("CAPA")
    login = login_commands(talk.config, mechanism, read_secret(session, talk.config))
    await talk.batching.write(session, [capa, *login])
    talk.clock.enter(Phase.CAPA)
    _take_capa_reply(talk, await session.read_reply(capa, MAX_CAPA_BYTES))
    talk.clock.enter(Phase.AUTH)
    for command in login:
        reply = await session.read_reply(command)
        if reply.status.continuation:
            talk.batching.challenged()
            raise ProtocolError("the server asked for a login challenge; will not batch it")
        reply.raise_for_error()
    talk.batching.logged_in(mechanism, talk.found.caps, batched=True, one_step=True)


async def _log_in_step_by_step(talk: Conversation, greeting: Greeting) -> None:
    """CAPA alone, then the login its answer calls for (USER and PASS batched if allowed)."""
    talk.clock.enter(Phase.CAPA)
    capa_ok = await _capa(talk)
    talk.clock.enter(Phase.AUTH)
    caps = talk.found.caps
    together = talk.batching.user_and_pass_together(caps)
    mechanism = choose_mechanism(talk.config, caps, capa_ok)
    one_step = await authenticate(
        talk.session,
        talk.config,
        mechanism,
        pipelining=together,
        apop_timestamp=apop_timestamp(greeting.status, greeting.raw),
    )
    batched = together and mechanism is AuthMechanism.USER
    talk.batching.logged_in(mechanism, caps, batched=batched, one_step=one_step)


# look


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


def _plan_look(tracker: MessageTracker) -> _Look:
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


async def look(talk: Conversation) -> MessageInfo | None:
    """CAPA, STAT, LIST and the TOP that proves nothing moved. Returns that TOP's headers."""
    session, found = talk.session, talk.found
    planned = _plan_look(talk.tracker)
    talk.clock.enter(Phase.CAPA)
    capa = build_command("CAPA")
    if talk.batching.capa_with_look:
        # PIPELINING was there last time: CAPA goes in the batch, checked when it arrives.
        await talk.batching.write(session, [capa, *planned.commands])
        _take_transaction_capa(talk, await session.read_reply(capa, MAX_CAPA_BYTES))
        written = True
    else:
        if not found.capa_refused:
            _take_transaction_capa(talk, await session.execute(capa, MAX_CAPA_BYTES))
        written = talk.batching.transaction
        if written:
            await talk.batching.write(session, planned.commands)
    talk.clock.enter(Phase.STAT)
    reply = await talk.reply(planned.stat, written, 0)
    reply.raise_for_error()
    messages, size_bytes = parse_stat(reply.status)
    found.messages, found.size_bytes = messages, size_bytes
    if messages > MAX_MESSAGES:
        raise ProtocolError(f"STAT reports {messages} messages, more than plausible")
    if planned.listing is not None:
        await _list(talk, planned.listing, written, messages)
    verified = None
    if planned.verify is not None and planned.verify_number is not None:
        talk.clock.enter(Phase.TOP)
        number = planned.verify_number
        reply = await talk.reply(planned.verify, written, MAX_HEADER_BYTES)
        if reply.status.ok and number <= messages:
            verified = parse_headers(reply.body or b"", number, 0)
        elif number <= messages:
            found.top_supported = False
    if planned.listing is None:
        if talk.tracker.unchanged(messages, size_bytes, verified):
            found.sizes = talk.tracker.sizes
        else:  # something changed: now LIST is worth its cost (one more round trip)
            await _list(talk, build_command("LIST"), False, messages)
    if verified is not None:
        sizes = found.sizes
        size = sizes[verified.number - 1] if verified.number <= len(sizes) else 0
        verified = dataclasses.replace(verified, size=size)
    return verified


def _take_transaction_capa(talk: Conversation, reply: Reply) -> None:
    """The CAPA after the login: LOGIN-DELAY may differ there (RFC 2449), and behind a proxy
    only this one is the mailbox server's. It alone decides batching from now on."""
    if reply.status.ok and reply.body is not None:
        after = parse_capabilities(reply.body)
        talk.batching.took_transaction_capa(after)
        talk.found.take_capabilities(_merge(talk.found.caps, after))


def _merge(before: Capabilities, after: Capabilities) -> Capabilities:
    """Pre-login tags (SASL, USER, STLS) with the post-login LOGIN-DELAY and additions."""
    return Capabilities(
        before.tags | after.tags,
        before.sasl | after.sasl,
        after.login_delay if after.login_delay is not None else before.login_delay,
        after.implementation or before.implementation,
    )


async def _list(talk: Conversation, command: Command, written: bool, messages: int) -> None:
    talk.clock.enter(Phase.LIST)
    limit = 64 + LIST_BYTES_PER_MESSAGE * messages
    reply = await talk.reply(command, written, limit)
    reply.raise_for_error()
    talk.found.sizes = tuple(parse_list(reply.body or b"", messages))


# fetch headers and quit


async def fetch_headers_and_quit(talk: Conversation, verified: MessageInfo | None) -> None:
    """TOP for the messages the tracker asks about, and QUIT, batched when the server allows;
    the tracker and the hints learn the results before QUIT, which cannot cost the poll."""
    found = talk.found
    together = talk.batching.transaction
    plan = talk.tracker.plan(found.sizes, verified, talk.config.max_headers_per_poll)
    fetch = plan.fetch if found.top_supported else ()
    tops = [build_command("TOP", number, 0) for number in fetch]
    quit_command = build_command("QUIT")
    if together:
        await talk.batching.write(talk.session, [*tops, quit_command])
    fetched: dict[int, MessageInfo] = {}
    if tops:
        talk.clock.enter(Phase.TOP)
    for number, top in zip(fetch, tops, strict=True):
        reply = await talk.reply(top, together, MAX_HEADER_BYTES)
        if not reply.status.ok:
            found.top_supported = False  # TOP is optional (RFC 1939): counts still stand
            if not together:
                break
            continue
        fetched[number] = parse_headers(reply.body or b"", number, found.sizes[number - 1])
    # Everything is in: commit now, so that trouble with QUIT cannot cost the poll.
    if found.top_supported:
        found.new_messages = talk.tracker.commit(plan, fetched)
    talk.batching.succeeded()
    found.complete = True
    talk.clock.enter(Phase.QUIT)
    if tops or not together:
        # Its +OK comes right behind the TOP replies. Alone, waiting would cost a round
        # trip for nothing: a read-only session has nothing for QUIT to commit.
        try:
            async with asyncio.timeout(QUIT_GRACE):
                await talk.reply(quit_command, together, 0)
        except (Pop3Error, OSError, TimeoutError) as err:
            _LOGGER.debug("no proper reply to QUIT (%s); all answers were in", err)
    talk.clock.enter(Phase.DONE)
