"""The exporter's state file, all in one place: it round-trips, its bytes are one sorted JSON
document, each write holds every mailbox's latest counters; a SIGKILL in the middle of a write
leaves the old file or the new one, never a mix; any corrupt or unreadable file is reported, kept
aside and replaced, and never stops the exporter from starting (in process, and the real
exporter against the real Dovecot)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pop3_exporter.scheduler import Scheduler
from pop3_exporter.state import FORMAT_VERSION, SavedMailbox, load_state, save_state
from pop3probe import MessageTracker, tracker_to_json
from tests.exporter.helpers import mailbox_entry, running_exporter
from tests.exporter.test_exporter_scheduler import FakePolls, config, wait_until
from tests.fixtures.dovecot import DovecotServer, DovecotUser

WRITER = """
import sys
from pathlib import Path
from pop3_exporter.state import SavedMailbox, save_state

path = Path(sys.argv[1])
generation = 0
while True:
    generation += 1
    tracker = {"generation": generation, "padding": "x" * 200_000}
    save_state(path, {"box": SavedMailbox(identity="a@h:995", tracker=tracker)})
    print(generation, flush=True)
"""


def test_a_kill_during_writes_leaves_a_whole_old_or_new_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, {"box": SavedMailbox(identity="a@h:995", tracker={"generation": 0})})
    generations = []
    for round_number in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        writer.stdout.readline()  # at least one write done: kill in the middle of later ones
        time.sleep(0.01 * (round_number % 4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        saved = load_state(path)  # a torn file would be "corrupt" and come back empty
        assert set(saved) == {"box"}, f"round {round_number}: {path.read_bytes()[:80]!r}"
        generations.append(int(saved["box"].tracker["generation"]))
    assert max(generations) > 0
    assert not list(tmp_path.glob("state.json.corrupt-*"))


CORRUPTIONS = {
    "truncated JSON": b'{"version": 1, "mailboxes": {"box": {"identity": "a@h',
    "binary junk": bytes(range(256)) * 4,
    "empty file": b"",
    "wrong version": b'{"version": 99, "mailboxes": {}}',
    "mailboxes not a mapping": b'{"version": 1, "mailboxes": [1, 2]}',
    "entry without identity": b'{"version": 1, "mailboxes": {"box": {"tracker": {}}}}',
    "counter not a number": b'{"version": 1, "mailboxes": {"box": {"identity": "a", '
    b'"tracker": {}, "new_messages_total": "many"}}}',
    "invalid UTF-8": b'{"version": 1, "mailboxes": {"\xff\xfe": {}}}',
}


@pytest.mark.parametrize("content", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_state_file_is_reported_kept_aside_and_replaced(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_state(path) == {}
    assert any("state file" in r.getMessage() for r in caplog.records)
    kept = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == content  # kept for a human, byte for byte
    save_state(path, {"box": SavedMailbox(identity="a@h:995", tracker={})})
    assert json.loads(path.read_text())["mailboxes"]["box"]["identity"] == "a@h:995"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["state.json", kept[0].name])


def test_an_unreadable_state_file_is_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # a directory where the file should be: reading fails with an OSError
    with caplog.at_level(logging.WARNING):
        assert load_state(path) == {}
    assert os.path.isdir(path)
    assert caplog.records


def test_temp_files_left_by_an_interrupted_write_are_removed_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    save_state(state, {})
    leftover = tmp_path / ".state.json.k2j4x9"  # what mkstemp left when the writer was killed
    leftover.write_bytes(b'{"mailboxes":{"half')
    unrelated = tmp_path / ".other.json.abc"
    unrelated.write_text("{}")
    assert load_state(state) == {}
    assert not leftover.exists()
    assert unrelated.exists()
    assert state.exists()


def test_state_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    saved = {"work": SavedMailbox("u@h:995", tracker_to_json(MessageTracker()), 3, {"ok": 7})}
    save_state(path, saved)
    save_state(path, saved)
    assert load_state(path) == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


@pytest.mark.parametrize("content", ["", "{", "[]", '{"version": 99}', '{"version": 1}'])
def test_a_corrupt_state_file_is_moved_aside(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    assert load_state(path) == {}
    assert not path.exists()
    assert [p.read_text() for p in tmp_path.glob("state.json.corrupt-*")] == [content]
    assert "is corrupt" in caplog.text


def test_a_missing_state_file_is_a_first_run(tmp_path: Path) -> None:
    assert load_state(tmp_path / "absent.json") == {}


def test_state_file_json_is_plain_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_state(path, {"m": SavedMailbox("u@h:995", {"version": 1}, 0, {})})
    assert json.loads(path.read_text())["version"] == 1


def test_the_file_is_byte_for_byte_one_json_document_with_sorted_keys(tmp_path: Path) -> None:
    mailboxes = {
        "zeta": SavedMailbox("z@h:995", {"b": [1, 2], "a": {"y": None, "x": "é"}}, 3, {"ok": 2}),
        'quo"te': SavedMailbox("q@h:995", {}, 0, {}),
        "ümlaut": SavedMailbox("u@h:995", {"k": 1.5}, 7, {"timeout": 1, "ok": 9}),
    }
    path = tmp_path / "state.json"
    save_state(path, mailboxes)
    whole = {
        "version": FORMAT_VERSION,
        "mailboxes": {
            name: {
                "identity": saved.identity,
                "tracker": saved.tracker,
                "new_messages_total": saved.new_messages_total,
                "polls_total": dict(saved.polls_total),
            }
            for name, saved in mailboxes.items()
        },
    }
    assert path.read_bytes() == json.dumps(whole, separators=(",", ":"), sort_keys=True).encode()
    assert load_state(path) == mailboxes


async def test_each_write_holds_the_latest_counts_of_every_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    boxes = [{"name": f"m{i}", "username": f"u{i}"} for i in range(3)]
    scheduler = Scheduler(config(*boxes, state_file=str(path)), poll=FakePolls(), start_spread=0.01)
    await scheduler.start()
    try:
        await wait_until(lambda: all(sum(s.polls_total.values()) >= 2 for s in scheduler.states()))
    finally:
        await scheduler.stop()
    saved = load_state(path)
    assert {name: dict(s.polls_total) for name, s in saved.items()} == {
        s.name: dict(s.polls_total) for s in scheduler.states()
    }
    assert all(sum(s.polls_total.values()) >= 2 for s in saved.values())


def test_the_real_exporter_starts_with_a_corrupt_state_file_and_replaces_it(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text("{ this is not json")
    config = {"state_file": str(state_file), "mailboxes": [mailbox_entry("m", dovecot, mailbox)]}
    with running_exporter(config, tmp_path) as exporter:
        exporter.wait_for_metric('pop3_up{mailbox="m"}', lambda v: v == 1)
    assert "state file" in exporter.log
    assert "corrupt" in exporter.log
    assert json.loads(state_file.read_text())["mailboxes"]["m"]["identity"]
    assert list(tmp_path.glob("state.json.corrupt-*"))
