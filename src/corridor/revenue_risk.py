"""Revenue at risk: the lifetime value exposed by bad experiences.

Definitions:

- *Revenue at risk* = the CLV of customers who had a bad experience × the probability
  that a customer considers switching after one (default 1/3, the American Express
  figure). A bad experience is a feedback score below its metric's limit, a contact with
  a failed outcome, or a wait above its limit. Customers without a CLV row count with 0.
  A customer's amount at risk is split equally over its bad experiences when broken down
  by touchpoint or kind, so the breakdowns add up to the total.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from .customers import CustomerGraph, customer_graph, require_columns
from .errors import InputError
from .flow import as_amount, as_int, as_text, check_share
from .rfm import as_day
from .schema import METRICS

from .profit import clv_table

# American Express: about a third of customers consider switching after one bad experience.
DEFAULT_SWITCHING_PROBABILITY = 1 / 3


# ---- revenue at risk ------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreLimit:
    """A feedback score strictly below ``below`` on ``metric`` is a bad experience."""

    metric: str
    below: float


@dataclass(frozen=True)
class WaitLimit:
    """A wait longer than ``max_seconds`` at ``touchpoint`` is a bad experience."""

    touchpoint: str
    max_seconds: float


# NPS 0-6 are detractors; CSAT 1-2 of 5 dissatisfied; CES 1-3 of 7 (7 = very easy) hard.
DEFAULT_SCORE_LIMITS = (ScoreLimit("nps", 7), ScoreLimit("csat", 3), ScoreLimit("ces", 4))


@dataclass(frozen=True)
class BadExperience:
    """What counts as a bad experience. ``max_wait_seconds`` applies to every
    touchpoint not named in ``wait_limits``; appointment waits measured in days (an
    installation) need their own limit there. None turns that test off."""

    score_limits: tuple[ScoreLimit, ...] = DEFAULT_SCORE_LIMITS
    failed_outcomes: tuple[str, ...] = ("failed",)
    max_wait_seconds: float | None = 900.0
    wait_limits: tuple[WaitLimit, ...] = ()

    @classmethod
    def of_model(cls, model) -> "BadExperience":
        """The company model's rule (:class:`corridor.company.CompanyModel`); its defaults
        when the project declares none."""
        rule, waits = model.bad_experience, model.waits
        return cls(
            score_limits=tuple(ScoreLimit(m, below) for m, below in rule.score_below),
            failed_outcomes=rule.failed_outcomes,
            max_wait_seconds=waits.default if rule.long_wait else None,
            wait_limits=tuple(WaitLimit(tp, s) for tp, s in waits.per_touchpoint)
            if rule.long_wait else (),
        )

    def to_dict(self) -> dict:
        return {
            "score_limits": [{"metric": s.metric, "below": s.below} for s in self.score_limits],
            "failed_outcomes": list(self.failed_outcomes),
            "max_wait_seconds": self.max_wait_seconds,
            "wait_limits": [
                {"touchpoint": w.touchpoint, "max_seconds": w.max_seconds} for w in self.wait_limits
            ],
        }


class ExperienceKind(str, enum.Enum):
    LOW_SCORE = "low_score"
    FAILED_CONTACT = "failed_contact"
    LONG_WAIT = "long_wait"


@dataclass(frozen=True)
class RiskGroup:
    key: str | None
    customers: int  # customers with a bad experience in the group
    experiences: int
    revenue_at_risk: float

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "customers": self.customers,
            "experiences": self.experiences,
            "revenue_at_risk": self.revenue_at_risk,
        }


@dataclass(frozen=True)
class RevenueAtRisk:
    switching_probability: float
    definition: BadExperience
    customers_affected: int  # with at least one bad experience
    without_clv: int  # of them, customers with no CLV row (counted with 0)
    clv_affected: float  # their CLV
    revenue_at_risk: float
    by_segment: tuple[RiskGroup, ...]  # largest first
    by_touchpoint: tuple[RiskGroup, ...]  # key None: feedback not tied to a touchpoint
    by_kind: tuple[RiskGroup, ...]
    # key: the journey type of the case it happened in; None: a score (no case) or a case
    # of no declared type. Empty when no journey types were given.
    by_journey: tuple[RiskGroup, ...] = ()

    def to_dict(self) -> dict:
        return {
            "switching_probability": self.switching_probability,
            "definition": self.definition.to_dict(),
            "customers_affected": self.customers_affected,
            "without_clv": self.without_clv,
            "clv_affected": self.clv_affected,
            "revenue_at_risk": self.revenue_at_risk,
            "by_segment": [g.to_dict() for g in self.by_segment],
            "by_touchpoint": [g.to_dict() for g in self.by_touchpoint],
            "by_kind": [g.to_dict() for g in self.by_kind],
            "by_journey": [g.to_dict() for g in self.by_journey],
        }


def _check_definition(bad: BadExperience) -> None:
    for limit in bad.score_limits:
        if limit.metric not in METRICS:
            raise InputError(
                f"Unknown feedback metric {limit.metric!r}; expected one of {', '.join(METRICS)}."
            )
    waits = [bad.max_wait_seconds] if bad.max_wait_seconds is not None else []
    waits += [w.max_seconds for w in bad.wait_limits]
    if any(not isinstance(w, (int, float)) or w < 0 for w in waits):
        raise InputError("Wait limits must be numbers of seconds, at least 0.")


def bad_experiences(
    *,
    events: ir.Table | None = None,
    feedback: ir.Table | None = None,
    definition: BadExperience = BadExperience(),
    since: dt.date | str | None = None,
) -> ir.Table:
    """Every bad experience: customer_id, touchpoint, kind (see :class:`ExperienceKind`)
    and case_id (None for a score, which belongs to no case)."""
    _check_definition(definition)
    parts = []
    start = None if since is None else as_day(since, "since")

    def recent(table: ir.Table) -> ir.Table:
        if start is None:
            return table
        require_columns(table, ["timestamp"], "events and feedback")
        return table.filter(table.timestamp >= ibis.literal(dt.datetime.combine(start, dt.time())))

    def shaped(table: ir.Table, kind: ExperienceKind) -> ir.Table:
        def text(column: str) -> ir.Value:
            return table[column].cast("string") if column in table.columns else ibis.null("string")

        return table.select(
            customer_id=table.customer_id.cast("string"),
            touchpoint=text("touchpoint"),
            kind=ibis.literal(kind.value),
            case_id=text("case_id") if kind is not ExperienceKind.LOW_SCORE else ibis.null("string"),
        )

    if feedback is not None and definition.score_limits:
        require_columns(feedback, ["customer_id", "metric", "score"], "feedback")
        f = recent(feedback)
        low = ibis.or_(*[(f.metric == s.metric) & (f.score < s.below) for s in definition.score_limits])
        parts.append(shaped(f.filter(low), ExperienceKind.LOW_SCORE))
    if events is not None:
        require_columns(events, ["customer_id", "touchpoint"], "events")
        e = recent(events)
        if definition.failed_outcomes and "outcome" in e.columns:
            failed = e.filter(e.outcome.isin(list(definition.failed_outcomes)))
            parts.append(shaped(failed, ExperienceKind.FAILED_CONTACT))
        judged = definition.max_wait_seconds is not None or definition.wait_limits
        if "wait_seconds" in e.columns and judged:
            named = {w.touchpoint: float(w.max_seconds) for w in definition.wait_limits}
            default = ibis.null("float64") if definition.max_wait_seconds is None else ibis.literal(
                float(definition.max_wait_seconds))
            limit = e.touchpoint.substitute(named, else_=default) if named else default
            waited = e.filter(e.wait_seconds.cast("float64") > limit)
            parts.append(shaped(waited, ExperienceKind.LONG_WAIT))
    if not parts:
        raise InputError("Revenue at risk needs events or feedback to find bad experiences in.")
    return ibis.union(*parts)


def revenue_at_risk(
    clv: ir.Table,
    *,
    events: ir.Table | None = None,
    feedback: ir.Table | None = None,
    customers: ir.Table | CustomerGraph | None = None,
    definition: BadExperience = BadExperience(),
    switching_probability: float = DEFAULT_SWITCHING_PROBABILITY,
    since: dt.date | str | None = None,
    journeys: ir.Table | None = None,
) -> RevenueAtRisk:
    """The CLV of customers who had a bad experience (since ``since``) × the switching
    probability, in total and per segment, touchpoint and kind of bad experience, and per
    journey type when ``journeys`` (case_id, journey:
    :func:`corridor.journey_types.case_journeys`) is given."""
    p = check_share("switching_probability", switching_probability)
    values = clv_table(clv)
    found = bad_experiences(events=events, feedback=feedback, definition=definition, since=since)
    counts = found.group_by(_who="customer_id").aggregate(_bad=_.count())
    affected = counts.left_join(values, counts._who == values._cid)
    affected = affected.select(
        customer_id=affected._who,
        bad=affected._bad,
        has_clv=affected._cid.notnull(),
        clv=affected._clv.fill_null(0.0),
    )
    if customers is None:
        affected = affected.mutate(segment=ibis.null("string"))
    else:
        nodes = customer_graph(customers).nodes
        tags = nodes.select(_nid=nodes.customer_id, _seg=nodes.segment)
        joined = affected.left_join(tags, affected.customer_id == tags._nid)
        affected = joined.select("customer_id", "bad", "has_clv", "clv", segment=joined._seg)
    share = found.join(affected, found.customer_id == affected.customer_id)
    share = share.mutate(at_risk=share.clv * p / share.bad.cast("float64"))

    def grouped(table: ir.Table, dimension: str, key: ir.Value, experiences: ir.Value, risk: ir.Value):
        return table.group_by(key=key).aggregate(
            customers=table.customer_id.nunique(),
            experiences=experiences,
            at_risk=risk,
            clv=table.clv.sum(),  # read for segments only, where each customer is one row
            without=(~table.has_clv).cast("int64").sum(),
        ).mutate(dimension=ibis.literal(dimension))

    parts = [
        grouped(affected, "segment", affected.segment, affected.bad.sum(), (affected.clv * p).sum()),
        grouped(share, "touchpoint", share.touchpoint, share.count(), share.at_risk.sum()),
        grouped(share, "kind", share.kind, share.count(), share.at_risk.sum()),
    ]
    if journeys is not None:
        typed = journeys.select(_case=journeys.case_id, _journey=journeys.journey)
        of_case = share.left_join(typed, share.case_id == typed._case)
        parts.append(grouped(of_case, "journey", of_case._journey, of_case.count(),
                             of_case.at_risk.sum()))
    frame = ibis.union(*parts).execute()

    def groups(dimension: str) -> tuple[RiskGroup, ...]:
        rows = frame[frame["dimension"] == dimension]
        out = [
            RiskGroup(as_text(r.key), as_int(r.customers), as_int(r.experiences), as_amount(r.at_risk))
            for r in rows.itertuples()
        ]
        return tuple(sorted(out, key=lambda g: (-g.revenue_at_risk, g.key or "")))

    segments = frame[frame["dimension"] == "segment"]
    by_segment = groups("segment")
    return RevenueAtRisk(
        switching_probability=p,
        definition=definition,
        customers_affected=sum(g.customers for g in by_segment),
        without_clv=as_int(segments["without"].sum()),
        clv_affected=float(segments["clv"].sum()) if len(segments) else 0.0,
        revenue_at_risk=sum(g.revenue_at_risk for g in by_segment),
        by_segment=by_segment,
        by_touchpoint=groups("touchpoint"),
        by_kind=groups("kind"),
        by_journey=groups("journey") if journeys is not None else (),
    )
