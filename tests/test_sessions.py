"""Server-side sessions and login throttling (corridor.sessions), on a frozen clock."""

from __future__ import annotations

from corridor.sessions import SessionStore, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_id_is_256_random_bits_and_the_csrf_token_its_own():
    store = SessionStore(clock=Clock())
    a, b = store.start("ana", "staff", None), store.start("ana", "staff", None)
    assert len(bytes.fromhex(a.session_id)) == 32
    assert a.session_id != b.session_id and a.csrf != b.csrf


def test_idle_and_absolute_timeouts():
    clock = Clock()
    store = SessionStore(clock=clock)
    session = store.start("ana", "staff", None)
    clock.now = 30 * 60
    assert store.get(session.session_id) is not None  # exactly 30 min idle: still alive
    clock.now += 30 * 60 + 1
    assert store.get(session.session_id) is None
    busy = store.start("ben", "staff", None)
    for _ in range(16):
        clock.now += 30 * 60
        assert store.get(busy.session_id) is not None
    clock.now += 1
    assert store.get(busy.session_id) is None  # 8 h after it started
    assert len(store) == 0


def test_a_new_session_replaces_the_old_and_ending_a_user_ends_all_theirs():
    store = SessionStore(clock=Clock())
    old = store.start("ana", "staff", None)
    new = store.start("ana", "staff", None, replacing=old.session_id)
    assert store.get(old.session_id) is None and store.get(new.session_id) is not None
    store.start("ana", "staff", None)
    other = store.start("ben", "staff", None)
    assert store.end_user("ana") == 2
    assert store.users() == {"ben"}
    store.end(other.session_id)
    assert store.get(other.session_id) is None


def test_the_wait_doubles_after_three_failures_and_is_capped_at_a_minute():
    clock = Clock()
    throttle = Throttle(clock=clock)
    waits = []
    for _ in range(12):
        throttle.failed("user:ana")
        waits.append(throttle.wait("user:ana"))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    clock.now += 59
    assert throttle.wait("user:ana", "address:1.2.3.4") == 1
    throttle.succeeded("user:ana")
    assert throttle.wait("user:ana") == 0


def test_failures_are_forgotten_after_a_quiet_window():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(5):
        throttle.failed("address:1.2.3.4")
    clock.now += 15 * 60 + 1
    assert throttle.wait("address:1.2.3.4") == 0
    assert throttle.failures("address:1.2.3.4") == 0


def test_timed_out_sessions_are_swept_when_a_new_one_starts():
    clock = Clock()
    store = SessionStore(clock=clock)
    for name in ("ana", "ben", "carl"):
        store.start(name, "staff", None)
    clock.now += 31 * 60
    store.start("dora", "staff", None)
    assert store.users() == {"dora"} and len(store) == 1
