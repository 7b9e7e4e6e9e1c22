"""The journeys report and the event filters it applies."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from corridor.errors import InputError
from corridor.filters import EventFilter, apply
from corridor.journeys import analyse

from helpers import canonical_events



def log(rows: list[tuple]) -> pd.DataFrame:
    """Canonical events from (case_id, touchpoint, timestamp, channel, outcome,
    department_id); the customer is the case and seq is the row position."""
    frame = pd.DataFrame(
        rows,
        columns=["case_id", "touchpoint", "timestamp", "channel", "outcome", "department_id"],
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return canonical_events(frame)


EVENTS = [
    ("u1", "search", "2024-01-10 09:00", "web", "ok", "d1"),
    ("u1", "call", "2024-01-10 10:00", "phone", "failed", None),
    ("u1", "buy", "2024-01-10 11:00", "web", "ok", "d1"),
    ("u2", "search", "2024-01-31 23:30", "web", "ok", "d1"),
    ("u2", "buy", "2024-02-01 00:30", "store", "abandoned", "d3"),
    ("u3", "search", "2024-02-15 09:00", None, "ok", "d1"),
    ("u3", "call", "2024-02-15 09:05", "phone", "ok", None),
]
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["u1", "u2", "u3"],
        "level": ["person", "company", "company"],
        "segment": ["gold", "silver", "gold"],
    }
).astype("string")
TOUCHPOINTS = pd.DataFrame(
    {
        "touchpoint": ["search", "call", "buy"],
        "channel": ["app", "phone", "web"],
        "department_id": ["d1", "d2", "d1"],
    }
).astype("string")


def kept(events, flt: EventFilter, **tables) -> list[tuple[str, str]]:
    frame = apply(events, flt, **tables).select("case_id", "touchpoint", "seq").to_pandas()
    return [(r.case_id, r.touchpoint) for r in frame.sort_values("seq").itertuples()]


def test_period_start_is_inclusive_and_a_date_end_includes_its_day(put):
    events = put(log(EVENTS))
    january = EventFilter(start=date(2024, 1, 10), end=date(2024, 1, 31))
    assert kept(events, january) == [
        ("u1", "search"), ("u1", "call"), ("u1", "buy"), ("u2", "search"),
    ]
    before_midnight = EventFilter(
        start=datetime(2024, 1, 10, 10, 0), end=datetime(2024, 1, 31, 23, 30)
    )
    assert kept(events, before_midnight) == [("u1", "call"), ("u1", "buy")]


def test_segment_and_level_filter_through_the_customers_table(put):
    events, customers = put(log(EVENTS)), put(CUSTOMERS)
    gold = kept(events, EventFilter(segments=("gold",)), customers=customers)
    assert {c for c, _ in gold} == {"u1", "u3"}
    gold_companies = EventFilter(segments=("gold",), levels=("company",))
    assert kept(events, gold_companies, customers=customers) == [
        ("u3", "search"), ("u3", "call"),
    ]


def test_channel_department_outcome_and_touchpoint_filters(put):
    events, touchpoints = put(log(EVENTS)), put(TOUCHPOINTS)
    assert kept(events, EventFilter(outcomes=("failed", "abandoned"))) == [
        ("u1", "call"), ("u2", "buy"),
    ]
    # Without the touchpoints table only the events' own departments count ...
    assert kept(events, EventFilter(departments=("d2",))) == []
    # ... with it, an event without a department takes its touchpoint's.
    assert kept(events, EventFilter(departments=("d2",)), touchpoints=touchpoints) == [
        ("u1", "call"), ("u3", "call"),
    ]
    # The event's own channel wins over the touchpoint's; a missing one falls back.
    assert kept(events, EventFilter(channels=("app",)), touchpoints=touchpoints) == [
        ("u3", "search"),
    ]
    assert kept(events, EventFilter(touchpoints=("buy",))) == [("u1", "buy"), ("u2", "buy")]


def test_filtered_out_events_leave_the_sequence_and_the_rest_of_the_case_stays(put):
    report = analyse(put(log(EVENTS)), flt=EventFilter(touchpoints=("search", "buy")))
    assert [(v.path, v.cases) for v in report.variants] == [
        (("search", "buy"), 2), (("search",), 1),
    ]
    assert [(e.source, e.target, e.count) for e in report.dfg.edges] == [
        ("search", "buy", 2),
    ]


def test_filter_mistakes_are_refused_with_a_clear_sentence():
    with pytest.raises(InputError, match="outcome 'okay'"):
        EventFilter(outcomes=("okay",))
    with pytest.raises(InputError, match="level 'vip'"):
        EventFilter(levels=("vip",))
    with pytest.raises(InputError, match="tuple"):
        EventFilter(channels="web")
    with pytest.raises(InputError, match="period is empty"):
        EventFilter(start=date(2024, 2, 1), end=datetime(2024, 1, 1))


def test_segment_filter_without_customers_is_refused(put):
    with pytest.raises(InputError, match="customers table"):
        apply(put(log(EVENTS)), EventFilter(segments=("gold",)))


def test_report_has_the_documented_json_shape(put):
    report = analyse(put(log(EVENTS)), top=2)
    data = json.loads(json.dumps(report.to_dict()))
    assert (data["cases"], data["events"]) == (3, 7)
    assert data["variants"] == [
        {"path": ["search", "buy"], "cases": 1, "share": pytest.approx(1 / 3)},
        {"path": ["search", "call"], "cases": 1, "share": pytest.approx(1 / 3)},
    ]
    first = data["dfg"][0]
    assert set(first) == {
        "source", "target", "count", "cases", "median_seconds", "mean_seconds",
        "p90_seconds",
    }
    assert (first["source"], first["target"], first["count"]) == ("search", "call", 2)
    assert first["median_seconds"] == pytest.approx(1950.0)  # 3600 s and 300 s
    assert data["starts"] == [{"touchpoint": "search", "cases": 3}]
    assert data["ends"] == [
        {"touchpoint": "buy", "cases": 2}, {"touchpoint": "call", "cases": 1},
    ]
    assert data["durations"]["cases"] == 3
    assert data["durations"]["max_seconds"] == pytest.approx(7200.0)
    assert data["corridor"]["basic"] == ["search"]
    assert {"basic", "alternatives", "optional"} <= set(data["corridor"])
    without_roles = analyse(put(log(EVENTS)), top=2, roles=False).to_dict()
    assert without_roles["corridor"] == {"basic": [], "alternatives": [], "optional": []}


def test_coverage_trims_variants_and_map_but_keeps_the_main_path(put):
    # The most frequent variant (a b c, 3 cases) uses the two rarest edges; six
    # one-case variants loop through x, y and z.
    rows = []
    for i in range(3):
        rows += [(f"m{i}", tp, f"2024-05-01 0{k}:00", "web", "ok", "d1")
                 for k, tp in enumerate(("a", "b", "c"))]
    loops = ["xyzxy", "yzxyz", "zxyzx", "xyzx", "yzxy", "zxyz"]
    for i, loop in enumerate(loops):
        rows += [(f"l{i}", tp, f"2024-05-02 0{k}:00", "web", "ok", "d1")
                 for k, tp in enumerate(loop)]
    report = analyse(put(log(rows)), coverage=0.5)
    assert report.variant_coverage.variants == 3  # 3 + 1 + 1 of 9 cases reaches 50 %
    assert report.variants[0].path == ("a", "b", "c")
    assert len(report.variants) == 3
    kept_edges = {(e.source, e.target) for e in report.dfg.edges}
    assert {("a", "b"), ("b", "c")} <= kept_edges
    assert {("a", "b"), ("b", "c")} != kept_edges  # the busy loop edges are there too
    assert report.dfg.coverage == 0.5
    assert {s.touchpoint for s in report.starts} == {"a", "x", "y", "z"}


def test_report_of_no_events_is_empty_not_an_error(put):
    report = analyse(put(log(EVENTS)), flt=EventFilter(touchpoints=("nowhere",)))
    assert (report.cases, report.events, report.variants, report.dfg.edges) == (0, 0, (), ())
    assert report.durations.cases == 0
