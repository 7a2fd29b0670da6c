"""/probe?mailbox=NAME: one live poll of a configured mailbox, answered blackbox_exporter style.

Only names from the configuration are accepted, never a host, port or credential from the URL,
so the endpoint cannot be turned against other servers or used to guess passwords. Each request
gets a fresh registry, so nothing of one probe leaks into the next or into /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from pop3probe import PollSnapshot, Transcript
from pop3probe.errors import ConfigurationError

from .config import MailboxSettings
from .families import FixedFamilies, mailbox_families
from .scheduler import Scheduler

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
TIMEOUT_OFFSET = 0.5  # leave Prometheus this much of its scrape timeout to receive the answer
MIN_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: int
    body: bytes
    content_type: str
    exposition: bool = False  # the body is metrics in the format of the encoder passed in


@dataclass(frozen=True, slots=True)
class _View:
    name: str
    last: PollSnapshot | None
    last_success: PollSnapshot | None


def scrape_timeout(headers: Mapping[str, str]) -> float | None:
    """Seconds this probe may take, from Prometheus's header, or None when there is none."""
    value = headers.get("X-Prometheus-Scrape-Timeout-Seconds")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(MIN_TIMEOUT, seconds - TIMEOUT_OFFSET) if seconds > 0 else None


def probe_families(snapshot: PollSnapshot, duration: float) -> list[Metric]:
    success = GaugeMetricFamily("probe_success", "Whether the probe succeeded.")
    success.add_metric([], 1.0 if snapshot.ok else 0.0)
    took = GaugeMetricFamily("probe_duration_seconds", "How long the probe took, in seconds.")
    took.add_metric([], duration)
    error = GaugeMetricFamily(
        "probe_pop3_error_info",
        "Why the poll failed, as an error class ('ok' on success). Value 1.",
        labels=["error"],
    )
    error.add_metric([snapshot.error.value], 1.0)
    families: list[Metric] = [success, took, error]
    if snapshot.tls is not None:
        if snapshot.tls.cert_not_after is not None:
            expiry = GaugeMetricFamily(
                "probe_ssl_earliest_cert_expiry",
                "Earliest NotAfter of the server's certificate chain, Unix time.",
            )
            expiry.add_metric([], snapshot.tls.cert_not_after.timestamp())
            families.append(expiry)
        version = GaugeMetricFamily(
            "probe_tls_version_info", "TLS version of the session. Value 1.", labels=["version"]
        )
        version.add_metric([snapshot.tls.version], 1.0)
        families.append(version)
    view = _View(snapshot.mailbox, snapshot, snapshot if snapshot.ok else None)
    families.extend(mailbox_families([view]))
    return families


async def run_probe(
    scheduler: Scheduler,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    encoder: Callable[[CollectorRegistry], bytes] = generate_latest,
    content_type: str = TEXT_FORMAT,
) -> ProbeResult:
    """Answer one /probe request; `encoder` and `content_type` as `choose_encoder` gives them."""
    allowed = {"mailbox", "debug"}
    extra = sorted(set(params) - allowed)
    if extra:
        return _text(400, f"unknown parameter(s): {', '.join(extra)}; only mailbox and debug\n")
    name = params.get("mailbox", "")
    if not name:
        return _text(400, "missing parameter: mailbox\n")
    settings = scheduler.config.mailbox(name)
    if settings is None:
        return _text(400, f"unknown mailbox {name!r}: only configured mailboxes can be probed\n")
    debug = params.get("debug", "").lower() in {"1", "true", "yes"}

    transcript = Transcript() if debug else None
    started = time.monotonic()
    snapshot = await scheduler.probe(
        settings, time_limit=scrape_timeout(headers), transcript=transcript
    )
    duration = time.monotonic() - started

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FixedFamilies(probe_families(snapshot, duration)))
    exposition = encoder(registry)
    if not debug:
        return ProbeResult(200, exposition, content_type, exposition=True)
    lines = [
        f"Probe of mailbox {name!r} ({settings.identity}): "
        + ("succeeded" if snapshot.ok else f"failed: {snapshot.error.value}"),
    ]
    if snapshot.error_text:
        lines.append(f"Reason: {snapshot.error_text}")
    if snapshot.server_text:
        lines.append(f"Server said: {snapshot.server_text}")
    lines += ["", "Session transcript:"]
    lines += list(transcript.lines) if transcript is not None else []
    lines += ["", "Metrics that would have been returned:", exposition.decode("utf-8")]
    return _text(200, _mask_secret(settings, "\n".join(lines)))


def _mask_secret(settings: MailboxSettings, text: str) -> str:
    """Belt and braces: the core masks secrets in transcripts; mask the raw value here too."""
    try:
        secret = settings.config.secret.read()
    except ConfigurationError:
        return text
    return text.replace(secret, "********") if len(secret) >= 3 else text


def _text(status: int, message: str) -> ProbeResult:
    return ProbeResult(status, message.encode("utf-8"), "text/plain; charset=utf-8")
