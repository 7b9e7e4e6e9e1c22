"""Department scorecards: where a department's work goes.

For every department, from the events (and, when given, the customers, feedback and
incidents):

- *its touchpoints*: those the touchpoints table declares it owns, and those of the
  events it handled. An event belongs to its own ``department_id``, else to its
  touchpoint's declared department (as in :mod:`corridor.handoffs`). Per touchpoint:
  events (volume), distinct customers, the median of the known waits, the share of
  failed or abandoned events, and satisfaction from the feedback given at that
  touchpoint (NPS as % promoters − % detractors, CSAT as the share satisfied 4–5, CES
  as the mean score; the bands of :data:`corridor.personas.SCALES`). A department's own
  satisfaction is that of the feedback given at any of its touchpoints, each answer
  once.
- *the customers it reaches*: distinct customers with at least one of its events,
  counted once however many touchpoints they met; their share of every customer with
  events; by segment (with a customers table), and per touchpoint and segment, the flow
  a scorecard draws.
- *hand-offs in and out* (:func:`corridor.handoffs.handoffs`): per other department,
  how often a case passed from it to this department (in) or from this department to
  it (out), in how many cases, and the delay. So the hand-offs into A are exactly the
  hand-offs out of the others to A.
- *incidents*: those naming the department, or naming none but a touchpoint it is
  declared to own; open (not closed) or closed, with a root cause found or not.
- *actions*: those it owns, whatever the incident: done or not, and the verdict of the
  effect measured after completion (:mod:`corridor.effects`) when there is one.

The counts are Ibis aggregations, so DuckDB and Spark give the same scorecards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from .customers import require_columns
from .errors import InputError
from .flow import Delay, as_float, as_int, as_text, from_touchpoints, median_of, share
from .handoffs import handoffs
from .incidents import ActionKind, ActionStatus, Incident, IncidentStatus
from .personas import FAILED_OUTCOMES, SCALES

EVENT_COLUMNS = ("customer_id", "case_id", "touchpoint", "timestamp", "outcome",
                 "wait_seconds", "department_id", "seq")


# ---- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One satisfaction metric over a set of answers: ``value`` is its headline (NPS −100
    to 100, CSAT the share satisfied, CES the mean score)."""

    metric: str
    responses: int
    value: float | None

    def to_dict(self) -> dict:
        return {"metric": self.metric, "responses": self.responses, "value": self.value}


@dataclass(frozen=True)
class TouchpointWork:
    touchpoint: str
    declared: bool  # the touchpoints table names this department as its owner
    events: int  # the department's events at the touchpoint
    customers: int
    median_wait_seconds: float | None
    failures: int  # failed or abandoned events
    satisfaction: tuple[Score, ...]  # metrics with answers at the touchpoint

    @property
    def failure_share(self) -> float | None:
        return share(self.failures, self.events)

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "declared": self.declared,
                "events": self.events, "customers": self.customers,
                "median_wait_seconds": self.median_wait_seconds, "failures": self.failures,
                "failure_share": self.failure_share,
                "satisfaction": [s.to_dict() for s in self.satisfaction]}


@dataclass(frozen=True)
class SegmentReach:
    segment: str | None  # None: customers without a known segment
    customers: int  # reached by the department
    share: float  # of the customers the department reaches
    of_segment: float | None  # of the segment's customers with events

    def to_dict(self) -> dict:
        return {"segment": self.segment, "customers": self.customers, "share": self.share,
                "of_segment": self.of_segment}


@dataclass(frozen=True)
class Flow:
    """Customers of a segment who met the department at a touchpoint."""

    touchpoint: str
    segment: str | None
    customers: int

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "segment": self.segment,
                "customers": self.customers}


@dataclass(frozen=True)
class Reach:
    customers: int  # distinct, each counted once
    share: float | None  # of every customer with events
    segments: tuple[SegmentReach, ...]  # most reached first; empty without customers
    flows: tuple[Flow, ...]  # touchpoint × segment; empty without customers

    def to_dict(self) -> dict:
        return {"customers": self.customers, "share": self.share,
                "segments": [s.to_dict() for s in self.segments],
                "flows": [f.to_dict() for f in self.flows]}


@dataclass(frozen=True)
class HandOffLink:
    department_id: str  # the other department
    count: int
    cases: int
    delay: Delay

    def to_dict(self) -> dict:
        return {"department_id": self.department_id, "count": self.count,
                "cases": self.cases, "delay": self.delay.to_dict()}


@dataclass(frozen=True)
class HandOffsOf:
    incoming: tuple[HandOffLink, ...]  # from other departments to this one, most first
    outgoing: tuple[HandOffLink, ...]  # from this one to others, most first

    @property
    def count_in(self) -> int:
        return sum(h.count for h in self.incoming)

    @property
    def count_out(self) -> int:
        return sum(h.count for h in self.outgoing)

    def to_dict(self) -> dict:
        return {"count_in": self.count_in, "count_out": self.count_out,
                "incoming": [h.to_dict() for h in self.incoming],
                "outgoing": [h.to_dict() for h in self.outgoing]}


@dataclass(frozen=True)
class IncidentItem:
    incident_id: int
    title: str
    status: IncidentStatus
    opened_at: dt.datetime
    touchpoint: str | None
    root_causes: int

    @property
    def is_open(self) -> bool:
        return self.status != IncidentStatus.CLOSED

    @property
    def has_root_cause(self) -> bool:
        return self.root_causes > 0

    def to_dict(self) -> dict:
        return {"incident_id": self.incident_id, "title": self.title,
                "status": self.status.value, "opened_at": self.opened_at.isoformat(),
                "touchpoint": self.touchpoint, "root_causes": self.root_causes,
                "is_open": self.is_open, "has_root_cause": self.has_root_cause}


@dataclass(frozen=True)
class ActionItem:
    action_id: int
    incident_id: int
    title: str
    kind: ActionKind
    status: ActionStatus
    due: dt.date
    completed_at: dt.datetime | None
    verdict: str | None  # of the measured effect; None until measured

    @property
    def done(self) -> bool:
        return self.status == ActionStatus.DONE

    def to_dict(self) -> dict:
        return {"action_id": self.action_id, "incident_id": self.incident_id,
                "title": self.title, "kind": self.kind.value, "status": self.status.value,
                "due": self.due.isoformat(),
                "completed_at": None if self.completed_at is None
                else self.completed_at.isoformat(),
                "done": self.done, "verdict": self.verdict}


@dataclass(frozen=True)
class Scorecard:
    department_id: str
    name: str | None
    parent_id: str | None
    events: int
    failures: int
    median_wait_seconds: float | None
    satisfaction: tuple[Score, ...]
    touchpoints: tuple[TouchpointWork, ...]  # most events first
    reach: Reach
    handoffs: HandOffsOf
    incidents: tuple[IncidentItem, ...]  # open first, newest first
    actions: tuple[ActionItem, ...]  # not done first, by due date

    @property
    def failure_share(self) -> float | None:
        return share(self.failures, self.events)

    @property
    def open_incidents(self) -> int:
        return sum(i.is_open for i in self.incidents)

    @property
    def closed_incidents(self) -> int:
        return len(self.incidents) - self.open_incidents

    @property
    def incidents_with_root_cause(self) -> int:
        return sum(i.has_root_cause for i in self.incidents)

    @property
    def actions_done(self) -> int:
        return sum(a.done for a in self.actions)

    @property
    def actions_measured(self) -> int:
        return sum(a.verdict is not None for a in self.actions)

    def to_dict(self) -> dict:
        return {
            "department_id": self.department_id, "name": self.name,
            "parent_id": self.parent_id, "events": self.events, "failures": self.failures,
            "failure_share": self.failure_share,
            "median_wait_seconds": self.median_wait_seconds,
            "satisfaction": [s.to_dict() for s in self.satisfaction],
            "touchpoints": [t.to_dict() for t in self.touchpoints],
            "reach": self.reach.to_dict(),
            "handoffs": self.handoffs.to_dict(),
            "incidents": [i.to_dict() for i in self.incidents],
            "open_incidents": self.open_incidents,
            "closed_incidents": self.closed_incidents,
            "incidents_with_root_cause": self.incidents_with_root_cause,
            "actions": [a.to_dict() for a in self.actions],
            "actions_done": self.actions_done,
            "actions_measured": self.actions_measured,
        }


@dataclass(frozen=True)
class Scorecards:
    customers: int  # every customer with events
    events: int
    cards: tuple[Scorecard, ...]  # by department_id

    def card(self, department_id: str) -> Scorecard:
        for c in self.cards:
            if c.department_id == department_id:
                return c
        known = ", ".join(c.department_id for c in self.cards) or "none"
        raise InputError(
            f"There is no department {department_id!r}; the departments are {known}."
        )

    def to_dict(self) -> dict:
        return {"customers": self.customers, "events": self.events,
                "departments": [c.to_dict() for c in self.cards]}


# ---- the scorecards ----------------------------------------------------------------------


def department_scorecards(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    departments: ir.Table | None = None,
    customers: ir.Table | None = None,
    feedback: ir.Table | None = None,
    incidents: Sequence[Incident] | None = None,
) -> Scorecards:
    """One scorecard per department (see the module docstring): every department of the
    departments table, and any other the events or touchpoints name."""
    require_columns(events, EVENT_COLUMNS, "events")
    owners = _declared_owners(touchpoints)
    info = _departments(departments)
    ev = from_touchpoints(events, touchpoints, fill=["department_id"])
    ev = ev.select(customer_id=ev.customer_id.cast("string"), touchpoint=ev.touchpoint,
                   department_id=ev.department_id,
                   failed=ev.outcome.isin(FAILED_OUTCOMES).fill_null(False).cast("int64"),
                   wait=ev.wait_seconds.cast("float64"))
    work, totals = _work(ev)
    reach_rows = _reach(ev, customers)
    scores = _scores(feedback) if feedback is not None else {}
    found = handoffs(events, touchpoints=touchpoints)
    everyone = as_int(totals.get("customers", 0))

    ids = set(info) | set(owners.values()) | set(work["department_id"].dropna().astype(str))
    if incidents:
        ids |= {i.department_id for i in incidents if i.department_id}
    per_incident = {d: [] for d in ids}
    for incident in incidents or ():
        owner = incident.department_id or (owners.get(incident.touchpoint)
                                           if incident.touchpoint else None)
        if owner in per_incident:
            per_incident[owner].append(_incident_item(incident))
    per_action: dict[str, list[ActionItem]] = {d: [] for d in ids}
    for incident in incidents or ():
        for action in incident.actions:
            if action.owner_department_id in per_action:
                per_action[action.owner_department_id].append(_action_item(action))

    cards = []
    for d in sorted(ids):
        rows = work[(work["department_id"] == d)]
        own = rows[rows["touchpoint"].notna()]
        whole = rows[rows["touchpoint"].isna()]
        handled = {str(r.touchpoint): r for r in own.itertuples()}
        declared = {tp for tp, owner in owners.items() if owner == d}
        tps = []
        for tp in sorted(set(handled) | declared):
            r = handled.get(tp)
            tps.append(TouchpointWork(
                touchpoint=tp, declared=tp in declared,
                events=as_int(r.events) if r is not None else 0,
                customers=as_int(r.customers) if r is not None else 0,
                median_wait_seconds=as_float(r.median_wait) if r is not None else None,
                failures=as_int(r.failures) if r is not None else 0,
                satisfaction=_headline(scores, [tp]),
            ))
        tps.sort(key=lambda t: (-t.events, t.touchpoint))
        w = next(whole.itertuples(), None)
        reached = as_int(w.customers) if w is not None else 0
        name, parent = info.get(d, (None, None))
        cards.append(Scorecard(
            department_id=d, name=name, parent_id=parent,
            events=as_int(w.events) if w is not None else 0,
            failures=as_int(w.failures) if w is not None else 0,
            median_wait_seconds=as_float(w.median_wait) if w is not None else None,
            satisfaction=_headline(scores, [t.touchpoint for t in tps]),
            touchpoints=tuple(tps),
            reach=_reach_of(d, reached, everyone, reach_rows),
            handoffs=HandOffsOf(
                incoming=_links([(p.from_department, p) for p in found.pairs
                                 if p.to_department == d]),
                outgoing=_links([(p.to_department, p) for p in found.pairs
                                 if p.from_department == d]),
            ),
            incidents=tuple(sorted(per_incident[d], key=lambda i: (
                not i.is_open, -i.opened_at.timestamp(), -i.incident_id))),
            actions=tuple(sorted(per_action[d], key=lambda a: (
                a.done, a.due, a.action_id))),
        ))
    return Scorecards(customers=everyone, events=as_int(totals.get("events", 0)),
                      cards=tuple(cards))


def _declared_owners(touchpoints: ir.Table | None) -> dict[str, str]:
    """touchpoint → the department the touchpoints table declares (a small table)."""
    if touchpoints is None or "department_id" not in touchpoints.columns:
        return {}
    t = touchpoints.filter(touchpoints.department_id.notnull())
    frame = t.group_by("touchpoint").aggregate(owner=t.department_id.min()).to_pandas()
    return {str(r.touchpoint): str(r.owner) for r in frame.itertuples()}


def _departments(departments: ir.Table | None) -> dict[str, tuple[str | None, str | None]]:
    """department_id → (name, parent_id) from the departments table (a small table)."""
    if departments is None:
        return {}
    require_columns(departments, ["department_id"], "departments")
    cols = departments.columns
    frame = departments.select(
        department_id=departments.department_id.cast("string"),
        name=departments["name"].cast("string") if "name" in cols else ibis.null("string"),
        parent_id=(departments.parent_id.cast("string") if "parent_id" in cols
                   else ibis.null("string")),
    ).to_pandas()
    return {str(r.department_id): (as_text(r.name), as_text(r.parent_id))
            for r in frame.itertuples() if as_text(r.department_id)}


def _work(ev: ir.Table) -> tuple[pd.DataFrame, dict]:
    """Per (department, touchpoint) and per department (touchpoint null): events,
    customers, failures and median wait; and the totals over every event. One query."""
    def measures(t):
        return {"events": _.count(), "customers": t.customer_id.nunique(),
                "failures": t.failed.sum(), "median_wait": median_of(t.wait)}

    owned = ev.filter(ev.department_id.notnull())
    by_touchpoint = owned.group_by(["department_id", "touchpoint"]).aggregate(**measures(owned))
    by_department = owned.group_by("department_id").aggregate(
        touchpoint=ibis.null("string"), **measures(owned))
    overall = ev.aggregate(department_id=ibis.null("string"), touchpoint=ibis.null("string"),
                           **measures(ev))
    columns = ["department_id", "touchpoint", "events", "customers", "failures", "median_wait"]
    types = {"department_id": "string", "touchpoint": "string", "events": "int64",
             "customers": "int64", "failures": "int64", "median_wait": "float64"}
    parts = [p.select(*(p[c].cast(types[c]).name(c) for c in columns))
             for p in (by_touchpoint, by_department, overall)]
    frame = ibis.union(*parts).to_pandas()
    total = frame[frame["department_id"].isna()]
    totals = total.iloc[0].to_dict() if len(total) else {}
    return frame[frame["department_id"].notna()].reset_index(drop=True), totals


def _reach(ev: ir.Table, customers: ir.Table | None) -> pd.DataFrame:
    """Distinct customers per (department, touchpoint, segment), per (department,
    segment) (touchpoint null) and per segment over everyone (department null); level
    says which. Empty without a customers table."""
    if customers is None:
        return pd.DataFrame(columns=["level", "department_id", "touchpoint", "segment",
                                     "customers"])
    require_columns(customers, ["customer_id", "segment"], "customers")
    c = customers.select(customer_id=customers.customer_id.cast("string"),
                         segment=customers.segment.cast("string"))
    c = c.group_by("customer_id").aggregate(segment=c.segment.min())
    visits = ev.select("customer_id", "touchpoint", "department_id").distinct()
    joined = visits.left_join(c, "customer_id").drop("customer_id_right")
    owned = joined.filter(joined.department_id.notnull())
    levels = [
        ("flow", owned.group_by(["department_id", "touchpoint", "segment"])),
        ("department", owned.group_by(["department_id", "segment"])),
        ("overall", joined.group_by("segment")),
    ]
    columns = ["level", "department_id", "touchpoint", "segment", "customers"]
    parts = []
    for level, grouped in levels:
        t = grouped.aggregate(customers=_.customer_id.nunique())
        values = {
            "level": ibis.literal(level, "string"),
            "department_id": (t.department_id if "department_id" in t.columns
                              else ibis.null("string")),
            "touchpoint": t.touchpoint if "touchpoint" in t.columns else ibis.null("string"),
            "segment": t.segment,
            "customers": t.customers.cast("int64"),
        }
        parts.append(t.select(*(values[c].cast("int64" if c == "customers" else "string")
                                .name(c) for c in columns)))
    return ibis.union(*parts).to_pandas()


def _reach_of(d: str, reached: int, everyone: int, rows: pd.DataFrame) -> Reach:
    if rows.empty:
        return Reach(reached, share(reached, everyone), (), ())
    segment = rows["segment"].astype("object").where(rows["segment"].notna(), None)
    rows = rows.assign(segment=segment)
    overall = {r.segment: as_int(r.customers)
               for r in rows[rows["level"] == "overall"].itertuples()}
    mine = rows[(rows["level"] == "department") & (rows["department_id"] == d)]
    segments = sorted(
        (SegmentReach(r.segment, as_int(r.customers), as_int(r.customers) / reached,
                      share(as_int(r.customers), overall.get(r.segment, 0)))
         for r in mine.itertuples()),
        key=lambda s: (-s.customers, s.segment is None, s.segment or ""))
    flows = rows[(rows["level"] == "flow") & (rows["department_id"] == d)]
    flow = sorted((Flow(str(r.touchpoint), r.segment, as_int(r.customers))
                   for r in flows.itertuples()),
                  key=lambda f: (f.touchpoint, f.segment is None, f.segment or ""))
    return Reach(reached, share(reached, everyone), tuple(segments), tuple(flow))


def _scores(feedback: ir.Table) -> dict[tuple[str, str], tuple[int, int, int, float]]:
    """(touchpoint, metric) → (answers, negative, positive, sum of scores) of the answers
    given at a touchpoint, on the metrics' known scales."""
    require_columns(feedback, ["touchpoint", "metric", "score"], "feedback")
    f = feedback.filter(feedback.touchpoint.notnull() & feedback.score.notnull()
                        & feedback.metric.isin(list(SCALES)))
    score = f.score.cast("float64")
    low = ibis.cases(*((f.metric == m, score <= s[2]) for m, s in SCALES.items()),
                     else_=ibis.literal(False))
    high = ibis.cases(*((f.metric == m, score >= s[3]) for m, s in SCALES.items()),
                      else_=ibis.literal(False))
    rows = f.group_by(["touchpoint", "metric"]).aggregate(
        n=_.count(), negative=low.cast("int64").sum(), positive=high.cast("int64").sum(),
        total=score.sum(),
    ).to_pandas()
    return {(str(r.touchpoint), str(r.metric)): (as_int(r.n), as_int(r.negative),
                                                 as_int(r.positive), float(r.total))
            for r in rows.itertuples()}


def _headline(scores: dict, touchpoints: Sequence[str]) -> tuple[Score, ...]:
    """NPS, CSAT and CES of the answers given at ``touchpoints`` (metrics with answers)."""
    out = []
    for metric in SCALES:
        n = negative = positive = 0
        total = 0.0
        for tp in touchpoints:
            got = scores.get((tp, metric))
            if got:
                n, negative, positive = n + got[0], negative + got[1], positive + got[2]
                total += got[3]
        if not n:
            continue
        value = {"nps": 100.0 * (positive - negative) / n, "csat": positive / n,
                 "ces": total / n}[metric]
        out.append(Score(metric, n, value))
    return tuple(out)


def _links(pairs) -> tuple[HandOffLink, ...]:
    links = [HandOffLink(other, p.count, p.cases, p.delay) for other, p in pairs]
    return tuple(sorted(links, key=lambda h: (-h.count, h.department_id)))


def _incident_item(incident: Incident) -> IncidentItem:
    return IncidentItem(incident.incident_id, incident.title, incident.status,
                        incident.opened_at, incident.touchpoint, len(incident.root_causes))


def _action_item(action) -> ActionItem:
    effect = action.measured_effect
    verdict = effect.get("verdict") if isinstance(effect, dict) else None
    return ActionItem(action.action_id, action.incident_id, action.title, action.kind,
                      action.status, action.due, action.completed_at,
                      str(verdict) if verdict else None)
