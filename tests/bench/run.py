"""Runs every benchmark and prints one table of figures with their baselines (scripts/bench)."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import trustme

from tests.bench import (
    bench_core,
    bench_exporter,
    bench_matrix,
    bench_scale,
    bench_versus,
    bench_web,
)
from tests.fixtures.dovecot import running_dovecot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    parser.add_argument(
        "--big",
        action="store_true",
        help="the exporter's rounds at 1,000, 2,000, 5,000 and 10,000 mailboxes (about 15 more "
        "minutes); without it 1,000 and 2,000",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run this tree's core against the core of git revision REV (CPU and "
        "instructions per full and steady-state poll), e.g. before a redesign",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    rows = []
    if "core" in only:
        rows += _core(args.quick)
    if args.against:
        with running_dovecot(trustme.CA()) as dovecot:
            rows += bench_versus.bench_versus(dovecot, args.against, count=10 if args.quick else 40)
    if "matrix" in only:
        rows += bench_matrix.bench_matrix(repeat=10 if args.quick else 30)
    if "exporter" in only:
        rows += _exporter(args.quick)
    if "scale" in only:
        sizes = (200, 500) if args.quick else (1000, 2000)
        rows += bench_scale.bench_scale_curve((1000, 2000, 5000, 10_000) if args.big else sizes)
    if "web" in only:
        rows += _web(args.quick)
    print(
        f"\nmachine: {platform.machine()}, {bench_exporter.cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.platform()}"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("benchmark", "pop3-monitor", "baseline", "ratio")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


SECTIONS = ("core", "matrix", "exporter", "scale", "web")
Row = tuple[str, str, str, str]


def _core(quick: bool) -> list[Row]:
    rows = []
    with running_dovecot(trustme.CA()) as dovecot:
        rows.append(bench_core.bench_cpu_per_poll(dovecot, repeat=30 if quick else 200))
        rows += bench_core.bench_instructions(dovecot, 10 if quick else 40)
        rows.append(bench_core.bench_round_trips(dovecot, repeat=3 if quick else 5))
        rows += bench_core.bench_big_mailbox(dovecot, size=1000 if quick else 10_000)
    return rows


def _exporter(quick: bool) -> list[Row]:
    rows = []
    # The exporter's benchmarks get their own Dovecot: the scale run needs a thousand users.
    scale = 200 if quick else 1000
    with bench_exporter.exporter_dovecot(scale + 40) as dovecot:
        rows += bench_exporter.bench_scale(dovecot, mailboxes=scale, rounds=2 if quick else 4)
        rows += bench_exporter.bench_probe(dovecot, count=50 if quick else 300)
    rows += bench_exporter.bench_metrics_render(2000 if quick else 10_000, repeat=3 if quick else 5)
    return rows


def _web(quick: bool) -> list[Row]:
    rows = bench_web.bench_metrics_gzip(2000 if quick else 10_000, repeat=3 if quick else 5)
    for scheme in ("bcrypt", "scrypt"):
        rows += bench_web.bench_auth_under_attack(scheme, scrapes=20 if quick else 50)
    return rows


if __name__ == "__main__":
    sys.exit(main())
