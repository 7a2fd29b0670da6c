"""The configuration file: what a good one becomes, and the one-line error each bad one gives."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pop3_exporter.cli import main
from pop3_exporter.config import ConfigError, load_config, parse_config, parse_duration
from pop3_exporter.webauth import PasswordVerifier, hash_password
from pop3probe import AuthMechanism, TlsMode
from tests.exporter.helpers import REPO, exporter_command

GOOD = """
state_file: {tmp}/state.json
max_concurrent_polls: 4
max_connections_per_server: 1
defaults:
  host: mail.example.org
  interval: 2m
  timeout: 20s
mailboxes:
  - name: family
    username: fam
    password_file: {tmp}/pw
  - name: office
    host: pop.office.example
    tls_mode: starttls
    username: jo
    password_env: OFFICE_PW
    interval: 1h30m
    auth: login
"""


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    return path


def test_a_good_config_merges_defaults_into_each_mailbox(tmp_path: Path, secret_file: Path) -> None:
    config = parse_config(GOOD.format(tmp=tmp_path))
    family, office = config.mailboxes
    assert family.config.host == "mail.example.org"
    assert family.config.effective_port == 995
    assert family.interval == 120
    assert family.config.timeout == 20
    assert family.config.secret.read() == "s3cret"
    assert office.config.host == "pop.office.example"
    assert office.config.tls_mode is TlsMode.STARTTLS
    assert office.config.effective_port == 110
    assert office.config.auth is AuthMechanism.LOGIN
    assert office.interval == 5400
    assert office.config.secret.env == "OFFICE_PW"
    assert config.max_concurrent_polls == 4
    assert config.max_connections_per_server == 1
    assert config.state_file == tmp_path / "state.json"
    assert config.mailbox("office") is office
    assert "s3cret" not in repr(config)


def test_the_example_config_in_the_repository_is_valid(tmp_path: Path) -> None:
    text = (REPO / "examples" / "pop3-exporter.yml").read_text()
    raw = yaml.safe_load(text)
    # The example names production paths; point them at files that exist here.
    raw["state_file"] = str(tmp_path / "state.json")
    for entry in raw["mailboxes"]:
        if "password_file" in entry:
            entry["password_file"] = str(tmp_path / "pw")
    (tmp_path / "pw").write_text("x")
    config = parse_config(yaml.safe_dump(raw))
    assert [m.name for m in config.mailboxes] == ["family", "school", "office"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, port: 99999}",
            "config error: mailboxes[0].port: expected int between 1 and 65535",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p}\n"
            "  - {name: b, host: h, username: u, password: p}\n"
            "  - {name: c, host: h, username: u, password: p, port: '995'}",
            "config error: mailboxes[2].port: expected int between 1 and 65535",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, colour: red}",
            "config error: mailboxes[0].colour: unknown key",
        ),
        (
            "defaults: {intervall: 5m}\n"
            "mailboxes:\n  - {name: a, host: h, username: u, password: p}",
            "config error: defaults.intervall: unknown key",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p}\n"
            "  - {name: a, host: h, username: v, password: p}",
            "config error: mailboxes[1].name: duplicate mailbox name 'a' (also mailboxes[0])",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, password_env: PW}",
            "config error: mailboxes[0].password_env: conflicts with password: give only one "
            "of password, password_file, password_env",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u}",
            "config error: mailboxes[0].password: one of password, password_file, password_env "
            "is required",
        ),
        (
            "mailboxes:\n  - {name: a, username: u, password: p}",
            "config error: mailboxes[0].host: required key missing (here or in defaults)",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, tls_mode: ssl}",
            "config error: mailboxes[0].tls_mode: expected one of implicit, starttls, plain",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, interval: soon}",
            "config error: mailboxes[0].interval: expected a duration such as 30s, 5m or 1h",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, interval: 10s,"
            " timeout: 1m}",
            "config error: mailboxes[0].timeout: must not exceed interval (10s)",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, verify_tls: false,"
            " ca_file: /etc/hostname}",
            "config error: mailboxes[0].ca_file: conflicts with verify_tls: false",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, tls_mode: plain}",
            "config error: mailboxes[0].tls_mode: plain sends the password unencrypted; "
            "set allow_insecure_auth: true to allow it",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password_file: /nonexistent/pw}",
            "config error: mailboxes[0].password_file: file /nonexistent/pw does not exist",
        ),
        (
            "mailboxes:\n  - {name: 'has space', host: h, username: u, password: p}",
            "config error: mailboxes[0].name: expected 1-64 characters: letters, digits and "
            "_ . @ + - (not first)",
        ),
        (
            "mailboxes:\n  - {name: a, host: h, username: u, password: p, verify_tls: 'no'}",
            "config error: mailboxes[0].verify_tls: expected true or false",
        ),
        (
            "mailboxes: []",
            "config error: mailboxes: must not be empty",
        ),
        (
            "mailbox:\n  - {name: a, host: h, username: u, password: p}",
            "config error: mailbox: unknown key",
        ),
        (
            "mailboxes:\n  - just-a-name",
            "config error: mailboxes[0]: expected a mapping (one mailbox)",
        ),
        (
            "max_concurrent_polls: 0\nmailboxes:\n  - {name: a, host: h, username: u, password: p}",
            "config error: max_concurrent_polls: expected int between 1 and 1000",
        ),
        (
            "web: {basic_auth_users: {prom: plaintext}}\n"
            "mailboxes:\n  - {name: a, host: h, username: u, password: p}",
            "config error: web.basic_auth_users.prom: expected a hash made by "
            "'pop3-exporter hash-password' (bcrypt, or scrypt)",
        ),
        (
            "web: {tls_cert_file: /etc/hostname}\n"
            "mailboxes:\n  - {name: a, host: h, username: u, password: p}",
            "config error: web.tls_key_file: required together with tls_cert_file",
        ),
        (
            "mailboxes:\n  - {name: a, host: h\n",
            "config error: line 3, column 1: invalid YAML: "
            "expected ',' or '}', but got '<stream end>'",
        ),
        (
            "- just\n- a list\n",
            "config error: top level: expected a mapping with a 'mailboxes' list",
        ),
    ],
)
def test_each_bad_config_gives_one_line_naming_the_key_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str, expected: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(document)
    assert main(["--check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == expected + "\n"
    assert out == ""


def test_the_real_command_exits_2_with_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("mailboxes:\n  - {name: a, host: h, username: u, password: p, port: 0}\n")
    for args in (["--check-config", str(path)], ["--config", str(path)]):
        result = subprocess.run(
            [*exporter_command(), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert (
            result.stderr == "config error: mailboxes[0].port: expected int between 1 and 65535\n"
        )
        assert "Traceback" not in result.stdout + result.stderr


def test_check_config_says_ok_for_a_good_file(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "good.yml"
    path.write_text(GOOD.format(tmp=tmp_path))
    assert main(["--check-config", str(path)]) == 0
    assert capsys.readouterr().out == f"config ok: {path}: 2 mailboxes\n"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), (1.5, 1.5), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("2h", 7200.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_basic_auth_takes_hashes_from_hash_password(tmp_path: Path) -> None:
    document = {
        "web": {"basic_auth_users": {"prometheus": hash_password("pw")}},
        "mailboxes": [{"name": "a", "host": "h", "username": "u", "password": "p"}],
    }
    config = parse_config(yaml.safe_dump(document))
    assert set(config.web.basic_auth_users) == {"prometheus"}


def test_hash_password_prints_a_hash_the_config_accepts(tmp_path: Path) -> None:
    result = subprocess.run(
        [*exporter_command(), "hash-password"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    stored = result.stdout.strip()
    assert "correct horse" not in stored
    document = {
        "web": {"basic_auth_users": {"prometheus": stored}},
        "mailboxes": [{"name": "a", "host": "h", "username": "u", "password": "p"}],
    }
    config = parse_config(yaml.safe_dump(document))
    assert PasswordVerifier(dict(config.web.basic_auth_users)).verify("prometheus", "correct horse")
