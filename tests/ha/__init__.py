"""Tests of the Home Assistant integration, in a real Home Assistant against the real Dovecot."""
