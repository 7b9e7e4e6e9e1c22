"""The journey map: the customer's journey as stages x touchpoints, each cell with its
volume, waiting, failures, conversion and satisfaction; an emotion score per stage; and
the worst cells (pains) and the chances to do better (opportunities), each with its
evidence.

Columns and cells:

- *Stages* come in the order of :data:`corridor.schema.STAGES`; a touchpoint takes the
  stage the touchpoints table declares. Touchpoints without one sit in an *unstaged*
  column (``stage`` None) at the end. A stage is shown when a touchpoint declares it or
  an event visits it.
- A cell is one touchpoint the events visit. *Cases* are the cases visiting it (its
  volume), *share* is cases / all cases of the map.
- *Waiting* is the median, 90th percentile and sum (the *load*: waiting x volume) of the
  events' ``wait_seconds``, from :func:`corridor.bottlenecks.bottlenecks`.
- *Failure share*: events whose outcome is not 'ok' ('failed' or 'abandoned'; a missing
  outcome is 'ok'), as in :mod:`corridor.access`, over the touchpoint's events.
- *Conversion*: with a ``goal``, the share of the cases visiting the touchpoint that reach
  a goal touchpoint (anywhere in the case). Without one, the share that continue to a
  later stage: an event at a touchpoint of a later stage (schema order) after the case's
  first visit to it. A stage's conversion is the same for the cases visiting the stage
  (after their first visit to any of its touchpoints).
- *Satisfaction*: the mean CSAT and CES of the feedback naming the touchpoint, with the
  number of answers and the share in the scale's bad band, from
  :func:`corridor.satisfaction.satisfaction`. Each mean is also put on -1..1 (the middle
  of the scale is 0: CSAT (mean - 3) / 2, CES (mean - 4) / 3); the cell's *satisfaction*
  is that value averaged over both metrics, weighted by answers. NPS is a question about
  the company, not a touchpoint, so it is not used.

Emotion (-1..1) is read from feedback, so it exists only where customers answered: a
cell's emotion is its satisfaction minus its failure share (a failed contact is bad news),
clipped to -1..1, and None when nobody rated the touchpoint (its failures alone say nothing
of how it felt; they are in its failure share and the failure pains). A stage's emotion is
the mean of its rated cells' emotions weighted by their cases, and None when none of its
touchpoints was rated (no feedback) or nobody visited it: a stage without feedback has no
emotion, never a neutral 0. ``rated_cases`` and ``responses`` say what a stage's emotion
rests on.

Pains: a cell is a pain of a kind when it passes that kind's test; its *severity* is its
part of the whole map's total of that kind, so the kinds compare ("this touchpoint holds
60% of all the waiting"). The pains are the ``pains`` most severe, ties by kind and name.

- wait: its load is at least :data:`MIN_PART` of all the waiting on the map;
- failure: its failure share is at least :data:`FAILURE_SHARE` and its failed events at
  least :data:`MIN_PART` of all failed events;
- low score (per metric): at least ``min_responses`` answers, and a mean below the middle
  of the scale or at least :data:`BAD_SHARE` of the answers in the bad band; severity is
  its part of all bad answers of that metric.

A wait pain also names the region whose customers wait longest there, when the customers
table is given (regional ranking of :func:`corridor.bottlenecks.bottlenecks`).

Opportunities (a difference is *clear* when it is at least :data:`MIN_DIFFERENCE` and a
two-proportion z-test gives |z| >= :data:`SIGNIFICANT_Z`, with at least ``min_cases`` cases
on each side). *Potential* is the cases that would convert (or not fail) more if the
weaker side did as well as the stronger; opportunities are ranked by it.

- converts better (goal only): a touchpoint of a stage before the goal's stage, neither
  a basic step (everybody on the way to the goal takes those) nor an alternative door
  (doors are compared with each other, below), whose users convert clearly better than
  the cases of the same stage that do not use it.
- optional service few use: a touchpoint whose role is optional, used by fewer than
  :data:`FEW_USE` of its stage's cases, whose users convert at least as well as the
  stage's other cases (with a goal: only stages before the goal's; without one also
  failing no more often). Not repeated when it already converts better.
- better door: in a group of alternative doors (touchpoints declaring the role
  'alternative', grouped by stage), the busiest door converts clearly worse than another
  door, or fails clearly more often.

Roles are the touchpoints table's declared ones; when it declares none, they are mined
with :func:`corridor.roles.corridor_roles`.

Every count is one Ibis aggregation, so DuckDB and Spark give the same map.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from .bottlenecks import bottlenecks
from .errors import AnalysisError, InputError
from .flow import as_int, as_text, epoch_millis, from_touchpoints, goal_touchpoints
from .satisfaction import SCALES, Metric, satisfaction
from .schema import STAGES

SCORED_METRICS = (Metric.CSAT, Metric.CES)
MIN_PART = 0.10  # of the map's total waiting / failed events
FAILURE_SHARE = 0.10
BAD_SHARE = 0.25
MIN_DIFFERENCE = 0.05
SIGNIFICANT_Z = 1.96
FEW_USE = 0.25
MAX_LISTED = 50  # the most pains or opportunities one map lists


class PainKind(str, enum.Enum):
    WAIT = "wait"
    FAILURE = "failure"
    LOW_SCORE = "low_score"


class OpportunityKind(str, enum.Enum):
    CONVERTS_BETTER = "converts_better"
    OPTIONAL_FEW_USE = "optional_few_use"
    BETTER_DOOR = "better_door"


class Measure(str, enum.Enum):
    CONVERSION = "conversion"
    FAILURE = "failure"


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TouchpointScore:
    """One metric's answers naming a touchpoint."""

    metric: Metric
    mean: float
    responses: int
    bad: int  # answers in the scale's bad band (dissatisfied, difficult)

    @property
    def bad_share(self) -> float:
        return self.bad / self.responses

    @property
    def normalized(self) -> float:
        """The mean on -1..1, the middle of the scale being 0."""
        return normalized(self.metric, self.mean)

    def to_dict(self) -> dict:
        return {"metric": self.metric.value, "mean": self.mean, "responses": self.responses,
                "bad": self.bad, "bad_share": self.bad_share, "normalized": self.normalized}


@dataclass(frozen=True)
class Cell:
    """One touchpoint of one stage (see the module docstring for each number)."""

    touchpoint: str
    stage: str | None
    channel: str | None
    department_id: str | None
    role: str | None
    cases: int
    share: float  # of all cases on the map
    events: int
    failed: int
    waited_events: int
    median_wait_seconds: float | None
    p90_wait_seconds: float | None
    total_wait_seconds: float
    converted: int
    conversion: float | None
    scores: tuple[TouchpointScore, ...]  # CSAT, CES when answered

    @property
    def failure_share(self) -> float | None:
        return self.failed / self.events if self.events else None

    @property
    def responses(self) -> int:
        return sum(s.responses for s in self.scores)

    @property
    def satisfaction(self) -> float | None:
        if not self.responses:
            return None
        return sum(s.normalized * s.responses for s in self.scores) / self.responses

    @property
    def emotion(self) -> float | None:
        """Satisfaction minus failure share on -1..1; None when nobody rated it."""
        if self.satisfaction is None:
            return None
        felt = self.satisfaction - (self.failure_share or 0.0)
        return max(-1.0, min(1.0, felt))

    def score(self, metric: Metric | str) -> TouchpointScore | None:
        for s in self.scores:
            if s.metric is Metric(metric):
                return s
        return None

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint, "stage": self.stage, "channel": self.channel,
            "department_id": self.department_id, "role": self.role, "cases": self.cases,
            "share": self.share, "events": self.events, "failed": self.failed,
            "failure_share": self.failure_share, "waited_events": self.waited_events,
            "median_wait_seconds": self.median_wait_seconds,
            "p90_wait_seconds": self.p90_wait_seconds,
            "total_wait_seconds": self.total_wait_seconds, "converted": self.converted,
            "conversion": self.conversion, "scores": [s.to_dict() for s in self.scores],
            "satisfaction": self.satisfaction, "responses": self.responses,
            "emotion": self.emotion,
        }


@dataclass(frozen=True)
class Stage:
    stage: str | None  # None: the unstaged column
    cells: tuple[Cell, ...]  # most cases first
    cases: int  # cases visiting any of its touchpoints
    converted: int
    conversion: float | None
    emotion: float | None  # None: no feedback on any of its touchpoints (or no visits)

    @property
    def name(self) -> str:
        return self.stage or "unstaged"

    @property
    def rated_cases(self) -> int:
        """The cases of its rated cells, the weight its emotion rests on."""
        return sum(c.cases for c in self.cells if c.emotion is not None)

    @property
    def responses(self) -> int:
        """The CSAT and CES answers naming its touchpoints."""
        return sum(c.responses for c in self.cells)

    def to_dict(self) -> dict:
        return {"stage": self.name, "cases": self.cases, "converted": self.converted,
                "conversion": self.conversion, "emotion": self.emotion,
                "rated_cases": self.rated_cases, "responses": self.responses,
                "cells": [c.to_dict() for c in self.cells]}


@dataclass(frozen=True)
class Pain:
    kind: PainKind
    cell: Cell  # the evidence
    severity: float  # the cell's part of the map's total of this kind
    metric: Metric | None = None  # the metric of a low score
    worst_region: str | None = None  # wait: the region waiting longest there
    worst_region_mean_wait_seconds: float | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "touchpoint": self.cell.touchpoint,
                "stage": self.cell.stage, "severity": self.severity,
                "metric": None if self.metric is None else self.metric.value,
                "worst_region": self.worst_region,
                "worst_region_mean_wait_seconds": self.worst_region_mean_wait_seconds,
                "evidence": self.cell.to_dict()}


@dataclass(frozen=True)
class Opportunity:
    kind: OpportunityKind
    cell: Cell  # the touchpoint the opportunity is about
    measure: Measure
    value: float  # the touchpoint's conversion or failure share
    compared: float  # of the cases it is compared with
    compared_cases: int
    compared_touchpoint: str | None  # better door: the door that does better
    z: float | None  # two-proportion z (None when not tested)
    potential: float  # cases gained if the weaker side did as well

    @property
    def difference(self) -> float:
        return self.value - self.compared

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "touchpoint": self.cell.touchpoint,
                "stage": self.cell.stage, "measure": self.measure.value,
                "value": self.value, "compared": self.compared,
                "compared_cases": self.compared_cases,
                "compared_touchpoint": self.compared_touchpoint,
                "difference": self.difference, "z": self.z, "potential": self.potential,
                "evidence": self.cell.to_dict()}


@dataclass(frozen=True)
class JourneyMap:
    stages: tuple[Stage, ...]  # schema order, the unstaged column last
    cases: int
    converted: int
    goal: tuple[str, ...]  # empty: conversion is continuing to a later stage
    pains: tuple[Pain, ...]  # most severe first
    opportunities: tuple[Opportunity, ...]  # most potential first

    @property
    def conversion(self) -> float | None:
        return self.converted / self.cases if self.cases else None

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(c for s in self.stages for c in s.cells)

    def cell(self, touchpoint: str) -> Cell:
        for c in self.cells:
            if c.touchpoint == touchpoint:
                return c
        raise KeyError(touchpoint)

    def stage(self, name: str | None) -> Stage:
        for s in self.stages:
            if s.stage == name or s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"cases": self.cases, "converted": self.converted,
                "conversion": self.conversion, "goal": list(self.goal),
                "stages": [s.to_dict() for s in self.stages],
                "pains": [p.to_dict() for p in self.pains],
                "opportunities": [o.to_dict() for o in self.opportunities]}


def normalized(metric: Metric, mean: float) -> float:
    """A mean score on -1..1: the scale's middle is 0, its ends -1 and 1."""
    scale = SCALES[metric]
    middle, half = (scale.low + scale.high) / 2, (scale.high - scale.low) / 2
    return (mean - middle) / half


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled two-proportion z statistic of x1/n1 against x2/n2."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = x1 / n1 - x2 / n2
    if se == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / se


# ---- the map ------------------------------------------------------------------------------


def journey_map(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None,
    feedback: ir.Table | None,
    customers: ir.Table | None = None,
    goal: str | Sequence[str] | None = None,
    pains: int = 5,
    opportunities: int = 5,
    min_cases: int = 20,
    min_responses: int = 10,
) -> JourneyMap:
    """The journey map of ``events`` (see the module docstring)."""
    for name, value, least in (("pains", pains, 0), ("opportunities", opportunities, 0),
                               ("min_cases", min_cases, 1), ("min_responses", min_responses, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InputError(f"{name} must be a whole number of at least {least}; got {value!r}.")
    for name, value in (("pains", pains), ("opportunities", opportunities)):
        if value > MAX_LISTED:
            raise InputError(f"{name} may list at most {MAX_LISTED}; got {value}.")
    goal_names = () if goal is None else goal_touchpoints(goal)
    reference = _reference(touchpoints)
    counts = _counts(events, touchpoints, goal_names)
    if counts.empty or as_int(counts.loc[counts.level == "all", "cases"].sum()) == 0:
        raise AnalysisError("There are no events, so there is no journey to map.")
    total = counts[counts.level == "all"].iloc[0]
    cases, converted = as_int(total.cases), as_int(total.converted)
    per_tp = counts[counts.level == "touchpoint"]
    waits = bottlenecks(events, customers=customers, top=max(1, len(per_tp)))
    wait_of = {b.touchpoint: b for b in waits.overall}
    scores = _scores(feedback)
    roles = _roles(reference, events, goal_names)

    cells: dict[str | None, list[Cell]] = {}
    for r in per_tp.itertuples():
        name = str(r.touchpoint)
        ref = reference.get(name, {})
        stage = ref.get("stage")
        w = wait_of.get(name)
        visits = as_int(r.cases)
        cells.setdefault(stage, []).append(Cell(
            touchpoint=name, stage=stage, channel=ref.get("channel"),
            department_id=ref.get("department_id"), role=roles.get(name),
            cases=visits, share=visits / cases, events=as_int(r.events),
            failed=as_int(r.failed),
            waited_events=0 if w is None else w.waited_events,
            median_wait_seconds=None if w is None else w.median_wait_seconds,
            p90_wait_seconds=None if w is None else w.p90_wait_seconds,
            total_wait_seconds=0.0 if w is None else w.total_wait_seconds,
            converted=as_int(r.converted),
            conversion=_conversion(as_int(r.converted), visits, goal_names, stage),
            scores=scores.get(name, ()),
        ))
    per_stage = {as_text(r.stage): r for r in counts[counts.level == "stage"].itertuples()}
    declared = {v.get("stage") for v in reference.values()} - {None}
    shown = [s for s in STAGES if s in declared or s in cells]
    if None in cells:
        shown.append(None)
    stages = []
    for name in shown:
        mine = tuple(sorted(cells.get(name, ()), key=lambda c: (-c.cases, c.touchpoint)))
        r = per_stage.get(name)
        visits = 0 if r is None else as_int(r.cases)
        done = 0 if r is None else as_int(r.converted)
        rated = [c for c in mine if c.emotion is not None]
        weight = sum(c.cases for c in rated)
        emotion = sum(c.emotion * c.cases for c in rated) / weight if weight else None
        stages.append(Stage(name, mine, visits, done,
                            _conversion(done, visits, goal_names, name), emotion))
    found_pains = _pains(stages, waits, min_responses)[:pains]
    found_opportunities = _opportunities(stages, reference, goal_names, min_cases)[:opportunities]
    return JourneyMap(tuple(stages), cases, converted, goal_names, tuple(found_pains),
                      tuple(found_opportunities))


def _conversion(converted: int, cases: int, goal: tuple[str, ...], stage: str | None):
    if not cases or (not goal and stage is None):
        return None  # without a goal an unstaged touchpoint has no later stage
    return converted / cases


def _reference(touchpoints: ir.Table | None) -> dict[str, dict[str, str | None]]:
    """Per touchpoint its declared stage, channel, department and role."""
    if touchpoints is None:
        return {}
    wanted = [c for c in ("stage", "channel", "department_id", "role") if c in touchpoints.columns]
    frame = touchpoints.group_by("touchpoint").aggregate(
        **{c: touchpoints[c].min() for c in wanted}).to_pandas()
    out = {}
    for r in frame.to_dict("records"):
        values = {c: as_text(r.get(c)) for c in wanted}
        if values.get("stage") not in STAGES:
            values["stage"] = None
        out[str(r["touchpoint"])] = values
    return out


def _roles(reference, events, goal) -> dict[str, str]:
    declared = {t: v["role"] for t, v in reference.items() if v.get("role")}
    if declared:
        return declared
    from .roles import corridor_roles

    try:
        mined = corridor_roles(events, goal=goal or None)
    except AnalysisError:
        return {}
    out = {i.touchpoint: "basic" for i in mined.basic}
    out.update({t: "alternative" for g in mined.alternatives for t in g.touchpoints})
    out.update({i.touchpoint: "optional" for i in mined.optional})
    return out


def _counts(events: ir.Table, touchpoints: ir.Table | None, goal: tuple[str, ...]) -> pd.DataFrame:
    """One query: cases, events, failed events and converted cases per touchpoint
    (level 'touchpoint'), per stage ('stage') and overall ('all')."""
    rank = {s: k for k, s in enumerate(STAGES)}
    ev = from_touchpoints(events, touchpoints, add=["stage"])
    known = ev.stage.isin(STAGES).fill_null(False)
    ev = ev.select(
        case_id=ev.case_id.cast("string"), touchpoint=ev.touchpoint.cast("string"),
        stage=ibis.ifelse(known, ev.stage.cast("string"), ibis.null("string")),
        rank=ibis.cases(*((ev.stage == s, k) for s, k in rank.items()),
                        else_=ibis.null("int64")).cast("int64"),
        failed=(ev.outcome.fill_null("ok") != "ok").cast("int64"),
        millis=epoch_millis(ev.timestamp),
    )
    tp_visits = ev.group_by(["case_id", "touchpoint"]).aggregate(
        stage=ev.stage.min(), rank=ev.rank.min(), first=ev.millis.min(), events=ev.count(),
        failed=ev.failed.sum())
    st_visits = ev.group_by(["case_id", "stage"]).aggregate(
        rank=ev.rank.min(), first=ev.millis.min(), events=ev.count(), failed=ev.failed.sum())
    if goal:
        reached = ev.filter(ev.touchpoint.isin(goal)).select("case_id").distinct()
        reached = reached.mutate(_done=ibis.literal(1, "int64"))
        tp_visits = _flagged(tp_visits, reached, ["case_id", "touchpoint"])
        st_visits = _flagged(st_visits, reached, ["case_id", "stage"])
        everyone = _flagged(ev.select("case_id").distinct(), reached, ["case_id"])
    else:
        last = ev.filter(ev.rank.notnull()).group_by(["case_id", "rank"]).aggregate(
            _last=ev.millis.max())
        tp_visits = _continued(tp_visits, last, ["case_id", "touchpoint"])
        st_visits = _continued(st_visits, last, ["case_id", "stage"])
        everyone = ev.select("case_id").distinct().mutate(converted=ibis.literal(0, "int64"))
    measures = lambda t: dict(  # noqa: E731
        cases=t.count(), events=t.events.sum().cast("int64"),
        failed=t.failed.sum().cast("int64"), converted=t.converted.sum().cast("int64"))
    by_tp = tp_visits.group_by("touchpoint").aggregate(**measures(tp_visits)).mutate(
        level=ibis.literal("touchpoint"), stage=ibis.null("string"))
    by_stage = st_visits.group_by("stage").aggregate(**measures(st_visits)).mutate(
        level=ibis.literal("stage"), touchpoint=ibis.null("string"))
    everyone = everyone.mutate(events=ibis.literal(0, "int64"), failed=ibis.literal(0, "int64"))
    overall = everyone.aggregate(**measures(everyone)).mutate(
        level=ibis.literal("all"), touchpoint=ibis.null("string"), stage=ibis.null("string"))
    columns = ["level", "touchpoint", "stage", "cases", "events", "failed", "converted"]
    rows = ibis.union(by_tp.select(*columns), by_stage.select(*columns),
                      overall.select(*columns)).to_pandas()
    return rows.sort_values(["level", "touchpoint", "stage"], na_position="last",
                            ignore_index=True)


def _flagged(visits: ir.Table, reached: ir.Table, keys: list[str]) -> ir.Table:
    joined = visits.left_join(reached, "case_id")
    return joined.select(*visits.columns, converted=joined._done.fill_null(0))


def _continued(visits: ir.Table, last: ir.Table, keys: list[str]) -> ir.Table:
    """``converted`` = 1 when the case has an event at a later stage after ``first``."""
    later = visits.join(last, "case_id").filter(
        lambda t: (t.rank_right > t.rank) & (t._last > t["first"]))
    later = later.select(*keys).distinct().mutate(_done=ibis.literal(1, "int64"))
    joined = visits.left_join(later, keys)
    return joined.select(*visits.columns, converted=joined._done.fill_null(0))


def _scores(feedback: ir.Table | None) -> dict[str, tuple[TouchpointScore, ...]]:
    if feedback is None:
        return {}
    out: dict[str, list[TouchpointScore]] = {}
    for metric in SCORED_METRICS:
        try:
            result = satisfaction(feedback, metric, by="touchpoint")
        except AnalysisError:  # no answers of this metric
            continue
        for c in result.cells:
            name = c.keys[0]
            if name is None or not c.responses:
                continue
            bad = round(c.bottom_share.value * c.responses)
            out.setdefault(name, []).append(
                TouchpointScore(metric, c.mean.value, c.responses, bad))
    return {k: tuple(v) for k, v in out.items()}


# ---- pains and opportunities ------------------------------------------------------------------


def _pains(stages: list[Stage], waits, min_responses: int) -> list[Pain]:
    cells = [c for s in stages for c in s.cells]
    found: list[Pain] = []
    load = sum(c.total_wait_seconds for c in cells)
    failed = sum(c.failed for c in cells)
    worst = _worst_regions(waits)
    for c in cells:
        if load > 0 and c.total_wait_seconds / load >= MIN_PART:
            region = worst.get(c.touchpoint, (None, None))
            found.append(Pain(PainKind.WAIT, c, c.total_wait_seconds / load,
                              worst_region=region[0], worst_region_mean_wait_seconds=region[1]))
        if failed and (c.failure_share or 0.0) >= FAILURE_SHARE and c.failed / failed >= MIN_PART:
            found.append(Pain(PainKind.FAILURE, c, c.failed / failed))
    for metric in SCORED_METRICS:
        scored = [(c, c.score(metric)) for c in cells if c.score(metric) is not None]
        bad = sum(s.bad for _, s in scored)
        for c, s in scored:
            low = s.normalized < 0 or s.bad_share >= BAD_SHARE
            if bad and s.responses >= min_responses and low and s.bad:
                found.append(Pain(PainKind.LOW_SCORE, c, s.bad / bad, metric=metric))
    kinds = list(PainKind)
    return sorted(found, key=lambda p: (-p.severity, kinds.index(p.kind), p.cell.touchpoint))


def _worst_regions(waits) -> dict[str, tuple[str, float]]:
    """Per touchpoint, the region with the longest mean wait (two regions or more)."""
    per: dict[str, list[tuple[str, float]]] = {}
    for r in waits.regions:
        for b in r.bottlenecks:
            if b.mean_wait_seconds is not None:
                per.setdefault(b.touchpoint, []).append((r.region, b.mean_wait_seconds))
    return {t: max(v, key=lambda x: (x[1], x[0])) for t, v in per.items() if len(v) >= 2}


def _clear(x1: int, n1: int, x2: int, n2: int, min_cases: int) -> float | None:
    """The z of x1/n1 against x2/n2 when x1/n1 is clearly higher, else None."""
    if n1 < min_cases or n2 < min_cases:
        return None
    if x1 / n1 - x2 / n2 < MIN_DIFFERENCE:
        return None
    z = two_proportion_z(x1, n1, x2, n2)
    return z if z >= SIGNIFICANT_Z else None


def _opportunities(stages: list[Stage], reference, goal: tuple[str, ...],
                   min_cases: int) -> list[Opportunity]:
    goal_ranks = [STAGES.index(reference[g]["stage"]) for g in goal
                  if reference.get(g, {}).get("stage")]
    before_goal = min(goal_ranks) if goal_ranks else len(STAGES)
    found: list[Opportunity] = []
    lifted: set[str] = set()
    for s in stages:
        if s.stage is None:
            continue
        early = STAGES.index(s.stage) < before_goal
        for c in s.cells:
            others, others_done = s.cases - c.cases, s.converted - c.converted
            promotable = c.role not in ("basic", "alternative")
            if goal and early and promotable and c.touchpoint not in goal:
                z = _clear(c.converted, c.cases, others_done, others, min_cases)
                if z is not None:
                    lifted.add(c.touchpoint)
                    found.append(Opportunity(
                        OpportunityKind.CONVERTS_BETTER, c, Measure.CONVERSION, c.conversion,
                        others_done / others, others, None, z,
                        (c.conversion - others_done / others) * others))
            few = c.role == "optional" and s.cases and c.cases / s.cases < FEW_USE
            if not few or c.touchpoint in lifted or c.cases < min_cases or others < min_cases:
                continue
            if goal:
                value, compared = c.conversion, others_done / others
                fine = early and value >= compared
            else:
                value, compared = c.conversion, s.conversion
                events = max(1, sum(x.events for x in s.cells))
                stage_failed = sum(x.failed for x in s.cells) / events
                fine = (value is not None and compared is not None and value >= compared
                        and (c.failure_share or 0.0) <= stage_failed)
            if fine:
                found.append(Opportunity(
                    OpportunityKind.OPTIONAL_FEW_USE, c, Measure.CONVERSION, value, compared,
                    others, None, None, (value - compared) * others))
        found.extend(_doors(s, goal, min_cases))
    return sorted(found, key=lambda o: (-o.potential, o.kind.value, o.cell.touchpoint))


def _doors(stage: Stage, goal: tuple[str, ...], min_cases: int) -> list[Opportunity]:
    """The better-door opportunity of a stage's alternative doors, if any."""
    doors = [c for c in stage.cells if c.role == "alternative"]
    if len(doors) < 2:
        return []
    busiest = doors[0]  # cells come most cases first
    best: Opportunity | None = None
    for other in doors[1:]:
        choices = []
        if busiest.conversion is not None and other.conversion is not None:
            z = _clear(other.converted, other.cases, busiest.converted, busiest.cases, min_cases)
            if z is not None:
                gap = other.conversion - busiest.conversion
                choices.append((Measure.CONVERSION, busiest.conversion, other.conversion, z,
                                gap * busiest.cases))
        z = _clear(busiest.failed, busiest.events, other.failed, other.events, min_cases)
        if z is not None and not choices:
            gap = busiest.failure_share - other.failure_share
            choices.append((Measure.FAILURE, busiest.failure_share, other.failure_share, z,
                            gap * busiest.events))
        for measure, value, compared, z, potential in choices:
            if best is None or potential > best.potential:
                best = Opportunity(OpportunityKind.BETTER_DOOR, busiest, measure, value,
                                   compared, other.cases, other.touchpoint, z, potential)
    return [] if best is None else [best]
