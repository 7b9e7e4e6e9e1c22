"""Drop-off points: where journeys that never reach the goal end, and how often each
touchpoint is the last one for the cases passing through it.

A case *drops off* when none of its events is at a goal touchpoint. Its *exit point* is
its last event in (timestamp, seq) order. A touchpoint's *exit rate* is the share of cases
visiting it whose journey ends there without reaching the goal. With ``idle``, cases
whose last event is less than ``idle`` before the newest event in the data are still in
progress: they are left out of both counts rather than called drop-offs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import InputError
from .flow import as_int, epoch_millis, goal_cases, goal_touchpoints, share
from .ordering import case_window


@dataclass(frozen=True)
class ExitPoint:
    touchpoint: str
    cases: int  # dropped cases ending here
    share: float  # of all dropped cases

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "cases": self.cases, "share": self.share}


@dataclass(frozen=True)
class TouchpointExit:
    touchpoint: str
    cases_through: int  # cases visiting it (goal reached or not)
    exits: int  # of those, dropped cases ending here
    exit_rate: float

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "cases_through": self.cases_through,
            "exits": self.exits,
            "exit_rate": self.exit_rate,
        }


@dataclass(frozen=True)
class DropOffs:
    goal: tuple[str, ...]
    cases: int  # cases considered (in progress ones left out)
    reached_goal: int
    dropped: int
    in_progress: int
    exit_points: tuple[ExitPoint, ...]  # most dropped cases first
    exit_rates: tuple[TouchpointExit, ...]  # highest exit rate first

    @property
    def drop_rate(self) -> float | None:
        return share(self.dropped, self.cases)

    def to_dict(self) -> dict:
        return {
            "goal": list(self.goal),
            "cases": self.cases,
            "reached_goal": self.reached_goal,
            "dropped": self.dropped,
            "in_progress": self.in_progress,
            "drop_rate": self.drop_rate,
            "exit_points": [e.to_dict() for e in self.exit_points],
            "exit_rates": [e.to_dict() for e in self.exit_rates],
        }


def dropoffs(
    events: ir.Table,
    *,
    goal: str | Sequence[str],
    idle: timedelta | None = None,
) -> DropOffs:
    """Where journeys that never reach ``goal`` end, and each touchpoint's exit rate."""
    names = goal_touchpoints(goal)
    if idle is not None and idle < timedelta(0):
        raise InputError(f"The idle time must not be negative; got {idle}.")
    following = events.mutate(next_seq=events.seq.lead().over(case_window(events)))
    ends = following.filter(following.next_seq.isnull())
    ends = ends.select("case_id", "touchpoint", "timestamp")
    reached = goal_cases(events, names).mutate(reached=ibis.literal(True))
    ends = ends.left_join(reached, "case_id").select(
        "case_id",
        exit_touchpoint=ends.touchpoint,
        last_millis=epoch_millis(ends.timestamp),
        reached=reached.reached.fill_null(False),
    )
    in_progress = ibis.literal(False)
    if idle is not None:
        newest = epoch_millis(events.timestamp.max().as_scalar())
        idle_ms = int(idle / timedelta(milliseconds=1))
        in_progress = ~ends.reached & (newest - ends.last_millis < idle_ms)
    ends = ends.mutate(in_progress=in_progress)

    totals = ends.aggregate(
        cases=ends.count(),
        reached=ends.reached.cast("int64").sum(),
        in_progress=ends.in_progress.cast("int64").sum(),
    ).execute()
    in_progress_cases = as_int(totals["in_progress"].iloc[0])
    cases = as_int(totals["cases"].iloc[0]) - in_progress_cases
    reached_goal = as_int(totals["reached"].iloc[0])
    dropped = cases - reached_goal

    settled = ends.filter(~ends.in_progress)
    dropped_ends = settled.filter(~settled.reached)
    exits = dropped_ends.group_by("exit_touchpoint").aggregate(exits=dropped_ends.count())
    through = (
        events.select("case_id", "touchpoint")
        .distinct()
        .semi_join(settled, "case_id")
        .group_by("touchpoint")
        .aggregate(cases_through=_.count())
    )
    joined = through.left_join(exits, through.touchpoint == exits.exit_touchpoint)
    frame = joined.select(
        "touchpoint", "cases_through", exits=joined.exits.fill_null(0)
    ).execute()

    exit_points = sorted(
        (
            ExitPoint(str(r.touchpoint), as_int(r.exits), as_int(r.exits) / dropped)
            for r in frame.itertuples()
            if as_int(r.exits) > 0
        ),
        key=lambda e: (-e.cases, e.touchpoint),
    )
    exit_rates = sorted(
        (
            TouchpointExit(
                str(r.touchpoint),
                as_int(r.cases_through),
                as_int(r.exits),
                as_int(r.exits) / as_int(r.cases_through),
            )
            for r in frame.itertuples()
        ),
        key=lambda e: (-e.exit_rate, -e.exits, e.touchpoint),
    )
    return DropOffs(
        goal=names,
        cases=cases,
        reached_goal=reached_goal,
        dropped=dropped,
        in_progress=in_progress_cases,
        exit_points=tuple(exit_points),
        exit_rates=tuple(exit_rates),
    )
