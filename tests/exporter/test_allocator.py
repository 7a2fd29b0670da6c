"""The exporter's glibc mmap threshold: set by the exporter unless the operator set one."""

from __future__ import annotations

import platform

import pytest

from pop3_exporter.allocator import keep_mmap_threshold


@pytest.mark.parametrize(
    "variable",
    [("MALLOC_MMAP_THRESHOLD_", "65536"), ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")],
)
def test_an_operators_mmap_threshold_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, variable: tuple[str, str]
) -> None:
    monkeypatch.setenv(*variable)
    assert keep_mmap_threshold() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_threshold_is_set_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert keep_mmap_threshold() is True
