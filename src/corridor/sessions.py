"""Server-side sessions and login throttling for the web app.

The browser holds only a random 256-bit session id (in a signed, HttpOnly, SameSite=Lax
cookie); who is signed in, their role and their CSRF token live here, in the server's
memory. A session ends after 30 idle minutes, after 8 hours whatever happens, at logout,
and when its user is disabled or their role changes. Every timing takes an injectable
``clock`` (seconds, monotonic) so tests can move time.

:class:`Throttle` slows down guessing without ever locking anyone out. It counts failed
sign-ins twice: per account and address together, and per address alone (an IPv6
address by its /64 network, which one holder gets whole). After 3 failures of one account
from one address within the window, each further attempt at that account from that address
waits 2^(n-3) seconds after the last failure; after 10 failures from one address, whatever
the accounts, each further attempt from it waits 2^(n-10) seconds; never more than a
minute. There is deliberately no count per account across addresses: anyone who knows a
user name could then keep its owner out by failing on purpose. So failures from other
addresses never slow the owner down; guessing from many addresses is bounded per address,
and by the 12-character argon2id passwords.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

IDLE_TIMEOUT = 30 * 60  # seconds
ABSOLUTE_TIMEOUT = 8 * 60 * 60
FREE_FAILURES = 3  # per account and address
ADDRESS_FREE_FAILURES = 10  # per address, whatever the accounts
IPV6_NETWORK = 64  # an IPv6 address counts by its /64 network
MAX_WAIT = 60.0
FAILURE_WINDOW = 15 * 60  # failures older than this (since the last one) are forgotten
PRUNE_AT = 10_000  # keys kept before the stale ones are swept

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    session_id: str
    user_name: str
    role: str
    department_id: str | None
    csrf: str
    created: float
    last_seen: float


@dataclass
class SessionStore:
    """The live sessions of one server process."""

    clock: Clock = time.monotonic
    idle_timeout: float = IDLE_TIMEOUT
    absolute_timeout: float = ABSOLUTE_TIMEOUT
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, user_name: str, role: str, department_id: str | None,
              replacing: str | None = None) -> Session:
        """A new session (new id, new CSRF token) for a user who just logged in; the
        session ``replacing`` (the visitor's previous one), if any, ends."""
        now = self.clock()
        session = Session(secrets.token_hex(32), user_name, role, department_id,
                          secrets.token_urlsafe(32), now, now)
        with self._lock:
            if replacing:
                self._sessions.pop(replacing, None)
            self._prune(now)
            self._sessions[session.session_id] = session
        return session

    def _expired(self, session: Session, now: float) -> bool:
        return (now - session.last_seen > self.idle_timeout
                or now - session.created > self.absolute_timeout)

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]

    def get(self, session_id: str | None) -> Session | None:
        """The live session ``session_id`` (its idle clock restarted), or None when there
        is none or it timed out (it is then dropped)."""
        if not isinstance(session_id, str):
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session = replace(session, last_seen=now)
            self._sessions[session_id] = session
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def end_user(self, user_name: str) -> int:
        """End every session of ``user_name``; how many ended."""
        with self._lock:
            ids = [k for k, s in self._sessions.items() if s.user_name == user_name]
            for k in ids:
                del self._sessions[k]
        return len(ids)

    def users(self) -> set[str]:
        with self._lock:
            return {s.user_name for s in self._sessions.values()}

    def sessions_of(self, user_name: str) -> list[Session]:
        with self._lock:
            return [s for s in self._sessions.values() if s.user_name == user_name]

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class _Counts:
    """Failures per key and how long the next attempt for a key must wait: none for
    the first ``free`` failures, then 2^(n-free) seconds after the last, at most ``cap``;
    a key quiet for ``window`` seconds is forgotten."""

    free: int
    cap: float
    window: float
    _failures: dict[str, _Failures] = field(default_factory=dict)

    def live(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.window:
            del self._failures[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> float:
        entry = self.live(key, now)
        if entry is None or entry.count < self.free:
            return 0.0
        return max(0.0, entry.last + min(2.0 ** (entry.count - self.free), self.cap) - now)

    def failed(self, key: str, now: float) -> None:
        if len(self._failures) > PRUNE_AT:  # guesses at many names: forget stale ones
            for stale in [k for k, f in self._failures.items() if now - f.last > self.window]:
                del self._failures[stale]
        entry = self.live(key, now)
        if entry is None:
            self._failures[key] = _Failures(1, now)
        else:
            entry.count += 1
            entry.last = now

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


def network(address: str) -> str:
    """The address that failures are counted by: an IPv4 address itself (also when
    written IPv4-mapped), an IPv6 address by its /64 network; anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_NETWORK}", strict=False))
    return str(ip)


@dataclass
class Throttle:
    """Failed sign-ins per account and address, and per address, and how long the next
    attempt must wait (see the module's docstring for the rule)."""

    clock: Clock = time.monotonic
    free: int = FREE_FAILURES
    address_free: int = ADDRESS_FREE_FAILURES
    cap: float = MAX_WAIT
    window: float = FAILURE_WINDOW
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._pairs = _Counts(self.free, self.cap, self.window)
        self._addresses = _Counts(self.address_free, self.cap, self.window)

    @staticmethod
    def _keys(account: str, address: str) -> tuple[str, str]:
        where = network(address)
        return f"{account.casefold()}\n{where}", where

    def wait(self, account: str, address: str) -> float:
        """Seconds until an attempt at ``account`` from ``address`` may be checked
        (0: now)."""
        pair, where = self._keys(account, address)
        now = self.clock()
        with self._lock:
            return max(self._pairs.wait(pair, now), self._addresses.wait(where, now))

    def failed(self, account: str, address: str) -> None:
        pair, where = self._keys(account, address)
        now = self.clock()
        with self._lock:
            self._pairs.failed(pair, now)
            self._addresses.failed(where, now)

    def succeeded(self, account: str, address: str) -> None:
        """The account signed in from ``address``: its failures from there are
        forgotten (the address's own count stays, or one account of one's own would
        reset it)."""
        pair, _ = self._keys(account, address)
        with self._lock:
            self._pairs.clear(pair)

    def failures(self, account: str, address: str) -> int:
        """Failures of ``account`` from ``address`` that still count."""
        pair, _ = self._keys(account, address)
        with self._lock:
            entry = self._pairs.live(pair, self.clock())
            return 0 if entry is None else entry.count

    def address_failures(self, address: str) -> int:
        """Failures from ``address`` (any account) that still count."""
        with self._lock:
            entry = self._addresses.live(network(address), self.clock())
            return 0 if entry is None else entry.count
