"""Loops count touchpoint instances: the SCHEDULE, START and COMPLETE events an XES log
writes for one activity are one visit, not rework; a second completed visit is a repeat.
Events without a lifecycle count as before. Same answers on every engine."""

from __future__ import annotations

import pandas as pd

from corridor.loops import instances, loops

from helpers import START, canonical_events


def lifecycle_events(rows) -> pd.DataFrame:
    """Canonical events from (case_id, touchpoint, lifecycle, minutes after START)."""
    frame = pd.DataFrame(rows, columns=["case_id", "touchpoint", "lifecycle", "minutes"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("minutes"), unit="min")
    frame = canonical_events(frame)
    frame["lifecycle"] = frame["lifecycle"].astype("string")
    return frame


def triplet(case, touchpoint, minute):
    return [(case, touchpoint, state, minute + i)
            for i, state in enumerate(("SCHEDULE", "START", "COMPLETE"))]


# a: one instance each of x, y, z, as triplets -> no rework, no ping-pong
# b: x twice (two triplets) around y -> one repeat of x, one ping-pong x-y-x
# c: x scheduled once, then started and completed twice -> one repeat
# d: no lifecycle at all: x, x -> one repeat, as without the column
TRIPLETS = [
    *triplet("a", "x", 0), *triplet("a", "y", 10), *triplet("a", "z", 20),
    *triplet("b", "x", 0), *triplet("b", "y", 10), *triplet("b", "x", 20),
    ("c", "x", "schedule", 0), ("c", "x", "start", 1), ("c", "x", "complete", 2),
    ("c", "x", "start", 3), ("c", "x", "complete", 4),
    ("d", "x", None, 0), ("d", "x", None, 1),
]


def test_one_activity_instance_in_three_lifecycle_events_is_not_rework(put):
    result = loops(put(lifecycle_events(TRIPLETS)))
    assert result.cases == 4
    repeats = {r.touchpoint: (r.cases, r.cases_with_repeats, r.repeats) for r in result.repeats}
    # x: cases a, b, c, d visit it; b, c and d visit it twice
    assert repeats == {"x": (4, 3, 3)}
    assert (result.cases_with_repeats, result.total_repeats) == (3, 3)
    assert [(p.touchpoint, p.via, p.occurrences, p.cases) for p in result.ping_pongs] == [
        ("x", "y", 1, 1)]


def test_interleaved_lifecycle_events_make_no_ping_pong(put):
    # x is scheduled, y happens, x starts and completes: one visit of each, no x-y-x
    rows = [("e", "x", "SCHEDULE", 0), ("e", "y", "COMPLETE", 1), ("e", "x", "START", 2),
            ("e", "x", "COMPLETE", 3)]
    result = loops(put(lifecycle_events(rows)))
    assert (result.cases_with_repeats, result.cases_with_ping_pong) == (0, 0)
    assert result.ping_pongs == ()


def test_without_a_lifecycle_every_event_is_an_instance(put):
    frame = lifecycle_events(TRIPLETS)
    with_column = loops(put(frame.assign(lifecycle=pd.Series([None] * len(frame),
                                                              dtype="string"))))
    without_column = loops(put(frame.drop(columns="lifecycle")))
    assert with_column == without_column
    # counted per event: a 2 + 2 + 2 (three events at each of x, y, z), b 5 + 2, c 4, d 1
    assert without_column.total_repeats == 18
    assert without_column.cases_with_ping_pong == 0  # x x x y y y x x x has no x-y-x


def test_instances_prefer_complete_then_start_then_other_states(put):
    rows = [("f", "x", "START", 0), ("f", "x", "Complete", 1),  # complete wins
            ("f", "y", "schedule", 2), ("f", "y", "start", 3), ("f", "y", "start", 4),
            ("f", "z", "suspend", 5), ("f", "z", "resume", 6), ("f", "z", "resume", 7),
            ("f", "w", None, 8)]
    kept = instances(put(lifecycle_events(rows))).to_pandas()
    assert sorted(zip(kept.touchpoint, kept.lifecycle.fillna("-"))) == [
        ("w", "-"), ("x", "Complete"), ("y", "start"), ("y", "start"),
        ("z", "resume"), ("z", "resume")]
