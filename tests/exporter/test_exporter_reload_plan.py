"""What a reload does to each mailbox: the plan alone, then what the counters and the state file
show after it (a changed mailbox carries on from its saved state only when it is the same
account)."""

from __future__ import annotations

from pathlib import Path

from pop3_exporter.mailbox import MailboxState
from pop3_exporter.reload import plan_reload
from pop3_exporter.scheduler import Scheduler
from pop3_exporter.state import load_state
from tests.exporter.test_exporter_scheduler import FakePolls, config, wait_until


def test_the_plan_ends_and_starts_only_what_changed() -> None:
    before = config({"name": "same"}, {"name": "slower"}, {"name": "gone"})
    after = config({"name": "same"}, {"name": "slower", "interval": 2}, {"name": "added"})
    running = {m.name: MailboxState.fresh(m) for m in before.mailboxes}
    plan = plan_reload(running, after.mailboxes)
    assert sorted(s.name for s in plan.ended) == ["gone", "slower"]
    assert sorted(m.name for m in plan.started) == ["added", "slower"]
    assert plan.wanted == {"same", "slower", "added"}


async def test_a_mailbox_with_new_settings_keeps_its_counts() -> None:
    polls = FakePolls()
    scheduler = Scheduler(config({"name": "box"}), poll=polls, start_spread=0)
    await scheduler.start()
    try:
        await wait_until(lambda: scheduler.states()[0].polls_total["ok"] >= 2)
        await scheduler.apply(config({"name": "box", "interval": 2}))
        state = scheduler.states()[0]
        assert state.settings.interval == 2
        assert state.polls_total["ok"] >= 2
    finally:
        await scheduler.stop()


async def test_a_mailbox_moved_to_another_account_starts_afresh_in_the_state_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    polls = FakePolls()
    scheduler = Scheduler(
        config({"name": "box", "username": "old"}, state_file=str(path)),
        poll=polls,
        start_spread=0,
    )
    await scheduler.start()
    try:
        await wait_until(lambda: scheduler.states()[0].polls_total["ok"] >= 3)
        await wait_until(lambda: path.exists() and load_state(path)["box"].polls_total)
        await scheduler.apply(config({"name": "box", "username": "new"}, state_file=str(path)))
        assert sum(scheduler.states()[0].polls_total.values()) <= 1
    finally:
        await scheduler.stop()
    saved = load_state(path)["box"]
    assert saved.identity.startswith("new@")
    assert dict(saved.polls_total) == dict(scheduler.states()[0].polls_total)
