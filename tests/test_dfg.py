"""Directly-follows graph, starts and ends, case durations and map simplification."""

from __future__ import annotations

import pandas as pd
import pytest

from corridor.dfg import (
    DirectlyFollowsGraph,
    Edge,
    Node,
    case_durations,
    directly_follows,
    duration_summary,
    simplify,
)
from corridor.errors import InputError

from helpers import timed_events

START = pd.Timestamp("2024-03-01 08:00:00")
MIN = 60.0


def log(rows: list[tuple], *, seqs: list[int] | None = None) -> pd.DataFrame:
    """Canonical events from (case_id, touchpoint, seconds after START)."""
    return timed_events(rows, unit="s", seqs=seqs, start=START)


def minutes(*pairs: tuple[str, float]) -> list[tuple[str, float]]:
    return [(tp, m * MIN) for tp, m in pairs]


def case(name: str, *pairs: tuple[str, float]) -> list[tuple]:
    return [(name, tp, s) for tp, s in minutes(*pairs)]


# a → b happens 5 times (gaps 10, 20, 30, 40, 100 min) in 4 cases; c5's two events
# share a timestamp and seq puts y first.
FLOW = (
    case("c1", ("a", 0), ("b", 10), ("c", 30))
    + case("c2", ("a", 0), ("b", 20), ("b", 25), ("c", 55))
    + case("c3", ("a", 0), ("b", 30))
    + case("c4", ("a", 0), ("b", 40), ("a", 50), ("b", 150))
    + case("c5", ("x", 0), ("y", 0))
)
FLOW_SEQS = list(range(len(FLOW) - 2)) + [101, 100]


def edge_map(graph: DirectlyFollowsGraph) -> dict[tuple[str, str], Edge]:
    return {(e.source, e.target): e for e in graph.edges}


def test_edges_count_occurrences_cases_and_exact_times(put):
    graph = directly_follows(put(log(FLOW, seqs=FLOW_SEQS)))
    edges = edge_map(graph)
    assert {k: (e.count, e.cases) for k, e in edges.items()} == {
        ("a", "b"): (5, 4),
        ("b", "c"): (2, 2),
        ("b", "b"): (1, 1),
        ("b", "a"): (1, 1),
        ("y", "x"): (1, 1),
    }
    ab = edges[("a", "b")]
    # Exact, linearly interpolated quantiles: the p90 (76 min) is no observed gap, so an
    # approximate percentile could not produce it.
    assert ab.median_seconds == pytest.approx(30 * MIN, rel=1e-12)
    assert ab.mean_seconds == pytest.approx(40 * MIN, rel=1e-12)
    assert ab.p90_seconds == pytest.approx(76 * MIN, rel=1e-12)
    bc = edges[("b", "c")]
    assert (bc.median_seconds, bc.mean_seconds) == pytest.approx((25 * MIN, 25 * MIN))
    assert bc.p90_seconds == pytest.approx(29 * MIN, rel=1e-12)
    assert edges[("y", "x")].median_seconds == 0.0
    assert graph.edges[0] == ab  # most occurrences first


def test_starts_ends_and_node_counts(put):
    graph = directly_follows(put(log(FLOW, seqs=FLOW_SEQS)))
    assert [(s.touchpoint, s.cases) for s in graph.starts] == [("a", 4), ("y", 1)]
    assert [(e.touchpoint, e.cases) for e in graph.ends] == [("b", 2), ("c", 2), ("x", 1)]
    assert {n.touchpoint: n.events for n in graph.nodes} == {
        "a": 5, "b": 6, "c": 2, "x": 1, "y": 1,
    }


def test_times_keep_sub_second_precision(put):
    rows = [("s", "a", 0.0), ("s", "b", 0.25), ("t", "a", 0.0), ("t", "b", 1.000001)]
    edge = directly_follows(put(log(rows))).edges[0]
    assert edge.mean_seconds == pytest.approx((0.25 + 1.000001) / 2, abs=1e-9)
    assert edge.median_seconds == pytest.approx((0.25 + 1.000001) / 2, abs=1e-9)


def test_case_durations_summary_and_per_case(put):
    events = put(log(FLOW, seqs=FLOW_SEQS))
    summary = duration_summary(events)
    assert summary.cases == 5
    # durations 30, 55, 30, 150 and 0 minutes
    assert summary.median_seconds == pytest.approx(30 * MIN)
    assert summary.mean_seconds == pytest.approx(53 * MIN)
    assert summary.p90_seconds == pytest.approx(112 * MIN)
    assert summary.max_seconds == pytest.approx(150 * MIN)
    per_case = case_durations(events).to_pandas().set_index("case_id")
    assert per_case.loc["c2", "duration_seconds"] == pytest.approx(55 * MIN)
    assert per_case.loc["c5", "duration_seconds"] == 0.0
    assert per_case.loc["c4", "events"] == 4


def test_no_events_give_an_empty_graph_and_no_durations(put):
    events = put(log(case("c1", ("a", 0))).iloc[0:0])
    graph = directly_follows(events)
    assert (graph.nodes, graph.edges) == ((), ())
    assert duration_summary(events).median_seconds is None


# -- simplification (pure: works on the small graph already pulled out) ---------------


def graph_of(counts: dict[tuple[str, str], int]) -> DirectlyFollowsGraph:
    edges = [Edge(s, t, n, n, 1.0, 1.0, 1.0) for (s, t), n in counts.items()]
    names = sorted({name for pair in counts for name in pair})
    nodes = tuple(Node(name, 1, 0, 0) for name in names)
    return DirectlyFollowsGraph(nodes, tuple(sorted(edges, key=lambda e: (-e.count, e.source))))


BUSY = {("x", "y"): 50, ("y", "z"): 40, ("z", "x"): 30, ("a", "b"): 10, ("b", "c"): 10}


def test_simplify_keeps_the_leading_edges_that_reach_the_coverage():
    # 140 transitions; 80 % is 112: x→y (50), y→z (90) and z→x (120) are needed.
    small = simplify(graph_of(BUSY), 0.8)
    assert [(e.source, e.target) for e in small.edges] == [("x", "y"), ("y", "z"), ("z", "x")]
    assert {n.touchpoint for n in small.nodes} == {"x", "y", "z"}
    assert small.coverage == 0.8
    # exactly reaching the target needs no more edges: 90 of 140 is 0.642857...
    assert len(simplify(graph_of(BUSY), 90 / 140).edges) == 2


def test_simplify_never_drops_the_most_frequent_path():
    small = simplify(graph_of(BUSY), 0.5, keep_path=("a", "b", "c"))
    assert {(e.source, e.target) for e in small.edges} == {
        ("x", "y"), ("y", "z"), ("a", "b"), ("b", "c"),
    }
    assert {n.touchpoint for n in small.nodes} == {"x", "y", "z", "a", "b", "c"}


def test_simplify_at_full_coverage_keeps_everything():
    graph = graph_of(BUSY)
    assert simplify(graph, 1.0).edges == graph.edges


def test_simplify_without_edges_keeps_the_busiest_touchpoints():
    nodes = (Node("p", 6, 6, 6), Node("q", 3, 3, 3), Node("r", 1, 1, 1))
    small = simplify(DirectlyFollowsGraph(nodes, ()), 0.6)
    assert [n.touchpoint for n in small.nodes] == ["p"]


def test_simplify_refuses_a_coverage_outside_zero_to_one():
    with pytest.raises(InputError):
        simplify(graph_of(BUSY), 0)
