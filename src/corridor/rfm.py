"""RFM: recency, frequency and monetary value per customer, or per account at any level
of the customer graph, with 1–5 scores and named segments.

Definitions:

- Purchases are the transactions passed in (filter out refunds or bills first if they
  should not count) up to and including the ``as_of`` day (UTC calendar days); later
  ones are ignored. Without ``as_of`` it is the day of the last transaction.
- *Recency*: days from the customer's last purchase day to ``as_of`` (0 = bought that day).
- *Frequency*: the number of distinct purchase days.
- *Monetary*: ``Monetary.TOTAL`` (default) is the sum of the amounts;
  ``Monetary.MEAN`` is that sum divided by the frequency (the mean spend per purchase day).
- *Per level*: each transaction is credited to the customer's account at that level
  (:func:`corridor.customers.at_level`), so a company's frequency counts the days on which
  anyone in it bought (two people buying on one day make one day), its recency is its most
  recent buyer's, and its monetary value is everyone's spend. Accounts are scored among the
  accounts of that level only.
- *Scores* (1–5, 5 best): a customer's score is 1 + ⌊5 × w / n⌋, where n is the number of
  customers scored and w the number of them with a strictly *worse* value (larger
  recency, smaller frequency or monetary value). Equal values therefore always get equal
  scores, whatever their order on any engine; when many customers tie (say everyone who
  bought once) the quintiles are uneven rather than split arbitrarily. Monetary values are
  compared to the cent (rounded to 2 decimals) so that sums added in another order on
  another engine tie the same way.
- *Segments* come from the R and F scores by :data:`DEFAULT_SEGMENTS`, a map that covers
  each of the 25 (R, F) cells exactly once:

  ====================  =========  =========
  segment               R score    F score
  ====================  =========  =========
  champions             5          4–5
  loyal                 3–4        4–5
  potential_loyalists   4–5        2–3
  new                   5          1
  promising             4          1
  need_attention        3          3
  about_to_sleep        3          1–2
  at_risk               1–2        3–4
  cant_lose             1–2        5
  hibernating           2          1–2
  lost                  1          1–2
  ====================  =========  =========

  A different map can be passed as ``segments``; it is checked to cover every cell once.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from .customers import CustomerGraph, Level, at_level, level_name, require_columns
from .errors import AnalysisError, InputError
from .flow import as_date, as_float, as_int

SECONDS_PER_DAY = 86_400
SCORES = 5


class Monetary(str, enum.Enum):
    TOTAL = "total"  # sum of the amounts
    MEAN = "mean"  # sum of the amounts / distinct purchase days


@dataclass(frozen=True)
class SegmentRule:
    """Customers whose R score is within ``recency`` and F score within ``frequency``
    (inclusive ranges of scores 1–5) belong to ``segment``."""

    segment: str
    recency: tuple[int, int]
    frequency: tuple[int, int]

    def covers(self, r: int, f: int) -> bool:
        return self.recency[0] <= r <= self.recency[1] and self.frequency[0] <= f <= self.frequency[1]

    def to_dict(self) -> dict:
        return {
            "segment": self.segment,
            "recency": list(self.recency),
            "frequency": list(self.frequency),
        }


DEFAULT_SEGMENTS: tuple[SegmentRule, ...] = (
    SegmentRule("champions", (5, 5), (4, 5)),
    SegmentRule("loyal", (3, 4), (4, 5)),
    SegmentRule("potential_loyalists", (4, 5), (2, 3)),
    SegmentRule("new", (5, 5), (1, 1)),
    SegmentRule("promising", (4, 4), (1, 1)),
    SegmentRule("need_attention", (3, 3), (3, 3)),
    SegmentRule("about_to_sleep", (3, 3), (1, 2)),
    SegmentRule("at_risk", (1, 2), (3, 4)),
    SegmentRule("cant_lose", (1, 2), (5, 5)),
    SegmentRule("hibernating", (2, 2), (1, 2)),
    SegmentRule("lost", (1, 1), (1, 2)),
)


@dataclass(frozen=True)
class ScoreBand:
    """The customers given one score for one measure, and the range of their values."""

    measure: str  # recency_days | frequency | monetary
    score: int
    customers: int
    low: float
    high: float

    def to_dict(self) -> dict:
        return {
            "measure": self.measure,
            "score": self.score,
            "customers": self.customers,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class RfmSegment:
    segment: str
    customers: int
    share: float
    mean_recency_days: float | None
    mean_frequency: float | None
    mean_monetary: float | None

    def to_dict(self) -> dict:
        return {
            "segment": self.segment,
            "customers": self.customers,
            "share": self.share,
            "mean_recency_days": self.mean_recency_days,
            "mean_frequency": self.mean_frequency,
            "mean_monetary": self.mean_monetary,
        }


@dataclass(frozen=True)
class Rfm:
    as_of: dt.date
    level: str | None  # None: each customer as it appears in the transactions
    monetary: Monetary
    customers: int
    segments: tuple[RfmSegment, ...]  # in the order of the segment map, empty ones included
    bands: tuple[ScoreBand, ...]  # recency, frequency, monetary; score 1 to 5
    segment_rules: tuple[SegmentRule, ...]
    # customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm,
    # rfm_segment (named so as not to clash with the customers' own segment)
    scores: ir.Table = field(repr=False, compare=False)

    def segment(self, name: str) -> RfmSegment | None:
        return next((s for s in self.segments if s.segment == name), None)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "level": self.level,
            "monetary": self.monetary.value,
            "customers": self.customers,
            "segments": [s.to_dict() for s in self.segments],
            "bands": [b.to_dict() for b in self.bands],
            "segment_rules": [r.to_dict() for r in self.segment_rules],
        }


def check_segment_rules(rules: Sequence[SegmentRule]) -> tuple[SegmentRule, ...]:
    """The rules, checked to give every (R, F) score pair exactly one segment."""
    rules = tuple(rules)
    for rule in rules:
        for lo, hi in (rule.recency, rule.frequency):
            if not 1 <= lo <= hi <= SCORES:
                raise InputError(
                    f"Segment {rule.segment!r} has the score range {lo}-{hi}; ranges must "
                    f"lie within 1-{SCORES} with the low end first."
                )
    for r in range(1, SCORES + 1):
        for f in range(1, SCORES + 1):
            named = [x.segment for x in rules if x.covers(r, f)]
            if len(named) != 1:
                found = "no segment" if not named else f"segments {', '.join(named)}"
                raise InputError(
                    f"The RFM segment map must give each (R, F) score pair exactly one "
                    f"segment; R={r}, F={f} has {found}."
                )
    return rules


def as_day(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(f"{name} must be a date such as 2025-06-30; got {value!r}.") from exc


def day_number(timestamp: ir.TimestampValue) -> ir.IntegerValue:
    """Days since 1970-01-01 of a naive UTC timestamp's calendar day."""
    return timestamp.truncate("D").epoch_seconds().cast("int64") // SECONDS_PER_DAY


def _score(worse: ir.IntegerValue, count: ir.IntegerValue) -> ir.IntegerValue:
    return (worse * SCORES // count + 1).cast("int64")


def rfm_scores(
    transactions: ir.Table,
    *,
    as_of: dt.date | str | None = None,
    monetary: Monetary = Monetary.TOTAL,
    customers: ir.Table | CustomerGraph | None = None,
    level: str | Level | None = None,
    segments: Sequence[SegmentRule] = DEFAULT_SEGMENTS,
) -> ir.Table:
    """Per customer (or account at ``level``): customer_id, recency_days, frequency,
    monetary, r_score, f_score, m_score, rfm (e.g. '545') and rfm_segment."""
    return _scores(transactions, _as_of(transactions, as_of), Monetary(monetary), customers, level,
                   check_segment_rules(segments))


def _as_of(transactions: ir.Table, as_of: dt.date | str | None) -> dt.date:
    require_columns(transactions, ["customer_id", "timestamp", "amount"], "transactions")
    if as_of is not None:
        return as_day(as_of, "as_of")
    last = as_date(transactions.timestamp.max().execute())
    if last is None:
        raise AnalysisError("There are no transactions, so there is nothing to score.")
    return last


def _scores(
    transactions: ir.Table,
    as_of: dt.date,
    monetary: Monetary,
    customers: ir.Table | CustomerGraph | None,
    level: str | Level | None,
    rules: tuple[SegmentRule, ...],
) -> ir.Table:
    t = transactions.select("customer_id", "timestamp", "amount")
    if level is not None:
        if customers is None:
            raise InputError("RFM per level needs the customers table.")
        t = at_level(t, customers, level_name(level))
    t = t.mutate(day=day_number(t.timestamp))
    last_day = (as_of - dt.date(1970, 1, 1)).days
    t = t.filter(t.day <= last_day)
    days = t.group_by(["customer_id", "day"]).aggregate(amount=t.amount.sum())
    per = days.group_by("customer_id").aggregate(
        last=days.day.max(), frequency=_.count(), total=days.amount.sum().fill_null(0.0)
    )
    value = per.total if monetary is Monetary.TOTAL else per.total / per.frequency
    per = per.select(
        "customer_id",
        recency_days=(ibis.literal(last_day, type="int64") - per.last).cast("int64"),
        frequency=per.frequency.cast("int64"),
        monetary=value.cast("float64"),
    )
    everyone = per.customer_id.count().over(ibis.window())
    cents = per.monetary.round(2)
    worse_r = ibis.rank().over(ibis.window(order_by=ibis.desc(per.recency_days))).cast("int64")
    worse_f = ibis.rank().over(ibis.window(order_by=per.frequency)).cast("int64")
    worse_m = ibis.rank().over(ibis.window(order_by=cents)).cast("int64")
    scored = per.mutate(
        r_score=_score(worse_r, everyone),
        f_score=_score(worse_f, everyone),
        m_score=_score(worse_m, everyone),
    )
    cases = [
        (
            scored.r_score.between(r.recency[0], r.recency[1])
            & scored.f_score.between(r.frequency[0], r.frequency[1]),
            r.segment,
        )
        for r in rules
    ]
    return scored.mutate(
        rfm=scored.r_score.cast("string")
        + scored.f_score.cast("string")
        + scored.m_score.cast("string"),
        rfm_segment=ibis.cases(*cases),
    )


def rfm(
    transactions: ir.Table,
    *,
    as_of: dt.date | str | None = None,
    monetary: Monetary = Monetary.TOTAL,
    customers: ir.Table | CustomerGraph | None = None,
    level: str | Level | None = None,
    segments: Sequence[SegmentRule] = DEFAULT_SEGMENTS,
) -> Rfm:
    """RFM scores and segments per customer (or per account at ``level``), with the
    size and profile of each segment and the value range behind each score."""
    rules = check_segment_rules(segments)
    day = _as_of(transactions, as_of)
    monetary = Monetary(monetary)
    name = None if level is None else level_name(level)
    scores = _scores(transactions, day, monetary, customers, name, rules)
    profile = (
        scores.group_by("rfm_segment")
        .aggregate(
            customers=_.count(),
            recency=_.recency_days.mean(),
            frequency=_.frequency.mean(),
            monetary=_.monetary.mean(),
        )
        .execute()
    )
    found = {str(r.rfm_segment): r for r in profile.itertuples()}
    total = as_int(profile["customers"].sum())
    if total == 0:
        raise AnalysisError(f"No customer has a purchase on or before {day.isoformat()}.")
    segments_out = []
    for rule in rules:
        r = found.get(rule.segment)
        n = as_int(r.customers) if r is not None else 0
        segments_out.append(
            RfmSegment(
                rule.segment,
                n,
                n / total,
                as_float(r.recency) if r is not None else None,
                as_float(r.frequency) if r is not None else None,
                as_float(r.monetary) if r is not None else None,
            )
        )
    return Rfm(
        as_of=day,
        level=name,
        monetary=monetary,
        customers=total,
        segments=tuple(segments_out),
        bands=_bands(scores),
        segment_rules=rules,
        scores=scores,
    )


def _bands(scores: ir.Table) -> tuple[ScoreBand, ...]:
    parts = [
        scores.group_by(score=scores[score])
        .aggregate(
            customers=_.count(),
            low=scores[measure].cast("float64").min(),
            high=scores[measure].cast("float64").max(),
        )
        .mutate(measure=ibis.literal(measure))
        for measure, score in (
            ("recency_days", "r_score"),
            ("frequency", "f_score"),
            ("monetary", "m_score"),
        )
    ]
    frame: pd.DataFrame = ibis.union(*parts).execute()
    order = {"recency_days": 0, "frequency": 1, "monetary": 2}
    bands = [
        ScoreBand(str(r.measure), as_int(r.score), as_int(r.customers), float(r.low), float(r.high))
        for r in frame.itertuples()
    ]
    return tuple(sorted(bands, key=lambda b: (order[b.measure], b.score)))
