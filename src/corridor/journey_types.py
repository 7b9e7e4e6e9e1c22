"""Which journey type each case is, and each type's own KPIs.

A case's type comes from the company model (:mod:`corridor.company`): the first declared
type whose start touchpoints hold the case's first touchpoint (in timestamp, seq order),
or whose start stages hold that touchpoint's stage. KPIs follow the type's kind:

- a *purchase* journey converts when the case reaches one of its goal touchpoints;
- a *service* journey is resolved when it reaches a goal touchpoint or, when it declares
  none, when its last contact's outcome is ``ok``; it is resolved *at the first contact*
  when it was resolved and has a single contact.

A support case is therefore never a failed purchase: it is not a purchase journey at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from .company import CompanyModel, JourneyKind, JourneyType
from .flow import as_int, share
from .ordering import case_window

UNCLASSIFIED = None  # the journey of a case no declared type recognises


def case_journeys(events: ir.Table, model: CompanyModel, touchpoints: ir.Table | None) -> ir.Table:
    """One row per case: ``case_id`` and ``journey`` (the type's name; null when none
    recognises it)."""
    w = case_window(events)
    first = events.mutate(_position=ibis.row_number().over(w))
    first = first.filter(first._position == 0).select("case_id", "touchpoint")
    if touchpoints is not None and "stage" in touchpoints.columns:
        stages = touchpoints.select(stage_touchpoint="touchpoint", stage="stage")
        first = first.left_join(stages, first.touchpoint == stages.stage_touchpoint)
        stage = first.stage
    else:
        stage = ibis.null("string")
    branches = []
    for j in model.journeys:
        tests = []
        if j.start:
            tests.append(first.touchpoint.isin(list(j.start)))
        if j.start_stages:
            tests.append(stage.isin(list(j.start_stages)).fill_null(False))
        branches.append((ibis.or_(*tests), ibis.literal(j.name)))
    journey = ibis.cases(*branches, else_=ibis.null("string")) if branches else ibis.null("string")
    return first.select("case_id", journey=journey)


def cases_of(events: ir.Table, model: CompanyModel, journey: JourneyType,
             touchpoints: ir.Table | None, *, typed_from: ir.Table | None = None) -> ir.Table:
    """The events of the cases of one journey type. A case's type is read from
    ``typed_from`` (all its events, before any filter) when given."""
    typed = case_journeys(events if typed_from is None else typed_from, model, touchpoints)
    chosen = typed.filter(typed.journey == journey.name).select("case_id")
    return events.semi_join(chosen, "case_id")


@dataclass(frozen=True)
class JourneyKpi:
    """One journey type's KPIs; a KPI that does not apply to its kind is None."""

    journey: str
    kind: JourneyKind
    goal: tuple[str, ...]
    cases: int
    reached_goal: int | None  # purchase: cases that reached the goal
    conversion: float | None
    resolved: int | None  # service: cases resolved
    resolution: float | None
    resolved_at_first_contact: int | None
    first_contact_resolution: float | None
    resolved_by: str | None  # service: "goal" or "last contact ok"

    def to_dict(self) -> dict:
        return {
            "journey": self.journey, "kind": self.kind.value, "goal": list(self.goal),
            "cases": self.cases, "reached_goal": self.reached_goal,
            "conversion": self.conversion, "resolved": self.resolved,
            "resolution": self.resolution,
            "resolved_at_first_contact": self.resolved_at_first_contact,
            "first_contact_resolution": self.first_contact_resolution,
            "resolved_by": self.resolved_by,
        }


@dataclass(frozen=True)
class JourneyKpis:
    cases: int
    unclassified_cases: int  # cases no declared type recognises
    journeys: tuple[JourneyKpi, ...]
    defaults: tuple[str, ...]  # what the analysis assumed for lack of a model

    def of(self, name: str) -> JourneyKpi | None:
        return next((j for j in self.journeys if j.journey == name), None)

    def to_dict(self) -> dict:
        return {
            "cases": self.cases, "unclassified_cases": self.unclassified_cases,
            "journeys": [j.to_dict() for j in self.journeys], "defaults": list(self.defaults),
        }


def journey_kpis(events: ir.Table, model: CompanyModel, *,
                 touchpoints: ir.Table | None = None,
                 typed_from: ir.Table | None = None) -> JourneyKpis:
    """Cases per journey type and each type's KPIs, in one pass over the events. A case's
    type is read from ``typed_from`` (all its events, before any filter) when given, so
    a filter on channel or period does not change what kind of journey a case is."""
    w = case_window(events)
    ordered = events.mutate(_next=events.seq.lead().over(w))
    last_ok = (ordered._next.isnull() & (ordered.outcome.fill_null("ok") == "ok"))
    # one column per distinct goal: did the case reach it (types may share a goal)
    goal_column = {goal: f"_goal{i}" for i, goal in
                   enumerate(dict.fromkeys(j.goal for j in model.journeys if j.goal))}
    per_case = ordered.group_by("case_id").aggregate(
        contacts=ordered.count(),
        last_ok=last_ok.cast("int64").max(),
        **{column: ordered.touchpoint.isin(list(goal)).cast("int64").max()
           for goal, column in goal_column.items()},
    )
    typed = case_journeys(events if typed_from is None else typed_from, model, touchpoints)
    per_case = per_case.left_join(typed, per_case.case_id == typed.case_id)

    sums = {"cases": per_case.count()}
    for j in model.journeys:
        mine = per_case.journey == j.name
        done = (per_case[goal_column[j.goal]] == 1) if j.goal else (per_case.last_ok == 1)
        sums[f"{j.name}|cases"] = mine.cast("int64").sum()
        sums[f"{j.name}|done"] = (mine & done).cast("int64").sum()
        sums[f"{j.name}|first"] = (mine & done & (per_case.contacts == 1)).cast("int64").sum()
    row = per_case.aggregate(**sums).execute().iloc[0]
    total = as_int(row["cases"])
    kpis = []
    for j in model.journeys:
        n, done, first = (as_int(row[f"{j.name}|{k}"]) for k in ("cases", "done", "first"))
        purchase = j.kind is JourneyKind.PURCHASE
        kpis.append(JourneyKpi(
            journey=j.name, kind=j.kind, goal=j.goal, cases=n,
            reached_goal=done if purchase else None,
            conversion=share(done, n) if purchase else None,
            resolved=None if purchase else done,
            resolution=None if purchase else share(done, n),
            resolved_at_first_contact=None if purchase else first,
            first_contact_resolution=None if purchase else share(first, n),
            resolved_by=None if purchase else ("last contact ok" if j.resolved_by_outcome else "goal"),
        ))
    classified = sum(k.cases for k in kpis)
    return JourneyKpis(total, total - classified, tuple(kpis), model.defaults())
