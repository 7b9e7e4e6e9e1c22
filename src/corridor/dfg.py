"""The directly-follows graph, start and end touchpoints, and case durations.

An edge a → b counts every time an event at b comes directly after an event at a in the
same case, in (timestamp, seq) order. Its times are the seconds between those two events.
Medians and the 90th percentile are exact and interpolate linearly between the two
nearest values (DuckDB ``quantile_cont``, Spark ``percentile``; numpy's default and what
pm4py reports), so both engines give the same numbers. Approximate percentiles are not
used: Spark's ``approx_percentile`` returns an observed value, not an interpolated one.

Simplification for readable maps (:func:`simplify`) is defined in its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import ibis.expr.types as ir
from ibis import _

from .steps import CaseSteps, as_steps
from .variants import PPM, coverage_ppm

MICROS = 1_000_000


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    count: int  # occurrences
    cases: int  # distinct cases with at least one occurrence
    median_seconds: float
    mean_seconds: float
    p90_seconds: float

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "target": self.target,
            "count": self.count,
            "cases": self.cases,
            "median_seconds": self.median_seconds,
            "mean_seconds": self.mean_seconds,
            "p90_seconds": self.p90_seconds,
        }


@dataclass(frozen=True)
class Node:
    touchpoint: str
    events: int
    starts: int  # cases whose first event is here
    ends: int  # cases whose last event is here

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "events": self.events,
                "starts": self.starts, "ends": self.ends}


@dataclass(frozen=True)
class Endpoint:
    touchpoint: str
    cases: int

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "cases": self.cases}


@dataclass(frozen=True)
class DirectlyFollowsGraph:
    nodes: tuple[Node, ...]  # most events first, then by name
    edges: tuple[Edge, ...]  # most occurrences first, then by source and target
    coverage: float | None = None  # set when simplified

    @property
    def starts(self) -> tuple[Endpoint, ...]:
        return _endpoints((n.touchpoint, n.starts) for n in self.nodes)

    @property
    def ends(self) -> tuple[Endpoint, ...]:
        return _endpoints((n.touchpoint, n.ends) for n in self.nodes)

    def to_dict(self) -> dict:
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
            "starts": [s.to_dict() for s in self.starts],
            "ends": [e.to_dict() for e in self.ends],
            "coverage": self.coverage,
        }


def _endpoints(pairs) -> tuple[Endpoint, ...]:
    chosen = [Endpoint(name, count) for name, count in pairs if count > 0]
    return tuple(sorted(chosen, key=lambda e: (-e.cases, e.touchpoint)))


def edge_table(steps: CaseSteps) -> ir.Table:
    """One row per edge: code, next_code, count, cases, mean_us, quantiles_us (median and
    90th percentile)."""
    t = steps.table
    pairs = t.filter(t.next_code.notnull())
    return pairs.group_by(["code", "next_code"]).aggregate(
        count=_.count(),
        cases=_.case_id.nunique(),
        mean_us=_.gap_us.mean(),
        quantiles_us=_.gap_us.quantile([0.5, 0.9]),
    )


def node_table(steps: CaseSteps) -> ir.Table:
    """One row per touchpoint code: events, starts and ends."""
    t = steps.table
    return t.group_by("code").aggregate(
        events=_.count(),
        starts=(_.step == 1).cast("int64").sum(),
        ends=_.next_code.isnull().cast("int64").sum(),
    )


def directly_follows(source: ir.Table | CaseSteps) -> DirectlyFollowsGraph:
    """Edges with counts and times, and every touchpoint with its event, start and end
    counts."""
    with as_steps(source).cached() as steps:  # edges and nodes read the same steps
        edge_rows = edge_table(steps).to_pyarrow().to_pylist()
        node_rows = node_table(steps).to_pyarrow().to_pylist()
    names = steps.codes.touchpoints
    edges = [
        Edge(
            source=names[r["code"]],
            target=names[r["next_code"]],
            count=int(r["count"]),
            cases=int(r["cases"]),
            median_seconds=float(r["quantiles_us"][0]) / MICROS,
            mean_seconds=float(r["mean_us"]) / MICROS,
            p90_seconds=float(r["quantiles_us"][1]) / MICROS,
        )
        for r in edge_rows
    ]
    nodes = [
        Node(names[r["code"]], int(r["events"]), int(r["starts"]), int(r["ends"]))
        for r in node_rows
    ]
    return DirectlyFollowsGraph(
        nodes=tuple(sorted(nodes, key=lambda n: (-n.events, n.touchpoint))),
        edges=tuple(sorted(edges, key=_edge_rank)),
    )


def _edge_rank(edge: Edge) -> tuple:
    return (-edge.count, edge.source, edge.target)


def simplify(
    graph: DirectlyFollowsGraph, coverage: float, *, keep_path: Sequence[str] = ()
) -> DirectlyFollowsGraph:
    """Keep the part of the graph that carries ``coverage`` (a share in (0, 1]) of the
    traffic, for a readable map.

    1. Edges are ranked by occurrences (ties by source, then target) and the shortest
       leading run whose occurrences reach ``coverage`` of all edge occurrences is kept.
    2. Every edge of ``keep_path`` (pass the most frequent variant) is kept too, so the
       main path is never broken, however its edges rank.
    3. A touchpoint is kept when a kept edge touches it or it is on ``keep_path``; when
       the graph has no edges at all, the touchpoints holding ``coverage`` of the events
       are kept (ranked by events, ties by name).
    Counts and times of what is kept are unchanged; starts and ends are those of the
    kept touchpoints.
    """
    target_ppm = coverage_ppm(coverage)
    assert target_ppm is not None
    path_edges = set(zip(keep_path, keep_path[1:]))
    total = sum(e.count for e in graph.edges)
    kept_edges, running = [], 0
    for edge in graph.edges:  # already ranked
        if running * PPM < total * target_ppm or (edge.source, edge.target) in path_edges:
            kept_edges.append(edge)
        running += edge.count
    touched = set(keep_path)
    for edge in kept_edges:
        touched.update((edge.source, edge.target))
    if not graph.edges:
        touched.update(_leading_nodes(graph.nodes, target_ppm))
    nodes = tuple(n for n in graph.nodes if n.touchpoint in touched)
    return replace(graph, nodes=nodes, edges=tuple(kept_edges), coverage=coverage)


def _leading_nodes(nodes: Sequence[Node], target_ppm: int) -> set[str]:
    total = sum(n.events for n in nodes)
    chosen, running = set(), 0
    for node in nodes:
        if running * PPM >= total * target_ppm:
            break
        chosen.add(node.touchpoint)
        running += node.events
    return chosen


# -- case durations --------------------------------------------------------------------


@dataclass(frozen=True)
class DurationSummary:
    """Seconds from each case's first event to its last (0 for one-event cases)."""

    cases: int
    median_seconds: float | None
    mean_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None

    def to_dict(self) -> dict:
        return {
            "cases": self.cases,
            "median_seconds": self.median_seconds,
            "mean_seconds": self.mean_seconds,
            "p90_seconds": self.p90_seconds,
            "max_seconds": self.max_seconds,
        }


def case_durations(events: ir.Table) -> ir.Table:
    """One row per case: case_id, events, first and last timestamp, duration_seconds.
    Returned unexecuted: it has a row per case, so page or export it."""
    per_case = events.group_by("case_id").aggregate(
        events=_.count(), first=_.timestamp.min(), last=_.timestamp.max()
    )
    micros = per_case["last"].delta(per_case["first"], unit="microsecond")
    return per_case.mutate(duration_seconds=micros.cast("float64") / MICROS)


def duration_summary(events: ir.Table) -> DurationSummary:
    return summarise_durations(case_durations(events).duration_seconds)


def summarise_durations(seconds: ir.FloatingValue) -> DurationSummary:
    """Count, mean, median, 90th percentile and maximum of one duration per case."""
    row = (
        seconds.as_table()
        .aggregate(
            cases=seconds.count(),
            mean=seconds.mean(),
            quantiles=seconds.quantile([0.5, 0.9]),
            longest=seconds.max(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    cases = int(row["cases"] or 0)
    if not cases:
        return DurationSummary(0, None, None, None, None)
    median, p90 = row["quantiles"]
    return DurationSummary(
        cases, float(median), float(row["mean"]), float(p90), float(row["longest"])
    )
