"""The page cache under concurrent requests: different pages compute side by side, one
page is computed once however many ask for it at the same time, a write waits for the
computations and goes alone, and a page computed across a write is not kept."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.templating import Jinja2Templates

from corridor.store import Project
from corridor.web_site import SharedLock, Site

WAIT = 10  # seconds any step of these tests may take at most


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "company.duckdb"
    Project.create(path).close()
    return Site(path, Jinja2Templates(directory=str(tmp_path)))


def in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    return thread, out


def test_a_slow_page_does_not_hold_up_another_page(site):
    release = threading.Event()

    def slow(_path):
        assert release.wait(WAIT)
        return "slow page"

    thread, slow_answer = in_thread(lambda: site.cached("slow", slow))
    time.sleep(0.2)
    started = time.monotonic()
    assert site.cached("quick", lambda _path: "quick page") == "quick page"
    assert time.monotonic() - started < 1.0
    release.set()
    thread.join(WAIT)
    assert slow_answer == ["slow page"]


def test_a_page_asked_for_by_many_at_once_is_computed_once(site):
    calls = []
    release = threading.Event()

    def page(_path):
        calls.append(1)
        assert release.wait(WAIT)
        return object()

    threads = [in_thread(lambda: site.cached("page", page)) for _ in range(5)]
    time.sleep(0.3)
    release.set()
    answers = []
    for thread, out in threads:
        thread.join(WAIT)
        answers += out
    assert len(calls) == 1
    assert len(answers) == 5 and all(a is answers[0] for a in answers)


def test_a_failed_computation_fails_every_waiter_and_is_tried_again_later(site):
    release = threading.Event()

    def broken(_path):
        assert release.wait(WAIT)
        raise ValueError("no data")

    errors = []

    def ask():
        try:
            site.cached("broken", broken)
        except ValueError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    release.set()
    for t in threads:
        t.join(WAIT)
    assert errors == ["no data"] * 3
    assert site.cached("broken", lambda _path: "fixed") == "fixed"


def test_a_write_waits_for_computations_and_a_page_computed_across_it_is_not_kept(site):
    release = threading.Event()
    computing = threading.Event()

    def page(path):
        with Project.open(path, read_only=True) as p:  # the file is open read-only
            computing.set()
            assert release.wait(WAIT)
            return p.con.execute("SELECT count(*) FROM meta").fetchone()[0]

    reader, before = in_thread(lambda: site.cached("meta rows", page))
    assert computing.wait(WAIT)
    writer, _ = in_thread(lambda: site.write(
        lambda p: p.con.execute("INSERT INTO meta VALUES ('written', 'x')"),
        forget=("meta rows",)))
    time.sleep(0.3)
    assert writer.is_alive(), "the write went on while a page had the file open"
    release.set()
    reader.join(WAIT)
    writer.join(WAIT)
    assert not writer.is_alive()
    after = site.cached("meta rows", page)
    assert after == before[0] + 1  # the page computed before the write was not kept


def test_the_shared_lock_lets_a_holder_share_again_while_a_writer_waits():
    lock = SharedLock()
    with lock.shared():
        writer = threading.Thread(target=lambda: lock.exclusive().__enter__())
        writer.daemon = True
        writer.start()
        time.sleep(0.2)
        done = threading.Event()

        def again():
            with lock.shared():
                done.set()

        threading.Thread(target=again, daemon=True).start()
        assert done.wait(WAIT)
