"""The dashboard JSON is importable as it is: checked by structure, and every query by promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboards.dashboard_queries import (
    DASHBOARD,
    all_panels,
    load_dashboard,
    panel_queries,
    substitute,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# The exporter's metric names, as README.md lists them under "Metrics" (plus the exporter's own
# histogram and Prometheus's suffixes).
KNOWN_METRICS = {
    "pop3_up",
    "pop3_messages",
    "pop3_mailbox_size_bytes",
    "pop3_new_messages_total",
    "pop3_oldest_message_timestamp_seconds",
    "pop3_newest_message_timestamp_seconds",
    "pop3_poll_duration_seconds",
    "pop3_polls_total",
    "pop3_last_poll_timestamp_seconds",
    "pop3_last_success_timestamp_seconds",
    "pop3_tls_cert_expiry_timestamp_seconds",
    "pop3_tls_version_info",
    "pop3_capability_info",
    "pop3_login_delay_seconds",
    "pop3_exporter_build_info",
    "pop3_exporter_config_last_reload_successful",
    "pop3_exporter_poll_duration_seconds_bucket",
    "pop3_exporter_poll_duration_seconds_count",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_dashboard()


def test_committed_json_is_exactly_what_the_generator_builds() -> None:
    from dashboards.generate_dashboard import render

    assert DASHBOARD.read_text(encoding="utf-8") == render(), (
        "dashboards/grafana/pop3-monitor.json is out of date: "
        "run .venv/bin/python dashboards/generate_dashboard.py"
    )


def test_panel_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in all_panels(document)]
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    assert len(ids) == len(set(ids))


def test_every_target_has_a_unique_ref_id(document: dict[str, Any]) -> None:
    for panel in all_panels(document):
        ref_ids = [target.get("refId") for target in panel.get("targets", [])]
        assert all(ref_ids), f"panel {panel['title']!r} has a target without refId"
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_datasource_is_the_datasource_variable(document: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "current" not in variables["datasource"] or not variables["datasource"]["current"]
    for panel in all_panels(document):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert variables["mailbox"]["datasource"] == DATASOURCE
    # No data source uid anywhere but the variable reference.
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', DASHBOARD.read_text()))
    assert uids == {"${datasource}", document["uid"]}


def test_mailbox_variable_is_a_multi_select_from_pop3_up(document: dict[str, Any]) -> None:
    mailbox = next(v for v in document["templating"]["list"] if v["name"] == "mailbox")
    assert mailbox["type"] == "query"
    assert mailbox["query"] == "label_values(pop3_up, mailbox)"
    assert mailbox["multi"] is True
    assert mailbox["includeAll"] is True


def test_no_query_hard_codes_a_mailbox_instance_or_job(document: dict[str, Any]) -> None:
    for query in panel_queries(document):
        assert not re.search(
            r'\b(mailbox|instance|job)\s*(=|!=|=~|!~)\s*"(?!\$mailbox")', query.expr
        ), query
        uses_mailbox_series = re.search(r"\bpop3_(?!exporter_)\w+", query.expr)
        if uses_mailbox_series:
            assert 'mailbox=~"$mailbox"' in query.expr, f"{query} ignores the mailbox selection"


def test_rows_are_overview_mail_server_health_exporter(document: dict[str, Any]) -> None:
    rows = [panel["title"] for panel in document["panels"] if panel["type"] == "row"]
    assert rows == ["Overview", "Mail", "Server health", "Exporter"]


def test_every_panel_has_a_unit(document: dict[str, Any]) -> None:
    for panel in all_panels(document):
        if panel["type"] == "row":
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert isinstance(unit, str), f"panel {panel['title']!r} has no unit"
        assert unit.strip(), f"panel {panel['title']!r} has an empty unit"


def test_panels_use_only_the_exporter_s_metric_names(document: dict[str, Any]) -> None:
    used: set[str] = set()
    for query in panel_queries(document):
        used |= set(re.findall(r"\bpop3_\w+", query.expr))
    assert used <= KNOWN_METRICS, used - KNOWN_METRICS
    # what the dashboard's rows (Overview, Mail, Server health, Exporter) show at least
    assert {
        "pop3_up",
        "pop3_messages",
        "pop3_new_messages_total",
        "pop3_mailbox_size_bytes",
        "pop3_oldest_message_timestamp_seconds",
        "pop3_newest_message_timestamp_seconds",
        "pop3_poll_duration_seconds",
        "pop3_polls_total",
        "pop3_tls_cert_expiry_timestamp_seconds",
        "pop3_tls_version_info",
        "pop3_exporter_config_last_reload_successful",
        "pop3_exporter_build_info",
    } <= used


def test_panels_lie_on_the_grid_without_overlapping(document: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in document["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


def test_promtool_parses_every_query_with_variables_filled(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run scripts/setup-system")
    queries = panel_queries(load_dashboard())
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {
                        "record": f"dashboard:panel_{q.panel_id}_{q.ref_id.lower()}",
                        "expr": substitute(q.expr, ["work", "home"]),
                    }
                    for q in queries
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
