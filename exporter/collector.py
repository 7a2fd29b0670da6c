"""/metrics: a custom Collector that turns the latest poll snapshots into fresh metric families.

The values are proxied state from polls the scheduler already made, so `collect()` only reads;
it never contacts a server. Nothing here carries a timestamp: `pop3_last_poll_timestamp_seconds`
tells how old each value is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pop3probe import ErrorClass, PollSnapshot

from . import __version__

ALL_RESULTS = tuple(e.value for e in ErrorClass)
LAST = "Value from the last poll"
LAST_OK = "Value from the last successful poll"


class MailboxView(Protocol):
    """What the collector needs of a mailbox (MailboxState has it; /probe builds one)."""

    @property
    def name(self) -> str: ...
    @property
    def last(self) -> PollSnapshot | None: ...
    @property
    def last_success(self) -> PollSnapshot | None: ...


class CountedMailboxView(MailboxView, Protocol):
    @property
    def polls_total(self) -> Mapping[str, int]: ...
    @property
    def new_messages_total(self) -> int: ...
    @property
    def interval(self) -> float: ...


def _end_time(snapshot: PollSnapshot) -> float:
    return snapshot.started_at.timestamp() + snapshot.duration


def mailbox_families(
    views: Iterable[MailboxView], *, counted: Iterable[CountedMailboxView] = ()
) -> Iterator[Metric]:
    """The `pop3_*` families for the given mailboxes, in a stable order."""
    up = GaugeMetricFamily(
        "pop3_up", f"Whether the POP3 poll succeeded (1) or failed (0). {LAST}.", labels=["mailbox"]
    )
    messages = GaugeMetricFamily(
        "pop3_messages", f"Messages waiting in the maildrop (STAT). {LAST_OK}.", labels=["mailbox"]
    )
    size = GaugeMetricFamily(
        "pop3_mailbox_size_bytes",
        f"Size of the maildrop in bytes (STAT). {LAST_OK}.",
        labels=["mailbox"],
    )
    oldest = GaugeMetricFamily(
        "pop3_oldest_message_timestamp_seconds",
        f"Date header of the oldest waiting message, Unix time. {LAST_OK}.",
        labels=["mailbox"],
    )
    newest = GaugeMetricFamily(
        "pop3_newest_message_timestamp_seconds",
        f"Date header of the newest waiting message, Unix time. {LAST_OK}.",
        labels=["mailbox"],
    )
    phases = GaugeMetricFamily(
        "pop3_poll_duration_seconds",
        f"Time spent in each phase of the poll. {LAST}.",
        labels=["mailbox", "phase"],
    )
    last_poll = GaugeMetricFamily(
        "pop3_last_poll_timestamp_seconds",
        "When the last poll finished, Unix time.",
        labels=["mailbox"],
    )
    last_success = GaugeMetricFamily(
        "pop3_last_success_timestamp_seconds",
        "When the last successful poll finished, Unix time.",
        labels=["mailbox"],
    )
    cert_expiry = GaugeMetricFamily(
        "pop3_tls_cert_expiry_timestamp_seconds",
        f"NotAfter of the server's leaf certificate, Unix time. {LAST}.",
        labels=["mailbox"],
    )
    tls_version = GaugeMetricFamily(
        "pop3_tls_version_info",
        f"TLS version of the session (value 1). {LAST}.",
        labels=["mailbox", "version"],
    )
    capability = GaugeMetricFamily(
        "pop3_capability_info",
        f"Capabilities the server listed in CAPA (value 1). {LAST}.",
        labels=["mailbox", "capability"],
    )
    login_delay = GaugeMetricFamily(
        "pop3_login_delay_seconds",
        f"Minimum time between logins the server asks for (CAPA LOGIN-DELAY). {LAST}.",
        labels=["mailbox"],
    )
    for view in views:
        name = view.name
        last, good = view.last, view.last_success
        if last is None:
            continue
        up.add_metric([name], 1.0 if last.ok else 0.0)
        last_poll.add_metric([name], _end_time(last))
        for phase, seconds in last.phase_durations.items():
            phases.add_metric([name, phase], seconds)
        if good is not None:
            last_success.add_metric([name], _end_time(good))
            if good.messages is not None:
                messages.add_metric([name], float(good.messages))
            if good.size_bytes is not None:
                size.add_metric([name], float(good.size_bytes))
            if (date := good.oldest_message_date) is not None:
                oldest.add_metric([name], date.timestamp())
            if (date := good.newest_message_date) is not None:
                newest.add_metric([name], date.timestamp())
        # A failed poll still knows the certificate (a second, credential-free handshake reads
        # it when verification fails): prefer it, else fall back to the last good session.
        tls = last.tls or (good.tls if good else None)
        if tls is not None:
            if tls.cert_not_after is not None:
                cert_expiry.add_metric([name], tls.cert_not_after.timestamp())
            tls_version.add_metric([name, tls.version], 1.0)
        caps = last.capabilities or (good.capabilities if good else frozenset())
        for cap in sorted(caps):
            capability.add_metric([name, cap], 1.0)
        delay = last.login_delay
        if delay is None and good is not None:
            delay = good.login_delay
        if delay is not None:
            login_delay.add_metric([name], float(delay))
    yield from (up, messages, size, oldest, newest, phases, last_poll, last_success)
    yield from (cert_expiry, tls_version, capability, login_delay)

    counted = list(counted)
    if counted:
        polls = CounterMetricFamily(
            "pop3_polls",
            "Polls made since the exporter first saw this mailbox, by result (error class).",
            labels=["mailbox", "result"],
        )
        interval = GaugeMetricFamily(
            "pop3_poll_interval_seconds",
            "Configured time between scheduled polls (backoff and LOGIN-DELAY can stretch it).",
            labels=["mailbox"],
        )
        new = CounterMetricFamily(
            "pop3_new_messages",
            "Messages that arrived since the exporter first saw this mailbox.",
            labels=["mailbox"],
        )
        for view in counted:
            # Every result from the start, at 0: increase() then sees a mailbox's first failure.
            results = dict.fromkeys(ALL_RESULTS, 0) | dict(view.polls_total)
            for result, count in results.items():
                polls.add_metric([view.name, result], float(count))
            new.add_metric([view.name], float(view.new_messages_total))
            interval.add_metric([view.name], view.interval)
        yield polls
        yield new
        yield interval


@dataclass(frozen=True, slots=True)
class FrozenView:
    """An immutable copy of one mailbox's state, safe to render in another thread."""

    name: str
    last: PollSnapshot | None
    last_success: PollSnapshot | None
    polls_total: Mapping[str, int]
    new_messages_total: int
    interval: float


def freeze(views: Iterable[CountedMailboxView]) -> list[FrozenView]:
    """Copy what a scrape needs (snapshots are immutable already; counters are copied)."""
    return [
        FrozenView(
            name=v.name,
            last=v.last,
            last_success=v.last_success,
            polls_total=dict(v.polls_total),
            new_messages_total=v.new_messages_total,
            interval=v.interval,
        )
        for v in views
    ]


class ScrapeCollector(Collector):
    """One scrape: the exporter's own metrics plus `pop3_*` families built afresh from a frozen
    copy of the scheduler's state.

    The copy is taken in the event loop (cheap); rendering, which costs seconds at ten thousand
    mailboxes, can then run in a worker thread without blocking polls.
    """

    def __init__(self, own: CollectorRegistry, views: Sequence[FrozenView]) -> None:
        self._own = own
        self._views = views

    def collect(self) -> Iterable[Metric]:
        yield from self._own.collect()
        yield from mailbox_families(self._views, counted=self._views)

    def describe(self) -> Iterable[Metric]:
        return []


def render_scrape(
    own: CollectorRegistry,
    views: Sequence[FrozenView],
    encoder: Callable[[CollectorRegistry], bytes],
) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector(own, views))
    return encoder(registry)


class SelfMetrics:
    """The exporter's own metrics: build info, reload status, poll duration histogram."""

    def __init__(self, registry: CollectorRegistry) -> None:
        build = InfoMetricFamily(
            "pop3_exporter_build",
            "pop3-exporter build information.",
            value={"version": __version__},
        )
        # Rendered as pop3_exporter_build_info{version="..."} 1.
        registry.register(_Static([build]))
        self.reload_successful = Gauge(
            "pop3_exporter_config_last_reload_successful",
            "Whether the last configuration (re)load succeeded.",
            registry=registry,
        )
        self.reload_timestamp = Gauge(
            "pop3_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully, Unix time.",
            registry=registry,
        )
        self.poll_duration = Histogram(
            "pop3_exporter_poll_duration_seconds",
            "Duration of the exporter's scheduled polls, all mailboxes together.",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

    def observe(self, snapshot: PollSnapshot) -> None:
        self.poll_duration.observe(snapshot.duration)


class _Static(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return list(self._families)
