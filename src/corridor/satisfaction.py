"""Satisfaction scores with their uncertainty, and each piece of feedback joined to the
journey that came before it.

Scales (the demo writes these, and they are the customary ones)::

    metric  scale  good (top)                 bad (bottom)            headline
    nps     0-10   promoters 9-10             detractors 0-6          % promoters - % detractors
    csat    1-5    satisfied 4-5              dissatisfied 1-2        share satisfied
    ces     1-7    easy 5-7 (7 = very easy)   difficult 1-3           mean score

CES is the agreement with "the company made it easy for me to handle my issue" (CES 2.0),
so a higher score is better, as for the other two. Scores outside the scale, or missing,
are left out and counted.

Intervals, at the confidence asked for (z and t quantiles from scipy):

* NPS: normal approximation with the trinomial variance of promoter/detractor counts,
  Var(NPS / 100) = (p + d - (p - d)^2) / n, where p and d are the promoter and detractor
  shares; clipped to -100..100.
* shares: the Wilson score interval (Wilson, JASA 22, 1927), sound near 0 and 1.
* means: Student's t interval, mean +- t(n - 1) * s / sqrt(n); none for a single score.

Every group is aggregated on the engine into the count, the good and bad counts, the sum
and the sum of squares of the scores; the intervals follow from those five numbers, so
DuckDB and Spark give identical results.

The journey before a piece of feedback (:func:`feedback_journeys`): the customer's events
in the ``lookback`` window that ends at the feedback's timestamp (events at that very
time included). With ``Scope.CASE`` only one case counts: among the customer's cases in
the window that visited the feedback's touchpoint, the one with the most recent event;
when the feedback names no touchpoint, or no case visited it, the case of the most recent
event.

Journey features (:data:`JOURNEY_FEATURES`) are counted inside each case, in (timestamp,
seq) order, so unrelated cases are never chained. Every event after a case's first is
counted at most once, as the first of these that applies:

1. it directly follows a failed event: the retry or switch the failure caused, counted
   under ``failed_contacts`` (which counts the failed events themselves);
2. it returns to the touchpoint two events back (A-B-A): a ping-pong;
3. its touchpoint was visited before in the case: a repeat;
4. another department owns it than the event before (both known): a hand-off;
5. another channel than the event before (both known): a channel switch.

So no count contains another (a ping-pong is not also a repeat and two hand-offs), and
regressions on them do not split one effect between several counts. The counts of
:mod:`corridor.loops` and :mod:`corridor.handoffs` describe flows and overlap on purpose.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd
from scipy import stats

from .errors import AnalysisError, InputError
from .flow import Period, as_int, epoch_millis, from_touchpoints, period_start

MILLIS_PER_HOUR = 3_600_000


class Metric(str, enum.Enum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


@dataclass(frozen=True)
class Scale:
    """A metric's scale: scores from ``low`` to ``high``; ``top`` and above are good
    (promoters, satisfied, easy), ``bottom`` and below are bad."""

    metric: Metric
    low: int
    high: int
    top: int
    bottom: int
    top_label: str
    bottom_label: str
    headline: str

    def to_dict(self) -> dict:
        return {
            "metric": self.metric.value,
            "low": self.low,
            "high": self.high,
            "top": self.top,
            "bottom": self.bottom,
            "top_label": self.top_label,
            "bottom_label": self.bottom_label,
            "headline": self.headline,
        }


SCALES: dict[Metric, Scale] = {
    Metric.NPS: Scale(Metric.NPS, 0, 10, 9, 6, "promoters", "detractors",
                      "net promoter score, -100..100"),
    Metric.CSAT: Scale(Metric.CSAT, 1, 5, 4, 2, "satisfied", "dissatisfied",
                       "share of satisfied responses (4-5)"),
    Metric.CES: Scale(Metric.CES, 1, 7, 5, 3, "easy", "difficult",
                      "mean effort score, 7 = very easy"),
}


class Dimension(str, enum.Enum):
    """What satisfaction can be grouped by: the feedback's touchpoint and, through the
    touchpoints table, its stage, channel and owning department; through the customers
    table, the customer's segment, level and region."""

    TOUCHPOINT = "touchpoint"
    STAGE = "stage"
    CHANNEL = "channel"
    DEPARTMENT = "department"
    SEGMENT = "segment"
    LEVEL = "level"
    REGION = "region"


_FROM_TOUCHPOINTS = {Dimension.STAGE: "stage", Dimension.CHANNEL: "channel",
                     Dimension.DEPARTMENT: "department_id"}
_FROM_CUSTOMERS = {Dimension.SEGMENT: "segment", Dimension.LEVEL: "level",
                   Dimension.REGION: "region"}


class Scope(str, enum.Enum):
    """Which events before a piece of feedback make its journey: all the customer's
    events in the lookback window, or only those of the case it is about."""

    CUSTOMER = "customer"
    CASE = "case"


# ---- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence interval (all None when there is nothing to estimate;
    the bounds alone are None when one response cannot give an interval)."""

    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ScoreCell:
    """One group's responses. ``score`` is the metric's headline (see :class:`Scale`):
    the NPS, the CSAT share satisfied or the CES mean."""

    dimensions: tuple[Dimension, ...]
    keys: tuple[str | None, ...]  # one per dimension; None where the feedback has none
    period: dt.date | None  # first day of the week or month; None without a period
    responses: int
    score: Estimate
    mean: Estimate
    top_share: Estimate
    bottom_share: Estimate

    def key(self, dimension: Dimension | str) -> str | None:
        return self.keys[self.dimensions.index(Dimension(dimension))]

    def to_dict(self) -> dict:
        return {
            **{d.value: k for d, k in zip(self.dimensions, self.keys)},
            "period": None if self.period is None else self.period.isoformat(),
            "responses": self.responses,
            "score": self.score.to_dict(),
            "mean": self.mean.to_dict(),
            "top_share": self.top_share.to_dict(),
            "bottom_share": self.bottom_share.to_dict(),
        }


@dataclass(frozen=True)
class Satisfaction:
    metric: Metric
    scale: Scale
    dimensions: tuple[Dimension, ...]
    period: Period | None
    confidence: float
    responses: int  # on the scale, over all groups
    left_out: int  # missing or outside the scale
    overall: ScoreCell
    cells: tuple[ScoreCell, ...]  # ordered by keys (None last), then period

    def cell(self, *keys: str | None, period: dt.date | None = None) -> ScoreCell:
        for c in self.cells:
            if c.keys == tuple(keys) and c.period == period:
                return c
        raise KeyError((keys, period))

    def to_dict(self) -> dict:
        return {
            "metric": self.metric.value,
            "scale": self.scale.to_dict(),
            "dimensions": [d.value for d in self.dimensions],
            "period": None if self.period is None else self.period.value,
            "confidence": self.confidence,
            "responses": self.responses,
            "left_out": self.left_out,
            "overall": self.overall.to_dict(),
            "cells": [c.to_dict() for c in self.cells],
        }


# ---- argument checks --------------------------------------------------------------------


def as_metric(metric: Metric | str) -> Metric:
    try:
        return Metric(metric)
    except ValueError:
        choices = ", ".join(m.value for m in Metric)
        raise InputError(f"The metric must be one of {choices}; got {metric!r}.") from None


def check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise InputError(
            f"The confidence level must be between 0 and 1, such as 0.95; got {confidence!r}."
        )
    return float(confidence)


def _dimensions(by: Dimension | str | Sequence[Dimension | str]) -> tuple[Dimension, ...]:
    items = (by,) if isinstance(by, (str, Dimension)) else tuple(by)
    dims = []
    for item in items:
        try:
            dim = Dimension(item)
        except ValueError:
            choices = ", ".join(d.value for d in Dimension)
            raise InputError(
                f"Satisfaction can be grouped by {choices}; got {item!r}."
            ) from None
        if dim in dims:
            raise InputError(f"The dimension {dim.value!r} is asked for twice.")
        dims.append(dim)
    return tuple(dims)


# ---- scores -----------------------------------------------------------------------------


def satisfaction(
    feedback: ir.Table,
    metric: Metric | str,
    *,
    by: Dimension | str | Sequence[Dimension | str] = (),
    period: Period | str | None = None,
    customers: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
    confidence: float = 0.95,
    min_responses: int = 1,
) -> Satisfaction:
    """NPS, CSAT or CES with confidence intervals, per group of ``by`` (any number of
    dimensions) and per week or month when ``period`` is given.

    ``feedback`` is the feedback table, or any table with its columns, e.g. the result of
    :func:`feedback_journeys` with ``touchpoint`` filled from ``last_touchpoint`` to put
    surveys that name no touchpoint on the last touchpoint before them. Groups with fewer
    than ``min_responses`` responses are left out of ``cells`` (but not of ``overall``).
    """
    chosen = as_metric(metric)
    scale = SCALES[chosen]
    dims = _dimensions(by)
    chosen_period = None if period is None else _period(period)
    level = check_confidence(confidence)
    if not isinstance(min_responses, int) or min_responses < 1:
        raise InputError(
            f"min_responses must be a whole number of at least 1; got {min_responses!r}."
        )

    rows = feedback.filter(feedback.metric == chosen.value)
    rows = _with_dimensions(rows, dims, customers, touchpoints)
    score = rows.score.cast("float64")
    on_scale = (score.notnull() & (score >= scale.low) & (score <= scale.high)).fill_null(False)
    rows = rows.mutate(_score=ibis.ifelse(on_scale, score, ibis.null("float64")))
    keys = [_column(d) for d in dims]
    if chosen_period is not None:
        rows = rows.mutate(period_start=period_start(rows.timestamp, chosen_period))
        keys.append("period_start")
    everything = _sums(rows, scale, keys)
    left_out = as_int(everything["off_scale"].sum())
    sums = everything[everything["n"] > 0]
    if sums.empty:
        raise AnalysisError(
            f"The feedback holds no {chosen.value} scores on its "
            f"{scale.low}-{scale.high} scale."
        )

    z = float(stats.norm.ppf(0.5 + level / 2))
    cells = []
    for row in sums.to_dict("records"):
        values = tuple(_key(row[_column(d)]) for d in dims)
        when = _as_date(row["period_start"]) if chosen_period is not None else None
        cell = _cell(scale, dims, values, when, row, level, z)
        if cell.responses >= min_responses:
            cells.append(cell)
    total = sums[["n", "top", "bottom", "total", "squares"]].sum()
    overall = _cell(scale, (), (), None, total, level, z)
    cells.sort(key=lambda c: ([(k is None, k or "") for k in c.keys], c.period or dt.date.min))
    return Satisfaction(
        metric=chosen,
        scale=scale,
        dimensions=dims,
        period=chosen_period,
        confidence=level,
        responses=overall.responses,
        left_out=left_out,
        overall=overall,
        cells=tuple(cells),
    )


def _period(period: Period | str) -> Period:
    try:
        return Period(period)
    except ValueError:
        raise InputError(f"The period must be 'week' or 'month'; got {period!r}.") from None


def _key(value) -> str | None:
    return None if pd.isna(value) else str(value)


def _as_date(value) -> dt.date:
    return pd.Timestamp(value).date()


def _with_dimensions(
    rows: ir.Table,
    dims: tuple[Dimension, ...],
    customers: ir.Table | None,
    touchpoints: ir.Table | None,
) -> ir.Table:
    """The feedback rows with one column ``dim_<dimension>`` per dimension."""
    from_tp = [d for d in dims if d in _FROM_TOUCHPOINTS]
    from_cu = [d for d in dims if d in _FROM_CUSTOMERS]
    if from_tp and touchpoints is None:
        raise InputError(
            f"Grouping by {from_tp[0].value} needs the touchpoints table; none was given."
        )
    if from_cu and customers is None:
        raise InputError(
            f"Grouping by {from_cu[0].value} needs the customers table; none was given."
        )
    out = rows
    if Dimension.TOUCHPOINT in dims:
        out = out.mutate(dim_touchpoint=out.touchpoint)
    # Reference tables should hold each key once; min() keeps a duplicate from
    # multiplying the feedback.
    for table, key, wanted, columns in (
        (touchpoints, "touchpoint", from_tp, _FROM_TOUCHPOINTS),
        (customers, "customer_id", from_cu, _FROM_CUSTOMERS),
    ):
        if wanted:
            lookup = table.group_by(key).aggregate(
                **{_column(d): table[columns[d]].min() for d in wanted}
            )
            kept = out.columns
            out = out.left_join(lookup, key).select(*kept, *(_column(d) for d in wanted))
    return out


def _column(dimension: Dimension) -> str:
    return f"dim_{dimension.value}"


def _sums(rows: ir.Table, scale: Scale, keys: list[str]) -> pd.DataFrame:
    """Per group: responses on the scale (n), good and bad ones, the sum and the sum of
    squares of their scores, and the responses off the scale (``_score`` is null)."""
    score = rows._score
    measures = dict(
        n=score.count(),
        off_scale=score.isnull().cast("int64").sum(),
        top=(score >= scale.top).fill_null(False).cast("int64").sum(),
        bottom=(score <= scale.bottom).fill_null(False).cast("int64").sum(),
        total=score.sum().fill_null(0.0),
        squares=(score * score).sum().fill_null(0.0),
    )
    grouped = rows.group_by(keys).aggregate(**measures) if keys else rows.aggregate(**measures)
    return grouped.execute()


def _cell(scale: Scale, dims, keys, when, sums, level: float, z: float) -> ScoreCell:
    n = as_int(sums["n"])
    top, bottom = as_int(sums["top"]), as_int(sums["bottom"])
    mean = mean_interval(float(sums["total"]), float(sums["squares"]), n, level)
    top_share = wilson_interval(top, n, z)
    bottom_share = wilson_interval(bottom, n, z)
    if scale.metric is Metric.NPS:
        headline = nps_interval(top, bottom, n, z)
    elif scale.metric is Metric.CSAT:
        headline = top_share
    else:
        headline = mean
    return ScoreCell(dims, keys, when, n, headline, mean, top_share, bottom_share)


def nps_interval(promoters: int, detractors: int, n: int, z: float) -> Estimate:
    """NPS on -100..100 with the normal interval from the trinomial variance."""
    if n == 0:
        return Estimate(None, None, None)
    p, d = promoters / n, detractors / n
    nps = p - d
    se = math.sqrt(max(p + d - nps * nps, 0.0) / n)
    return Estimate(
        100 * nps, max(-100.0, 100 * (nps - z * se)), min(100.0, 100 * (nps + z * se))
    )


def wilson_interval(successes: int, n: int, z: float) -> Estimate:
    """A share with its Wilson score interval."""
    if n == 0:
        return Estimate(None, None, None)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Estimate(p, max(0.0, float(centre - half)), min(1.0, float(centre + half)))


def mean_interval(total: float, squares: float, n: int, level: float) -> Estimate:
    """A mean with its Student t interval, from the sum and sum of squares."""
    if n == 0:
        return Estimate(None, None, None)
    mean = total / n
    if n == 1:
        return Estimate(mean, None, None)
    variance = max(squares - n * mean * mean, 0.0) / (n - 1)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half)


# ---- the journey before each piece of feedback ------------------------------------------


@dataclass(frozen=True)
class JourneyFeature:
    """A number :func:`journey_features` counts over a set of events."""

    name: str
    unit: str  # what one unit of it is
    description: str


# The sequence counts are exclusive: see the module docstring for which one an event gets.
JOURNEY_FEATURES: tuple[JourneyFeature, ...] = (
    JourneyFeature("contacts", "contact", "events in the window"),
    JourneyFeature("failed_contacts", "failed contact", "events with outcome 'failed'"),
    JourneyFeature("abandoned_contacts", "abandoned contact", "events with outcome 'abandoned'"),
    JourneyFeature("wait_hours", "hour of waiting", "sum of wait_seconds, in hours"),
    JourneyFeature("channels", "channel", "distinct channels used"),
    JourneyFeature("ping_pongs", "ping-pong",
                   "returns to the touchpoint two events back (A-B-A)"),
    JourneyFeature("repeats", "repeated visit",
                   "other visits to a touchpoint visited before in the case"),
    JourneyFeature("handoffs", "hand-off",
                   "other events owned by another department than the one before"),
    JourneyFeature("channel_switches", "channel switch",
                   "other events on another channel than the one before"),
    JourneyFeature("cases", "case", "distinct cases in the window"),
)
FEATURE_NAMES = tuple(f.name for f in JOURNEY_FEATURES)


def journey_features(rows: ir.Table, key: str) -> ir.Table:
    """Per value of ``key``: every :data:`JOURNEY_FEATURES` count over its rows, the
    ``last_touchpoint`` and ``last_case_id`` of the newest event, ``last_millis`` (its
    milliseconds since the epoch) and ``touchpoints_visited`` (an array of distinct
    touchpoints).

    ``rows`` are events (one key may hold several cases) with the columns ``key``,
    ``case_id``, ``touchpoint``, ``channel``, ``department_id``, ``outcome``,
    ``wait_seconds``, ``seq`` and ``millis``."""
    parts = [rows.case_id] if key == "case_id" else [rows[key], rows.case_id]
    in_case = ibis.window(group_by=parts, order_by=[rows.millis, rows.seq])
    at_touchpoint = ibis.window(
        group_by=[*parts, rows.touchpoint], order_by=[rows.millis, rows.seq]
    )
    newest = ibis.window(
        group_by=rows[key], order_by=[ibis.desc(rows.millis), ibis.desc(rows.seq)]
    )
    previous_tp = rows.touchpoint.lag(1).over(in_case)
    before_tp = rows.touchpoint.lag(2).over(in_case)
    previous_ch = rows.channel.lag(1).over(in_case)
    previous_dep = rows.department_id.lag(1).over(in_case)
    # Each event after a case's first is counted once, as the first kind that applies
    # (the module docstring's list).
    after_failure = (rows.outcome.lag(1).over(in_case) == "failed").fill_null(False)
    ping_pong = ~after_failure & (before_tp == rows.touchpoint).fill_null(False) & (
        previous_tp != rows.touchpoint
    ).fill_null(False)
    repeat = ~after_failure & ~ping_pong & (ibis.row_number().over(at_touchpoint) > 0)
    handoff = ~after_failure & ~ping_pong & ~repeat & (
        previous_dep != rows.department_id
    ).fill_null(False)
    switch = ~after_failure & ~ping_pong & ~repeat & ~handoff & (
        previous_ch != rows.channel
    ).fill_null(False)
    marked = rows.mutate(
        _switch=switch,
        _handoff=handoff,
        _repeat=repeat,
        _pingpong=ping_pong,
        _newest=ibis.row_number().over(newest) == 0,
    )
    count = lambda flag: flag.fill_null(False).cast("int64").sum()  # noqa: E731
    return marked.group_by(key).aggregate(
        contacts=marked.count(),
        failed_contacts=count(marked.outcome == "failed"),
        abandoned_contacts=count(marked.outcome == "abandoned"),
        wait_hours=marked.wait_seconds.cast("float64").sum().fill_null(0.0) / 3600.0,
        channels=marked.channel.nunique(),
        channel_switches=count(marked._switch),
        handoffs=count(marked._handoff),
        repeats=count(marked._repeat),
        ping_pongs=count(marked._pingpong),
        cases=marked.case_id.nunique(),
        last_touchpoint=marked.touchpoint.max(where=marked._newest),
        last_case_id=marked.case_id.max(where=marked._newest),
        last_millis=marked.millis.max(),
        touchpoints_visited=marked.touchpoint.collect(distinct=True),
    )


def prepared_events(
    events: ir.Table,
    touchpoints: ir.Table | None,
    stages: Sequence[str] | None = None,
) -> ir.Table:
    """Events with the columns :func:`journey_features` reads: channel and department
    completed from the touchpoints table, ``millis`` since the epoch, and only the
    touchpoints of ``stages`` when given."""
    if stages is not None:
        wanted = (stages,) if isinstance(stages, str) else tuple(stages)
        if not wanted:
            raise InputError("stages must name at least one stage; none was given.")
        if touchpoints is None:
            raise InputError(
                "Keeping only some stages needs the touchpoints table; none was given."
            )
        events = from_touchpoints(
            events, touchpoints, fill=["department_id", "channel"], add=["stage"]
        )
        events = events.filter(events.stage.isin(wanted))
    else:
        events = from_touchpoints(events, touchpoints, fill=["department_id", "channel"])
    return events.select(
        "customer_id", "case_id", "touchpoint", "channel", "department_id", "outcome",
        "wait_seconds", "seq", millis=epoch_millis(events.timestamp),
    )


def numbered_feedback(feedback: ir.Table, metric: Metric | str | None = None) -> ir.Table:
    """The feedback (of one metric, when given) with a ``feedback_id`` that numbers rows
    by customer, time, metric, touchpoint and score; the same on every engine."""
    rows = feedback
    if metric is not None:
        rows = rows.filter(rows.metric == as_metric(metric).value)
    order = [rows.customer_id, rows.timestamp, rows.metric,
             rows.touchpoint.fill_null(""), rows.score.cast("float64").fill_null(-1.0)]
    return rows.mutate(feedback_id=ibis.row_number().over(order_by=order).cast("int64"))


def feedback_journeys(
    feedback: ir.Table,
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    metric: Metric | str | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
    scope: Scope | str = Scope.CUSTOMER,
    stages: Sequence[str] | None = None,
) -> ir.Table:
    """One row per piece of feedback (of ``metric`` when given) with the journey that
    came before it (see the module docstring): the feedback's own columns, a
    ``feedback_id``, every :data:`JOURNEY_FEATURES` count (0 when no event came
    before), the ``last_touchpoint`` and ``last_case_id`` (with ``Scope.CASE``, the case
    the journey was taken from), ``hours_since_last_event`` and ``touchpoints_visited``.

    ``stages`` keeps only events at touchpoints of those stages (e.g. ``("support",)``
    for the service journey; needs ``touchpoints``). The result is an Ibis expression, so
    it can be filtered, joined or pulled as a whole."""
    if not isinstance(lookback, dt.timedelta) or lookback <= dt.timedelta(0):
        raise InputError(f"The lookback must be a positive time span; got {lookback!r}.")
    try:
        chosen_scope = Scope(scope)
    except ValueError:
        raise InputError(f"The scope must be 'customer' or 'case'; got {scope!r}.") from None
    window_ms = int(lookback / dt.timedelta(milliseconds=1))

    numbered = numbered_feedback(feedback, metric)
    asked = numbered.select(
        "feedback_id", "customer_id",
        _asked_ms=epoch_millis(numbered.timestamp), _asked_tp=numbered.touchpoint,
    )
    ev = prepared_events(events, touchpoints, stages)
    rows = asked.join(ev, "customer_id")
    rows = rows.filter((rows.millis <= rows._asked_ms) & (rows.millis > rows._asked_ms - window_ms))
    if chosen_scope is Scope.CASE:
        rows = _about_one_case(rows)
    features = journey_features(
        rows.select("feedback_id", *ev.columns), "feedback_id"
    )
    joined = numbered.left_join(features, "feedback_id")
    counts = {f.name: joined[f.name].fill_null(0) for f in JOURNEY_FEATURES}
    since = (epoch_millis(joined.timestamp) - joined.last_millis).cast("float64") / MILLIS_PER_HOUR
    return joined.mutate(**counts, hours_since_last_event=since).select(
        *numbered.columns, *FEATURE_NAMES, "last_touchpoint", "last_case_id",
        "hours_since_last_event", "touchpoints_visited",
    )


def _about_one_case(rows: ir.Table) -> ir.Table:
    """Only the rows of each feedback's case (see the module docstring)."""
    per_case = rows.group_by(["feedback_id", "case_id"]).aggregate(
        _visited=(rows.touchpoint == rows._asked_tp).fill_null(False).cast("int64").max(),
        _last=rows.millis.max(),
        _last_seq=rows.seq.max(),
    )
    best = ibis.window(
        group_by=per_case.feedback_id,
        order_by=[ibis.desc(per_case._visited), ibis.desc(per_case._last),
                  ibis.desc(per_case._last_seq), per_case.case_id],
    )
    chosen = per_case.mutate(_rank=ibis.row_number().over(best))
    chosen = chosen.filter(chosen._rank == 0).select("feedback_id", _case=chosen.case_id)
    kept = rows.join(chosen, "feedback_id")
    return kept.filter(kept.case_id == kept._case).drop("_case")
