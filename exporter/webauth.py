"""Hashed passwords for the HTTP basic auth: the standard library's scrypt, no bcrypt dependency.

Stored form: ``scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>``, made by
``pop3-exporter hash-password``. Verification is deliberately slow, so successful checks are
cached in memory (keyed by a hash, never by the password) to keep scrapes cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_KEY_LENGTH = 32
_CACHE_LIMIT = 256


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_KEY_LENGTH)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(key)))


def is_supported_hash(stored: str) -> bool:
    return _parse(stored) is not None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not salt or not key:
        return None
    return n, r, p, salt, key


class PasswordVerifier:
    """Checks user/password pairs against stored hashes, remembering recent successes."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = dict(users)
        self._ok: set[bytes] = set()

    def verify(self, username: str, password: str) -> bool:
        stored = self._users.get(username)
        if stored is None:
            return False
        token = hashlib.sha256(f"{username}\0{password}\0{stored}".encode()).digest()
        if token in self._ok:
            return True
        parsed = _parse(stored)
        if parsed is None:
            return False
        n, r, p, salt, key = parsed
        candidate = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=2**27
        )
        if not hmac.compare_digest(candidate, key):
            return False
        if len(self._ok) >= _CACHE_LIMIT:
            self._ok.clear()
        self._ok.add(token)
        return True
