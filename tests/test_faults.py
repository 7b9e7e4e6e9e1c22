"""Faults from the machine, through the real CLI and a real server: a full disk is one
sentence naming where space is needed (exit 1, or 507 from the API) and leaves the
project as it was; a server killed in the middle of a load leaves no copy of the upload
behind for long; an unexpected failure is still one sentence with a documented exit
code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest

from corridor.serving import find, uploads_path
from corridor.store import Project
from helpers import add_account, run_cli, served

PASSWORD = "faults test password"


def _one_sentence(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _events(path, customers: int, rows: int, start: str = "2024-01-01") -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": [f"C{i % customers}" for i in range(rows)],
        "touchpoint": [("visit", "order", "install", "bill")[i % 4] for i in range(rows)],
        "timestamp": pd.Timestamp(start) + pd.to_timedelta(range(rows), unit="min"),
        "wait_seconds": [float(i % 90) for i in range(rows)],
    })
    frame.to_csv(path, index=False)
    return frame


# -- a small filesystem made for the test ---------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs of its own (the tests run as root), unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("there is no mount command, so no small filesystem can be made")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("a small filesystem cannot be mounted here (needs root):"
                    f" {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(folder, leave_bytes: int = 8 * 1024):
    """Take all but ``leave_bytes`` of the filesystem's free space; the filler file."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    filler = folder / "filler"
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(free - leave_bytes, 1))
    return filler


def _state(project) -> tuple:
    with Project.open(project, read_only=True) as p:
        return (p.counts(),
                p.con.execute("SELECT count(*) FROM audit_log").fetchone()[0],
                p.con.execute("SELECT count(DISTINCT customer_id) FROM events").fetchone()[0])


@pytest.fixture
def loaded(small_disk, tmp_path):
    """A project on the small disk with 600 events of 50 customers."""
    project = small_disk / "p.duckdb"
    assert run_cli("init", project).returncode == 0
    done = run_cli("ingest", project, "events", _events_csv(tmp_path, "first.csv"))
    assert done.returncode == 0, done.stderr
    return project


def _events_csv(tmp_path, name: str, start: str = "2024-01-01", rows: int = 600):
    path = tmp_path / name
    _events(path, customers=50, rows=rows, start=start)
    return path


def test_ingest_on_a_full_disk_says_so_and_leaves_the_project_as_it_was(loaded, tmp_path):
    before = _state(loaded)
    more = _events_csv(tmp_path, "more.csv", start="2024-03-01", rows=20_000)
    filler = _fill(loaded.parent)

    line = _one_sentence(run_cli("ingest", loaded, "events", more), 1)
    assert "No space is left on the disk holding" in line and str(loaded.parent) in line
    assert "as it was before" in line and "TransactionException" not in line

    filler.unlink()
    assert _state(loaded) == before
    assert run_cli("info", loaded).returncode == 0
    again = run_cli("ingest", loaded, "events", more, "--json")
    assert again.returncode == 0, again.stderr  # with space again, the same file loads


def test_erasure_on_a_full_disk_says_so_and_leaves_the_project_as_it_was(loaded):
    before = _state(loaded)
    filler = _fill(loaded.parent)

    line = _one_sentence(run_cli("customer", "erase", loaded, "C7", "--yes"), 1)
    assert "No space is left on the disk holding" in line and str(loaded.parent) in line
    assert "as it was before" in line

    filler.unlink()
    assert _state(loaded) == before
    assert not list(loaded.parent.glob("*.erasing*"))
    erased = run_cli("customer", "erase", loaded, "C7", "--yes", "--json")
    assert erased.returncode == 0, erased.stderr


def test_a_load_through_the_server_on_a_full_disk_answers_507_and_says_why(loaded, tmp_path):
    add_account(loaded, "admin", PASSWORD)  # before the disk fills: served() needs it
    more = _events_csv(tmp_path, "more.csv", start="2024-03-01", rows=20_000)
    before = _state(loaded)
    with served(loaded, PASSWORD) as base:
        # room for the uploaded copy, not for the load
        filler = _fill(loaded.parent, leave_bytes=more.stat().st_size + 64 * 1024)
        token = find(loaded).token
        with more.open("rb") as f:
            answer = httpx.post(f"{base}/api/v1/loads", data={"kind": "events"},
                                files={"file": ("more.csv", f)},
                                headers={"Authorization": f"Bearer {token}"}, timeout=120)
        assert answer.status_code == 507, answer.text
        detail = answer.json()["detail"]
        assert detail.startswith("No space is left on the disk holding")
        assert str(loaded.parent) in detail and "p.duckdb is as it was before" in detail

        through = run_cli("ingest", loaded, "events", more, "--quiet")
        line = _one_sentence(through, 1)
        assert "No space is left on the disk holding" in line
        assert not uploads_path(loaded).exists() or not any(uploads_path(loaded).iterdir())
        filler.unlink()
    assert _state(loaded) == before


# -- uploads a killed server left -----------------------------------------------------


def _serve(project, port: int) -> subprocess.Popen:
    env = {**os.environ, "CORRIDOR_SECRET": "s" * 20 + "faults-secret-for-tests"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corridor", "serve", str(project), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while find(project) is None or find(project).pid != proc.pid:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "corridor serve did not start"
        time.sleep(0.2)
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return proc
        except httpx.TransportError:
            assert time.monotonic() < deadline, "corridor serve did not answer"
            time.sleep(0.2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.duckdb"
    assert run_cli("init", path).returncode == 0
    assert run_cli("ingest", path, "events", _events_csv(tmp_path, "first.csv")).returncode == 0
    add_account(path, "admin", PASSWORD)
    return path


def test_a_server_killed_mid_load_leaves_an_upload_that_the_next_start_removes(project,
                                                                              tmp_path):
    big = _events_csv(tmp_path, "big.csv", start="2024-05-01", rows=400_000)
    before = _state(project)
    port = _free_port()
    server = _serve(project, port)
    token = find(project).token
    sending = subprocess.Popen(  # the upload, from another process, as corridor ingest sends it
        [sys.executable, "-c", (
            "import httpx, sys\n"
            f"with open({str(big)!r}, 'rb') as f:\n"
            f"    httpx.post('http://127.0.0.1:{port}/api/v1/loads', data={{'kind': 'events'}},"
            f" files={{'file': ('big.csv', f)}}, headers={{'Authorization': 'Bearer {token}'}},"
            " timeout=300)\n")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        copy = None
        while copy is None:  # the server has the upload in its folder: the load has begun
            found = [p for p in uploads_path(project).rglob("big.csv")] if uploads_path(project).exists() else []
            if found and found[0].stat().st_size == big.stat().st_size:
                copy = found[0]
            assert time.monotonic() < deadline, "the upload never reached the server's folder"
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        sending.kill()
        sending.wait()
    assert copy.exists()  # what a killed server leaves
    assert _state(project) == before  # ...and the load it was doing is not in the project

    restarted = _serve(project, _free_port())
    try:
        assert not uploads_path(project).exists()
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)


def test_erasure_removes_upload_leftovers_of_a_killed_server(project):
    leftover = uploads_path(project) / "0123abcd" / "events.csv"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("customer_id,touchpoint,timestamp\nC7,visit,2024-01-01T10:00:00\n")
    done = run_cli("customer", "erase", project, "C7", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert '"upload_leftovers": 1' in done.stdout
    assert not uploads_path(project).exists()


def test_erasure_refuses_while_the_server_it_runs_beside_is_loading(project):
    port = _free_port()
    server = _serve(project, port)
    try:
        in_flight = uploads_path(project) / "0123abcd" / "events.csv"
        in_flight.parent.mkdir(parents=True)
        in_flight.write_text("customer_id,touchpoint,timestamp\n")
        line = _one_sentence(run_cli("customer", "erase", project, "C7", "--yes"), 1)
        assert "is loading a file into" in line and "when the load has finished" in line
        assert in_flight.exists()
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- anything else is one sentence too -------------------------------------------------


def test_an_unexpected_failure_is_one_sentence_with_exit_one(project):
    with Project.open(project) as p:  # a damaged project: a table gone
        p.con.execute("DROP TABLE rejects")
    line = _one_sentence(run_cli("info", project), 1)
    assert line.startswith("Unexpected error (") and "--debug" in line
