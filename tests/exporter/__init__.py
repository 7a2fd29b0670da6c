"""Tests of the Prometheus exporter: its parts in process, and the real process against the real
Dovecot, Prometheus and browsers."""
