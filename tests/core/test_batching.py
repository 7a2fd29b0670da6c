"""Batching commands the way every server takes them, and learning from a server that doesn't.

The scripted server plays the habits measured on real servers (the compatibility matrix in
tests/compat polls the real ones): Courier and Cyrus drop what arrives behind a login command.
Every test polls many times with one tracker and one set of server hints, as a running exporter
does, because batching is learned from one poll and relied on by the next.
"""

from __future__ import annotations

from pop3probe import (
    AuthMechanism,
    ErrorClass,
    MessageTracker,
    ServerHints,
    hints_from_json,
    poll_mailbox,
    tracker_from_json,
    tracker_to_json,
)
from tests.core.helpers import no_leaks, scripted_config
from tests.fixtures.scripted import scripted_server

PIPELINING_CAPA = b"+OK\r\nTOP\r\nUSER\r\nPIPELINING\r\nSASL PLAIN\r\nRESP-CODES\r\n.\r\n"
LOGIN_VERBS = {"PASS", "AUTH", "APOP"}


def _commands_behind_a_login(reads: list[list[str]]) -> list[list[str]]:
    return [read for read in reads if any(v in LOGIN_VERBS for v in read[:-1])]


async def test_a_login_ends_its_batch_so_servers_that_drop_what_follows_keep_working() -> None:
    for auth in (AuthMechanism.USER, AuthMechanism.PLAIN, AuthMechanism.AUTO):
        async with scripted_server(capa=PIPELINING_CAPA, drops_behind_login=True) as server:
            tracker, hints = MessageTracker(), ServerHints()
            config = scripted_config(server, auth=auth, timeout=2.0)
            results = [(await poll_mailbox(config, tracker, hints=hints)).error for _ in range(10)]
        assert results == [ErrorClass.OK] * 10, auth
        assert server.dropped == []
        assert _commands_behind_a_login(server.reads) == []


async def test_a_steady_state_poll_batches_within_each_state() -> None:
    async with scripted_server(capa=PIPELINING_CAPA) as server:
        tracker, hints = MessageTracker(), ServerHints()
        config = scripted_config(server)
        await poll_mailbox(config, tracker, hints=hints)
        server.reads.clear()
        snapshot = await poll_mailbox(config, tracker, hints=hints)
    assert snapshot.ok, snapshot.error_text
    # CAPA and the login; CAPA, STAT and the TOP that proves nothing moved; then QUIT alone,
    # which the client does not wait for (the server may not even have read it yet).
    assert server.reads[:2] == [["CAPA", "AUTH"], ["CAPA", "STAT", "TOP"]]
    assert snapshot.round_trips == 3


async def test_batches_after_the_login_follow_the_capa_read_after_the_login() -> None:
    """In front of a proxy the CAPA before the login is the proxy's, not the mailbox server's."""
    after_login = b"+OK\r\nTOP\r\nUSER\r\n.\r\n"
    async with scripted_server(capa=PIPELINING_CAPA, capa_after_login=after_login) as server:
        tracker, hints = MessageTracker(), ServerHints()
        for _ in range(3):
            snapshot = await poll_mailbox(scripted_config(server), tracker, hints=hints)
            assert snapshot.ok, snapshot.error_text
    after_logins = [read for read in server.reads if read[0] not in ("CAPA", "AUTH")]
    assert all(len(read) == 1 for read in after_logins), server.reads
    assert not hints.pipelining


async def test_a_server_that_drops_batches_is_polled_step_by_step_ever_longer() -> None:
    """Each failure with a batch outstanding doubles the step-by-step polls before a retry."""
    async with scripted_server(capa=PIPELINING_CAPA, drops_batches=True) as server, no_leaks():
        tracker, hints = MessageTracker(), ServerHints()
        config = scripted_config(server, timeout=0.5)
        results = []
        for _ in range(12):
            results.append((await poll_mailbox(config, tracker, hints=hints)).error)
            # The state survives a restart, as the exporter's state file and HA's store keep it.
            saved = tracker_to_json(tracker, hints)
            tracker, hints = tracker_from_json(saved), hints_from_json(saved)
    failed = [n for n, error in enumerate(results, 1) if error is not ErrorClass.OK]
    assert all(results[n - 1] is ErrorClass.TIMEOUT for n in failed)
    # Fails at the first batch, then after 1, 2 and 4 good step-by-step polls.
    assert failed == [1, 3, 6, 11]


async def test_a_one_off_fault_during_a_batch_costs_one_step_by_step_poll() -> None:
    async with scripted_server(capa=PIPELINING_CAPA) as server:
        tracker, hints = MessageTracker(), ServerHints()
        config = scripted_config(server, timeout=0.5)
        await poll_mailbox(config, tracker, hints=hints)
        server.drops_batches = True
        assert (await poll_mailbox(config, tracker, hints=hints)).error is ErrorClass.TIMEOUT
        server.drops_batches = False
        server.reads.clear()
        assert (await poll_mailbox(config, tracker, hints=hints)).ok
        assert all(len(read) == 1 for read in server.reads), "not step by step after a fault"
        server.reads.clear()
        assert (await poll_mailbox(config, tracker, hints=hints)).ok
    assert ["CAPA", "STAT", "TOP"] in server.reads


def test_state_saved_before_batches_ended_at_the_login_still_loads() -> None:
    saved = tracker_to_json(MessageTracker())
    del saved["server"]
    saved["pipelined_login"] = "user"
    tracker_from_json(saved)
    restored = hints_from_json(saved)
    assert restored.login is AuthMechanism.USER
    assert not restored.pipelining
