"""The HTTP side in process: the web configuration file (exporter-toolkit's format) and its
errors, answers byte for byte like prometheus_client's own handler (formats and gzip), basic
auth that tells no users apart, and hash checks that run one at a time on their own thread."""

from __future__ import annotations

import asyncio
import base64
import gzip
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from pop3_exporter import webauth
from pop3_exporter.cli import main
from pop3_exporter.collector import ScrapeCollector
from pop3_exporter.config import (
    ConfigError,
    build_config,
    build_web_config,
    load_config,
    load_web_config,
)
from pop3_exporter.runtime import Exporter
from pop3_exporter.web import build_app
from pop3_exporter.webauth import (
    AuthGate,
    PasswordVerifier,
    bcrypt_cost,
    dummy_hash,
    hash_password,
    hash_scrypt_password,
)
from pop3probe import MailboxConfig, MessageTracker, PollSnapshot
from tests.exporter.snapshots import snapshot

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
ACCEPTS = [PROMETHEUS_ACCEPT, "", "text/plain;version=1.0.0;escaping=allow-utf-8"]
ENCODINGS = ["gzip", "", "deflate, gzip;q=0.5"]
MAILBOX = {"name": "work", "host": "h.example", "username": "u", "password": "p", "interval": 3600}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_web_config(directory: Path, document: dict[str, Any]) -> Path:
    path = directory / "web-config.yml"
    path.write_text(yaml.safe_dump(document))
    return path


# --- the web configuration file ---------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with server.crt, server.key and ca.crt (relative names, as operators write)."""
    directory = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    leaf.private_key_pem.write_to_path(str(directory / "server.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    return directory


def test_a_toolkit_web_config_loads_with_paths_relative_to_the_file(certificate: Path) -> None:
    path = write_web_config(
        certificate,
        {
            "tls_server_config": {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_ca_file": "ca.crt",
                "client_auth_type": "VerifyClientCertIfGiven",
                "min_version": "TLS13",
                "cipher_suites": [
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_AES_128_GCM_SHA256",
                ],
                "prefer_server_cipher_suites": False,
            },
            "http_server_config": {"http2": True, "headers": {"X-Frame-Options": "deny"}},
            "basic_auth_users": {"alice": hash_password("pw", cost=4)},
        },
    )
    web = load_web_config(path)
    assert web.tls is not None
    assert web.tls.cert_file == certificate / "server.crt"
    assert web.tls_context is not None
    assert web.tls_context.minimum_version.name == "TLSv1_3"
    assert web.tls_context.verify_mode.name == "CERT_OPTIONAL"
    assert web.headers == {"X-Frame-Options": "deny"}
    assert set(web.basic_auth_users) == {"alice"}


def test_an_empty_web_config_means_plain_http_without_auth(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    web = load_web_config(path)
    assert web.tls_context is None
    assert not web.basic_auth_users


@pytest.mark.parametrize(
    ("document", "key", "reason"),
    [
        ({"basic_auth_users": {"alice": "plain"}}, "basic_auth_users.alice", "bcrypt hash"),
        (
            {"basic_auth_users": {"alice": hash_scrypt_password("pw")}},
            "basic_auth_users.alice",
            "bcrypt hash",
        ),
        ({"tls_server_config": {"cert_file": "server.crt"}}, "key_file", "required"),
        (
            {"tls_server_config": {"cert_file": "nope.crt", "key_file": "server.key"}},
            "cert_file",
            "does not exist",
        ),
        (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "ca.crt"}},
            "tls_server_config.cert_file",
            "cannot use it with key_file",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAnyClientCert",
                }
            },
            "tls_server_config.client_auth_type",
            "cannot accept a client certificate without verifying",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_ca_file": "ca.crt",
                }
            },
            "tls_server_config.client_ca_file",
            "without client_auth_type",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "min_version": "TLS13",
                    "max_version": "TLS12",
                }
            },
            "tls_server_config.min_version",
            "above max_version",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "max_version": "SSL3",
                }
            },
            "tls_server_config.max_version",
            "expected one of TLS10",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"],
                }
            },
            "tls_server_config.cipher_suites[0]",
            "unknown cipher suite",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "curve_preferences": ["X25519"],
                }
            },
            "tls_server_config.curve_preferences",
            "Python's ssl cannot set a list of curves",
        ),
        (
            {
                "tls_server_config": {
                    "cert": "-----BEGIN CERTIFICATE-----",
                    "key_file": "server.key",
                }
            },
            "tls_server_config.cert",
            "give cert_file",
        ),
        (
            {"http_server_config": {"headers": {"Server": "pop3"}}},
            "http_server_config.headers.Server",
            "cannot be configured",
        ),
        (
            {"http_server_config": {"headers": {"X-Frame-Options": "allow"}}},
            "http_server_config.headers.X-Frame-Options",
            "expected one of deny, sameorigin",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "min_version": ["TLS12"],
                }
            },
            "tls_server_config.min_version",
            "expected one of TLS10",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": {"a": 1},
                }
            },
            "tls_server_config.client_auth_type",
            "expected one of NoClientCert",
        ),
        ({"tls_server_config": ["cert_file"]}, "tls_server_config", "expected a mapping"),
        ({"basic_auth_users": ["alice"]}, "basic_auth_users", "expected a mapping"),
        ({"tls_server_configs": {}}, "tls_server_configs", "unknown key"),
        ({"rate_limit": {"interval": "1s", "burst": 5}}, "rate_limit", "not supported"),
    ],
)
def test_a_bad_web_config_names_the_key_and_the_reason(
    certificate: Path, document: dict[str, Any], key: str, reason: str
) -> None:
    path = write_web_config(certificate, document)
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    message = str(caught.value)
    assert message.startswith(f"config error: web config {path}: ")
    assert key in message
    assert reason in message
    assert "\n" not in message
    assert "-----BEGIN" not in message  # nothing of a key or a hash is echoed
    users = document.get("basic_auth_users")
    for stored in users.values() if isinstance(users, dict) else ():
        assert stored not in message


def test_the_old_web_section_and_a_web_config_file_together_say_how_to_migrate(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {"web": {"basic_auth_users": {"p": hash_password("x", cost=4)}}, "mailboxes": [MAILBOX]}
        )
    )
    web = write_web_config(tmp_path, {})
    with pytest.raises(ConfigError, match=r"^config error: web: the HTTP side is set by"):
        load_config(config, web_config_file=web)


def test_check_config_validates_the_web_config_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"mailboxes": [MAILBOX]}))
    web = write_web_config(tmp_path, {"basic_auth_users": {"p": "not-a-hash"}})
    assert main(["--check-config", str(config), "--web.config.file", str(web)]) == 2
    assert "basic_auth_users.p: expected a bcrypt hash" in capsys.readouterr().err
    web.write_text(yaml.safe_dump({"basic_auth_users": {"p": hash_password("pw", cost=4)}}))
    assert main(["--check-config", str(config), "--web.config.file", str(web)]) == 0
    assert "web config ok" in capsys.readouterr().out


def test_hash_password_prints_a_bcrypt_hash_blackbox_exporter_would_take_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["hash-password", "--cost", "5"]) == 0
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("$2b$05$")
    assert bcrypt_cost(stored) == 5
    assert PasswordVerifier({"prometheus": stored}).verify("prometheus", "correct horse")


# --- auth: nothing leaks, nothing crowds out the scrapes --------------------------------------


def test_unknown_users_are_checked_against_a_hash_of_the_usual_cost() -> None:
    users = [hash_password("a", cost=5), hash_password("b", cost=5), hash_password("c", cost=4)]
    assert bcrypt_cost(dummy_hash(users)) == 5
    scrypt_dummy = dummy_hash([hash_scrypt_password("a")])
    assert scrypt_dummy.split("$")[:4] == ["scrypt", "16384", "8", "1"]


def test_every_check_is_a_full_hash_check_for_known_and_unknown_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real = webauth._matches

    def recording(stored: str, password: str) -> bool:
        checked.append(stored[:7])
        return real(stored, password)

    monkeypatch.setattr(webauth, "_matches", recording)
    verifier = PasswordVerifier({"alice": hash_password("right", cost=4)})
    assert not verifier.verify("mallory", "right")
    assert not verifier.verify("alice", "wrong")
    assert not verifier.verify("alice", "right" + "x" * 80)  # past bcrypt's 72 bytes: no match
    assert checked == ["$2b$04$"] * 3  # the unknown user cost the same kind of check
    assert verifier.verify("alice", "right")
    assert verifier.verify("alice", "right")  # the success is remembered: no fourth check
    assert len(checked) == 4


async def test_hash_checks_run_one_at_a_time_on_their_own_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, peak, threads = 0, 0, set()
    lock = threading.Lock()
    real = webauth._matches

    def observed(stored: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.current_thread().name)
        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(webauth, "_matches", observed)
    verifier = PasswordVerifier({"alice": hash_password("right", cost=4)})
    gate = AuthGate()
    try:
        clients = [f"10.0.0.{n}" for n in range(20)]
        answers = await asyncio.gather(
            *(gate.allows(verifier, "alice", f"guess-{c}", c) for c in clients),
            gate.allows(verifier, "alice", "right", "10.0.1.1"),
        )
    finally:
        await gate.close()
    assert answers == [False] * 20 + [True]
    assert peak == 1
    assert len(threads) == 1
    assert threads.pop().startswith("pop3-auth")


async def test_a_flooding_client_is_refused_unchecked_once_its_turns_are_full() -> None:
    verifier = PasswordVerifier({"alice": hash_password("right", cost=6)})
    gate = AuthGate()
    try:
        flood = [gate.allows(verifier, "alice", f"guess-{n}", "10.6.6.6") for n in range(10)]
        flood_answers = asyncio.gather(*flood)
        # Another client still gets its turn, and identical checks are done once.
        legit = await asyncio.gather(
            *(gate.allows(verifier, "alice", "right", "10.0.0.1") for _ in range(5))
        )
        answers = await flood_answers
    finally:
        await gate.close()
    assert legit == [True] * 5
    # At most one check running and MAX_WAITING_PER_CLIENT waiting; the rest never checked.
    assert 1 <= answers.count(False) <= 1 + webauth.MAX_WAITING_PER_CLIENT
    assert answers.count(None) == 10 - answers.count(False)


# --- the app: 401s alike, headers, formats and gzip like prometheus_client ---------------------


async def _answer(poll_snapshot: PollSnapshot) -> Any:
    async def poll(
        config: MailboxConfig, tracker: MessageTracker, *, hints: Any, name: str, transcript: Any
    ) -> PollSnapshot:
        return poll_snapshot

    return poll


def _app_config(web: dict[str, Any] | None = None) -> Any:
    return build_config({"mailboxes": [MAILBOX], **({"web": web} if web else {})})


async def test_refusals_are_one_answer_whoever_is_asking() -> None:
    config = _app_config({"basic_auth_users": {"alice": hash_password("right", cost=4)}})
    async with TestClient(TestServer(build_app(Exporter(config)))) as client:
        answers = []
        for headers in (
            {},
            basic("alice", "wrong"),
            basic("mallory", "right"),
            basic("mallory", "wrong"),
            {"Authorization": "Bearer right"},
            {"Authorization": "Basic %%%"},
        ):
            reply = await client.get("/metrics", headers=headers)
            answers.append((reply.status, await reply.read(), reply.headers["WWW-Authenticate"]))
        assert len(set(answers)) == 1
        assert answers[0][:2] == (401, b"Unauthorized\n")
        reply = await client.get("/metrics", headers=basic("alice", "right"))
        assert reply.status == 200


async def test_configured_headers_are_on_every_answer(tmp_path: Path) -> None:
    path = write_web_config(
        tmp_path,
        {
            "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
            "basic_auth_users": {"alice": hash_password("right", cost=4)},
        },
    )
    config = load_config(_write_config(tmp_path), web_config_file=path)
    async with TestClient(TestServer(build_app(Exporter(config)))) as client:
        for path_, headers in (
            ("/metrics", {}),
            ("/metrics", basic("alice", "right")),
            ("/-/healthy", {}),
        ):
            reply = await client.get(path_, headers=headers)
            assert reply.headers["X-Content-Type-Options"] == "nosniff", path_


def _write_config(directory: Path) -> Path:
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump({"mailboxes": [MAILBOX]}))
    return path


class _Fixed:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> list[Metric]:
        return self._families


def prometheus_client_answer(
    registry: CollectorRegistry, accept: str, encoding: str
) -> tuple[dict[str, str], bytes]:
    """What prometheus_client's own WSGI handler answers for `registry`."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured.update(dict(headers))

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/metrics",
        "QUERY_STRING": "",
        "HTTP_ACCEPT": accept,
        "HTTP_ACCEPT_ENCODING": encoding,
    }
    body = b"".join(make_wsgi_app(registry)(environ, start_response))
    return captured, body


def same_gzip(ours: bytes, theirs: bytes) -> bool:
    """Equal gzip members apart from the header's MTIME (bytes 4-7: when each was made)."""
    return ours[:4] + ours[8:] == theirs[:4] + theirs[8:]


def _assert_like_prometheus_client(
    headers: Any, body: bytes, registry: CollectorRegistry, accept: str, encoding: str
) -> None:
    their_headers, theirs = prometheus_client_answer(registry, accept, encoding)
    assert headers["Content-Type"] == their_headers["Content-Type"]
    assert headers.get("Content-Encoding") == their_headers.get("Content-Encoding")
    if "Content-Encoding" in their_headers:
        assert same_gzip(body, theirs)
        assert gzip.decompress(body) == gzip.decompress(theirs)
    else:
        assert body == theirs


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("accept", ACCEPTS)
async def test_metrics_are_the_bytes_prometheus_client_would_send(
    accept: str, encoding: str
) -> None:
    exporter = Exporter(_app_config(), poll=await _answer(snapshot()), start_spread=0)
    await exporter.start()
    try:
        while not all(s.last is not None for s in exporter.scheduler.states()):
            await asyncio.sleep(0.01)
        async with TestClient(TestServer(build_app(exporter))) as client:
            reply = await client.get(
                "/metrics",
                headers={"Accept": accept, "Accept-Encoding": encoding},
                auto_decompress=False,
            )
            body = await reply.read()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ScrapeCollector(exporter.registry, exporter.frozen_views()))
        _assert_like_prometheus_client(reply.headers, body, registry, accept, encoding)
    finally:
        await exporter.stop()


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("accept", ACCEPTS)
async def test_probe_answers_are_the_bytes_prometheus_client_would_send(
    accept: str, encoding: str
) -> None:
    exporter = Exporter(_app_config(), poll=await _answer(snapshot()), start_spread=0)
    async with TestClient(TestServer(build_app(exporter))) as client:
        reply = await client.get(
            "/probe?mailbox=work",
            headers={"Accept": accept, "Accept-Encoding": encoding},
            auto_decompress=False,
        )
        body = await reply.read()
    assert reply.status == 200
    text = (gzip.decompress(body) if reply.headers.get("Content-Encoding") else body).decode()
    openmetrics = reply.headers["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics == accept.startswith("application/openmetrics-text")
    families = parse_openmetrics(text) if openmetrics else parse_text(text)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))  # the same samples, written by prometheus_client
    _assert_like_prometheus_client(reply.headers, body, registry, accept, encoding)
    assert "probe_success 1.0" in text


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
        "cert_file",
        "client_auth_type",
        "min_version",
        "cipher_suites",
        "headers",
        "X-Frame-Options",
        "http2",
    ]
)
_DOCUMENTS = st.recursive(
    _JSONISH, lambda inner: st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12
)


@settings(max_examples=300, deadline=None)
@given(document=_DOCUMENTS)
def test_any_web_config_document_loads_or_is_one_config_error(document: object) -> None:
    message = ""
    try:
        build_web_config(document, Path("/nonexistent"), "web config f.yml")
    except ConfigError as err:  # anything else (a TypeError, a KeyError) fails the test
        message = str(err)
    if message:
        assert "\n" not in message
        assert message.startswith("config error: web config f.yml")
