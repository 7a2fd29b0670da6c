"""Dashboard and alerts against the real thing: Dovecot, the pop3-exporter process, Prometheus.

Prometheus runs with a configuration derived from dashboards/prometheus/prometheus.example.yml
(targets pointed at the test exporter, short intervals) and a copy of alerts.yml whose `for:`
durations are shortened. Every dashboard query must return data, and the faults a user cares
about (server down, password refused) must reach `firing` in Prometheus's own alert list.
"""

from __future__ import annotations

import copy
import secrets as secrets_module
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboards.dashboard_queries import load_dashboard, panel_queries, substitute
from tests.dashboards.stack import PrometheusAPI, prometheus_argv, running, wait_until
from tests.exporter.helpers import running_exporter
from tests.fixtures.dovecot import DovecotServer
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "dashboards" / "prometheus"

GOOD_MAILBOXES = ["work", "home"]
BAD_MAILBOX = "wrong-password"
ALL_MAILBOXES = [*GOOD_MAILBOXES, BAD_MAILBOX]

# Prometheus's first scrape comes about 6 s after it starts; the rest is polls and evaluations.
DATA_DEADLINE = 60.0
ALERT_DEADLINE = 45.0


@dataclass(frozen=True)
class Stack:
    prometheus: PrometheusAPI
    exporter_address: str
    logs: Path

    def diagnostics(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


def exporter_config(dovecot: DovecotServer, secrets: Path) -> dict[str, Any]:
    mailboxes: list[dict[str, Any]] = []
    for name in ALL_MAILBOXES:
        user = dovecot.add_user()
        password = user.password if name != BAD_MAILBOX else "not-the-password"
        password_file = secrets / f"{name}.password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        mailbox: dict[str, Any] = {
            "name": name,
            "username": user.username,
            "password_file": str(password_file),
        }
        if name == BAD_MAILBOX:
            # Dovecot penalises failed logins per source address (up to 15 s): use an address
            # of our own, away from 127.0.0.1 (the good mailboxes, every other test) and from
            # addresses other tests in this session may already have made slow.
            mailbox["source_address"] = f"127.{secrets_module.randbelow(200) + 30}.0.2"
            # and leave room for that penalty, so the poll fails as auth_failed, not timeout
            mailbox["interval"] = mailbox["timeout"] = "10s"
        else:
            dovecot.deliver(user, subject=f"first for {name}", date=1_700_000_000)
            dovecot.deliver(user, subject=f"second for {name}")
        mailboxes.append(mailbox)
    return {
        "max_concurrent_polls": 4,
        "defaults": {
            "host": dovecot.host,
            "port": dovecot.pop3s_port,
            "tls_mode": "implicit",
            "ca_file": str(dovecot.ca_file),
            "interval": "2s",
            "timeout": "2s",
        },
        "mailboxes": mailboxes,
    }


def prometheus_config(exporter_address: str, rules: Path) -> dict[str, Any]:
    """The example scrape config with its targets rewritten to the test exporter."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.example.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"pop3", "pop3-probe"}, "the example's jobs changed: update this test"
    jobs["pop3"]["scrape_interval"] = "1s"
    jobs["pop3"]["static_configs"] = [{"targets": [exporter_address]}]
    probe = jobs["pop3-probe"]
    # Each probe is a live login: every few seconds, and only for the mailboxes that can log in.
    probe["scrape_interval"] = "5s"
    probe["scrape_timeout"] = "4s"
    probe["static_configs"] = [{"targets": GOOD_MAILBOXES}]
    (address_rule,) = [
        r for r in probe["relabel_configs"] if r.get("target_label") == "__address__"
    ]
    address_rule["replacement"] = exporter_address
    return config


def shortened_rules() -> dict[str, Any]:
    """alerts.yml with every `for:` cut to 1 s; the expressions are untouched."""
    rules: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    )
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    return rules


@pytest.fixture(scope="module")
def stack(dovecot: DovecotServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    secrets = root / "secrets"
    secrets.mkdir()
    with running_exporter(exporter_config(dovecot, secrets), root, log_level="info") as exporter:
        exporter_address = f"127.0.0.1:{exporter.port}"
        rules = root / "alerts.yml"
        rules.write_text(yaml.safe_dump(shortened_rules()))
        prometheus_yml = root / "prometheus.yml"
        prometheus_yml.write_text(yaml.safe_dump(prometheus_config(exporter_address, rules)))
        prometheus_port = free_port()
        with running(
            prometheus_argv(prometheus_yml, root / "tsdb", prometheus_port),
            port=prometheus_port,
            log=root / "prometheus.log",
        ):
            prometheus = PrometheusAPI(prometheus_port)
            wait_until(prometheus.ready, timeout=DATA_DEADLINE, what="Prometheus to be ready")
            yield Stack(prometheus, exporter_address, root)


def test_both_example_scrape_jobs_reach_the_exporter(stack: Stack) -> None:
    expected = {("pop3", stack.exporter_address)} | {
        ("pop3-probe", name) for name in GOOD_MAILBOXES
    }

    def targets_up() -> bool:
        up = {(t["labels"]["job"], t["labels"]["instance"]) for t in stack.prometheus.targets_up()}
        return up == expected

    # the probe targets' instance label is the mailbox name, through the example's relabelling
    wait_until(targets_up, timeout=DATA_DEADLINE, what=f"targets {sorted(expected)} to be up")


def test_mailbox_variable_offers_every_configured_mailbox(stack: Stack) -> None:
    dashboard = load_dashboard()
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "mailbox"]
    assert variable["query"] == "label_values(pop3_up, mailbox)"
    offered = wait_until(
        lambda: (
            set(stack.prometheus.label_values("mailbox", "pop3_up")) >= set(ALL_MAILBOXES)
            and set(stack.prometheus.label_values("mailbox", "pop3_up"))
        ),
        timeout=DATA_DEADLINE,
        what="pop3_up for every mailbox",
    )
    assert offered == set(ALL_MAILBOXES)


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    queries = panel_queries(load_dashboard())
    assert len(queries) >= 15
    empty: list[str] = []

    def all_have_data() -> bool:
        empty.clear()
        for query in queries:
            expr = substitute(query.expr, ALL_MAILBOXES)
            if not stack.prometheus.query(expr):
                empty.append(f"panel {query.panel_title!r} ({query.ref_id}): {expr}")
        return not empty

    try:
        wait_until(all_have_data, timeout=DATA_DEADLINE, what="data in every panel", interval=1)
    except AssertionError:
        pytest.fail(
            "dashboard queries without data:\n" + "\n".join(empty) + "\n" + stack.diagnostics()
        )


def test_a_refused_password_fires_pop3_auth_failing_only(stack: Stack) -> None:
    try:
        firing = wait_until(
            lambda: stack.prometheus.firing("Pop3AuthFailing", mailbox=BAD_MAILBOX),
            timeout=ALERT_DEADLINE,
            what="Pop3AuthFailing to fire",
        )
    except AssertionError:
        pytest.fail(f"Pop3AuthFailing never fired\n{stack.prometheus.alerts()}")
    assert firing[0]["labels"]["severity"] == "warning"
    assert "refused" in firing[0]["annotations"]["summary"]
    # one alert per cause: the same outage is not also reported as a mailbox down
    assert not stack.prometheus.firing("Pop3MailboxDown", mailbox=BAD_MAILBOX)
    for name in GOOD_MAILBOXES:
        assert not stack.prometheus.firing("Pop3AuthFailing", mailbox=name)


def test_a_stopped_server_fires_pop3_mailbox_down_until_it_returns(
    stack: Stack, dovecot: DovecotServer
) -> None:
    # the good mailboxes must be healthy before the fault, or the test proves nothing
    wait_until(
        lambda: len(stack.prometheus.query('pop3_up{job="pop3",mailbox=~"work|home"} == 1')) == 2,
        timeout=DATA_DEADLINE,
        what="the good mailboxes to be up",
    )
    assert not stack.prometheus.firing("Pop3MailboxDown")
    dovecot.stop()
    try:
        try:
            wait_until(
                lambda: (
                    {
                        alert["labels"]["mailbox"]
                        for alert in stack.prometheus.firing("Pop3MailboxDown", job="pop3")
                    }
                    >= set(GOOD_MAILBOXES)
                ),
                timeout=ALERT_DEADLINE,
                what="Pop3MailboxDown to fire for every good mailbox",
            )
        except AssertionError:
            pytest.fail(f"Pop3MailboxDown never fired\n{stack.prometheus.alerts()}")
    finally:
        dovecot.start()
    wait_until(
        lambda: not stack.prometheus.firing("Pop3MailboxDown", mailbox="work"),
        timeout=ALERT_DEADLINE,
        what="Pop3MailboxDown to clear once Dovecot is back",
    )
