"""/metrics: the scheduler's state as `pop3_*` families, written by prometheus_client's encoders
through a custom Collector, or as text that reuses each unchanged mailbox's lines.

The values are proxied state from polls the scheduler already made, so nothing here contacts a
server. Nothing carries a timestamp: `pop3_last_poll_timestamp_seconds` tells how old each value
is.

Why two renderings: prometheus_client formats every sample afresh on every scrape (label names
validated and escaped, values formatted), which at ten thousand mailboxes costs seconds, while
between two scrapes only the few mailboxes polled in the meantime changed. `MailboxExposition`
formats a mailbox's lines once per snapshot and joins cached strings otherwise. Both renderings
take their samples from the same generators (`families`), and the headers come from
prometheus_client's own encoder (`textformat`), so the two are byte for byte the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from pop3probe import PollSnapshot

from . import __version__
from .families import (
    ALL_FAMILIES,
    SNAPSHOT_FAMILIES,
    CountedMailboxView,
    FamilySpec,
    FixedFamilies,
    counted_samples,
    mailbox_families,
    snapshot_samples,
)
from .textformat import (
    EOF,
    Encoder,
    Escapes,
    encoder_key,
    family_headers,
    is_openmetrics,
    sample_line,
)

__all__ = [
    "FrozenView",
    "MailboxExposition",
    "ScrapeCollector",
    "SelfMetrics",
    "freeze",
    "mailbox_families",
    "render_scrape",
]


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

    The copy is taken in the event loop (cheap); rendering can then run in a worker thread
    without blocking polls. Used for the formats `MailboxExposition` does not write itself.
    """

    def __init__(self, own: CollectorRegistry, views: Sequence[FrozenView]) -> None:
        self._own = own
        self._views = views

    def collect(self) -> Iterable[Metric]:
        yield from self._own.collect()
        yield from mailbox_families(self._views, counted=self._views)

    def describe(self) -> Iterable[Metric]:
        return []


@dataclass(frozen=True, slots=True)
class _Block:
    """One mailbox's sample lines, UTF-8 encoded, one bytes object per family, and the state
    they were made from."""

    view: FrozenView
    lines: tuple[bytes, ...]

    def matches(self, view: FrozenView) -> bool:
        # Snapshots are immutable: the same object means the same lines.
        made = self.view
        return (
            made.last is view.last
            and made.last_success is view.last_success
            and made.new_messages_total == view.new_messages_total
            and made.interval == view.interval
            and made.polls_total == view.polls_total
        )

    @classmethod
    def of(cls, view: FrozenView, escapes: Escapes) -> _Block:
        lines: dict[FamilySpec, list[str]] = {spec: [] for spec in ALL_FAMILIES}
        for spec, labels, value in itertools.chain(snapshot_samples(view), counted_samples(view)):
            lines[spec].append(sample_line(spec, labels, value, escapes))
        return cls(view, tuple("".join(family).encode("utf-8") for family in lines.values()))


class MailboxExposition:
    """Writes /metrics in the text formats, formatting a mailbox's lines only when its state
    changed since the previous scrape; the output equals `ScrapeCollector`'s, byte for byte.

    Scrapes may render in several worker threads at once: each render reads the previous caches
    and publishes new ones with a single assignment, so a race costs only a cache miss.
    """

    def __init__(self) -> None:
        self._blocks: dict[str, _Block] = {}
        self._headers: dict[Hashable, tuple[bytes, ...]] = {}  # by encoder_key

    def render(
        self, own: CollectorRegistry, views: Sequence[FrozenView], encoder: Encoder
    ) -> bytes:
        openmetrics = is_openmetrics(encoder)
        if openmetrics is None:  # a format or escaping we don't write: the library does it all
            registry = CollectorRegistry(auto_describe=False)
            registry.register(ScrapeCollector(own, views))
            return encoder(registry)
        headers = self._family_headers(encoder, openmetrics)
        blocks = self._blocks_for(views)
        own_text = encoder(own)
        # One join of every piece, straight into the body: the body is the only full copy of
        # the text a scrape makes (a join per family, then of the families, then an encode
        # made three, and on a heap that rarely hands memory back those peaks stay).
        parts = [own_text.removesuffix(EOF) if openmetrics else own_text]
        families = len(ALL_FAMILIES) if views else len(SNAPSHOT_FAMILIES)
        for index in range(families):
            parts.append(headers[index])
            parts.extend(b.lines[index] for b in blocks)
        if openmetrics:
            parts.append(EOF)
        return b"".join(parts)

    def _blocks_for(self, views: Sequence[FrozenView]) -> list[_Block]:
        previous, blocks = self._blocks, {}
        escapes = Escapes()
        for view in views:
            block = previous.get(view.name)
            if block is None or not block.matches(view):
                block = _Block.of(view, escapes)
            blocks[view.name] = block
        self._blocks = blocks
        return list(blocks.values())

    def _family_headers(self, encoder: Encoder, openmetrics: bool) -> tuple[bytes, ...]:
        key = encoder_key(encoder)
        headers = self._headers.get(key)
        if headers is None:
            headers = family_headers(encoder, openmetrics)
            self._headers = {**self._headers, key: headers}
        return headers


def render_scrape(
    own: CollectorRegistry,
    views: Sequence[FrozenView],
    encoder: Encoder,
    exposition: MailboxExposition | None = None,
) -> bytes:
    """The body of one /metrics answer. Pass the exporter's `exposition` to reuse its cache."""
    return (exposition or MailboxExposition()).render(own, views, encoder)


class SelfMetrics:
    """The exporter's own metrics: build info, reload status, poll duration histogram."""

    def __init__(self, registry: CollectorRegistry) -> None:
        build = InfoMetricFamily(
            "pop3_exporter_build",
            "pop3-exporter build information.",
            value={"version": __version__},
        )
        # Rendered as pop3_exporter_build_info{version="..."} 1.
        registry.register(FixedFamilies([build]))
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
