"""Builds dashboards/grafana/pop3-monitor.json with Grafana Labs' grafana-foundation-sdk.

The committed JSON is what users import; this script is how it is maintained. After an edit run
`.venv/bin/python dashboards/generate_dashboard.py`; tests/dashboards checks the two agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    common,
    dashboard,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphDrawStyle,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

OUTPUT = Path(__file__).resolve().parent / "grafana" / "pop3-monitor.json"
UID = "pop3-monitor"
GRAFANA_VERSION = "11.6.0"  # the SDK release pinned in pyproject targets this Grafana

# Every panel and query uses the data source the user picks in this variable: no uid is baked in.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
MAILBOX = 'mailbox=~"$mailbox"'


def query(expr: str, legend: str, ref_id: str = "A", *, instant: bool = False) -> Any:
    target = (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
    )
    return target.instant() if instant else target.range()


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def value_map(mapping: dict[str, tuple[str, str]]) -> ValueMap:
    return ValueMap(
        options={
            value: ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(mapping.items())
        }
    )


UP_DOWN = value_map({"0": ("down", "red"), "1": ("up", "green")})


def graph(title: str, description: str, unit: str, *targets: Any) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(12)
        .fill_opacity(10)
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def single(title: str, description: str, unit: str, target: Any) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(6)
        .graph_mode(BigValueGraphMode.NONE)
        .color_mode(BigValueColorMode.VALUE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(target)
    )


def overview_panels() -> list[Any]:
    return [
        statetimeline.Panel()
        .title("Mailbox up")
        .description("Whether each mailbox's last poll succeeded, over time.")
        .datasource(DATASOURCE)
        .unit("none")
        .mappings([UP_DOWN])
        .height(8)
        .span(12)
        .with_target(query(f"max by (mailbox) (pop3_up{{{MAILBOX}}})", "{{mailbox}}")),
        single(
            "Messages waiting",
            "Messages on the server (STAT) at the last successful poll.",
            "short",
            query(
                f"max by (mailbox) (pop3_messages{{{MAILBOX}}})",
                "{{mailbox}}",
                instant=True,
            ),
        ),
        graph(
            "New mail",
            "Messages arriving per hour, each counted once.",
            "suffix: msg/h",
            query(
                "max by (mailbox) "
                f"(rate(pop3_new_messages_total{{{MAILBOX}}}[$__rate_interval])) * 3600",
                "{{mailbox}}",
            ),
        ).span(6),
    ]


def mail_panels() -> list[Any]:
    return [
        graph(
            "Messages",
            "Messages waiting on the server (STAT), from the last successful poll.",
            "short",
            query(f"max by (mailbox) (pop3_messages{{{MAILBOX}}})", "{{mailbox}}"),
        ),
        graph(
            "Maildrop size",
            "Size of the maildrop (STAT), from the last successful poll.",
            "bytes",
            query(f"max by (mailbox) (pop3_mailbox_size_bytes{{{MAILBOX}}})", "{{mailbox}}"),
        ),
        graph(
            "Oldest message age",
            "Age of the oldest waiting message (by its Date header). Mail that nobody downloads.",
            "s",
            query(
                f"time() - min by (mailbox) (pop3_oldest_message_timestamp_seconds{{{MAILBOX}}})",
                "{{mailbox}}",
            ),
        ),
        graph(
            "Newest message age",
            "Age of the newest waiting message (by its Date header).",
            "s",
            query(
                f"time() - max by (mailbox) (pop3_newest_message_timestamp_seconds{{{MAILBOX}}})",
                "{{mailbox}}",
            ),
        ),
    ]


def server_panels() -> list[Any]:
    return [
        graph(
            "Poll duration by phase",
            "Time spent in each phase of the last poll: connect, TLS, greeting, CAPA, auth, "
            "STAT, LIST, TOP, QUIT.",
            "s",
            query(
                f"max by (mailbox, phase) (pop3_poll_duration_seconds{{{MAILBOX}}})",
                "{{mailbox}} {{phase}}",
            ),
        ),
        graph(
            "Polls by result",
            "Polls per rate interval by result (ok or the error class).",
            "short",
            query(
                "sum by (mailbox, result) "
                f"(increase(pop3_polls_total{{{MAILBOX}}}[$__rate_interval])) > 0",
                "{{mailbox}} {{result}}",
            ),
        ).draw_style(GraphDrawStyle.BARS),
        single(
            "Since last successful poll",
            "How old the numbers on this dashboard are.",
            "s",
            query(
                f"time() - max by (mailbox) (pop3_last_success_timestamp_seconds{{{MAILBOX}}})",
                "{{mailbox}}",
                instant=True,
            ),
        ).thresholds(thresholds((None, "green"), (900, "orange"), (3600, "red"))),
        single(
            "Certificate days left",
            "Days until the server's TLS certificate expires (read even when it fails "
            "verification).",
            "suffix: days",
            query(
                "min by (mailbox) "
                f"(pop3_tls_cert_expiry_timestamp_seconds{{{MAILBOX}}} - time()) / 86400",
                "{{mailbox}}",
                instant=True,
            ),
        )
        .decimals(1)
        .thresholds(thresholds((None, "red"), (7, "orange"), (14, "green"))),
        single(
            "TLS version",
            "How many of the selected mailboxes use each TLS version.",
            "short",
            query(
                "count by (version) "
                f"(max by (mailbox, version) (pop3_tls_version_info{{{MAILBOX}}}))",
                "{{version}}",
                instant=True,
            ),
        ).text_mode(BigValueTextMode.VALUE_AND_NAME),
        table.Panel()
        .title("Capabilities")
        .description("What each server listed in CAPA at the last poll.")
        .datasource(DATASOURCE)
        .unit("none")
        .mappings([value_map({"1": ("yes", "green")})])
        .height(8)
        .span(6)
        .with_target(
            query(
                f"max by (mailbox, capability) (pop3_capability_info{{{MAILBOX}}})",
                "",
                instant=True,
            ).format("table")
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="groupingToMatrix",
                options={
                    "columnField": "capability",
                    "rowField": "mailbox",
                    "valueField": "Value",
                    "emptyValue": "null",
                },
            )
        ),
    ]


def exporter_panels() -> list[Any]:
    bucket_rate = (
        "sum by (instance, le) (rate(pop3_exporter_poll_duration_seconds_bucket[$__rate_interval]))"
    )
    return [
        single(
            "Config reload",
            "Whether the exporter's last configuration (re)load succeeded.",
            "none",
            query(
                "max by (instance) (pop3_exporter_config_last_reload_successful)",
                "{{instance}}",
                instant=True,
            ),
        )
        .mappings([value_map({"0": ("failed", "red"), "1": ("ok", "green")})])
        .text_mode(BigValueTextMode.VALUE_AND_NAME)
        .span(4),
        single(
            "Build",
            "pop3-exporter version running on each instance.",
            "none",
            query(
                "max by (instance, version) (pop3_exporter_build_info)",
                "{{version}} on {{instance}}",
                instant=True,
            ),
        )
        .text_mode(BigValueTextMode.NAME)
        .span(4),
        single(
            "Exporter polls",
            "Scheduled polls per minute, all mailboxes together.",
            "cpm",
            query(
                "sum by (instance) "
                "(rate(pop3_exporter_poll_duration_seconds_count[$__rate_interval])) * 60",
                "{{instance}}",
            ),
        )
        .graph_mode(BigValueGraphMode.AREA)
        .span(4),
        graph(
            "Exporter poll duration",
            "Median and 90th percentile duration of the exporter's scheduled polls.",
            "s",
            query(f"histogram_quantile(0.5, {bucket_rate})", "p50 {{instance}}", "A"),
            query(f"histogram_quantile(0.9, {bucket_rate})", "p90 {{instance}}", "B"),
        ),
    ]


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict, panel ids numbered in layout order."""
    builder = (
        dashboard.Dashboard("POP3 mailboxes")
        .uid(UID)
        .description("Mailboxes, mail servers and the exporter, from pop3-exporter's metrics.")
        .tags(["pop3", "mail", "pop3-monitor"])
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("mailbox")
            .label("Mailbox")
            .datasource(DATASOURCE)
            .query("label_values(pop3_up, mailbox)")
            .multi(True)
            .include_all(True)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        )
    )
    sections = [
        ("Overview", overview_panels()),
        ("Mail", mail_panels()),
        ("Server health", server_panels()),
        ("Exporter", exporter_panels()),
    ]
    next_id = 1
    for title, panels in sections:
        builder = builder.with_row(dashboard.Row(title).id(next_id))
        next_id += 1
        for panel in panels:
            builder = builder.with_panel(panel.id(next_id))
            next_id += 1
    document: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    # Grafana adds its built-in annotation itself; an explicit empty list suits older versions.
    document["annotations"] = {"list": []}
    document["__requires"] = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *(
            {"type": "panel", "id": kind, "name": name, "version": ""}
            for kind, name in (
                ("stat", "Stat"),
                ("state-timeline", "State timeline"),
                ("table", "Table"),
                ("timeseries", "Time series"),
            )
        ),
    ]
    return document


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
