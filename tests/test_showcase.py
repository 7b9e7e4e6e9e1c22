"""The demo command end to end: files generated, loaded through ingest, truths stored,
and the analysis finds the planted corridor."""

import json

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from corridor.store import Project

from helpers import run_cli


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "company.duckdb", DemoConfig(customers=3000, seed=11))


def test_every_generated_row_is_accounted_for_and_none_rejected(built):
    assert built.loads and all(r.read == r.accepted + r.rejected for r in built.loads)
    assert sum(r.rejected for r in built.loads) == 0
    with Project.open(built.project, read_only=True) as p:
        counts = p.counts()
        truths = dict(p.con.execute("SELECT name, value FROM planted_truths").fetchall())
        incidents = p.con.execute("SELECT count(*) FROM incidents").fetchone()[0]
        whys = p.con.execute("SELECT count(*) FROM whys WHERE parent_id IS NULL").fetchone()[0]
    assert counts["events"] == built.events > 0
    assert json.loads(truths["corridor"])["goal"] == built.truths.corridor.goal
    assert incidents >= 1 and whys == incidents  # each incident has one chain of whys


def test_the_analysis_finds_the_planted_corridor(built):
    analysis = json.loads(built.analysis_path.read_text(encoding="utf-8"))
    corridor = analysis["corridor"]
    assert corridor["basic"] == list(built.truths.corridor.basic)
    doors = [set(step) for step in built.truths.corridor.steps if len(step) > 1]
    assert [set(group) for group in corridor["alternatives"]] == doors
    assert analysis["cases"] > 0 and analysis["dfg"]


def test_a_second_build_replaces_the_first_whole(built):
    again = build_demo(built.project, DemoConfig(customers=1000, seed=3))
    with Project.open(again.project, read_only=True) as p:
        assert p.counts()["events"] == again.events
    assert not built.project.with_name(built.project.name + ".building").exists()


def test_demo_json_prints_loads_and_truths(tmp_path):
    proc = run_cli("demo", "--customers", "500", "--seed", "5", "--project", tmp_path / "d.duckdb", "--no-serve", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["read"] == data["accepted"] + data["rejected"]
    assert {"corridor", "bottleneck", "exception"} <= set(data["truths"])
