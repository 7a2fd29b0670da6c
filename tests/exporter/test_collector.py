"""What /metrics says about a mailbox, from the polls it has seen: the last good counts kept
through a failure, counters before the first poll, certificate expiry despite a failed check,
LOGIN-DELAY. (Byte-for-byte exposition formats: test_metrics_exposition.py.)"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from pop3_exporter.collector import mailbox_families
from pop3_exporter.scheduler import MailboxState
from pop3probe import ErrorClass
from tests.exporter.helpers import parse_metrics
from tests.exporter.snapshots import NOW, TLS, failed, snapshot
from tests.exporter.states import state_for


class _Fixed(Collector):
    def __init__(self, states: list[MailboxState]) -> None:
        self._states = states

    def collect(self):  # type: ignore[no-untyped-def]
        return mailbox_families(self._states, counted=self._states)


def render(states: list[MailboxState]) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(states))
    return parse_metrics(generate_latest(registry).decode())


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
