"""The `pop3_*` metric families: what each is, and the samples one mailbox contributes to them.

Both /metrics renderings (prometheus_client's encoders over `mailbox_families`, and the cached
text of `collector.MailboxExposition`) and /probe take their samples from the generators here,
so a series can't appear in one and not the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pop3probe import ErrorClass, PollSnapshot

ALL_RESULTS = tuple(e.value for e in ErrorClass)
LAST = "Value from the last poll"
LAST_OK = "Value from the last successful poll"


class MetricType(Enum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True, kw_only=True, eq=False)  # eq=False: hashed by identity, cheap per sample
class FamilySpec:
    """One `pop3_*` family: its name, type, HELP text and label names (`mailbox` first)."""

    name: str
    type: MetricType = MetricType.GAUGE
    help: str
    labels: tuple[str, ...] = ("mailbox",)
    # The sample line as both text encoders write it, with the label values and value left
    # as format fields; made once here so rendering only fills it in.
    line_template: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The encoders print labels sorted by name (`capability` before `mailbox`).
        order = sorted((label, i) for i, label in enumerate(self.labels))
        labels = ",".join(f'{label}="{{{i}}}"' for label, i in order)
        suffix = "_total" if self.type is MetricType.COUNTER else ""
        template = f"{self.name}{suffix}{{{{{labels}}}}} {{value}}\n"
        object.__setattr__(self, "line_template", template)

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        kind = CounterMetricFamily if self.type is MetricType.COUNTER else GaugeMetricFamily
        return kind(self.name, self.help, labels=list(self.labels))


UP = FamilySpec(name="pop3_up", help=f"Whether the POP3 poll succeeded (1) or failed (0). {LAST}.")
MESSAGES = FamilySpec(
    name="pop3_messages", help=f"Messages waiting in the maildrop (STAT). {LAST_OK}."
)
SIZE = FamilySpec(
    name="pop3_mailbox_size_bytes", help=f"Size of the maildrop in bytes (STAT). {LAST_OK}."
)
OLDEST = FamilySpec(
    name="pop3_oldest_message_timestamp_seconds",
    help=f"Date header of the oldest waiting message, Unix time. {LAST_OK}.",
)
NEWEST = FamilySpec(
    name="pop3_newest_message_timestamp_seconds",
    help=f"Date header of the newest waiting message, Unix time. {LAST_OK}.",
)
PHASE_DURATION = FamilySpec(
    name="pop3_poll_duration_seconds",
    help=f"Time spent in each phase of the poll. {LAST}.",
    labels=("mailbox", "phase"),
)
LAST_POLL = FamilySpec(
    name="pop3_last_poll_timestamp_seconds", help="When the last poll finished, Unix time."
)
LAST_SUCCESS = FamilySpec(
    name="pop3_last_success_timestamp_seconds",
    help="When the last successful poll finished, Unix time.",
)
CERT_EXPIRY = FamilySpec(
    name="pop3_tls_cert_expiry_timestamp_seconds",
    help=f"NotAfter of the server's leaf certificate, Unix time. {LAST}.",
)
TLS_VERSION = FamilySpec(
    name="pop3_tls_version_info",
    help=f"TLS version of the session (value 1). {LAST}.",
    labels=("mailbox", "version"),
)
CAPABILITY = FamilySpec(
    name="pop3_capability_info",
    help=f"Capabilities the server listed in CAPA (value 1). {LAST}.",
    labels=("mailbox", "capability"),
)
LOGIN_DELAY = FamilySpec(
    name="pop3_login_delay_seconds",
    help=f"Minimum time between logins the server asks for (CAPA LOGIN-DELAY). {LAST}.",
)
POLLS = FamilySpec(
    name="pop3_polls",
    type=MetricType.COUNTER,
    help="Polls made since the exporter first saw this mailbox, by result (error class).",
    labels=("mailbox", "result"),
)
NEW_MESSAGES = FamilySpec(
    name="pop3_new_messages",
    type=MetricType.COUNTER,
    help="Messages that arrived since the exporter first saw this mailbox.",
)
INTERVAL = FamilySpec(
    name="pop3_poll_interval_seconds",
    help="Configured time between scheduled polls (backoff and LOGIN-DELAY can stretch it).",
)

# The order of the families in the exposition.
SNAPSHOT_FAMILIES = (
    UP,
    MESSAGES,
    SIZE,
    OLDEST,
    NEWEST,
    PHASE_DURATION,
    LAST_POLL,
    LAST_SUCCESS,
    CERT_EXPIRY,
    TLS_VERSION,
    CAPABILITY,
    LOGIN_DELAY,
)
COUNTED_FAMILIES = (POLLS, NEW_MESSAGES, INTERVAL)  # only where a scheduler keeps counters
ALL_FAMILIES = SNAPSHOT_FAMILIES + COUNTED_FAMILIES

Sample = tuple[FamilySpec, tuple[str, ...], float]  # (family, label values, value)


class MailboxView(Protocol):
    """What the families need of a mailbox (MailboxState has it; /probe builds one)."""

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


def snapshot_samples(view: MailboxView) -> Iterator[Sample]:
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
        yield PHASE_DURATION, (name, phase), seconds
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


def counted_samples(view: CountedMailboxView) -> Iterator[Sample]:
    """The scheduler's counters of one mailbox, and its configured interval."""
    # Every result from the start, at 0: increase() then sees a mailbox's first failure.
    results = dict.fromkeys(ALL_RESULTS, 0) | dict(view.polls_total)
    for result, count in results.items():
        yield POLLS, (view.name, result), float(count)
    yield NEW_MESSAGES, (view.name,), float(view.new_messages_total)
    yield INTERVAL, (view.name,), view.interval


def mailbox_families(
    views: Iterable[MailboxView], *, counted: Iterable[CountedMailboxView] = ()
) -> Iterator[Metric]:
    """The `pop3_*` families for the given mailboxes, in a stable order."""
    families = {spec: spec.family() for spec in SNAPSHOT_FAMILIES}
    for view in views:
        for spec, labels, value in snapshot_samples(view):
            families[spec].add_metric(labels, value)
    yield from families.values()

    counted = list(counted)
    if counted:
        extra = {spec: spec.family() for spec in COUNTED_FAMILIES}
        for view in counted:
            for spec, labels, value in counted_samples(view):
                extra[spec].add_metric(labels, value)
        yield from extra.values()


class FixedFamilies(Collector):
    """A collector of families built beforehand (build info, a probe's answer, a header)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> list[Metric]:
        return list(self._families)
