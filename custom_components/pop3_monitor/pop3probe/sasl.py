"""Encoders for the authentication exchanges (RFC 1939 APOP, RFC 4616 PLAIN, RFC 5034, XOAUTH2).

Pure functions, so they can be fuzzed; their outputs are secrets and never logged.
"""

from __future__ import annotations

import base64
import hashlib


def _b64(data: str) -> str:
    return base64.b64encode(data.encode("utf-8")).decode("ascii")


def plain_initial_response(username: str, password: str) -> str:
    return _b64(f"\0{username}\0{password}")


def login_username(username: str) -> str:
    return _b64(username)


def login_password(password: str) -> str:
    return _b64(password)


def xoauth2_initial_response(username: str, token: str) -> str:
    return _b64(f"user={username}\x01auth=Bearer {token}\x01\x01")


def apop_digest(timestamp: bytes, password: str) -> str:
    # MD5 is what RFC 1939 prescribes for APOP; it is a protocol requirement, not our choice.
    return hashlib.md5(timestamp + password.encode("utf-8"), usedforsecurity=False).hexdigest()
