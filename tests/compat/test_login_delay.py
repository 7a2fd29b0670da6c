"""Cyrus as Debian ships it (`popminpoll: 1`): LOGIN-DELAY 60 advertised and enforced.

A long-running exporter asked to poll every 2 s must wait the server's minute instead of
collecting `[LOGIN-DELAY]` refusals, and say so in `pop3_login_delay_seconds`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.exporter.helpers import running_exporter
from tests.fixtures.mailservers import running_server
from tests.fixtures.mailservers.base import IMPLICIT, MailServer


@pytest.fixture(scope="module")
def strict_cyrus(test_ca: trustme.CA) -> Iterator[MailServer]:
    with running_server("cyrus", test_ca, popminpoll=1) as server:
        yield server


def test_the_exporter_waits_out_the_servers_login_delay(
    strict_cyrus: MailServer, tmp_path: Path
) -> None:
    user = strict_cyrus.add_user()
    mailbox = {
        "name": "strict",
        "host": strict_cyrus.host,
        "port": strict_cyrus.endpoints[IMPLICIT],
        "username": user.username,
        "password": user.password,
        "ca_file": str(strict_cyrus.ca_file),
        "interval": 2,
        "timeout": 2,
    }
    with running_exporter({"mailboxes": [mailbox]}, tmp_path, log_level="info") as exporter:
        exporter.wait_for_metric('pop3_polls_total{mailbox="strict",result="ok"}', lambda v: v == 1)
        time.sleep(6)  # three intervals: without the floor, three refused polls by now
        samples = exporter.metrics()
        page = exporter.get("/").text
    assert samples['pop3_login_delay_seconds{mailbox="strict"}'] == 60
    polls = {k: v for k, v in samples.items() if k.startswith("pop3_polls_total") and v}
    assert polls == {'pop3_polls_total{mailbox="strict",result="ok"}': 1}
    found = re.search(r'data-mailbox="strict".*?<td>in (\d+) s</td>', page, re.S)
    assert found is not None
    assert int(found.group(1)) >= 50
