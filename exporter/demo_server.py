"""The demo's mail server: a small in-process POP3S server with a throwaway CA.

Just enough POP3 (RFC 1939 + CAPA) for the exporter to poll: USER/PASS, STAT, LIST, TOP, NOOP,
QUIT, with RESP-CODES so a wrong password reads `[AUTH]` and a second session `[IN-USE]`, like a
real server. The CA and certificate are made with `cryptography` at start and live only in a temp
directory, so a newcomer needs no mail server, no certificate and no configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import random
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_LOGGER = logging.getLogger(__name__)
MAX_LINE = 512
IDLE_TIMEOUT = 60.0


# --- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoCertificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path, *, days: int = 90) -> DemoCertificates:
    """A CA and a leaf for localhost/127.0.0.1, valid `days` days, written to `directory`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pop3-exporter demo CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    certificates = DemoCertificates(
        ca_file=directory / "demo-ca.pem",
        cert_file=directory / "demo-server.pem",
        key_file=directory / "demo-server.key",
    )
    certificates.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certificates.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    certificates.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificates.key_file.chmod(0o600)
    return certificates


# --- mail ---------------------------------------------------------------------------------------

SENDERS = (
    "Ana Lima <ana@school.example>",
    "Billing <billing@power.example>",
    "Grandma <grandma@family.example>",
    "CI <ci@builds.example>",
    "Dr. Okafor <okafor@clinic.example>",
    "Newsletter <news@books.example>",
)
SUBJECTS = (
    "Field trip on Friday",
    "Your invoice is ready",
    "Photos from the weekend",
    "Build #{n} passed",
    "Appointment reminder",
    "This week's new titles",
    "Re: lunch?",
    "Ticket #{n}: printer on floor 2",
)


def make_message(username: str, number: int, *, body_lines: int = 5) -> bytes:
    message = EmailMessage()
    message["From"] = random.choice(SENDERS)
    message["To"] = f"{username}@demo.example"
    message["Subject"] = random.choice(SUBJECTS).format(n=number)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain="demo.example")
    message.set_content("\n".join(f"Line {i} of a demo message." for i in range(body_lines)))
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(slots=True)
class DemoMailbox:
    username: str
    password: str
    messages: list[bytes] = field(default_factory=list)
    locked: bool = False


# --- the POP3 server ------------------------------------------------------------------------------


class DemoPop3Server:
    """Serves `mailboxes` (by user name) over implicit TLS."""

    def __init__(self, mailboxes: list[DemoMailbox], ssl_context: ssl.SSLContext) -> None:
        self.mailboxes = {m.username: m for m in mailboxes}
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(
            self._handle, host, port, ssl=self._ssl, limit=MAX_LINE * 2
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        session = _Session(self, writer)
        try:
            writer.write(b"+OK pop3-exporter demo server ready\r\n")
            while True:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    line = await reader.readline()
                if not line or not await session.handle(line):
                    break
                await writer.drain()
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            session.release()
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()
            if task is not None:
                self._sessions.discard(task)


CAPABILITIES = (b"TOP", b"USER", b"PIPELINING", b"RESP-CODES", b"AUTH-RESP-CODE")


class _Session:
    def __init__(self, server: DemoPop3Server, writer: asyncio.StreamWriter) -> None:
        self._server = server
        self._writer = writer
        self._user: str | None = None
        self._mailbox: DemoMailbox | None = None
        self._messages: list[bytes] = []  # the maildrop as it was at login (RFC 1939)

    def release(self) -> None:
        if self._mailbox is not None:
            self._mailbox.locked = False
            self._mailbox = None

    def _send(self, *lines: bytes) -> None:
        self._writer.write(b"".join(line + b"\r\n" for line in lines))

    async def handle(self, line: bytes) -> bool:
        """Answer one command; False when the session is over."""
        if len(line) > MAX_LINE:
            self._send(b"-ERR line too long")
            return False
        verb, _, argument = line.strip().decode("utf-8", "replace").partition(" ")
        verb = verb.upper()
        if verb == "QUIT":
            self._send(b"+OK bye")
            return False
        if verb == "CAPA":
            self._send(b"+OK capability list follows", *CAPABILITIES, b".")
        elif verb == "NOOP":
            self._send(b"+OK")
        elif self._mailbox is None:
            self._authorization(verb, argument)
        else:
            self._transaction(verb, argument)
        return True

    def _authorization(self, verb: str, argument: str) -> None:
        if verb == "USER" and argument:
            self._user = argument
            self._send(b"+OK send PASS")
        elif verb == "PASS" and self._user is not None:
            mailbox = self._server.mailboxes.get(self._user)
            if mailbox is None or argument != mailbox.password:
                self._user = None
                self._send(b"-ERR [AUTH] invalid user name or password")
            elif mailbox.locked:
                self._send(b"-ERR [IN-USE] maildrop already locked by another session")
            else:
                mailbox.locked = True
                self._mailbox = mailbox
                self._messages = list(mailbox.messages)
                self._send(f"+OK {len(self._messages)} messages".encode())
        else:
            self._send(b"-ERR authenticate first")

    def _message(self, argument: str) -> bytes | None:
        try:
            number = int(argument)
        except ValueError:
            return None
        return self._messages[number - 1] if 1 <= number <= len(self._messages) else None

    def _transaction(self, verb: str, argument: str) -> None:
        if verb == "STAT":
            size = sum(len(m) for m in self._messages)
            self._send(f"+OK {len(self._messages)} {size}".encode())
        elif verb == "LIST" and not argument:
            listing = [f"{n} {len(m)}".encode() for n, m in enumerate(self._messages, 1)]
            self._send(f"+OK {len(self._messages)} messages".encode(), *listing, b".")
        elif verb == "LIST":
            message = self._message(argument)
            if message is None:
                self._send(b"-ERR no such message")
            else:
                self._send(f"+OK {argument} {len(message)}".encode())
        elif verb == "TOP":
            number, _, count = argument.partition(" ")
            message = self._message(number)
            if message is None or not count.strip().isdigit():
                self._send(b"-ERR no such message")
                return
            head, _, body = message.partition(b"\r\n\r\n")
            lines = [*head.split(b"\r\n"), b"", *body.split(b"\r\n")[: int(count)]]
            stuffed = [b"." + ln if ln.startswith(b".") else ln for ln in lines]
            self._send(b"+OK top of message follows", *stuffed, b".")
        else:
            # RETR, DELE and the rest: the exporter never sends them; the demo never needs them.
            self._send(b"-ERR command not supported by the demo server")


# --- mail that keeps arriving ------------------------------------------------------------------


async def deliver_forever(
    mailboxes: list[DemoMailbox], *, every: tuple[float, float] = (1.0, 4.0)
) -> None:
    """Mail arrives at random; now and then an owner's mail client "downloads" a mailbox."""
    number = 1000
    while True:
        await asyncio.sleep(random.uniform(*every))
        number += 1
        mailbox = random.choice(mailboxes)
        if len(mailbox.messages) >= 12 and random.random() < 0.5:
            _LOGGER.debug("demo: %s's mail client fetched and deleted all mail", mailbox.username)
            mailbox.messages.clear()
            continue
        mailbox.messages.append(
            make_message(mailbox.username, number, body_lines=random.randint(3, 200))
        )
