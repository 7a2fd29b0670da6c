"""The read-only command allowlist: the one place a command line is turned into bytes.

Anything not on the list, and any argument that could smuggle in a second command, raises
ForbiddenCommandError before a byte is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ForbiddenCommandError

ALLOWED_COMMANDS = frozenset(
    {"CAPA", "STLS", "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "TOP", "NOOP", "QUIT"}
)
# Commands whose arguments are secrets: the transcript and logs show only the verb.
SECRET_COMMANDS = frozenset({"PASS", "APOP", "AUTH"})
# Commands whose positive reply is multi-line (LIST only without an argument).
MULTILINE_COMMANDS = frozenset({"CAPA", "TOP"})

MAX_COMMAND_OCTETS = 255  # RFC 2449: a command line is at most 255 octets with CRLF
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SASL_CONTINUATION = re.compile(r"[A-Za-z0-9+/=]*|\*")


@dataclass(frozen=True, slots=True)
class Command:
    """A command ready to send: its verb, the bytes, and how its reply is read."""

    verb: str
    line: bytes
    multiline: bool
    secret: bool

    def loggable(self) -> str:
        if self.secret:
            return f"{self.verb} ****" if self.verb != "AUTH" else self._auth_mechanism_only()
        return self.line.decode("ascii", "replace").rstrip("\r\n")

    def _auth_mechanism_only(self) -> str:
        words = self.line.decode("ascii", "replace").split()
        return " ".join(words[:2]) + (" ****" if len(words) > 2 else "")


def build_command(verb: str, *args: str | int) -> Command:
    """Validate and encode `VERB arg ...`. Raises ForbiddenCommandError on anything unsafe."""
    verb = verb.upper()
    if verb not in ALLOWED_COMMANDS:
        raise ForbiddenCommandError(f"command {verb!r} is not allowed: the monitor is read-only")
    words = [verb]
    for arg in args:
        text = str(arg)
        if not text or " " in text or _FORBIDDEN_CHARS.search(text):
            # Never echo the argument: it may be a password.
            raise ForbiddenCommandError(
                f"argument of {verb} is empty or holds a space or control character"
            )
        words.append(text)
    try:
        line = (" ".join(words) + "\r\n").encode("ascii")
    except UnicodeEncodeError:
        # RFC 1939 arguments are ASCII; user names with other characters go through SASL.
        raise ForbiddenCommandError(f"argument of {verb} is not ASCII") from None
    if len(line) > MAX_COMMAND_OCTETS and verb != "AUTH":
        raise ForbiddenCommandError(f"{verb} command longer than {MAX_COMMAND_OCTETS} octets")
    multiline = verb in MULTILINE_COMMANDS or (verb == "LIST" and not args)
    return Command(verb, line, multiline, verb in SECRET_COMMANDS)


def build_sasl_continuation(response: str) -> Command:
    """A SASL client response line (base64, or `*` to cancel), RFC 5034."""
    if not _SASL_CONTINUATION.fullmatch(response):
        raise ForbiddenCommandError("a SASL continuation must be base64 or '*'")
    return Command("AUTH-CONTINUATION", (response + "\r\n").encode("ascii"), False, True)
