"""Each customer's lifetime value, from a project's purchases to one number per customer.

Purchases (transactions of kind ``purchase``; recurring bills are not a purchase
process) are summarised per customer (:func:`corridor.clv.rfm_summary`), BG/NBD and
Gamma-Gamma are fitted on the summary, and every customer gets P(alive), expected
purchases over the horizon and a discounted CLV in margin (the customer's own margin
share where the transactions carry margins, else the overall share, else revenue).
With ``until`` the data after it is the holdout, and the forecast is set beside what
customers actually bought.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from .clv import (
    BgNbdFit,
    GammaGammaFit,
    HoldoutComparison,
    compare_holdout,
    fit_bgnbd,
    fit_gamma_gamma,
    holdout_summary,
    lifetime_value,
    rfm_summary,
)
from .errors import InputError


@dataclass(frozen=True)
class Horizon:
    """How far ahead value is counted: ``periods`` periods of ``period_days`` days,
    each discounted by ``discount_rate``."""

    periods: int = 12
    period_days: float = 30.0
    discount_rate: float = 0.01

    @property
    def days(self) -> float:
        return self.periods * self.period_days

    def to_dict(self) -> dict:
        return {"periods": self.periods, "period_days": self.period_days,
                "discount_rate": self.discount_rate}


@dataclass(frozen=True)
class LifetimeValues:
    purchases: BgNbdFit
    spend: GammaGammaFit
    horizon: Horizon
    holdout: HoldoutComparison | None
    until: dt.date | None
    # one row per customer who bought, by customer_id: customer_id, frequency, recency,
    # T, monetary_value, probability_alive, expected_purchases, clv
    per_customer: pa.Table

    @property
    def customers(self) -> int:
        return self.per_customer.num_rows

    @property
    def total(self) -> float:
        return float(np.nansum(self.per_customer.column("clv").to_numpy()))

    def table(self) -> ir.Table:
        """The per-customer values as an Ibis table, to join with other analytics."""
        return ibis.memtable(self.per_customer)

    def to_dict(self) -> dict:
        return {
            "customers": self.customers,
            "total_clv": self.total,
            "mean_clv": self.total / self.customers if self.customers else None,
            "until": None if self.until is None else self.until.isoformat(),
            "horizon": self.horizon.to_dict(),
            "purchases": self.purchases.to_dict(),
            "spend": self.spend.to_dict(),
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
        }


def purchases_of(transactions: ir.Table) -> ir.Table:
    """The one-off purchases among the transactions."""
    if "kind" not in transactions.columns:
        return transactions
    return transactions.filter(transactions.kind == "purchase")


def lifetime_values(
    transactions: ir.Table,
    *,
    until: dt.date | None = None,
    unit_days: float = 7.0,
    horizon: Horizon = Horizon(),
) -> LifetimeValues:
    """Fit the purchase and spend models and value every customer who bought."""
    purchases = purchases_of(transactions)
    summary = rfm_summary(purchases, until=until, unit_days=unit_days).to_pandas()
    summary = summary.sort_values("customer_id", ignore_index=True)
    if summary.empty:
        where = f" by {until.isoformat()}" if until else ""
        raise InputError(f"No purchases{where} in the transactions, so there is no value to model.")
    x, t_x, age = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
    money = summary["monetary_value"].to_numpy("float64", na_value=np.nan)
    purchase_fit = fit_bgnbd(x, t_x, age, unit_days=unit_days)
    spend_fit = fit_gamma_gamma(x, money)
    clv = lifetime_value(
        purchase_fit, spend_fit, x, t_x, age, money,
        periods=horizon.periods, period_days=horizon.period_days,
        discount_rate=horizon.discount_rate, margin_share=_margin_shares(summary),
    )
    per_customer = pa.table({
        "customer_id": pa.array(summary["customer_id"].astype(str).to_numpy()),
        "frequency": pa.array(x.astype("int64")),
        "recency": pa.array(t_x),
        "T": pa.array(age),
        "monetary_value": pa.array(money, from_pandas=True),
        "probability_alive": pa.array(purchase_fit.probability_alive(x, t_x, age)),
        "expected_purchases": pa.array(
            purchase_fit.expected_purchases(horizon.days / unit_days, x, t_x, age)
        ),
        "clv": pa.array(clv),
    })
    holdout = None
    if until is not None:
        holdout = _holdout(purchases, summary, purchase_fit, until, unit_days)
    return LifetimeValues(purchase_fit, spend_fit, horizon, holdout, until, per_customer)


def _margin_shares(summary: pd.DataFrame) -> np.ndarray | float:
    """Each customer's margin share; the overall share where a customer's is unknown;
    1 (value in revenue) when no transaction carries a margin."""
    if "margin_share" not in summary.columns:
        return 1.0
    shares = summary["margin_share"].to_numpy("float64", na_value=np.nan)
    known = shares[np.isfinite(shares)]
    overall = float(np.median(known)) if known.size else 1.0
    return np.where(np.isfinite(shares), shares, overall)


def _holdout(
    purchases: ir.Table,
    summary: pd.DataFrame,
    fit: BgNbdFit,
    until: dt.date,
    unit_days: float,
) -> HoldoutComparison | None:
    actual = holdout_summary(purchases, until=until, unit_days=unit_days).to_pandas()
    both = summary.merge(actual, on="customer_id", how="inner")
    if both.empty or not (both["holdout_length"] > 0).any():
        return None  # nothing after the cut-off to compare with
    return compare_holdout(
        fit, both["frequency"], both["recency"], both["T"],
        both["holdout_frequency"], both["holdout_length"],
    )
