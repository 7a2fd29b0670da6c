"""The README's "run it" command: `scripts/demo` serves live metrics with no config at all."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.exporter.helpers import REPO, ExporterProcess, series
from tests.fixtures.ports import free_port

GOOD = ("alice", "support", "newsletters")


def test_scripts_demo_serves_live_metrics_with_growing_mail_and_one_wrong_password(
    tmp_path: Path,
) -> None:
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "demo"), "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    demo = ExporterProcess(process, port, log_path, Path("-"))
    try:
        deadline = time.monotonic() + 60  # a fresh clone first builds .venv
        while "Press Ctrl-C to stop." not in demo.log:
            assert process.poll() is None, demo.log
            assert time.monotonic() < deadline, demo.log
            time.sleep(0.1)
        assert f"Status page:  http://127.0.0.1:{port}/" in demo.log
        assert f"Metrics:      http://127.0.0.1:{port}/metrics" in demo.log

        samples = demo.wait_for(
            lambda s: (
                all(s.get(f'pop3_up{{mailbox="{n}"}}') == 1 for n in GOOD)
                and s.get('pop3_polls_total{mailbox="wrong-password",result="auth_failed"}', 0) >= 1
            )
        )
        assert samples['pop3_up{mailbox="wrong-password"}'] == 0
        assert all(samples[f'pop3_messages{{mailbox="{n}"}}'] >= 2 for n in GOOD)
        # Mail keeps arriving: some mailbox reports new messages within a few polls.
        samples = demo.wait_for(
            lambda s: sum(series(s, "pop3_new_messages_total").values()) > 0, timeout=40
        )
        (tmp_path / "metrics-sample.txt").write_text(demo.get("/metrics").text)
        page = demo.get("/")
        assert page.status == 200
        assert 'data-mailbox="wrong-password" data-state="down"' in page.text
        probe = demo.get("/probe?mailbox=alice&debug=true")
        assert "probe_success 1.0" in probe.text
        assert "C: STAT" in probe.text

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        demo.stop()
    assert "Traceback" not in demo.log
    assert "Task was destroyed" not in demo.log
