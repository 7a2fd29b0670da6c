"""Reading the dashboard JSON: its panels, its queries, and the queries with variables filled in
the way Grafana fills them (a multi-value variable in a regex becomes `(a|b)`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "grafana" / "pop3-monitor.json"

# Grafana's built-in interval variables, at values a short end-to-end run can fill.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str


def load_dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def all_panels(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested inside collapsed rows."""
    for panel in document["panels"]:
        yield panel
        yield from panel.get("panels", [])


def panel_queries(document: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(panel["id"], panel.get("title", ""), target.get("refId", ""), target["expr"])
        for panel in all_panels(document)
        for target in panel.get("targets", [])
    ]


def substitute(expr: str, mailboxes: list[str]) -> str:
    """The query as Grafana sends it with these mailboxes selected."""
    values = {
        **BUILTIN_VARIABLES,
        "mailbox": "(" + "|".join(_grafana_regex_escape(name) for name in mailboxes) + ")",
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", fill, expr)


def _grafana_regex_escape(value: str) -> str:
    """As Grafana escapes a variable value inside a PromQL regex string: a doubled backslash
    before each regex metacharacter (the PromQL string literal then yields one)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)
