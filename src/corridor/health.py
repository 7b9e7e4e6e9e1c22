"""What changed since last period: the corridor's health in the latest period of the data
against the period before it, for the overview.

The latest period is the ``days`` days ending with the last recorded event's day; the
previous period is the same number of days just before it. Each figure says which
direction is better, so a page can colour a change without knowing the metric.

- cases: journeys with an event in the period (flow volume; neither direction is better);
- failed share: events whose outcome is failed or abandoned (accessibility; lower is better);
- median wait: of events that record one, in seconds (lower is better);
- NPS, CSAT and CES: from the feedback given in the period (higher is better);
- revenue: the amount of purchases and bills in the period (higher is better).

A figure without data in a period (no events, no answers of a metric) is None, and so is
its change. Each figure has a *resolution* (:data:`RESOLUTION`): the step it is reported
in (a tenth of a percentage point for shares, a tenth of a point for NPS and CES and of a
second for waits, one journey, one unit of money). A change that rounds to 0 at that
step is *no change* (``unchanged``), neither better nor worse, so a page never reads
"0.0 pts worse".
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from .errors import CorridorError, InputError
from .flow import as_float, as_int
from .satisfaction import Metric, satisfaction

DEFAULT_DAYS = 30
MAX_DAYS = 366


class Better(str, enum.Enum):
    HIGHER = "higher"
    LOWER = "lower"
    NEITHER = "neither"


# The step each figure is reported in; a change smaller than half of it is no change.
RESOLUTION: dict[str, float] = {
    "cases": 1.0,
    "failed_share": 0.001,  # a tenth of a percentage point
    "median_wait_seconds": 0.1,
    "nps": 0.1,
    "csat": 0.001,  # a share, like failed_share
    "ces": 0.1,
    "revenue": 1.0,
}


@dataclass(frozen=True)
class Change:
    name: str  # cases, failed_share, median_wait_seconds, nps, csat, ces, revenue
    current: float | None
    previous: float | None
    better: Better

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def resolution(self) -> float:
        """The step the figure is reported in (:data:`RESOLUTION`)."""
        return RESOLUTION.get(self.name, 0.0)

    @property
    def unchanged(self) -> bool | None:
        """True when the change rounds to 0 at the figure's resolution (exactly 0 for a
        figure without one); None when a period has no data."""
        delta = self.delta
        if delta is None:
            return None
        step = self.resolution
        return delta == 0 if step <= 0 else round(abs(delta) / step) == 0

    @property
    def improved(self) -> bool | None:
        """True when the change went the better way, False when the worse, None when
        there is no change to judge (no data, or no change at the figure's resolution) or
        neither way is better."""
        delta = self.delta
        if delta is None or self.unchanged or self.better == Better.NEITHER:
            return None
        return (delta > 0) == (self.better == Better.HIGHER)

    def to_dict(self) -> dict:
        return {"name": self.name, "current": self.current, "previous": self.previous,
                "delta": self.delta, "resolution": self.resolution,
                "unchanged": self.unchanged, "better": self.better.value,
                "improved": self.improved}


@dataclass(frozen=True)
class HealthChange:
    days: int
    current_start: dt.date
    current_end: dt.date  # inclusive
    previous_start: dt.date
    changes: tuple[Change, ...]

    def change(self, name: str) -> Change:
        for c in self.changes:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"days": self.days, "current_start": self.current_start.isoformat(),
                "current_end": self.current_end.isoformat(),
                "previous_start": self.previous_start.isoformat(),
                "changes": [c.to_dict() for c in self.changes]}


def health_change(
    events: ir.Table,
    *,
    feedback: ir.Table | None = None,
    transactions: ir.Table | None = None,
    days: int = DEFAULT_DAYS,
) -> HealthChange | None:
    """The latest ``days`` days against the ``days`` before; None when there are no
    events."""
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InputError(f"The period must be 1 to {MAX_DAYS} days; got {days!r}.")
    last = events.aggregate(last=events.timestamp.max()).to_pyarrow().to_pylist()[0]["last"]
    if last is None:
        return None
    end_day = last.date()
    current_start = end_day - dt.timedelta(days=days - 1)
    previous_start = current_start - dt.timedelta(days=days)
    bounds = (_midnight(previous_start), _midnight(current_start),
              _midnight(end_day + dt.timedelta(days=1)))

    def period(table: ir.Table) -> ir.Table:
        ts = table.timestamp
        labelled = table.filter(ts >= bounds[0], ts < bounds[2])
        return labelled.mutate(current=labelled.timestamp >= bounds[1])

    flow = _by_period(period(events), lambda t: {
        "cases": t.case_id.nunique(),
        "failed_share": t.outcome.isin(("failed", "abandoned")).cast("float64").mean(),
        "median_wait_seconds": t.wait_seconds.cast("float64").median(),
    })
    changes = [
        Change("cases", *flow["cases"], Better.NEITHER),
        Change("failed_share", *flow["failed_share"], Better.LOWER),
        Change("median_wait_seconds", *flow["median_wait_seconds"], Better.LOWER),
    ]
    if feedback is not None:
        scored = period(feedback)
        for metric in Metric:
            changes.append(Change(metric.value, _score(scored, metric, True),
                                  _score(scored, metric, False), Better.HIGHER))
    if transactions is not None:
        paid = period(transactions)
        if "kind" in paid.columns:
            paid = paid.filter(paid.kind.isin(("purchase", "bill")))
        revenue = _by_period(paid, lambda t: {"revenue": t.amount.cast("float64").sum()})
        changes.append(Change("revenue", *revenue["revenue"], Better.HIGHER))
    return HealthChange(days, current_start, end_day, previous_start, tuple(changes))


def _midnight(day: dt.date) -> ir.TimestampScalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day))


def _by_period(rows: ir.Table, measures) -> dict[str, tuple[float | None, float | None]]:
    """Each measure for the current and the previous period (None when a period has no
    rows)."""
    out = rows.group_by("current").aggregate(**measures(rows)).to_pyarrow().to_pylist()
    by = {row["current"]: row for row in out}
    names = list(measures(rows))
    result = {}
    for name in names:
        values = []
        for current in (True, False):
            value = by.get(current, {}).get(name)
            values.append(as_int(value) if name == "cases" and value is not None
                          else as_float(value))
        result[name] = (values[0], values[1])
    return result


def _score(feedback: ir.Table, metric: Metric, current: bool) -> float | None:
    rows = feedback.filter(feedback.current == current)
    try:
        return satisfaction(rows.drop("current"), metric).overall.score.value
    except CorridorError:  # no answers of this metric in this period
        return None
