"""Building blocks shared by the flow analytics (funnels, drop-offs, loops, bottlenecks,
hand-offs, accessibility): time arithmetic that gives the same answer on every engine,
delay summaries, goals, periods, and each event's department and channel.

Time differences are computed from whole milliseconds since the epoch. DuckDB and Spark
disagree on fractional seconds in ``epoch_seconds`` and ``delta``, but agree exactly on
the truncated second plus the millisecond part.

Quantiles use Ibis ``quantile``: DuckDB compiles it to ``quantile_cont`` and Spark to the
exact ``percentile``; both interpolate linearly between the closest ranks, so medians and
90th percentiles are identical on both engines (Spark's ``percentile_approx`` is never
used).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from .errors import InputError


def epoch_millis(timestamp: ir.TimestampValue) -> ir.IntegerValue:
    """Whole milliseconds since 1970-01-01 (timestamps are naive UTC)."""
    whole = timestamp.truncate("s").epoch_seconds().cast("int64")
    return whole * 1000 + timestamp.millisecond().cast("int64")


def seconds_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    return (epoch_millis(end) - epoch_millis(start)).cast("float64") / 1000.0


@dataclass(frozen=True)
class Delay:
    """Median and 90th percentile of a set of durations, in seconds (None when empty)."""

    median_seconds: float | None
    p90_seconds: float | None

    def to_dict(self) -> dict:
        return {"median_seconds": self.median_seconds, "p90_seconds": self.p90_seconds}


def median_of(seconds: ir.NumericValue) -> ir.FloatingValue:
    return seconds.quantile(0.5)


def p90_of(seconds: ir.NumericValue) -> ir.FloatingValue:
    return seconds.quantile(0.9)


def as_float(value) -> float | None:
    """A pulled number as a Python float; NaN and missing become None."""
    return None if pd.isna(value) else float(value)


def as_int(value) -> int:
    """A pulled count as a Python int; missing (an empty sum) becomes 0."""
    return 0 if pd.isna(value) else int(value)


def as_amount(value) -> float:
    """A pulled sum of money as a Python float; missing (an empty sum) becomes 0."""
    return as_float(value) or 0.0


def check_share(name: str, value: float) -> float:
    """``value`` as a float when it is a share between 0 and 1; else one sentence."""
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a share between 0 and 1; got {value!r}.")
    return float(value)


def as_text(value) -> str | None:
    return None if pd.isna(value) else str(value)


def as_date(value) -> dt.date | None:
    """A pulled date (engines return dates, datetimes or pandas Timestamps)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def goal_touchpoints(goal: str | Sequence[str]) -> tuple[str, ...]:
    """A goal given as one touchpoint or several (reaching any of them counts)."""
    names = (goal,) if isinstance(goal, str) else tuple(goal)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InputError(
            f"A goal must be one touchpoint name or a list of them; got {goal!r}."
        )
    return names


def goal_cases(events: ir.Table, goal: str | Sequence[str]) -> ir.Table:
    """One row per case that visits a goal touchpoint (column ``case_id``)."""
    names = goal_touchpoints(goal)
    return events.filter(events.touchpoint.isin(names)).select("case_id").distinct()


class Period(str, enum.Enum):
    WEEK = "week"
    MONTH = "month"


def period_start(timestamp: ir.TimestampValue, period: Period) -> ir.DateValue:
    """The Monday of the timestamp's ISO week, or the first day of its month."""
    unit = "W" if period is Period.WEEK else "M"
    return timestamp.truncate(unit).date()


def from_touchpoints(
    events: ir.Table,
    touchpoints: ir.Table | None,
    *,
    fill: Sequence[str] = (),
    add: Sequence[str] = (),
) -> ir.Table:
    """Complete event columns from the touchpoints table in one join: each ``fill``
    column (department_id, channel) keeps the event's own value and takes the
    touchpoint's where the event has none; each ``add`` column (stage) is appended as the
    touchpoint's value. Without a touchpoints table, ``fill`` columns stay as they are and
    ``add`` columns are null."""
    if touchpoints is None:
        return events.mutate(**{c: ibis.null("string") for c in add})
    wanted = [*fill, *(c for c in add if c not in fill)]
    # A reference table should hold each touchpoint once; min() keeps the join from
    # multiplying events if it does not.
    lookup = touchpoints.group_by("touchpoint").aggregate(
        **{f"_tp_{c}": touchpoints[c].min() for c in wanted}
    )
    joined = events.left_join(lookup, "touchpoint")
    filled = {c: joined[c].fill_null(joined[f"_tp_{c}"]) for c in fill}
    added = {c: joined[f"_tp_{c}"] for c in add}
    return joined.mutate(**filled, **added).select(*events.columns, *add)
