"""The step table kept in the project: every load of events brings it up to date in the
same transaction, touched cases only when it can, and an analysis of all events reads it
only while it matches the events."""

from __future__ import annotations

import pytest

from corridor.errors import RejectRateExceeded
from corridor.ingest import ingest_file
from corridor.journeys import analyse
from corridor.steps import case_steps
from corridor.stepstore import (STEPS_TABLE, fingerprint, refresh_steps, steps_or_events,
                                stored_steps)
from corridor.store import Project
from helpers import write

HEADER = "customer_id,case_id,touchpoint,timestamp,channel,outcome\n"
FIRST = (HEADER
         + "c1,,home,2024-01-01 10:00:00,web,ok\n"
         + "c1,,cart,2024-01-01 10:05:00,web,ok\n"
         + "c2,,home,2024-01-02 10:00:00,web,ok\n"
         + "c2,,pay,2024-01-02 10:00:00,web,ok\n"   # same time: source order decides
         + "c3,,cart,2024-01-03 09:00:00,app,failed\n")


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        yield p


def load(project, tmp_path, name, text, **options):
    return ingest_file(project, "events", write(tmp_path / name, text), **options)


def stored_rows(project) -> list[tuple]:
    return sorted(project.con.execute(
        f"SELECT case_id, code, step, millis, next_code, gap_us FROM {STEPS_TABLE}").fetchall())


def fresh_rows(project) -> list[tuple]:
    steps = stored_steps(project)
    fresh = case_steps(project.table("events"), steps.codes).table
    return sorted(tuple(r.values()) for r in fresh.to_pyarrow().to_pylist())


def test_a_load_of_events_stores_the_steps_the_analytics_would_compute(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    steps = stored_steps(project)
    assert steps is not None and steps.codes.touchpoints == ("cart", "home", "pay")
    assert stored_rows(project) == fresh_rows(project)
    assert analyse(steps).to_dict() == analyse(project.table("events")).to_dict()


def test_a_later_load_orders_again_only_the_cases_it_touched(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    untouched = [r for r in stored_rows(project) if r[0] == "c3"]
    load(project, tmp_path, "b.csv", HEADER
         + "c1,,pay,2024-01-01 10:07:00,web,ok\n"      # c1 grows at its end
         + "c2,,cart,2024-01-02 09:00:00,web,ok\n"     # c2 gets an earlier first step
         + "c4,,home,2024-01-04 08:00:00,web,ok\n")   # a new case
    assert stored_rows(project) == fresh_rows(project)
    assert [r for r in stored_rows(project) if r[0] == "c3"] == untouched
    assert [r[2] for r in stored_rows(project) if r[0] == "c2"] == [1, 2, 3]


def test_a_new_touchpoint_rebuilds_the_dictionary_in_name_order(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    load(project, tmp_path, "b.csv", HEADER + "c1,,advice,2024-01-01 11:00:00,phone,ok\n")
    steps = stored_steps(project)
    assert steps.codes.touchpoints == ("advice", "cart", "home", "pay")
    assert stored_rows(project) == fresh_rows(project)


def test_events_changed_outside_a_load_are_not_read_from_stale_steps(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    project.con.execute("DELETE FROM events WHERE case_id = 'c1'")
    assert stored_steps(project) is None
    assert not hasattr(steps_or_events(project), "codes")  # the events themselves
    refresh_steps(project)
    assert stored_steps(project) is not None
    assert {r[0] for r in stored_rows(project)} == {"c2", "c3"}


def test_a_refused_load_leaves_the_stored_steps_as_they_were(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    before, print_before = stored_rows(project), fingerprint(project.con)
    with pytest.raises(RejectRateExceeded):
        load(project, tmp_path, "bad.csv", HEADER + "c9,,home,yesterday,web,ok\n"
             + "c9,,cart,2024-01-05 10:00:00,web,ok\n", max_reject_rate=0.1)
    assert stored_rows(project) == before and fingerprint(project.con) == print_before
    assert stored_steps(project) is not None


def test_events_changed_in_place_are_reordered_by_a_full_refresh(project, tmp_path):
    load(project, tmp_path, "a.csv", FIRST)
    project.con.execute("UPDATE events SET touchpoint = 'basket' WHERE touchpoint = 'cart'")
    refresh_steps(project, full=True)
    assert stored_steps(project).codes.touchpoints == ("basket", "home", "pay")
    assert stored_rows(project) == fresh_rows(project)


def test_a_project_without_events_stores_an_empty_step_table(project):
    refresh_steps(project, full=True)
    steps = stored_steps(project)
    assert steps is not None and steps.codes.touchpoints == ()
    assert stored_rows(project) == []
