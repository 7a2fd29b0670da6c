"""The exporter process end to end against the real Dovecot: /metrics, /probe, /, reload, SIGTERM,
state across restarts, shards, and that a password shows up nowhere."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.exporter.helpers import (
    exporter_command,
    fresh_source_address,
    mailbox_entry,
    parse_metrics,
    running_exporter,
    series,
    up,
)
from tests.fixtures.dovecot import DovecotServer, DovecotUser


def deliver(dovecot: DovecotServer, user: DovecotUser, **kwargs: Any) -> int:
    """Deliver a message; returns its size as STAT counts it (Maildir has LF, POP3 sends CRLF).

    Read at once: Dovecot moves the file from new/ to cur/ at the next login.
    """
    return len(dovecot.deliver(user, **kwargs).read_bytes().replace(b"\n", b"\r\n"))


def test_metrics_report_counts_sizes_and_a_wrong_password_without_harming_the_others(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    ana, ben, cid = (dovecot.add_user() for _ in range(3))
    ana_sizes = [deliver(dovecot, ana, subject=f"ana {i}") for i in range(2)]
    ben_sizes = [deliver(dovecot, ben, subject=f"ben {i}", body="x\n" * 200) for i in range(3)]
    config = {
        "mailboxes": [
            mailbox_entry("ana", dovecot, ana),
            mailbox_entry("ben", dovecot, ben),
            mailbox_entry("cid", dovecot, cid),
            mailbox_entry(
                "wrong",
                dovecot,
                ana,
                password="not-" + ana.password,
                source_address=fresh_source_address(),
            ),
        ]
    }
    with running_exporter(config, tmp_path) as exporter:
        samples = exporter.wait_for(lambda s: set(up(s)) == {"ana", "ben", "cid", "wrong"})
        samples = exporter.wait_for(
            lambda s: (
                s.get('pop3_messages{mailbox="ben"}') == 3
                and s.get('pop3_polls_total{mailbox="wrong",result="auth_failed"}', 0) >= 1
            )
        )
        assert samples['pop3_messages{mailbox="ana"}'] == 2
        assert samples['pop3_mailbox_size_bytes{mailbox="ana"}'] == sum(ana_sizes)
        assert samples['pop3_mailbox_size_bytes{mailbox="ben"}'] == sum(ben_sizes)
        assert samples['pop3_messages{mailbox="cid"}'] == 0
        assert up(samples) == {"ana": 1, "ben": 1, "cid": 1, "wrong": 0}
        assert 'pop3_messages{mailbox="wrong"}' not in samples  # never succeeded: no stale zero
        assert 'pop3_last_success_timestamp_seconds{mailbox="wrong"}' not in samples
        assert samples['pop3_polls_total{mailbox="ana",result="auth_failed"}'] == 0
        assert samples['pop3_exporter_build_info{version="0.1.0"}'] == 1
        assert samples["pop3_exporter_config_last_reload_successful"] == 1
        assert samples['pop3_tls_version_info{mailbox="ana",version="TLSv1.3"}'] == 1
        assert samples['pop3_capability_info{capability="TOP",mailbox="ana"}'] == 1
        assert samples['pop3_poll_interval_seconds{mailbox="ana"}'] == 2
        # Mail already there at the first poll is not "new"; mail that arrives later is.
        assert samples['pop3_new_messages_total{mailbox="ana"}'] == 0
        late = deliver(dovecot, cid, subject="arrived while watched")
        samples = exporter.wait_for(lambda s: s.get('pop3_messages{mailbox="cid"}') == 1)
        assert samples['pop3_new_messages_total{mailbox="cid"}'] == 1
        assert samples['pop3_mailbox_size_bytes{mailbox="cid"}'] == late
        assert samples['pop3_up{mailbox="wrong"}'] == 0


def test_metrics_help_says_values_come_from_the_last_poll(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    with running_exporter({"mailboxes": [mailbox_entry("m", dovecot, mailbox)]}, tmp_path) as ex:
        ex.wait_for_metric('pop3_up{mailbox="m"}')
        text = ex.get("/metrics").text
    helps = {line.split()[2]: line for line in text.splitlines() if line.startswith("# HELP pop3_")}
    for name in ("pop3_up", "pop3_messages", "pop3_mailbox_size_bytes", "pop3_tls_version_info"):
        assert "from the last" in helps[name], helps[name]
    # No sample carries a timestamp: exactly "name{labels} value" on every line.
    samples = [line for line in text.splitlines() if line.startswith("pop3_")]
    assert samples
    for line in samples:
        after_name = line.rsplit("}", 1)[1] if "}" in line else line.split(" ", 1)[1]
        assert len(after_name.split()) == 1, line


def test_scraping_metrics_never_logs_in(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    config = {"mailboxes": [mailbox_entry("m", dovecot, mailbox, interval=60, timeout=10)]}
    with running_exporter(config, tmp_path) as exporter:
        for _ in range(20):
            exporter.get("/metrics")
        polls = sum(series(exporter.metrics(), "pop3_polls_total").values())
    # At most the one scheduled poll (its start is jittered over the first minute); never 20.
    assert polls <= 1


def test_probe_answers_live_for_good_bad_and_unknown_mailboxes(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    dovecot.deliver(mailbox)
    config = {
        "mailboxes": [
            mailbox_entry("good", dovecot, mailbox, interval=3600, timeout=10),
            mailbox_entry(
                "bad",
                dovecot,
                mailbox,
                password="wrong-" + mailbox.password,
                source_address=fresh_source_address(),
                interval=3600,
                timeout=10,
            ),
        ]
    }
    with running_exporter(config, tmp_path) as exporter:
        good = parse_metrics(exporter.get("/probe?mailbox=good").text)
        assert good["probe_success"] == 1
        assert good['probe_pop3_error_info{error="ok"}'] == 1
        assert good['pop3_messages{mailbox="good"}'] == 1
        assert good["probe_ssl_earliest_cert_expiry"] > 0
        assert good['probe_tls_version_info{version="TLSv1.3"}'] == 1
        assert good["probe_duration_seconds"] > 0

        bad = parse_metrics(exporter.get("/probe?mailbox=bad").text)
        assert bad["probe_success"] == 0
        assert bad['probe_pop3_error_info{error="auth_failed"}'] == 1
        assert bad['pop3_up{mailbox="bad"}'] == 0

        unknown = exporter.get("/probe?mailbox=nobody")
        assert unknown.status == 400
        assert "unknown mailbox" in unknown.text
        assert exporter.get("/probe").status == 400
        # Nothing but a configured name: a host, port or credential in the URL is refused.
        smuggled = exporter.get(f"/probe?mailbox=good&host=127.0.0.1&port={dovecot.pop3s_port}")
        assert smuggled.status == 400


def test_probe_honours_the_scrape_timeout_header(dovecot: DovecotServer, tmp_path: Path) -> None:
    # A server that accepts connections and never says a word (the kernel queues the connect).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        entry = {
            "name": "silent",
            "host": "127.0.0.1",
            "port": port,
            "username": "nobody",
            "password": "irrelevant",
            "tls_mode": "plain",
            "allow_insecure_auth": True,
            "interval": 3600,
            "timeout": 60,
        }
        with running_exporter({"mailboxes": [entry]}, tmp_path) as exporter:
            # Without the header this probe would wait 60 s and the 15 s client deadline would
            # fail the test; with it, the poll gives up in time and says why.
            reply = exporter.get(
                "/probe?mailbox=silent",
                headers={"X-Prometheus-Scrape-Timeout-Seconds": "2.5"},
                timeout=15,
            )
    samples = parse_metrics(reply.text)
    assert samples["probe_success"] == 0
    assert samples['probe_pop3_error_info{error="timeout"}'] == 1


def test_a_known_password_appears_nowhere(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    dovecot.deliver(mailbox, subject="hello")
    wrong = "Wr0ng-" + mailbox.password
    config = {
        "mailboxes": [
            mailbox_entry("good", dovecot, mailbox),
            mailbox_entry(
                "bad", dovecot, mailbox, password=wrong, source_address=fresh_source_address()
            ),
        ]
    }
    with running_exporter(config, tmp_path, log_level="debug") as exporter:
        exporter.wait_for(
            lambda s: s.get('pop3_up{mailbox="good"}') == 1 and s.get('pop3_up{mailbox="bad"}') == 0
        )
        pages = {
            "/metrics": exporter.get("/metrics").text,
            "/": exporter.get("/").text,
            "/probe good debug": exporter.get("/probe?mailbox=good&debug=true").text,
            "/probe bad debug": exporter.get("/probe?mailbox=bad&debug=true").text,
        }
        assert "C: PASS" in pages["/probe good debug"] or "C: AUTH" in pages["/probe good debug"]
        assert "S: +OK" in pages["/probe good debug"]
        exporter.stop()
        pages["log (debug level)"] = exporter.log
    assert "DEBUG" in pages["log (debug level)"]
    for where, text in pages.items():
        for secret in (mailbox.password, wrong):
            assert secret not in text, f"password leaked in {where}"


def _check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*exporter_command(), "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_check_exits_0_with_perfdata_against_dovecot(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    dovecot.deliver(mailbox)
    url = f"pop3s://{mailbox.username}@127.0.0.1:{dovecot.pop3s_port}"
    result = _check(url, "--ca-file", str(dovecot.ca_file), env={"POP3_PASSWORD": mailbox.password})
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("POP3 OK - 127.0.0.1: 1 messages")
    assert "| messages=1;" in first
    assert " time=" in first
    assert " cert_days=" in first
    assert mailbox.password not in result.stdout + result.stderr

    config_path = tmp_path / "c.yml"
    config_path.write_text(yaml.safe_dump({"mailboxes": [mailbox_entry("work", dovecot, mailbox)]}))
    by_name = _check("work", "--config", str(config_path), "--messages-warning", "0")
    assert by_name.returncode == 1, by_name.stdout
    assert by_name.stdout.startswith("POP3 WARNING - work: 1 messages")


def test_check_exits_2_against_a_closed_port_and_3_on_bad_usage(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = _check(f"pop3s://ana@127.0.0.1:{port}", env={"POP3_PASSWORD": "secret"})
    assert closed.returncode == 2, closed.stdout
    assert closed.stdout.startswith("POP3 CRITICAL - 127.0.0.1: connect_refused")

    in_url = _check(f"pop3s://ana:secret@127.0.0.1:{port}")
    assert in_url.returncode == 3
    assert "not put the password in the URL" in in_url.stdout
    assert _check("nosuchbox").returncode == 3


def test_the_status_page_escapes_server_text_and_lists_every_mailbox(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    config = {
        "mailboxes": [
            mailbox_entry("good", dovecot, mailbox),
            mailbox_entry(
                "bad",
                dovecot,
                mailbox,
                password="nope-" + mailbox.password,
                source_address=fresh_source_address(),
            ),
        ]
    }
    with running_exporter(config, tmp_path) as exporter:
        exporter.wait_for(lambda s: set(up(s)) == {"good", "bad"})
        page = exporter.get("/")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'data-mailbox="good" data-state="up"' in page.text
    assert 'data-mailbox="bad" data-state="down"' in page.text
    assert "auth_failed" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    for external in ("<script", 'src="http', 'href="http', "@import"):  # no external assets
        assert external not in page.text
