"""The integration type-checks with `mypy --strict` against Home Assistant's own type hints.

This is what the quality scale's strict-typing rule claims; here it is checked on every run, on
each Home Assistant version the tests run on, for the Python that version runs on. mypy is told
which side of compat.py's version switch holds, so it checks exactly the branch HA takes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from custom_components.pop3_monitor.compat import HA_2026_9

ROOT = Path(__file__).parents[2]


def test_integration_passes_mypy_strict() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            f"--python-version={sys.version_info.major}.{sys.version_info.minor}",
            f"--always-{'true' if HA_2026_9 else 'false'}=HA_2026_9",
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
