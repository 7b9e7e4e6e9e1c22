"""Targets: which segments to serve first, which service level each customer deserves,
and which customers and services do not pay back.

Definitions:

- *Target segments*: per segment, *value* is the mean per customer of profit (or of any
  value column, such as CLV), min-max normalised across the segments (best 1, worst 0;
  1 for all when they are equal); *compatibility* is the mean share of the basic corridor's
  steps a customer's contacts walk (an alternative group counts as one step, reached
  through any door); a customer without contacts walks none. It is a share already and
  is not normalised. *Strategic importance* is the caller's 0–1 rating of the segment.
  The score is the weighted mean of the three.
- *Service tiers*: customers are ranked by profit; a customer's *percentile* is the share
  of customers with a strictly lower profit (to the cent, so equal profits share a tier).
  Each customer gets the first tier, best first, whose minimum percentile it reaches and
  whose profit floor it exceeds. By default the top 20 % of customers get premium service
  if they make a profit, everyone else who makes a profit standard service, and customers
  who do not pay back self-service: service that does not pay back is not customer focus.
- *Underwater customers*: cost to serve above their value (margin, or CLV when given).
- *Service payback*: a service (touchpoint) pays back when the margin its users earn
  beyond comparable non-users covers the cost of its contacts. Users are compared with
  non-users of the same segment: the uplift of a segment is users × (users' mean margin −
  non-users' mean margin); segments where everyone (or no one) uses the service cannot be
  compared, and the uplift per compared user is extrapolated to all users. This is an
  association, not a proof of cause: heavy users of support are also long-standing
  customers. Services every customer uses cannot be judged (``pays_back`` is None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
from ibis import _

from .customers import (
    CustomerGraph,
    Level,
    at_level,
    customer_graph,
    level_name,
    own_relation,
    require_columns,
    roll_up,
)
from .errors import AnalysisError, InputError
from .flow import as_amount, as_float, as_int, as_text, check_share
from .roles import CorridorRoles

from .profit import clv_table, costed_events


# ---- target segments ------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreWeights:
    value: float = 0.5
    compatibility: float = 0.3
    importance: float = 0.2

    def normalised(self) -> ScoreWeights:
        parts = (self.value, self.compatibility, self.importance)
        if any(not isinstance(w, (int, float)) or w < 0 for w in parts) or sum(parts) <= 0:
            raise InputError(
                f"Score weights must be at least 0 and not all 0; got value={self.value}, "
                f"compatibility={self.compatibility}, importance={self.importance}."
            )
        total = sum(parts)
        return ScoreWeights(self.value / total, self.compatibility / total, self.importance / total)

    def to_dict(self) -> dict:
        return {"value": self.value, "compatibility": self.compatibility, "importance": self.importance}


@dataclass(frozen=True)
class SegmentScore:
    segment: str | None
    customers: int
    value: float  # mean value per customer
    value_score: float  # 0-1 across segments
    compatibility: float  # mean share of the basic corridor's steps walked
    importance: float
    score: float
    rank: int  # 1 = the best target

    def to_dict(self) -> dict:
        return {
            "segment": self.segment,
            "customers": self.customers,
            "value": self.value,
            "value_score": self.value_score,
            "compatibility": self.compatibility,
            "importance": self.importance,
            "score": self.score,
            "rank": self.rank,
        }


@dataclass(frozen=True)
class TargetSegments:
    value_column: str
    level: str | None
    weights: ScoreWeights  # normalised to sum to 1
    corridor_steps: tuple[tuple[str, ...], ...]
    segments: tuple[SegmentScore, ...]  # best first

    def to_dict(self) -> dict:
        return {
            "value_column": self.value_column,
            "level": self.level,
            "weights": self.weights.to_dict(),
            "corridor_steps": [list(s) for s in self.corridor_steps],
            "segments": [s.to_dict() for s in self.segments],
        }


def corridor_steps(
    corridor: CorridorRoles | Sequence[str | Sequence[str]],
) -> tuple[tuple[str, ...], ...]:
    """The basic corridor as steps: a mined corridor's steps, or steps given as
    touchpoint names (a list of names is one step with several doors)."""
    if isinstance(corridor, CorridorRoles):
        steps = tuple(s.touchpoints for s in corridor.corridor)
    else:
        steps = tuple((s,) if isinstance(s, str) else tuple(s) for s in corridor)
    names = [t for s in steps for t in s]
    if not steps or not all(s for s in steps) or not all(isinstance(t, str) and t for t in names):
        raise InputError(
            "The basic corridor must be one or more steps, each a touchpoint name or a "
            "list of them."
        )
    twice = sorted({t for t in names if names.count(t) > 1})
    if twice:
        raise InputError(f"Touchpoint {', '.join(twice)} appears in more than one corridor step.")
    return steps


def corridor_compatibility(
    events: ir.Table, corridor: CorridorRoles | Sequence[str | Sequence[str]]
) -> ir.Table:
    """Per customer with contacts on the corridor: customer_id, steps_walked,
    compatibility (steps walked / steps)."""
    steps = corridor_steps(corridor)
    require_columns(events, ["customer_id", "touchpoint"], "events")
    label = {t: str(k) for k, s in enumerate(steps) for t in s}
    on = events.filter(events.touchpoint.isin(list(label)))
    walked = on.select(
        customer_id=on.customer_id.cast("string"), step=on.touchpoint.substitute(label)
    ).distinct()
    per = walked.group_by("customer_id").aggregate(steps_walked=_.count())
    return per.mutate(compatibility=per.steps_walked.cast("float64") / len(steps))


def target_segments(
    value: ir.Table,
    customers: ir.Table | CustomerGraph,
    *,
    events: ir.Table,
    corridor: CorridorRoles | Sequence[str | Sequence[str]],
    value_column: str = "profit",
    level: str | Level | None = None,
    importance: Mapping[str, float] | None = None,
    default_importance: float = 0.5,
    weights: ScoreWeights = ScoreWeights(),
) -> TargetSegments:
    """Rank the customer segments as targets by value, compatibility and strategic
    importance. ``value`` holds customer_id and ``value_column`` (a per-customer profit
    table, or a CLV table with ``value_column='clv'``). With ``level``, values and
    contacts roll up to the accounts at that level and the accounts' segments are
    ranked."""
    require_columns(value, ["customer_id", value_column], "value")
    if not value.schema()[value_column].is_numeric():
        raise InputError(f"The value column {value_column} must hold numbers.")
    w = weights.normalised()
    check_share("default_importance", default_importance)
    rated = dict(importance or {})
    for name, rating in rated.items():
        check_share(f"The importance of segment {name}", rating)
    steps = corridor_steps(corridor)
    graph = customer_graph(customers)
    name = None if level is None else level_name(level)
    value = own_relation(value)
    worth = value.select(
        customer_id=value.customer_id.cast("string"), _value=value[value_column].cast("float64")
    )
    contacts = events.select("customer_id", "touchpoint")
    if name is not None:
        worth = roll_up(worth, graph, name, metrics=["_value"]).select("customer_id", "_value")
        contacts = at_level(contacts, graph, name)
    fit = corridor_compatibility(contacts, steps).select(_fid="customer_id", _fit="compatibility")
    nodes = graph.nodes.select(_nid=graph.nodes.customer_id, _segment=graph.nodes.segment)
    joined = worth.left_join(fit, worth.customer_id == fit._fid).left_join(
        nodes, worth.customer_id == nodes._nid
    )
    frame = (
        joined.group_by(segment=joined._segment)
        .aggregate(
            customers=_.count(),
            value=joined._value.mean(),
            fit=joined._fit.fill_null(0.0).mean(),
        )
        .execute()
    )
    if frame.empty:
        raise AnalysisError("No customer has a value, so there are no segments to rank.")
    means = {as_text(r.segment): as_amount(r.value) for r in frame.itertuples()}
    low, high = min(means.values()), max(means.values())
    scored = []
    for r in frame.itertuples():
        segment = as_text(r.segment)
        value_score = 1.0 if high == low else (means[segment] - low) / (high - low)
        fit_share = as_amount(r.fit)
        rating = rated.get(segment, default_importance) if segment is not None else default_importance
        score = w.value * value_score + w.compatibility * fit_share + w.importance * rating
        scored.append(
            (segment, as_int(r.customers), means[segment], value_score, fit_share, rating, score)
        )
    scored.sort(key=lambda x: (-x[6], x[0] or ""))
    return TargetSegments(
        value_column=value_column,
        level=name,
        weights=w,
        corridor_steps=steps,
        segments=tuple(SegmentScore(*row, rank=k + 1) for k, row in enumerate(scored)),
    )


# ---- service tiers --------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A service tier: customers whose profit percentile is at least ``min_percentile``
    and whose profit is above ``profit_above`` (None: any profit)."""

    name: str
    min_percentile: float = 0.0
    profit_above: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "min_percentile": self.min_percentile,
            "profit_above": self.profit_above,
        }


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("premium", 0.8, 0.0),
    Tier("standard", 0.0, 0.0),
    Tier("self_service"),
)


@dataclass(frozen=True)
class TierSummary:
    tier: str
    customers: int
    share: float
    mean_margin: float | None
    mean_cost_to_serve: float | None
    mean_profit: float | None
    profit: float

    def to_dict(self) -> dict:
        return {
            "tier": self.tier,
            "customers": self.customers,
            "share": self.share,
            "mean_margin": self.mean_margin,
            "mean_cost_to_serve": self.mean_cost_to_serve,
            "mean_profit": self.mean_profit,
            "profit": self.profit,
        }


@dataclass(frozen=True)
class ServiceTiers:
    tiers: tuple[Tier, ...]
    summary: tuple[TierSummary, ...]  # in tier order, empty tiers included
    per_customer: ir.Table = field(repr=False, compare=False)  # + percentile, tier

    def tier(self, name: str) -> TierSummary | None:
        return next((t for t in self.summary if t.tier == name), None)

    def to_dict(self) -> dict:
        return {
            "tiers": [t.to_dict() for t in self.tiers],
            "summary": [t.to_dict() for t in self.summary],
        }


def _check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    tiers = tuple(tiers)
    if not tiers:
        raise InputError("At least one service tier is needed.")
    names = [t.name for t in tiers]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InputError(
            f"Service tiers need distinct, non-empty names; got {', '.join(map(repr, names))}."
        )
    for t in tiers:
        check_share(f"min_percentile of tier {t.name}", t.min_percentile)
    last = tiers[-1]
    if last.min_percentile != 0.0 or last.profit_above is not None:
        raise InputError(
            f"The last service tier ({last.name}) must take every remaining customer: give it "
            f"min_percentile=0 and no profit_above."
        )
    return tiers


def service_tiers(per_customer: ir.Table, *, tiers: Sequence[Tier] = DEFAULT_TIERS) -> ServiceTiers:
    """Give each customer of a per-customer profit table (see :func:`customer_profit`)
    its service tier, and summarise what each tier earns and costs."""
    require_columns(
        per_customer, ["customer_id", "margin", "cost_to_serve", "profit"], "per-customer profit"
    )
    tiers = _check_tiers(tiers)
    per_customer = own_relation(per_customer)
    everyone = per_customer.customer_id.count().over(ibis.window())
    lower = ibis.rank().over(ibis.window(order_by=per_customer.profit.round(2))).cast("int64")
    ranked = per_customer.mutate(percentile=lower.cast("float64") / everyone)
    cases = []
    for t in tiers[:-1]:
        condition = ranked.percentile >= t.min_percentile
        if t.profit_above is not None:
            condition &= ranked.profit > t.profit_above
        cases.append((condition, t.name))
    last = ibis.literal(tiers[-1].name)
    placed = ranked.mutate(tier=ibis.cases(*cases, else_=last) if cases else last)
    frame = (
        placed.group_by("tier")
        .aggregate(
            customers=_.count(),
            mean_margin=_.margin.mean(),
            mean_cost=_.cost_to_serve.mean(),
            mean_profit=_.profit.mean(),
            profit=_.profit.sum(),
        )
        .execute()
    )
    found = {str(r.tier): r for r in frame.itertuples()}
    total = as_int(frame["customers"].sum())
    summary = []
    for t in tiers:
        r = found.get(t.name)
        n = as_int(r.customers) if r is not None else 0
        summary.append(
            TierSummary(
                t.name,
                n,
                n / total if total else 0.0,
                as_float(r.mean_margin) if r is not None else None,
                as_float(r.mean_cost) if r is not None else None,
                as_float(r.mean_profit) if r is not None else None,
                as_amount(r.profit) if r is not None else 0.0,
            )
        )
    return ServiceTiers(tiers=tiers, summary=tuple(summary), per_customer=placed)


# ---- customers and services that do not pay back -----------------------------------


@dataclass(frozen=True)
class UnderwaterCustomer:
    customer_id: str
    cost_to_serve: float
    value: float
    excess: float  # cost to serve − value

    def to_dict(self) -> dict:
        return {
            "customer_id": self.customer_id,
            "cost_to_serve": self.cost_to_serve,
            "value": self.value,
            "excess": self.excess,
        }


@dataclass(frozen=True)
class UnderwaterCustomers:
    value_basis: str  # margin | clv
    customers: int
    total_excess: float
    worst: tuple[UnderwaterCustomer, ...]  # largest excess first, at most ``limit``
    table: ir.Table = field(repr=False, compare=False)  # customer_id, cost_to_serve, value, excess

    def to_dict(self) -> dict:
        return {
            "value_basis": self.value_basis,
            "customers": self.customers,
            "total_excess": self.total_excess,
            "worst": [c.to_dict() for c in self.worst],
        }




def underwater_customers(
    per_customer: ir.Table, *, clv: ir.Table | None = None, limit: int = 20
) -> UnderwaterCustomers:
    """Customers whose cost to serve exceeds their value: their margin, or their CLV
    when a CLV table (customer_id, clv) is given (customers without a CLV row have 0)."""
    require_columns(per_customer, ["customer_id", "margin", "cost_to_serve"], "per-customer profit")
    if limit < 0:
        raise InputError(f"limit must be at least 0; got {limit}.")
    per_customer = own_relation(per_customer)
    if clv is None:
        valued = per_customer.select("customer_id", "cost_to_serve", value=per_customer.margin)
    else:
        values = clv_table(clv)
        joined = per_customer.left_join(values, per_customer.customer_id == values._cid)
        valued = joined.select("customer_id", "cost_to_serve", value=joined._clv.fill_null(0.0))
    under = valued.filter(valued.cost_to_serve > valued.value)
    under = under.mutate(excess=under.cost_to_serve - under.value)
    top = under.mutate(
        under_count=under.customer_id.count().over(ibis.window()),
        under_total=under.excess.sum().over(ibis.window()),
    )
    frame = top.order_by([ibis.desc("excess"), "customer_id"]).limit(max(limit, 1)).execute()
    count = as_int(frame["under_count"].iloc[0]) if len(frame) else 0
    total = as_amount(frame["under_total"].iloc[0]) if len(frame) else 0.0
    worst = tuple(
        UnderwaterCustomer(str(r.customer_id), float(r.cost_to_serve), float(r.value), float(r.excess))
        for r in frame.head(limit).itertuples()
    )
    return UnderwaterCustomers(
        value_basis="margin" if clv is None else "clv",
        customers=count,
        total_excess=total,
        worst=worst,
        table=under,
    )


@dataclass(frozen=True)
class ServicePayback:
    touchpoint: str
    contacts: int
    users: int  # customers with at least one contact
    cost: float  # of all its contacts
    users_compared: int  # users in segments that also have non-users
    incremental_margin: float | None  # users' margin beyond comparable non-users'
    uncosted_contacts: int

    @property
    def net(self) -> float | None:
        return None if self.incremental_margin is None else self.incremental_margin - self.cost

    @property
    def pays_back(self) -> bool | None:
        return None if self.net is None else self.net >= 0

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "contacts": self.contacts,
            "users": self.users,
            "cost": self.cost,
            "users_compared": self.users_compared,
            "incremental_margin": self.incremental_margin,
            "net": self.net,
            "pays_back": self.pays_back,
            "uncosted_contacts": self.uncosted_contacts,
        }


@dataclass(frozen=True)
class ServicesPayback:
    services: tuple[ServicePayback, ...]  # lowest net first; the unjudged last

    @property
    def not_paying_back(self) -> tuple[ServicePayback, ...]:
        return tuple(s for s in self.services if s.pays_back is False)

    def service(self, touchpoint: str) -> ServicePayback | None:
        return next((s for s in self.services if s.touchpoint == touchpoint), None)

    def to_dict(self) -> dict:
        return {
            "services": [s.to_dict() for s in self.services],
            "not_paying_back": [s.touchpoint for s in self.not_paying_back],
        }


def service_payback(
    events: ir.Table,
    per_customer: ir.Table,
    customers: ir.Table | CustomerGraph | None = None,
    *,
    cost_table: ir.Table | Mapping[str, float] | None = None,
) -> ServicesPayback:
    """Which services (touchpoints) pay back: the cost of their contacts against the
    margin their users earn beyond comparable non-users (same segment; one stratum when
    no customers table is given). The customers compared are those of ``per_customer``."""
    require_columns(per_customer, ["customer_id", "margin"], "per-customer profit")
    per_customer = own_relation(per_customer)
    costed = costed_events(events, cost_table=cost_table)
    costs = (
        costed.group_by("touchpoint")
        .aggregate(
            contacts=_.count(),
            users=costed.customer_id.nunique(),
            cost=costed.contact_cost.sum().fill_null(0.0),
            uncosted=costed.contact_cost.isnull().cast("int64").sum(),
        )
        .execute()
    )
    people = per_customer.select(
        customer_id=per_customer.customer_id.cast("string"), margin=per_customer.margin
    )
    if customers is None:
        people = people.mutate(_segment=ibis.literal(""))
    else:
        nodes = customer_graph(customers).nodes
        tags = nodes.select(_nid=nodes.customer_id, _seg=nodes.segment)
        joined = people.left_join(tags, people.customer_id == tags._nid)
        people = joined.select("customer_id", "margin", _segment=joined._seg.fill_null(""))
    strata = people.group_by("_segment").aggregate(
        stratum_customers=_.count(), stratum_margin=_.margin.sum()
    )
    used = costed.select(
        _uid=costed.customer_id.cast("string"), touchpoint=costed.touchpoint
    ).distinct()
    users = used.join(people, used._uid == people.customer_id)
    per_stratum = users.group_by(["touchpoint", "_segment"]).aggregate(
        users=_.count(), users_margin=_.margin.sum()
    )
    compared = per_stratum.join(strata, "_segment").execute()
    uplift: dict[str, float] = {}
    compared_users: dict[str, int] = {}
    for r in compared.itertuples():
        others = as_int(r.stratum_customers) - as_int(r.users)
        if others <= 0:
            continue
        n_users = as_int(r.users)
        users_margin = as_amount(r.users_margin)
        others_mean = (as_amount(r.stratum_margin) - users_margin) / others
        tp = str(r.touchpoint)
        uplift[tp] = uplift.get(tp, 0.0) + users_margin - n_users * others_mean
        compared_users[tp] = compared_users.get(tp, 0) + n_users
    services = []
    for r in costs.itertuples():
        tp = str(r.touchpoint)
        n_compared = compared_users.get(tp, 0)
        all_users = as_int(r.users)
        incremental = uplift[tp] / n_compared * all_users if n_compared else None
        services.append(
            ServicePayback(
                touchpoint=tp,
                contacts=as_int(r.contacts),
                users=all_users,
                cost=as_amount(r.cost),
                users_compared=n_compared,
                incremental_margin=incremental,
                uncosted_contacts=as_int(r.uncosted),
            )
        )
    services.sort(key=lambda s: (s.net is None, s.net if s.net is not None else 0.0, s.touchpoint))
    return ServicesPayback(tuple(services))
