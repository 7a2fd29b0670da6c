"""This tree's core against another revision's, on the same Dovecot in the same run
(`scripts/bench --against REV`): a redesign may not make a poll dearer.

Each core runs in a process of its own (`tests.bench.drive`, the revision's `pop3probe` first on
PYTHONPATH): instructions by callgrind, and client CPU as the children's rusage, alternating
between the two cores so that the machine's load falls on both alike.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.bench.bench_core import drive_server_file, instructions
from tests.fixtures.dovecot import DovecotServer

Row = tuple[str, str, str, str]
ROOT = Path(__file__).parents[2]
CORE_PARENT = Path("custom_components/pop3_monitor")  # the folder that holds pop3probe


@contextmanager
def core_of(revision: str) -> Iterator[Path]:
    """A folder holding `revision`'s pop3probe, for PYTHONPATH."""
    with tempfile.TemporaryDirectory(prefix="pop3-versus-") as folder:
        archive = subprocess.run(
            ["git", "archive", revision, str(CORE_PARENT / "pop3probe")],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder) / CORE_PARENT


def _cpu(server_file: Path, client: str, count: int, core: Path) -> float:
    """Client CPU seconds of a process running `count` polls with the core in `core`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "tests.bench.drive", str(server_file), client, str(count)],
        cwd=ROOT, env=_env(core), check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _env(core: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(core), str(ROOT)])}


def bench_versus(
    dovecot: DovecotServer, revision: str, count: int = 40, rounds: int = 3
) -> list[Row]:
    """Medians over `rounds`; the order of the two cores alternates from round to round, since
    even the instruction count moves a little with timing (a reply that is not there yet costs
    one more turn of the event loop)."""
    server_file = drive_server_file(dovecot, "bench-versus")
    ours = ROOT / CORE_PARENT
    counting = shutil.which("valgrind") is not None
    rows: list[Row] = []
    with core_of(revision) as theirs:
        for client, label in (("ours", "full poll"), ("ours-steady", "steady-state poll")):
            cpu: dict[Path, list[float]] = {ours: [], theirs: []}
            counted: dict[Path, list[float]] = {ours: [], theirs: []}
            start_up = {
                core: instructions(server_file, client, 0, _env(core)) if counting else 0
                for core in (ours, theirs)
            }
            for turn in range(rounds):
                for core in (ours, theirs) if turn % 2 == 0 else (theirs, ours):
                    spent = _cpu(server_file, client, count, core)
                    cpu[core].append((spent - _cpu(server_file, client, 0, core)) / count)
                    if counting:
                        total = instructions(server_file, client, count, _env(core))
                        counted[core].append((total - start_up[core]) / count)
            now, then = (statistics.median(cpu[core]) for core in (ours, theirs))
            rows.append((
                f"Client CPU per {label}, this tree vs {revision}",
                f"{now * 1e3:.2f} ms",
                f"{revision} {then * 1e3:.2f} ms",
                f"{now / then:.2f}x",
            ))  # fmt: skip
            if counting:
                now, then = (statistics.median(counted[core]) for core in (ours, theirs))
                rows.append((
                    f"Instructions per {label} (callgrind), this tree vs {revision}",
                    f"{now / 1e6:.3f} M",
                    f"{revision} {then / 1e6:.3f} M",
                    f"{now / then:.3f}x",
                ))  # fmt: skip
    return rows
