"""Headless Chromium renders the status page: every mailbox and its state are on the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.exporter.helpers import REPO, fresh_source_address, mailbox_entry, running_exporter
from tests.fixtures.dovecot import DovecotServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts"


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


class Rows(HTMLParser):
    """Collects each table row's data-* attributes and its visible cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str], list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-mailbox" in values:
            self.rows.append((values, []))
        elif tag == "td" and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self.rows:
            self.rows[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="chromium missing: run scripts/setup-system"
)
def test_chromium_renders_every_mailbox_with_its_state(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    home, work = dovecot.add_user(), dovecot.add_user()
    dovecot.deliver(home)
    dovecot.deliver(home)
    config = {
        "mailboxes": [
            mailbox_entry("home", dovecot, home),
            mailbox_entry("work", dovecot, work),
            mailbox_entry(
                "typo",
                dovecot,
                work,
                password="wrong-" + work.password,
                source_address=fresh_source_address(),
            ),
        ]
    }
    with running_exporter(config, tmp_path / "exporter") as exporter:
        exporter.wait_for(
            lambda s: (
                {k for k in s if k.startswith("pop3_up{")}
                == {f'pop3_up{{mailbox="{n}"}}' for n in ("home", "work", "typo")}
            )
        )
        dom = chromium(exporter.url + "/", tmp_path / "profile-dom", "--dump-dom")
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "exporter-status-page.png"
        shot = chromium(
            exporter.url + "/",
            tmp_path / "profile-shot",
            f"--screenshot={screenshot}",
            "--window-size=1400,500",
        )
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Rows()
    parser.feed(dom.stdout)
    rows = {attrs["data-mailbox"]: (attrs["data-state"], cells) for attrs, cells in parser.rows}
    assert set(rows) == {"home", "work", "typo"}
    assert rows["home"][0] == "up"
    assert rows["work"][0] == "up"
    assert rows["typo"][0] == "down"
    home_cells, typo_cells = rows["home"][1], rows["typo"][1]
    assert home_cells[1] == "up"
    assert home_cells[2] == "2"  # messages
    assert typo_cells[1] == "down"
    assert any(cell.startswith("auth_failed") for cell in typo_cells)
    assert re.search(r"\d+ days", home_cells[8])  # certificate days left
    assert "<title>pop3-exporter: 2/3 up</title>" in dom.stdout
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 1000
