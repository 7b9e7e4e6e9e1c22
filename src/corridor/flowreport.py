"""Does the corridor flow: one report of each journey type's KPIs, the drop-off points of
a purchase journey, loops, bottlenecks and hand-offs, saying what it covers.

Drop-offs are measured over the cases of one journey type (the one asked for, else the
company model's first purchase journey), so a support case is never counted as a
purchase that failed. Without a company model they are measured over every case, and
only when a goal is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from .bottlenecks import Bottlenecks, bottlenecks
from .company import CompanyModel, JourneyKind
from .covers import Covers, covers
from .dropoff import DropOffs, dropoffs
from .filters import EventFilter
from .flow import goal_touchpoints
from .handoffs import HandOffs, handoffs
from .journey_types import JourneyKpis, cases_of, journey_kpis
from .loops import Loops, loops


@dataclass(frozen=True)
class FlowReport:
    covers: Covers  # which period, filters and cases loops, bottlenecks and hand-offs cover
    journey: str | None  # the journey type of the drop-offs (None: every case)
    goal: tuple[str, ...]
    kpis: JourneyKpis | None  # None: the company model declares no journey types
    dropoffs: DropOffs | None  # None: no goal to drop off from
    loops: Loops
    bottlenecks: Bottlenecks
    handoffs: HandOffs
    defaults: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "covers": self.covers.to_dict(), "journey": self.journey, "goal": list(self.goal),
            "journeys": None if self.kpis is None else self.kpis.to_dict(),
            "dropoffs": None if self.dropoffs is None else self.dropoffs.to_dict(),
            "loops": self.loops.to_dict(), "bottlenecks": self.bottlenecks.to_dict(),
            "handoffs": self.handoffs.to_dict(), "defaults": list(self.defaults),
        }


def flow_report(
    events: ir.Table,
    model: CompanyModel,
    *,
    touchpoints: ir.Table | None = None,
    customers: ir.Table | None = None,
    journey: str | None = None,
    goal: str | None = None,
    filters: EventFilter | None = None,
    all_events: ir.Table | None = None,
) -> FlowReport:
    """``events`` are the filtered events; ``all_events`` (before the filter) say which
    journey type each case is."""
    chosen_type = model.journey(journey) if journey is not None else None
    if chosen_type is None and model.journeys:
        purchases = model.of_kind(JourneyKind.PURCHASE)
        chosen_type = purchases[0] if purchases else None
    goals = goal_touchpoints(goal) if goal else (chosen_type.goal if chosen_type else ())
    kpis = journey_kpis(events, model, touchpoints=touchpoints, typed_from=all_events) \
        if model.journeys else None
    scope = events if journey is None else cases_of(events, model, chosen_type, touchpoints,
                                                     typed_from=all_events)
    dropped = None
    if goals:
        judged = scope if chosen_type is None or journey is not None else \
            cases_of(events, model, chosen_type, touchpoints, typed_from=all_events)
        dropped = dropoffs(judged, goal=goals)
    return FlowReport(
        covers=covers(scope, filters, journey), journey=chosen_type.name if chosen_type else None, goal=goals,
        kpis=kpis, dropoffs=dropped, loops=loops(scope, touchpoints=touchpoints),
        bottlenecks=bottlenecks(scope, customers=customers),
        handoffs=handoffs(scope, touchpoints=touchpoints), defaults=model.defaults(),
    )
