"""Pre-action: who is likely to become dissatisfied or leave soon, and what to do first.

Definitions:

- *Reference date* (``as_of``): features see only data strictly before its midnight (naive
  UTC); labels come from the ``horizon_days`` days from that midnight on.
- *Population* on a reference date: customers with an event before it and no exit event
  before it (they have not left yet); when transactions are given, also at least one
  transaction before it (a prospect who never bought is not a customer to retain).
- *Labels* (:class:`RiskTarget`): *churn* = an event at an exit touchpoint in the
  horizon; *dissatisfaction* = a feedback score below its metric's limit in the horizon
  (:data:`corridor.revenue_risk.DEFAULT_SCORE_LIMITS`: NPS 0-6, CSAT 1-2, CES 1-3 of 7);
  *either* = one or the other. A customer who gives no feedback counts as not
  dissatisfied: the label is "will tell us they are unhappy", which is what can be checked.
- *Features* (:func:`risk_features`), per customer, from the data before the date:
  journey counts over trailing windows (default 7, 30 and 365 days: events, support
  contacts, failed or abandoned contacts, hours waited, loops, ping-pongs, channel
  switches, hand-offs, support cases, low scores), days since the last event and the last
  support contact, tenure, days an order has been waiting for its first use-stage event,
  surveys answered, and value (spend and margin in the last 365 days, purchase days, days
  since the last purchase: recency and frequency as in RFM). "Days since" values are
  capped at :data:`NEVER_DAYS`, which also stands for "never". A loop is a visit to a
  touchpoint its case has visited before; a ping-pong, channel switch or hand-off compares
  an event with the one (or two) before it in its case, in (timestamp, seq) order (loops
  and ping-pongs as in :mod:`corridor.loops`, hand-offs as in :mod:`corridor.handoffs`).
  All reference dates are computed in one query per table: lags and visit numbers look
  only backwards, so computing them once over all events gives every date the values its
  own history would.
- *Training* (:class:`RiskModel`): reference dates at least ``horizon_days`` apart, so no
  two label windows overlap. The last date is the holdout; the one before it is the
  validation date, on which the learner is chosen (best AUC among the candidates) and the
  probabilities are calibrated (Platt's sigmoid or isotonic regression, scikit-learn's
  ``CalibratedClassifierCV`` on the frozen model); the earlier dates train the learner.
  The holdout is never used for a choice, so its metrics are an honest out-of-time test.
- *Holdout metrics* (:class:`HoldoutMetrics`): AUC, precision in the top k, Brier score,
  and the expected calibration error over equal-count bins, Σ (n_b / n) · |mean predicted
  − observed rate| (the adaptive binning of Nixon et al., 2019, "Measuring Calibration in
  Deep Learning": risks are small, so equal-width bins would put nearly everyone in one).
- *Reasons*: a feature's contribution for one customer is the change in the model's
  log-odds when that feature alone is set to its typical (training median) value. For a
  logistic model this is coefficient × (x − typical) on the model's scale; for boosted
  trees it is a one-feature perturbation. The reasons are the features with the largest
  positive contributions, one per feature family (``support_contacts_30d`` and
  ``support_contacts_365d`` say the same thing twice).
- *Proactive queue* (:func:`proactive_queue`): customers ranked by risk × value, where
  value is the customer's CLV from :mod:`corridor.lifetime` (purchases up to the day
  before the reference date) and, for customers without a CLV, their margin over the last
  365 days (amount where transactions carry no margin); a caller's own value table can be
  passed instead. Each gets the action of the first of its reasons that an
  :class:`ActionRule` covers (:data:`DEFAULT_ACTION_RULES`), else :data:`DEFAULT_ACTION`.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from threadpoolctl import threadpool_limits

from .customers import require_columns
from .errors import AnalysisError, CorridorError, InputError
from .flow import epoch_millis, from_touchpoints
from .lifetime import lifetime_values
from .ordering import case_window
from .revenue_risk import DEFAULT_SCORE_LIMITS, ScoreLimit
from .rfm import as_day
from .schema import METRICS

DAY_MS = 86_400_000
NEVER_DAYS = 1000.0  # "days since" for never, and the cap for anything longer ago
EPOCH = dt.datetime(1970, 1, 1)
EVENT_COLUMNS = ("customer_id", "case_id", "touchpoint", "timestamp", "channel", "outcome",
                 "wait_seconds", "department_id", "seq")
FAILED_OUTCOMES = ("failed", "abandoned")


class RiskTarget(str, enum.Enum):
    CHURN = "churn"
    DISSATISFACTION = "dissatisfaction"
    EITHER = "either"


class Learner(str, enum.Enum):
    LOGISTIC = "logistic"  # standardised log(1 + x) features, L2-penalised
    GRADIENT_BOOSTING = "gradient_boosting"  # scikit-learn's histogram boosting


class Calibration(str, enum.Enum):
    SIGMOID = "sigmoid"  # Platt scaling: keeps the ranking
    ISOTONIC = "isotonic"  # monotone steps: may tie customers


@dataclass(frozen=True)
class RiskTables:
    """The canonical tables the risk model reads (feedback for dissatisfaction and its
    features, transactions for value, touchpoints for stages and the exit touchpoint)."""

    events: ir.Table
    feedback: ir.Table | None = None
    transactions: ir.Table | None = None
    touchpoints: ir.Table | None = None


def risk_tables(project) -> RiskTables:
    """A project's tables (a :class:`corridor.store.Project`)."""
    return RiskTables(project.table("events"), project.table("feedback"),
                      project.table("transactions"), project.table("touchpoints"))


# ---- features ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureFamily:
    name: str
    description: str
    windowed: bool  # one feature per trailing window, named <name>_<days>d


FEATURE_FAMILIES: tuple[FeatureFamily, ...] = (
    FeatureFamily("events", "events of any kind", True),
    FeatureFamily("support_contacts", "contacts at support-stage touchpoints", True),
    FeatureFamily("failed_contacts", "contacts that failed or were abandoned", True),
    FeatureFamily("failed_support_contacts", "support contacts that failed or were abandoned", True),
    FeatureFamily("wait_hours", "hours spent waiting (queues and appointments)", True),
    FeatureFamily("loops", "visits to a touchpoint the case had visited before", True),
    FeatureFamily("pingpongs", "bounces A -> B -> A within a case", True),
    FeatureFamily("channel_switches", "changes of channel from one event of a case to the next", True),
    FeatureFamily("handoffs", "changes of department from one event of a case to the next", True),
    FeatureFamily("support_cases", "cases with a support contact", True),
    FeatureFamily("low_scores", "feedback scores below their metric's limit", True),
    FeatureFamily("days_since_last_event", "days since the customer's last event", False),
    FeatureFamily("days_since_last_support_contact", "days since the last support contact", False),
    FeatureFamily("tenure_days", "days since the customer's first event", False),
    FeatureFamily("pending_purchase_days",
                  "days since a purchase-stage event not yet followed by a use-stage event", False),
    FeatureFamily("surveys_answered", "feedback answers given", False),
    FeatureFamily("spend_last_year", "amount of transactions in the 365 days before", False),
    FeatureFamily("margin_last_year", "margin of transactions in the 365 days before", False),
    FeatureFamily("purchase_days", "distinct days with a purchase (RFM frequency)", False),
    FeatureFamily("days_since_last_purchase", "days since the last purchase (RFM recency)", False),
)
FAMILIES = {f.name: f for f in FEATURE_FAMILIES}
DEFAULT_WINDOWS = (7, 30, 365)


def feature_names(windows_days: Sequence[int] = DEFAULT_WINDOWS) -> tuple[str, ...]:
    """The model's feature columns, in order."""
    names = []
    for family in FEATURE_FAMILIES:
        if family.windowed:
            names += [f"{family.name}_{w}d" for w in windows_days]
        else:
            names.append(family.name)
    return tuple(names)


def family_of(feature: str) -> FeatureFamily:
    if feature in FAMILIES:
        return FAMILIES[feature]
    head, _, tail = feature.rpartition("_")
    if head in FAMILIES and tail.endswith("d") and tail[:-1].isdigit():
        return FAMILIES[head]
    raise InputError(f"{feature!r} is not a risk feature; expected one of {', '.join(FAMILIES)}.")


def _check_windows(windows_days) -> tuple[int, ...]:
    windows = tuple(windows_days) if isinstance(windows_days, (list, tuple)) else None
    if not windows or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in windows):
        raise InputError(
            f"windows_days must be a list of positive whole numbers of days; got {windows_days!r}.")
    if len(set(windows)) != len(windows):
        raise InputError(f"windows_days must not repeat a window; got {windows_days!r}.")
    return tuple(sorted(windows))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _millis(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def _stage_touchpoints(tables: RiskTables, stage: str) -> tuple[str, ...]:
    tp = tables.touchpoints
    if tp is None or "stage" not in tp.columns:
        return ()
    frame = tp.filter(tp.stage == stage).select("touchpoint").distinct().execute()
    return tuple(sorted(str(t) for t in frame["touchpoint"]))


def _low_score(feedback: ir.Table, limits: Sequence[ScoreLimit]) -> ir.BooleanValue:
    low = ibis.literal(False)
    for limit in limits:
        below = feedback.score.cast("float64") < float(limit.below)
        low = low | ((feedback.metric == limit.metric) & below)
    return low


def _check_limits(limits) -> tuple[ScoreLimit, ...]:
    limits = tuple(limits)
    for limit in limits:
        if not isinstance(limit, ScoreLimit) or limit.metric not in METRICS:
            raise InputError(f"Score limits must name a metric among {', '.join(METRICS)}; got {limit!r}.")
    return limits


def _cut_table(days: Sequence[dt.date]) -> ir.Table:
    """One row per reference date: ``_cut_ms``, its midnight in milliseconds since 1970."""
    cuts = np.array([_millis(_midnight(d)) for d in days], dtype="int64")
    return ibis.memtable(pd.DataFrame({"_cut_ms": cuts}))


def _per_cut(table: ir.Table, days: Sequence[dt.date]) -> ir.Table:
    """Each row of ``table`` (with ``_ms``) once per reference date it comes before, with
    its age in days on that date."""
    joined = table.cross_join(_cut_table(days))
    joined = joined.filter(joined._ms < joined._cut_ms)
    return joined.mutate(_age=(joined._cut_ms - joined._ms).cast("float64") / DAY_MS)


def _event_features(tables: RiskTables, days: Sequence[dt.date], windows: tuple[int, ...],
                    exits: tuple[str, ...]) -> ir.Table:
    events = tables.events
    require_columns(events, EVENT_COLUMNS, "events")
    ev = from_touchpoints(events, tables.touchpoints, fill=("department_id", "channel"), add=("stage",))
    w = case_window(ev)
    visits = ibis.window(group_by=[ev.case_id, ev.touchpoint], order_by=[ev.timestamp, ev.seq])
    prev_channel, prev_department = ev.channel.lag().over(w), ev.department_id.lag().over(w)
    prev_touchpoint, prev2_touchpoint = ev.touchpoint.lag().over(w), ev.touchpoint.lag(2).over(w)
    support = (ev.stage == "support").fill_null(False)
    failed = ev.outcome.isin(FAILED_OUTCOMES).fill_null(False)
    ev = ev.select(
        "customer_id", "case_id",
        _ms=epoch_millis(ev.timestamp),
        _wait=ev.wait_seconds.cast("float64"),
        _support=support,
        _failed_contacts=failed,
        _failed_support_contacts=support & failed,
        _loops=ibis.row_number().over(visits) >= 1,
        _pingpongs=((prev2_touchpoint == ev.touchpoint)
                    & (prev_touchpoint != ev.touchpoint)).fill_null(False),
        _channel_switches=(prev_channel != ev.channel).fill_null(False),
        _handoffs=(prev_department != ev.department_id).fill_null(False),
        _purchase=(ev.stage == "purchase").fill_null(False),
        _use=(ev.stage == "use").fill_null(False),
        _exit=ev.touchpoint.isin(exits) if exits else ibis.literal(False),
    )
    ev = _per_cut(ev, days)
    metrics = {}
    for d in windows:
        inside = ev._age < d
        metrics[f"events_{d}d"] = ev.count(where=inside)
        metrics[f"support_contacts_{d}d"] = ev.count(where=inside & ev._support)
        for name in ("failed_contacts", "failed_support_contacts", "loops", "pingpongs", "channel_switches",
                     "handoffs"):
            metrics[f"{name}_{d}d"] = ev.count(where=inside & ev[f"_{name}"])
        metrics[f"wait_hours_{d}d"] = ev._wait.sum(where=inside) / 3600.0
        metrics[f"support_cases_{d}d"] = ev.case_id.nunique(where=inside & ev._support)
    metrics.update(
        _last_age=ev._age.min(),
        _first_age=ev._age.max(),
        _last_support_age=ev._age.min(where=ev._support),
        _last_purchase_age=ev._age.min(where=ev._purchase),
        _last_use_age=ev._age.min(where=ev._use),
        _exits=ev.count(where=ev._exit),
    )
    return ev.group_by(["_cut_ms", "customer_id"]).aggregate(**metrics)


def _feedback_features(feedback: ir.Table, days: Sequence[dt.date], windows: tuple[int, ...],
                       limits: tuple[ScoreLimit, ...]) -> ir.Table:
    require_columns(feedback, ["customer_id", "timestamp", "metric", "score"], "feedback")
    fb = feedback.select("customer_id", _ms=epoch_millis(feedback.timestamp),
                         _low=_low_score(feedback, limits).fill_null(False))
    fb = _per_cut(fb, days)
    metrics = {f"low_scores_{d}d": fb.count(where=fb._low & (fb._age < d)) for d in windows}
    metrics["surveys_answered"] = fb.count()
    return fb.group_by(["_cut_ms", "customer_id"]).aggregate(**metrics)


def _value_features(transactions: ir.Table, days: Sequence[dt.date]) -> ir.Table:
    require_columns(transactions, ["customer_id", "timestamp", "amount"], "transactions")
    tx = transactions
    purchase = tx.kind == "purchase" if "kind" in tx.columns else ibis.literal(True)
    tx = tx.select(
        "customer_id",
        _ms=epoch_millis(tx.timestamp.cast("timestamp")),
        _amount=tx.amount.cast("float64"),
        _margin=(tx.margin if "margin" in tx.columns else tx.amount).cast("float64"),
        _purchase=purchase.fill_null(False),
    )
    tx = _per_cut(tx, days)
    last_year = tx._age < 365
    day_before = (tx._age - 1e-9).floor()  # cuts are midnights: one number per calendar day
    return tx.group_by(["_cut_ms", "customer_id"]).aggregate(
        spend_last_year=tx._amount.sum(where=last_year),
        margin_last_year=tx._margin.sum(where=last_year),
        purchase_days=day_before.nunique(where=tx._purchase),
        _last_buy_age=tx._age.min(where=tx._purchase),
    )


def _since(age: pd.Series) -> pd.Series:
    return age.astype("float64").clip(upper=NEVER_DAYS).fillna(NEVER_DAYS)


def risk_features(
    tables: RiskTables,
    as_of: dt.date | str,
    *,
    windows_days: Sequence[int] = DEFAULT_WINDOWS,
    exit_touchpoints: Sequence[str] | None = None,
    score_limits: Sequence[ScoreLimit] = DEFAULT_SCORE_LIMITS,
) -> pd.DataFrame:
    """One row per customer in the population on ``as_of``: ``customer_id`` and every
    column of :func:`feature_names`, from the data before ``as_of`` only."""
    day = as_day(as_of, "as_of")
    windows = _check_windows(windows_days)
    exits = _exits(tables, exit_touchpoints, needed=False)
    frame = _features(tables, (day,), windows, exits, _check_limits(score_limits))
    return frame.drop(columns="as_of")


def _pulled(expr: ir.Table) -> pd.DataFrame:
    frame = expr.execute()
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["_cut_ms"] = frame["_cut_ms"].astype("int64")
    return frame


def _features(tables: RiskTables, days: Sequence[dt.date], windows: tuple[int, ...], exits: tuple[str, ...],
              limits: tuple[ScoreLimit, ...]) -> pd.DataFrame:
    """The features of every reference date's population, with ``as_of`` first."""
    keys = ["_cut_ms", "customer_id"]
    frame = _pulled(_event_features(tables, days, windows, exits))
    frame = frame[frame["_exits"].fillna(0) == 0]
    if tables.feedback is not None:
        frame = frame.merge(_pulled(_feedback_features(tables.feedback, days, windows, limits)), on=keys,
                            how="left")
    if tables.transactions is not None:
        frame = frame.merge(_pulled(_value_features(tables.transactions, days)), on=keys, how="inner")
    by_ms = {_millis(_midnight(d)): d for d in days}
    out = pd.DataFrame({"as_of": frame["_cut_ms"].map(by_ms).to_numpy(),
                        "customer_id": frame["customer_id"].to_numpy()})
    for name in feature_names(windows):
        if name in frame.columns:
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64").fillna(0.0).to_numpy()
        else:
            out[name] = 0.0
    out["days_since_last_event"] = _since(frame["_last_age"]).to_numpy()
    out["days_since_last_support_contact"] = _since(frame["_last_support_age"]).to_numpy()
    out["tenure_days"] = frame["_first_age"].astype("float64").to_numpy()
    purchase, use = frame["_last_purchase_age"].astype("float64"), frame["_last_use_age"].astype("float64")
    waiting = purchase.notna() & (use.isna() | (use > purchase))
    out["pending_purchase_days"] = np.where(waiting, purchase.fillna(0.0), 0.0)
    if "_last_buy_age" in frame.columns:
        out["days_since_last_purchase"] = _since(frame["_last_buy_age"]).to_numpy()
    else:
        out["days_since_last_purchase"] = NEVER_DAYS
    return out.sort_values(["as_of", "customer_id"], ignore_index=True)


def _exits(tables: RiskTables, exit_touchpoints: Sequence[str] | None, *, needed: bool) -> tuple[str, ...]:
    if exit_touchpoints is not None:
        names = (exit_touchpoints,) if isinstance(exit_touchpoints, str) else tuple(exit_touchpoints)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InputError(f"exit_touchpoints must be touchpoint names; got {exit_touchpoints!r}.")
        return names
    names = _stage_touchpoints(tables, "exit")
    if needed and not names:
        raise InputError("Churn needs the exit touchpoint: pass exit_touchpoints, or a touchpoints "
                         "table with a touchpoint in the 'exit' stage.")
    return names


# ---- labels -----------------------------------------------------------------------------


def risk_labels(
    tables: RiskTables,
    as_of: dt.date | str,
    *,
    horizon_days: int = 30,
    target: RiskTarget | str = RiskTarget.EITHER,
    exit_touchpoints: Sequence[str] | None = None,
    score_limits: Sequence[ScoreLimit] = DEFAULT_SCORE_LIMITS,
) -> pd.DataFrame:
    """The customers who churned or gave a low score in the ``horizon_days`` from
    ``as_of`` on: ``customer_id`` (customers not listed did neither)."""
    target = _target(target)
    horizon = _horizon(horizon_days)
    exits = _exits(tables, exit_touchpoints, needed=target is not RiskTarget.DISSATISFACTION)
    day = as_day(as_of, "as_of")
    labels = _labels(tables, (day,), horizon, target, exits, _check_limits(score_limits))
    return labels[["customer_id"]]


def _labels(tables: RiskTables, days: Sequence[dt.date], horizon: int, target: RiskTarget,
            exits: tuple[str, ...], limits: tuple[ScoreLimit, ...]) -> pd.DataFrame:
    """(as_of, customer_id) of every customer with the target event in the horizon."""
    parts = []
    if target is not RiskTarget.DISSATISFACTION:
        ev = tables.events
        ev = ev.filter(ev.touchpoint.isin(exits)).select("customer_id", _ms=epoch_millis(ev.timestamp))
        parts.append(ev)
    if target is not RiskTarget.CHURN:
        if tables.feedback is None:
            raise InputError("Dissatisfaction is read from feedback scores; pass the feedback table.")
        fb = tables.feedback
        require_columns(fb, ["customer_id", "timestamp", "metric", "score"], "feedback")
        fb = fb.filter(_low_score(fb, limits)).select("customer_id", _ms=epoch_millis(fb.timestamp))
        parts.append(fb)
    happened = ibis.union(*parts) if len(parts) > 1 else parts[0]
    joined = happened.cross_join(_cut_table(days))
    joined = joined.filter((joined._ms >= joined._cut_ms) & (joined._ms < joined._cut_ms + horizon * DAY_MS))
    frame = _pulled(joined.select("_cut_ms", "customer_id").distinct())
    by_ms = {_millis(_midnight(d)): d for d in days}
    out = pd.DataFrame({"as_of": frame["_cut_ms"].map(by_ms), "customer_id": frame["customer_id"]})
    return out.sort_values(["as_of", "customer_id"], ignore_index=True)


def data_end(tables: RiskTables) -> dt.date:
    """The day after the last event: label windows must end by then to be observed."""
    last = tables.events.timestamp.max().execute()
    if last is None or pd.isna(last):
        raise AnalysisError("There are no events, so there is no journey to learn risk from.")
    return pd.Timestamp(last).date() + dt.timedelta(days=1)


def reference_dates(tables: RiskTables, *, horizon_days: int = 30, count: int = 4) -> tuple[dt.date, ...]:
    """``count`` reference dates ``horizon_days`` apart, the last one as late as the data
    allow (its label window ends with the data): the dates :meth:`RiskModel.fit` wants."""
    horizon = _horizon(horizon_days)
    if not isinstance(count, int) or isinstance(count, bool) or count < 3:
        raise InputError(
            f"count must be a whole number of at least 3 (train, calibrate, test); got {count!r}.")
    last = data_end(tables) - dt.timedelta(days=horizon)
    return tuple(last - dt.timedelta(days=horizon * i) for i in reversed(range(count)))


def _target(target) -> RiskTarget:
    try:
        return RiskTarget(target)
    except ValueError:
        raise InputError(f"target must be one of {', '.join(t.value for t in RiskTarget)}; "
                         f"got {target!r}.") from None


def _horizon(horizon_days) -> int:
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or horizon_days < 1:
        raise InputError(f"horizon_days must be a whole number of days, at least 1; got {horizon_days!r}.")
    return horizon_days


# ---- metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """Customers of one equal-count bin of predicted risk."""

    low: float  # lowest predicted risk in the bin
    high: float
    customers: int
    mean_predicted: float
    observed_rate: float

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "customers": self.customers,
                "mean_predicted": self.mean_predicted, "observed_rate": self.observed_rate}


@dataclass(frozen=True)
class HoldoutMetrics:
    as_of: dt.date
    customers: int
    positives: int
    base_rate: float
    auc: float | None  # None when the holdout has only one class
    top_k: int
    precision_at_k: float
    lift_at_k: float | None  # precision at k / base rate
    brier: float
    brier_of_base_rate: float  # what always predicting the holdout's base rate would score
    expected_calibration_error: float
    bins: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(), "customers": self.customers, "positives": self.positives,
            "base_rate": self.base_rate, "auc": self.auc, "top_k": self.top_k,
            "precision_at_k": self.precision_at_k, "lift_at_k": self.lift_at_k, "brier": self.brier,
            "brier_of_base_rate": self.brier_of_base_rate,
            "expected_calibration_error": self.expected_calibration_error,
            "bins": [b.to_dict() for b in self.bins],
        }


def top_count(top: int | float, n: int) -> int:
    """k for "the top k": a share of ``n`` (0 < top < 1, rounded up) or a count."""
    if isinstance(top, bool) or not isinstance(top, (int, float)) or top <= 0 or (
            isinstance(top, float) and top >= 1):
        raise InputError(f"top must be a share between 0 and 1 or a whole number of customers; got {top!r}.")
    return min(n, math.ceil(top * n) if isinstance(top, float) else int(top))


def holdout_metrics(as_of: dt.date, risk: np.ndarray, label: np.ndarray, *, top: int | float = 0.05,
                    bins: int = 10) -> HoldoutMetrics:
    """The metrics of predicted risks against what happened."""
    from sklearn.metrics import roc_auc_score

    risk, label = np.asarray(risk, dtype="float64"), np.asarray(label, dtype="int64")
    n = len(risk)
    if n == 0:
        raise AnalysisError(f"No customer to evaluate on {as_of.isoformat()}.")
    positives = int(label.sum())
    base = positives / n
    k = top_count(top, n)
    order = np.argsort(-risk, kind="stable")
    precision = float(label[order[:k]].mean()) if k else 0.0
    auc = float(roc_auc_score(label, risk)) if 0 < positives < n else None
    brier = float(np.mean((risk - label) ** 2))
    chunks = [c for c in np.array_split(np.argsort(risk, kind="stable"), min(bins, n)) if len(c)]
    table = tuple(ReliabilityBin(float(risk[c].min()), float(risk[c].max()), len(c), float(risk[c].mean()),
                                 float(label[c].mean())) for c in chunks)
    ece = sum(b.customers / n * abs(b.mean_predicted - b.observed_rate) for b in table)
    return HoldoutMetrics(as_of, n, positives, base, auc, k, precision, precision / base if base else None,
                          brier, base * (1 - base), float(ece), table)


# ---- the model --------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnerScore:
    learner: Learner
    validation_auc: float | None

    def to_dict(self) -> dict:
        return {"learner": self.learner.value, "validation_auc": self.validation_auc}


@dataclass(frozen=True)
class RiskFit:
    """How the model was trained, and how it did on the holdout date."""

    target: RiskTarget
    horizon_days: int
    train_dates: tuple[dt.date, ...]
    validation_date: dt.date  # chooses the learner and fits the calibration
    holdout_date: dt.date
    training_rows: int
    training_base_rate: float
    candidates: tuple[LearnerScore, ...]
    learner: Learner
    calibration: Calibration
    features: tuple[str, ...]
    holdout: HoldoutMetrics

    def to_dict(self) -> dict:
        return {
            "target": self.target.value, "horizon_days": self.horizon_days,
            "train_dates": [d.isoformat() for d in self.train_dates],
            "validation_date": self.validation_date.isoformat(),
            "holdout_date": self.holdout_date.isoformat(), "training_rows": self.training_rows,
            "training_base_rate": self.training_base_rate,
            "candidates": [c.to_dict() for c in self.candidates], "learner": self.learner.value,
            "calibration": self.calibration.value, "features": list(self.features),
            "holdout": self.holdout.to_dict(),
        }


@dataclass(frozen=True)
class RiskScores:
    as_of: dt.date
    target: RiskTarget
    horizon_days: int
    per_customer: pa.Table = field(repr=False, compare=False)  # customer_id, risk; highest first

    @property
    def customers(self) -> int:
        return self.per_customer.num_rows

    def table(self) -> ir.Table:
        return ibis.memtable(self.per_customer)

    def to_dict(self) -> dict:
        risk = self.per_customer.column("risk").to_numpy()
        return {"as_of": self.as_of.isoformat(), "target": self.target.value,
                "horizon_days": self.horizon_days, "customers": self.customers,
                "expected_customers_at_risk": float(risk.sum()),
                "mean_risk": float(risk.mean()) if len(risk) else None}


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _estimator(learner: Learner, random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if learner is Learner.LOGISTIC:
        return make_pipeline(FunctionTransformer(_signed_log), StandardScaler(),
                             LogisticRegression(C=0.05, max_iter=2000))
    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_leaf_nodes=15,
                                          min_samples_leaf=50, l2_regularization=1.0,
                                          early_stopping=False, random_state=random_state)


class RiskModel:
    """Probability that a customer churns or gives a low score within ``horizon_days``
    of a reference date, from journey and value features built before it.

    ``fit(tables, as_of=[dates])`` trains on all dates but the last two, picks the learner
    and calibrates on the second-to-last, and tests on the last (see the module
    docstring). Learned state: ``learner_``, ``estimator_`` (calibrated),
    ``model_`` (uncalibrated, for reasons), ``features_``, ``typical_`` (training
    medians), ``exit_touchpoints_`` and ``fit_`` (a :class:`RiskFit`).

    ``n_threads`` caps the threads of model fitting and scoring (None: all cores). One is
    the default because per-customer frames are small: on a shared two-core machine
    OpenMP's waiting threads made histogram boosting six times slower, not faster."""

    def __init__(
        self,
        horizon_days: int = 30,
        target: RiskTarget | str = RiskTarget.EITHER,
        *,
        learners: Sequence[Learner | str] = (Learner.LOGISTIC, Learner.GRADIENT_BOOSTING),
        calibration: Calibration | str = Calibration.SIGMOID,
        windows_days: Sequence[int] = DEFAULT_WINDOWS,
        exit_touchpoints: Sequence[str] | None = None,
        score_limits: Sequence[ScoreLimit] = DEFAULT_SCORE_LIMITS,
        top: int | float = 0.05,
        calibration_bins: int = 10,
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.horizon_days = horizon_days
        self.target = target
        self.learners = learners
        self.calibration = calibration
        self.windows_days = windows_days
        self.exit_touchpoints = exit_touchpoints
        self.score_limits = score_limits
        self.top = top
        self.calibration_bins = calibration_bins
        self.random_state = random_state
        self.n_threads = n_threads

    # -- parameters ---------------------------------------------------------------------
    def _checked(self):
        target = _target(self.target)
        horizon = _horizon(self.horizon_days)
        try:
            learners = tuple(dict.fromkeys(Learner(x) for x in self.learners))
        except (TypeError, ValueError):
            raise InputError(f"learners must be among {', '.join(x.value for x in Learner)}; "
                             f"got {self.learners!r}.") from None
        if not learners:
            raise InputError("learners must name at least one learner.")
        try:
            calibration = Calibration(self.calibration)
        except ValueError:
            raise InputError(f"calibration must be one of {', '.join(c.value for c in Calibration)}; "
                             f"got {self.calibration!r}.") from None
        top_count(self.top, 1)
        threads = self.n_threads
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise InputError(
                f"n_threads must be a whole number, at least 1, or None for all cores; got {threads!r}.")
        bins = self.calibration_bins
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
            raise InputError(f"calibration_bins must be a whole number, at least 1; got {bins!r}.")
        return target, horizon, learners, calibration, _check_windows(self.windows_days), \
            _check_limits(self.score_limits)

    def _dates(self, as_of, horizon: int) -> tuple[dt.date, ...]:
        values = [as_of] if isinstance(as_of, (str, dt.date)) else list(as_of or [])
        dates = sorted(as_day(v, "as_of") for v in values)
        if len(dates) < 3:
            raise InputError(f"fit needs at least three reference dates (train, calibrate, test); "
                             f"got {len(dates)}.")
        for before, after in zip(dates, dates[1:]):
            if (after - before).days < horizon:
                raise InputError(
                    f"Reference dates must be at least horizon_days ({horizon}) apart so that label "
                    f"windows do not overlap; {before.isoformat()} and {after.isoformat()} are "
                    f"{(after - before).days} days apart.")
        return tuple(dates)

    def _check_observable(self, tables: RiskTables, day: dt.date, horizon: int) -> None:
        end = data_end(tables)
        if day + dt.timedelta(days=horizon) > end:
            latest = end - dt.timedelta(days=horizon)
            raise AnalysisError(
                f"The data end on {(end - dt.timedelta(days=1)).isoformat()}, so the {horizon} days after "
                f"{day.isoformat()} cannot be observed; choose reference dates on or before "
                f"{latest.isoformat()}.")

    def _rows(self, tables, days, windows, exits, limits, target, horizon) -> pd.DataFrame:
        """Features and labels of every reference date's population."""
        rows = _features(tables, days, windows, exits, limits)
        for day in days:
            if not (rows["as_of"] == day).any():
                raise AnalysisError(f"No customer has a history before {day.isoformat()}.")
        labels = _labels(tables, days, horizon, target, exits, limits)
        labels["label"] = np.int64(1)
        rows = rows.merge(labels, on=["as_of", "customer_id"], how="left")
        rows["label"] = rows["label"].fillna(0).astype("int64")
        return rows

    # -- fitting ------------------------------------------------------------------------
    def fit(self, tables: RiskTables, as_of: Sequence[dt.date | str]) -> RiskModel:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator
        from sklearn.metrics import roc_auc_score

        target, horizon, learners, calibration, windows, limits = self._checked()
        dates = self._dates(as_of, horizon)
        self._check_observable(tables, dates[-1], horizon)
        exits = _exits(tables, self.exit_touchpoints, needed=target is not RiskTarget.DISSATISFACTION)
        names = feature_names(windows)
        rows = self._rows(tables, dates, windows, exits, limits, target, horizon)
        train = rows[rows["as_of"] < dates[-2]]
        valid, test = rows[rows["as_of"] == dates[-2]], rows[rows["as_of"] == dates[-1]]
        for part, what in ((train, "training dates"), (valid, f"validation date {dates[-2].isoformat()}")):
            if part["label"].nunique() < 2:
                who = "every" if part["label"].all() else "no"
                raise AnalysisError(f"On the {what}, {who} customer {_event_words(target)} within "
                                    f"{horizon} days; a model needs both kinds.")
        x_train, y_train = train[list(names)].to_numpy(), train["label"].to_numpy()
        x_valid, y_valid = valid[list(names)].to_numpy(), valid["label"].to_numpy()
        scores, fitted = [], {}
        for learner in learners:
            with threadpool_limits(limits=self.n_threads):
                model = _estimator(learner, self.random_state).fit(x_train, y_train)
            fitted[learner] = model
            scores.append(LearnerScore(learner, float(roc_auc_score(y_valid, self._proba(model, x_valid)))))
        best = max(scores, key=lambda s: s.validation_auc).learner
        calibrated = CalibratedClassifierCV(FrozenEstimator(fitted[best]), method=calibration.value)
        with threadpool_limits(limits=self.n_threads):
            calibrated.fit(x_valid, y_valid)
        self.learner_ = best
        self.model_ = fitted[best]
        self.estimator_ = calibrated
        self.features_ = names
        self.windows_ = windows
        self.score_limits_ = limits
        self.target_ = target
        self.horizon_ = horizon
        self.exit_touchpoints_ = exits
        self.typical_ = train[list(names)].median().to_numpy()
        risk = self._proba(calibrated, test[list(names)].to_numpy())
        holdout = holdout_metrics(dates[-1], risk, test["label"].to_numpy(), top=self.top,
                                  bins=self.calibration_bins)
        self.fit_ = RiskFit(target, horizon, dates[:-2], dates[-2], dates[-1], len(train),
                            float(y_train.mean()), tuple(scores), best, calibration, names, holdout)
        return self

    def _proba(self, estimator, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads):
            return estimator.predict_proba(x)[:, 1]

    def risk_of(self, x: np.ndarray) -> np.ndarray:
        """Calibrated risks of feature rows (columns in the order of ``features_``)."""
        self._check_fitted()
        return self._proba(self.estimator_, np.atleast_2d(np.asarray(x, dtype="float64")))

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise InputError("This RiskModel is not fitted yet; call fit(tables, as_of=[dates]) first.")

    # -- using it -----------------------------------------------------------------------
    def features(self, tables: RiskTables, as_of: dt.date | str) -> pd.DataFrame:
        """The population on ``as_of`` with the model's features."""
        self._check_fitted()
        day = as_day(as_of, "as_of")
        rows = _features(tables, (day,), self.windows_, self.exit_touchpoints_, self.score_limits_)
        if rows.empty:
            raise AnalysisError(f"No customer has a history before {day.isoformat()}.")
        return rows.drop(columns="as_of")

    def predict(self, tables: RiskTables, as_of: dt.date | str) -> RiskScores:
        """Each customer's calibrated risk on ``as_of``, highest first."""
        rows = self.features(tables, as_of)
        risk = self._proba(self.estimator_, rows[list(self.features_)].to_numpy())
        frame = pd.DataFrame({"customer_id": rows["customer_id"], "risk": risk})
        frame = frame.sort_values(["risk", "customer_id"], ascending=[False, True], ignore_index=True)
        return RiskScores(as_day(as_of, "as_of"), self.target_, self.horizon_,
                          pa.Table.from_pandas(frame, preserve_index=False))

    def evaluate(self, tables: RiskTables, as_of: dt.date | str) -> HoldoutMetrics:
        """The holdout metrics on another reference date whose horizon has been observed."""
        self._check_fitted()
        day = as_day(as_of, "as_of")
        self._check_observable(tables, day, self.horizon_)
        rows = self._rows(tables, (day,), self.windows_, self.exit_touchpoints_, self.score_limits_,
                          self.target_, self.horizon_)
        risk = self._proba(self.estimator_, rows[list(self.features_)].to_numpy())
        return holdout_metrics(day, risk, rows["label"].to_numpy(), top=self.top, bins=self.calibration_bins)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature: the change in log-odds when the feature alone is set to its
        typical value (positive: the feature pushes this customer's risk up)."""
        self._check_fitted()
        x = np.atleast_2d(np.asarray(x, dtype="float64"))
        base = _log_odds(self._proba(self.model_, x))
        out = np.empty_like(x)
        for j in range(x.shape[1]):
            moved = x.copy()
            moved[:, j] = self.typical_[j]
            out[:, j] = base - _log_odds(self._proba(self.model_, moved))
        return out


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _event_words(target: RiskTarget) -> str:
    return {RiskTarget.CHURN: "left", RiskTarget.DISSATISFACTION: "gave a low score",
            RiskTarget.EITHER: "left or gave a low score"}[target]


# ---- the proactive queue ----------------------------------------------------------------


@dataclass(frozen=True)
class ActionRule:
    """When ``feature`` (a feature family, e.g. ``failed_contacts``) is the first of a
    customer's reasons that any rule covers, suggest ``action``; ``because`` says why."""

    feature: str
    action: str
    because: str

    def to_dict(self) -> dict:
        return {"feature": self.feature, "action": self.action, "because": self.because}


DEFAULT_ACTION_RULES: tuple[ActionRule, ...] = (
    ActionRule("failed_contacts", "Call back from a senior agent",
               "the customer tried to reach us and failed; reach them before they try again"),
    ActionRule("failed_support_contacts", "Call back from a senior agent",
               "the customer tried to reach support and failed; reach them before they try again"),
    ActionRule("wait_hours", "Apologise and expedite the open request",
               "the customer has waited long; a firm date and an apology stop the wait from festering"),
    ActionRule("pending_purchase_days", "Confirm a firm date and expedite the order",
               "the order has not reached its first use yet"),
    ActionRule("loops", "Assign a case owner",
               "the same step keeps repeating; one owner sees the case through"),
    ActionRule("pingpongs", "Assign a case owner",
               "the case bounces between touchpoints; one owner ends the ping-pong"),
    ActionRule("handoffs", "Assign a case owner across departments",
               "the case is passed between departments"),
    ActionRule("channel_switches", "Resolve it in one contact on the customer's preferred channel",
               "the customer had to switch channels to be heard"),
    ActionRule("support_cases", "Proactive check-in from customer care",
               "the customer needed support recently"),
    ActionRule("support_contacts", "Proactive check-in from customer care",
               "the customer contacted support recently"),
    ActionRule("days_since_last_support_contact", "Follow up on the recent support case",
               "a support case has just ended; confirm it is solved"),
    ActionRule("low_scores", "Service-recovery call: listen, apologise and fix",
               "the customer has told us they are unhappy"),
)


@dataclass(frozen=True)
class SuggestedAction:
    action: str
    because: str
    rule_feature: str | None  # the feature family whose rule chose it; None: the default

    def to_dict(self) -> dict:
        return {"action": self.action, "because": self.because, "rule_feature": self.rule_feature}


DEFAULT_ACTION = SuggestedAction("Personal check-in from the retention team",
                                 "no specific journey problem stands out", None)


@dataclass(frozen=True)
class Reason:
    feature: str
    description: str
    value: float
    typical: float  # the training median
    contribution: float  # change in log-odds against the typical value

    def to_dict(self) -> dict:
        return {"feature": self.feature, "description": self.description, "value": self.value,
                "typical": self.typical, "contribution": self.contribution}


@dataclass(frozen=True)
class QueueItem:
    rank: int
    customer_id: str
    risk: float
    value: float
    value_source: str  # clv | margin | given | none (no value: counts as 0)
    priority: float  # risk × value
    reasons: tuple[Reason, ...]
    action: SuggestedAction

    def to_dict(self) -> dict:
        return {"rank": self.rank, "customer_id": self.customer_id, "risk": self.risk, "value": self.value,
                "value_source": self.value_source, "priority": self.priority,
                "reasons": [r.to_dict() for r in self.reasons], "action": self.action.to_dict()}


@dataclass(frozen=True)
class ProactiveQueue:
    as_of: dt.date
    target: RiskTarget
    horizon_days: int
    customers_scored: int
    rules: tuple[ActionRule, ...]
    items: tuple[QueueItem, ...]

    def to_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "target": self.target.value,
                "horizon_days": self.horizon_days, "customers_scored": self.customers_scored,
                "rules": [r.to_dict() for r in self.rules], "default_action": DEFAULT_ACTION.to_dict(),
                "items": [i.to_dict() for i in self.items]}


def check_rules(rules: Sequence[ActionRule]) -> tuple[ActionRule, ...]:
    rules = tuple(rules)
    for rule in rules:
        if not isinstance(rule, ActionRule) or rule.feature not in FAMILIES:
            feature = getattr(rule, "feature", rule)
            raise InputError(f"An action rule must name a feature family among {', '.join(FAMILIES)}; "
                             f"got {feature!r}.")
    return rules


def customer_values(tables: RiskTables, as_of: dt.date | str) -> pd.DataFrame:
    """Per customer: ``value`` and ``value_source``: the CLV from purchases up to the day
    before ``as_of`` where :func:`corridor.lifetime.lifetime_values` gives one, else the
    margin (or amount) of the 365 days before ``as_of``."""
    if tables.transactions is None:
        raise InputError(
            "The queue ranks by risk × value and needs the transactions table or a values table.")
    day = as_day(as_of, "as_of")
    frame = _pulled(_value_features(tables.transactions, (day,)))
    frame["value"] = pd.to_numeric(frame["margin_last_year"]).astype("float64").fillna(0.0)
    frame["value_source"] = "margin"
    try:
        clv = lifetime_values(tables.transactions, until=day - dt.timedelta(days=1)).per_customer.to_pandas()
    except CorridorError:
        clv = pd.DataFrame({"customer_id": [], "clv": []})  # no purchase model: margin for everyone
    clv = clv[np.isfinite(clv["clv"].astype("float64"))]
    by_id = dict(zip(clv["customer_id"].astype(str), clv["clv"].astype("float64")))
    has = frame["customer_id"].isin(by_id.keys())
    frame.loc[has, "value"] = frame.loc[has, "customer_id"].map(by_id)
    frame.loc[has, "value_source"] = "clv"
    return frame[["customer_id", "value", "value_source"]]


def _given_values(values: ir.Table) -> pd.DataFrame:
    require_columns(values, ["customer_id", "value"], "values")
    frame = values.select("customer_id", "value").execute()
    frame["customer_id"] = frame["customer_id"].astype(str)
    repeated = frame["customer_id"][frame["customer_id"].duplicated()]
    if len(repeated):
        raise InputError(f"The values table has more than one row for customer {repeated.iat[0]}; "
                         f"give one value per customer.")
    frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    frame["value_source"] = "given"
    return frame


def proactive_queue(
    model: RiskModel,
    tables: RiskTables,
    as_of: dt.date | str,
    *,
    size: int = 100,
    values: ir.Table | None = None,
    reasons: int = 3,
    rules: Sequence[ActionRule] = DEFAULT_ACTION_RULES,
) -> ProactiveQueue:
    """The ``size`` customers with the highest risk × value on ``as_of``, each with the
    features that pushed its risk up and a suggested action. ``values`` (customer_id,
    value) replaces the CLV-or-margin value; customers without a value count with 0."""
    for name, number in (("size", size), ("reasons", reasons)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise InputError(f"{name} must be a whole number, at least 1; got {number!r}.")
    rules = check_rules(rules)
    rows = model.features(tables, as_of)
    day = as_day(as_of, "as_of")
    x = rows[list(model.features_)].to_numpy()
    risk = model.risk_of(x)
    worth = _given_values(values) if values is not None else customer_values(tables, day)
    worth = rows[["customer_id"]].merge(worth, on="customer_id", how="left")
    value = worth["value"].fillna(0.0).clip(lower=0.0).to_numpy()
    source = worth["value_source"].fillna("none").to_numpy()
    priority = risk * value
    order = np.lexsort((rows["customer_id"].to_numpy(), -risk, -priority))[:size]
    contributions = model.contributions(x[order])
    by_family = {r.feature: r for r in rules}
    items = []
    for rank, (i, contribution) in enumerate(zip(order, contributions), start=1):
        top, families = [], set()
        for j in np.argsort(-contribution, kind="stable"):
            family = family_of(model.features_[j]).name
            if contribution[j] <= 1e-6 or len(top) == reasons:
                break
            if family not in families:  # one window per family: the reasons stay distinct
                top.append(j)
                families.add(family)
        why = tuple(Reason(model.features_[j], family_of(model.features_[j]).description, float(x[i, j]),
                           float(model.typical_[j]), float(contribution[j])) for j in top)
        action = DEFAULT_ACTION
        for reason in why:
            rule = by_family.get(family_of(reason.feature).name)
            if rule is not None:
                action = SuggestedAction(rule.action, rule.because, rule.feature)
                break
        items.append(QueueItem(rank, str(rows["customer_id"].iat[i]), float(risk[i]), float(value[i]),
                               str(source[i]), float(priority[i]), why, action))
    return ProactiveQueue(day, model.target_, model.horizon_, len(rows), rules, tuple(items))


# ---- the queue as a file -------------------------------------------------------------

QUEUE_CSV_COLUMNS = ("rank", "customer_id", "name", "risk", "value", "value_source",
                     "priority", "action", "reasons")


def customer_names(project, customer_ids) -> dict[str, str]:
    """The names kept for these customers (personal data: only for those allowed it)."""
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    if not ids:
        return {}
    rows = project.con.execute(
        "SELECT customer_id, name FROM customer_pii WHERE name IS NOT NULL"
        " AND customer_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()
    return {str(c): str(n) for c, n in rows}


def write_queue_csv(queue: ProactiveQueue, path, names: dict[str, str] | None = None) -> int:
    """Write the queue as CSV (UTF-8 with a byte-order mark, so spreadsheets read Arabic and
    Russian names) next to ``path`` and move it into place, so a crash leaves the old file
    or the new one. ``names`` (None: the column stays empty) come from
    :func:`customer_names` for those allowed personal data. Returns the rows written."""
    import csv
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(QUEUE_CSV_COLUMNS)
            for item in queue.items:
                writer.writerow([
                    item.rank, item.customer_id, _cell((names or {}).get(item.customer_id, "")),
                    f"{item.risk:.6f}", f"{item.value:.2f}", item.value_source,
                    f"{item.priority:.2f}", _cell(item.action.action),
                    _cell("; ".join(r.description for r in item.reasons))])
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(queue.items)


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a leading =, +, - or @ is quoted)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
