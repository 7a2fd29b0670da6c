"""Decode the headers of `TOP n 0` and derive a message's identity.

Identity is the Message-ID, or a hash of Date/From/To/Subject when there is none. Never the size:
some servers add status headers the first time a session sees a message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from .models import MessageInfo

MAX_HEADER_CHARS = 2000  # of one header value we decode: bounds work on hostile input
MAX_ENCODED_WORDS = 64
_PARSER = BytesHeaderParser(policy=compat32)


def _decode_words(value: str) -> str:
    """RFC 2047 decoding that never raises: unknown charsets and bad bytes become U+FFFD."""
    value = value[:MAX_HEADER_CHARS]
    if "=?" not in value:
        return _clean(value)
    try:
        parts = decode_header(value)
    except (HeaderParseError, ValueError, AssertionError):
        return _clean(value)
    if len(parts) > MAX_ENCODED_WORDS:
        return _clean(value)
    decoded: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            decoded.append(chunk)
            continue
        try:
            decoded.append(chunk.decode(charset or "ascii", "replace"))
        except LookupError:  # an unknown charset name
            decoded.append(chunk.decode("latin-1"))
    # decode_header drops the space between an encoded word and plain text next to it.
    return _clean(_join_parts(parts, decoded))


def _join_parts(parts: list[tuple[bytes | str, str | None]], decoded: list[str]) -> str:
    out = ""
    previous_encoded = False
    for (_, charset), text in zip(parts, decoded, strict=True):
        encoded = charset is not None
        if out and (encoded != previous_encoded) and not out.endswith(" "):
            text = text if text.startswith(" ") else " " + text
        out += text
        previous_encoded = encoded
    return out


def _clean(text: str) -> str:
    text = " ".join(text.split())  # unfold and collapse white space
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value[:200])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # '-0000' or no zone: RFC 5322 says the zone is unknown; use UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def message_identity(
    message_id: str | None, date: str | None, sender: str, to: str, subject: str
) -> str:
    if message_id:
        return message_id
    digest = hashlib.sha256("\0".join((date or "", sender, to, subject)).encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def parse_headers(block: bytes, number: int, size: int) -> MessageInfo:
    """The header block of `TOP n 0` (already dot-unstuffed) -> MessageInfo."""
    headers = _PARSER.parsebytes(block)

    def raw(name: str) -> str | None:
        value = headers.get(name)
        return None if value is None else str(value)

    sender = _decode_words(raw("From") or "")
    to = _decode_words(raw("To") or "")
    subject = _decode_words(raw("Subject") or "")
    date_text = raw("Date")
    message_id = _clean(raw("Message-ID") or "")[:998] or None
    return MessageInfo(
        identity=message_identity(message_id, _clean(date_text or ""), sender, to, subject),
        number=number,
        size=size,
        sender=sender,
        to=to,
        subject=subject,
        date=_parse_date(date_text),
        message_id=message_id,
    )
