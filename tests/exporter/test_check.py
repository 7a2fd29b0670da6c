"""`pop3-exporter check`'s verdict in the Nagios plugin convention: the status line, perfdata,
and each threshold turning OK into WARNING or CRITICAL."""

from __future__ import annotations

import pytest

from pop3_exporter.check import Status, Thresholds, evaluate
from pop3probe import ErrorClass, PollSnapshot
from tests.exporter.snapshots import NOW, failed, snapshot


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
