"""Server-side sessions and login throttling (corridor.sessions), on a frozen clock."""

from __future__ import annotations

from corridor.sessions import SessionStore, Throttle, network


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
        throttle.failed("ana", "10.0.0.1")
        waits.append(throttle.wait("ana", "10.0.0.1"))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    clock.now += 59
    assert throttle.wait("ana", "10.0.0.1") == 1
    assert throttle.wait("Ana", "10.0.0.1") == 1  # user names are counted case-blind


def test_failures_from_one_address_never_slow_the_account_down_elsewhere():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(30):
        throttle.failed("ana", "203.0.113.7")
    assert throttle.wait("ana", "203.0.113.7") == 60
    assert throttle.wait("ana", "198.51.100.1") == 0
    assert throttle.failures("ana", "198.51.100.1") == 0


def test_an_address_failing_at_many_accounts_slows_down_after_ten():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for n in range(10):
        assert throttle.wait(f"guess-{n}", "203.0.113.7") == 0
        throttle.failed(f"guess-{n}", "203.0.113.7")
    assert throttle.wait("someone-else", "203.0.113.7") == 1
    throttle.failed("someone-else", "203.0.113.7")
    assert throttle.wait("yet-another", "203.0.113.7") == 2
    assert throttle.wait("yet-another", "198.51.100.1") == 0


def test_a_success_forgets_the_accounts_failures_from_there_but_not_the_addresses():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for n in range(11):
        throttle.failed("ana" if n < 4 else f"guess-{n}", "10.0.0.1")
    throttle.succeeded("ana", "10.0.0.1")
    assert throttle.failures("ana", "10.0.0.1") == 0
    assert throttle.address_failures("10.0.0.1") == 11
    assert throttle.wait("ana", "10.0.0.1") == 2  # the address's wait: 2^(11-10)


def test_an_ipv6_address_counts_by_its_64_network():
    assert network("2001:db8:0:0:aaaa::1") == "2001:db8::/64"
    assert network("::ffff:192.0.2.1") == "192.0.2.1"
    assert network("192.0.2.1") == "192.0.2.1"
    assert network("testclient") == "testclient"
    clock = Clock()
    throttle = Throttle(clock=clock)
    for n in range(3):  # three addresses of one /64: one holder
        throttle.failed("ana", f"2001:db8::{n + 1}")
    assert throttle.wait("ana", "2001:db8::ffff") == 1
    assert throttle.wait("ana", "2001:db8:0:1::1") == 0  # the next /64: someone else


def test_failures_are_forgotten_after_a_quiet_window():
    clock = Clock()
    throttle = Throttle(clock=clock)
    for n in range(12):
        throttle.failed("ana", "1.2.3.4")
    clock.now += 15 * 60 + 1
    assert throttle.wait("ana", "1.2.3.4") == 0
    assert throttle.failures("ana", "1.2.3.4") == 0
    assert throttle.address_failures("1.2.3.4") == 0

def test_timed_out_sessions_are_swept_when_a_new_one_starts():
    clock = Clock()
    store = SessionStore(clock=clock)
    for name in ("ana", "ben", "carl"):
        store.start(name, "staff", None)
    clock.now += 31 * 60
    store.start("dora", "staff", None)
    assert store.users() == {"dora"} and len(store) == 1
