"""Hand-offs between departments: a case's event owned by department A directly followed
by its next event owned by department B, with A != B.

An event's department is its own ``department_id``, else its touchpoint's department in
the touchpoints table; transitions where either side has none are not hand-offs. The
delay is the time from the first event to the next, in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
from ibis import _

from .flow import (
    Delay,
    as_float,
    as_int,
    from_touchpoints,
    median_of,
    p90_of,
    seconds_between,
    share,
)
from .ordering import with_steps


@dataclass(frozen=True)
class HandOff:
    from_department: str
    to_department: str
    count: int
    cases: int
    delay: Delay

    def to_dict(self) -> dict:
        return {
            "from_department": self.from_department,
            "to_department": self.to_department,
            "count": self.count,
            "cases": self.cases,
            "delay": self.delay.to_dict(),
        }


@dataclass(frozen=True)
class HandOffs:
    transitions: int  # consecutive event pairs with both departments known
    handoffs: int  # of those, between different departments
    cases_with_handoffs: int
    pairs: tuple[HandOff, ...]  # most frequent first

    @property
    def handoff_rate(self) -> float | None:
        return share(self.handoffs, self.transitions)

    def to_dict(self) -> dict:
        return {
            "transitions": self.transitions,
            "handoffs": self.handoffs,
            "handoff_rate": self.handoff_rate,
            "cases_with_handoffs": self.cases_with_handoffs,
            "pairs": [p.to_dict() for p in self.pairs],
        }


def handoffs(events: ir.Table, *, touchpoints: ir.Table | None = None) -> HandOffs:
    """Counts, cases and delay of each department-to-department hand-off."""
    owned = from_touchpoints(events, touchpoints, fill=["department_id"])
    steps = with_steps(owned)
    known = steps.filter(steps.department_id.notnull() & steps.next_department_id.notnull())
    known = known.mutate(crossing=known.department_id != known.next_department_id)
    totals = known.aggregate(
        transitions=_.count(),
        handoffs=_.crossing.cast("int64").sum(),
    ).execute()
    crossing = known.filter(known.crossing)
    crossing = crossing.mutate(
        seconds=seconds_between(crossing.timestamp, crossing.next_timestamp)
    )
    frame = (
        crossing.group_by(["department_id", "next_department_id"])
        .aggregate(
            n=_.count(),
            cases=_.case_id.nunique(),
            median=median_of(_.seconds),
            p90=p90_of(_.seconds),
        )
        .execute()
    )
    cases = as_int(crossing.case_id.nunique().execute())
    pairs = sorted(
        (
            HandOff(
                str(r.department_id),
                str(r.next_department_id),
                as_int(r.n),
                as_int(r.cases),
                Delay(as_float(r.median), as_float(r.p90)),
            )
            for r in frame.itertuples()
        ),
        key=lambda h: (-h.count, h.from_department, h.to_department),
    )
    return HandOffs(
        transitions=as_int(totals["transitions"].iloc[0]),
        handoffs=as_int(totals["handoffs"].iloc[0]),
        cases_with_handoffs=cases,
        pairs=tuple(pairs),
    )
