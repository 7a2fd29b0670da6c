"""Every real server of the matrix, in every TLS mode, polled by one long-running pop3-exporter.

Run the way users run it: one exporter process for minutes, its state carried from poll to poll
and across a restart. Each server and mode gets a mailbox with mail already there, is polled
at least ten times, gets one new message between polls, and must report every poll `ok`, the
new message once (its headers decoded), and leave the mail store as it was. Each server also
gets a mailbox with a wrong password: `auth_failed`, never `timeout`, and polls back off.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.exporter.helpers import REPO, ExporterProcess, running_exporter, series
from tests.fixtures.mailservers import SERVER_NAMES, matrix_cells
from tests.fixtures.mailservers.base import MailServer, MailUser, StoredMessage

pytestmark = pytest.mark.timeout(900)  # the module's scenario runs in the first test's setup
CELLS = matrix_cells()
ARTIFACTS = REPO / "artifacts"
POLLS = 10  # ok polls each cell must make, at least
BEFORE_DELIVERY = 3  # of them before the new message arrives
AFTER_RESTART = 2  # ok polls more after a restart of the exporter
PHASE = 240.0  # seconds: Courier's LOGIN-DELAY 10 makes it the slowest to poll ten times
INTERVAL = 2.0
WRONG_PASSWORD_SOURCE = "127.0.0.2"
WRONG_PASSWORD_INTERVAL = 8.0  # Courier answers a wrong password after 5 s: room to answer
# RFC 2047-encoded on the wire; the exporter must remember them decoded.
NEW_SUBJECT = "Zeugnis für Ana, Woche 48"
NEW_SENDER = "Grundschule Nörd <buero@schule.example>"


@dataclass
class Cell:
    server: MailServer
    mode: str
    user: MailUser
    before: list[StoredMessage] = field(default_factory=list)
    new_message_id: str = ""

    @property
    def name(self) -> str:
        return f"{self.server.name}-{self.mode}"


@dataclass
class MatrixRun:
    cells: dict[str, Cell]
    samples: dict[str, float]  # /metrics just before the restart
    after_restart: dict[str, float]  # /metrics a few polls after it
    remembered: dict[str, list[dict[str, Any]]]  # state file: known messages per mailbox
    status_next_poll: dict[str, float]  # wrong-password mailboxes: seconds to the next poll
    log: str


def _entry(
    name: str, server: MailServer, mode: str, user: MailUser, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "host": server.host,
        "port": server.endpoints[mode],
        "tls_mode": mode,
        "username": user.username,
        "password": user.password,
        "ca_file": str(server.ca_file),
        "interval": INTERVAL,
        "timeout": INTERVAL,
        **extra,
    }


def _ok_polls(samples: dict[str, float], name: str) -> float:
    return samples.get(f'pop3_polls_total{{mailbox="{name}",result="ok"}}', 0.0)


def _polls(samples: dict[str, float], name: str) -> dict[str, float]:
    found = series(samples, "pop3_polls_total")
    return {
        re.search(r'result="([^"]+)"', key).group(1): value  # type: ignore[union-attr]
        for key, value in found.items()
        if f'mailbox="{name}"' in key
    }


def _next_poll_seconds(exporter: ExporterProcess, name: str) -> float:
    page = exporter.get("/").text
    row = page.split(f'data-mailbox="{name}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(r"<td>in (\d+) s</td>", row)
    return float(found.group(1)) if found else -1.0


@pytest.fixture(scope="module")
def matrix_run(
    matrix_servers: dict[str, MailServer], tmp_path_factory: pytest.TempPathFactory
) -> MatrixRun:
    directory = tmp_path_factory.mktemp("compat-exporter")
    cells: dict[str, Cell] = {}
    entries = []
    for server_name, mode in CELLS:
        server = matrix_servers[server_name]
        cell = Cell(server, mode, server.add_user())
        server.deliver(cell.user, subject="already there")
        cells[cell.name] = cell
        entries.append(_entry(cell.name, server, mode, cell.user))
    for server_name in SERVER_NAMES:
        server = matrix_servers[server_name]
        user = server.add_user()
        wrong = MailUser(user.username, user.password + "-wrong")
        entries.append(
            _entry(
                f"{server_name}-wrong-password",
                server,
                server.modes[0],
                wrong,
                interval=WRONG_PASSWORD_INTERVAL,
                timeout=WRONG_PASSWORD_INTERVAL,
                # Servers slow down every login from an address that failed (Dovecot's
                # auth_penalty): from another address, the good mailboxes keep their pace.
                source_address=WRONG_PASSWORD_SOURCE,
            )
        )
    state_file = directory / "state.json"
    config = {"state_file": str(state_file), "max_concurrent_polls": 50, "mailboxes": entries}
    watch = _WrongPasswordWatch([f"{name}-wrong-password" for name in SERVER_NAMES])

    with running_exporter(config, directory, log_level="info") as exporter:
        watch.exporter = exporter
        exporter.wait_for(
            lambda s: watch(s) and _all_polled(s, cells, {}, BEFORE_DELIVERY), timeout=PHASE
        )
        for cell in cells.values():
            cell.before = cell.server.stored_messages(cell.user)
            cell.new_message_id = cell.server.deliver(
                cell.user, subject=NEW_SUBJECT, sender=NEW_SENDER
            )
        at_delivery = exporter.metrics()
        samples = exporter.wait_for(
            lambda s: (
                watch(s)
                and _all_polled(s, cells, at_delivery, POLLS - BEFORE_DELIVERY)
                and watch.done
            ),
            timeout=PHASE,
        )
        log = exporter.log
    remembered = {
        name: entry["tracker"]["entries"]
        for name, entry in json.loads(state_file.read_text())["mailboxes"].items()
    }
    # A restart, as after an upgrade: the state file carries every mailbox on.
    with running_exporter(config, directory, log_level="info") as exporter:
        restarted = exporter.wait_for(
            lambda s: _all_polled(s, cells, samples, AFTER_RESTART), timeout=PHASE
        )
        log += exporter.log
    run = MatrixRun(cells, samples, restarted, remembered, watch.next_poll, log)
    _write_summary(run)
    return run


def _write_summary(run: MatrixRun) -> None:
    """artifacts/compat-matrix.md: polls by result for every cell, to read after a run."""
    lines = [
        "| mailbox | ok polls / all (before restart) | after restart | results |",
        "|---|---|---|---|",
    ]
    for name in [*run.cells, *run.status_next_poll]:
        before, after = _polls(run.samples, name), _polls(run.after_restart, name)
        results = ", ".join(f"{k} {v:g}" for k, v in before.items() if v)
        lines.append(
            f"| {name} | {before.get('ok', 0):g} / {sum(before.values()):g} "
            f"| {after.get('ok', 0) - before.get('ok', 0):g} more ok | {results} |"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compat-matrix.md").write_text("\n".join(lines) + "\n")


def _failed(samples: dict[str, float], name: str) -> bool:
    return any(result != "ok" and count for result, count in _polls(samples, name).items())


def _all_polled(
    samples: dict[str, float], cells: dict[str, Cell], since: dict[str, float], polls: int
) -> bool:
    """Every cell polled `polls` more times ok since `since`, or failed (which a test reports)."""
    return all(
        _ok_polls(samples, name) >= _ok_polls(since, name) + polls or _failed(samples, name)
        for name in cells
    )


class _WrongPasswordWatch:
    """Reads, for each wrong-password mailbox, the wait the status page shows right after its
    second failure in a row: with backoff it is twice the interval."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.next_poll: dict[str, float] = {}
        self.exporter: ExporterProcess | None = None

    @property
    def done(self) -> bool:
        return len(self.next_poll) == len(self.names)

    def __call__(self, samples: dict[str, float]) -> bool:
        assert self.exporter is not None
        for name in self.names:
            if name not in self.next_poll and _polls(samples, name).get("auth_failed") == 2:
                wait = _next_poll_seconds(self.exporter, name)
                if wait >= 0:  # not while its next poll is already running
                    self.next_poll[name] = wait
        return True


def _cell_ids() -> list[str]:
    return [f"{server}-{mode}" for server, mode in CELLS]


@pytest.mark.parametrize("name", _cell_ids())
def test_every_poll_of_a_long_running_exporter_is_ok(matrix_run: MatrixRun, name: str) -> None:
    polls = _polls(matrix_run.samples, name)
    assert polls.get("ok", 0) >= POLLS, polls
    assert {result for result, count in polls.items() if count} == {"ok"}, polls
    after = _polls(matrix_run.after_restart, name)
    assert {result for result, count in after.items() if count} == {"ok"}, after
    assert matrix_run.samples[f'pop3_up{{mailbox="{name}"}}'] == 1


@pytest.mark.parametrize("name", _cell_ids())
def test_mail_delivered_between_polls_is_new_exactly_once(matrix_run: MatrixRun, name: str) -> None:
    samples = matrix_run.samples
    assert samples[f'pop3_messages{{mailbox="{name}"}}'] == 2
    assert samples[f'pop3_new_messages_total{{mailbox="{name}"}}'] == 1
    # Not again after a restart: the state file remembered it.
    assert matrix_run.after_restart[f'pop3_new_messages_total{{mailbox="{name}"}}'] == 1
    infos = [entry["info"] for entry in matrix_run.remembered[name] if entry["info"]]
    wanted = matrix_run.cells[name].new_message_id
    new = [info for info in infos if info.get("message_id") == wanted]
    assert len(new) == 1, infos
    assert new[0]["subject"] == NEW_SUBJECT
    assert new[0]["sender"] == NEW_SENDER


@pytest.mark.parametrize("name", _cell_ids())
def test_polls_lose_no_mail_and_mark_none_read(matrix_run: MatrixRun, name: str) -> None:
    cell = matrix_run.cells[name]
    after = cell.server.stored_messages(cell.user)
    ids_before = [m.message_id for m in cell.before]
    assert [m.message_id for m in after] == [*ids_before, cell.new_message_id]
    assert [m.message_id for m in after if m.marked_read] == []


@pytest.mark.parametrize("server_name", SERVER_NAMES)
def test_a_wrong_password_is_auth_failed_and_backs_off(
    matrix_run: MatrixRun, server_name: str
) -> None:
    name = f"{server_name}-wrong-password"
    polls = _polls(matrix_run.samples, name)
    assert {result for result, count in polls.items() if count} == {"auth_failed"}, polls
    assert matrix_run.samples[f'pop3_up{{mailbox="{name}"}}'] == 0
    # After the second failure in a row the wait is twice the interval (or LOGIN-DELAY).
    assert matrix_run.status_next_poll[name] > 1.2 * WRONG_PASSWORD_INTERVAL, matrix_run.log
