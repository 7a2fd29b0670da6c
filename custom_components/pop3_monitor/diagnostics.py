"""Diagnostics: how the mailbox is configured and how the last poll went, with no secrets.

The password, the sign-in tokens and the username are redacted, and so is any mention of the
username in server texts; message headers (senders, subjects) are personal and left out, only
their count is shown.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import Pop3ConfigEntry
from .pop3probe import PollSnapshot

TO_REDACT = {CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: Pop3ConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data
    username = str(entry.data.get(CONF_USERNAME, ""))

    def scrub(text: str) -> str:
        return text.replace(username, REDACTED) if username else text

    def poll(snapshot: PollSnapshot | None) -> dict[str, Any] | None:
        if snapshot is None:
            return None
        tls = snapshot.tls
        return {
            "started_at": snapshot.started_at.isoformat(),
            "duration": round(snapshot.duration, 3),
            "error": snapshot.error.value,
            "error_text": scrub(snapshot.error_text),
            "server_text": scrub(snapshot.server_text),
            "phase_durations": {k: round(v, 3) for k, v in snapshot.phase_durations.items()},
            "messages": snapshot.messages,
            "size_bytes": snapshot.size_bytes,
            "new_messages": len(snapshot.new_messages),
            "capabilities": sorted(snapshot.capabilities),
            "login_delay": snapshot.login_delay,
            "commands_sent": snapshot.commands_sent,
            "round_trips": snapshot.round_trips,
            "tls": None
            if tls is None
            else {
                "version": tls.version,
                "cipher": tls.cipher,
                "cert_not_after": tls.cert_not_after.isoformat() if tls.cert_not_after else None,
                "cert_subject": tls.cert_subject,
                "cert_issuer": tls.cert_issuer,
                "cert_sha256": tls.cert_sha256,
                "verified": tls.verified,
            },
        }

    return {
        "entry": {
            "data": async_redact_data(entry.data, TO_REDACT),
            "options": dict(entry.options),
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval_seconds": coordinator.update_interval.total_seconds()
            if coordinator.update_interval
            else None,
            "login_delay": coordinator.backoff.login_delay,
            "unread_mode": coordinator.unread_mode.value,
            "unread": coordinator.unread,
        },
        "tracker": {
            "known_messages": len(coordinator.tracker.known_messages),
            "acknowledged_mark": coordinator.acknowledged,
            "current_mark": coordinator.tracker.mark(),
        },
        "last_poll": poll(coordinator.last_poll),
        "last_successful_poll": poll(coordinator.data),
    }
