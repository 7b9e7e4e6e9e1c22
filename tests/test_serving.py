"""Loading while the web app serves: the server is the project's one writer, `corridor
ingest` hands it the files, and pages keep answering from the last commit throughout —
no lock error, no downtime — with a real server and a real command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import httpx
import pytest

from corridor.serving import Serving, find, serving_path
from corridor.showcase import later_journeys
from corridor.store import Project
from helpers import served

PASSWORD = "serving test password"
PAGES = ("/", "/map", "/flow", "/funnel", "/journey", "/departments", "/actions")


def corridor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corridor", *args], capture_output=True,
                          text=True, env={**os.environ})


@pytest.fixture(scope="module")
def project(web_demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    copy = folder / "company.duckdb"
    shutil.copy(web_demo, copy)
    return copy


@pytest.fixture(scope="module")
def demo_files(web_demo):
    """The files the demo company was generated into (ids as the company knows them)."""
    return web_demo.with_name(web_demo.stem + "-files")


def sign_in(client: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/login").text).group(1)
    done = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                        "csrf_token": token})
    assert done.status_code == 303


def test_ingest_while_serving_goes_through_the_server_and_pages_stay_up(project, demo_files,
                                                                       tmp_path):
    extra = tmp_path / "later-events.csv"
    rows = later_journeys(demo_files, extra, cases=400)
    with Project.open(project, read_only=True) as p:
        before = p.con.execute("SELECT count(*) FROM events").fetchone()[0]
    answers: list[tuple[float, str, int]] = []
    stop = threading.Event()
    with served(project, PASSWORD) as base:
        assert find(project) is not None
        assert oct(serving_path(project).stat().st_mode & 0o777) == "0o600"

        def browse() -> None:
            with httpx.Client(base_url=base, timeout=120) as client:
                sign_in(client)
                while not stop.is_set():
                    for page in PAGES:
                        answer = client.get(page)
                        answers.append((time.monotonic(), page, answer.status_code))

        browsing = threading.Thread(target=browse)
        browsing.start()
        time.sleep(1.0)
        started = time.monotonic()
        done = corridor("ingest", str(project), "events", str(extra))
        ended = time.monotonic()
        time.sleep(0.5)
        stop.set()
        browsing.join(timeout=300)
        with httpx.Client(base_url=base, timeout=120) as client:
            sign_in(client)
            after_page = client.get("/").text
    assert done.returncode == 0, done.stderr
    assert "loading through the server" in done.stderr
    assert f"{rows:,}" in done.stdout or str(rows) in done.stdout
    assert "not in the customers table" not in done.stdout  # pseudonyms joined
    failed = [(page, status) for _, page, status in answers if status != 200]
    assert failed == []
    during = [a for a in answers if started <= a[0] <= ended]
    assert len(during) >= 3, "no page was asked for while the load ran"
    with Project.open(project, read_only=True) as p:
        after = p.con.execute("SELECT count(*) FROM events").fetchone()[0]
        logged = p.con.execute(
            "SELECT actor FROM audit_log WHERE action = 'data.load'").fetchall()
    assert after == before + rows
    assert logged and logged[-1][0].startswith("cli:")
    assert f"{after:,}" in after_page or str(after) in after_page.replace("\u202f", "")
    assert not serving_path(project).exists(), "the serving file outlived the server"


def test_a_command_line_load_without_a_server_opens_the_project_itself(project, demo_files,
                                                                      tmp_path):
    extra = tmp_path / "more-events.csv"
    rows = later_journeys(demo_files, extra, cases=5, years=2)  # not the ones loaded above
    done = corridor("ingest", str(project), "events", str(extra))
    assert done.returncode == 0, done.stderr
    assert "through the server" not in done.stderr and str(rows) in done.stdout
    assert "not in the customers table" not in done.stdout  # the later journeys join


def test_a_serving_file_left_by_a_killed_server_is_ignored(tmp_path):
    project = tmp_path / "company.duckdb"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    serving_path(project).write_text(
        f'{{"pid": {dead.pid}, "url": "http://127.0.0.1:9", "token": "crd_run_x"}}')
    assert find(project) is None
    assert find(project, alive_only=False) == Serving(dead.pid, "http://127.0.0.1:9",
                                                       "crd_run_x")


def test_readers_of_a_held_project_see_the_last_commit_and_write_beside_it(project):
    with Project.held(project) as holder:
        holder.con.execute("BEGIN")
        holder.con.execute("INSERT INTO meta VALUES ('in flight', 'x')")
        with Project.open(project, read_only=True) as reader:
            assert reader.con.execute(
                "SELECT count(*) FROM meta WHERE key = 'in flight'").fetchone()[0] == 0
        with Project.open(project) as writer:
            writer.con.execute("INSERT INTO meta VALUES ('beside', 'y')")
        holder.con.execute("COMMIT")
    with Project.open(project) as p:
        found = p.con.execute("SELECT count(*) FROM meta WHERE key IN ('in flight', 'beside')"
                              ).fetchone()[0]
        p.con.execute("DELETE FROM meta WHERE key IN ('in flight', 'beside')")
    assert found == 2
