"""Exception detection: control charts on each touchpoint's daily metrics that respect the
weekly rhythm.

Daily metrics (one Ibis aggregation over events, one over feedback; :func:`daily_metrics`
and :func:`daily_feedback`) per touchpoint and calendar day (UTC):

- ``failure_rate``: events with an outcome other than 'ok' ('failed' or 'abandoned') per
  event, as in :mod:`corridor.access`;
- ``wait``: the mean ``wait_seconds`` of the events that have one (the median is reported
  by :func:`daily_metrics` too, but the chart uses the mean, whose sampling error is known);
- ``volume``: events per day (a day without events counts as 0);
- ``csat``, ``ces``, ``nps``: the mean score of the feedback given about the touchpoint
  that day (feedback without a touchpoint is not charted). Higher scores are better for all
  three (corridor's CES asks how easy it was).

Each (touchpoint, metric) series is charted day by day, using only the past and only
*usable* past days (observed, and not kept out as outliers, see 4):

1. *Expected value* = level combined with the weekday's effect.
   - Level: for means (wait, scores) the median of the last ``level_days`` daily values;
     for failure rates the pooled rate (failures / events) of the last ``level_days`` days,
     reaching further back until it holds 10 failures, because the median of sparse daily
     rates is 0; for volume a least-squares line through the means of the last four whole
     weeks, evaluated at the day, because volume grows and shrinks with the customer base.
   - Weekday effect, from the same weekday in the last ``weekday_weeks`` weeks, each
     measured against the week centred on it (so a trend does not leak into it): for
     means the median of (value - centred median), added to the level; for rates and
     volume the ratio of what was seen to what the centred week implied, multiplied with
     the level and shrunk towards 1 as if 10 more occurrences had been expected and seen
     (a sparse weekday does not invent a rhythm).
2. *Standardised residual* z. Counts are judged against their sampling distribution with
   mid-p tail probabilities turned into normal scores: failures ~ Binomial(events,
   expected rate), volume ~ Poisson(expected), a mean score or wait ~ Normal(expected,
   pooled within-day variance / observations) — so a day with 3 events is not judged like
   a day with 3,000. Real data vary more than these models: z is divided by the robust
   standard deviation (1.4826 × MAD) of the z's of the last ``scale_days`` usable days when
   that exceeds 1 (a quasi-likelihood overdispersion factor).
3. *EWMA chart* on z (Roberts 1959; Lucas & Saccucci 1990): E_t = λ z_t + (1-λ) E_{t-1};
   the score is E_t / sqrt(λ / (2 - λ)), E's asymptotic standard deviation in control, and
   a day alarms when |score| ≥ ``limit``. After an alarm the chart restarts at 0, as after
   an investigated signal, so one spike gives one alarm instead of a tail of echoes.
4. Days with |z| ≥ ``outlier_z`` are kept out of later baselines, so a several-day
   exception keeps being compared with normal days. A shift that lasts ``relearn_days``
   days in a row is taken as the new normal: those days become usable again.

Days are monitored once a series has ``warmup_days`` of history. Mean metrics need
``min_observations`` observations in a day to be judged (a single wait says little about
a day).

What the detector is not for (and the demo's two other planted problems show it): a
failure that repeats at the same hours every day is a steady state, not an exception, and
the daily failure rate is stable, so the charts stay quiet — the accessibility analysis
(:mod:`corridor.access`, failure rate by hour) finds it. A wait that grows slowly over
weeks is followed by the level and rarely alarms, and when it is confined to one region it
is diluted in the touchpoint's total — the bottleneck trend (:mod:`corridor.bottlenecks`,
per region) finds it. Exception detection answers "did something break today?".
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _
from scipy import special

from .errors import AnalysisError, InputError
from .flow import as_date


class Metric(str, enum.Enum):
    """A touchpoint metric observed per day."""

    FAILURE_RATE = "failure_rate"
    WAIT = "wait"
    VOLUME = "volume"
    CSAT = "csat"
    CES = "ces"
    NPS = "nps"

    @property
    def worse_when_higher(self) -> bool | None:
        """True when a rise hurts customers, False when a fall does, None for volume."""
        if self in (Metric.FAILURE_RATE, Metric.WAIT):
            return True
        if self is Metric.VOLUME:
            return None
        return False

    @property
    def from_feedback(self) -> bool:
        return self in SCORE_METRICS


SCORE_METRICS = (Metric.CSAT, Metric.CES, Metric.NPS)


class Direction(str, enum.Enum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class ChartSettings:
    """How the control charts judge a day (see the module docstring)."""

    level_days: int = 7
    weekday_weeks: int = 8
    scale_days: int = 56
    warmup_days: int = 28
    smoothing: float = 0.3  # EWMA λ
    limit: float = 3.5  # alarm when |score| reaches this
    outlier_z: float = 4.0
    relearn_days: int = 7
    min_observations: int = 5  # for mean metrics (wait, scores)

    def __post_init__(self) -> None:
        for name in ("level_days", "weekday_weeks", "scale_days", "warmup_days",
                     "relearn_days", "min_observations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1; got {value!r}.")
        if not isinstance(self.smoothing, (int, float)) or not 0.0 < self.smoothing <= 1.0:
            raise InputError(
                f"smoothing (EWMA λ) must be above 0 and at most 1; got {self.smoothing!r}."
            )
        for name in ("limit", "outlier_z"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"{name} must be a positive number; got {value!r}.")

    def to_dict(self) -> dict:
        return {
            "level_days": self.level_days,
            "weekday_weeks": self.weekday_weeks,
            "scale_days": self.scale_days,
            "warmup_days": self.warmup_days,
            "smoothing": self.smoothing,
            "limit": self.limit,
            "outlier_z": self.outlier_z,
            "relearn_days": self.relearn_days,
            "min_observations": self.min_observations,
        }


@dataclass(frozen=True)
class Alarm:
    """One touchpoint-metric-day whose chart crossed the limit."""

    touchpoint: str
    metric: Metric
    day: dt.date
    value: float
    expected: float
    observations: int  # events (failure rate, volume), waits, or responses that day
    z: float  # that day's standardised residual
    score: float  # the EWMA in its standard deviations; |score| >= limit
    direction: Direction
    worse: bool | None  # True: bad for customers; None: volume

    def describe(self) -> str:
        return (
            f"{self.metric.value} of {self.touchpoint} went {self.direction.value} on"
            f" {self.day.isoformat()}: {_shown(self.metric, self.value)} against"
            f" {_shown(self.metric, self.expected)} expected ({self.observations}"
            f" observations, score {self.score:.1f})."
        )

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "metric": self.metric.value,
            "day": self.day.isoformat(),
            "value": self.value,
            "expected": self.expected,
            "observations": self.observations,
            "z": self.z,
            "score": self.score,
            "direction": self.direction.value,
            "worse": self.worse,
        }


@dataclass(frozen=True)
class SeriesSummary:
    touchpoint: str
    metric: Metric
    first_day: dt.date
    last_day: dt.date
    days_observed: int
    days_monitored: int  # days judged by the chart (after warm-up, enough observations)
    alarms: int
    mean_value: float | None  # over the monitored days
    overdispersion: float | None  # median factor z was divided by (1 = as the model says)

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "metric": self.metric.value,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "days_observed": self.days_observed,
            "days_monitored": self.days_monitored,
            "alarms": self.alarms,
            "mean_value": self.mean_value,
            "overdispersion": self.overdispersion,
        }


@dataclass(frozen=True)
class ExceptionReport:
    settings: ChartSettings
    alarms: tuple[Alarm, ...]  # by day, then touchpoint and metric
    series: tuple[SeriesSummary, ...]  # by touchpoint, then metric
    monitored: frozenset[tuple[str, dt.date]]  # touchpoint-days judged on any metric

    @property
    def touchpoint_days_monitored(self) -> int:
        return len(self.monitored)

    @property
    def alarmed_touchpoint_days(self) -> frozenset[tuple[str, dt.date]]:
        return frozenset((a.touchpoint, a.day) for a in self.alarms)

    def alarms_for(self, touchpoint: str, metric: Metric | None = None) -> tuple[Alarm, ...]:
        return tuple(
            a for a in self.alarms
            if a.touchpoint == touchpoint and (metric is None or a.metric is metric)
        )

    def to_dict(self) -> dict:
        return {
            "settings": self.settings.to_dict(),
            "touchpoint_days_monitored": self.touchpoint_days_monitored,
            "alarmed_touchpoint_days": len(self.alarmed_touchpoint_days),
            "alarms": [a.to_dict() for a in self.alarms],
            "series": [s.to_dict() for s in self.series],
        }


# ---- daily metrics (Ibis) ---------------------------------------------------------------


def daily_metrics(events: ir.Table) -> ir.Table:
    """One row per touchpoint and day with events: ``events``, ``failed`` (outcome other
    than 'ok'), ``waited`` (events with a wait), ``wait_sum``, ``wait_sum_squares``,
    ``mean_wait`` and ``median_wait`` (seconds)."""
    outcome = events.outcome.fill_null("ok")
    wait = events.wait_seconds.cast("float64")
    rows = events.select(
        touchpoint=events.touchpoint,
        day=events.timestamp.date(),
        failed=(outcome != "ok").cast("int64"),
        wait=wait,
        wait_squared=wait * wait,
    )
    return rows.group_by(["touchpoint", "day"]).aggregate(
        events=_.count(),
        failed=_.failed.sum(),
        waited=_.wait.count(),
        wait_sum=_.wait.sum(),
        wait_sum_squares=_.wait_squared.sum(),
        mean_wait=_.wait.mean(),
        median_wait=_.wait.quantile(0.5),
    )


def daily_feedback(feedback: ir.Table) -> ir.Table:
    """One row per touchpoint, survey metric (nps, csat, ces) and day: ``responses``,
    ``score_sum``, ``score_sum_squares`` and ``mean_score``. Feedback without a
    touchpoint is left out."""
    rated = feedback.filter(feedback.touchpoint.notnull() & feedback.score.notnull())
    score = rated.score.cast("float64")
    rows = rated.select(
        touchpoint=rated.touchpoint,
        metric=rated.metric,
        day=rated.timestamp.date(),
        score=score,
        score_squared=score * score,
    )
    return rows.group_by(["touchpoint", "metric", "day"]).aggregate(
        responses=_.count(),
        score_sum=_.score.sum(),
        score_sum_squares=_.score_squared.sum(),
        mean_score=_.score.mean(),
    )


# ---- detection --------------------------------------------------------------------------


def detect_exceptions(
    events: ir.Table,
    *,
    feedback: ir.Table | None = None,
    metrics: Sequence[Metric] = tuple(Metric),
    touchpoints: Sequence[str] = (),
    settings: ChartSettings = ChartSettings(),
) -> ExceptionReport:
    """Chart every touchpoint's daily metrics and report the days that alarm.
    ``touchpoints`` limits the touchpoints charted (empty: all); score metrics need
    ``feedback``."""
    metrics = _metric_tuple(metrics)
    if isinstance(touchpoints, str):
        raise InputError(f"touchpoints must be a list of touchpoint names; got {touchpoints!r}.")
    wanted = tuple(touchpoints)
    if feedback is None and all(m.from_feedback for m in metrics):
        raise InputError("The satisfaction metrics (csat, ces, nps) need the feedback table.")
    if wanted:
        events = events.filter(events.touchpoint.isin(wanted))
    daily = daily_metrics(events).execute()
    if daily.empty:
        raise AnalysisError("There are no events to chart.")
    daily["day"] = pd.to_datetime(daily["day"])
    last_day = daily["day"].max()
    scores = None
    if feedback is not None and any(m.from_feedback for m in metrics):
        if wanted:
            feedback = feedback.filter(feedback.touchpoint.isin(wanted))
        scores = daily_feedback(feedback).execute()
        scores["day"] = pd.to_datetime(scores["day"])
        if not scores.empty:
            last_day = max(last_day, scores["day"].max())

    alarms: list[Alarm] = []
    summaries: list[SeriesSummary] = []
    monitored: set[tuple[str, dt.date]] = set()
    for series in _series(daily, scores, metrics, last_day, settings):
        chart = _chart(series, settings)
        summaries.append(chart.summary(series))
        alarms.extend(chart.alarms(series))
        monitored.update((series.touchpoint, series.days[i]) for i in chart.monitored_days)
    alarms.sort(key=lambda a: (a.day, a.touchpoint, a.metric.value))
    summaries.sort(key=lambda s: (s.touchpoint, list(Metric).index(s.metric)))
    return ExceptionReport(settings, tuple(alarms), tuple(summaries), frozenset(monitored))


def _metric_tuple(metrics) -> tuple[Metric, ...]:
    if isinstance(metrics, (str, Metric)):
        metrics = (metrics,)
    out = []
    for m in metrics:
        try:
            out.append(Metric(m))
        except ValueError:
            names = ", ".join(x.value for x in Metric)
            raise InputError(f"Unknown metric {m!r}; choose from {names}.") from None
    if not out:
        raise InputError("Choose at least one metric to chart.")
    return tuple(dict.fromkeys(out))


class _Kind(enum.Enum):
    RATE = "rate"  # binomial: count of n
    COUNT = "count"  # Poisson
    MEAN = "mean"  # mean of n observations with a within-day sum of squared deviations


@dataclass
class _Series:
    touchpoint: str
    metric: Metric
    kind: _Kind
    days: list[dt.date]
    value: np.ndarray  # NaN where not observed
    n: np.ndarray  # observations (events, waits, responses)
    count: np.ndarray  # failures (rates) or events (volume)
    squares: np.ndarray  # within-day sum of squared deviations (means)


def _calendar(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(first, last, freq="D")


def _series(daily, scores, metrics, last_day, settings):
    for touchpoint, rows in daily.groupby("touchpoint", sort=True):
        rows = rows.set_index("day").sort_index()
        days = _calendar(rows.index.min(), last_day)
        rows = rows.reindex(days)
        dates = [d.date() for d in days]
        events = rows["events"].fillna(0).to_numpy(dtype=float)
        if Metric.FAILURE_RATE in metrics:
            failed = rows["failed"].fillna(0).to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = np.where(events > 0, failed / events, np.nan)
            yield _Series(str(touchpoint), Metric.FAILURE_RATE, _Kind.RATE, dates, rate,
                          events, failed, np.zeros(len(days)))
        if Metric.VOLUME in metrics:
            yield _Series(str(touchpoint), Metric.VOLUME, _Kind.COUNT, dates, events.copy(),
                          np.ones(len(days)), events, np.zeros(len(days)))
        waited = rows["waited"].fillna(0).to_numpy(dtype=float)
        if Metric.WAIT in metrics and waited.sum() > 0:
            yield _mean_series(str(touchpoint), Metric.WAIT, dates, waited,
                               rows["wait_sum"].to_numpy(dtype=float),
                               rows["wait_sum_squares"].to_numpy(dtype=float), settings)
    if scores is None or scores.empty:
        return
    for (touchpoint, name), rows in scores.groupby(["touchpoint", "metric"], sort=True):
        try:
            metric = Metric(str(name))
        except ValueError:
            continue
        if metric not in metrics or not metric.from_feedback:
            continue
        rows = rows.set_index("day").sort_index()
        days = _calendar(rows.index.min(), last_day)
        rows = rows.reindex(days)
        yield _mean_series(str(touchpoint), metric, [d.date() for d in days],
                           rows["responses"].fillna(0).to_numpy(dtype=float),
                           rows["score_sum"].to_numpy(dtype=float),
                           rows["score_sum_squares"].to_numpy(dtype=float), settings)


def _mean_series(touchpoint, metric, days, n, total, total_squares, settings) -> _Series:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        squares = np.where(n > 0, np.maximum(total_squares - total * total / n, 0.0), 0.0)
    judged = n >= settings.min_observations
    return _Series(touchpoint, metric, _Kind.MEAN, days, np.where(judged, mean, np.nan),
                   np.where(judged, n, 0.0), np.zeros(len(days)), np.where(judged, squares, 0.0))


@dataclass
class _Chart:
    expected: np.ndarray
    z: np.ndarray
    score: np.ndarray
    alarm: np.ndarray
    overdispersion: np.ndarray
    monitored_days: list[int]

    def alarms(self, s: _Series) -> list[Alarm]:
        out = []
        for i in np.flatnonzero(self.alarm):
            up = bool(self.score[i] > 0)
            worse = s.metric.worse_when_higher
            out.append(Alarm(
                touchpoint=s.touchpoint, metric=s.metric, day=s.days[i],
                value=float(s.value[i]), expected=float(self.expected[i]),
                observations=int(s.count[i] if s.kind is _Kind.COUNT else s.n[i]),
                z=float(self.z[i]), score=float(self.score[i]),
                direction=Direction.UP if up else Direction.DOWN,
                worse=None if worse is None else (worse == up),
            ))
        return out

    def summary(self, s: _Series) -> SeriesSummary:
        observed = np.flatnonzero(~np.isnan(s.value) & ((s.n > 0) | (s.kind is _Kind.COUNT)))
        watched = self.monitored_days
        factors = self.overdispersion[watched] if watched else np.array([])
        return SeriesSummary(
            touchpoint=s.touchpoint, metric=s.metric,
            first_day=s.days[0], last_day=s.days[-1],
            days_observed=int(observed.size), days_monitored=len(watched),
            alarms=int(self.alarm.sum()),
            mean_value=float(np.mean(s.value[watched])) if watched else None,
            overdispersion=float(np.median(factors)) if factors.size else None,
        )


# A pooled rate takes at least this many failures, reaching further back than level_days
# when needed: a rate over 20 events is mostly noise.
MIN_POOLED = 10.0
# Weekday factors of counts are shrunk towards 1 as if this many occurrences had been
# expected and seen on top: sparse weekdays do not invent a weekly rhythm.
WEEKDAY_PRIOR = 10.0
# A past day's weekday effect is measured against the week centred on it when at least
# this many of its seven days are usable.
CENTRED_MIN_DAYS = 5
# Volume follows a least-squares line through the means of this many past weeks.
TREND_WEEKS = 4
NAN = float("nan")


def _chart(s: _Series, st: ChartSettings) -> _Chart:
    """Run one series' chart day by day (plain Python floats: the arrays are short and
    numpy's per-call overhead would dominate)."""
    size = len(s.days)
    counts_only = s.kind is _Kind.COUNT
    observed = [not math.isnan(v) and (counts_only or k > 0)
                for v, k in zip(s.value.tolist(), s.n.tolist())]
    baseline = _Baseline(s, st)
    expected, z, score, phi = ([NAN] * size for _ in range(4))
    alarm = [False] * size
    outlier_run: list[int] = []
    monitored: list[int] = []
    ewma = 0.0
    sd_ewma = math.sqrt(st.smoothing / (2.0 - st.smoothing))
    first = observed.index(True) if any(observed) else size
    for d in range(first, size):
        if not observed[d]:
            continue
        past = baseline.usable_since(d - st.scale_days)
        if d - first < st.warmup_days or len(past) < st.level_days:
            baseline.use(d)
            continue
        expected[d] = baseline.expected(d, past, first)
        raw = None if math.isnan(expected[d]) else baseline.raw_z(d, expected[d], past)
        if raw is None:
            baseline.use(d)
            continue
        recent = [z[w] for w in past if not math.isnan(z[w])]
        factor = 1.0
        if len(recent) >= 14:
            centre = _median(recent)
            factor = max(1.0, 1.4826 * _median([abs(x - centre) for x in recent]))
        phi[d] = factor
        z[d] = raw / factor
        monitored.append(d)
        ewma = st.smoothing * z[d] + (1.0 - st.smoothing) * ewma
        score[d] = ewma / sd_ewma
        if abs(score[d]) >= st.limit:
            alarm[d] = True
            ewma = 0.0
        if abs(z[d]) >= st.outlier_z:
            outlier_run.append(d)
            if len(outlier_run) >= st.relearn_days:
                for w in outlier_run:  # the shift has lasted: it is the new normal
                    baseline.use(w)
                outlier_run = []
        else:
            baseline.use(d)
            outlier_run = []
    return _Chart(np.array(expected), np.array(z), np.array(score), np.array(alarm),
                  np.array(phi), monitored)


class _Baseline:
    """Expected values from usable past days (observed and not kept out as outliers): a
    level times (counts) or plus (means) the weekday's effect. Weekday effects are
    measured against the week centred on each past day, so a trend does not leak into
    them."""

    def __init__(self, s: _Series, st: ChartSettings):
        self.kind, self.st = s.kind, st
        self.value, self.count = s.value.tolist(), s.count.tolist()
        self.n, self.squares = s.n.tolist(), s.squares.tolist()
        self.usable = [False] * len(s.days)
        self.usable_days: list[int] = []
        self.centred: dict[int, float] = {}

    def use(self, d: int) -> None:
        if not self.usable[d]:
            self.usable[d] = True
            bisect.insort(self.usable_days, d)
            if self.usable_days[-1] != d:
                self.centred.clear()  # an earlier day came back: recompute the centres

    def usable_since(self, day: int) -> list[int]:
        return self.usable_days[bisect.bisect_left(self.usable_days, day):]

    def expected(self, d: int, past: list[int], first: int) -> float:
        st = self.st
        weeks = []
        for w in range(d - 7, max(first + 3, d - 7 * st.weekday_weeks) - 1, -7):
            if self.usable[w]:
                c = self._centre(w)
                if not math.isnan(c):
                    weeks.append((w, c))
        if self.kind is _Kind.MEAN:
            level = _median([self.value[w] for w in past[-st.level_days:]])
            offsets = [self.value[w] - c for w, c in weeks]
            return level + (_median(offsets) if len(offsets) >= 2 else 0.0)
        seen = sum(self.count[w] for w, _c in weeks)
        if self.kind is _Kind.RATE:
            wanted = sum(c * self.n[w] for w, c in weeks)
            factor = (seen + WEEKDAY_PRIOR) / (wanted + WEEKDAY_PRIOR)
            return min(self._pooled_rate(past) * factor, 1.0)
        wanted = sum(c for _w, c in weeks)
        return self._trend_level(d, past) * (seen + WEEKDAY_PRIOR) / (wanted + WEEKDAY_PRIOR)

    def raw_z(self, d: int, expected: float, past: list[int]) -> float | None:
        """The day's residual in the sampling distribution's normal scores."""
        if self.kind is _Kind.RATE:
            events = sum(self.n[w] for w in past)
            floor = 1.0 / (events + 2.0)  # a touchpoint that never failed may still fail
            p = min(max(expected, floor), 1.0 - floor)
            k, n = int(self.count[d]), int(self.n[d])
            below = special.bdtr(k - 1, n, p) if k > 0 else 0.0
            return _mid_p_z(upper=special.bdtrc(k, n, p), at=special.bdtr(k, n, p) - below)
        if self.kind is _Kind.COUNT:
            mean = max(expected, 0.5)
            k = int(self.count[d])
            below = special.pdtr(k - 1, mean) if k > 0 else 0.0
            return _mid_p_z(upper=special.pdtrc(k, mean), at=special.pdtr(k, mean) - below)
        dof = sum(max(self.n[w] - 1.0, 0.0) for w in past)
        variance = sum(self.squares[w] for w in past) / dof if dof >= 2 else 0.0
        if variance <= 0:
            return None
        return (self.value[d] - expected) / math.sqrt(variance / self.n[d])

    def _pooled_rate(self, past: list[int]) -> float:
        # A ratio of sums: the median of sparse daily rates is 0.
        failures = events = 0.0
        for taken, w in enumerate(reversed(past), start=1):
            failures += self.count[w]
            events += self.n[w]
            if taken >= self.st.level_days and failures >= MIN_POOLED:
                break
        return failures / events if events > 0 else NAN

    def _trend_level(self, d: int, past: list[int]) -> float:
        """Counts grow and shrink with the customer base: a least-squares line through
        the means of the last four whole weeks (whole weeks, so the weekly rhythm does
        not tilt the line), at day d."""
        usable = set(past)
        points = []
        for k in range(TREND_WEEKS):
            block = [w for w in range(d - 7 * (k + 1), d - 7 * k) if w in usable]
            if len(block) >= 4:
                points.append((d - 7 * k - 4.0, sum(self.count[w] for w in block) / len(block)))
        if len(points) < 2:
            tail = past[-self.st.level_days:]
            return sum(self.count[w] for w in tail) / len(tail)
        x_mean = sum(x for x, _y in points) / len(points)
        y_mean = sum(y for _x, y in points) / len(points)
        sxy = sum((x - x_mean) * (y - y_mean) for x, y in points)
        sxx = sum((x - x_mean) ** 2 for x, _y in points)
        return max(y_mean + sxy / sxx * (d - x_mean), 0.0)

    def _centre(self, w: int) -> float:
        if w in self.centred:
            return self.centred[w]
        days = [x for x in range(max(w - 3, 0), w + 4) if self.usable[x]]
        if len(days) < CENTRED_MIN_DAYS:
            value = NAN
        elif self.kind is _Kind.MEAN:
            value = _median([self.value[x] for x in days])
        elif self.kind is _Kind.RATE:
            events = sum(self.n[x] for x in days)
            value = sum(self.count[x] for x in days) / events if events > 0 else NAN
        else:
            value = sum(self.count[x] for x in days) / len(days)
        self.centred[w] = value
        return value


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _mid_p_z(*, upper: float, at: float) -> float:
    """The normal score of a mid-p upper tail probability P(X > x) + P(X = x) / 2: 0 when
    the count is where the model expects it, positive when above."""
    mid = min(max(float(upper) + 0.5 * float(at), 1e-300), 1.0 - 1e-16)
    return float(-special.ndtri(mid))


def _shown(metric: Metric, value: float) -> str:
    if metric is Metric.FAILURE_RATE:
        return f"{100 * value:.1f}%"
    if metric is Metric.WAIT:
        return f"{value:,.0f} s"
    if metric is Metric.VOLUME:
        return f"{value:,.0f} events"
    return f"{value:.2f}"


def first_alarm_on_or_after(
    report: ExceptionReport, touchpoint: str, metric: Metric, day: dt.date
) -> Alarm | None:
    """The first alarm of one series on ``day`` or later (None when there is none)."""
    for a in report.alarms_for(touchpoint, metric):
        if a.day >= as_date(day):
            return a
    return None
