"""The scheduler's manners: concurrency limits, isolation, LOGIN-DELAY, shutdown, reload.

The POP3 side is a stand-in poll function here (these are scheduling rules, not protocol);
the end-to-end tests run the same scheduler against the real Dovecot.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pop3_exporter.config import ExporterConfig, build_config
from pop3_exporter.limits import ConnectionLimiter
from pop3_exporter.scheduler import Scheduler
from pop3probe import ErrorClass, MailboxConfig, MessageTracker, PollSnapshot


def config(*mailboxes: dict[str, Any], **top: Any) -> Any:
    entries = [
        {"host": "h", "username": "u", "password": "p", "interval": 1, "timeout": 1, **m}
        for m in mailboxes
    ]
    return build_config({"mailboxes": entries, **top})


class FakePolls:
    """Records concurrency; each poll lasts `delays[name]` seconds (default 0.05)."""

    def __init__(self, delays: dict[str, float] | None = None, **results: Any) -> None:
        self.delays = delays or {}
        self.results = results
        self.running: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.total_running = 0
        self.total_peak = 0
        self.finished: list[str] = []
        self.started_at: dict[str, list[float]] = defaultdict(list)

    async def __call__(
        self,
        config: MailboxConfig,
        tracker: MessageTracker,
        *,
        hints: Any,
        name: str,
        transcript: Any,
    ) -> PollSnapshot:
        loop = asyncio.get_running_loop()
        self.started_at[name].append(loop.time())
        server = config.server_key
        self.running[server] += 1
        self.total_running += 1
        self.peak[server] = max(self.peak[server], self.running[server])
        self.total_peak = max(self.total_peak, self.total_running)
        try:
            await asyncio.sleep(self.delays.get(name, 0.05))
        finally:
            self.running[server] -= 1
            self.total_running -= 1
        self.finished.append(name)
        extra = self.results.get(name, {})
        ok = "error" not in extra
        return PollSnapshot(
            mailbox=name,
            started_at=datetime.now(UTC),
            duration=0.05,
            messages=0 if ok else None,
            size_bytes=0 if ok else None,
            **extra,
        )


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_per_server_and_global_limits_hold() -> None:
    boxes = [{"name": f"a{i}", "host": "one.example"} for i in range(6)]
    boxes += [{"name": f"b{i}", "host": "two.example"} for i in range(6)]
    polls = FakePolls(delays={b["name"]: 0.2 for b in boxes})
    scheduler = Scheduler(
        config(*boxes, max_concurrent_polls=3, max_connections_per_server=2),
        poll=polls,
        start_spread=0,
    )
    await scheduler.start()
    await wait_until(lambda: len(set(polls.finished)) == 12)
    await scheduler.stop()
    assert polls.peak["one.example:995"] == 2
    assert polls.peak["two.example:995"] <= 2
    assert polls.total_peak == 3


async def test_a_slow_mailbox_does_not_delay_the_others() -> None:
    boxes = [
        {"name": "stuck", "host": "slow.example"},
        {"name": "fine", "host": "fast.example"},
    ]
    polls = FakePolls(delays={"stuck": 60})
    scheduler = Scheduler(config(*boxes), poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(lambda: polls.finished.count("fine") >= 3)
    assert "stuck" not in polls.finished
    await scheduler.stop(grace=0.1)  # the stuck poll is cancelled cleanly
    assert {s.name: s.last is not None for s in scheduler.states()} == {
        "stuck": False,
        "fine": True,
    }


async def test_stop_lets_a_running_poll_finish_and_cancels_only_what_overstays() -> None:
    polls = FakePolls(delays={"short": 0.3, "long": 30})
    scheduler = Scheduler(config({"name": "short"}, {"name": "long"}), poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(lambda: polls.running["h:995"] == 2)
    await scheduler.stop(grace=1.0)
    assert polls.finished == ["short"]  # finished (with its QUIT), not cut off
    assert polls.running["h:995"] == 0  # the long one was cancelled: no session left open
    assert asyncio.all_tasks() == {asyncio.current_task()}  # no poll left running or queued
    assert all(s.timer is None for s in scheduler.states())  # and none to come


def next_wait(scheduler: Scheduler, name: str) -> float:
    """Seconds until the mailbox's next scheduled poll."""
    state = next(s for s in scheduler.states() if s.name == name)
    assert state.next_poll_at is not None
    return state.next_poll_at - time.time()


def polls_of(scheduler: Scheduler, name: str, result: str) -> int:
    return next(s for s in scheduler.states() if s.name == name).polls_total[result]


async def test_login_delay_raises_the_interval() -> None:
    polls = FakePolls(delayed={"login_delay": 3})
    boxes = ({"name": "delayed", "interval": 1}, {"name": "plain", "interval": 1})
    scheduler = Scheduler(config(*boxes), poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(
        lambda: polls_of(scheduler, "delayed", "ok") and polls_of(scheduler, "plain", "ok")
    )
    assert next_wait(scheduler, "delayed") > 2.5  # the server's 3 s, not the configured 1 s
    assert next_wait(scheduler, "plain") < 1.1
    await scheduler.stop(grace=0.1)


async def test_auth_failures_back_off() -> None:
    polls = FakePolls(bad={"error": ErrorClass.AUTH_FAILED})
    scheduler = Scheduler(config({"name": "bad", "interval": 1}), poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(lambda: polls_of(scheduler, "bad", "auth_failed") == 1)
    assert next_wait(scheduler, "bad") < 1.1
    await wait_until(lambda: polls_of(scheduler, "bad", "auth_failed") == 2)
    assert next_wait(scheduler, "bad") > 1.5  # doubled after the second failure
    await scheduler.stop(grace=0.1)


async def test_reload_keeps_unchanged_mailboxes_and_their_state() -> None:
    polls = FakePolls()
    scheduler = Scheduler(config({"name": "keep"}, {"name": "drop"}), poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(lambda: {"keep", "drop"} <= set(polls.finished))
    kept = next(s for s in scheduler.states() if s.name == "keep")
    await scheduler.apply(config({"name": "keep"}, {"name": "new"}))
    assert {s.name for s in scheduler.states()} == {"keep", "new"}
    assert next(s for s in scheduler.states() if s.name == "keep") is kept
    await wait_until(lambda: "new" in polls.finished)
    await scheduler.stop()


async def one_server_slot_taken() -> tuple[FakePolls, ExporterConfig, Scheduler]:
    """One mailbox, one session per server, and its scheduled poll (0.3 s) holding that slot."""
    polls = FakePolls(delays={"box": 0.3})
    cfg = config({"name": "box"}, max_connections_per_server=1)
    scheduler = Scheduler(cfg, poll=polls, start_spread=0)
    await scheduler.start()
    await wait_until(lambda: polls.running["h:995"] == 1)
    return polls, cfg, scheduler


async def test_a_probe_waits_for_the_per_server_limit_and_is_not_a_scheduled_poll() -> None:
    polls, cfg, scheduler = await one_server_slot_taken()
    state = scheduler.states()[0]
    probe = await scheduler.probe(cfg.mailboxes[0], time_limit=None, transcript=None)
    assert probe.ok
    assert polls.peak["h:995"] == 1  # the probe queued behind the scheduled poll
    assert state.polls_total["ok"] == 1  # probes are not counted as scheduled polls
    await scheduler.stop()


async def test_a_probe_given_up_while_it_waits_leaves_no_slot_taken() -> None:
    polls, cfg, scheduler = await one_server_slot_taken()
    waiting = asyncio.create_task(
        scheduler.probe(cfg.mailboxes[0], time_limit=None, transcript=None)
    )
    await asyncio.sleep(0.05)
    waiting.cancel()  # a scraper that hung up while its probe waited for the server's slot
    probe = await scheduler.probe(cfg.mailboxes[0], time_limit=None, transcript=None)
    assert probe.ok
    await wait_until(lambda: scheduler.states()[0].polls_total["ok"] >= 2)  # polling goes on
    assert polls.peak["h:995"] == 1
    await scheduler.stop()


def test_a_freed_slot_passes_over_any_number_of_waiters_that_gave_up() -> None:
    limiter = ConnectionLimiter(max_total=1, max_per_server=1)
    granted: list[str] = []
    limiter.request("a", lambda: granted.append("first") is None)
    for _ in range(5000):  # e.g. probes whose scrapers hung up while they waited
        limiter.request("a", lambda: False)
    limiter.request("b", lambda: granted.append("other server") is None)
    limiter.request("a", lambda: granted.append("last") is None)
    assert granted == ["first"]
    limiter.release("a")
    assert granted == ["first", "other server"]  # it waited for the global slot first
    limiter.release("b")
    assert granted == ["first", "other server", "last"]
