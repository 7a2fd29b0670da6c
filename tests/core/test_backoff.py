"""The shared polling manners: back off on auth failures, retry sooner on IN-USE, honour
LOGIN-DELAY."""

from __future__ import annotations

from datetime import UTC, datetime

from pop3probe import Backoff, ErrorClass, PollSnapshot


def _snapshot(error: ErrorClass = ErrorClass.OK, login_delay: int | None = None) -> PollSnapshot:
    return PollSnapshot(
        mailbox="m", started_at=datetime.now(UTC), duration=0.1, error=error,
        login_delay=login_delay,
    )  # fmt: skip


def test_auth_failures_back_off_exponentially_up_to_a_cap_and_reset_on_success() -> None:
    backoff = Backoff(interval=300, max_interval=3600)
    delays = [backoff.next_delay(_snapshot(ErrorClass.AUTH_FAILED)) for _ in range(6)]
    assert delays == [300, 600, 1200, 2400, 3600, 3600]
    assert backoff.next_delay(_snapshot()) == 300


def test_in_use_retries_sooner_than_the_interval() -> None:
    backoff = Backoff(interval=300)
    assert backoff.next_delay(_snapshot(ErrorClass.IN_USE)) == 60


def test_login_delay_is_a_floor_for_every_outcome() -> None:
    backoff = Backoff(interval=60)
    assert backoff.next_delay(_snapshot(login_delay=900)) == 900
    assert backoff.next_delay(_snapshot(ErrorClass.TIMEOUT)) == 900  # remembered
    assert backoff.next_delay(_snapshot(ErrorClass.IN_USE)) == 900
    assert backoff.next_delay(_snapshot(ErrorClass.LOGIN_DELAY)) == 900


def test_other_failures_keep_the_normal_interval() -> None:
    backoff = Backoff(interval=120)
    for error in (ErrorClass.CONNECT_REFUSED, ErrorClass.TIMEOUT, ErrorClass.PROTOCOL_ERROR):
        assert backoff.next_delay(_snapshot(error)) == 120
