"""A real Prometheus scrapes the exporter: /metrics directly, and /probe with the README's
relabelling pattern (mailbox names as targets)."""

from __future__ import annotations

from pathlib import Path

from tests.exporter.helpers import mailbox_entry, running_exporter, running_prometheus
from tests.fixtures.dovecot import DovecotServer


def test_prometheus_scrapes_pop3_messages_for_every_mailbox_and_probes_by_name(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    users = {name: dovecot.add_user() for name in ("home", "school", "office")}
    for count, user in enumerate(users.values(), start=1):
        for _ in range(count):
            dovecot.deliver(user)
    config = {"mailboxes": [mailbox_entry(n, dovecot, u) for n, u in users.items()]}
    with running_exporter(config, tmp_path / "exporter") as exporter:
        exporter.wait_for(lambda s: all(f'pop3_up{{mailbox="{n}"}}' in s for n in users))
        address = f"127.0.0.1:{exporter.port}"
        scrape_configs = [
            {"job_name": "pop3", "static_configs": [{"targets": [address]}]},
            {
                # As in the README: targets are mailbox names, the exporter is the address.
                "job_name": "pop3-probe",
                "metrics_path": "/probe",
                "scrape_interval": "5s",
                "scrape_timeout": "4s",
                "static_configs": [{"targets": ["home", "unknown-box"]}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_mailbox"},
                    {"source_labels": ["__param_mailbox"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": address},
                ],
            },
        ]
        with running_prometheus(scrape_configs, tmp_path / "prometheus") as prometheus:
            result = prometheus.wait_for_query(
                'pop3_messages{job="pop3"}', lambda r: len(r) == len(users)
            )
            counts = {item["metric"]["mailbox"]: float(item["value"][1]) for item in result}
            assert counts == {"home": 1, "school": 2, "office": 3}

            probed = prometheus.wait_for_query(
                'probe_success{job="pop3-probe"}', lambda r: len(r) == 1
            )
            assert probed[0]["metric"]["instance"] == "home"
            assert probed[0]["value"][1] == "1"
            # The unknown name gets 400 from the exporter: Prometheus marks that target down.
            down = prometheus.wait_for_query(
                'up{job="pop3-probe",instance="unknown-box"}', lambda r: len(r) == 1
            )
            assert down[0]["value"][1] == "0"
