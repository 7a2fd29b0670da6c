"""/metrics: a custom Collector that turns the latest poll snapshots into fresh metric families,
and a text exposition of the same samples that reuses each unchanged mailbox's lines.

The values are proxied state from polls the scheduler already made, so `collect()` only reads;
it never contacts a server. Nothing here carries a timestamp: `pop3_last_poll_timestamp_seconds`
tells how old each value is.

Why two renderings: prometheus_client formats every sample afresh on every scrape (label names
validated and escaped, values formatted), which at ten thousand mailboxes costs seconds, while
between two scrapes only the few mailboxes polled in the meantime changed. `MailboxExposition`
formats a mailbox's lines once per snapshot and joins cached strings otherwise. Both renderings
take their samples from the same generators (`_snapshot_samples`, `_counted_samples`), and the
headers come from prometheus_client's own encoder, so the two are byte for byte the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import exposition as text_format
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from pop3probe import ErrorClass, PollSnapshot

from . import __version__

ALL_RESULTS = tuple(e.value for e in ErrorClass)
LAST = "Value from the last poll"
LAST_OK = "Value from the last successful poll"

# prometheus_client's value formatting (Go's), declared here since the library has no hints.
_float_to_go_string: Callable[[float], str] = floatToGoString


def _go_float(value: float) -> str:
    """floatToGoString's result; its common case (repr with at most six digits before the dot,
    so no exponent to rewrite) done inline, the rest (inf, nan, exponents) left to it."""
    text = repr(float(value))
    dot = text.find(".")
    if dot > 0 and (dot <= 6 or value <= 0) and "e" not in text:
        return text
    return _float_to_go_string(value)


Encoder = Callable[[CollectorRegistry], bytes]
Sample = tuple[int, tuple[str, ...], float]  # (family index, label values, value)


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


@dataclass(frozen=True)
class FamilySpec:
    """One `pop3_*` family: its name, type, HELP text and label names (`mailbox` first)."""

    name: str
    counter: bool
    documentation: str
    labels: tuple[str, ...]

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        kind = CounterMetricFamily if self.counter else GaugeMetricFamily
        return kind(self.name, self.documentation, labels=list(self.labels))

    @functools.cached_property
    def _template(self) -> str:
        # The encoders print labels sorted by name (`capability` before `mailbox`).
        order = sorted((label, i) for i, label in enumerate(self.labels))
        labels = ",".join(f'{label}="{{{i}}}"' for label, i in order)
        suffix = "_total" if self.counter else ""
        return f"{self.name}{suffix}{{{{{labels}}}}} {{value}}\n"

    def line(self, values: tuple[str, ...], value: float) -> str:
        """One sample line, as prometheus_client's text and OpenMetrics encoders write it."""
        return self._template.format(*map(_escape, values), value=_go_float(value))


SNAPSHOT_FAMILIES = (
    FamilySpec(
        "pop3_up",
        False,
        f"Whether the POP3 poll succeeded (1) or failed (0). {LAST}.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_messages", False, f"Messages waiting in the maildrop (STAT). {LAST_OK}.", ("mailbox",)
    ),
    FamilySpec(
        "pop3_mailbox_size_bytes",
        False,
        f"Size of the maildrop in bytes (STAT). {LAST_OK}.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_oldest_message_timestamp_seconds",
        False,
        f"Date header of the oldest waiting message, Unix time. {LAST_OK}.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_newest_message_timestamp_seconds",
        False,
        f"Date header of the newest waiting message, Unix time. {LAST_OK}.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_poll_duration_seconds",
        False,
        f"Time spent in each phase of the poll. {LAST}.",
        ("mailbox", "phase"),
    ),
    FamilySpec(
        "pop3_last_poll_timestamp_seconds",
        False,
        "When the last poll finished, Unix time.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_last_success_timestamp_seconds",
        False,
        "When the last successful poll finished, Unix time.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_tls_cert_expiry_timestamp_seconds",
        False,
        f"NotAfter of the server's leaf certificate, Unix time. {LAST}.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_tls_version_info",
        False,
        f"TLS version of the session (value 1). {LAST}.",
        ("mailbox", "version"),
    ),
    FamilySpec(
        "pop3_capability_info",
        False,
        f"Capabilities the server listed in CAPA (value 1). {LAST}.",
        ("mailbox", "capability"),
    ),
    FamilySpec(
        "pop3_login_delay_seconds",
        False,
        f"Minimum time between logins the server asks for (CAPA LOGIN-DELAY). {LAST}.",
        ("mailbox",),
    ),
)
(
    UP,
    MESSAGES,
    SIZE,
    OLDEST,
    NEWEST,
    PHASES,
    LAST_POLL,
    LAST_SUCCESS,
    CERT_EXPIRY,
    TLS_VERSION,
    CAPABILITY,
    LOGIN_DELAY,
) = range(len(SNAPSHOT_FAMILIES))

COUNTED_FAMILIES = (
    FamilySpec(
        "pop3_polls",
        True,
        "Polls made since the exporter first saw this mailbox, by result (error class).",
        ("mailbox", "result"),
    ),
    FamilySpec(
        "pop3_new_messages",
        True,
        "Messages that arrived since the exporter first saw this mailbox.",
        ("mailbox",),
    ),
    FamilySpec(
        "pop3_poll_interval_seconds",
        False,
        "Configured time between scheduled polls (backoff and LOGIN-DELAY can stretch it).",
        ("mailbox",),
    ),
)
POLLS, NEW, INTERVAL = range(3)


@functools.lru_cache(maxsize=4096)  # label values repeat: mailbox names, phases, capabilities
def _escape(value: str) -> str:
    """Label value escaping of both text formats."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _end_time(snapshot: PollSnapshot) -> float:
    return snapshot.started_at.timestamp() + snapshot.duration


def _snapshot_samples(view: MailboxView) -> Iterator[Sample]:
    """The samples of one mailbox in the snapshot families (what the last polls found)."""
    name = view.name
    last, good = view.last, view.last_success
    if last is None:
        return
    yield UP, (name,), 1.0 if last.ok else 0.0
    if good is not None:
        if good.messages is not None:
            yield MESSAGES, (name,), float(good.messages)
        if good.size_bytes is not None:
            yield SIZE, (name,), float(good.size_bytes)
        if (date := good.oldest_message_date) is not None:
            yield OLDEST, (name,), date.timestamp()
        if (date := good.newest_message_date) is not None:
            yield NEWEST, (name,), date.timestamp()
    for phase, seconds in last.phase_durations.items():
        yield PHASES, (name, phase), seconds
    yield LAST_POLL, (name,), _end_time(last)
    if good is not None:
        yield LAST_SUCCESS, (name,), _end_time(good)
    # A failed poll still knows the certificate (a second, credential-free handshake reads
    # it when verification fails): prefer it, else fall back to the last good session.
    tls = last.tls or (good.tls if good else None)
    if tls is not None:
        if tls.cert_not_after is not None:
            yield CERT_EXPIRY, (name,), tls.cert_not_after.timestamp()
        yield TLS_VERSION, (name, tls.version), 1.0
    caps = last.capabilities or (good.capabilities if good else frozenset())
    for cap in sorted(caps):
        yield CAPABILITY, (name, cap), 1.0
    delay = last.login_delay
    if delay is None and good is not None:
        delay = good.login_delay
    if delay is not None:
        yield LOGIN_DELAY, (name,), float(delay)


def _counted_samples(view: CountedMailboxView) -> Iterator[Sample]:
    """The scheduler's counters of one mailbox, and its configured interval."""
    # Every result from the start, at 0: increase() then sees a mailbox's first failure.
    results = dict.fromkeys(ALL_RESULTS, 0) | dict(view.polls_total)
    for result, count in results.items():
        yield POLLS, (view.name, result), float(count)
    yield NEW, (view.name,), float(view.new_messages_total)
    yield INTERVAL, (view.name,), view.interval


def mailbox_families(
    views: Iterable[MailboxView], *, counted: Iterable[CountedMailboxView] = ()
) -> Iterator[Metric]:
    """The `pop3_*` families for the given mailboxes, in a stable order."""
    families = [spec.family() for spec in SNAPSHOT_FAMILIES]
    for view in views:
        for index, labels, value in _snapshot_samples(view):
            families[index].add_metric(labels, value)
    yield from families

    counted = list(counted)
    if counted:
        extra = [spec.family() for spec in COUNTED_FAMILIES]
        for view in counted:
            for index, labels, value in _counted_samples(view):
                extra[index].add_metric(labels, value)
        yield from extra


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
    """One mailbox's sample lines, one string per family, and the state they were made from."""

    last: PollSnapshot | None
    last_success: PollSnapshot | None
    polls_total: Mapping[str, int]
    new_messages_total: int
    interval: float
    lines: tuple[str, ...]

    def matches(self, view: FrozenView) -> bool:
        # Snapshots are immutable: the same object means the same lines.
        return (
            self.last is view.last
            and self.last_success is view.last_success
            and self.new_messages_total == view.new_messages_total
            and self.interval == view.interval
            and self.polls_total == view.polls_total
        )


ALL_FAMILIES = SNAPSHOT_FAMILIES + COUNTED_FAMILIES
_FIRST_COUNTED = len(SNAPSHOT_FAMILIES)


def _block(view: FrozenView) -> _Block:
    lines: list[list[str]] = [[] for _ in ALL_FAMILIES]
    for index, labels, value in _snapshot_samples(view):
        lines[index].append(SNAPSHOT_FAMILIES[index].line(labels, value))
    for index, labels, value in _counted_samples(view):
        lines[_FIRST_COUNTED + index].append(COUNTED_FAMILIES[index].line(labels, value))
    return _Block(
        view.last,
        view.last_success,
        view.polls_total,
        view.new_messages_total,
        view.interval,
        tuple("".join(family) for family in lines),
    )


# Escapings under which prometheus_client leaves our (legacy-valid) names unchanged.
_PLAIN_NAME_ESCAPINGS = (openmetrics_format.UNDERSCORES, openmetrics_format.ALLOWUTF8)


def _is_openmetrics(encoder: Encoder) -> bool | None:
    """Whether the encoder writes OpenMetrics (else the 0.0.4 text format), or None when
    `MailboxExposition` cannot write its format.

    `choose_encoder` hands out the text encoder itself or a `functools.partial` of either
    encoder with the escaping (and OpenMetrics version) the scraper asked for.
    """
    func, keywords = encoder, {}
    if isinstance(encoder, functools.partial):
        func, keywords = encoder.func, dict(encoder.keywords)
    if keywords.get("escaping", openmetrics_format.UNDERSCORES) not in _PLAIN_NAME_ESCAPINGS:
        return None
    if func is text_format.generate_latest:
        return False
    if func is openmetrics_format.generate_latest:
        return True
    return None


_EOF = "# EOF\n"


def _headers(encoder: Encoder, openmetrics: bool) -> tuple[str, ...]:
    """`# HELP`/`# TYPE` lines of each family, written by the encoder itself (empty families)."""
    headers = []
    for spec in ALL_FAMILIES:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Static([spec.family()]))
        text = encoder(registry).decode("utf-8")
        headers.append(text.removesuffix(_EOF) if openmetrics else text)
    return tuple(headers)


class MailboxExposition:
    """Writes /metrics in the text formats, formatting a mailbox's lines only when its state
    changed since the previous scrape; the output equals `ScrapeCollector`'s, byte for byte.

    Scrapes may render in several worker threads at once: each render reads the previous cache
    and publishes a new one with a single assignment, so a race costs only a cache miss.
    """

    def __init__(self) -> None:
        self._blocks: dict[str, _Block] = {}

    def render(
        self, own: CollectorRegistry, views: Sequence[FrozenView], encoder: Encoder
    ) -> bytes:
        openmetrics = _is_openmetrics(encoder)
        if openmetrics is None:  # a format or escaping we don't write: the library does it all
            registry = CollectorRegistry(auto_describe=False)
            registry.register(ScrapeCollector(own, views))
            return encoder(registry)
        headers = _headers_for(encoder, openmetrics)
        previous, blocks = self._blocks, {}
        for view in views:
            block = previous.get(view.name)
            if block is None or not block.matches(view):
                block = _block(view)
            blocks[view.name] = block
        self._blocks = blocks
        own_text = encoder(own).decode("utf-8")
        parts = [own_text.removesuffix(_EOF) if openmetrics else own_text]
        families = len(ALL_FAMILIES) if views else len(SNAPSHOT_FAMILIES)
        columns = list(zip(*(b.lines for b in blocks.values()), strict=True)) if views else []
        for index in range(families):
            parts.append(headers[index])
            if columns:
                parts.append("".join(columns[index]))
        if openmetrics:
            parts.append(_EOF)
        return "".join(parts).encode("utf-8")


_header_cache: dict[tuple[object, ...], tuple[str, ...]] = {}


def _headers_for(encoder: Encoder, openmetrics: bool) -> tuple[str, ...]:
    # choose_encoder makes a new partial per request: key on what it holds, not on its identity.
    key: tuple[object, ...] = (encoder,)
    if isinstance(encoder, functools.partial):
        key = (encoder.func, tuple(sorted(encoder.keywords.items())))
    headers = _header_cache.get(key)
    if headers is None:
        headers = _header_cache[key] = _headers(encoder, openmetrics)
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
