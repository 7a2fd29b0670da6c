"""The status page at `/`: each mailbox's state, counts and certificate days, the shard, a failed
reload, and nothing a hostile server says rendered as HTML."""

from __future__ import annotations

from pop3_exporter.status import render_status
from pop3probe import ErrorClass
from tests.exporter.snapshots import NOW, failed, snapshot
from tests.exporter.states import state_for


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
