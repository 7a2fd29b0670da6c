"""Runs every benchmark and prints one table of figures with their baselines (scripts/bench)."""

from __future__ import annotations

import argparse
import platform
import sys

from tests.bench import bench_core


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    args = parser.parse_args()
    rows = []
    dovecot, root = bench_core.start_dovecot()
    try:
        rows.append(bench_core.bench_cpu_per_poll(dovecot, repeat=30 if args.quick else 200))
        rows += bench_core.bench_instructions(dovecot, 10 if args.quick else 40)
        rows.append(bench_core.bench_round_trips(dovecot, repeat=3 if args.quick else 5))
        rows += bench_core.bench_big_mailbox(dovecot, size=1000 if args.quick else 10_000)
    finally:
        bench_core.stop_dovecot(dovecot, root)
    print(
        f"\nmachine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("benchmark", "pop3-monitor", "baseline", "ratio")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
