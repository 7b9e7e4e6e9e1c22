"""The customer portfolio in one result: what each customer is worth (CLV, RFM), what
serving them costs and earns (profitability), which segments to target, which service
tier each deserves, who and what does not pay back, and the revenue at risk from bad
experiences. ``corridor value`` renders it; the web app's customers page reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis.expr.types as ir

from .customers import customer_graph
from .lifetime import Horizon, LifetimeValues, lifetime_values, purchases_of
from .profit import Profitability, profitability
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


@dataclass(frozen=True)
class ValueSettings:
    """``until`` is the CLV calibration cut-off (later purchases are the holdout);
    ``goal`` the touchpoint whose journeys define the basic corridor that segments are
    checked against for fit; ``importance`` rates segments' strategic importance 0-1."""

    until: dt.date | None = None
    horizon: Horizon = Horizon()
    goal: str | None = None
    margin_rate: float | None = None
    switching_probability: float = DEFAULT_SWITCHING_PROBABILITY
    bad_experience: BadExperience = BadExperience()
    importance: Mapping[str, float] = field(default_factory=dict)
    underwater_limit: int = 20


@dataclass(frozen=True)
class ValueReport:
    lifetime: LifetimeValues
    rfm: Rfm
    profitability: Profitability
    targets: TargetSegments
    tiers: ServiceTiers
    underwater: UnderwaterCustomers
    services: ServicesPayback
    revenue_at_risk: RevenueAtRisk

    def to_dict(self) -> dict:
        return {
            "lifetime_value": self.lifetime.to_dict(),
            "rfm": self.rfm.to_dict(),
            "profitability": self.profitability.to_dict(),
            "targets": self.targets.to_dict(),
            "tiers": self.tiers.to_dict(),
            "underwater": self.underwater.to_dict(),
            "services": self.services.to_dict(),
            "revenue_at_risk": self.revenue_at_risk.to_dict(),
        }


def customer_value(
    *,
    events: ir.Table,
    transactions: ir.Table,
    customers: ir.Table,
    feedback: ir.Table | None = None,
    settings: ValueSettings = ValueSettings(),
) -> ValueReport:
    """Value every customer and the portfolio from the project's canonical tables."""
    graph = customer_graph(customers)
    lifetime = lifetime_values(transactions, until=settings.until, horizon=settings.horizon)
    clv = lifetime.table()
    profits = profitability(events, transactions, graph, margin_rate=settings.margin_rate)
    per_customer = profits.per_customer
    corridor = corridor_roles(events, goal=settings.goal)
    return ValueReport(
        lifetime=lifetime,
        rfm=rfm(purchases_of(transactions), as_of=settings.until, customers=graph),
        profitability=profits,
        targets=target_segments(
            per_customer, graph, events=events, corridor=corridor,
            importance=dict(settings.importance),
        ),
        tiers=service_tiers(per_customer),
        # cost and margin over the same period: a forward-looking purchase CLV would
        # leave out the bills a subscriber pays
        underwater=underwater_customers(per_customer, limit=settings.underwater_limit),
        services=service_payback(events, per_customer, graph),
        revenue_at_risk=revenue_at_risk(
            clv, events=events, feedback=feedback, customers=graph,
            definition=settings.bad_experience,
            switching_probability=settings.switching_probability,
        ),
    )
