"""Profit: what serving each customer costs and what each customer earns us, per
customer, segment, level and intermediary.

Definitions:

- *Contact cost*: an event's own ``cost`` when it has one; otherwise the cost per
  contact of its touchpoint in the cost table the caller passes (touchpoint,
  cost_per_contact), if any. A contact with neither is *uncosted*: it adds nothing and is
  counted, never silently dropped. A touchpoint listed twice in the cost table takes its
  lowest cost.
- *Cost to serve* of a customer: the sum of its contacts' costs.
- *Margin*: the sum of the transactions' ``margin``; a transaction without one takes
  ``margin_rate`` × amount when the caller gives a rate, and is *unpriced* otherwise
  (:func:`profitability` then refuses to guess, or, with ``allow_unpriced``, reports
  the margin and profit as unknown: None, never 0).
- *Unknown margin*: without any transaction the margin is unknown too.
- *Unknown cost*: without an events table (``events=None``: a project that holds only
  transactions) nobody's cost to serve is known, so cost to serve and profit are None.
- *Profit* = margin − cost to serve, per customer. Customers with contacts but no
  transactions, or transactions but no contacts, are included.
- *Per level / intermediary*: profits roll up the customer graph
  (:func:`corridor.customers.roll_up`): a company's profit is its own plus its people's;
  an intermediary's is its own plus its end customers'. Levels overlap (a person's profit
  is in its company's and in the company's group's), so level totals are not additive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from .customers import (
    CustomerGraph,
    Level,
    customer_graph,
    own_relation,
    require_columns,
    roll_up,
)
from .errors import AnalysisError, InputError
from .flow import as_amount, as_int, as_text, check_share
from .schema import LEVELS

PROFIT_COLUMNS = ("revenue", "margin", "cost_to_serve", "profit")


# ---- cost to serve and profit ---------------------------------------------------------


def _cost_lookup(cost_table: ir.Table | Mapping[str, float]) -> ir.Table:
    if isinstance(cost_table, Mapping):
        bad = [k for k, v in cost_table.items() if not isinstance(v, (int, float)) or v < 0]
        if bad:
            raise InputError(
                f"Costs per contact must be numbers of at least 0; check {', '.join(map(str, bad))}."
            )
        frame = pd.DataFrame(
            {
                "touchpoint": list(cost_table),
                "cost_per_contact": [float(v) for v in cost_table.values()],
            }
        ).astype({"touchpoint": "string"})
        cost_table = ibis.memtable(frame)
    require_columns(cost_table, ["touchpoint", "cost_per_contact"], "cost")
    return cost_table.group_by(_tp=cost_table.touchpoint.cast("string")).aggregate(
        _tp_cost=cost_table.cost_per_contact.cast("float64").min()
    )


def costed_events(
    events: ir.Table, *, cost_table: ir.Table | Mapping[str, float] | None = None
) -> ir.Table:
    """The events with ``contact_cost``: the event's own cost, else its touchpoint's
    cost per contact from ``cost_table``, else null (uncosted)."""
    require_columns(events, ["customer_id", "touchpoint"], "events")
    events = own_relation(events)
    own = events.cost.cast("float64") if "cost" in events.columns else ibis.null("float64")
    if cost_table is None:
        return events.mutate(contact_cost=own)
    lookup = _cost_lookup(cost_table)
    joined = events.left_join(lookup, events.touchpoint == lookup._tp)
    return joined.select(*events.columns, contact_cost=own.fill_null(joined._tp_cost))


def cost_to_serve(
    events: ir.Table, *, cost_table: ir.Table | Mapping[str, float] | None = None
) -> ir.Table:
    """Per customer: customer_id, contacts, uncosted_contacts, cost_to_serve."""
    costed = costed_events(events, cost_table=cost_table)
    return costed.group_by(customer_id=costed.customer_id.cast("string")).aggregate(
        contacts=_.count(),
        uncosted_contacts=costed.contact_cost.isnull().cast("int64").sum(),
        cost_to_serve=costed.contact_cost.sum().fill_null(0.0),
    )


def customer_profit(
    events: ir.Table | None,
    transactions: ir.Table,
    *,
    cost_table: ir.Table | Mapping[str, float] | None = None,
    margin_rate: float | None = None,
) -> ir.Table:
    """Per customer: customer_id, contacts, uncosted_contacts, transactions,
    unpriced_transactions, revenue, margin, cost_to_serve, profit. Unpriced transactions
    add nothing to the margin (see :func:`profitability`). Without ``events`` the
    contact counts, cost to serve and profit are null (unknown), not 0."""
    require_columns(transactions, ["customer_id", "amount"], "transactions")
    if margin_rate is not None:
        check_share("margin_rate", margin_rate)
    amount = transactions.amount.cast("float64")
    margin = (
        transactions.margin.cast("float64")
        if "margin" in transactions.columns
        else ibis.null("float64")
    )
    if margin_rate is not None:
        margin = margin.fill_null(amount * margin_rate)
    money = transactions.group_by(_cid=transactions.customer_id.cast("string")).aggregate(
        transactions=_.count(),
        unpriced_transactions=margin.isnull().cast("int64").sum(),
        revenue=amount.sum(),
        margin=margin.sum(),
    )
    if events is None:
        unknown = ibis.null("float64")
        result = money.select(
            customer_id=money._cid,
            contacts=ibis.null("int64"),
            uncosted_contacts=ibis.null("int64"),
            transactions=money.transactions,
            unpriced_transactions=money.unpriced_transactions,
            revenue=money.revenue.fill_null(0.0),
            margin=money.margin.fill_null(0.0),
            cost_to_serve=unknown,
            profit=unknown,
        )
        return own_relation(result)
    costs = cost_to_serve(events, cost_table=cost_table)
    joined = costs.outer_join(money, costs.customer_id == money._cid)
    margin_sum = joined.margin.fill_null(0.0)
    cost = joined.cost_to_serve.fill_null(0.0)
    result = joined.select(
        customer_id=joined.customer_id.fill_null(joined._cid),
        contacts=joined.contacts.fill_null(0),
        uncosted_contacts=joined.uncosted_contacts.fill_null(0),
        transactions=joined.transactions.fill_null(0),
        unpriced_transactions=joined.unpriced_transactions.fill_null(0),
        revenue=joined.revenue.fill_null(0.0),
        margin=margin_sum,
        cost_to_serve=cost,
        profit=margin_sum - cost,
    )
    return own_relation(result)


@dataclass(frozen=True)
class ProfitGroup:
    """Totals over a group of customers (a segment, a level's accounts, an
    intermediary and the customers behind it, or everyone)."""

    key: str | None
    customers: int  # customers, or accounts for a level
    revenue: float
    # None: unknown (unpriced transactions, or no events to cost contacts from)
    margin: float | None
    cost_to_serve: float | None
    profit: float | None
    unprofitable: int | None  # customers (accounts) with profit < 0

    @property
    def profit_per_customer(self) -> float | None:
        if self.profit is None or not self.customers:
            return None
        return self.profit / self.customers

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "customers": self.customers,
            "revenue": self.revenue,
            "margin": self.margin,
            "cost_to_serve": self.cost_to_serve,
            "profit": self.profit,
            "profit_per_customer": self.profit_per_customer,
            "unprofitable": self.unprofitable,
        }


@dataclass(frozen=True)
class Profitability:
    total: ProfitGroup
    by_segment: tuple[ProfitGroup, ...]  # key: segment (None: without one); by profit, lowest first
    by_level: tuple[ProfitGroup, ...]  # key: level; the accounts at that level, rolled up
    by_intermediary: tuple[ProfitGroup, ...]  # key: intermediary id; lowest profit first
    uncosted_contacts: int | None  # None: no events, so no contacts to cost
    not_in_customers: int  # customers in events or transactions missing from the customers table
    per_customer: ir.Table = field(repr=False, compare=False)
    # False when the margin (unpriced transactions, with allow_unpriced) or the cost to
    # serve (no events) is unknown: those figures, and profit, are None
    margin_known: bool = True
    cost_known: bool = True
    unpriced_transactions: int = 0

    def segment(self, key: str | None) -> ProfitGroup | None:
        return next((g for g in self.by_segment if g.key == key), None)

    def level(self, key: str) -> ProfitGroup | None:
        return next((g for g in self.by_level if g.key == key), None)

    def to_dict(self) -> dict:
        return {
            "total": self.total.to_dict(),
            "by_segment": [g.to_dict() for g in self.by_segment],
            "by_level": [g.to_dict() for g in self.by_level],
            "by_intermediary": [g.to_dict() for g in self.by_intermediary],
            "uncosted_contacts": self.uncosted_contacts,
            "not_in_customers": self.not_in_customers,
            "margin_known": self.margin_known,
            "cost_known": self.cost_known,
            "unpriced_transactions": self.unpriced_transactions,
        }


def _group(key, row, *, margin_known: bool = True, cost_known: bool = True) -> ProfitGroup:
    profit_known = margin_known and cost_known
    return ProfitGroup(
        key=key,
        customers=as_int(row.customers),
        revenue=as_amount(row.revenue),
        margin=as_amount(row.margin) if margin_known else None,
        cost_to_serve=as_amount(row.cost_to_serve) if cost_known else None,
        profit=as_amount(row.profit) if profit_known else None,
        unprofitable=as_int(row.unprofitable) if profit_known else None,
    )


def _known_sum(values) -> float | None:
    return None if any(v is None for v in values) else sum(values)


def _sums(table: ir.Table) -> dict:
    return dict(
        customers=_.count(),
        revenue=table.revenue.sum(),
        margin=table.margin.sum(),
        cost_to_serve=table.cost_to_serve.sum(),
        profit=table.profit.sum(),
        unprofitable=(table.profit < 0).cast("int64").sum(),
    )


def profitability(
    events: ir.Table | None,
    transactions: ir.Table,
    customers: ir.Table | CustomerGraph,
    *,
    cost_table: ir.Table | Mapping[str, float] | None = None,
    margin_rate: float | None = None,
    allow_unpriced: bool = False,
) -> Profitability:
    """Cost to serve and profit per customer, and in total per segment, per level
    (accounts rolled up) and per intermediary.

    Without ``events`` (None) the cost to serve is unknown; with ``allow_unpriced``
    transactions without a margin make the margin unknown instead of an error. Unknown
    figures are None (and null in ``per_customer``), never 0."""
    graph = customer_graph(customers)
    per = customer_profit(events, transactions, cost_table=cost_table, margin_rate=margin_rate)
    nodes = graph.nodes.select(_nid=graph.nodes.customer_id, _segment=graph.nodes.segment)
    tagged = per.left_join(nodes, per.customer_id == nodes._nid)
    frame = (
        tagged.group_by(segment=tagged._segment)
        .aggregate(
            **_sums(tagged),
            uncosted=tagged.uncosted_contacts.sum(),
            unpriced=tagged.unpriced_transactions.sum(),
            sales=tagged.transactions.sum(),
            unknown=tagged._nid.isnull().cast("int64").sum(),
        )
        .execute()
    )
    unpriced = as_int(frame["unpriced"].sum())
    if unpriced and not allow_unpriced:
        raise AnalysisError(unpriced_message(unpriced))
    # no transactions at all: the margin is no data, not 0
    has_sales = as_int(frame["sales"].sum()) > 0
    known = dict(margin_known=has_sales and not unpriced, cost_known=events is not None)
    if not known["margin_known"]:
        unknown = ibis.null("float64")
        per = per.mutate(margin=unknown, profit=unknown)
    by_segment = sorted(
        (_group(as_text(r.segment), r, **known) for r in frame.itertuples()),
        key=lambda g: (g.profit is None, g.profit or 0.0, g.key or ""),
    )
    total = ProfitGroup(
        key=None,
        customers=sum(g.customers for g in by_segment),
        revenue=sum(g.revenue for g in by_segment),
        margin=_known_sum([g.margin for g in by_segment]),
        cost_to_serve=_known_sum([g.cost_to_serve for g in by_segment]),
        profit=_known_sum([g.profit for g in by_segment]),
        unprofitable=_known_sum([g.unprofitable for g in by_segment]),
    )
    c = graph.closure
    accounts = per.join(c, per.customer_id == c.customer_id).group_by(
        [c.ancestor_level.name("level"), c.ancestor_id.name("account")]
    ).aggregate(
        revenue=_.revenue.sum(),
        margin=_.margin.sum(),
        cost_to_serve=_.cost_to_serve.sum(),
        profit=_.profit.sum(),
    )
    levels = accounts.group_by("level").aggregate(**_sums(accounts)).execute()
    order = {name: k for k, name in enumerate(LEVELS)}
    by_level = sorted(
        (_group(str(r.level), r, **known) for r in levels.itertuples()),
        key=lambda g: (order.get(g.key, len(LEVELS)), g.key),
    )
    rolled = roll_up(per, graph, Level.INTERMEDIARY, metrics=list(PROFIT_COLUMNS))
    rolled = rolled.mutate(customers=rolled.members, unprofitable=(rolled.profit < 0).cast("int64"))
    by_intermediary = sorted(
        (_group(str(r.customer_id), r, **known) for r in rolled.execute().itertuples()),
        key=lambda g: (g.profit is None, g.profit or 0.0, g.key),
    )
    return Profitability(
        total=total,
        by_segment=tuple(by_segment),
        by_level=tuple(by_level),
        by_intermediary=tuple(by_intermediary),
        uncosted_contacts=as_int(frame["uncosted"].sum()) if events is not None else None,
        not_in_customers=as_int(frame["unknown"].sum()),
        per_customer=per,
        unpriced_transactions=unpriced,
        **known,
    )


def unpriced_message(unpriced: int) -> str:
    """Why the margin is unknown: ``unpriced`` transactions carry no margin."""
    which = "1 transaction has" if unpriced == 1 else f"{unpriced:,} transactions have"
    return (f"{which} no margin; pass margin_rate (the margin as a share of the amount) "
            f"to price them.")


def clv_table(clv: ir.Table) -> ir.Table:
    """A caller's CLV table (customer_id, clv) as ``_cid``, ``_clv`` for joining."""
    require_columns(clv, ["customer_id", "clv"], "CLV")
    clv = own_relation(clv)
    return clv.select(_cid=clv.customer_id.cast("string"), _clv=clv.clv.cast("float64"))
