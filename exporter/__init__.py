"""pop3-exporter: a Prometheus exporter over the read-only POP3 poller `pop3probe`."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("pop3-monitor")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

DEFAULT_PORT = 19110
"""Outside the 9100-9999 range (fully allocated) and the 10000+ continuation of Prometheus's
default port allocations list, so it clashes with no registered exporter."""

DEFAULT_LISTEN_ADDRESS = f":{DEFAULT_PORT}"
