"""TLS contexts for the client and the facts users want about a server's certificate."""

from __future__ import annotations

import functools
import hashlib
import ssl
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from .models import TlsInfo


def client_context(*, verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    """Verification on by default; `verify=False` only when the configuration says so.

    Loading CA certificates is file I/O and costs milliseconds, so contexts are cached; a CA
    file that changes on disk (by mtime) gets a fresh context.
    """
    stamp = ca_file.stat().st_mtime_ns if ca_file and ca_file.exists() else None
    return _cached_context(verify, ca_file, stamp)


@functools.lru_cache(maxsize=64)
def _cached_context(verify: bool, ca_file: Path | None, _stamp: int | None) -> ssl.SSLContext:
    return build_client_context(verify=verify, ca_file=ca_file)


def build_client_context(
    *, verify: bool, ca_file: Path | None = None, ca_data: str | None = None
) -> ssl.SSLContext:
    """The one recipe for a client context, for both front ends: TLS 1.2 at least, and the
    system's trust store (plus SSL_CERT_FILE/SSL_CERT_DIR) unless a CA is given, as a file
    (`ca_file`) or as PEM text (`ca_data`); then that CA alone.

    Loading a trust store is file I/O: an event loop that must not block (Home Assistant's)
    calls this in an executor; `client_context` caches it for the others.
    """
    context = ssl.create_default_context(
        cafile=str(ca_file) if ca_file else None, cadata=ca_data or None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@functools.cache
def inspection_context() -> ssl.SSLContext:
    """For reading a certificate that failed verification: no trust, and no credentials follow."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()[:300]


def describe_session(ssl_object: ssl.SSLSocket | ssl.SSLObject, *, verified: bool) -> TlsInfo:
    """Version, cipher and the leaf certificate's facts of an established TLS session."""
    cipher = ssl_object.cipher()
    not_after, subject, issuer, fingerprint = _certificate_facts(
        ssl_object.getpeercert(binary_form=True)
    )
    return TlsInfo(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        cert_not_after=not_after,
        cert_subject=subject,
        cert_issuer=issuer,
        cert_sha256=fingerprint,
        verified=verified,
    )


@functools.lru_cache(maxsize=256)
def _certificate_facts(der: bytes | None) -> tuple[datetime | None, str, str, str]:
    """Expiry, subject, issuer, fingerprint; cached, as a server shows the same certificate
    at every poll."""
    if not der:
        return None, "", "", ""
    fingerprint = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, "", "", fingerprint  # an unparsable certificate still has a fingerprint
    return (
        cert.not_valid_after_utc.astimezone(UTC),
        _name(cert.subject),
        _name(cert.issuer),
        fingerprint,
    )
