"""Key drivers: which journey facts go with low scores and with churn, how strongly, and
how sure we are.

Scores (:func:`score_drivers`): an ordinary least squares regression of the score on the
journey features of :func:`corridor.satisfaction.feedback_journeys`. Churn
(:func:`churn_drivers`): a logistic regression, fitted by Newton's method (iteratively
reweighted least squares), of "the customer left within ``within`` after a support case"
on the features of that case (:func:`support_cases`).

Uncertainty: cluster-robust standard errors with customers as clusters (Liang & Zeger,
Biometrika 73, 1986; the CR1 small-sample factor of Cameron & Miller, J. Human Resources
50, 2015), because one customer answers several surveys and has several cases and their
answers are not independent. OLS intervals use Student's t with (clusters - 1) degrees of
freedom, logistic ones the normal distribution. An effect is *significant* when its
interval excludes 0.

Each driver's effect is in the outcome's unit per unit of the feature (score points per
failed contact; log-odds of churn per failed contact, whose exp() is the odds ratio).
Drivers are ranked by importance: significant ones first, then by the size of the effect
of one standard deviation of the feature (so a rare but heavy fact can rank above a
common, mild one only when its typical contribution is larger).

The default features are the exclusive journey counts (see
:mod:`corridor.satisfaction`) and the waiting: failed and abandoned contacts, hours of
waiting, channel switches, hand-offs, repeats and ping-pongs. Features that do not vary,
or that are an exact linear combination of features listed before them, are left out
and named in ``dropped``.

Reading a driver (:class:`Assessment`): each feature has a stated expectation of how it
moves the experience (:data:`EXPECTED_EFFECTS`, overridable with ``expectations``): more
failed or abandoned contacts, waiting, channel switches, hand-offs, repeated visits and
ping-pongs are expected to make it *worse*, because each is a cost the customer pays
(the bad experiences of the customer-experience literature and of this product's own
journey features); ``contacts``, ``channels`` and ``cases`` have no expectation. Worse
means a lower score (NPS, CSAT and CES all run from bad to good) or a higher chance of
churn, so the expected sign of a "worsens" feature is negative for a score and positive
for churn. Then, in this order:

- *uncertain*: the interval includes 0, so not even the sign is known;
- *contradicts expectation*: the interval excludes 0 on the side opposite the expected
  sign (more waiting going with *higher* NPS): a finding to question (a confounder, a
  feature that marks engaged customers), never to celebrate;
- *uncertain*: the interval is *wide*: its half-width exceeds :data:`WIDE_INTERVAL`
  (one half) of the effect's size, so its near end is under half the effect and the data
  cannot tell a large effect from a small one;
- *as expected*, or *no expectation* for a feature the table does not name.

Only *as expected* (and *no expectation*) are plain significant findings.

Touchpoint presence effects are raw comparisons, not adjusted for the other features:
the mean outcome of responses (or cases) whose journey visited a touchpoint minus the
mean of those that did not, with Welch's t interval. Touchpoints visited, or not
visited, by fewer than ``min_presence`` are left out.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalysisError, InputError
from .satisfaction import (
    FEATURE_NAMES,
    JOURNEY_FEATURES,
    SCALES,
    Metric,
    as_metric,
    check_confidence,
    journey_features,
    prepared_events,
)

# Not ``contacts``, ``channels`` or ``cases``: every other count adds to them, so they
# would compete with the facts they are made of for the same effect.
SCORE_FEATURES = (
    "failed_contacts", "abandoned_contacts", "wait_hours",
    "channel_switches", "handoffs", "repeats", "ping_pongs",
)
CHURN_FEATURES = SCORE_FEATURES
_UNITS = {f.name: f.unit for f in JOURNEY_FEATURES}
_NEWTON_STEPS = 100
WIDE_INTERVAL = 0.5  # an interval is wide when its half-width exceeds this share of |effect|


class Expected(str, enum.Enum):
    """How more of a journey feature is expected to move the customer's experience."""

    WORSENS = "worsens"
    IMPROVES = "improves"


class Assessment(str, enum.Enum):
    """How to read a driver (see the module docstring)."""

    AS_EXPECTED = "as_expected"
    CONTRADICTS_EXPECTATION = "contradicts_expectation"
    UNCERTAIN = "uncertain"
    NO_EXPECTATION = "no_expectation"  # significant, but no expectation is stated


# Each default feature is a cost the customer pays, so more of it is expected to worsen
# the experience; the counts of plain activity (contacts, channels, cases) are not judged.
EXPECTED_EFFECTS: Mapping[str, Expected] = MappingProxyType({
    "failed_contacts": Expected.WORSENS,
    "abandoned_contacts": Expected.WORSENS,
    "wait_hours": Expected.WORSENS,
    "channel_switches": Expected.WORSENS,
    "handoffs": Expected.WORSENS,
    "repeats": Expected.WORSENS,
    "ping_pongs": Expected.WORSENS,
})


@dataclass(frozen=True)
class Driver:
    feature: str
    unit: str  # what ``effect`` measures, e.g. "nps points per failed contact"
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool  # the interval excludes 0
    per_sd: float  # the effect of one standard deviation of the feature
    feature_mean: float
    expected_sign: int | None  # +1 or -1 on this outcome; None: no stated expectation
    assessment: Assessment
    rank: int  # 1 = most important

    @property
    def wide(self) -> bool:
        """The interval's half-width exceeds :data:`WIDE_INTERVAL` of the effect's size."""
        return _wide(self.effect, self.ci_low, self.ci_high)

    @property
    def flagged(self) -> bool:
        """Not a plain finding: uncertain, or against its expectation."""
        return self.assessment in (Assessment.UNCERTAIN, Assessment.CONTRADICTS_EXPECTATION)

    def to_dict(self) -> dict:
        return {
            "feature": self.feature,
            "unit": self.unit,
            "effect": self.effect,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "significant": self.significant,
            "per_sd": self.per_sd,
            "feature_mean": self.feature_mean,
            "expected_sign": self.expected_sign,
            "assessment": self.assessment.value,
            "wide": self.wide,
            "flagged": self.flagged,
            "rank": self.rank,
        }


@dataclass(frozen=True)
class PresenceEffect:
    """The raw difference in the outcome between journeys that visited a touchpoint and
    those that did not."""

    touchpoint: str
    with_touchpoint: int
    without_touchpoint: int
    outcome_with: float
    outcome_without: float
    difference: float  # with - without
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    rank: int

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "with_touchpoint": self.with_touchpoint,
            "without_touchpoint": self.without_touchpoint,
            "outcome_with": self.outcome_with,
            "outcome_without": self.outcome_without,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "significant": self.significant,
            "rank": self.rank,
        }


@dataclass(frozen=True)
class Drivers:
    outcome: str  # what was explained, e.g. "nps score" or "churn within 14 days of a support case"
    model: str  # "ols" or "logistic"
    effect_unit: str  # "nps points" or "log-odds of churn"
    observations: int
    clusters: int  # customers
    left_out: int  # responses off the scale, or cases followed for less than the window
    outcome_mean: float  # the mean score, or the churn rate
    fit: float  # R² (OLS) or McFadden's pseudo-R² (logistic)
    intercept: float
    confidence: float
    drivers: tuple[Driver, ...]  # ranked
    touchpoints: tuple[PresenceEffect, ...]  # ranked the same way
    dropped: tuple[str, ...]

    def driver(self, feature: str) -> Driver:
        for d in self.drivers:
            if d.feature == feature:
                return d
        raise KeyError(feature)

    def presence(self, touchpoint: str) -> PresenceEffect:
        for p in self.touchpoints:
            if p.touchpoint == touchpoint:
                return p
        raise KeyError(touchpoint)

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "model": self.model,
            "effect_unit": self.effect_unit,
            "observations": self.observations,
            "clusters": self.clusters,
            "left_out": self.left_out,
            "outcome_mean": self.outcome_mean,
            "fit": self.fit,
            "intercept": self.intercept,
            "confidence": self.confidence,
            "drivers": [d.to_dict() for d in self.drivers],
            "touchpoints": [t.to_dict() for t in self.touchpoints],
            "dropped": list(self.dropped),
        }


# ---- scores -----------------------------------------------------------------------------


def score_drivers(
    journeys: ir.Table,
    *,
    metric: Metric | str | None = None,
    features: Sequence[str] = SCORE_FEATURES,
    confidence: float = 0.95,
    min_presence: int = 30,
    expectations: Mapping[str, Expected] = EXPECTED_EFFECTS,
) -> Drivers:
    """What drives one metric's scores: OLS of the score on ``features`` of the
    journeys before each response (``journeys`` from
    :func:`corridor.satisfaction.feedback_journeys`), and touchpoint presence effects.
    Each driver is read against ``expectations`` (see the module docstring); a higher
    score is a better experience.

    ``metric`` picks the responses when the journeys hold several metrics."""
    level = check_confidence(confidence)
    names = _check_features(features, journeys.columns)
    expected = _check_expectations(expectations)
    _check_min_presence(min_presence)
    chosen = _one_metric(journeys, metric)
    scale = SCALES[chosen]
    rows = journeys.filter(journeys.metric == chosen.value)
    frame = rows.select("customer_id", "score", "touchpoints_visited", *names).execute()
    score = pd.to_numeric(frame["score"], errors="coerce")
    on_scale = score.between(scale.low, scale.high)
    left_out = int((~on_scale).sum())
    frame = frame[on_scale.to_numpy()]
    y = score[on_scale].to_numpy(dtype=float)
    unit = f"{chosen.value} points"
    fitted = _fit(frame, y, names, logistic=False, level=level, what=f"{chosen.value} responses")
    return _result(f"{chosen.value} score", "ols", unit, fitted, frame, y, left_out, level,
                   min_presence, _signs(expected, worse=-1))


def _one_metric(journeys: ir.Table, metric: Metric | str | None) -> Metric:
    if metric is not None:
        return as_metric(metric)
    metrics = journeys.select("metric").distinct().execute()["metric"].dropna()
    found = sorted(str(m) for m in metrics)
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise InputError(
            f"The journeys must hold one metric, or name the one to explain; they hold {listed}."
        )
    return as_metric(found[0])


# ---- churn ------------------------------------------------------------------------------


def support_cases(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    within: dt.timedelta = dt.timedelta(days=14),
    support_touchpoints: Sequence[str] | None = None,
    exit_touchpoints: Sequence[str] | None = None,
) -> ir.Table:
    """One row per support case with its journey features and whether the customer left
    within ``within`` after the case's last event.

    A support case is a case whose first event (in (timestamp, seq) order) is at a
    support touchpoint: ``support_touchpoints``, else those of the ``support`` stage in
    the touchpoints table. Leaving is an event of the same customer, in any case, at an
    exit touchpoint (``exit_touchpoints``, else the ``exit`` stage) no earlier than the
    case's last event and at most ``within`` after it. ``churned`` is 1 or 0, and null
    when the data end less than ``within`` after the case (it cannot be told yet).

    Columns: ``case_id``, ``customer_id``, ``first_touchpoint``, every journey feature,
    ``last_touchpoint``, ``last_millis``, ``touchpoints_visited``, ``churned``."""
    if not isinstance(within, dt.timedelta) or within <= dt.timedelta(0):
        raise InputError(f"The churn window must be a positive time span; got {within!r}.")
    window_ms = int(within / dt.timedelta(milliseconds=1))
    stages = _stages(touchpoints, support_touchpoints is None or exit_touchpoints is None)
    support = _touchpoints_of("support", support_touchpoints, stages, "support_touchpoints")
    exits = _touchpoints_of("exit", exit_touchpoints, stages, "exit_touchpoints")

    ev = prepared_events(events, touchpoints)
    first = ibis.window(group_by=ev.case_id, order_by=[ev.millis, ev.seq])
    starts = ev.mutate(_position=ibis.row_number().over(first))
    starts = starts.filter(starts._position == 0).select(
        "case_id", first_touchpoint=starts.touchpoint, owner=starts.customer_id
    )
    starts = starts.filter(starts.first_touchpoint.isin(support))
    case_events = ev.join(starts, "case_id")
    features = journey_features(case_events.select(*ev.columns), "case_id")
    cases = features.join(starts, "case_id").rename(customer_id="owner")

    leaving = ev.filter(ev.touchpoint.isin(exits)).select("customer_id", _exit_ms=ev.millis)
    matched = cases.select("case_id", "customer_id", "last_millis").join(leaving, "customer_id")
    matched = matched.filter(
        (matched._exit_ms >= matched.last_millis)
        & (matched._exit_ms <= matched.last_millis + window_ms)
    )
    left = matched.group_by("case_id").aggregate(_left=matched.count())
    data_end = ev.millis.max().as_scalar()
    out = cases.left_join(left, "case_id")
    followed = out.last_millis + window_ms <= data_end
    # Exits already seen in a window cut short are not counted either: keeping them
    # while dropping the cases without one would overstate churn.
    churned = ibis.ifelse(followed, (out._left.fill_null(0) > 0).cast("int64"), ibis.null("int64"))
    return out.mutate(churned=churned).select(
        "case_id", "customer_id", "first_touchpoint", *FEATURE_NAMES, "last_touchpoint",
        "last_millis", "touchpoints_visited", "churned",
    )


def churn_drivers(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    within: dt.timedelta = dt.timedelta(days=14),
    support_touchpoints: Sequence[str] | None = None,
    exit_touchpoints: Sequence[str] | None = None,
    features: Sequence[str] = CHURN_FEATURES,
    confidence: float = 0.95,
    min_presence: int = 30,
    expectations: Mapping[str, Expected] = EXPECTED_EFFECTS,
) -> Drivers:
    """What drives leaving after a support case: a logistic regression of ``churned`` on
    the case's ``features`` (:func:`support_cases`), and touchpoint presence effects on
    the churn rate. Cases that cannot be told yet are left out. Each driver is read
    against ``expectations``; churning is a worse experience, so a feature expected to
    worsen it is expected to raise the churn."""
    level = check_confidence(confidence)
    names = _check_features(features, FEATURE_NAMES)
    expected = _check_expectations(expectations)
    _check_min_presence(min_presence)
    cases = support_cases(
        events, touchpoints=touchpoints, within=within,
        support_touchpoints=support_touchpoints, exit_touchpoints=exit_touchpoints,
    )
    frame = cases.select("customer_id", "touchpoints_visited", "churned", *names).execute()
    told = frame["churned"].notna()
    left_out = int((~told).sum())
    frame = frame[told.to_numpy()]
    y = frame["churned"].to_numpy(dtype=float)
    if len(y) and (y.min() == y.max()):
        state = "left" if y[0] == 1 else "stayed"
        raise AnalysisError(
            f"Every one of the {len(y)} support cases {state}: churn drivers need both outcomes."
        )
    days = within / dt.timedelta(days=1)
    unit = "log-odds of churn"
    fitted = _fit(frame, y, names, logistic=True, level=level, what="support cases")
    return _result(f"churn within {days:g} days of a support case", "logistic", unit, fitted,
                   frame, y, left_out, level, min_presence, _signs(expected, worse=+1))


def _check_expectations(expectations: Mapping[str, Expected]) -> dict[str, Expected]:
    if not isinstance(expectations, Mapping):
        raise InputError(
            "expectations must map feature names to Expected.WORSENS or Expected.IMPROVES; "
            f"got {type(expectations).__name__}.")
    out = {}
    for name, value in expectations.items():
        if name not in FEATURE_NAMES:
            raise InputError(
                f"{name!r} is not a journey feature; choose from {', '.join(FEATURE_NAMES)}.")
        try:
            out[name] = Expected(value)
        except ValueError:
            raise InputError(
                f"The expectation of {name} must be 'worsens' or 'improves'; got {value!r}."
            ) from None
    return out


def _signs(expected: dict[str, Expected], *, worse: int) -> dict[str, int]:
    """The expected sign of each feature's effect on an outcome where ``worse`` is the
    sign of a worse experience (-1 for a score, +1 for churn)."""
    return {name: worse if e is Expected.WORSENS else -worse for name, e in expected.items()}


def _wide(effect: float, low: float, high: float) -> bool:
    return (high - low) / 2 > WIDE_INTERVAL * abs(effect)


def assess(effect: float, low: float, high: float, expected_sign: int | None) -> Assessment:
    """How to read an effect with interval [low, high] against its expected sign (see
    the module docstring)."""
    if low <= 0 <= high:
        return Assessment.UNCERTAIN
    if expected_sign is not None and (effect > 0) != (expected_sign > 0):
        return Assessment.CONTRADICTS_EXPECTATION
    if _wide(effect, low, high):
        return Assessment.UNCERTAIN
    return Assessment.NO_EXPECTATION if expected_sign is None else Assessment.AS_EXPECTED


def _result(outcome, model, unit, fitted, frame, y, left_out, level, min_presence,
            signs) -> Drivers:
    """The typed result of a fit, with the presence effects of the same rows."""
    return Drivers(
        outcome=outcome,
        model=model,
        effect_unit=unit,
        observations=len(y),
        clusters=fitted.clusters,
        left_out=left_out,
        outcome_mean=float(y.mean()),
        fit=fitted.fit,
        intercept=fitted.intercept,
        confidence=level,
        drivers=_drivers(fitted, unit, signs),
        touchpoints=_presence_effects(frame["touchpoints_visited"], y, level, min_presence),
        dropped=fitted.dropped,
    )


def _touchpoints_of(
    stage: str, given: Sequence[str] | None, stages: dict[str, list[str]] | None, argument: str
) -> list[str]:
    if given is not None:
        names = [given] if isinstance(given, str) else list(given)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InputError(f"{argument} must name at least one touchpoint; got {given!r}.")
        return names
    if stages is None:
        raise InputError(
            f"Without a touchpoints table, name the {stage} touchpoints with {argument}."
        )
    names = stages.get(stage, [])
    if not names:
        raise AnalysisError(
            f"No touchpoint belongs to the {stage} stage; name them with {argument}."
        )
    return names


def _stages(touchpoints: ir.Table | None, needed: bool) -> dict[str, list[str]] | None:
    """Touchpoint names per stage, read only when a stage must supply them."""
    if touchpoints is None or not needed:
        return None
    frame = touchpoints.select("touchpoint", "stage").distinct().execute().dropna()
    return {
        str(stage): sorted(str(t) for t in group["touchpoint"])
        for stage, group in frame.groupby("stage")
    }


# ---- fitting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fitted:
    names: tuple[str, ...]
    coefficients: np.ndarray  # without the intercept
    low: np.ndarray
    high: np.ndarray
    p_values: np.ndarray
    sds: np.ndarray
    means: np.ndarray
    intercept: float
    fit: float
    clusters: int
    dropped: tuple[str, ...]


def _check_features(features: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    names = (features,) if isinstance(features, str) else tuple(features)
    if not names:
        raise InputError("At least one feature is needed to look for drivers; none was given.")
    for name in names:
        if name not in available:
            raise InputError(
                f"{name!r} is not a journey feature; choose from {', '.join(FEATURE_NAMES)}."
            )
    if len(set(names)) != len(names):
        raise InputError(f"A feature is listed twice in {list(names)}.")
    return names


def _check_min_presence(min_presence: int) -> None:
    if not isinstance(min_presence, int) or min_presence < 2:
        raise InputError(
            f"min_presence must be a whole number of at least 2; got {min_presence!r}."
        )


def _fit(
    frame: pd.DataFrame, y: np.ndarray, names: tuple[str, ...], *, logistic: bool,
    level: float, what: str,
) -> _Fitted:
    y = np.asarray(y, dtype=float)
    x_all = frame[list(names)].to_numpy(dtype=float)
    kept, dropped = _independent(x_all, names)
    x = np.column_stack([np.ones(len(y)), x_all[:, kept]])
    if len(y) < x.shape[1] + 10:
        raise AnalysisError(
            f"Only {len(y)} {what}: too few to weigh {x.shape[1] - 1} features "
            f"(at least {x.shape[1] + 10} are needed)."
        )
    clusters = pd.factorize(frame["customer_id"])[0]
    groups = int(clusters.max()) + 1
    if groups < 2:
        raise AnalysisError(f"All {what} come from one customer; effects cannot be generalised.")
    if logistic:
        beta, residual, bread, fit = _logistic(x, y, what)
    else:
        beta, residual, bread, fit = _ols(x, y)
    scores = np.zeros((groups, x.shape[1]))
    np.add.at(scores, clusters, x * residual[:, None])
    factor = groups / (groups - 1)
    if not logistic:
        factor *= (len(y) - 1) / (len(y) - x.shape[1])
    covariance = factor * bread @ (scores.T @ scores) @ bread
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))[1:]
    coefficients = beta[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(se > 0, np.abs(coefficients) / se, np.inf)
    if logistic:
        quantile = stats.norm.ppf(0.5 + level / 2)
        p_values = 2 * stats.norm.sf(statistic)
    else:
        quantile = stats.t.ppf(0.5 + level / 2, groups - 1)
        p_values = 2 * stats.t.sf(statistic, groups - 1)
    kept_x = x_all[:, kept]
    return _Fitted(
        names=tuple(names[i] for i in kept),
        coefficients=coefficients,
        low=coefficients - quantile * se,
        high=coefficients + quantile * se,
        p_values=p_values,
        sds=kept_x.std(axis=0, ddof=1),
        means=kept_x.mean(axis=0),
        intercept=float(beta[0]),
        fit=fit,
        clusters=groups,
        dropped=dropped,
    )


def _independent(x: np.ndarray, names: tuple[str, ...]) -> tuple[list[int], tuple[str, ...]]:
    """Indexes of the features kept: each must add a dimension to the intercept and the
    features kept before it."""
    kept: list[int] = []
    dropped = []
    basis = np.ones((len(x), 1))
    for i, name in enumerate(names):
        trial = np.column_stack([basis, x[:, i]])
        if np.linalg.matrix_rank(trial) > basis.shape[1]:
            kept.append(i)
            basis = trial
        else:
            dropped.append(name)
    return kept, tuple(dropped)


def _ols(x: np.ndarray, y: np.ndarray):
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    total = ((y - y.mean()) ** 2).sum()
    r_squared = 1.0 - (residual @ residual) / total if total > 0 else 0.0
    return beta, residual, bread, float(r_squared)


def _logistic(x: np.ndarray, y: np.ndarray, what: str):
    """Maximum likelihood by Newton's method; the residuals y - p are the scores."""
    separated = AnalysisError(
        f"The churn model did not settle on the {what}: a feature separates those who "
        "left from those who stayed; leave it out of the features."
    )
    beta = np.zeros(x.shape[1])
    beta[0] = math.log(y.mean() / (1 - y.mean()))
    with np.errstate(over="ignore"):
        for _ in range(_NEWTON_STEPS):
            p = _expit(x @ beta)
            hessian = x.T @ (x * (p * (1 - p))[:, None])
            try:
                step = np.linalg.solve(hessian, x.T @ (y - p))
            except np.linalg.LinAlgError:
                raise separated from None
            beta = beta + step
            if np.max(np.abs(step)) < 1e-9:
                break
        else:
            raise separated
        p = _expit(x @ beta)
    if np.max(np.abs(beta[1:]), initial=0.0) > 30:
        raise separated
    hessian = x.T @ (x * (p * (1 - p))[:, None])
    eps = 1e-12
    log_likelihood = float(np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    rate = y.mean()
    null = float(len(y) * (rate * math.log(rate) + (1 - rate) * math.log(1 - rate)))
    return beta, y - p, np.linalg.inv(hessian), 1.0 - log_likelihood / null


def _expit(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def _drivers(fitted: _Fitted, effect_unit: str, signs: dict[str, int]) -> tuple[Driver, ...]:
    found = []
    for i, name in enumerate(fitted.names):
        low, high = float(fitted.low[i]), float(fitted.high[i])
        effect = float(fitted.coefficients[i])
        found.append(dict(
            feature=name,
            unit=f"{effect_unit} per {_UNITS.get(name, 'unit of ' + name)}",
            effect=effect,
            ci_low=low,
            ci_high=high,
            p_value=float(fitted.p_values[i]),
            significant=bool(low > 0 or high < 0),
            per_sd=float(fitted.coefficients[i] * fitted.sds[i]),
            feature_mean=float(fitted.means[i]),
            expected_sign=signs.get(name),
            assessment=assess(effect, low, high, signs.get(name)),
        ))
    found.sort(key=lambda d: (not d["significant"], -abs(d["per_sd"]), d["feature"]))
    return tuple(Driver(**d, rank=r) for r, d in enumerate(found, start=1))


def _presence_effects(
    visited: pd.Series, y: np.ndarray, level: float, min_presence: int
) -> tuple[PresenceEffect, ...]:
    sets = [frozenset() if v is None or (isinstance(v, float) and math.isnan(v)) else frozenset(v)
            for v in visited]
    names = sorted(set().union(*sets)) if sets else []
    found = []
    for name in names:
        present = np.fromiter((name in s for s in sets), dtype=bool, count=len(sets))
        a, b = y[present], y[~present]
        if len(a) < min_presence or len(b) < min_presence:
            continue
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = math.sqrt(va + vb)
        if se == 0:
            continue
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        difference = float(a.mean() - b.mean())
        half = float(stats.t.ppf(0.5 + level / 2, df)) * se
        found.append(dict(
            touchpoint=name,
            with_touchpoint=len(a),
            without_touchpoint=len(b),
            outcome_with=float(a.mean()),
            outcome_without=float(b.mean()),
            difference=difference,
            ci_low=difference - half,
            ci_high=difference + half,
            p_value=float(2 * stats.t.sf(abs(difference) / se, df)),
            significant=bool(abs(difference) > half),
        ))
    found.sort(key=lambda p: (not p["significant"], -abs(p["difference"]), p["touchpoint"]))
    return tuple(PresenceEffect(**p, rank=r) for r, p in enumerate(found, start=1))
