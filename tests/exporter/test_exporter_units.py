"""The exporter's pure parts: collector output, status page, Nagios evaluation, state file,
sharding, hashed passwords, and the HTTP app's guards (in-process, no POP3 server needed)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from pop3_exporter.check import Status, Thresholds, evaluate
from pop3_exporter.collector import mailbox_families
from pop3_exporter.config import build_config
from pop3_exporter.probe import scrape_timeout
from pop3_exporter.runtime import Exporter
from pop3_exporter.scheduler import MailboxState
from pop3_exporter.sharding import Shard, shard_of
from pop3_exporter.state import SavedMailbox, load_state, save_state
from pop3_exporter.status import render_status
from pop3_exporter.web import build_app, parse_listen_address
from pop3_exporter.webauth import PasswordVerifier, hash_password, is_supported_hash
from pop3probe import Backoff, ErrorClass, MessageTracker, PollSnapshot, tracker_to_json
from tests.exporter.helpers import parse_metrics
from tests.exporter.snapshots import NOW, TLS, failed, snapshot


def state_for(name: str, *snapshots: PollSnapshot, username: str = "u") -> MailboxState:
    config = build_config(
        {"mailboxes": [{"name": name, "host": "h", "username": username, "password": "pw"}]}
    )
    state = MailboxState(
        settings=config.mailboxes[0], tracker=MessageTracker(), backoff=Backoff(interval=300)
    )
    for snap in snapshots:
        state.last = snap
        state.polls_total[snap.error.value] += 1
        if snap.ok:
            state.last_success = snap
    return state


class _Fixed(Collector):
    def __init__(self, states: list[MailboxState]) -> None:
        self._states = states

    def collect(self):  # type: ignore[no-untyped-def]
        return mailbox_families(self._states, counted=self._states)


def render(states: list[MailboxState]) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(states))
    return parse_metrics(generate_latest(registry).decode())


# --- collector ----------------------------------------------------------------------------------


def test_a_failed_poll_keeps_the_last_good_counts_and_says_down() -> None:
    state = state_for("work", snapshot(), failed(ErrorClass.IN_USE, server_text="[IN-USE] busy"))
    samples = render([state])
    assert samples['pop3_up{mailbox="work"}'] == 0
    assert samples['pop3_messages{mailbox="work"}'] == 2
    assert samples['pop3_mailbox_size_bytes{mailbox="work"}'] == 2048
    assert samples['pop3_polls_total{mailbox="work",result="ok"}'] == 1
    assert samples['pop3_polls_total{mailbox="work",result="in_use"}'] == 1
    assert samples['pop3_polls_total{mailbox="work",result="timeout"}'] == 0  # pre-initialised
    assert (
        samples['pop3_oldest_message_timestamp_seconds{mailbox="work"}']
        == (NOW - timedelta(hours=2)).timestamp()
    )
    assert (
        samples['pop3_newest_message_timestamp_seconds{mailbox="work"}']
        == (NOW - timedelta(minutes=5)).timestamp()
    )
    assert samples['pop3_tls_cert_expiry_timestamp_seconds{mailbox="work"}'] == (
        TLS.cert_not_after.timestamp()  # type: ignore[union-attr]
    )
    assert samples['pop3_poll_interval_seconds{mailbox="work"}'] == 300


def test_a_mailbox_not_yet_polled_has_counters_but_no_gauges() -> None:
    samples = render([state_for("fresh")])
    assert 'pop3_up{mailbox="fresh"}' not in samples
    assert samples['pop3_polls_total{mailbox="fresh",result="auth_failed"}'] == 0
    assert samples['pop3_new_messages_total{mailbox="fresh"}'] == 0


def test_a_certificate_failure_still_reports_the_expiry() -> None:
    samples = render([state_for("bad", failed(ErrorClass.CERT_INVALID))])
    assert samples['pop3_up{mailbox="bad"}'] == 0
    assert 'pop3_tls_cert_expiry_timestamp_seconds{mailbox="bad"}' in samples
    assert 'pop3_messages{mailbox="bad"}' not in samples


def test_login_delay_is_exported_when_announced() -> None:
    samples = render([state_for("slow", snapshot(login_delay=900))])
    assert samples['pop3_login_delay_seconds{mailbox="slow"}'] == 900


# --- status page ---------------------------------------------------------------------------------


def test_the_status_page_escapes_what_a_hostile_server_says() -> None:
    evil = "<script>alert(1)</script>&<img src=x onerror=alert(2)>"
    state = state_for(
        "x", failed(ErrorClass.SERVER_PERMANENT, server_text=evil), username="<b>u</b>"
    )
    html = render_status([state], version="1", configured=1, shard=None, reload_ok=False)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in html
    assert "&lt;b&gt;u&lt;/b&gt;@h:995" in html
    assert "last config reload failed" in html


def test_the_status_page_shows_state_counts_and_certificate_days() -> None:
    states = [state_for("up", snapshot()), state_for("busy", failed(ErrorClass.IN_USE))]
    html = render_status(
        states,
        version="1",
        configured=5,
        shard="0/2",
        reload_ok=True,
        now=NOW.timestamp() + 30,
    )
    assert 'data-mailbox="up" data-state="up"' in html
    assert 'data-mailbox="busy" data-state="busy"' in html
    assert '<td class="num messages">2</td>' in html
    assert "30 days" in html
    assert "shard 0/2: 2 of 5 mailboxes" in html


# --- Nagios check --------------------------------------------------------------------------------


def test_check_ok_with_perfdata() -> None:
    status, text = evaluate("work", snapshot(), Thresholds(), now=NOW.timestamp())
    assert status is Status.OK
    first = text.splitlines()[0]
    assert first.startswith("POP3 OK - work: 2 messages (2048 bytes), poll 0.250 s, TLSv1.3")
    assert first.endswith("| messages=2;;;0 size=2048B;;;0 time=0.250s;;;0 cert_days=30.0;21:;7:")


@pytest.mark.parametrize(
    ("snap", "limits", "expected"),
    [
        (snapshot(), Thresholds(cert_days_warning=40), Status.WARNING),
        (snapshot(), Thresholds(cert_days_warning=60, cert_days_critical=40), Status.CRITICAL),
        (snapshot(), Thresholds(messages_warning=1), Status.WARNING),
        (snapshot(), Thresholds(messages_warning=1, messages_critical=1), Status.CRITICAL),
        (snapshot(), Thresholds(time_critical=0.1), Status.CRITICAL),
        (failed(ErrorClass.CONNECT_REFUSED), Thresholds(), Status.CRITICAL),
        (failed(ErrorClass.AUTH_FAILED), Thresholds(), Status.CRITICAL),
        (failed(ErrorClass.IN_USE), Thresholds(), Status.WARNING),
    ],
)
def test_check_thresholds(snap: PollSnapshot, limits: Thresholds, expected: Status) -> None:
    status, text = evaluate("work", snap, limits, now=NOW.timestamp())
    assert status is expected
    assert text.startswith(f"POP3 {expected.name} - work: ")


# --- state file ----------------------------------------------------------------------------------


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


# --- sharding, passwords, small parsers ---------------------------------------------------


def test_shards_partition_names_stably() -> None:
    names = [f"mailbox-{i}" for i in range(200)]
    shards = [Shard(i, 3) for i in range(3)]
    owners = [[s.index for s in shards if s.contains(n)] for n in names]
    assert all(len(o) == 1 for o in owners)
    assert Counter(o[0] for o in owners).keys() == {0, 1, 2}
    assert shard_of("family", 7) == shard_of("family", 7)
    assert shard_of("family", 2) == 1  # fixed forever: SHA-256, not Python's salted hash()


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"shard|I/N"):
        Shard.parse(text)


def test_password_hashes_verify_and_are_salted() -> None:
    first, second = hash_password("hunter2"), hash_password("hunter2")
    assert first != second
    assert is_supported_hash(first)
    assert "hunter2" not in first
    verifier = PasswordVerifier({"prom": first})
    assert verifier.verify("prom", "hunter2")
    assert verifier.verify("prom", "hunter2")  # cached
    assert not verifier.verify("prom", "hunter3")
    assert not verifier.verify("other", "hunter2")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "10"}, 9.5),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "0.2"}, 1.0),
        ({"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, None),
    ],
)
def test_scrape_timeout_leaves_a_margin(headers: dict[str, str], expected: float | None) -> None:
    assert scrape_timeout(headers) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [(":19110", (None, 19110)), ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:9", ("::1", 9))],
)
def test_listen_addresses(text: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen_address(text) == expected


# --- the HTTP app: basic auth, health, reload without a file ------------------------------------


async def test_basic_auth_guards_everything_but_health() -> None:
    config = build_config(
        {
            "web": {"basic_auth_users": {"prom": hash_password("s3cret")}},
            "mailboxes": [
                {"name": "a", "host": "h", "username": "u", "password": "p", "interval": 3600}
            ],
        }
    )
    exporter = Exporter(config)
    async with TestClient(TestServer(build_app(exporter))) as client:
        for path in ("/", "/metrics", "/probe?mailbox=a"):
            reply = await client.get(path)
            assert reply.status == 401, path
            assert reply.headers["WWW-Authenticate"].startswith("Basic")
        good = base64.b64encode(b"prom:s3cret").decode()
        bad = base64.b64encode(b"prom:wrong").decode()
        assert (
            await client.get("/metrics", headers={"Authorization": f"Basic {bad}"})
        ).status == 401
        reply = await client.get("/metrics", headers={"Authorization": f"Basic {good}"})
        assert reply.status == 200
        assert "pop3_exporter_build_info" in await reply.text()
        assert (await client.get("/-/healthy")).status == 200
        assert (await client.get("/-/ready")).status == 503  # not started
        reload = await client.post("/-/reload", headers={"Authorization": f"Basic {good}"})
        assert reload.status == 500  # no file to reload from
        metrics = await client.get("/metrics", headers={"Authorization": f"Basic {good}"})
        assert "pop3_exporter_config_last_reload_successful 0.0" in await metrics.text()


def test_state_file_json_is_plain_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_state(path, {"m": SavedMailbox("u@h:995", {"version": 1}, 0, {})})
    assert json.loads(path.read_text())["version"] == 1
