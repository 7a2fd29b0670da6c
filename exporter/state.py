"""The state file: each mailbox's message tracker and counters, so a restart counts no mail twice.

Written atomically (temp file, fsync, rename, fsync of the directory): a crash leaves either the
old file or the new one, never half of one. A corrupt file is reported, kept aside for a human to
look at, and replaced; the exporter then starts as on a first run rather than refusing to start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedMailbox:
    identity: str  # username@host:port: state is never applied to a different account
    tracker: Mapping[str, Any]
    new_messages_total: int = 0
    polls_total: Mapping[str, int] = field(default_factory=dict)


def load_state(path: Path) -> dict[str, SavedMailbox]:
    """Saved mailboxes by name; empty when the file is missing or corrupt (then reported)."""
    _remove_leftover_temp_files(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        _LOGGER.warning("cannot read state file %s (%s): starting without it", path, err.strerror)
        return {}
    try:
        # json.loads takes bytes: invalid UTF-8 is a ValueError like any other corruption.
        return _decode(json.loads(data))
    except (ValueError, TypeError, KeyError) as err:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.replace(aside)
            kept = f"kept as {aside}"
        except OSError:
            kept = "could not be moved aside"
        _LOGGER.warning(
            "state file %s is corrupt (%s); it was %s and will be replaced. "
            "Messages already present are not reported as new.",
            path,
            err,
            kept,
        )
        return {}


def _remove_leftover_temp_files(path: Path) -> None:
    """Temp files of a write cut short by a crash (see write_entries). Only this process
    writes the state file, so at start-up any such file is a leftover."""
    for leftover in path.parent.glob(f".{path.name}.*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            _LOGGER.info("removed %s, left by an interrupted state write", leftover)


def _decode(document: Any) -> dict[str, SavedMailbox]:
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError("unknown format")
    mailboxes = document["mailboxes"]
    if not isinstance(mailboxes, dict):
        raise TypeError("mailboxes is not a mapping")
    result: dict[str, SavedMailbox] = {}
    for name, entry in mailboxes.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("tracker"), dict):
            raise TypeError(f"entry {name!r} is malformed")
        polls = entry.get("polls_total", {})
        result[str(name)] = SavedMailbox(
            identity=str(entry["identity"]),
            tracker=entry["tracker"],
            new_messages_total=int(entry.get("new_messages_total", 0)),
            polls_total={str(k): int(v) for k, v in polls.items()},
        )
    return result


def encode_entry(saved: SavedMailbox) -> str:
    """One mailbox's entry as the JSON text `save_state` writes for it. A caller that saves
    often can keep this text while the mailbox is unchanged (at a thousand mailboxes, encoding
    every tracker at every write cost more CPU than the polls it records)."""
    entry = {
        "identity": saved.identity,
        "tracker": saved.tracker,
        "new_messages_total": saved.new_messages_total,
        "polls_total": dict(saved.polls_total),
    }
    return json.dumps(entry, separators=(",", ":"), sort_keys=True)


def save_state(path: Path, mailboxes: Mapping[str, SavedMailbox]) -> None:
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    write_entries(path, {name: encode_entry(saved) for name, saved in mailboxes.items()})


def write_entries(path: Path, entries: Mapping[str, str]) -> None:
    """`save_state` for entries already encoded by `encode_entry`: the same bytes as one
    `json.dumps` of the whole document with sorted keys."""
    body = ",".join(f"{json.dumps(name)}:{entries[name]}" for name in sorted(entries))
    data = f'{{"mailboxes":{{{body}}},"version":{FORMAT_VERSION}}}'.encode()
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
