"""The TLS context a mailbox polls with, and a pasted CA certificate: checked when the form is
submitted, used to verify the server.

Without a pasted CA the integration uses Home Assistant's shared client contexts, as HA's own
integrations do: the same trust store as the rest of HA (certifi's, or the file REQUESTS_CA_BUNDLE
names), built once at HA's start. A home server with its own CA is better served by trusting that
CA for this mailbox than by turning verification off.
"""

from __future__ import annotations

import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from homeassistant.core import HomeAssistant
from homeassistant.util.ssl import client_context, client_context_no_verify

from .pop3probe import build_client_context


async def async_client_context(
    hass: HomeAssistant, verify_tls: bool, ca_pem: str | None
) -> ssl.SSLContext:
    """HA's shared context, or one trusting the pasted CA alone (the core's recipe: loading
    it is file and CPU work, so it runs in an executor)."""
    if ca_pem:
        return await hass.async_add_executor_job(_context_for_ca, verify_tls, ca_pem)
    return client_context() if verify_tls else client_context_no_verify()


def _context_for_ca(verify_tls: bool, ca_pem: str) -> ssl.SSLContext:
    return build_client_context(verify=verify_tls, ca_data=ca_pem)


class CaCertificateError(ValueError):
    """The text is not a usable CA certificate; `key` is the form error to show."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def normalized_ca_pem(text: str) -> str:
    """The CA certificate(s) in `text` as clean PEM, or CaCertificateError.

    Every certificate must be a CA (basic constraints CA:TRUE): a server's own certificate
    pasted here would be a common mistake, and OpenSSL would not use it as an anchor anyway.
    """
    try:
        certificates = x509.load_pem_x509_certificates(text.strip().encode())
    except ValueError:
        raise CaCertificateError("ca_cert_invalid") from None
    for certificate in certificates:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            raise CaCertificateError("ca_cert_not_ca") from None
        if not constraints.value.ca:
            raise CaCertificateError("ca_cert_not_ca")
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)
