"""The customer's view in one result: NPS, CSAT and CES with their intervals (overall,
per group and over time) and what drives low scores and churn. ``corridor experience``
renders it; the web app's experience page reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir

from .drivers import Drivers, churn_drivers, score_drivers
from .errors import AnalysisError
from .flow import Period
from .satisfaction import Dimension, Metric, Satisfaction, feedback_journeys, satisfaction


@dataclass(frozen=True)
class ExperienceReport:
    scores: tuple[Satisfaction, ...]  # one per metric with answers
    drivers: tuple[Drivers, ...]  # what drives each metric's scores
    churn: Drivers | None  # what drives leaving after a support case; None without exits

    def to_dict(self) -> dict:
        return {
            "scores": [s.to_dict() for s in self.scores],
            "drivers": [d.to_dict() for d in self.drivers],
            "churn": None if self.churn is None else self.churn.to_dict(),
        }


def customer_experience(
    *,
    events: ir.Table,
    feedback: ir.Table,
    customers: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
    by: Sequence[Dimension | str] = (),
    period: Period | str | None = None,
    lookback: dt.timedelta = dt.timedelta(days=30),
) -> ExperienceReport:
    """Scores for every metric the feedback holds, and their drivers from the journey
    in ``lookback`` before each answer."""
    present = set(feedback.select("metric").distinct().to_pyarrow().column(0).to_pylist())
    metrics = [m for m in Metric if m.value in present]
    if not metrics:
        raise AnalysisError("The feedback table holds no NPS, CSAT or CES answers to analyse.")
    scores = tuple(
        satisfaction(feedback, m, by=tuple(by), period=period, customers=customers,
                     touchpoints=touchpoints)
        for m in metrics
    )
    drivers = tuple(
        score_drivers(
            feedback_journeys(feedback, events, touchpoints=touchpoints, metric=m,
                              lookback=lookback),
            metric=m,
        )
        for m in metrics
    )
    try:
        churn = churn_drivers(events, touchpoints=touchpoints)
    except AnalysisError:
        churn = None  # no support cases or no exits to learn from
    return ExperienceReport(scores, drivers, churn)
