"""What TLS session resumption would save, measured without touching the core (issue 14, item 1).

    .venv/bin/python -m tests.bench.tls_resumption [SESSIONS]

poplib runs the steady-state check (TLS, USER/PASS, STAT, LIST, one TOP, QUIT) against a private
Dovecot over POP3S, either with a full handshake every time or offering the `ssl.SSLSession` of
the previous session (`SSLContext.wrap_socket(..., session=)`), for TLS 1.3 and TLS 1.2. Measured:
client CPU per session (this process), Dovecot's CPU per session (every process of its session:
utime + stime, with the children it reaped), and how many sessions the server actually resumed.
The server's key: ECDSA P-256 (the fixture's, trustme's default) and RSA 2048 (what most providers
sign with; the signature is what a resumed handshake saves the server). Two Dovecot set-ups:
Debian's default (`service pop3-login` with `service_count = 1`, a fresh
login process per connection) and the "high-performance" one (`service_count = 0`: login
processes serve many connections). The two kinds of session alternate in blocks, so the
machine's load falls on both. Nothing is asserted; the figures are for the team to decide.
"""

from __future__ import annotations

import contextlib
import poplib
import shutil
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.bench.bench_exporter import CLOCK_TICKS
from tests.fixtures.dovecot import DovecotServer, DovecotUser
from tests.fixtures.mailservers.base import session_processes

REUSED_LOGIN = """
service pop3-login {
  service_count = 0
}
"""


class _ResumingPOP3(poplib.POP3_SSL):
    """poplib's POP3_SSL offering a saved TLS session in its handshake."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, session: ssl.SSLSession | None
    ) -> None:
        self._offer = session
        self._tls = context
        super().__init__(host, port, context=context, timeout=30)

    def _create_socket(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        return self._tls.wrap_socket(sock, server_hostname=self.host, session=self._offer)


def _check(
    dovecot: DovecotServer,
    user: DovecotUser,
    context: ssl.SSLContext,
    session: ssl.SSLSession | None,
) -> tuple[ssl.SSLSession | None, bool, bool]:
    """One check; (the session to offer next time, resumed?, peer certificate readable?)."""
    client = _ResumingPOP3(dovecot.host, dovecot.pop3s_port, context, session)
    client.user(user.username)
    client.pass_(user.password)
    count, _ = client.stat()
    client.list()
    client.top(max(1, count), 0)
    sock = client.sock
    assert isinstance(sock, ssl.SSLSocket)
    reused, has_cert = bool(sock.session_reused), bool(sock.getpeercert(binary_form=True))
    saved = sock.session  # the server's ticket arrived with the replies (TLS 1.3)
    client.quit()
    return saved, reused, has_cert


def _server_cpu(dovecot: DovecotServer) -> float:
    """CPU seconds of every process of Dovecot's session, with the children they reaped."""
    assert dovecot._process is not None
    total = 0
    for pid in session_processes(dovecot._process.pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


@dataclass
class _Totals:
    client: float = 0.0
    server: float = 0.0
    resumed: int = 0
    cert_always: bool = True


def _measure(
    dovecot: DovecotServer, user: DovecotUser, version: ssl.TLSVersion, sessions: int
) -> dict[str, tuple[float, float, float, bool]]:
    """mode -> (client CPU, server CPU per session, share resumed, cert readable every time)."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    context.minimum_version = context.maximum_version = version
    totals = {mode: _Totals() for mode in ("full", "resumed")}
    session, _, _ = _check(dovecot, user, context, None)  # warm-up, and a first session
    block = max(5, sessions // 10)
    for _ in range(sessions // block):
        for mode, total in totals.items():
            cpu, server = time.process_time(), _server_cpu(dovecot)
            for _ in range(block):
                offer = session if mode == "resumed" else None
                new, reused, has_cert = _check(dovecot, user, context, offer)
                if mode == "resumed":
                    session = new
                total.resumed += reused
                total.cert_always = total.cert_always and has_cert
            time.sleep(0.2)  # let Dovecot reap the last session's processes
            total.client += time.process_time() - cpu
            total.server += _server_cpu(dovecot) - server
    done = block * (sessions // block)
    return {
        mode: (t.client / done, t.server / done, t.resumed / done, t.cert_always)
        for mode, t in totals.items()
    }


@contextlib.contextmanager
def _dovecot(ca: trustme.CA, *, reuse_login: bool, rsa: bool) -> Iterator[DovecotServer]:
    root = Path(tempfile.mkdtemp(prefix="pop3-resume-"))
    root.chmod(0o755)
    server = DovecotServer(root, ca, user_pool=5)
    if rsa:  # the fixture's leaf is ECDSA P-256 (trustme's default); most providers sign with RSA
        leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
        leaf.private_key_pem.write_to_path(str(root / "server.key"))
        leaf.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    if reuse_login:
        with (root / "dovecot.conf").open("a") as config:
            config.write(REUSED_LOGIN)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    ca = trustme.CA()
    print(f"poplib steady-state check over POP3S, {sessions} sessions per cell\n")
    print(
        "| Dovecot pop3-login | key | TLS | resumed | client CPU / session (full -> resumed) "
        "| Dovecot CPU / session (full -> resumed) | certificate on resumed session |"
    )
    print("|---|---|---|---|---|---|---|")
    for reuse_login, rsa in ((False, False), (True, False), (False, True), (True, True)):
        with _dovecot(ca, reuse_login=reuse_login, rsa=rsa) as dovecot:
            user = dovecot.add_user()
            for number in range(2):
                dovecot.deliver(user, subject=f"waiting {number}")
            for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                r = _measure(dovecot, user, version, sessions)
                full, resumed = r["full"], r["resumed"]
                print(
                    f"| {'service_count = 0' if reuse_login else 'default (service_count = 1)'} "
                    f"| {'RSA 2048' if rsa else 'ECDSA P-256'} "
                    f"| {version.name} | {resumed[2]:.0%} of offers "
                    f"| {full[0] * 1000:.2f} -> {resumed[0] * 1000:.2f} ms "
                    f"({resumed[0] / full[0]:.2f}x) "
                    f"| {full[1] * 1000:.1f} -> {resumed[1] * 1000:.1f} ms "
                    f"({resumed[1] / full[1]:.2f}x) "
                    f"| {'readable' if resumed[3] else 'missing'} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
