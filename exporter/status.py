"""The status page at /: one server-rendered HTML table, no scripts, no external assets.

It is for a human glancing at the exporter, so it says what a person needs (is each mailbox up,
how much mail, how old is the data, why did it fail) and reloads itself. Everything that came
from a server or the configuration is HTML-escaped: a hostile server's -ERR text is only text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from pop3probe import BUSY_ERRORS

from .mailbox import MailboxState

REFRESH_SECONDS = 10

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2327;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .3rem}
p.meta{color:#555;margin:.2rem 0 1rem}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.45rem .7rem;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600;border-radius:.25rem;padding:.1rem .45rem}
.state-up{background:#d8f5dd;color:#135e22}
.state-down{background:#fbdcdc;color:#8a1111}
.state-busy{background:#fff1c9;color:#6b4d00}
.state-pending{background:#e8e8e8;color:#444}
td.server{font-family:ui-monospace,monospace;font-size:.85rem;max-width:28rem;word-break:break-word}
a{color:#0b57d0}
"""


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _size(octets: int | None) -> str:
    if octets is None:
        return "-"
    value = float(octets)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{octets} B"


def mailbox_state(state: MailboxState) -> str:
    """'up', 'down', 'busy' (in use / login delay: not a failure) or 'pending' (not polled)."""
    if state.last is None:
        return "pending"
    if state.last.ok:
        return "up"
    if state.last.error in BUSY_ERRORS:
        return "busy"
    return "down"


def _row(state: MailboxState, now: float) -> str:
    last, good = state.last, state.last_success
    kind = mailbox_state(state)
    messages = str(good.messages) if good is not None and good.messages is not None else "-"
    size = _size(good.size_bytes if good is not None else None)
    if last is not None:
        finished = last.started_at.timestamp() + last.duration
        polled = f"{_age(now - finished)} ({last.duration:.2f} s)"
    else:
        polled = "not yet"
    upcoming = (
        f"in {max(0.0, state.next_poll_at - now):.0f} s"
        if state.next_poll_at is not None and not state.polling
        else ("now" if state.polling else "-")
    )
    error = last.error.value if last is not None and not last.ok else ""
    server_text = last.server_text if last is not None else ""
    reason = last.error_text if last is not None and not last.ok else ""
    tls = (last.tls if last is not None else None) or (good.tls if good is not None else None)
    cert = "-"
    if tls is not None and tls.cert_not_after is not None:
        days = (tls.cert_not_after.timestamp() - now) / 86400
        cert = f"{days:.0f} days"
    name = escape(state.name)
    probe_link = f"/probe?mailbox={escape(state.name, quote=True)}&amp;debug=true"
    return (
        f'<tr data-mailbox="{escape(state.name, quote=True)}" data-state="{kind}">'
        f'<td class="mailbox">{name}<br><small>{escape(state.settings.identity)}</small></td>'
        f'<td><span class="state state-{kind}">{kind}</span></td>'
        f'<td class="num messages">{messages}</td>'
        f'<td class="num">{size}</td>'
        f"<td>{polled}</td>"
        f"<td>{upcoming}</td>"
        f'<td class="error">{escape(error)}<br><small>{escape(reason)}</small></td>'
        f'<td class="server">{escape(server_text)}</td>'
        f'<td class="num cert">{cert}</td>'
        f'<td><a href="{probe_link}">probe</a></td>'
        "</tr>"
    )


def render_status(
    states: Sequence[MailboxState],
    *,
    version: str,
    configured: int,
    shard: str | None,
    reload_ok: bool,
    now: float | None = None,
) -> str:
    now = time.time() if now is None else now
    rows = "\n".join(_row(s, now) for s in sorted(states, key=lambda s: s.name))
    if not rows:
        rows = '<tr><td colspan="10">No mailboxes in this shard.</td></tr>'
    up = sum(1 for s in states if mailbox_state(s) == "up")
    shard_note = (
        f" · shard {escape(shard)}: {len(states)} of {configured} mailboxes" if shard else ""
    )
    reload_note = "" if reload_ok else " · <strong>last config reload failed</strong>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pop3-exporter: {up}/{len(states)} up</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>pop3-exporter</h1>
<p class="meta">version {escape(version)} · {up} of {len(states)} mailboxes up
{shard_note}{reload_note}
 · values come from the scheduled polls; this page refreshes every {REFRESH_SECONDS} s
 · <a href="/metrics">/metrics</a></p>
<table>
<thead><tr><th>Mailbox</th><th>State</th><th>Messages</th><th>Size</th><th>Last poll</th>
<th>Next poll</th><th>Error</th><th>Server text</th><th>Certificate</th><th></th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""
