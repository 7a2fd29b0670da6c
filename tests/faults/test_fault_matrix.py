"""Each network fault in each phase of a poll against the real Dovecot, through the fault proxy.

Every cell must end in a classified outcome within the poll timeout (plus a small margin), leave
no task or file descriptor behind, leave the tracker untouched when it fails, send no credentials
before the login phase and never twice, and not disturb a poll of another mailbox running at the
same moment; the next poll through the same proxy, with the fault gone, must succeed.

Phases after TLS are driven over plain POP3 (Dovecot trusts loopback with plaintext login), so the
proxy can see each command and put the fault on the exact reply; the TLS cells run over POP3S,
where the first record each way (ClientHello, ServerHello) is reached by byte count.

QUIT, decided: a fault while reading the reply to QUIT does not fail the poll. By then every
answer (STAT, LIST, TOP) is in and checked, and a read-only session has nothing for the server to
commit, so the snapshot is `ok` with the full data (RFC 1939 only loses the UPDATE state, which we
never need). Reporting "down" would raise a false Pop3MailboxDown for a server that answered
everything, and some servers and middleboxes close without a proper goodbye. A stall there still
ends within the poll timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import pytest

from pop3probe import ErrorClass, MessageTracker, poll_mailbox, tracker_to_json
from tests.core.helpers import no_leaks
from tests.faults.helpers import MARGIN, POLL_TIMEOUT, dovecot_config, leaked_in, secret_forms
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.faultproxy import Direction, Fault, FaultKind, FaultProxy

LATENCY, STALL, DROP, RESET, FLIP = (
    FaultKind.LATENCY,
    FaultKind.STALL,
    FaultKind.DROP,
    FaultKind.RESET,
    FaultKind.FLIP,
)
UP, DOWN = Direction.TO_SERVER, Direction.TO_CLIENT
OK, PROTOCOL = ErrorClass.OK, ErrorClass.PROTOCOL_ERROR


@dataclasses.dataclass(frozen=True)
class Cell:
    fault: Fault
    expected: ErrorClass

    @property
    def id(self) -> str:
        return self.fault.label


def _phase_cells(phase: str, *, expected_failure: ErrorClass = PROTOCOL) -> list[Cell]:
    """The six faults in a phase where both sides speak (auth, STAT/LIST, TOP, QUIT)."""
    return [
        Cell(Fault(LATENCY, phase, DOWN), OK),
        Cell(Fault(STALL, phase, DOWN), ErrorClass.TIMEOUT),
        Cell(Fault(DROP, phase, DOWN, after_bytes=3), expected_failure),
        Cell(Fault(DROP, phase, UP, after_bytes=2), expected_failure),
        Cell(Fault(RESET, phase, DOWN), expected_failure),
        Cell(Fault(FLIP, phase, DOWN), expected_failure),
    ]


CELLS: list[Cell] = [
    # connect: no byte exchanged yet, so there is nothing to flip.
    Cell(Fault(LATENCY, "connect", delay=0.3), OK),
    Cell(Fault(STALL, "connect"), ErrorClass.CONNECT_TIMEOUT),
    Cell(Fault(DROP, "connect", DOWN), PROTOCOL),  # accepted, then closed before the greeting
    Cell(Fault(DROP, "connect", UP), ErrorClass.CONNECT_REFUSED),  # nothing takes the SYN
    Cell(Fault(RESET, "connect"), PROTOCOL),
    # tls (POP3S): ClientHello and ServerHello are the first record each way.
    Cell(Fault(LATENCY, "tls", DOWN), OK),
    Cell(Fault(STALL, "tls", DOWN), ErrorClass.TIMEOUT),
    Cell(Fault(DROP, "tls", DOWN, after_bytes=60), ErrorClass.TLS_HANDSHAKE),
    Cell(Fault(DROP, "tls", UP, after_bytes=60), ErrorClass.TLS_HANDSHAKE),
    Cell(Fault(RESET, "tls", DOWN), ErrorClass.TLS_HANDSHAKE),
    Cell(Fault(FLIP, "tls", DOWN), ErrorClass.TLS_HANDSHAKE),
    # greeting: the client has said nothing yet, so nothing to cut on its side.
    Cell(Fault(LATENCY, "greeting", DOWN), OK),
    Cell(Fault(STALL, "greeting", DOWN), ErrorClass.TIMEOUT),
    Cell(Fault(DROP, "greeting", DOWN, after_bytes=3), PROTOCOL),
    Cell(Fault(RESET, "greeting", DOWN), PROTOCOL),
    Cell(Fault(FLIP, "greeting", DOWN), PROTOCOL),
    *_phase_cells("auth"),
    *_phase_cells("stat_list"),
    *_phase_cells("top"),
    # quit: all data is in, so whatever happens to the goodbye, the poll stands (see above).
    *[dataclasses.replace(cell, expected=OK) for cell in _phase_cells("quit")],
]
PRE_LOGIN_PHASES = ("connect", "tls", "greeting")
_LOGIN_LINE = re.compile(rb"^(PASS|AUTH|APOP) ", re.MULTILINE)


def _mail_state(tracker: MessageTracker) -> dict[str, object]:
    """What the tracker knows of the mail; its server hints may learn from a failure."""
    return {k: v for k, v in tracker_to_json(tracker).items() if k != "server"}


@pytest.fixture(scope="module")
def neighbour(dovecot: DovecotServer) -> DovecotUser:
    """Another mailbox on the same server, polled directly while each fault happens."""
    user = dovecot.add_user()
    dovecot.deliver(user, subject="neighbour's mail")
    return user


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
async def test_fault_in_phase_is_classified_bounded_and_recovered_from(
    cell: Cell, dovecot: DovecotServer, neighbour: DovecotUser
) -> None:
    user = dovecot.add_user()
    dovecot.deliver(user, subject="already there")  # so the poll has a TOP to make
    tls = cell.fault.phase == "tls"
    target = dovecot.pop3s_port if tls else dovecot.pop3_port
    async with FaultProxy(target, tls=tls, fault=cell.fault) as proxy:
        config = dovecot_config(dovecot, user, port=proxy.client_port, tls=tls)
        other = dovecot_config(dovecot, neighbour, port=dovecot.pop3s_port, tls=True, timeout=10)
        tracker = MessageTracker()
        before = _mail_state(tracker)

        async with no_leaks():
            started = time.monotonic()
            snapshot, theirs = await asyncio.gather(
                poll_mailbox(config, tracker), poll_mailbox(other)
            )
            elapsed = time.monotonic() - started
        after_fault = _mail_state(tracker)
        sent = b"".join(proxy.client_sessions)  # what the client sent during the faulty poll

        injected = sum(proxy.faults_injected.values())
        proxy.fault = None
        recovered = await poll_mailbox(dataclasses.replace(config, port=proxy.port), tracker)

    # The fault was reached (connect stalls and refusals happen before the proxy sees anything).
    assert injected == 1 or proxy.client_port != proxy.port or cell.fault.phase == "connect"
    assert snapshot.error is cell.expected, f"{snapshot.error}: {snapshot.error_text}"
    assert elapsed < POLL_TIMEOUT + MARGIN, f"took {elapsed:.2f} s"
    if snapshot.ok:
        assert snapshot.messages == 1
        assert [m.subject for m in snapshot.known_messages] == ["already there"]
    else:
        assert after_fault == before, "a failed poll changed what the tracker knows of the mail"
        assert snapshot.messages is None
    assert theirs.error is OK, f"the other mailbox suffered: {theirs.error_text}"
    assert theirs.messages == 1

    forms = secret_forms(user.username, user.password)
    if cell.fault.phase in PRE_LOGIN_PHASES and not snapshot.ok:
        assert not leaked_in(forms, sent), "credentials sent although the poll failed before login"
    assert len(_LOGIN_LINE.findall(sent)) <= 1, "credentials sent more than once in one poll"

    assert recovered.error is OK, f"no recovery: {recovered.error}: {recovered.error_text}"
    assert recovered.messages == 1
    assert recovered.new_messages == ()  # the mail that was there at the first success is baseline
