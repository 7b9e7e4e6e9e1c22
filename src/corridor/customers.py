"""Who our customers are, at every level: the customer graph.

Each customer row has a ``level`` (person, company, intermediary, corporate, department),
an optional ``parent_id`` (the company account a person belongs to, the intermediary an
end customer is served through, the corporate group a company or intermediary belongs
to) and a ``relation``: ``direct`` (we deal with them) or ``end`` (they finally benefit,
served through someone else). A missing level reads as ``person`` and a missing
relation as ``direct``, the defaults of the canonical schema; an empty ``parent_id``
reads as none. A customer_id listed more than once takes its smallest level, parent,
relation and segment (ingest keeps customer ids unique, so this only guards the joins).

The *ancestry* (:class:`CustomerGraph.closure`) pairs every customer with itself (depth
0) and with each of its ancestors (depth 1 = parent, 2 = grandparent…). It is built by
joining on ``parent_id`` one level at a time until no customer has a further parent, at
most ``max_depth`` levels; a parent that is not a customer, or parents that loop back to
a customer, stop it with an :class:`~corridor.errors.InputError` naming the customers.

Metrics *roll up* along the ancestry: a company's total is the sum over everyone whose
ancestor (or self) it is, at any depth. A customer under two accounts of the same level
(a subsidiary company inside a company) counts in both.

*Internal customers* come from the hand-offs between departments
(:mod:`corridor.handoffs`). When a case passes from department A to department B, A's
work is B's input: **B is A's internal customer** and A is B's internal supplier (the
"next process is your customer" rule). Each department so sees where the fruit of its
work goes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import AnalysisError, InputError
from .flow import Delay, as_int
from .handoffs import HandOffs, handoffs
from .schema import LEVELS, RELATIONS

EXAMPLES = 5  # customers named in an error sentence


class Level(str, enum.Enum):
    PERSON = "person"
    COMPANY = "company"
    INTERMEDIARY = "intermediary"
    CORPORATE = "corporate"
    DEPARTMENT = "department"


def level_name(level: str | Level) -> str:
    """A level given as text or :class:`Level`, checked against the canonical levels."""
    name = level.value if isinstance(level, Level) else level
    if name not in LEVELS:
        raise InputError(
            f"Unknown customer level {level!r}; expected one of {', '.join(LEVELS)}."
        )
    return name


def require_columns(table: ir.Table, columns: Sequence[str], what: str) -> None:
    """Raise a clear InputError when ``table`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"The {what} table needs the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; it has {', '.join(table.columns) or 'none'}."
        )


def own_relation(table: ir.Table) -> ir.Table:
    """``table`` as a relation of its own before it is joined. Ibis folds a projection
    over a join into that join, and a later join whose predicate names one of the
    projection's computed columns then fails ("belong to another relation")."""
    return table.view()


def _named(ids: Sequence[str], total: int) -> str:
    shown = ", ".join(ids)
    return shown if total <= len(ids) else f"{shown} and {total - len(ids)} more"


# ---- the graph ------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerGraph:
    """The customers as a hierarchy, checked and ready for roll-ups.

    ``nodes``: one row per customer (customer_id, level, parent_id, relation, segment).
    ``closure``: customer_id, ancestor_id, ancestor_level, depth; depth 0 is the customer
    itself. ``depth`` is the longest chain of parents found."""

    nodes: ir.Table = field(repr=False, compare=False)
    closure: ir.Table = field(repr=False, compare=False)
    depth: int

    def to_dict(self) -> dict:
        return {"depth": self.depth}

    @property
    def ancestors(self) -> ir.Table:
        """The closure without the customers' own rows (depth >= 1)."""
        return self.closure.filter(self.closure.depth > 0)


def customer_nodes(customers: ir.Table) -> ir.Table:
    """One row per customer: customer_id, level, parent_id, relation, segment, with the
    schema's defaults filled in (see the module docstring)."""
    require_columns(customers, ["customer_id"], "customers")
    t = customers
    text = ibis.null("string")
    level = t.level.cast("string") if "level" in t.columns else text
    parent = t.parent_id.cast("string") if "parent_id" in t.columns else text
    relation = t.relation.cast("string") if "relation" in t.columns else text
    segment = t.segment.cast("string") if "segment" in t.columns else text
    prepared = t.select(
        customer_id=t.customer_id.cast("string"),
        level=level.fill_null(LEVELS[0]),
        parent_id=parent.nullif(""),
        relation=relation.fill_null(RELATIONS[0]),
        segment=segment,
    )
    return prepared.group_by("customer_id").aggregate(
        level=_.level.min(),
        parent_id=_.parent_id.min(),
        relation=_.relation.min(),
        segment=_.segment.min(),
    )


def customer_graph(customers: ir.Table | CustomerGraph, *, max_depth: int = 32) -> CustomerGraph:
    """Check the parent links and build the ancestry closure (one query per level)."""
    if isinstance(customers, CustomerGraph):
        return customers
    if max_depth < 1:
        raise InputError(f"max_depth must be at least 1; got {max_depth}.")
    nodes = customer_nodes(customers)
    lookup = nodes.select(
        _key=nodes.customer_id, _level=nodes.level, _next=nodes.parent_id
    )
    layers = [
        nodes.select(
            customer_id=nodes.customer_id,
            ancestor_id=nodes.customer_id,
            ancestor_level=nodes.level,
            depth=ibis.literal(0, type="int64"),
        )
    ]
    linked = nodes.filter(nodes.parent_id.notnull())
    # The first step is a left join so that parents missing from the table show up;
    # every later parent is some customer's parent, so it was checked here already.
    frontier = linked.left_join(lookup, linked.parent_id == lookup._key).select(
        customer_id=linked.customer_id,
        ancestor_id=linked.parent_id,
        ancestor_level=lookup._level,
        next_id=lookup._next,
        found=lookup._key.notnull(),
    )
    depth, longest = 1, 0
    while True:
        stats = frontier.aggregate(
            rows=_.count(),
            missing=(~frontier.found).cast("int64").sum(),
            loops=(frontier.ancestor_id == frontier.customer_id).cast("int64").sum(),
            onward=frontier.next_id.notnull().cast("int64").sum(),
        ).execute()
        rows, missing, loops, onward = (
            as_int(stats[c].iloc[0]) for c in ("rows", "missing", "loops", "onward")
        )
        if rows == 0:
            break
        if missing:
            _raise_missing_parents(frontier, missing)
        if loops:
            _raise_loop(frontier, loops, depth)
        layers.append(
            frontier.select(
                "customer_id",
                "ancestor_id",
                "ancestor_level",
                depth=ibis.literal(depth, type="int64"),
            )
        )
        longest = depth
        if onward == 0:
            break
        if depth >= max_depth:
            deep = frontier.filter(frontier.next_id.notnull())
            ids = _first_ids(deep)
            raise AnalysisError(
                f"The customer hierarchy is deeper than max_depth={max_depth} levels "
                f"(above customer {_named(ids, onward)}); raise max_depth if that is "
                f"expected, or look for parents that loop."
            )
        step = frontier.filter(frontier.next_id.notnull())
        frontier = step.join(lookup, step.next_id == lookup._key).select(
            customer_id=step.customer_id,
            ancestor_id=lookup._key,
            ancestor_level=lookup._level,
            next_id=lookup._next,
            found=ibis.literal(True),
        )
        depth += 1
    return CustomerGraph(nodes=nodes, closure=ibis.union(*layers), depth=longest)


def _first_ids(rows: ir.Table) -> list[str]:
    """The first few customer ids of ``rows``, for an error sentence."""
    chosen = rows.select("customer_id").distinct().order_by("customer_id").limit(EXAMPLES)
    return [str(v) for v in chosen.execute()["customer_id"]]


def _raise_missing_parents(frontier: ir.Table, missing: int) -> None:
    rows = (
        frontier.filter(~frontier.found)
        .select("customer_id", "ancestor_id")
        .order_by("customer_id")
        .limit(EXAMPLES)
        .execute()
    )
    pairs = [f"{r.customer_id} (parent {r.ancestor_id})" for r in rows.itertuples()]
    if missing == 1:
        raise InputError(
            f"Customer {pairs[0]} has a parent_id that is not in the customers table; add "
            f"the parent or clear the parent_id."
        )
    raise InputError(
        f"Customers {_named(pairs, missing)} have parent_ids that are not in the customers "
        f"table; add the parents or clear the parent_ids."
    )


def _raise_loop(frontier: ir.Table, loops: int, depth: int) -> None:
    ids = _first_ids(frontier.filter(frontier.ancestor_id == frontier.customer_id))
    if depth == 1:
        raise InputError(
            f"Customer {_named(ids, loops)} is its own parent; clear or correct its parent_id."
        )
    raise InputError(
        f"The parents of customer {_named(ids, loops)} form a loop (each is its own "
        f"ancestor {depth} levels up); correct their parent_id so the hierarchy ends."
    )


def ancestry(customers: ir.Table | CustomerGraph, *, max_depth: int = 32) -> ir.Table:
    """Every customer with each of its ancestors: customer_id, ancestor_id,
    ancestor_level, depth (>= 1)."""
    return customer_graph(customers, max_depth=max_depth).ancestors


# ---- moving rows and metrics up the hierarchy -----------------------------------------


def at_level(table: ir.Table, customers: ir.Table | CustomerGraph, level: str | Level) -> ir.Table:
    """``table``'s rows (any table with customer_id: transactions, events, per-customer
    metrics) credited to the customer's account at ``level``: customer_id becomes the
    account's id, the other columns stay. A customer that is itself at ``level`` keeps
    its rows; rows of customers with no account at that level are left out; a customer
    under two accounts of that level gives its rows to both."""
    require_columns(table, ["customer_id"], "input")
    table = own_relation(table)
    graph = customer_graph(customers)
    name = level_name(level)
    c = graph.closure
    links = c.filter(c.ancestor_level == name).select(_member=c.customer_id, _account=c.ancestor_id)
    joined = table.join(links, table.customer_id.cast("string") == links._member)
    return joined.select(
        *[
            joined._account.name("customer_id") if col == "customer_id" else joined[col]
            for col in table.columns
        ]
    )


def roll_up(
    per_customer: ir.Table,
    customers: ir.Table | CustomerGraph,
    level: str | Level,
    *,
    metrics: Sequence[str] | None = None,
) -> ir.Table:
    """Sum per-customer ``metrics`` (default: every numeric column) up to the accounts at
    ``level``: customer_id, members (customers that contributed), and each metric.
    ``per_customer`` should hold one row per customer."""
    require_columns(per_customer, ["customer_id"], "per-customer")
    names = numeric_columns(per_customer, metrics)
    moved = at_level(per_customer, customers, level)
    return moved.group_by("customer_id").aggregate(
        members=_.count(), **{m: moved[m].sum() for m in names}
    )


def numeric_columns(table: ir.Table, metrics: Sequence[str] | None) -> list[str]:
    """The metric columns to sum: the ones named (checked to be numeric), else every
    numeric column but customer_id."""
    schema = table.schema()
    if metrics is None:
        return [n for n, t in schema.items() if n != "customer_id" and t.is_numeric()]
    if isinstance(metrics, str):
        metrics = [metrics]
    require_columns(table, list(metrics), "per-customer")
    wrong = [m for m in metrics if not schema[m].is_numeric()]
    if wrong:
        raise InputError(
            f"Only numbers can be rolled up; {', '.join(wrong)} "
            f"{'is' if len(wrong) == 1 else 'are'} not numeric."
        )
    return list(metrics)


# ---- who our customers are ------------------------------------------------------------


@dataclass(frozen=True)
class LevelCount:
    level: str
    customers: int
    direct: int
    end: int
    roots: int  # without a parent

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "customers": self.customers,
            "direct": self.direct,
            "end": self.end,
            "roots": self.roots,
        }


@dataclass(frozen=True)
class IntermediaryCustomers:
    intermediary_id: str
    end_customers: int  # relation 'end', at any depth below the intermediary

    def to_dict(self) -> dict:
        return {"intermediary_id": self.intermediary_id, "end_customers": self.end_customers}


@dataclass(frozen=True)
class ParentChildCount:
    """Parent-child links between two levels (companies → persons, groups → companies…)."""

    parent_level: str
    child_level: str
    parents: int
    children: int
    max_children: int  # of one parent

    @property
    def mean_children(self) -> float:
        return self.children / self.parents if self.parents else 0.0

    def to_dict(self) -> dict:
        return {
            "parent_level": self.parent_level,
            "child_level": self.child_level,
            "parents": self.parents,
            "children": self.children,
            "mean_children": self.mean_children,
            "max_children": self.max_children,
        }


@dataclass(frozen=True)
class CustomerSummary:
    customers: int
    levels: tuple[LevelCount, ...]  # canonical order; unknown levels after, by name
    direct_customers: int  # relation 'direct', any level
    end_customers: int
    end_without_intermediary: int  # relation 'end' but no intermediary above them
    intermediaries: tuple[IntermediaryCustomers, ...]  # most end customers first
    parent_child: tuple[ParentChildCount, ...]
    depth: int  # the longest chain of parents

    def level(self, level: str | Level) -> LevelCount:
        name = level.value if isinstance(level, Level) else level
        for item in self.levels:
            if item.level == name:
                return item
        return LevelCount(name, 0, 0, 0, 0)

    def to_dict(self) -> dict:
        return {
            "customers": self.customers,
            "levels": [x.to_dict() for x in self.levels],
            "direct_customers": self.direct_customers,
            "end_customers": self.end_customers,
            "end_without_intermediary": self.end_without_intermediary,
            "intermediaries": [x.to_dict() for x in self.intermediaries],
            "parent_child": [x.to_dict() for x in self.parent_child],
            "depth": self.depth,
        }


def _behind_intermediaries(graph: CustomerGraph) -> ir.Table:
    """(intermediary_id, customer_id, depth) for every end customer below an
    intermediary."""
    a = graph.ancestors
    ends = graph.nodes.filter(graph.nodes.relation == "end").select(_end=graph.nodes.customer_id)
    above = a.filter(a.ancestor_level == Level.INTERMEDIARY.value)
    joined = above.join(ends, above.customer_id == ends._end)
    return joined.select(
        intermediary_id=joined.ancestor_id, customer_id=joined.customer_id, depth=joined.depth
    )


def customer_summary(customers: ir.Table | CustomerGraph) -> CustomerSummary:
    """How many customers per level, the direct and end customers, the end customers
    behind each intermediary, and parent → children counts."""
    graph = customer_graph(customers)
    nodes = graph.nodes
    behind = _behind_intermediaries(graph)
    served = behind.select(_served=behind.customer_id).distinct()
    flagged = nodes.left_join(served, nodes.customer_id == served._served)
    is_end = flagged.relation == "end"
    per_level = (
        flagged.group_by(flagged.level)
        .aggregate(
            customers=_.count(),
            direct=(flagged.relation == "direct").cast("int64").sum(),
            end=is_end.cast("int64").sum(),
            roots=flagged.parent_id.isnull().cast("int64").sum(),
            end_alone=(is_end & flagged._served.isnull()).cast("int64").sum(),
        )
        .execute()
    )
    order = {name: k for k, name in enumerate(LEVELS)}
    levels = sorted(
        (
            LevelCount(
                str(r.level), as_int(r.customers), as_int(r.direct), as_int(r.end), as_int(r.roots)
            )
            for r in per_level.itertuples()
        ),
        key=lambda x: (order.get(x.level, len(LEVELS)), x.level),
    )
    intermediaries = nodes.filter(nodes.level == Level.INTERMEDIARY.value).select(_id=nodes.customer_id)
    per_intermediary = behind.group_by("intermediary_id").aggregate(n=behind.customer_id.nunique())
    counted = intermediaries.left_join(
        per_intermediary, intermediaries._id == per_intermediary.intermediary_id
    ).select(intermediary_id=_._id, end_customers=_.n.fill_null(0))
    frame = counted.execute()
    listed = sorted(
        (
            IntermediaryCustomers(str(r.intermediary_id), as_int(r.end_customers))
            for r in frame.itertuples()
        ),
        key=lambda x: (-x.end_customers, x.intermediary_id),
    )
    links = children_counts(graph)
    pairs = (
        links.group_by(["parent_level", "child_level"])
        .aggregate(parents=_.count(), children=_.children.sum(), max_children=_.children.max())
        .execute()
    )
    parent_child = sorted(
        (
            ParentChildCount(
                str(r.parent_level), str(r.child_level), as_int(r.parents),
                as_int(r.children), as_int(r.max_children),
            )
            for r in pairs.itertuples()
        ),
        key=lambda x: (order.get(x.parent_level, len(LEVELS)), order.get(x.child_level, len(LEVELS)),
                       x.parent_level, x.child_level),
    )
    return CustomerSummary(
        customers=sum(x.customers for x in levels),
        levels=tuple(levels),
        direct_customers=sum(x.direct for x in levels),
        end_customers=sum(x.end for x in levels),
        end_without_intermediary=as_int(per_level["end_alone"].sum()),
        intermediaries=tuple(listed),
        parent_child=tuple(parent_child),
        depth=graph.depth,
    )


def direct_customers(customers: ir.Table | CustomerGraph) -> ir.Table:
    """The customers we deal with directly, at any level: customer_id, level,
    parent_id, segment."""
    nodes = customer_graph(customers).nodes
    direct = nodes.filter(nodes.relation == "direct")
    return direct.select("customer_id", "level", "parent_id", "segment")


def end_customers(
    customers: ir.Table | CustomerGraph, intermediary_id: str | None = None
) -> ir.Table:
    """The end customers behind each intermediary (or behind one): intermediary_id,
    customer_id, level, segment, depth (1 = served by the intermediary itself)."""
    graph = customer_graph(customers)
    behind = _behind_intermediaries(graph)
    if intermediary_id is not None:
        behind = behind.filter(behind.intermediary_id == intermediary_id)
    nodes = graph.nodes
    joined = behind.join(nodes, behind.customer_id == nodes.customer_id)
    return joined.select(
        intermediary_id=joined.intermediary_id,
        customer_id=behind.customer_id,
        level=joined.level,
        segment=joined.segment,
        depth=joined.depth,
    )


def children_counts(customers: ir.Table | CustomerGraph) -> ir.Table:
    """Direct children per parent and child level: parent_id, parent_level,
    child_level, children."""
    nodes = customer_graph(customers).nodes
    children = nodes.filter(nodes.parent_id.notnull())
    parents = nodes.select(_pid=nodes.customer_id, _plevel=nodes.level)
    joined = children.join(parents, children.parent_id == parents._pid)
    return joined.group_by(
        [joined.parent_id, joined._plevel.name("parent_level"), joined.level.name("child_level")]
    ).aggregate(children=_.count())


# ---- internal customers ---------------------------------------------------------------


@dataclass(frozen=True)
class InternalCustomer:
    """``customer`` receives cases from ``supplier``: it is the supplier's internal
    customer."""

    supplier: str
    customer: str
    handoffs: int
    cases: int
    share_of_supplier: float  # of the supplier's hand-offs, the share going to this customer
    delay: Delay

    def to_dict(self) -> dict:
        return {
            "supplier": self.supplier,
            "customer": self.customer,
            "handoffs": self.handoffs,
            "cases": self.cases,
            "share_of_supplier": self.share_of_supplier,
            "delay": self.delay.to_dict(),
        }


@dataclass(frozen=True)
class InternalCustomers:
    links: tuple[InternalCustomer, ...]  # most hand-offs first

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(sorted({x.supplier for x in self.links} | {x.customer for x in self.links}))

    def customers_of(self, department: str) -> tuple[str, ...]:
        """The departments ``department`` hands customers to, most hand-offs first."""
        return tuple(x.customer for x in self.links if x.supplier == department)

    def suppliers_of(self, department: str) -> tuple[str, ...]:
        """The departments that hand customers to ``department``, most hand-offs first."""
        return tuple(x.supplier for x in self.links if x.customer == department)

    def to_dict(self) -> dict:
        return {
            "direction": "a case handed from supplier to customer makes the receiving "
            "department the supplier's internal customer",
            "departments": list(self.departments),
            "links": [x.to_dict() for x in self.links],
        }


def internal_customers(
    source: ir.Table | HandOffs,
    *,
    touchpoints: ir.Table | None = None,
    min_handoffs: int = 1,
) -> InternalCustomers:
    """Which departments are internal customers of which, from the hand-offs in the
    events (or a :class:`~corridor.handoffs.HandOffs` already computed). Links with fewer
    than ``min_handoffs`` hand-offs are left out."""
    if min_handoffs < 1:
        raise InputError(f"min_handoffs must be at least 1; got {min_handoffs}.")
    found = source if isinstance(source, HandOffs) else handoffs(source, touchpoints=touchpoints)
    sent: dict[str, int] = {}
    for pair in found.pairs:
        sent[pair.from_department] = sent.get(pair.from_department, 0) + pair.count
    links = [
        InternalCustomer(
            supplier=p.from_department,
            customer=p.to_department,
            handoffs=p.count,
            cases=p.cases,
            share_of_supplier=p.count / sent[p.from_department],
            delay=p.delay,
        )
        for p in found.pairs
        if p.count >= min_handoffs
    ]
    links.sort(key=lambda x: (-x.handoffs, x.supplier, x.customer))
    return InternalCustomers(tuple(links))


