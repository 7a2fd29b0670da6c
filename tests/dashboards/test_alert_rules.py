"""The alert rules load in Prometheus and behave as their promtool unit tests say."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus"
ALERTS = RULES_DIR / "alerts.yml"
ALERTS_TEST = RULES_DIR / "alerts_test.yml"
EXAMPLE_CONFIG = RULES_DIR / "prometheus.example.yml"

EXPECTED_ALERTS = {
    "Pop3MailboxDown",
    "Pop3AuthFailing",
    "Pop3CertificateExpiringSoon",
    "Pop3CertificateInvalid",
    "Pop3PollsStale",
    "Pop3MailboxBacklog",
    "Pop3NoRecentMail",
    "Pop3ExporterReloadFailed",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run scripts/setup-system")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, object]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_example_prometheus_config_and_its_rule_file() -> None:
    result = promtool("check", "config", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_every_expected_alert_is_there_with_summary_description_and_runbook() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert {"summary", "description", "runbook"} <= annotations.keys(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}  # type: ignore[index]


def test_every_alert_has_a_firing_case_and_a_silent_case() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    assert fires == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS


def test_every_runbook_entry_exists_in_the_readme() -> None:
    readme = (RULES_DIR.parents[1] / "README.md").read_text()
    for rule in alert_rules():
        assert f"#### {rule['alert']}" in readme, f"README has no runbook entry for {rule['alert']}"
