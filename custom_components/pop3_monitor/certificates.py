"""A pasted CA certificate: checked when the form is submitted, used to verify the server.

A home server with its own CA is better served by trusting that CA for this mailbox than by
turning verification off.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


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
