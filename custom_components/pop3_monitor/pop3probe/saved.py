"""The JSON form of what a front end saves per mailbox: its tracker and its server's hints.

Both go in one object, the hints under its "server" key, as they did when the tracker carried
them: state saved by earlier versions loads unchanged. The exporter keeps this object in its
state file, Home Assistant in the entry's store, so a restart reports no mail twice and does
not try again the batches a server was found to drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .hints import ServerHints
from .models import AuthMechanism, MessageInfo
from .positions import TrackedMessage
from .tracker import MessageTracker, TrackerState

STATE_VERSION = 1


def tracker_to_json(tracker: MessageTracker, hints: ServerHints | None = None) -> dict[str, object]:
    """The saved form of a mailbox's tracker and, when given, its server's hints."""
    state = tracker.state()
    saved: dict[str, object] = {
        "version": STATE_VERSION,
        "sequence": state.sequence,
        "baseline_time": state.baseline_time,
        "removed": list(state.removed),
        "unplaced": dict(state.unplaced),
        "server": _hints_to_json(hints or ServerHints()),
        "entries": [
            {
                "size": message.size,
                "pending": message.pending,
                "maybe_baseline": message.maybe_baseline,
                "arrived": message.arrived,
                "info": message.info.to_json() if message.info else None,
            }
            for message in state.messages
        ],
    }
    return saved


def tracker_from_json(data: Mapping[str, object]) -> MessageTracker:
    """Restore a tracker; raises ValueError on a state it cannot read."""
    try:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown tracker state version {data.get('version')!r}")
        baseline = data.get("baseline_time")
        unplaced = data.get("unplaced", {})
        if not isinstance(unplaced, Mapping):
            raise ValueError("malformed tracker state: unplaced")
        state = TrackerState(
            sequence=int(str(data["sequence"])),
            baseline_time=float(str(baseline)) if baseline is not None else None,
            removed=tuple(str(i) for i in _as_list(data.get("removed", []))),
            unplaced={str(k): int(str(v)) for k, v in unplaced.items()},
            messages=tuple(_message(raw) for raw in _as_list(data["entries"])),
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed tracker state: {err!r}") from None
    return MessageTracker.from_state(state)


def hints_from_json(data: Mapping[str, object]) -> ServerHints:
    """The server hints saved with a tracker; none (a fresh start) when there are none."""
    server = data.get("server")
    if isinstance(server, Mapping):
        login = server.get("login")
        return ServerHints(
            login=AuthMechanism(str(login)) if login else None,
            pipelining=bool(server.get("pipelining")),
            demotions=int(str(server.get("demotions", 0))),
            step_polls=int(str(server.get("step_polls", 0))),
        )
    if login := data.get("pipelined_login"):
        # Saved before batches ended at the login: the login is still worth batching with
        # CAPA; the transaction state's batching is learned afresh.
        return ServerHints(login=AuthMechanism(str(login)))
    return ServerHints()


def _hints_to_json(hints: ServerHints) -> dict[str, object]:
    return {
        "login": hints.login.value if hints.login else None,
        "pipelining": hints.pipelining,
        "demotions": hints.demotions,
        "step_polls": hints.step_polls,
    }


def _message(raw: object) -> TrackedMessage:
    if not isinstance(raw, Mapping):
        raise ValueError("tracker entry is not an object")
    info = raw.get("info")
    return TrackedMessage(
        size=int(str(raw["size"])),
        info=MessageInfo.from_json(info) if isinstance(info, Mapping) else None,
        pending=bool(raw.get("pending")),
        maybe_baseline=bool(raw.get("maybe_baseline")),
        arrived=int(str(raw.get("arrived", 0))),
    )


def _as_list(value: object) -> Iterable[object]:
    if not isinstance(value, list):
        raise ValueError("expected a list in tracker state")
    return value
