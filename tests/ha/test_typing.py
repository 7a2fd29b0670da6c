"""The integration type-checks with `mypy --strict` against Home Assistant's own type hints.

This is what the quality scale's strict-typing rule claims; here it is checked on every run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_integration_passes_mypy_strict() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version=3.13",
            "--follow-imports=silent",
            "--no-incremental",
            "--config-file=/dev/null",
            "-p",
            "custom_components.pop3_monitor",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
