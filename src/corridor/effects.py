"""Learning from actions: the effect of a completed action, measured in the data that
came after it, and kept with the action.

For an action completed at time t, a metric of its incident's touchpoint is compared in
two equal windows of ``window_days``: *before* = [t - W, t) and *after* = [t + gap,
t + gap + W) (``gap_days`` skips a settling period; 0 by default). Metrics
(:class:`corridor.exceptions.Metric`):

- ``failure_rate``: events with an outcome other than 'ok' per event; two-proportion
  z-test (pooled variance);
- ``wait``: mean ``wait_seconds``; ``csat``, ``ces``, ``nps``: mean score of the
  touchpoint's feedback; Welch's t-test (unequal variances), computed from each window's
  count, sum and sum of squares, so the comparison is one aggregation on any engine;
- ``volume``: events per day; exact conditional test (with equal windows, the after-window
  share of all events is Binomial(total, 1/2) when nothing changed).

Without an explicit metric the touchpoint's own data choose: its failure rate when it had
failures in the before window, else its wait when its events carry waits, else the survey
with most answers about it, else its volume.

*Comparison with untouched touchpoints* (difference in differences): every other touchpoint
with the metric in both windows is a control — for rates only those that failed at all
(a touchpoint that never fails cannot show a change). Each control's own change is
measured (rates: after - before in points of share; means and volume: log of after /
before, because touchpoints differ in scale) and averaged with weights proportional to
its observations; the action's estimate is the touchpoint's change on the same scale
minus that average, with a z-test on the standard errors of both (delta method for the
logs). Controls are the touchpoints of the same channel (``Control.SAME_CHANNEL``, the
default: they share systems and seasons) or all others; when the channel has no control,
all others are used and ``basis`` says so. The comparison assumes the controls would have
moved like the touchpoint without the action (parallel trends); it guards against a
season or a company-wide change being credited to the action, not against everything.

``measure_action_effect`` reads the action from the project; ``save_effect`` keeps the
result with the action (``actions.measured_effect`` as JSON, ``measured_at``).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _
from scipy import stats

from .errors import AnalysisError, InputError
from .exceptions import Metric
from .flow import as_float, as_int
from .incidents import Action, ActionStatus, get_action, get_incident, record_measured_effect
from .store import Project


class Control(str, enum.Enum):
    SAME_CHANNEL = "same_channel"
    ALL_OTHERS = "all_others"


class Scale(str, enum.Enum):
    DIFFERENCE = "difference"  # after - before, in the metric's unit (share for rates)
    LOG_RATIO = "log_ratio"  # log(after / before)


class Verdict(str, enum.Enum):
    IMPROVED = "improved"
    WORSENED = "worsened"
    CHANGED = "changed"  # significant, but neither good nor bad (volume)
    NO_SIGNIFICANT_CHANGE = "no_significant_change"


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime  # exclusive
    observations: int  # events (rate, volume), waits or responses
    value: float | None  # the rate, the mean, or events per day
    standard_error: float | None

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "observations": self.observations,
            "value": self.value,
            "standard_error": self.standard_error,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Window":
        return cls(dt.datetime.fromisoformat(d["start"]), dt.datetime.fromisoformat(d["end"]),
                   int(d["observations"]), d["value"], d["standard_error"])


@dataclass(frozen=True)
class Significance:
    test: str
    statistic: float
    p_value: float
    significant: bool  # p_value < alpha

    def to_dict(self) -> dict:
        return {"test": self.test, "statistic": self.statistic, "p_value": self.p_value,
                "significant": self.significant}

    @classmethod
    def from_dict(cls, d: dict) -> "Significance":
        return cls(d["test"], d["statistic"], d["p_value"], bool(d["significant"]))


@dataclass(frozen=True)
class Comparison:
    """Difference in differences against touchpoints the action did not touch."""

    basis: Control
    touchpoints: tuple[str, ...]
    scale: Scale
    target_change: float
    control_change: float
    difference_in_differences: float
    standard_error: float
    significance: Significance

    def to_dict(self) -> dict:
        return {
            "basis": self.basis.value,
            "touchpoints": list(self.touchpoints),
            "scale": self.scale.value,
            "target_change": self.target_change,
            "control_change": self.control_change,
            "difference_in_differences": self.difference_in_differences,
            "standard_error": self.standard_error,
            "significance": self.significance.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        return cls(Control(d["basis"]), tuple(d["touchpoints"]), Scale(d["scale"]),
                   d["target_change"], d["control_change"], d["difference_in_differences"],
                   d["standard_error"], Significance.from_dict(d["significance"]))


@dataclass(frozen=True)
class Effect:
    touchpoint: str
    metric: Metric
    at: dt.datetime  # when the action was completed
    window_days: int
    gap_days: int
    alpha: float
    before: Window
    after: Window
    change: float  # after - before, in the metric's unit
    relative_change: float | None  # change / before
    significance: Significance
    verdict: Verdict
    comparison: Comparison | None
    note: str | None  # why there is no comparison

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "metric": self.metric.value,
            "at": self.at.isoformat(),
            "window_days": self.window_days,
            "gap_days": self.gap_days,
            "alpha": self.alpha,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "relative_change": self.relative_change,
            "significance": self.significance.to_dict(),
            "verdict": self.verdict.value,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Effect":
        return cls(
            touchpoint=d["touchpoint"], metric=Metric(d["metric"]),
            at=dt.datetime.fromisoformat(d["at"]), window_days=int(d["window_days"]),
            gap_days=int(d["gap_days"]), alpha=float(d["alpha"]),
            before=Window.from_dict(d["before"]), after=Window.from_dict(d["after"]),
            change=d["change"], relative_change=d["relative_change"],
            significance=Significance.from_dict(d["significance"]), verdict=Verdict(d["verdict"]),
            comparison=None if d["comparison"] is None else Comparison.from_dict(d["comparison"]),
            note=d["note"],
        )


@dataclass(frozen=True)
class ActionEffect:
    action_id: int
    incident_id: int
    effect: Effect

    def to_dict(self) -> dict:
        return {"action_id": self.action_id, "incident_id": self.incident_id,
                **self.effect.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "ActionEffect":
        return cls(int(d["action_id"]), int(d["incident_id"]), Effect.from_dict(d))


@dataclass(frozen=True)
class SkippedAction:
    action_id: int
    reason: str

    def to_dict(self) -> dict:
        return {"action_id": self.action_id, "reason": self.reason}


@dataclass(frozen=True)
class EffectsRun:
    measured: tuple[ActionEffect, ...]
    skipped: tuple[SkippedAction, ...]

    def to_dict(self) -> dict:
        return {"measured": [m.to_dict() for m in self.measured],
                "skipped": [s.to_dict() for s in self.skipped]}


# ---- measuring on any engine ------------------------------------------------------------


def before_after(
    events: ir.Table,
    *,
    touchpoint: str,
    at: dt.datetime,
    metric: Metric | str | None = None,
    window_days: int = 28,
    gap_days: int = 0,
    control: Control | str = Control.SAME_CHANNEL,
    touchpoints: ir.Table | None = None,
    feedback: ir.Table | None = None,
    alpha: float = 0.05,
) -> Effect:
    """A touchpoint's metric before and after ``at``, tested, and compared with the
    touchpoints that were not touched (see the module docstring)."""
    _check_arguments(touchpoint, at, window_days, gap_days, alpha)
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    control = _choice(Control, "control", control)
    chosen = None if metric is None else _choice(Metric, "metric", metric)
    if chosen is not None and chosen.from_feedback and feedback is None:
        raise InputError(f"The {chosen.value} metric needs the feedback table.")
    bounds = _Bounds(at, window_days, gap_days)
    _check_span(events, bounds, "events")
    counts = _event_stats(events, bounds, touchpoints)
    target = counts.get(touchpoint)
    if target is None:
        raise AnalysisError(
            f"{touchpoint} has no events in the {window_days} days before or after {at:%Y-%m-%d %H:%M}."
        )
    if chosen is None:
        chosen = _default_metric(target, touchpoint, feedback, bounds)
    if chosen.from_feedback:
        _check_span(feedback, bounds, "feedback", start=False)
        stats_by_tp = _score_stats(feedback, bounds, chosen, counts)
    else:
        stats_by_tp = {tp: s.for_metric(chosen) for tp, s in counts.items()}
    mine = stats_by_tp.get(touchpoint)
    if mine is None or not mine.before.observations or not mine.after.observations:
        raise AnalysisError(
            f"{touchpoint} has no {chosen.value} data in both the {window_days} days before and"
            f" the {window_days} days after {at:%Y-%m-%d %H:%M}; its effect cannot be measured."
        )
    before = mine.before.window(bounds.before_start, bounds.at)
    after = mine.after.window(bounds.after_start, bounds.after_end)
    change = after.value - before.value
    relative = change / before.value if before.value else None
    significance = _test(chosen, mine, alpha)
    comparison, note = _compare(chosen, touchpoint, mine, stats_by_tp, control, alpha)
    return Effect(
        touchpoint=touchpoint, metric=chosen, at=bounds.at, window_days=window_days,
        gap_days=gap_days, alpha=alpha, before=before, after=after, change=change,
        relative_change=relative, significance=significance,
        verdict=_verdict(chosen, change, significance), comparison=comparison, note=note,
    )


# ---- measuring an action in a project ---------------------------------------------------


def measure_action_effect(
    project: Project,
    action_id: int,
    *,
    metric: Metric | str | None = None,
    touchpoint: str | None = None,
    window_days: int = 28,
    gap_days: int = 0,
    control: Control | str = Control.SAME_CHANNEL,
    alpha: float = 0.05,
) -> ActionEffect:
    """The effect of a done action on its incident's touchpoint (or ``touchpoint``),
    measured from its completion. Nothing is written; see :func:`save_effect`."""
    action = get_action(project, action_id)
    if action.status is not ActionStatus.DONE or action.completed_at is None:
        raise InputError(
            f"Action {action.action_id} is not done (status {action.status.value}); its effect is"
            " measured from its completion."
        )
    incident = get_incident(project, action.incident_id)
    where = touchpoint or incident.touchpoint
    if where is None:
        raise InputError(
            f"Incident {incident.incident_id} names no touchpoint; say which touchpoint action"
            f" {action.action_id} was meant to change."
        )
    effect = before_after(
        project.table("events"), touchpoint=where, at=action.completed_at, metric=metric,
        window_days=window_days, gap_days=gap_days, control=control,
        touchpoints=project.table("touchpoints"), feedback=project.table("feedback"),
        alpha=alpha,
    )
    return ActionEffect(action.action_id, action.incident_id, effect)


def save_effect(project: Project, effect: ActionEffect) -> Action:
    """Keep a measured effect with its action (``measured_effect`` JSON, ``measured_at``
    now)."""
    if not isinstance(effect, ActionEffect):
        raise InputError(f"save_effect needs an ActionEffect; got {effect!r}.")
    return record_measured_effect(project, effect.action_id, effect.to_dict())


def stored_effect(action: Action) -> ActionEffect | None:
    """The effect kept with an action, typed again (None if it was never measured)."""
    return None if action.measured_effect is None else ActionEffect.from_dict(action.measured_effect)


def measure_completed_actions(
    project: Project,
    *,
    window_days: int = 28,
    gap_days: int = 0,
    control: Control | str = Control.SAME_CHANNEL,
    alpha: float = 0.05,
    remeasure: bool = False,
    save: bool = True,
) -> EffectsRun:
    """Measure every done action (those not measured yet, unless ``remeasure``) with its
    default metric, keep the results with the actions when ``save``, and say why any
    action could not be measured (no touchpoint, too little data after it…)."""
    query = "SELECT action_id FROM actions WHERE status = 'done' AND completed_at IS NOT NULL"
    if not remeasure:
        query += " AND measured_effect IS NULL"
    ids = [int(r[0]) for r in project.con.execute(query + " ORDER BY action_id").fetchall()]
    measured, skipped = [], []
    for action_id in ids:
        try:
            effect = measure_action_effect(project, action_id, window_days=window_days,
                                           gap_days=gap_days, control=control, alpha=alpha)
        except (InputError, AnalysisError) as exc:
            skipped.append(SkippedAction(action_id, str(exc)))
            continue
        if save:
            save_effect(project, effect)
        measured.append(effect)
    return EffectsRun(tuple(measured), tuple(skipped))


# ---- internals --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bounds:
    at: dt.datetime
    window_days: int
    gap_days: int

    @property
    def before_start(self) -> dt.datetime:
        return self.at - dt.timedelta(days=self.window_days)

    @property
    def after_start(self) -> dt.datetime:
        return self.at + dt.timedelta(days=self.gap_days)

    @property
    def after_end(self) -> dt.datetime:
        return self.after_start + dt.timedelta(days=self.window_days)

    def period(self, timestamp: ir.TimestampValue) -> ir.StringValue:
        """'before', 'after' or null (outside both windows)."""
        ts = timestamp
        return ibis.cases(
            ((ts >= _lit(self.before_start)) & (ts < _lit(self.at)), "before"),
            ((ts >= _lit(self.after_start)) & (ts < _lit(self.after_end)), "after"),
            else_=ibis.null("string"),
        )


def _lit(moment: dt.datetime):
    return ibis.timestamp(moment)


@dataclass
class _Moments:
    """One window of one touchpoint: observations, and either a count (rates, volume) or
    a sum and sum of squares (means)."""

    observations: int = 0
    count: float = 0.0
    total: float = 0.0
    squares: float = 0.0
    kind: str = "mean"  # "rate", "volume" or "mean"
    days: int = 1

    @property
    def value(self) -> float | None:
        if self.kind == "volume":
            return self.count / self.days
        if not self.observations:
            return None
        if self.kind == "rate":
            return self.count / self.observations
        return self.total / self.observations

    @property
    def variance(self) -> float | None:
        """Sample variance of one observation (means) or p(1-p) (rates)."""
        n = self.observations
        if self.kind == "rate":
            p = self.value
            return None if p is None else p * (1.0 - p)
        if self.kind == "volume" or n < 2:
            return None
        return max(self.squares - self.total * self.total / n, 0.0) / (n - 1)

    @property
    def standard_error(self) -> float | None:
        if self.kind == "volume":
            return math.sqrt(self.count) / self.days
        v = self.variance
        return None if v is None or not self.observations else math.sqrt(v / self.observations)

    def window(self, start: dt.datetime, end: dt.datetime) -> Window:
        observations = int(self.count) if self.kind == "volume" else self.observations
        return Window(start, end, observations, self.value, self.standard_error)


@dataclass
class _Pair:
    before: _Moments
    after: _Moments
    channel: str | None = None


@dataclass
class _EventCounts:
    """Event moments of one touchpoint in both windows, for every event metric."""

    channel: str | None
    events: tuple[int, int]
    failed: tuple[int, int]
    waited: tuple[int, int]
    wait_sum: tuple[float, float]
    wait_squares: tuple[float, float]
    days: int

    def for_metric(self, metric: Metric) -> _Pair:
        if metric is Metric.FAILURE_RATE:
            sides = [_Moments(self.events[i], float(self.failed[i]), kind="rate") for i in (0, 1)]
        elif metric is Metric.VOLUME:
            sides = [_Moments(self.events[i], float(self.events[i]), kind="volume", days=self.days)
                     for i in (0, 1)]
        else:
            sides = [_Moments(self.waited[i], 0.0, self.wait_sum[i], self.wait_squares[i])
                     for i in (0, 1)]
        return _Pair(sides[0], sides[1], self.channel)


def _event_stats(events: ir.Table, b: _Bounds, touchpoints: ir.Table | None) -> dict[str, _EventCounts]:
    period = b.period(events.timestamp)
    wait = events.wait_seconds.cast("float64")
    rows = events.select(
        touchpoint=events.touchpoint,
        channel=events.channel,
        period=period,
        failed=(events.outcome.fill_null("ok") != "ok").cast("int64"),
        wait=wait,
        wait_squared=wait * wait,
    )
    rows = rows.filter(rows.period.notnull())
    frame = rows.group_by(["touchpoint", "period"]).aggregate(
        channel=_.channel.min(),
        events=_.count(),
        failed=_.failed.sum(),
        waited=_.wait.count(),
        wait_sum=_.wait.sum(),
        wait_squares=_.wait_squared.sum(),
    ).execute()
    channels = {}
    if touchpoints is not None:
        listed = touchpoints.group_by("touchpoint").aggregate(channel=_.channel.min()).execute()
        channels = {str(r.touchpoint): r.channel for r in listed.itertuples()
                    if isinstance(r.channel, str)}
    out: dict[str, _EventCounts] = {}
    for tp, rows_tp in frame.groupby("touchpoint"):
        side = {r.period: r for r in rows_tp.itertuples()}
        pick = lambda name, cast: tuple(  # noqa: E731
            cast(getattr(side[p], name)) if p in side else cast(0) for p in ("before", "after")
        )
        own = next((r.channel for r in side.values() if isinstance(r.channel, str)), None)
        out[str(tp)] = _EventCounts(
            channel=channels.get(str(tp), own),
            events=pick("events", as_int), failed=pick("failed", as_int),
            waited=pick("waited", as_int),
            wait_sum=pick("wait_sum", lambda v: as_float(v) or 0.0),
            wait_squares=pick("wait_squares", lambda v: as_float(v) or 0.0),
            days=b.window_days,
        )
    return out


def _score_stats(feedback: ir.Table, b: _Bounds, metric: Metric, counts) -> dict[str, _Pair]:
    rated = feedback.filter((feedback.metric == metric.value) & feedback.touchpoint.notnull()
                            & feedback.score.notnull())
    score = rated.score.cast("float64")
    rows = rated.select(touchpoint=rated.touchpoint, period=b.period(rated.timestamp),
                        score=score, squared=score * score)
    rows = rows.filter(rows.period.notnull())
    frame = rows.group_by(["touchpoint", "period"]).aggregate(
        responses=_.count(), total=_.score.sum(), squares=_.squared.sum()
    ).execute()
    out: dict[str, _Pair] = {}
    for tp, rows_tp in frame.groupby("touchpoint"):
        side = {r.period: r for r in rows_tp.itertuples()}
        moments = [
            _Moments(as_int(side[p].responses), 0.0, as_float(side[p].total) or 0.0,
                     as_float(side[p].squares) or 0.0) if p in side else _Moments()
            for p in ("before", "after")
        ]
        known = counts.get(str(tp))
        out[str(tp)] = _Pair(moments[0], moments[1], None if known is None else known.channel)
    return out


def _default_metric(target: _EventCounts, touchpoint: str, feedback, b: _Bounds) -> Metric:
    if target.failed[0] > 0:
        return Metric.FAILURE_RATE
    if target.waited[0] > 0:
        return Metric.WAIT
    if feedback is not None:
        answered = feedback.filter(
            (feedback.touchpoint == touchpoint) & b.period(feedback.timestamp).notnull()
        ).group_by("metric").aggregate(responses=_.count()).execute()
        answered = answered[answered["metric"].isin([m.value for m in Metric if m.from_feedback])]
        if not answered.empty:
            return Metric(answered.sort_values(["responses", "metric"], ascending=[False, True])
                          .iloc[0]["metric"])
    return Metric.VOLUME


def _test(metric: Metric, pair: _Pair, alpha: float) -> Significance:
    b, a = pair.before, pair.after
    if metric is Metric.FAILURE_RATE:
        pooled = (b.count + a.count) / (b.observations + a.observations)
        se = math.sqrt(pooled * (1 - pooled) * (1 / b.observations + 1 / a.observations))
        z = (a.value - b.value) / se if se > 0 else 0.0
        p = 2 * stats.norm.sf(abs(z)) if se > 0 else 1.0
        return _significance("two-proportion z-test", z, p, alpha)
    if metric is Metric.VOLUME:
        k, total = int(a.count), int(a.count + b.count)
        p = stats.binomtest(k, total, 0.5).pvalue if total else 1.0
        z = (math.log(a.count / b.count) / math.sqrt(1 / a.count + 1 / b.count)
             if a.count and b.count else 0.0)
        return _significance("exact conditional test of two Poisson counts", z, p, alpha)
    if b.observations < 2 or a.observations < 2:
        raise AnalysisError(
            f"Welch's t-test needs at least two {metric.value} values in each window; got"
            f" {b.observations} before and {a.observations} after."
        )
    t, p = stats.ttest_ind_from_stats(
        a.value, math.sqrt(a.variance), a.observations, b.value, math.sqrt(b.variance),
        b.observations, equal_var=False,
    )
    if math.isnan(t):  # no variation at all on either side
        t, p = 0.0, 1.0
    return _significance("Welch's t-test", t, p, alpha)


def _significance(test: str, statistic, p_value, alpha: float) -> Significance:
    p_value = float(p_value)
    return Significance(test, float(statistic), p_value, p_value < alpha)


def _change_on_scale(metric: Metric, pair: _Pair) -> tuple[float, float] | None:
    """(change, its variance) on the comparison scale, or None when undefined."""
    b, a = pair.before, pair.after
    if metric is Metric.FAILURE_RATE:
        if not b.observations or not a.observations:
            return None
        return a.value - b.value, b.variance / b.observations + a.variance / a.observations
    if metric is Metric.VOLUME:
        if not b.count or not a.count:
            return None
        return math.log(a.count / b.count), 1 / a.count + 1 / b.count
    if b.observations < 2 or a.observations < 2 or not b.value or not a.value:
        return None
    if b.value <= 0 or a.value <= 0:
        return None
    variance = (b.variance / (b.observations * b.value ** 2)
                + a.variance / (a.observations * a.value ** 2))
    return math.log(a.value / b.value), variance


def _compare(metric, touchpoint, mine, stats_by_tp, control: Control, alpha):
    target = _change_on_scale(metric, mine)
    if target is None:
        return None, f"The change of {touchpoint} cannot be put on the comparison scale."

    def eligible(tp, pair):
        if tp == touchpoint:
            return False
        if metric is Metric.FAILURE_RATE and pair.before.count + pair.after.count == 0:
            return False
        return _change_on_scale(metric, pair) is not None

    candidates = {tp: p for tp, p in stats_by_tp.items() if eligible(tp, p)}
    basis = control
    chosen = candidates
    if control is Control.SAME_CHANNEL:
        same = {tp: p for tp, p in candidates.items()
                if mine.channel is not None and p.channel == mine.channel}
        if same:
            chosen = same
        else:
            basis = Control.ALL_OTHERS
    if not chosen:
        return None, (f"No other touchpoint has {metric.value} data in both windows to compare"
                      f" {touchpoint} with.")
    weights = {tp: p.before.observations + p.after.observations for tp, p in chosen.items()}
    total = float(sum(weights.values()))
    control_change = control_variance = 0.0
    for tp, pair in chosen.items():
        change, variance = _change_on_scale(metric, pair)
        w = weights[tp] / total
        control_change += w * change
        control_variance += w * w * variance
    did = target[0] - control_change
    se = math.sqrt(target[1] + control_variance)
    z = did / se if se > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z))) if se > 0 else 1.0
    scale = Scale.DIFFERENCE if metric is Metric.FAILURE_RATE else Scale.LOG_RATIO
    return Comparison(
        basis=basis, touchpoints=tuple(sorted(chosen)), scale=scale, target_change=target[0],
        control_change=control_change, difference_in_differences=did, standard_error=se,
        significance=_significance("difference in differences, z-test", z, p, alpha),
    ), None


def _verdict(metric: Metric, change: float, significance: Significance) -> Verdict:
    if not significance.significant or change == 0:
        return Verdict.NO_SIGNIFICANT_CHANGE
    worse_when_higher = metric.worse_when_higher
    if worse_when_higher is None:
        return Verdict.CHANGED
    return Verdict.WORSENED if (change > 0) == worse_when_higher else Verdict.IMPROVED


def _check_span(table: ir.Table, b: _Bounds, name: str, *, start: bool = True) -> None:
    """The data must cover both windows (surveys may start late: only their end is
    checked)."""
    span = table.aggregate(first=table.timestamp.min(), last=table.timestamp.max()).execute()
    first, last = span["first"].iloc[0], span["last"].iloc[0]
    if first is None or last is None or (isinstance(first, float) and math.isnan(first)):
        raise AnalysisError(f"There are no {name} to measure an effect on.")
    first, last = _moment(first), _moment(last)
    day = dt.timedelta(days=1)
    if start and first > b.before_start + day:
        raise AnalysisError(
            f"The {name} start on {first:%Y-%m-%d}, less than {b.window_days} days before"
            f" {b.at:%Y-%m-%d %H:%M}; choose a shorter window."
        )
    if last < b.after_end - day:
        raise AnalysisError(
            f"The {name} end on {last:%Y-%m-%d}, before the {b.window_days}-day window after"
            f" {b.at:%Y-%m-%d %H:%M} is complete ({b.after_end:%Y-%m-%d}); measure later or"
            " choose a shorter window."
        )


def _moment(value) -> dt.datetime:
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def _check_arguments(touchpoint, at, window_days, gap_days, alpha) -> None:
    if not isinstance(touchpoint, str) or not touchpoint:
        raise InputError(f"touchpoint must be a touchpoint name; got {touchpoint!r}.")
    if not isinstance(at, dt.datetime):
        raise InputError(f"at must be a date and time (the action's completion); got {at!r}.")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise InputError(
            f"window_days must be a whole number of days, at least 1; got {window_days!r}."
        )
    if isinstance(gap_days, bool) or not isinstance(gap_days, int) or gap_days < 0:
        raise InputError(f"gap_days must be a whole number of days, 0 or more; got {gap_days!r}.")
    if not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be between 0 and 1; got {alpha!r}.")


def _choice(enum_type, name: str, value):
    try:
        return enum_type(value)
    except ValueError:
        names = ", ".join(e.value for e in enum_type)
        raise InputError(f"{name} must be one of {names}; got {value!r}.") from None
