"""Server-side sessions and login throttling for the web app.

The browser holds only a random 256-bit session id (in a signed, HttpOnly, SameSite=Lax
cookie); who is signed in, their role and their CSRF token live here, in the server's
memory. A session ends after 30 idle minutes, after 8 hours whatever happens, at logout,
and when its user is disabled or their role changes. Every timing takes an injectable
``clock`` (seconds, monotonic) so tests can move time.

:class:`Throttle` slows down guessing without ever locking anyone out: after 3 failed
logins for one account (or from one address) within the window, each further attempt
must wait 2^(n-3) seconds after the last failure, at most a minute.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

IDLE_TIMEOUT = 30 * 60  # seconds
ABSOLUTE_TIMEOUT = 8 * 60 * 60
FREE_FAILURES = 3
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
class Throttle:
    """Failed logins per key (an account, an address) and how long the next attempt
    must wait."""

    clock: Clock = time.monotonic
    free: int = FREE_FAILURES
    cap: float = MAX_WAIT
    window: float = FAILURE_WINDOW
    _failures: dict[str, _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _live(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.window:
            del self._failures[key]
            return None
        return entry

    def wait(self, *keys: str) -> float:
        """Seconds until an attempt for ``keys`` may be checked (0: now)."""
        now = self.clock()
        longest = 0.0
        with self._lock:
            for key in keys:
                entry = self._live(key, now)
                if entry is None or entry.count < self.free:
                    continue
                delay = min(2.0 ** (entry.count - self.free), self.cap)
                longest = max(longest, entry.last + delay - now)
        return max(0.0, longest)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > PRUNE_AT:  # guesses at many names: forget stale ones
                for key in [k for k, f in self._failures.items() if now - f.last > self.window]:
                    del self._failures[key]
            for key in keys:
                entry = self._live(key, now)
                if entry is None:
                    self._failures[key] = _Failures(1, now)
                else:
                    entry.count += 1
                    entry.last = now

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._lock:
            entry = self._live(key, self.clock())
            return 0 if entry is None else entry.count
