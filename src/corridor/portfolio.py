"""The customer portfolio in one result: what each customer is worth (CLV, RFM), what
serving them costs and earns (profitability), which segments to target, which service
tier each deserves, who and what does not pay back, and the revenue at risk from bad
experiences. ``corridor value`` renders it; the web app's customers page reads it.

Each part is computed from the tables it needs, and a part the project's tables cannot
give is None in the report and listed in ``not_computed`` with the reason, never shown
as 0. A project that holds only transactions (the usual CLV case) gets CLV, RFM and
revenue and margin per customer and segment; cost to serve, profit, target segments,
service tiers, underwater customers, service payback and revenue at risk need events
(revenue at risk: events or feedback).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis.expr.types as ir

from .customers import customer_graph
from .errors import AnalysisError, InputError
from .lifetime import Horizon, LifetimeValues, lifetime_values, purchases_of
from .profit import Profitability, profitability, unpriced_message
from .revenue_risk import (
    DEFAULT_SWITCHING_PROBABILITY,
    BadExperience,
    RevenueAtRisk,
    revenue_at_risk,
)
from .rfm import Rfm, rfm
from .roles import corridor_roles
from .targets import (
    ServicesPayback,
    ServiceTiers,
    TargetSegments,
    UnderwaterCustomers,
    service_payback,
    service_tiers,
    target_segments,
    underwater_customers,
)


class ValuePart(str, enum.Enum):
    """A part of the value report, named as its key in ``ValueReport.to_dict()``."""

    LIFETIME_VALUE = "lifetime_value"
    RFM = "rfm"
    PROFITABILITY = "profitability"
    MARGIN = "profitability.margin"
    COST_TO_SERVE = "profitability.cost_to_serve"
    TARGETS = "targets"
    TIERS = "tiers"
    UNDERWATER = "underwater"
    SERVICES = "services"
    REVENUE_AT_RISK = "revenue_at_risk"


@dataclass(frozen=True)
class NotComputed:
    """A part of the report the project's tables cannot give, and why (one sentence)."""

    part: ValuePart
    reason: str

    def to_dict(self) -> dict:
        return {"part": self.part.value, "reason": self.reason}


@dataclass(frozen=True)
class ValueSettings:
    """``until`` is the CLV calibration cut-off (later purchases are the holdout);
    ``goal`` the touchpoint whose journeys define the basic corridor that segments are
    checked against for fit; ``importance`` rates segments' strategic importance 0-1;
    ``unit_days`` is the time unit of the BG/NBD fit in days (7: weeks, as in Fader,
    Hardie & Lee 2005), which its parameters r and alpha are expressed in."""

    until: dt.date | None = None
    horizon: Horizon = Horizon()
    unit_days: float = 7.0
    goal: str | None = None
    margin_rate: float | None = None
    switching_probability: float = DEFAULT_SWITCHING_PROBABILITY
    bad_experience: BadExperience = BadExperience()
    importance: Mapping[str, float] = field(default_factory=dict)
    underwater_limit: int = 20


@dataclass(frozen=True)
class ValueReport:
    """Each part is None when the project's tables cannot give it; ``not_computed`` says
    which and why (a partly known profitability is there, with its unknown figures None
    and listed as ``profitability.margin`` or ``profitability.cost_to_serve``)."""

    lifetime: LifetimeValues | None
    rfm: Rfm | None
    profitability: Profitability | None
    targets: TargetSegments | None
    tiers: ServiceTiers | None
    underwater: UnderwaterCustomers | None
    services: ServicesPayback | None
    revenue_at_risk: RevenueAtRisk | None
    not_computed: tuple[NotComputed, ...] = ()

    def reason(self, part: ValuePart) -> str | None:
        """Why ``part`` was not computed; None when it was."""
        return next((n.reason for n in self.not_computed if n.part is part), None)

    def to_dict(self) -> dict:
        def part(result):
            return None if result is None else result.to_dict()

        return {
            "lifetime_value": part(self.lifetime),
            "rfm": part(self.rfm),
            "profitability": part(self.profitability),
            "targets": part(self.targets),
            "tiers": part(self.tiers),
            "underwater": part(self.underwater),
            "services": part(self.services),
            "revenue_at_risk": part(self.revenue_at_risk),
            "not_computed": [n.to_dict() for n in self.not_computed],
        }


def _has_rows(table: ir.Table | None) -> bool:
    return table is not None and int(table.limit(1).count().execute()) > 0


def customer_value(
    *,
    events: ir.Table | None,
    transactions: ir.Table,
    customers: ir.Table,
    feedback: ir.Table | None = None,
    settings: ValueSettings = ValueSettings(),
    journeys: ir.Table | None = None,
) -> ValueReport:
    """Value every customer and the portfolio from the project's canonical tables, each
    part from the tables it needs (see the module docstring)."""
    graph = customer_graph(customers)
    has_events = _has_rows(events)
    has_feedback = _has_rows(feedback)
    has_transactions = _has_rows(transactions)
    if not (has_events or has_transactions):
        raise AnalysisError(
            "The project holds no transactions and no events, so there is no value to report."
        )
    events = events if has_events else None
    missing: list[NotComputed] = []

    def skip(part: ValuePart, reason: str) -> None:
        missing.append(NotComputed(part, reason))

    purchases = purchases_of(transactions)
    lifetime = rfm_scores = None
    if not _has_rows(purchases):
        why = "The transactions hold no purchases, so there is nothing to value {}."
        skip(ValuePart.LIFETIME_VALUE, why.format("lifetimes from"))
        skip(ValuePart.RFM, why.format("by recency, frequency and spend"))
    else:
        try:
            lifetime = lifetime_values(transactions, until=settings.until,
                                       unit_days=settings.unit_days, horizon=settings.horizon)
        except (AnalysisError, InputError) as exc:  # e.g. no purchase before the holdout
            skip(ValuePart.LIFETIME_VALUE, str(exc))
        try:
            rfm_scores = rfm(purchases, as_of=settings.until, customers=graph)
        except AnalysisError as exc:
            skip(ValuePart.RFM, str(exc))

    profits = profitability(events, transactions, graph, margin_rate=settings.margin_rate,
                            allow_unpriced=True)
    profit_unknown = None  # why the profit per customer is unknown
    if not profits.cost_known:
        profit_unknown = "the project holds no events to find the cost to serve in"
        skip(ValuePart.COST_TO_SERVE, "The project holds no events, so the cost to serve"
             " each customer, and with it the profit, is unknown.")
    if not profits.margin_known:
        if profits.unpriced_transactions:
            reason = unpriced_message(profits.unpriced_transactions)
            profit_unknown = profit_unknown or "the transactions carry no margin"
        else:
            reason = "The project holds no transactions, so the margin is unknown."
            profit_unknown = profit_unknown or "the project holds no transactions"
        skip(ValuePart.MARGIN, reason)
    per_customer = profits.per_customer

    targets = tiers = underwater = services = None
    if events is None:
        skip(ValuePart.TARGETS, "Target segments are scored on their fit with the journeys'"
             " corridor, and the project holds no events.")
    elif profit_unknown:
        skip(ValuePart.TARGETS, f"Target segments are scored on profit, which is unknown:"
             f" {profit_unknown}.")
    else:
        try:
            corridor = corridor_roles(events, goal=settings.goal)
            targets = target_segments(
                per_customer, graph, events=events, corridor=corridor,
                importance=dict(settings.importance),
            )
        except AnalysisError as exc:
            skip(ValuePart.TARGETS, str(exc))
    if profit_unknown:
        skip(ValuePart.TIERS, f"Service tiers follow profit, which is unknown: {profit_unknown}.")
        skip(ValuePart.UNDERWATER, "Underwater customers cost more to serve than they earn,"
             f" which is unknown: {profit_unknown}.")
    else:
        tiers = service_tiers(per_customer)
        # cost and margin over the same period: a forward-looking purchase CLV would
        # leave out the bills a subscriber pays
        underwater = underwater_customers(per_customer, limit=settings.underwater_limit)
    if events is None:
        skip(ValuePart.SERVICES, "Service payback weighs each touchpoint's contacts against"
             " its users' margin, and the project holds no events.")
    elif not profits.margin_known:
        skip(ValuePart.SERVICES, f"Service payback needs each customer's margin, which is"
             f" unknown: {profit_unknown}.")
    else:
        services = service_payback(events, per_customer, graph)

    risk = None
    if lifetime is None:
        skip(ValuePart.REVENUE_AT_RISK, "Revenue at risk is the lifetime value of customers"
             " with a bad experience, and no lifetime value could be computed.")
    elif not (events is not None or has_feedback):
        skip(ValuePart.REVENUE_AT_RISK, "Revenue at risk needs events or feedback to find"
             " bad experiences in, and the project holds neither.")
    else:
        risk = revenue_at_risk(
            lifetime.table(), events=events, feedback=feedback if has_feedback else None,
            customers=graph, definition=settings.bad_experience,
            switching_probability=settings.switching_probability, journeys=journeys,
        )
    return ValueReport(
        lifetime=lifetime,
        rfm=rfm_scores,
        profitability=profits,
        targets=targets,
        tiers=tiers,
        underwater=underwater,
        services=services,
        revenue_at_risk=risk,
        not_computed=tuple(missing),
    )


# ---- the value of a project, as every shell shows it ------------------------------------

HOLDOUT_DAYS = 92  # the last quarter of purchases checks the CLV forecast
MIN_HISTORY_DAYS = 2 * HOLDOUT_DAYS  # less history than this: no holdout


def holdout_cut_off(transactions: ir.Table) -> dt.date | None:
    """The day the CLV is fitted up to by default, leaving the last quarter of purchases
    to check the forecast against; None when the history is too short for that (or there
    is none)."""
    row = transactions.aggregate(
        first=transactions.timestamp.min(), last=transactions.timestamp.max()
    ).to_pyarrow().to_pylist()[0]
    first, last = row["first"], row["last"]
    if first is None or last is None or (last - first).days < MIN_HISTORY_DAYS:
        return None
    return (last - dt.timedelta(days=HOLDOUT_DAYS)).date()


AUTO = "auto"  # ``until``: the default holdout cut-off (:func:`holdout_cut_off`)


def project_value(project, *, until: dt.date | None | str = AUTO,
                  **settings) -> tuple[ValueReport, dt.date | None]:
    """The value report of a project with the project's own defaults, the one
    computation behind the CLI, the customers page, the API and the report: the company
    model's purchase goal and bad-experience rule (:mod:`corridor.company`) and, unless
    ``until`` is given (None: no holdout), the last quarter of purchases as the holdout.
    ``settings`` are other :class:`ValueSettings` fields. Returns the report and the
    cut-off used."""
    from .company import company_model

    from .journey_types import case_journeys

    model = company_model(project)
    transactions = project.table("transactions")
    events = project.table("events")
    typed = case_journeys(events, model, project.table("touchpoints")) if model.journeys else None
    cut_off = holdout_cut_off(transactions) if until == AUTO else until
    settings.setdefault("goal", model.purchase_goal or None)
    settings.setdefault("bad_experience", BadExperience.of_model(model))
    report = customer_value(
        events=events, transactions=transactions,
        customers=project.table("customers"), feedback=project.table("feedback"),
        settings=ValueSettings(until=cut_off, **settings), journeys=typed,
    )
    return report, cut_off
