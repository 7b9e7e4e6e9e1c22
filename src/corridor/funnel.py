"""Funnels over any ordered list of touchpoints, not only from a journey's start.

A case enters the funnel at its first occurrence of step 1. For each later step it
reaches the first occurrence of that touchpoint strictly after the event that reached the
previous step, in the case's (timestamp, seq) order; touchpoints in between are allowed
and reported as "steps in between". With ``within``, every step must be reached no later
than ``within`` after the case entered the funnel (the window runs from entry, not from
step to step, so the whole funnel has one deadline).

A step no event reaches counts 0 cases. Steps a person names are checked first against
``known``, the touchpoints of all events (before any filter, so that a step a filter left
without events still counts 0): a name no event carries, a typo most likely, is an
:class:`InputError` naming the nearest known touchpoints instead of a funnel that
silently stops at 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import InputError
from .flow import Delay, as_float, as_int, median_of, p90_of, share
from .steps import CaseSteps, as_steps


@dataclass(frozen=True)
class TouchpointCount:
    touchpoint: str
    cases: int

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "cases": self.cases}


@dataclass(frozen=True)
class FunnelStep:
    position: int  # 1-based
    touchpoint: str
    cases: int
    conversion_from_previous: float | None  # None for step 1 and after an empty step
    conversion_from_first: float | None
    drop_off: int  # cases that reached the previous step but not this one
    time_to_convert: Delay  # from reaching the previous step; empty for step 1
    between: tuple[TouchpointCount, ...]  # most visited touchpoints since the last step

    def to_dict(self) -> dict:
        return {
            "position": self.position,
            "touchpoint": self.touchpoint,
            "cases": self.cases,
            "conversion_from_previous": self.conversion_from_previous,
            "conversion_from_first": self.conversion_from_first,
            "drop_off": self.drop_off,
            "time_to_convert": self.time_to_convert.to_dict(),
            "between": [b.to_dict() for b in self.between],
        }


@dataclass(frozen=True)
class Funnel:
    steps: tuple[FunnelStep, ...]
    within_seconds: float | None

    @property
    def overall_conversion(self) -> float | None:
        return self.steps[-1].conversion_from_first

    def to_dict(self) -> dict:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "within_seconds": self.within_seconds,
            "overall_conversion": self.overall_conversion,
        }


def funnel(
    source: ir.Table | CaseSteps,
    steps: Sequence[str],
    *,
    within: timedelta | None = None,
    top_between: int = 3,
    known: Collection[str] | None = None,
) -> Funnel:
    """Per step: cases reached, conversion, drop-off, time to convert and the touchpoints
    most often visited on the way from the previous step.

    ``source`` is events, or the step table other analytics already use
    (:func:`corridor.steps.case_steps`), so that the events are put in order only once.
    With ``known``, every step must be one of those touchpoints (see the module
    docstring).
    """
    names = check_steps(steps)
    if within is not None and within <= timedelta(0):
        raise InputError(f"The funnel window must be positive; got {within}.")
    window_ms = None if within is None else int(within / timedelta(milliseconds=1))
    if known is not None:
        check_known(names, known)
    with as_steps(source).cached() as ordered:
        with reached_steps(ordered, names, window_ms) as stacked:
            counts, delays = counts_and_delays(stacked, len(names))
            between = steps_between(ordered, stacked, top_between)
    within_seconds = None if within is None else within.total_seconds()
    return assemble(names, counts, delays, between, within_seconds)


def assemble(names: tuple[str, ...], counts: list[int], delays: list[Delay],
             between: dict[int, tuple[TouchpointCount, ...]],
             within_seconds: float | None) -> Funnel:
    """The funnel result from each position's cases, delays and steps in between."""
    steps = []
    for i, name in enumerate(names):
        previous = counts[i - 1] if i else None
        steps.append(FunnelStep(
            position=i + 1,
            touchpoint=name,
            cases=counts[i],
            conversion_from_previous=share(counts[i], previous) if i else None,
            conversion_from_first=share(counts[i], counts[0]),
            drop_off=(previous - counts[i]) if i else 0,
            time_to_convert=delays[i],
            between=between.get(i + 1, ()),
        ))
    return Funnel(steps=tuple(steps), within_seconds=within_seconds)


@contextmanager
def reached_steps(ordered: CaseSteps, names: tuple[str, ...],
                  window_ms: int | None) -> Iterator[ir.Table]:
    """Every (case, funnel position) reached, stacked into one table with ``position``:
    case_id, step, millis, entry_millis, previous_step, previous_millis."""
    codes = [ordered.codes.code_of(name) for name in names]
    # Only the funnel's own touchpoints decide which event reaches a step.
    wanted = sorted({c for c in codes if c is not None})
    t = ordered.table
    relevant = t.filter(t.code.isin(wanted) if wanted else ibis.literal(False))
    relevant = relevant.select("case_id", "code", "step", "millis")

    with ExitStack() as kept:
        # Each step's cases are kept on the engine as soon as they are known: step k + 1
        # joins step k, and counts, delays and the steps in between read them all. Left
        # as one nested query, each step would be computed again by every later one.
        reached = [kept.enter_context(
            _first_after(relevant, codes[0], previous=None, window_ms=None).cache()
        )]
        for code in codes[1:]:
            step = _first_after(relevant, code, previous=reached[-1], window_ms=window_ms)
            reached.append(kept.enter_context(step.cache()))
        yield ibis.union(
            *(r.mutate(position=ibis.literal(i + 1, "int64")) for i, r in enumerate(reached))
        )


def check_steps(steps: Sequence[str]) -> tuple[str, ...]:
    if isinstance(steps, str):
        raise InputError(
            f"Funnel steps must be a list of touchpoints, not the single string {steps!r}."
        )
    names = tuple(steps)
    if not names:
        raise InputError("A funnel needs at least one step; none was given.")
    for name in names:
        if not isinstance(name, str) or not name:
            raise InputError(f"Funnel steps must be touchpoint names; got {name!r}.")
    return names


def check_known(names: Sequence[str], known: Collection[str]) -> None:
    """Every step is one of the ``known`` touchpoints; else an :class:`InputError` that
    names the nearest ones (or some known ones, when none is near)."""
    from .company import nearest_known

    known = set(known)
    for name in names:
        if name in known:
            continue
        hint = nearest_known(name, known)
        if not hint and known:
            listed = sorted(known)
            more = f" and {len(listed) - 5:,} more" if len(listed) > 5 else ""
            hint = f"; the events' touchpoints are {', '.join(listed[:5])}{more}"
        elif not known:
            hint = "; there are no events"
        raise InputError(f"No event is at the funnel step {name!r}{hint}.")


def _first_after(
    relevant: ir.Table, code: int | None, *, previous: ir.Table | None, window_ms: int | None
) -> ir.Table:
    """Per case, the first step at ``code`` after the previous funnel step's event: its
    step and millis, the funnel's entry millis, and the previous step's step and millis
    (``previous_step``, ``previous_millis``)."""
    hits = relevant.filter(relevant.code == (-1 if code is None else code))
    if previous is None:
        first = _earliest(hits)
        return first.mutate(
            entry_millis=first.millis,
            previous_step=ibis.null("int64"),
            previous_millis=ibis.null("int64"),
        )
    prior = previous.select(
        "case_id",
        "entry_millis",
        previous_step=previous.step,
        previous_millis=previous.millis,
    )
    candidates = hits.join(prior, "case_id")
    candidates = candidates.filter(candidates.step > candidates.previous_step)
    if window_ms is not None:
        candidates = candidates.filter(
            candidates.millis - candidates.entry_millis <= window_ms
        )
    return _earliest(candidates, carried=[c for c in prior.columns if c != "case_id"])


def _earliest(rows: ir.Table, carried: Sequence[str] = ()) -> ir.Table:
    """The row with the smallest step of each case (columns carried along unchanged are
    the same on every row of a case). Every number is int64, so that the steps, each
    cached by its engine with the types it chose, stack into one table."""
    return rows.group_by("case_id").aggregate(
        step=rows.step.min().cast("int64"),
        millis=rows.millis.argmin(rows.step).cast("int64"),
        **{c: rows[c].min().cast("int64") for c in carried},
    )


def counts_and_delays(stacked: ir.Table, size: int) -> tuple[list[int], list[Delay]]:
    seconds = (stacked.millis - stacked.previous_millis).cast("float64") / 1000.0
    frame = (
        stacked.mutate(seconds=seconds)
        .group_by("position")
        .aggregate(
            cases=_.count(), median=median_of(_.seconds), p90=p90_of(_.seconds)
        )
        .execute()
    )
    counts = [0] * size
    delays = [Delay(None, None)] * size
    for row in frame.itertuples():
        i = as_int(row.position) - 1
        counts[i] = as_int(row.cases)
        delays[i] = Delay(as_float(row.median), as_float(row.p90))
    return counts, delays


def steps_between(
    ordered: CaseSteps, stacked: ir.Table, top: int
) -> dict[int, tuple[TouchpointCount, ...]]:
    """Per funnel position, the touchpoints most cases visited strictly between the
    previous step's event and this step's event."""
    if top <= 0:
        return {}
    spans = stacked.filter(stacked.position > 1).select(
        "case_id", "position", low=stacked.previous_step, high=stacked.step
    )
    t = ordered.table
    inside = t.select("case_id", "code", "step").join(spans, "case_id")
    inside = inside.filter((inside.step > inside.low) & (inside.step < inside.high))
    counts = inside.group_by(["position", "code"]).aggregate(cases=inside.case_id.nunique())
    rank = ibis.row_number().over(
        group_by=counts.position, order_by=[ibis.desc(counts.cases), counts.code]
    )
    rows = counts.mutate(rank=rank).filter(_.rank < top).to_pyarrow().to_pylist()
    names = ordered.codes.touchpoints
    found: dict[int, list[TouchpointCount]] = {}
    for row in sorted(rows, key=lambda r: (r["position"], r["rank"])):
        found.setdefault(int(row["position"]), []).append(
            TouchpointCount(names[row["code"]], int(row["cases"]))
        )
    return {position: tuple(items) for position, items in found.items()}
