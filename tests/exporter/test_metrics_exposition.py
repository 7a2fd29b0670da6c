"""/metrics written by MailboxExposition (cached per mailbox) is byte for byte what
prometheus_client writes from the custom Collector, in every format a scraper can ask for,
and a mailbox whose state changed between two scrapes shows its new values."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from pop3_exporter.collector import (
    FrozenView,
    MailboxExposition,
    ScrapeCollector,
    SelfMetrics,
    render_scrape,
)
from pop3probe import ErrorClass, PollSnapshot
from tests.exporter.snapshots import NOW, TLS, failed, snapshot

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
ACCEPT_HEADERS = [
    PROMETHEUS_ACCEPT,
    "",
    "text/plain",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=underscores",
    "application/openmetrics-text",
]


def view(
    name: str, last: PollSnapshot | None, good: PollSnapshot | None, **kw: object
) -> FrozenView:
    polls = kw.pop("polls", {"ok": 3} if good else {})
    return FrozenView(
        name=name,
        last=last,
        last_success=good,
        polls_total=polls,  # type: ignore[arg-type]
        new_messages_total=kw.pop("new", 1),  # type: ignore[arg-type]
        interval=kw.pop("interval", 300.0),  # type: ignore[arg-type]
    )


def varied_views() -> list[FrozenView]:
    good = snapshot()
    return [
        view("ok", good, good),
        view(
            "down.after.ok", failed(ErrorClass.IN_USE, tls=None), good, polls={"ok": 2, "in_use": 5}
        ),
        view("never-ok", failed(ErrorClass.AUTH_FAILED, capabilities=frozenset()), None),
        view("not-polled-yet", None, None, new=0, interval=60.5),
        view(
            "odd_labels",
            snapshot(
                capabilities=frozenset({'X-"QUOTED"', "BACK\\SLASH", "NEW\nLINE", "ÜTF-8"}),
                tls=replace(TLS, version='TLS"1\\3', cert_not_after=None),
                login_delay=900,
                phase_durations=MappingProxyType({"quit": 1e-7, "top": 12345678.5}),
            ),
            None,
        ),
        view("no-dates", snapshot(known_messages=()), snapshot(known_messages=())),
    ]


def reference(own: CollectorRegistry, views: list[FrozenView], accept: str) -> bytes:
    encoder, _ = choose_encoder(accept)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector(own, views))
    return encoder(registry)


def own_registry() -> CollectorRegistry:
    own = CollectorRegistry(auto_describe=False)
    metrics = SelfMetrics(own)
    metrics.reload_successful.set(1)
    metrics.observe(snapshot())
    return own


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
def test_every_format_equals_the_collector_rendering_and_parses(accept: str) -> None:
    own, views = own_registry(), varied_views()
    encoder, content_type = choose_encoder(accept)
    body = render_scrape(own, views, encoder, MailboxExposition())
    assert body == reference(own, views, accept)
    text = body.decode()
    parse = parse_openmetrics if "openmetrics" in content_type else parse_text
    families = {f.name: f for f in parse(text)}
    up = {s.labels["mailbox"]: s.value for s in families["pop3_up"].samples}
    assert up == {"ok": 1, "down.after.ok": 0, "never-ok": 0, "odd_labels": 1, "no-dates": 1}
    caps = {s.labels["capability"] for s in families["pop3_capability_info"].samples}
    assert {'X-"QUOTED"', "BACK\\SLASH", "NEW\nLINE", "ÜTF-8"} <= caps


def test_a_name_escaping_it_does_not_write_is_left_to_the_library() -> None:
    accept = "application/openmetrics-text;version=1.0.0;escaping=dots"
    own, views = own_registry(), varied_views()
    encoder, _ = choose_encoder(accept)
    body = render_scrape(own, views, encoder, MailboxExposition())
    assert body == reference(own, views, accept)
    assert b"pop3__up" in body  # dots escaping doubles underscores


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, ""])
def test_no_mailboxes_equals_the_collector_rendering(accept: str) -> None:
    own = own_registry()
    encoder, _ = choose_encoder(accept)
    assert render_scrape(own, [], encoder, MailboxExposition()) == reference(own, [], accept)


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, ""])
def test_a_later_scrape_shows_what_changed_and_forgets_removed_mailboxes(accept: str) -> None:
    own, views = own_registry(), varied_views()
    exposition = MailboxExposition()
    encoder, _ = choose_encoder(accept)
    first = render_scrape(own, views, encoder, exposition)
    assert render_scrape(own, views, encoder, exposition) == first  # all from the cache

    newer = snapshot(messages=7, size_bytes=9000, started_at=NOW + timedelta(minutes=5))
    later = [
        replace(views[0], last=newer, last_success=newer, polls_total={"ok": 4}),
        replace(views[1], polls_total={"ok": 2, "in_use": 6}),  # same snapshots, new counter
        replace(views[3], interval=120.0),  # reloaded with a new interval
        *views[4:],  # never-ok removed by a reload
    ]
    body = render_scrape(own, later, encoder, exposition)
    assert body == reference(own, later, accept)
    text = body.decode()
    assert 'pop3_messages{mailbox="ok"} 7.0' in text
    assert 'pop3_polls_total{mailbox="down.after.ok",result="in_use"} 6.0' in text
    assert 'pop3_poll_interval_seconds{mailbox="not-polled-yet"} 120.0' in text
    assert "never-ok" not in text


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4, unique=True),
    value=st.floats(allow_nan=True, allow_infinity=True),
)
def test_any_label_text_and_value_is_written_like_prometheus_client(
    labels: list[str], value: float
) -> None:
    odd = snapshot(
        capabilities=frozenset(labels),
        tls=replace(TLS, version=labels[0]),
        phase_durations=MappingProxyType(dict.fromkeys(labels, value)),
    )
    own, views = own_registry(), [view("box", odd, odd)]
    for accept in (PROMETHEUS_ACCEPT, ""):
        encoder, _ = choose_encoder(accept)
        assert render_scrape(own, views, encoder, MailboxExposition()) == reference(
            own, views, accept
        )
