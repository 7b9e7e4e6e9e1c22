"""A funnel broken down by customer segment or by channel, in one pass.

Which step a case reaches does not depend on its group, so the funnel is measured once
(:mod:`corridor.funnel`'s rules: entry at the first step-1 event, each later step the
first occurrence after the previous one, ``within`` counted from entry) and every
reached step carries its case's group into one aggregation by group and position. The
groups therefore add up to the whole funnel at every step.

A case's group:

- ``segment``: the segment of the customer of the event that entered the funnel (a
  customer missing from the customers table has none);
- ``channel``: the channel of that event, its own or, when it has none, the one its
  touchpoint declares (the rule :func:`corridor.filters.apply` filters by).

A case without a value forms the group ``None``. The ``top`` groups with the most
entering cases are kept (ties by name) and, when there are more, the rest are counted
together as "other".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import InputError
from .flow import Delay, as_float, as_int, from_touchpoints, median_of, p90_of
from .funnel import (
    Funnel,
    assemble,
    check_steps,
    counts_and_delays,
    reached_steps,
    steps_between,
)
from .ordering import case_window
from .steps import CaseSteps, as_steps

MAX_TOP = 100  # groups listed one by one: more is no longer a breakdown anyone reads


class Breakdown(str, enum.Enum):
    SEGMENT = "segment"
    CHANNEL = "channel"


@dataclass(frozen=True)
class GroupFunnel:
    """The funnel of one group. ``name`` is the segment or channel (None: the cases
    without one, or the "other" groups together when ``is_other``)."""

    name: str | None
    is_other: bool
    funnel: Funnel

    @property
    def cases(self) -> int:
        """Cases that entered the funnel."""
        return self.funnel.steps[0].cases

    def to_dict(self) -> dict:
        return {"name": self.name, "is_other": self.is_other, "funnel": self.funnel.to_dict()}


@dataclass(frozen=True)
class FunnelBreakdown:
    by: Breakdown
    overall: Funnel
    groups: tuple[GroupFunnel, ...]  # most entering cases first, "other" last
    distinct_groups: int  # groups before the smaller ones were put together as other

    def to_dict(self) -> dict:
        return {
            "by": self.by.value,
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "distinct_groups": self.distinct_groups,
        }


def funnel_by(
    events: ir.Table | CaseSteps,
    steps: Sequence[str],
    *,
    by: Breakdown | str,
    customers: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
    within: timedelta | None = None,
    top: int = 6,
    top_between: int = 3,
) -> FunnelBreakdown:
    """The funnel over ``steps`` for all cases and for each group of cases ``by``
    segment or channel: per group and step the cases, conversions, drop-off and time to
    convert (the touchpoints in between are given for the whole funnel only).

    ``events`` are events or their step table (:func:`corridor.steps.case_steps`).
    A breakdown by segment needs ``customers``; one by channel uses ``touchpoints``, when
    given, for events without a channel of their own.
    """
    names = check_steps(steps)
    breakdown = _check_by(by)
    if breakdown is Breakdown.SEGMENT and customers is None:
        raise InputError(
            "A funnel by segment needs the customers table; none was given."
        )
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InputError(
            f"The number of groups to list must be a whole number from 1 to {MAX_TOP};"
            f" got {top!r}."
        )
    if within is not None and within <= timedelta(0):
        raise InputError(f"The funnel window must be positive; got {within}.")
    window_ms = None if within is None else int(within / timedelta(milliseconds=1))
    within_seconds = None if within is None else within.total_seconds()

    with as_steps(events).cached() as ordered, reached_steps(ordered, names, window_ms) as stacked:
        counts, delays = counts_and_delays(stacked, len(names))
        between = steps_between(ordered, stacked, top_between)
        overall = assemble(names, counts, delays, between, within_seconds)
        groups = _entry_groups(ordered.events, names[0], breakdown, customers, touchpoints)
        grouped = stacked.join(groups, "case_id")
        sizes = _group_sizes(grouped)
        chosen = [name for name, _cases in sizes[:top]]
        has_other = len(sizes) > top
        rows = _by_group(grouped, chosen, has_other)

    per_group: dict[tuple[str | None, bool], tuple[list[int], list[Delay]]] = {}
    for row in rows:
        key = (row["group_name"], bool(row["is_other"]))
        counts_, delays_ = per_group.setdefault(
            key, ([0] * len(names), [Delay(None, None)] * len(names)))
        i = as_int(row["position"]) - 1
        counts_[i] = as_int(row["cases"])
        delays_[i] = Delay(as_float(row["median"]), as_float(row["p90"]))
    order = [(name, False) for name in chosen] + ([(None, True)] if has_other else [])
    result = tuple(
        GroupFunnel(name, is_other,
                    assemble(names, *per_group[name, is_other], {}, within_seconds))
        for name, is_other in order
        if (name, is_other) in per_group
    )
    return FunnelBreakdown(breakdown, overall, result, len(sizes))


def _check_by(by: Breakdown | str) -> Breakdown:
    try:
        return Breakdown(by)
    except ValueError:
        raise InputError(
            f"A funnel can be broken down by {' or '.join(b.value for b in Breakdown)};"
            f" got {by!r}."
        ) from None


def _entry_groups(events: ir.Table, first: str, by: Breakdown, customers: ir.Table | None,
                  touchpoints: ir.Table | None) -> ir.Table:
    """Per case that has a ``first`` event, the group of its first one (``case_id``,
    ``name``): the funnel enters at that event."""
    at_first = events.filter(events.touchpoint == first)
    if by is Breakdown.CHANNEL:
        at_first = from_touchpoints(at_first, touchpoints, fill=["channel"])
    ranked = at_first.mutate(_rank=ibis.row_number().over(case_window(at_first)))
    entry = ranked.filter(ranked["_rank"] == 0)
    if by is Breakdown.CHANNEL:
        return entry.select("case_id", name=entry.channel.cast("string"))
    # A customers table should hold each customer once; min() keeps a duplicate from
    # multiplying cases if it does not.
    segments = customers.group_by("customer_id").aggregate(
        _segment=customers.segment.min().cast("string"))
    joined = entry.select("case_id", "customer_id").left_join(segments, "customer_id")
    return joined.select("case_id", name=joined["_segment"])


def _group_sizes(grouped: ir.Table) -> list[tuple[str | None, int]]:
    """Each group with its entering cases, most first (ties by name, no value last)."""
    rows = (grouped.filter(grouped.position == 1).group_by("name")
            .aggregate(cases=_.count()).to_pyarrow().to_pylist())
    sizes = [(row["name"], int(row["cases"])) for row in rows]
    return sorted(sizes, key=lambda s: (-s[1], s[0] is None, s[0] or ""))


def _by_group(grouped: ir.Table, chosen: list[str | None], has_other: bool) -> list[dict]:
    """Cases and time to convert per (kept group or other, position)."""
    if has_other:
        values = [n for n in chosen if n is not None]
        kept = grouped.name.isin(values) if values else ibis.literal(False)
        if None in chosen:
            kept = kept | grouped.name.isnull()
        kept = kept.fill_null(False)
    else:
        kept = ibis.literal(True)
    seconds = (grouped.millis - grouped.previous_millis).cast("float64") / 1000.0
    labelled = grouped.mutate(
        is_other=~kept,
        group_name=ibis.ifelse(kept, grouped.name, ibis.null("string")),
        seconds=seconds,
    )
    return (
        labelled.group_by(["group_name", "is_other", "position"])
        .aggregate(cases=_.count(), median=median_of(_.seconds), p90=p90_of(_.seconds))
        .to_pyarrow().to_pylist()
    )
