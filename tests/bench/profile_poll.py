"""Where a poll's client CPU goes: a full and a steady-state poll against a private Dovecot.

    .venv/bin/python -m tests.bench.profile_poll [POLLS]

Two views of the same sessions (POP3S, 5 messages waiting; "full" = a fresh tracker, so TLS,
login, STAT, LIST, 5 TOP, QUIT; "steady" = one tracker across polls, nothing new):

1. cProfile with a CPU clock (time.process_time), self time of every function put into one of
   the categories below. The profiler's own cost inflates the Python share, so its total is
   printed against the same polls without the profiler, and the split is to be read as a split.
2. callgrind (valgrind), user-space instructions of `tests/bench/drive.py` by shared object, the
   start-up (a run of 0 polls) subtracted: OpenSSL (libssl + libcrypto) against the interpreter
   and the rest. Not moved by the machine's load; blind to the kernel's part (syscalls).

Measurement only: nothing here changes how the core polls.
"""

from __future__ import annotations

import asyncio
import cProfile
import inspect
import json
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import trustme

import pop3probe.protocol
from pop3probe import MailboxConfig, MessageTracker, SecretSource, ServerHints, poll_mailbox
from tests.fixtures.dovecot import DovecotServer, running_dovecot

CATEGORIES = (
    "TLS inside OpenSSL (handshake, record layer)",
    "TLS facts (certificate parsing, cryptography)",
    "ssl module, Python side",
    "event loop and socket callbacks (asyncio, selectors, syscalls)",
    "parsing (replies, headers, commands)",
    "tracker",
    "snapshot building (models, dataclasses)",
    "poll and session logic",
    "other (stdlib: logging, enum, datetime, contextlib...)",
)
_PROTOCOL = Path(pop3probe.protocol.__file__).resolve()
_BUFFER_LINES = range(
    inspect.getsourcelines(pop3probe.protocol.ReplyBuffer)[1],
    inspect.getsourcelines(pop3probe.protocol.ReplyBuffer)[1]
    + len(inspect.getsourcelines(pop3probe.protocol.ReplyBuffer)[0]),
)


def category(filename: str, line: int, function: str) -> str:
    """The breakdown's category of one profiled function (cProfile's key)."""
    if filename == "~":  # a builtin: `function` names it, e.g. <method 'read' of '_ssl._SSLSocket'>
        if "_ssl." in function and ("getpeercert" in function or "cipher" in function):
            return CATEGORIES[1]
        if "_ssl." in function:
            return CATEGORIES[0]
        if "cryptography" in function or "x509" in function or "rust" in function:
            return CATEGORIES[1]
        if any(k in function for k in ("_socket.", "select.", "epoll", "_asyncio.", "socket")):
            return CATEGORIES[3]
        if any(k in function for k in ("decode", "split", "find", "startswith", "partition")):
            return CATEGORIES[4]
        return CATEGORIES[8]
    path = Path(filename)
    parts = path.parts
    if "cryptography" in parts:
        return CATEGORIES[1]
    if "pop3probe" in parts:
        name = path.stem
        if name == "tls":
            return CATEGORIES[1]
        if name == "protocol":
            return CATEGORIES[4] if line in _BUFFER_LINES else CATEGORIES[3]
        if name in ("replies", "headers", "commands", "sasl"):
            return CATEGORIES[4]
        if name in ("tracker", "hints"):
            return CATEGORIES[5]
        if name == "models" or function == "_snapshot":
            return CATEGORIES[6]
        return CATEGORIES[7]
    if filename.startswith("<"):  # dataclasses' generated __init__ and friends
        return CATEGORIES[6]
    if path.name == "ssl.py":
        return CATEGORIES[2]
    if "asyncio" in parts or path.name in ("selectors.py", "socket.py"):
        return CATEGORIES[3]
    if "email" in parts or path.name in ("base64.py", "_parseaddr.py"):
        return CATEGORIES[4]
    if path.name in ("dataclasses.py", "types.py"):
        return CATEGORIES[6]
    return CATEGORIES[8]


def _config(dovecot: DovecotServer, user: object) -> MailboxConfig:
    return MailboxConfig(
        host="127.0.0.1",
        port=dovecot.pop3s_port,
        username=user.username,  # type: ignore[attr-defined]
        secret=SecretSource(value=user.password),  # type: ignore[attr-defined]
        ca_file=dovecot.ca_file,
        timeout=60,
    )


def profile_polls(
    config: MailboxConfig, polls: int, *, steady: bool
) -> tuple[dict[str, float], float, float]:
    """(category -> share of profiled CPU, CPU per poll without, CPU per poll with the profiler)."""
    loop = asyncio.new_event_loop()
    tracker, hints = MessageTracker(), ServerHints()

    def run() -> None:
        for _ in range(polls):
            snapshot = loop.run_until_complete(
                poll_mailbox(config, tracker, hints=hints)
                if steady
                else poll_mailbox(config, MessageTracker())
            )
            assert snapshot.ok, snapshot.error_text

    # Warm-up; for the steady runs it is the tracker's first poll.
    loop.run_until_complete(poll_mailbox(config, tracker, hints=hints))
    start = time.process_time()
    run()
    plain = (time.process_time() - start) / polls
    profiler = cProfile.Profile(time.process_time)
    start = time.process_time()
    profiler.runcall(run)
    profiled = (time.process_time() - start) / polls
    loop.close()
    totals: dict[str, float] = defaultdict(float)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    others = []
    for (filename, line, function), (_, _, tottime, _, _) in stats.items():
        kind = category(filename, line, function)
        totals[kind] += tottime
        if kind == CATEGORIES[-1]:
            others.append((tottime, f"{Path(filename).name}:{function}"))
    if "-v" in sys.argv:
        print("largest in other:", sorted(others, reverse=True)[:12])
    whole = sum(totals.values())
    return {k: v / whole for k, v in totals.items()}, plain, profiled


# --- callgrind: instructions by shared object -----------------------------------------------


def _callgrind_objects(server_file: Path, client: str, count: int) -> dict[str, int]:
    """Self instructions per shared object of one drive.py process (callgrind's output parsed:
    `ob=` sets the object, cost lines after `calls=` are inclusive costs of a call, skipped)."""
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
                sys.executable, "-m", "tests.bench.drive", str(server_file), client, str(count),
            ],
            capture_output=True, check=True, cwd=Path(__file__).parents[2],
        )  # fmt: skip
        names: dict[str, str] = {}
        objects: dict[str, int] = defaultdict(int)
        current, skip = "?", False
        for raw in Path(out.name).read_text(errors="replace").splitlines():
            if raw.startswith(("ob=", "cob=")):
                match = re.match(r"c?ob=(\(\d+\))?\s*(.*)", raw)
                assert match
                ref, name = match.groups()
                if ref and name:
                    names[ref] = name
                if raw.startswith("ob="):
                    current = names.get(ref, name) if ref else name
            elif raw.startswith("calls="):
                skip = True
            elif raw[:1].isdigit() or raw[:1] in "+-*":
                fields = raw.split()
                if skip or len(fields) < 2:
                    skip = False
                    continue
                objects[current] += int(fields[-1])
    return objects


def _object_group(name: str) -> str:
    base = Path(name).name
    if base.startswith(("libssl", "libcrypto")):
        return "OpenSSL (libssl, libcrypto)"
    if base.startswith("_ssl"):
        return "_ssl module glue"
    if "rust" in base or "cryptography" in name:
        return "cryptography (x509 parsing)"
    if base.startswith(("libpython", "python")):
        return "CPython interpreter (all Python code)"
    if base.startswith(("libc.", "libc-", "ld-linux")):
        return "libc, loader"
    return "other native (" + base + ")"


def instructions_by_object(
    dovecot: DovecotServer, user: object, count: int
) -> dict[str, dict[str, float]]:
    server_file = dovecot.root / "profile-server.json"
    server_file.write_text(
        json.dumps(
            {
                "port": dovecot.pop3s_port,
                "user": user.username,  # type: ignore[attr-defined]
                "password": user.password,  # type: ignore[attr-defined]
                "ca": str(dovecot.ca_file),
            }
        )
    )
    result = {}
    for client in ("ours", "ours-steady", "poplib", "poplib-steady"):
        base = _callgrind_objects(server_file, client, 0)
        run = _callgrind_objects(server_file, client, count)
        groups: dict[str, float] = defaultdict(float)
        for name, value in run.items():
            groups[_object_group(name)] += (value - base.get(name, 0)) / count
        result[client] = dict(groups)
    return result


def main() -> int:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    polls = int(numbers[0]) if numbers else 200
    with running_dovecot(trustme.CA()) as dovecot:
        user = dovecot.add_user()
        for number in range(5):
            dovecot.deliver(user, subject=f"message {number}")
        config = _config(dovecot, user)
        print(f"cProfile (CPU clock), {polls} polls each, share of profiled client CPU:\n")
        full, full_plain, full_prof = profile_polls(config, polls, steady=False)
        steady, steady_plain, steady_prof = profile_polls(config, polls, steady=True)
        print("| where | full poll | steady-state poll |")
        print("|---|---|---|")
        for name in CATEGORIES:
            print(f"| {name} | {full.get(name, 0):.0%} | {steady.get(name, 0):.0%} |")
        print(
            f"| CPU per poll without / with the profiler | {full_plain * 1000:.2f} / "
            f"{full_prof * 1000:.2f} ms | {steady_plain * 1000:.2f} / {steady_prof * 1000:.2f} ms |"
        )
        if shutil.which("valgrind"):
            count = max(10, polls // 10)
            print(f"\ncallgrind, user-space instructions per poll by object ({count} polls):\n")
            objects = instructions_by_object(dovecot, user, count)
            clients = ("ours", "poplib", "ours-steady", "poplib-steady")
            for client in clients:  # objects of under 20,000 instructions a poll: one row
                small = [g for g, v in objects[client].items() if abs(v) < 20_000]
                objects[client]["other native"] = sum(objects[client].pop(g) for g in small)
            groups = sorted(
                {g for c in clients for g in objects[c]}, key=lambda g: -objects["ours"].get(g, 0)
            )
            print("| object | " + " | ".join(clients) + " |")
            print("|---|" + "---|" * len(clients))
            for group in groups:
                cells = [
                    f"{objects[c].get(group, 0) / 1e6:.2f} M "
                    f"({objects[c].get(group, 0) / sum(objects[c].values()):.0%})"
                    for c in clients
                ]
                print(f"| {group} | " + " | ".join(cells) + " |")
            totals = [f"{sum(objects[c].values()) / 1e6:.2f} M" for c in clients]
            print("| total | " + " | ".join(totals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
