"""Killing an ingest (kill -9) at any moment leaves the project as it was before the
load or as it is after it, never in between."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from corridor.ingest import ingest_file
from corridor.store import Project

from helpers import write

ROWS = 200_000


@pytest.fixture(scope="module")
def big_events(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "events.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("customer_id,touchpoint,timestamp,channel,wait_seconds\n")
        for i in range(ROWS):
            f.write(f"c{i % 5000},tp{i % 23},2024-01-{1 + i % 28:02d} {i % 24:02d}:00:00,web,{i % 300}\n")
            if i % 10_000 == 7:
                f.write(f"c{i},tp1,never,web,1\n")
    return path


def _state(path):
    with Project.open(path, read_only=True) as p:
        return p.counts()


@pytest.mark.slow
def test_kill_minus_nine_at_random_moments_leaves_before_or_after(tmp_path, big_events):
    project = tmp_path / "p.duckdb"
    with Project.create(project) as p:
        ingest_file(p, "events", write(tmp_path / "small.csv", "customer_id,touchpoint,timestamp\nc0,tp0,2024-01-01\n"))
    before = _state(project)
    rng = random.Random(20261122)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "corridor", "ingest", str(project), "events", str(big_events), "--quiet"],
                   check=True, capture_output=True)
    full_seconds = time.monotonic() - start
    after = _state(project)
    assert after["events"] == before["events"] + ROWS
    # Start again from "before" and kill at random moments within a full load's time.
    outcomes = set()
    for attempt in range(4):
        trial = tmp_path / f"trial{attempt}.duckdb"
        with Project.create(trial) as p:
            ingest_file(p, "events", write(tmp_path / f"small{attempt}.csv", "customer_id,touchpoint,timestamp\nc0,tp0,2024-01-01\n"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "corridor", "ingest", str(trial), "events", str(big_events), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, max(0.4, full_seconds * 0.95)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = _state(trial)
        assert state in (before, after), f"partial state after kill: {state}"
        outcomes.add("after" if state == after else "before")
    assert "before" in outcomes


def test_a_file_larger_than_the_memory_allowed_still_loads(tmp_path):
    import duckdb

    path = tmp_path / "large.csv"
    duckdb.connect().execute(
        "COPY (SELECT 'c' || (i % 7000) AS customer_id, 'tp' || (i % 23) AS touchpoint,"
        " TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS timestamp, 'web' AS channel,"
        f" i % 300 AS wait_seconds FROM range(1500000) t(i)) TO '{path}' (HEADER)"
    )
    limit_mb = 32
    assert path.stat().st_size > limit_mb * 1024 * 1024
    project = tmp_path / "p.duckdb"
    Project.create(project).close()
    proc = subprocess.run(
        [sys.executable, "-m", "corridor", "ingest", str(project), "events", str(path), "--json"],
        capture_output=True, text=True, env={**os.environ, "CORRIDOR_INGEST_MEMORY_LIMIT": f"{limit_mb}MB"},
    )
    assert proc.returncode == 0, proc.stderr
    assert '"accepted": 1500000' in proc.stdout
