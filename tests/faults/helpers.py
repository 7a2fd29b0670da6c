"""Shared by the robustness tests: the forms a secret travels in, and config builders."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from pop3probe import MailboxConfig, SecretSource, TlsMode
from tests.fixtures.dovecot import DovecotServer, DovecotUser

# A poll's whole-time bound in these tests: short, so stalls cost little; latency cells fit in it.
POLL_TIMEOUT = 1.5
# What a classified outcome may take beyond the poll timeout (closing, scheduling on 2 busy cores).
MARGIN = 1.0


def secret_forms(username: str, secret: str) -> list[bytes]:
    """The secret itself and every encoding the client sends it in (SASL PLAIN, LOGIN, XOAUTH2)."""
    return [
        secret.encode(),
        base64.b64encode(secret.encode()),
        base64.b64encode(f"\0{username}\0{secret}".encode()),
        base64.b64encode(f"user={username}\x01auth=Bearer {secret}\x01\x01".encode()),
    ]


def leaked_in(forms: Iterable[bytes], *texts: str | bytes) -> list[str]:
    """Which of `texts` (by index and excerpt) hold one of the secret's forms."""
    found = []
    for index, text in enumerate(texts):
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        for form in forms:
            if form in data:
                at = data.index(form)
                found.append(f"#{index}: ...{data[max(0, at - 40) : at + 10]!r}...")
    return found


def dovecot_config(
    dovecot: DovecotServer,
    user: DovecotUser,
    *,
    port: int,
    tls: bool,
    timeout: float = POLL_TIMEOUT,
) -> MailboxConfig:
    """POP3S with the test CA, or plain POP3 (Dovecot trusts 127.0.0.1 with plaintext auth)."""
    return MailboxConfig(
        host=dovecot.host,
        port=port,
        username=user.username,
        secret=SecretSource(value=user.password),
        ca_file=dovecot.ca_file,
        tls_mode=TlsMode.IMPLICIT if tls else TlsMode.PLAIN,
        allow_insecure_auth=not tls,
        timeout=timeout,
    )
