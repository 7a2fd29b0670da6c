"""Pure parsers for server replies: status lines, STAT, LIST, CAPA, the greeting.

No I/O here, so each parser can be fuzzed on its own. Every parser raises ProtocolError on input
it cannot make sense of, never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import (
    AuthFailedError,
    InUseError,
    LoginDelayError,
    ProtocolError,
    ServerPermanentError,
    ServerReplyError,
    ServerTemporaryError,
)

MAX_STATUS_LINE = 512  # RFC 2449: a status line is at most 512 octets with CRLF
MAX_REPLY_TEXT = 300  # of a server's text that we keep for users
_RESPONSE_CODE = re.compile(r"^\[([A-Za-z0-9/_-]{1,64})\]\s?")
_APOP_TIMESTAMP = re.compile(rb"<[\x21-\x7e]{1,250}@[\x21-\x7e]{1,250}>")
_NUMBER = re.compile(rb"\d{1,18}")


@dataclass(frozen=True, slots=True)
class StatusLine:
    ok: bool
    text: str  # what follows +OK / -ERR, without the response code, printable only
    code: str | None = None  # RFC 2449 response code, upper case, e.g. 'IN-USE' or 'SYS/TEMP'
    continuation: bool = False  # a SASL '+ ' challenge


def _printable(raw: bytes) -> str:
    text = raw[: MAX_REPLY_TEXT * 4].decode("utf-8", "replace")[:MAX_REPLY_TEXT]
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def parse_status_line(line: bytes) -> StatusLine:
    """Parse `+OK text`, `-ERR [CODE] text` or a SASL `+ challenge` line (with its CRLF)."""
    if len(line) > MAX_STATUS_LINE:
        raise ProtocolError(f"status line longer than {MAX_STATUS_LINE} octets")
    body = line.rstrip(b"\r\n")
    if body.startswith(b"+OK"):
        ok, rest = True, body[3:]
    elif body.startswith(b"-ERR"):
        ok, rest = False, body[4:]
    elif body == b"+" or body.startswith(b"+ "):
        return StatusLine(True, _printable(body[2:]), continuation=True)
    else:
        raise ProtocolError("reply is neither +OK nor -ERR", server_text=_printable(body))
    if rest and not rest.startswith((b" ", b"\t")):
        raise ProtocolError("malformed status line", server_text=_printable(body))
    text = _printable(rest.strip())
    code = None
    match = _RESPONSE_CODE.match(text)
    if match:
        code = match.group(1).upper()
        text = text[match.end() :]
    return StatusLine(ok, text, code)


def parse_stat(status: StatusLine) -> tuple[int, int]:
    """`+OK nn mm` -> (message count, maildrop size in octets)."""
    words = status.text.split()
    if len(words) < 2 or not all(_NUMBER.fullmatch(w.encode()) for w in words[:2]):
        raise ProtocolError("malformed STAT reply", server_text=status.text)
    return int(words[0]), int(words[1])


def parse_list(block: bytes, expected_count: int | None = None) -> list[int]:
    """A LIST scan listing -> sizes in message-number order.

    The numbers must run 1..n without gaps or repeats (RFC 1939 numbers messages that way), or
    every later step would pair headers with the wrong message.
    """
    sizes: list[int] = []
    for number, line in enumerate(block.splitlines(), start=1):
        words = line.split()
        # isdigit() admits only ASCII digits on bytes: no sign, no '_', no other numerals.
        if (
            len(words) < 2
            or not words[0].isdigit()
            or not words[1].isdigit()
            or len(words[1]) > 18
            or int(words[0]) != number
        ):
            raise ProtocolError(f"malformed LIST line {number}", server_text=_printable(line[:80]))
        sizes.append(int(words[1]))
    if expected_count is not None and len(sizes) != expected_count:
        raise ProtocolError(f"LIST has {len(sizes)} messages but STAT said {expected_count}")
    return sizes


@dataclass(frozen=True, slots=True)
class Capabilities:
    tags: frozenset[str]  # upper-case tags, e.g. {'TOP', 'USER', 'SASL', 'PIPELINING'}
    sasl: frozenset[str]  # upper-case SASL mechanisms
    login_delay: int | None  # seconds
    implementation: str

    @classmethod
    def unknown(cls) -> Capabilities:
        """What we assume of a server that refuses CAPA (RFC 2449 allows that): USER and TOP."""
        return cls(frozenset(), frozenset(), None, "")


MAX_CAPABILITY_LINES = 100


_PARSED_CAPABILITIES: dict[bytes, Capabilities] = {}
MAX_PARSED_CAPABILITIES = 256


def parse_capabilities(block: bytes) -> Capabilities:
    """A CAPA listing -> Capabilities. Malformed lines are skipped, not fatal.

    A server sends the same listing at every poll, so each distinct one (up to a bound) is
    parsed once; the result is frozen and shared.
    """
    caps = _PARSED_CAPABILITIES.get(block)
    if caps is None:
        caps = _parse_capabilities(block)
        if len(_PARSED_CAPABILITIES) < MAX_PARSED_CAPABILITIES and len(block) <= 2048:
            _PARSED_CAPABILITIES[block] = caps
    return caps


def _parse_capabilities(block: bytes) -> Capabilities:
    tags: set[str] = set()
    sasl: set[str] = set()
    login_delay = None
    implementation = ""
    for raw in block.splitlines()[:MAX_CAPABILITY_LINES]:
        words = raw.decode("ascii", "replace").split()
        if not words or not words[0].isprintable() or len(words[0]) > 40:
            continue
        tag = words[0].upper()
        tags.add(tag)
        if tag == "SASL":
            sasl.update(w.upper() for w in words[1:20] if w.isprintable() and len(w) <= 40)
        elif tag == "LOGIN-DELAY" and len(words) > 1 and words[1].isdigit():
            login_delay = min(int(words[1]), 86_400 * 7)
        elif tag == "IMPLEMENTATION":
            implementation = _printable(" ".join(words[1:]).encode())[:100]
    return Capabilities(shared_tags(tags), shared_tags(sasl), login_delay, implementation)


_SHARED_TAG_SETS: dict[frozenset[str], frozenset[str]] = {}
MAX_SHARED_TAG_SETS = 1024


def shared_tags(tags: Iterable[str]) -> frozenset[str]:
    """One frozenset per distinct set of tags: a server sends the same CAPA at every poll, so
    a thousand mailboxes' snapshots share a handful of sets instead of holding a copy each."""
    key = frozenset(tags)
    shared = _SHARED_TAG_SETS.get(key)
    if shared is not None:
        return shared
    if len(_SHARED_TAG_SETS) < MAX_SHARED_TAG_SETS:
        _SHARED_TAG_SETS[key] = key
    return key


def apop_timestamp(greeting: StatusLine, raw_greeting: bytes) -> bytes | None:
    """The `<...@...>` timestamp of an APOP-capable greeting, if any."""
    match = _APOP_TIMESTAMP.search(raw_greeting)
    return match.group(0) if match else None


_CODE_ERRORS: dict[str, type[ServerReplyError]] = {
    "AUTH": AuthFailedError,
    "IN-USE": InUseError,
    "LOGIN-DELAY": LoginDelayError,
    "SYS/TEMP": ServerTemporaryError,
    "SYS/PERM": ServerPermanentError,
}
_AUTH_COMMANDS = frozenset({"USER", "PASS", "APOP", "AUTH", "AUTH-CONTINUATION"})


def classify_error_reply(verb: str, status: StatusLine) -> ServerReplyError:
    """Turn a `-ERR` to `verb` (or to the connection: 'greeting') into an exception, by
    response code, else by the command.

    Many servers send bare `-ERR text`: a bare refusal of a login command is an auth failure.
    """
    error_type = _CODE_ERRORS.get(status.code or "")
    if error_type is None and verb == "greeting":
        # A server that turns a connection away at once is mostly busy: "too many connections".
        error_type = ServerTemporaryError
    if error_type is None:
        error_type = AuthFailedError if verb in _AUTH_COMMANDS else ServerPermanentError
    return error_type(f"server refused {verb}", server_text=status.text, response_code=status.code)
