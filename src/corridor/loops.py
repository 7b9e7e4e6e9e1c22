"""Loops and rework: a touchpoint visited more than once in a case, and ping-pong, where a
case goes from touchpoint A to B and straight back to A.

*Repeats* of a touchpoint in a case are its visits beyond the first. A *ping-pong* is
three consecutive events of a case (in (timestamp, seq) order) at A, B, A with A != B;
A-B-A-B holds two (A-B-A and B-A-B), since each return is one more bounce. The
departments of A and B come from the events, else from the touchpoints table; a ping-pong
*crosses departments* when both are known and differ.

Both count touchpoint *instances*, not events. A source with an XES lifecycle records one
instance as several events (BPIC 2012: SCHEDULE, START and COMPLETE of one activity), and
those are not rework. Within a case, the instances of a touchpoint are its events of one
lifecycle state: *complete* when it has any there, else *start*, else the first other
state in alphabetical order (compared without regard to case). Events without a
lifecycle are instances each, so events with no lifecycle at all (most sources) count
exactly as before. Two completed visits of a touchpoint are a repeat; schedule, start and
complete of one visit are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
import ibis
from ibis import _

from .flow import as_int, as_text, from_touchpoints, share
from .ordering import case_window
from .schema import LIFECYCLE


@dataclass(frozen=True)
class TouchpointRepeats:
    touchpoint: str
    cases: int  # cases visiting it
    cases_with_repeats: int
    repeats: int  # visits beyond the first, summed over cases

    @property
    def repeat_rate(self) -> float:
        return self.cases_with_repeats / self.cases

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "cases": self.cases,
            "cases_with_repeats": self.cases_with_repeats,
            "repeats": self.repeats,
            "repeat_rate": self.repeat_rate,
        }


@dataclass(frozen=True)
class PingPong:
    touchpoint: str  # A: left and returned to
    via: str  # B
    department_id: str | None  # of A
    via_department_id: str | None  # of B
    occurrences: int
    cases: int

    @property
    def crosses_departments(self) -> bool:
        return (
            self.department_id is not None
            and self.via_department_id is not None
            and self.department_id != self.via_department_id
        )

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "via": self.via,
            "department_id": self.department_id,
            "via_department_id": self.via_department_id,
            "crosses_departments": self.crosses_departments,
            "occurrences": self.occurrences,
            "cases": self.cases,
        }


@dataclass(frozen=True)
class Loops:
    cases: int
    cases_with_repeats: int
    total_repeats: int
    cases_with_ping_pong: int
    repeats: tuple[TouchpointRepeats, ...]  # touchpoints with repeats, most first
    ping_pongs: tuple[PingPong, ...]  # most occurrences first

    @property
    def rework_rate(self) -> float | None:
        return share(self.cases_with_repeats, self.cases)

    def to_dict(self) -> dict:
        return {
            "cases": self.cases,
            "cases_with_repeats": self.cases_with_repeats,
            "total_repeats": self.total_repeats,
            "rework_rate": self.rework_rate,
            "cases_with_ping_pong": self.cases_with_ping_pong,
            "repeats": [r.to_dict() for r in self.repeats],
            "ping_pongs": [p.to_dict() for p in self.ping_pongs],
        }


def loops(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    across_departments: bool = False,
) -> Loops:
    """Repeats per touchpoint and A-B-A ping-pongs (only those crossing departments when
    ``across_departments``). Events are first reduced to touchpoint instances
    (:func:`instances`)."""
    events = instances(events)
    visits = events.group_by(["case_id", "touchpoint"]).aggregate(visits=_.count())
    visits = visits.mutate(extra=visits.visits - 1)
    per_touchpoint = (
        visits.group_by("touchpoint")
        .aggregate(
            cases=_.count(),
            cases_with_repeats=(_.extra > 0).cast("int64").sum(),
            repeats=_.extra.sum(),
        )
        .execute()
    )
    per_case = visits.group_by("case_id").aggregate(extra=_.extra.sum())
    totals = per_case.aggregate(
        cases=_.count(),
        with_repeats=(_.extra > 0).cast("int64").sum(),
        repeats=_.extra.sum(),
    ).execute()

    bounces = _ping_pongs(from_touchpoints(events, touchpoints, fill=["department_id"]))
    if across_departments:
        bounces = bounces.filter(
            bounces.department_id.notnull()
            & bounces.via_department_id.notnull()
            & (bounces.department_id != bounces.via_department_id)
        )
    keys = ["touchpoint", "via", "department_id", "via_department_id"]
    pairs = (
        bounces.group_by(keys)
        .aggregate(occurrences=_.count(), cases=_.case_id.nunique())
        .execute()
    )
    bounce_cases = as_int(bounces.case_id.nunique().execute())

    repeats = sorted(
        (
            TouchpointRepeats(
                str(r.touchpoint),
                as_int(r.cases),
                as_int(r.cases_with_repeats),
                as_int(r.repeats),
            )
            for r in per_touchpoint.itertuples()
            if as_int(r.repeats) > 0
        ),
        key=lambda r: (-r.repeats, r.touchpoint),
    )
    ping_pongs = sorted(
        (
            PingPong(
                str(r.touchpoint),
                str(r.via),
                as_text(r.department_id),
                as_text(r.via_department_id),
                as_int(r.occurrences),
                as_int(r.cases),
            )
            for r in pairs.itertuples()
        ),
        key=lambda p: (
            -p.occurrences,
            p.touchpoint,
            p.via,
            p.department_id or "",
            p.via_department_id or "",
        ),
    )
    return Loops(
        cases=as_int(totals["cases"].iloc[0]),
        cases_with_repeats=as_int(totals["with_repeats"].iloc[0]),
        total_repeats=as_int(totals["repeats"].iloc[0]),
        cases_with_ping_pong=bounce_cases,
        repeats=tuple(repeats),
        ping_pongs=tuple(ping_pongs),
    )


def instances(events: ir.Table) -> ir.Table:
    """The events that stand for one touchpoint instance each (see the module
    docstring), with the columns of ``events``. Events without a ``lifecycle`` column
    are returned as they are."""
    if LIFECYCLE not in events.columns:
        return events
    state = events[LIFECYCLE].lower()
    # the preferred state sorts first: complete, then start, then the others by name
    rank = (
        ibis.cases((state == "complete", "0"), (state == "start", "1"), else_="2" + state)
    )
    ranked = events.mutate(_instance_rank=rank)
    w = ibis.window(group_by=[ranked.case_id, ranked.touchpoint])
    chosen = ranked.mutate(_instance_best=ranked._instance_rank.min().over(w))
    kept = chosen.filter(
        chosen[LIFECYCLE].isnull() | (chosen._instance_rank == chosen._instance_best)
    )
    return kept.select(*events.columns)


def _ping_pongs(events: ir.Table) -> ir.Table:
    """One row per A-B-A triple: case_id, touchpoint (A), via (B) and their departments."""
    w = case_window(events)
    triples = events.mutate(
        via=events.touchpoint.lead(1).over(w),
        back=events.touchpoint.lead(2).over(w),
        via_department_id=events.department_id.lead(1).over(w),
    )
    found = triples.filter(
        (triples.back == triples.touchpoint) & (triples.via != triples.touchpoint)
    )
    return found.select("case_id", "touchpoint", "via", "department_id", "via_department_id")
