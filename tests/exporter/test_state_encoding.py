"""The state file keeps its exact bytes now that unchanged mailboxes' entries are reused
between writes, and every write still holds each mailbox's latest counters."""

from __future__ import annotations

import json
from pathlib import Path

from pop3_exporter.scheduler import Scheduler
from pop3_exporter.state import FORMAT_VERSION, SavedMailbox, load_state, save_state
from tests.exporter.test_exporter_scheduler import FakePolls, config, wait_until


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
