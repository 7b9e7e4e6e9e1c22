"""Customer lifetime value: purchase histories, BG/NBD, Gamma-Gamma and discounted CLV.

Conventions (those of the literature and of the BG/NBD papers):

- Purchases are counted on distinct calendar days (UTC): all of a customer's purchases
  on one day form one transaction whose amount is the sum of that day's amounts.
- A customer's first purchase starts their clock and is not counted: ``frequency`` is
  the number of *repeat* purchase days, ``recency`` the time from the first to the last
  purchase day, ``T`` the time from the first purchase day to the end of the calibration
  period, both in units of ``unit_days`` days (7 = weeks).
- ``monetary_value`` is the mean amount of the repeat purchase days (null for customers
  without repeats); the first purchase is left out, as Gamma-Gamma is fitted on repeats.
  Gamma-Gamma describes positive amounts only: customers whose mean repeat spend is 0 or
  less (free orders, refunds netted into a day) are left out of its fit and counted
  (``GammaGammaFit.excluded_non_positive_spend``); their expected spend takes their
  observed mean as 0.
- ``until`` is the last day of the calibration period (inclusive). Purchases after it
  are the holdout, used to compare forecast with actual (:func:`holdout_summary`,
  :func:`compare_holdout`). Without ``until`` the calibration period ends on
  ``observation_end``, or on the last purchase day in the table.

The transactions table passed in must hold purchases only: filter out anything that is
not a purchase (bills, refunds) first:
``transactions.filter(transactions.kind == "purchase")``.

Models (fitted by maximum likelihood; standard errors from the inverse of the numeric
Hessian of the log-likelihood at the optimum):

- BG/NBD, Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2): purchases follow a
  Poisson process with rate λ ~ Gamma(r, α); after each repeat purchase a customer
  drops out with probability p ~ Beta(a, b). The likelihood, E[X(t)] and the
  conditional expectation E[Y(t) | x, t_x, T] are the paper's; P(alive) is from
  Fader, Hardie & Lee, "Computing P(alive) Using the BG/NBD Model" (2008 note).
- Gamma-Gamma, Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": each
  amount ~ Gamma(p, ν), ν ~ Gamma(q, v) across customers; the mean spend is p·v/(q−1).
- CLV over a horizon: the sum over periods i = 1..n of (expected purchases in period i)
  × (expected spend per purchase) × (margin share) / (1 + d)^i.

Customers with identical (frequency, recency, T) have identical likelihoods, so the
BG/NBD likelihood is computed once per distinct history and weighted by its count
(Fader & Hardie's own practice). Summaries built from calendar days repeat a lot, which
is what makes a million customers quick; see docs/adr/0006-lifetime-value-models.md.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _
from scipy import optimize, special

from .errors import AnalysisError, InputError

SECONDS_PER_DAY = 86_400
REQUIRED_COLUMNS = ("customer_id", "timestamp", "amount")
# log-parameters are kept inside [-LOG_BOUND, LOG_BOUND] (about 1e-11 to 7e10): wide
# enough for any currency or time unit, narrow enough that exp() never overflows.
LOG_BOUND = 25.0
EXTREME_LOG = math.log(1e6)  # a parameter beyond 1e±6 means the fit ran away
MAX_ITERATIONS = 500


# -- purchase histories (Ibis: runs on DuckDB and PySpark) ------------------------------


def rfm_summary(
    transactions: ir.Table,
    *,
    until: dt.date | str | None = None,
    observation_end: dt.date | str | None = None,
    unit_days: float = 7.0,
) -> ir.Table:
    """One row per customer who bought by the end of the calibration period.

    Columns: ``customer_id``; ``first_purchase`` (date); ``frequency`` (repeat purchase
    days, int64); ``recency`` and ``T`` (float64, in units of ``unit_days``);
    ``monetary_value`` (mean repeat purchase-day amount, null without repeats);
    ``margin_share`` (calibration margin / calibration amount, when the table has a
    ``margin`` column; null where unknown). The calibration period ends on ``until``,
    else on ``observation_end``, else on the last purchase day in the table. Returned
    unexecuted: it has a row per customer.
    """
    daily = _purchase_days(transactions, unit_days)
    until_day = _day_number(until, "until")
    end_day = _day_number(observation_end, "observation_end")
    if until_day is not None and end_day is not None and end_day < until_day:
        raise InputError(
            f"observation_end ({observation_end}) is before until ({until}); the holdout"
            " period must end after the calibration period."
        )
    calibration_end = until_day if until_day is not None else end_day
    if calibration_end is None:
        cutoff = daily.day.max().as_scalar()
    else:
        cutoff = ibis.literal(calibration_end, type="int64")
        daily = daily.filter(daily.day <= cutoff)
    has_margin = "margin" in daily.columns
    with_first = daily.mutate(first_day=daily.day.min().over(group_by="customer_id"))
    repeat = with_first.day > with_first.first_day
    metrics = dict(
        first_purchase=with_first.first_timestamp.min().date(),
        first_day=with_first.day.min(),
        last_day=with_first.day.max(),
        purchase_days=_.count(),
        repeat_amount=with_first.amount.sum(where=repeat),
    )
    if has_margin:
        metrics.update(total_amount=with_first.amount.sum(),
                       total_margin=with_first.margin.sum())
    per_customer = with_first.group_by("customer_id").aggregate(**metrics)
    per_customer = per_customer.mutate(end_day=cutoff)
    frequency = (per_customer.purchase_days - 1).cast("int64")
    unit = float(unit_days)
    columns = dict(
        first_purchase=per_customer.first_purchase,
        frequency=frequency,
        recency=(per_customer.last_day - per_customer.first_day).cast("float64") / unit,
        T=(per_customer.end_day - per_customer.first_day).cast("float64") / unit,
        monetary_value=per_customer.repeat_amount.cast("float64")
        / frequency.nullif(0).cast("float64"),
    )
    if has_margin:
        columns["margin_share"] = per_customer.total_margin.cast("float64") / (
            per_customer.total_amount.cast("float64").nullif(0.0)
        )
    return per_customer.select("customer_id", **columns)


def holdout_summary(
    transactions: ir.Table,
    *,
    until: dt.date | str,
    observation_end: dt.date | str | None = None,
    unit_days: float = 7.0,
) -> ir.Table:
    """What customers who bought by ``until`` actually did after it, up to
    ``observation_end`` (default: the last purchase day in the table), for comparing a
    forecast with actual purchases.

    Columns: ``customer_id``; ``holdout_frequency`` (purchase days after ``until``,
    int64, 0 when none; all are repeats, since the customer bought before);
    ``holdout_amount`` (their total amount, 0 when none); ``holdout_length`` (the
    holdout period's length in units of ``unit_days``).
    """
    daily = _purchase_days(transactions, unit_days)
    until_day = _day_number(until, "until")
    if until_day is None:
        raise InputError("holdout_summary needs `until`, the last day of the calibration period.")
    end_day = _day_number(observation_end, "observation_end")
    if end_day is not None and end_day < until_day:
        raise InputError(
            f"observation_end ({observation_end}) is before until ({until}); the holdout"
            " period must end after the calibration period."
        )
    end = daily.day.max().as_scalar() if end_day is None else ibis.literal(end_day, type="int64")
    cutoff = ibis.literal(until_day, type="int64")
    daily = daily.mutate(end_day=end)
    daily = daily.filter(daily.day <= daily.end_day)
    in_holdout = daily.day > cutoff
    per_customer = daily.group_by("customer_id").aggregate(
        first_day=daily.day.min(),
        end_day=daily.end_day.max(),
        holdout_frequency=daily.count(where=in_holdout),
        holdout_amount=daily.amount.sum(where=in_holdout),
    )
    per_customer = per_customer.filter(per_customer.first_day <= cutoff)
    return per_customer.select(
        "customer_id",
        holdout_frequency=per_customer.holdout_frequency.cast("int64"),
        holdout_amount=per_customer.holdout_amount.cast("float64").fill_null(0.0),
        holdout_length=(per_customer.end_day - cutoff).cast("float64") / float(unit_days),
    )


def _purchase_days(transactions: ir.Table, unit_days: float) -> ir.Table:
    """One row per (customer, purchase day) with that day's amount (and margin)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in transactions.columns]
    if missing:
        raise InputError(
            f"The transactions table has no column {', '.join(repr(c) for c in missing)};"
            f" lifetime value needs {', '.join(REQUIRED_COLUMNS)}."
        )
    if not (isinstance(unit_days, numbers.Real) and math.isfinite(unit_days) and unit_days > 0):
        raise InputError(f"unit_days must be a positive number of days, got {unit_days!r}.")
    timestamp = transactions.timestamp
    if timestamp.type().is_date():
        timestamp = timestamp.cast("timestamp")
    # whole days since 1970-01-01: truncating first makes the division exact, so the
    # engines' different integer-division rules cannot matter
    day = timestamp.truncate("D").epoch_seconds().cast("int64") // SECONDS_PER_DAY
    sums = dict(first_timestamp=_.timestamp.min(), amount=_.amount.cast("float64").sum())
    if "margin" in transactions.columns:
        sums["margin"] = _.margin.cast("float64").sum()
    rows = transactions.filter(transactions.customer_id.notnull() & timestamp.notnull())
    rows = rows.mutate(day=day.cast("int64"), timestamp=timestamp)
    return rows.group_by(["customer_id", "day"]).aggregate(**sums)


def _day_number(value: dt.date | str | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            raise InputError(f"{name} must be a date like 2024-06-30, got {value!r}.") from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise InputError(f"{name} must be a date like 2024-06-30, got {value!r}.")
    return (value - dt.date(1970, 1, 1)).days


# -- shared fitting machinery ------------------------------------------------------------


def _numbers(values, name: str) -> np.ndarray:
    """A float array from numpy, pandas (nullable types too) or a list; nulls become NaN."""
    try:
        if hasattr(values, "to_numpy"):
            return np.asarray(values.to_numpy(dtype="float64", na_value=np.nan)).ravel()
        return np.asarray(values, dtype="float64").ravel()
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers.") from None


def _as_float_array(values, name: str) -> np.ndarray:
    array = _numbers(values, name)
    if np.isnan(array).any():
        raise InputError(
            f"{name} has {int(np.isnan(array).sum())} missing values; every customer needs one."
        )
    return array


def _histories(frequency, recency, T, weights) -> tuple[np.ndarray, ...]:
    x = _as_float_array(frequency, "frequency")
    t_x = _as_float_array(recency, "recency")
    age = _as_float_array(T, "T")
    if not (x.size == t_x.size == age.size):
        raise InputError(
            f"frequency, recency and T must have one value per customer; got {x.size},"
            f" {t_x.size} and {age.size} values."
        )
    w = np.ones_like(x) if weights is None else _as_float_array(weights, "weights")
    if w.size != x.size:
        raise InputError(f"weights has {w.size} values for {x.size} customers.")
    if (w < 0).any():
        raise InputError("weights must not be negative (a weight is a number of customers).")
    if x.size == 0 or w.sum() == 0:
        raise InputError(
            "No customers to fit: the purchase summary is empty (no purchases up to the"
            " calibration cut-off, or the filter removed them all)."
        )
    if (x < 0).any() or (x != np.floor(x)).any():
        raise InputError("frequency must be whole numbers of repeat purchases, 0 or more.")
    if (t_x < 0).any() or (age < 0).any():
        raise InputError("recency and T must not be negative.")
    late = t_x > age * (1 + 1e-12) + 1e-12  # tolerates rounding in summaries
    if late.any():
        raise InputError(
            f"recency is after T for {int(late.sum())} customers; the last purchase cannot"
            " come after the end of the calibration period."
        )
    if ((x == 0) & (t_x > 0)).any():
        raise InputError("recency must be 0 for customers without repeat purchases.")
    keep = w > 0
    return x[keep], np.minimum(t_x[keep], age[keep]), age[keep], w[keep]


def _group_identical(*columns: np.ndarray, weights: np.ndarray):
    """Collapse rows that are identical in every column into one row weighted by the sum
    of their weights. Returns (columns..., weights). A hash group-by: three times faster
    than sorting a million rows."""
    names = [f"c{i}" for i in range(len(columns))]
    frame = pd.DataFrame(dict(zip(names, columns)))
    frame["weight"] = weights
    sums = frame.groupby(names, sort=False)["weight"].sum()
    levels = (sums.index.get_level_values(i).to_numpy() for i in range(len(columns)))
    return (*levels, sums.to_numpy())


@dataclass(frozen=True)
class _Optimum:
    params: np.ndarray
    log_likelihood: float
    covariance: np.ndarray
    converged: bool
    iterations: int


def _maximise(model: str, names: Sequence[str], start: np.ndarray, value_and_gradient,
              require_convergence: bool) -> _Optimum:
    """Maximise a log-likelihood over positive parameters: L-BFGS-B on log-parameters,
    on the mean per customer so the tolerances do not depend on the data size."""
    scale = value_and_gradient.total_weight
    last: dict[bytes, tuple[float, np.ndarray]] = {}

    def objective(log_params):
        params = np.exp(log_params)
        value, gradient = value_and_gradient(params)
        last.clear()
        last[log_params.tobytes()] = (value, gradient)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_params)
        return -value / scale, -gradient * params / scale

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    # gtol sits just above where rounding makes the line search fail: tighter only
    # repeats evaluations at the optimum
    result = optimize.minimize(
        objective, np.log(start), jac=True, method="L-BFGS-B", bounds=bounds,
        options=dict(maxiter=MAX_ITERATIONS, ftol=1e-14, gtol=1e-7, maxcor=20),
    )
    log_params = result.x
    params = np.exp(log_params)
    cached = last.get(log_params.tobytes())
    value, gradient = cached if cached is not None else value_and_gradient(params)
    stopped_well = bool(result.success) or _stationary(gradient * params / scale)
    covariance = _covariance(value_and_gradient, params, gradient)
    proper_maximum = bool(np.isfinite(covariance).all())
    converged = stopped_well and proper_maximum
    if not converged and require_convergence:
        extreme = np.abs(log_params) > EXTREME_LOG
        if extreme.any():
            listed = ", ".join(f"{names[i]} = {params[i]:.3g}" for i in np.flatnonzero(extreme))
            reason = (
                f"the likelihood keeps rising as parameters go to extreme values ({listed}),"
                " so the data cannot pin them down"
            )
        elif not stopped_well:
            reason = f"the optimiser stopped after {result.nit} iterations: {result.message}"
        else:
            reason = "the likelihood is flat at its maximum, so the parameters are not identified"
        raise AnalysisError(
            f"The {model} fit did not converge: {reason}. Try more customers, a longer"
            " calibration period, or check that the histories are what you meant to fit."
        )
    return _Optimum(params, float(value), covariance, converged, int(result.nit))


def _stationary(mean_gradient_in_logs: np.ndarray) -> bool:
    """L-BFGS-B may stop on a line-search failure right at the optimum, where rounding
    hides any further gain; accept that when the gradient is tiny."""
    return bool(np.all(np.abs(mean_gradient_in_logs) < 1e-6))


def _covariance(value_and_gradient, params: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Inverse of the observed information. The Hessian of the log-likelihood in the
    natural parameters comes from forward differences of the analytic gradient (a
    relative step of 1e-6 keeps both truncation and rounding near 1e-6 relative)."""
    k = params.size
    hessian = np.empty((k, k))
    for j in range(k):
        step = 1e-6 * params[j]
        moved = params.copy()
        moved[j] += step
        hessian[:, j] = (value_and_gradient(moved)[1] - gradient) / step
    hessian = (hessian + hessian.T) / 2
    try:
        covariance = np.linalg.inv(-hessian)
    except np.linalg.LinAlgError:
        return _no_covariance(params)
    if not np.all(np.diag(covariance) > 0):
        return _no_covariance(params)
    return covariance


def _no_covariance(params: np.ndarray) -> np.ndarray:
    return np.full((params.size, params.size), np.nan)


# -- BG/NBD --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdParameters:
    """λ ~ Gamma(shape r, rate alpha); dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def to_dict(self) -> dict:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class BgNbdFit:
    """A fitted BG/NBD model. Times (``t``, ``recency``, ``T``) are in units of
    ``unit_days`` days, the unit the histories were summarised in."""

    params: BgNbdParameters
    standard_errors: BgNbdParameters  # NaN when the Hessian is not invertible
    log_likelihood: float
    customers: int
    distinct_histories: int  # rows the likelihood was computed on after grouping
    converged: bool
    iterations: int
    unit_days: float

    def to_dict(self) -> dict:
        return {
            **self.params.to_dict(),
            "standard_errors": _finite(self.standard_errors.to_dict()),
            "log_likelihood": self.log_likelihood,
            "customers": self.customers,
            "converged": self.converged,
            "unit_days": self.unit_days,
        }

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)]: expected purchases in the first ``t`` units of a new customer, the
        first purchase excluded (Fader, Hardie & Lee 2005)."""
        r, alpha, a, b = _bgnbd_tuple(self.params)
        t = np.asarray(t, dtype="float64")
        z = t / (alpha + t)
        decay = np.exp(r * (np.log(alpha) - np.log(alpha + t)))
        return (a + b - 1) / (a - 1) * (1 - decay * special.hyp2f1(r, b, a + b - 1, z))

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still active at T | x, t_x, T) (Fader, Hardie & Lee's P(alive) note)."""
        r, alpha, a, b = _bgnbd_tuple(self.params)
        x, t_x, age = _broadcast(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (np.log(a) - np.log(b + x - 1)
                             + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)))
        return np.where(x > 0, special.expit(-log_odds_dead), 1.0)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units of a customer
        with this history (Fader, Hardie & Lee 2005)."""
        r, alpha, a, b = _bgnbd_tuple(self.params)
        t = np.asarray(t, dtype="float64")
        x, t_x, age = _broadcast(frequency, recency, T)
        z = t / (alpha + age + t)
        decay = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
        hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        expected_if_alive = (a + b + x - 1) / (a - 1) * (1 - decay * hyper)
        return expected_if_alive * self.probability_alive(x, t_x, age)


def _finite(values: dict) -> dict:
    """NaN and infinity become None, so the dict is valid JSON."""
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


def _bgnbd_tuple(params: BgNbdParameters) -> tuple[float, float, float, float]:
    return params.r, params.alpha, params.a, params.b


def _broadcast(*arrays) -> tuple[np.ndarray, ...]:
    return np.broadcast_arrays(*(np.asarray(a, dtype="float64") for a in arrays))


class _BgNbdLikelihood:
    """Weighted BG/NBD log-likelihood and its analytic gradient over grouped histories.

    For x > 0 (Fader, Hardie & Lee 2005, written in logs):
        ll = lnΓ(r+x) − lnΓ(r) + r ln α − ln B(a, b)
             + logaddexp(ln B(a, b+x) − (r+x) ln(α+T),
                         ln B(a+1, b+x−1) − (r+x) ln(α+t_x))
    and for x = 0 it reduces to r ln(α / (α+T)). Terms that depend on x only are
    computed once per distinct x and summed with the total weight of that x.
    """

    def __init__(self, x, t_x, age, weights):
        repeat = x > 0
        self.total_weight = float(weights.sum())
        # customers without repeats: only T and the weight matter
        self.age0 = age[~repeat]
        self.weight0 = weights[~repeat]
        self.x = x[repeat]
        self.t_x = t_x[repeat]
        self.age = age[repeat]
        self.weight = weights[repeat]
        self.x_values, self.x_index = np.unique(self.x, return_inverse=True)
        self.weight_per_x = np.bincount(self.x_index, weights=self.weight,
                                        minlength=self.x_values.size)
        self.repeat_weight = float(self.weight.sum())
        self.weighted_x = _dot(self.weight, self.x)

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params
        # customers without repeats
        log_ratio0 = np.log(alpha) - np.log(alpha + self.age0)
        value = r * _dot(self.weight0, log_ratio0)
        d_r = _dot(self.weight0, log_ratio0)
        d_alpha = r * _dot(self.weight0, 1 / alpha - 1 / (alpha + self.age0))
        d_a = d_b = 0.0
        if self.x.size:
            xv, wx, idx, w = self.x_values, self.weight_per_x, self.x_index, self.weight
            alpha_age = alpha + self.age
            alpha_recency = alpha + self.t_x
            log_alpha_age = np.log(alpha_age)
            log_alpha_recency = np.log(alpha_recency)
            r_x = r + self.x
            alive_term = special.betaln(a, b + xv)[idx] - r_x * log_alpha_age
            dropped_term = special.betaln(a + 1, b + xv - 1)[idx] - r_x * log_alpha_recency
            log_sum, dropped_share = _log_add_exp_and_share(alive_term, dropped_term)
            value += (
                _dot(wx, special.gammaln(r + xv) - special.gammaln(r))
                + self.repeat_weight * (r * np.log(alpha) - special.betaln(a, b))
                + _dot(w, log_sum)
            )
            d_r += (
                _dot(wx, special.digamma(r + xv) - special.digamma(r))
                + self.repeat_weight * np.log(alpha)
                - _dot(w, log_alpha_age + dropped_share * (log_alpha_recency - log_alpha_age))
            )
            inverse_age = 1 / alpha_age
            d_alpha += self.repeat_weight * r / alpha - _dot(
                w * r_x, inverse_age + dropped_share * (1 / alpha_recency - inverse_age)
            )
            shift = special.digamma(a + b) - special.digamma(a + b + xv)
            d_a = _dot(wx, shift) + _dot(w, dropped_share) / a
            d_b = _dot(wx, shift - special.digamma(b) + special.digamma(b + xv)) - _dot(
                w * dropped_share, (1 / (b + xv - 1))[idx]
            )
        return value, np.array([d_r, d_alpha, d_a, d_b])


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: a threaded BLAS dot was 20x slower on a busy two-core machine
    return float(np.einsum("i,i->", u, v))


def _log_add_exp_and_share(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(e^u + e^v) and e^v / (e^u + e^v), sharing one exp (faster than
    np.logaddexp plus expit, and as stable)."""
    difference = v - u
    small = np.exp(-np.abs(difference))
    log_sum = np.maximum(u, v) + np.log1p(small)
    share = np.where(difference > 0, 1.0, small) / (1.0 + small)
    return log_sum, share


def fit_bgnbd(
    frequency,
    recency,
    T,
    *,
    weights=None,
    unit_days: float = 7.0,
    require_convergence: bool = True,
) -> BgNbdFit:
    """Fit BG/NBD by maximum likelihood to customers' (frequency, recency, T).

    ``weights`` (optional) counts the customers each row stands for. ``unit_days``
    records the time unit the histories are in (used by :func:`lifetime_value`). When
    the optimiser does not reach a proper maximum (it stops early, or the likelihood
    keeps rising towards infinite or zero parameters, as when customers do not differ
    at all) an :class:`AnalysisError` is raised, unless ``require_convergence`` is
    False: then the result says ``converged=False`` and its standard errors may be NaN.
    """
    x, t_x, age, w = _histories(frequency, recency, T, weights)
    if not (x > 0).any():
        raise AnalysisError(
            f"None of the {_count(w)} customers made a repeat purchase, so BG/NBD has"
            " nothing to learn purchase rates and dropout from; use a longer calibration"
            " period or check that purchases were not filtered out."
        )
    x, t_x, age, w = _group_identical(x, t_x, age, weights=w)
    likelihood = _BgNbdLikelihood(x, t_x, age, w)
    # start where the mean purchase rate matches the repeat buyers' observed rate
    observed_rate = likelihood.weighted_x / max(_dot(w, age), 1e-12)
    start = np.array([1.0, 1.0 / max(observed_rate, 1e-6), 1.0, 1.0])
    optimum = _maximise("BG/NBD", ("r", "alpha", "a", "b"), start, likelihood, require_convergence)
    errors = np.sqrt(np.diag(optimum.covariance))
    return BgNbdFit(
        params=BgNbdParameters(*map(float, optimum.params)),
        standard_errors=BgNbdParameters(*map(float, errors)),
        log_likelihood=optimum.log_likelihood,
        customers=_count(w),
        distinct_histories=int(x.size),
        converged=optimum.converged,
        iterations=optimum.iterations,
        unit_days=float(unit_days),
    )


def _count(weights: np.ndarray) -> int:
    return int(round(float(weights.sum())))


# -- Gamma-Gamma ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaParameters:
    """Each purchase amount ~ Gamma(shape p, rate ν); ν ~ Gamma(shape q, rate v)."""

    p: float
    q: float
    v: float

    def to_dict(self) -> dict:
        return {"p": self.p, "q": self.q, "v": self.v}


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParameters
    standard_errors: GammaGammaParameters  # NaN when the Hessian is not invertible
    log_likelihood: float
    customers: int  # customers with a positive mean repeat spend, the ones fitted on
    converged: bool
    iterations: int
    # customers with repeat purchases whose mean repeat spend is 0 or less: Gamma-Gamma
    # cannot describe them, so they are left out of the fit
    excluded_non_positive_spend: int = 0

    def to_dict(self) -> dict:
        return {
            **self.params.to_dict(),
            "standard_errors": _finite(self.standard_errors.to_dict()),
            "log_likelihood": self.log_likelihood,
            "customers": self.customers,
            "excluded_non_positive_spend": self.excluded_non_positive_spend,
            "converged": self.converged,
            "mean_spend": self.mean_spend if math.isfinite(self.mean_spend) else None,
        }

    @property
    def mean_spend(self) -> float:
        """Population mean spend per purchase, p·v/(q−1) (infinite when q ≤ 1)."""
        p, q, v = self.params.p, self.params.q, self.params.v
        return p * v / (q - 1) if q > 1 else math.inf

    def expected_average_spend(self, frequency, monetary_value) -> np.ndarray:
        """E[spend per purchase | x, mean repeat spend m] = weighted mean of the
        population mean and m (Fader & Hardie 2013); the population mean for
        customers without repeats (their m may be null). A mean repeat spend of 0 or
        less (customers left out of the fit) counts as 0."""
        p, q, v = self.params.p, self.params.q, self.params.v
        x, m = _broadcast(frequency, monetary_value)
        with np.errstate(invalid="ignore"):
            m = np.where(x > 0, np.maximum(m, 0.0), 0.0)
        return (p * (v + x * m)) / (p * x + q - 1)


class _GammaGammaLikelihood:
    """Weighted log-likelihood of the mean repeat spend m of customers with x repeats:
        ll = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + px ln x + (px−1) ln m
             − (px+q) ln(v + x m).
    Terms free of the parameters, or of m, are summed once."""

    def __init__(self, x, m, weights):
        self.total_weight = float(weights.sum())
        self.x, self.weight = x, weights
        self.x_m = x * m
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.weight_per_x = np.bincount(self.x_index, weights=weights, minlength=self.x_values.size)
        log_m = np.log(m)
        self.sum_x_log_x_m = _dot(weights, x * (np.log(x) + log_m))
        self.sum_log_m = _dot(weights, log_m)

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = params
        xv, wx = self.x_values, self.weight_per_x
        n = self.total_weight
        log_v_xm = np.log(v + self.x_m)
        px_q = p * self.x + q
        value = (
            _dot(wx, special.gammaln(p * xv + q) - special.gammaln(p * xv))
            - n * special.gammaln(q) + n * q * np.log(v)
            + p * self.sum_x_log_x_m - self.sum_log_m
            - _dot(self.weight, px_q * log_v_xm)
        )
        digamma_px_q = special.digamma(p * xv + q)
        d_p = (_dot(wx, xv * (digamma_px_q - special.digamma(p * xv)))
               + self.sum_x_log_x_m - _dot(self.weight * self.x, log_v_xm))
        d_q = (_dot(wx, digamma_px_q) - n * special.digamma(q) + n * np.log(v)
               - _dot(self.weight, log_v_xm))
        d_v = n * q / v - _dot(self.weight, px_q / (v + self.x_m))
        return value, np.array([d_p, d_q, d_v])


def fit_gamma_gamma(
    frequency,
    monetary_value,
    *,
    weights=None,
    require_convergence: bool = True,
) -> GammaGammaFit:
    """Fit Gamma-Gamma by maximum likelihood on the customers with ``frequency`` > 0
    (others are ignored); ``monetary_value`` is their mean repeat purchase amount.
    Customers whose mean repeat spend is 0 or less are left out of the fit and counted
    in ``excluded_non_positive_spend``."""
    x = _as_float_array(frequency, "frequency")
    m = _numbers(monetary_value, "monetary_value")
    if m.size != x.size:
        raise InputError(
            f"frequency and monetary_value must have one value per customer; got {x.size}"
            f" and {m.size} values."
        )
    w = np.ones_like(x) if weights is None else _as_float_array(weights, "weights")
    if w.size != x.size:
        raise InputError(f"weights has {w.size} values for {x.size} customers.")
    if x.size == 0:
        raise InputError("No customers to fit: the purchase summary is empty.")
    repeat = (x > 0) & (w > 0)
    if not repeat.any():
        raise AnalysisError(
            f"None of the {x.size} customers made a repeat purchase, so there is no repeat"
            " spend to fit Gamma-Gamma on."
        )
    x, m, w = x[repeat], m[repeat], w[repeat]
    if np.isnan(m).any():
        raise InputError(
            f"monetary_value is missing for {int(np.isnan(m).sum())} customers with repeat purchases."
        )
    positive = m > 0
    excluded = _count(w[~positive])
    if not positive.any():
        raise AnalysisError(
            f"All {excluded} customers with repeat purchases have a mean repeat spend of 0"
            " or less, so there is no positive spend to fit Gamma-Gamma on."
        )
    x, m, w = x[positive], m[positive], w[positive]
    likelihood = _GammaGammaLikelihood(x, m, w)
    mean_spend = _dot(w, m) / likelihood.total_weight
    start = np.array([1.0, 2.0, mean_spend])  # p·v/(q−1) equals the observed mean
    optimum = _maximise("Gamma-Gamma", ("p", "q", "v"), start, likelihood, require_convergence)
    errors = np.sqrt(np.diag(optimum.covariance))
    return GammaGammaFit(
        params=GammaGammaParameters(*map(float, optimum.params)),
        standard_errors=GammaGammaParameters(*map(float, errors)),
        log_likelihood=optimum.log_likelihood,
        customers=_count(w),
        converged=optimum.converged,
        iterations=optimum.iterations,
        excluded_non_positive_spend=excluded,
    )


# -- lifetime value and holdout comparison ---------------------------------------------------


def lifetime_value(
    purchases: BgNbdFit,
    spend: GammaGammaFit,
    frequency,
    recency,
    T,
    monetary_value,
    *,
    periods: int = 12,
    period_days: float = 30.0,
    discount_rate: float = 0.01,
    margin_share=1.0,
) -> np.ndarray:
    """Discounted value of each customer's next ``periods`` periods of ``period_days``
    days: Σᵢ (E[Y(i·L)] − E[Y((i−1)·L)]) × expected spend × margin_share / (1 + d)^i,
    with L the period in the model's time unit and d the ``discount_rate`` per period.
    ``margin_share`` (scalar or per customer) turns spend into margin; 1 gives revenue."""
    if not (isinstance(periods, (int, np.integer)) and periods >= 1):
        raise InputError(f"periods must be a whole number of at least 1, got {periods!r}.")
    if not (period_days > 0 and math.isfinite(period_days)):
        raise InputError(f"period_days must be a positive number of days, got {period_days!r}.")
    if not discount_rate > -1:
        raise InputError(f"discount_rate must be greater than -1, got {discount_rate!r}.")
    x, t_x, age = _broadcast(frequency, recency, T)
    expected_spend = spend.expected_average_spend(x, monetary_value)
    margin = np.asarray(margin_share, dtype="float64")
    period = period_days / purchases.unit_days
    value = np.zeros(x.shape)
    before = np.zeros(x.shape)
    for i in range(1, periods + 1):
        cumulative = purchases.expected_purchases(i * period, x, t_x, age)
        value += (cumulative - before) / (1 + discount_rate) ** i
        before = cumulative
    return value * expected_spend * margin


@dataclass(frozen=True)
class HoldoutRow:
    """Customers with ``frequency`` repeat purchases in calibration (the last row: that
    many or more) and their mean predicted and actual holdout purchases."""

    frequency: int
    customers: int
    predicted_mean: float
    actual_mean: float

    def to_dict(self) -> dict:
        return {"frequency": self.frequency, "customers": self.customers,
                "predicted_mean": self.predicted_mean, "actual_mean": self.actual_mean}


@dataclass(frozen=True)
class HoldoutComparison:
    customers: int
    predicted_purchases: float
    actual_purchases: int
    by_frequency: tuple[HoldoutRow, ...]

    def to_dict(self) -> dict:
        return {
            "customers": self.customers,
            "predicted_purchases": self.predicted_purchases,
            "actual_purchases": self.actual_purchases,
            "by_frequency": [row.to_dict() for row in self.by_frequency],
        }


def compare_holdout(
    purchases: BgNbdFit,
    frequency,
    recency,
    T,
    holdout_frequency,
    holdout_length,
    *,
    max_frequency: int = 7,
) -> HoldoutComparison:
    """Forecast against actual: each customer's expected purchases over their holdout
    length beside the purchases they made (rows of :func:`rfm_summary` with ``until``
    joined to :func:`holdout_summary` on customer_id)."""
    x, t_x, age, actual, length = _broadcast(
        frequency, recency, T, holdout_frequency, holdout_length)
    if x.size == 0:
        raise InputError("No customers to compare: the calibration summary is empty.")
    predicted = purchases.expected_purchases(length, x, t_x, age)
    bucket = np.minimum(x, max_frequency).astype("int64")
    rows = []
    for k in np.unique(bucket):
        chosen = bucket == k
        rows.append(HoldoutRow(int(k), int(chosen.sum()), float(predicted[chosen].mean()),
                               float(actual[chosen].mean())))
    return HoldoutComparison(x.size, float(predicted.sum()), int(actual.sum()), tuple(rows))
