"""Hypothesis on every reply parser and on the framing: hostile bytes give ProtocolError or a
value, never another exception; well-formed replies round-trip exactly."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3probe.errors import ProtocolError
from pop3probe.headers import parse_headers
from pop3probe.protocol import ReplyBuffer
from pop3probe.replies import (
    StatusLine,
    classify_error_reply,
    parse_capabilities,
    parse_list,
    parse_stat,
    parse_status_line,
)

EXAMPLES = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None)


@EXAMPLES
@given(st.binary(max_size=700))
def test_status_line_parser_never_raises_anything_but_protocol_error(line: bytes) -> None:
    try:
        status = parse_status_line(line)
    except ProtocolError:
        return
    assert len(status.text) <= 300
    assert all(ch.isprintable() for ch in status.text)
    if not status.ok:
        error = classify_error_reply("PASS", status)
        assert error.server_text == status.text


@EXAMPLES
@given(
    st.sampled_from(["AUTH", "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"]), st.text(max_size=50)
)
def test_response_codes_are_read_from_err_lines(code: str, text: str) -> None:
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    status = parse_status_line(f"-ERR [{code}] {text}\r\n".encode())
    assert status.code == code
    assert not status.ok


@EXAMPLES
@given(st.text(max_size=60))
def test_stat_parser_accepts_only_two_numbers(text: str) -> None:
    try:
        count, size = parse_stat(StatusLine(True, text))
    except ProtocolError:
        return
    assert count >= 0
    assert size >= 0


@EXAMPLES
@given(st.lists(st.integers(0, 10**12), max_size=300))
def test_list_round_trips(sizes: list[int]) -> None:
    block = b"".join(b"%d %d\r\n" % (n, s) for n, s in enumerate(sizes, start=1))
    assert parse_list(block, len(sizes)) == sizes


@EXAMPLES
@given(st.binary(max_size=2000))
def test_list_parser_never_raises_anything_but_protocol_error(block: bytes) -> None:
    try:
        sizes = parse_list(block)
    except ProtocolError:
        return
    assert all(size >= 0 for size in sizes)


@EXAMPLES
@given(st.binary(max_size=3000))
def test_capability_parser_tolerates_anything(block: bytes) -> None:
    caps = parse_capabilities(block)
    assert all(tag == tag.upper() for tag in caps.tags)
    assert caps.login_delay is None or 0 <= caps.login_delay <= 7 * 86400


@EXAMPLES
@given(st.binary(max_size=5000))
def test_header_parser_tolerates_anything(block: bytes) -> None:
    info = parse_headers(block, 1, len(block))
    assert info.identity
    assert len(info.subject) <= 2000


@EXAMPLES
@given(
    st.lists(
        st.text(
            alphabet=st.characters(
                codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
            ),
            max_size=40,
        ),
        max_size=30,
    ),
    st.sampled_from(["utf-8", "iso-8859-1", "x-unknown-charset", "koi8-r"]),
)
def test_encoded_words_in_any_charset_decode_without_error(words: list[str], charset: str) -> None:
    from email.header import Header

    subject = " ".join(words)
    try:
        encoded = Header(subject, "utf-8" if charset == "x-unknown-charset" else charset).encode()
    except (UnicodeEncodeError, LookupError):
        return
    encoded = encoded.replace("=?utf-8?", f"=?{charset}?") if "unknown" in charset else encoded
    info = parse_headers(f"Subject: {encoded}\r\n\r\n".encode(), 1, 1)
    if "unknown" not in charset:
        assert info.subject == " ".join(subject.split())


def _framed(lines: list[bytes]) -> bytes:
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"+OK\r\n" + b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


def _read_in_chunks(data: bytes, cuts: list[int], limit: int) -> bytes:
    """Feed the reply as the network might split it; take the status line, then the body."""
    buffer = ReplyBuffer()
    position, status, body = 0, None, None
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        buffer.feed(data[position:cut])
        position = cut
        if status is None:
            status = buffer.take_line(512)
        if status is not None and body is None:
            body = buffer.take_multiline(limit)
    assert status == b"+OK\r\n"
    assert body is not None
    assert len(buffer) == 0
    return body


line_strategy = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@EXAMPLES
@given(st.lists(line_strategy, max_size=40), st.lists(st.integers(0, 5000), max_size=10))
def test_multiline_framing_round_trips_whatever_the_chunking(
    lines: list[bytes], cuts: list[int]
) -> None:
    body = _read_in_chunks(_framed(lines), cuts, 1 << 20)
    assert body == b"".join(line + b"\r\n" for line in lines)


def test_multiline_reply_over_its_cap_is_a_protocol_error() -> None:
    lines = [b"x" * 1000] * 100
    with pytest.raises(ProtocolError, match="longer than"):
        _read_in_chunks(_framed(lines), [500, 5000, 50000], 10_000)
