"""The allowlist: the only way bytes reach the server, and what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3probe.commands import ALLOWED_COMMANDS, build_command, build_sasl_continuation
from pop3probe.errors import ForbiddenCommandError


@pytest.mark.parametrize("verb", ["RETR", "DELE", "RSET", "UIDL", "LAST", "retr", "XTND"])
def test_commands_that_could_change_or_read_mail_are_refused(verb: str) -> None:
    with pytest.raises(ForbiddenCommandError, match="not allowed"):
        build_command(verb, 1)


def test_the_allowlist_is_exactly_the_read_only_commands() -> None:
    assert {
        "CAPA", "STLS", "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "TOP", "NOOP", "QUIT",
    } == ALLOWED_COMMANDS  # fmt: skip


@pytest.mark.parametrize(
    "argument",
    ["ana\r\nDELE 1", "ana\nRETR 1", "ana\x00", "two words", "", "tab\there", "ana\x7f"],
)
def test_arguments_cannot_inject_a_command(argument: str) -> None:
    with pytest.raises(ForbiddenCommandError) as raised:
        build_command("USER", argument)
    assert argument not in str(raised.value) or not argument


@given(st.text(max_size=40))
def test_any_argument_either_is_refused_or_makes_one_line(argument: str) -> None:
    try:
        command = build_command("USER", argument)
    except ForbiddenCommandError:
        return
    assert command.line.count(b"\r\n") == 1
    assert command.line.endswith(b"\r\n")


def test_secret_arguments_are_masked_in_the_log_form() -> None:
    assert build_command("PASS", "hunter2").loggable() == "PASS ****"
    assert build_command("AUTH", "PLAIN", "AGFuYQBodW50ZXIy").loggable() == "AUTH PLAIN ****"
    assert build_command("TOP", 3, 0).loggable() == "TOP 3 0"
    assert build_sasl_continuation("aHVudGVyMg==").loggable() == "AUTH-CONTINUATION ****"


def test_sasl_continuations_must_be_base64() -> None:
    with pytest.raises(ForbiddenCommandError):
        build_sasl_continuation("DELE 1")
