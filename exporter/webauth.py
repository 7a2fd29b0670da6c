"""Basic auth for the HTTP side: bcrypt hashes as in exporter-toolkit's web-config.yml, and the
scrypt hashes that older versions of ``pop3-exporter hash-password`` made.

Built so that neither the answer nor its timing tells which usernames exist (an unknown user is
checked against a dummy hash of the same cost), and so that wrong passwords cannot crowd out
the scrapes: hash checks run one at a time on a thread of their own, never on the pool that
renders /metrics and writes the state file, clients take turns, and a success is remembered
(keyed by a SHA-256 of user, password and stored hash, never by the password itself).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import bcrypt

_LOGGER = logging.getLogger(__name__)

DEFAULT_BCRYPT_COST = 10  # exporter-toolkit's example; about 70 ms per check on one core
BCRYPT_MAX_PASSWORD = 72  # bytes; bcrypt ignores (the Python package refuses) anything longer
BCRYPT_PATTERN = re.compile(r"^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$")

_SCRYPT = "scrypt"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_KEY_LENGTH = 32
_SUCCESS_CACHE_LIMIT = 256

# The queue in front of the hash worker: every client (address) may have this many different
# checks waiting, all clients together this many. Beyond that a request is refused at once,
# without a check, whatever its credentials: a flood costs the flooder, not the scrapers.
MAX_WAITING_PER_CLIENT = 2
MAX_WAITING = 64


# --- hashes ----------------------------------------------------------------------------------


def hash_password(password: str, *, cost: int = DEFAULT_BCRYPT_COST) -> str:
    """A bcrypt hash (``$2b$...``), as `htpasswd -nBC 10` makes for exporter-toolkit."""
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_PASSWORD:
        raise ValueError(f"bcrypt takes at most {BCRYPT_MAX_PASSWORD} bytes of password")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(cost)).decode("ascii")


def hash_scrypt_password(password: str, *, salt: bytes | None = None) -> str:
    """The older form, ``scrypt$<n>$<r>$<p>$<salt>$<key>``: still accepted in the config's
    ``web:`` section; made here only for tests and benchmarks."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_SCRYPT_KEY_LENGTH,
    )
    return "$".join(
        (_SCRYPT, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(key))
    )


def bcrypt_cost(stored: str) -> int | None:
    """The cost of a bcrypt hash, or None when `stored` is not one bcrypt can check."""
    match = BCRYPT_PATTERN.match(stored)
    if match is None or not 4 <= int(match.group(1)) <= 31:
        return None
    return int(match.group(1))


def is_supported_hash(stored: str) -> bool:
    """bcrypt or the older scrypt form."""
    return bcrypt_cost(stored) is not None or _parse_scrypt(stored) is not None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse_scrypt(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCRYPT:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not salt or not key:
        return None
    return n, r, p, salt, key


def _matches(stored: str, password: str) -> bool:
    """One full-cost check. Never raises for a wrong or odd password: it is just wrong."""
    encoded = password.encode("utf-8", "surrogateescape")
    if stored.startswith("$2"):
        # bcrypt reads 72 bytes; a longer password must not match a hash of its prefix, but
        # costs the same check so its length shows in no timing.
        too_long = len(encoded) > BCRYPT_MAX_PASSWORD
        try:
            same = bcrypt.checkpw(encoded[:BCRYPT_MAX_PASSWORD], stored.encode("ascii"))
        except ValueError:
            return False
        return same and not too_long
    parsed = _parse_scrypt(stored)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    candidate = hashlib.scrypt(encoded, salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=2**27)
    return hmac.compare_digest(candidate, key)


def dummy_hash(hashes: list[str]) -> str:
    """A hash no password matches, of the kind and cost most of `hashes` have: checking an
    unknown user against it takes as long as checking a known one."""
    kinds: Counter[tuple[str, ...]] = Counter()
    for stored in hashes:
        cost = bcrypt_cost(stored)
        if cost is not None:
            kinds[("bcrypt", f"{cost:02d}")] += 1
        elif _parse_scrypt(stored) is not None:
            kinds[(_SCRYPT, *stored.split("$")[1:4])] += 1
    if not kinds:
        return _bcrypt_dummy(DEFAULT_BCRYPT_COST)
    # The most common kind; among equals the costliest, so no real user is slower than a ghost.
    kind = max(kinds, key=lambda k: (kinds[k], _work(k)))
    if kind[0] == "bcrypt":
        return _bcrypt_dummy(int(kind[1]))
    salt, key = secrets.token_bytes(16), secrets.token_bytes(_SCRYPT_KEY_LENGTH)
    return "$".join((*kind, _b64(salt), _b64(key)))


def _bcrypt_dummy(cost: int) -> str:
    # A real salt and a digest no password produces: checkpw does the full work, then says no.
    return bcrypt.gensalt(cost).decode("ascii") + "." * 31


def _work(kind: tuple[str, ...]) -> int:
    if kind[0] == "bcrypt":
        return 1 << int(kind[1])
    n, r, p = (int(x) for x in kind[1:4])
    return n * r * p


# --- checking --------------------------------------------------------------------------------


class SuccessCache:
    """Tokens of recent successful checks, least recently used dropped first. A token is a
    SHA-256 of user, password and stored hash: a changed hash (or user) never hits. Read in the
    event loop, written by the hash worker: hence the lock."""

    def __init__(self, limit: int = _SUCCESS_CACHE_LIMIT) -> None:
        self._tokens: OrderedDict[bytes, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __contains__(self, token: bytes) -> bool:
        with self._lock:
            if token not in self._tokens:
                return False
            self._tokens.move_to_end(token)
            return True

    def add(self, token: bytes) -> None:
        with self._lock:
            self._tokens[token] = None
            self._tokens.move_to_end(token)
            while len(self._tokens) > self._limit:
                self._tokens.popitem(last=False)


class PasswordVerifier:
    """Checks user/password pairs against stored hashes (synchronously; see AuthGate for the
    asynchronous, rate-safe way). Unknown users are checked against a dummy hash."""

    def __init__(self, users: Mapping[str, str], successes: SuccessCache | None = None) -> None:
        self._users = dict(users)
        self._dummy = dummy_hash(list(self._users.values()))
        self.successes = successes if successes is not None else SuccessCache()

    def token(self, username: str, password: str) -> bytes:
        stored = self._users.get(username, self._dummy)
        material = "\0".join((username, password, stored)).encode("utf-8", "surrogateescape")
        return hashlib.sha256(material).digest()

    def cached(self, username: str, password: str) -> bool:
        return self.token(username, password) in self.successes

    def verify(self, username: str, password: str) -> bool:
        """Cheap when cached; otherwise one full-cost check, the same for unknown users."""
        token = self.token(username, password)
        if token in self.successes:
            return True
        known = username in self._users
        matched = _matches(self._users.get(username, self._dummy), password)
        if matched and known:
            self.successes.add(token)
        return matched and known


@dataclass(slots=True)
class _Job:
    token: bytes
    check: Callable[[], bool]
    result: asyncio.Future[bool]


class AuthGate:
    """The one worker thread that runs hash checks, and the queue in front of it.

    Waiting checks are taken from the clients in turn (round robin by address), so a flood from
    one address delays another client by at most one check per flooding address; identical
    checks in flight are done once. Owned by the web server and kept across reloads.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pop3-auth")
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}
        self._waiting = 0
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def allows(
        self, verifier: PasswordVerifier, username: str, password: str, client: str
    ) -> bool | None:
        """True or False; None when the queue is full and the request was not checked."""
        token = verifier.token(username, password)
        if token in verifier.successes:
            return True
        result = self._in_flight.get(token)
        if result is None:
            queue = self._queues.get(client)
            waiting_here = len(queue) if queue is not None else 0
            if waiting_here >= MAX_WAITING_PER_CLIENT or self._waiting >= MAX_WAITING:
                return None
            result = asyncio.get_running_loop().create_future()
            self._in_flight[token] = result
            self._queues.setdefault(client, deque()).append(
                _Job(token, lambda: verifier.verify(username, password), result)
            )
            self._waiting += 1
            self._wake.set()
            if self._runner is None or self._runner.done():
                self._runner = asyncio.create_task(self._run(), name="pop3-exporter auth queue")
        # Shielded: a client that hangs up does not cancel a check others may be waiting on.
        return await asyncio.shield(result)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queues:
                self._wake.clear()
                await self._wake.wait()
                continue
            client, queue = self._queues.popitem(last=False)
            job = queue.popleft()
            self._waiting -= 1
            if queue:
                self._queues[client] = queue  # to the back of the line
            allowed = False
            try:
                allowed = await loop.run_in_executor(self._executor, job.check)
            except Exception as err:  # a broken hash must not stop the queue
                _LOGGER.warning("password check failed: %s", type(err).__name__)
            finally:  # also when cancelled at shutdown: nobody waits forever
                self._in_flight.pop(job.token, None)
                if not job.result.done():
                    job.result.set_result(allowed)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for queue in self._queues.values():
            for job in queue:
                if not job.result.done():
                    job.result.set_result(False)
        self._queues.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
