"""The exporter process over its lifetime, against the real Dovecot: reload (HTTP and SIGHUP),
SIGTERM, the state file across restarts, shards, and HTTPS with basic auth."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import yaml

from tests.exporter.helpers import mailbox_entry, running_exporter, series, up
from tests.fixtures.dovecot import DovecotServer, DovecotUser


def test_reload_with_a_broken_file_keeps_the_old_config_polling(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    first, second = dovecot.add_user(), dovecot.add_user()
    config_path = tmp_path / "config.yml"
    config_path.write_text(yaml.safe_dump({"mailboxes": [mailbox_entry("first", dovecot, first)]}))
    with running_exporter(config_path, tmp_path) as exporter:
        exporter.wait_for_metric('pop3_polls_total{mailbox="first",result="ok"}', lambda v: v >= 1)

        config_path.write_text("mailboxes:\n  - name: first\n    port: 99999\n")
        reply = exporter.get("/-/reload", method="POST")
        assert reply.status == 500
        assert "mailboxes[0].port" in reply.text
        polls = exporter.metrics()['pop3_polls_total{mailbox="first",result="ok"}']
        samples = exporter.wait_for(
            lambda s: s['pop3_polls_total{mailbox="first",result="ok"}'] >= polls + 2
        )
        assert samples["pop3_exporter_config_last_reload_successful"] == 0
        assert samples['pop3_up{mailbox="first"}'] == 1

        exporter.send_signal(signal.SIGHUP)  # the same through SIGHUP: still refused
        exporter.wait_for(lambda _: exporter.log.count("reload failed") == 2)

        good = {
            "mailboxes": [
                mailbox_entry("first", dovecot, first),
                mailbox_entry("second", dovecot, second),
            ]
        }
        config_path.write_text(yaml.safe_dump(good))
        exporter.send_signal(signal.SIGHUP)
        samples = exporter.wait_for(lambda s: s.get('pop3_up{mailbox="second"}') == 1)
        assert samples["pop3_exporter_config_last_reload_successful"] == 1
        assert "configuration reloaded: 2 mailboxes" in exporter.log
        assert "mailboxes[0].port: expected int between 1 and 65535" in exporter.log


def test_sigterm_exits_promptly_saves_state_and_a_restart_counts_no_mail_twice(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    dovecot.deliver(mailbox, subject="there before the exporter")
    state_file = tmp_path / "state.json"
    config = {"state_file": str(state_file), "mailboxes": [mailbox_entry("m", dovecot, mailbox)]}
    new_total = 'pop3_new_messages_total{mailbox="m"}'
    ok_polls = 'pop3_polls_total{mailbox="m",result="ok"}'

    with running_exporter(config, tmp_path) as exporter:
        exporter.wait_for_metric(ok_polls, lambda v: v >= 1)
        dovecot.deliver(mailbox, subject="new while watched")
        exporter.wait_for_metric(new_total, lambda v: v == 1)
        exporter.send_signal(signal.SIGTERM)
        exporter.process.wait(timeout=5)  # the requirement: gone within 5 s
        assert exporter.process.returncode == 0
        log = exporter.log
    assert "Task was destroyed" not in log
    assert "Traceback" not in log
    saved = json.loads(state_file.read_text())
    assert saved["mailboxes"]["m"]["new_messages_total"] == 1

    with running_exporter(config, tmp_path) as exporter:
        samples = exporter.wait_for(lambda s: s.get(ok_polls, 0) >= saved_ok(saved) + 1)
        assert samples[new_total] == 1  # neither re-counted nor forgotten
        dovecot.deliver(mailbox, subject="new after the restart")
        exporter.wait_for_metric(new_total, lambda v: v == 2)


def saved_ok(saved: dict[str, Any]) -> int:
    return int(saved["mailboxes"]["m"]["polls_total"].get("ok", 0))


def test_two_shards_poll_disjoint_sets_that_cover_every_mailbox(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    names = [f"box{i}" for i in range(8)]
    config = {"mailboxes": [mailbox_entry(n, dovecot, dovecot.add_user()) for n in names]}
    config_path = tmp_path / "shared.yml"
    config_path.write_text(yaml.safe_dump(config))
    with (
        running_exporter(config_path, tmp_path, args=["--shard", "0/2"]) as zero,
        running_exporter(config_path, tmp_path, args=["--shard", "1/2"]) as one,
    ):
        sets: list[set[str]] = []
        for exporter in (zero, one):
            # Each exporter lists exactly its own mailboxes from the start (pop3_polls_total at 0).
            samples = exporter.wait_for(lambda s: bool(series(s, "pop3_polls_total")))
            mine = {k.split('"')[1] for k in series(samples, "pop3_polls_total")}
            exporter.wait_for(lambda s, mine=mine: set(up(s)) == mine)
            sets.append(mine)
        assert sets[0].isdisjoint(sets[1])
        assert sets[0] | sets[1] == set(names)
        assert sets[0]
        assert sets[1]
        assert "shard 0/2" in zero.get("/").text


def test_https_and_basic_auth_on_the_http_side(
    dovecot: DovecotServer, mailbox: DovecotUser, tmp_path: Path
) -> None:
    import base64

    import trustme

    from pop3_exporter.webauth import hash_password

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "web.pem", tmp_path / "web.key", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    config = {
        "web": {
            "tls_cert_file": str(cert),
            "tls_key_file": str(key),
            "basic_auth_users": {"prom": hash_password("scrape-pw")},
        },
        "mailboxes": [mailbox_entry("m", dovecot, mailbox)],
    }
    with running_exporter(config, tmp_path, tls_ca=ca_file) as exporter:
        assert exporter.url.startswith("https://")
        assert exporter.get("/metrics").status == 401
        token = base64.b64encode(b"prom:scrape-pw").decode()
        reply = exporter.get("/metrics", headers={"Authorization": f"Basic {token}"})
        assert reply.status == 200
        assert "pop3_exporter_build_info" in reply.text


def test_sigterm_during_a_hanging_probe_still_exits_within_5_s(tmp_path: Path) -> None:
    import threading

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(20)
        entry = {
            "name": "silent",
            "host": "127.0.0.1",
            "port": silent.getsockname()[1],
            "username": "nobody",
            "password": "irrelevant",
            "tls_mode": "plain",
            "allow_insecure_auth": True,
            "interval": 120,
            "timeout": 60,
        }
        with running_exporter({"mailboxes": [entry]}, tmp_path) as exporter:
            replies: list[object] = []
            probe = threading.Thread(
                target=lambda: replies.append(_safe_get(exporter, "/probe?mailbox=silent")),
                daemon=True,
            )
            probe.start()
            held = [silent.accept()[0]]  # the probe's connection: it now waits for a greeting
            exporter.send_signal(signal.SIGTERM)
            exporter.process.wait(timeout=5)
            assert exporter.process.returncode == 0
            for conn in held:
                conn.close()
            probe.join(timeout=10)
    assert "Task was destroyed" not in exporter.log
    assert "Traceback" not in exporter.log


def _safe_get(exporter: Any, path: str) -> object:
    try:
        return exporter.get(path, timeout=20)
    except OSError as err:  # the exporter went away mid-request: expected here
        return err
