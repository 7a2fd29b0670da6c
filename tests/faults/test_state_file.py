"""The exporter's state file under crashes and corruption: a SIGKILL in the middle of a write
leaves the old file or the new one, never a mix; any corrupt file is reported, kept aside and
replaced, and never stops the exporter from starting."""

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

from pop3_exporter.state import SavedMailbox, load_state, save_state

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
