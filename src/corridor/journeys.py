"""The journeys report: variants, the directly-follows graph, starts, ends and case
durations of the (filtered) events, in one typed result that ``corridor journeys``
renders and ``to_dict`` turns into JSON.

The events are filtered, put in case order and dictionary-encoded once; that ordered
table is cached on the engine for the length of the analysis, and every part of the
report is an aggregation over it (DESIGN.md §2: sort once for everything).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from .dfg import (
    DirectlyFollowsGraph,
    MICROS,
    DurationSummary,
    Endpoint,
    directly_follows,
    summarise_durations,
)
from .dfg import simplify as simplify_graph
from .errors import InputError
from .filters import EventFilter, apply
from .roles import CorridorRoles, corridor_roles
from .steps import CaseSteps, case_steps
from .variants import Variant, VariantCoverage, case_paths, variants

EMPTY_CORRIDOR = {"basic": [], "alternatives": [], "optional": []}


@dataclass(frozen=True)
class JourneyReport:
    cases: int
    events: int
    distinct_variants: int
    variants: tuple[Variant, ...]  # the top variants, most cases first
    variant_coverage: VariantCoverage | None
    dfg: DirectlyFollowsGraph  # simplified when the analysis asked for coverage
    starts: tuple[Endpoint, ...]  # of all cases, also when the map is simplified
    ends: tuple[Endpoint, ...]
    durations: DurationSummary
    corridor: CorridorRoles | None = None  # basic, alternatives, optional

    def to_dict(self) -> dict:
        return {
            "cases": self.cases,
            "events": self.events,
            "distinct_variants": self.distinct_variants,
            "variants": [v.to_dict() for v in self.variants],
            "variant_coverage": (
                None if self.variant_coverage is None else self.variant_coverage.to_dict()
            ),
            "dfg": [e.to_dict() for e in self.dfg.edges],
            "nodes": [n.to_dict() for n in self.dfg.nodes],
            "starts": [s.to_dict() for s in self.starts],
            "ends": [e.to_dict() for e in self.ends],
            "map_coverage": self.dfg.coverage,
            "durations": self.durations.to_dict(),
            "corridor": _corridor_dict(self.corridor),
        }


def _corridor_dict(corridor: CorridorRoles | None) -> dict:
    if corridor is None:
        return {key: list(value) for key, value in EMPTY_CORRIDOR.items()}
    return corridor.to_dict()


def analyse(
    source: ir.Table | CaseSteps,
    *,
    flt: EventFilter = EventFilter(),
    customers: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
    top: int = 20,
    coverage: float | None = None,
    goal: str | None = None,
    threshold: float = 0.8,
    roles: bool = True,
) -> JourneyReport:
    """Analyse the journeys in ``source``: events (after ``flt``), or a step table made
    from already filtered events (:func:`corridor.steps.case_steps`) that other analytics,
    such as a funnel, share.

    ``top`` caps the variants listed. ``coverage`` (a share in (0, 1]) makes the report
    readable: the variant list stops at the fewest variants holding that share of cases,
    and the map keeps the edges carrying that share of transitions plus the whole most
    frequent variant (see :func:`corridor.dfg.simplify`).
    """
    if top < 0:
        raise InputError(f"The number of variants to list must be 0 or more; got {top}.")
    if isinstance(source, CaseSteps):
        if not flt.is_empty:
            raise InputError(
                "Filters apply to events, not to a step table: filter the events first."
            )
        steps = source
    else:
        steps = case_steps(apply(source, flt, customers=customers, touchpoints=touchpoints))
    with steps.cached() as cached:
        with case_paths(cached).cache() as paths:
            # At least one variant: the most frequent one anchors the simplified map.
            summary = variants(cached, top=max(top, 1), coverage=coverage, paths=paths)
            durations = summarise_durations(paths.duration_us.cast("float64") / MICROS)
        full_graph = directly_follows(cached)
        corridor = (
            corridor_roles(cached, goal=goal, threshold=threshold, customers=customers)
            if roles and summary.cases else None
        )
    graph = full_graph
    if coverage is not None:
        main_path = summary.top[0].path if summary.top else ()
        graph = simplify_graph(full_graph, coverage, keep_path=main_path)
    return JourneyReport(
        cases=summary.cases,
        events=sum(node.events for node in full_graph.nodes),
        distinct_variants=summary.distinct,
        variants=summary.top[:top],
        variant_coverage=summary.coverage,
        dfg=graph,
        starts=full_graph.starts,
        ends=full_graph.ends,
        durations=durations,
        corridor=corridor,
    )
