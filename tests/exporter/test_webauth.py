"""Basic-auth passwords: hashes are salted, never hold the password, and verify."""

from __future__ import annotations

from pop3_exporter.webauth import PasswordVerifier, hash_password, is_supported_hash


def test_password_hashes_verify_and_are_salted() -> None:
    first, second = hash_password("hunter2"), hash_password("hunter2")
    assert first != second
    assert is_supported_hash(first)
    assert "hunter2" not in first
    verifier = PasswordVerifier({"prom": first})
    assert verifier.verify("prom", "hunter2")
    assert verifier.verify("prom", "hunter2")  # cached
    assert not verifier.verify("prom", "hunter3")
    assert not verifier.verify("other", "hunter2")
