"""The customer graph: ancestry, roll-ups, who our customers are at every level, and the
departments that are internal customers of each other; on a hand-made graph with known
answers and on the demo company's planted structure."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor import store
from corridor.customers import (
    Level,
    ancestry,
    at_level,
    children_counts,
    customer_graph,
    customer_summary,
    direct_customers,
    end_customers,
    internal_customers,
    roll_up,
)
from corridor.demo import DemoConfig, generate
from corridor.errors import AnalysisError, InputError

from helpers import timed_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)


def customers_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "level", "parent_id", "relation", "segment"]).astype(
        "string"
    )


# A group G1 owns company K1 (people p1, p2) and the retail partner R1 (end customers
# e1, e2); K2 is an independent company (p3); e3 is an end customer of no partner; x is
# a person on its own whose parent_id is empty.
SMALL = customers_frame(
    [
        ("G1", "corporate", None, "direct", "enterprise"),
        ("K1", "company", "G1", "direct", "enterprise"),
        ("K2", "company", None, "direct", "small_business"),
        ("R1", "intermediary", "G1", "direct", "retail_partner"),
        ("p1", "person", "K1", "direct", "enterprise"),
        ("p2", "person", "K1", "direct", "enterprise"),
        ("p3", "person", "K2", "direct", "small_business"),
        ("e1", "person", "R1", "end", "consumer"),
        ("e2", "person", "R1", "end", "consumer"),
        ("e3", "person", None, "end", "consumer"),
        ("x", None, "", None, "consumer"),
    ]
)

SPEND = pd.DataFrame(
    {
        "customer_id": ["p1", "p2", "p3", "e1", "K1", "x"],
        "amount": [1.0, 2.0, 3.0, 4.0, 10.0, 100.0],
        "orders": np.array([1, 1, 2, 1, 1, 5], dtype="int64"),
    }
).astype({"customer_id": "string"})


def test_ancestry_and_roll_up_on_every_engine(put):
    graph = customer_graph(put(SMALL))
    assert graph.depth == 2
    closure = graph.closure.execute()
    pairs = {(r.customer_id, r.ancestor_id): (r.ancestor_level, r.depth) for r in closure.itertuples()}
    assert pairs[("p1", "p1")] == ("person", 0)
    assert pairs[("p1", "K1")] == ("company", 1)
    assert pairs[("p1", "G1")] == ("corporate", 2)
    assert pairs[("e1", "G1")] == ("corporate", 2)
    assert pairs[("x", "x")] == ("person", 0)  # missing level reads as person
    assert len(closure) == 11 + 7 + 4  # itself, parents, grandparents

    companies = roll_up(put(SPEND), graph, Level.COMPANY).execute().set_index("customer_id")
    assert companies.loc["K1", "amount"] == 13.0  # its own 10 and its people's 1 + 2
    assert companies.loc["K1", "members"] == 3
    assert companies.loc["K2", "orders"] == 2
    assert set(companies.index) == {"K1", "K2"}


@duckdb_only
def test_summary_of_levels_relations_and_links(put):
    graph = customer_graph(put(SMALL))
    summary = customer_summary(graph)
    assert summary.customers == 11
    assert [(x.level, x.customers) for x in summary.levels] == [
        ("person", 7), ("company", 2), ("intermediary", 1), ("corporate", 1)
    ]
    assert summary.level("person").end == 3
    assert summary.direct_customers == 8  # x's missing relation reads as direct
    assert summary.end_customers == 3
    assert summary.end_without_intermediary == 1  # e3
    assert [(i.intermediary_id, i.end_customers) for i in summary.intermediaries] == [("R1", 2)]
    links = {(p.parent_level, p.child_level): (p.parents, p.children, p.max_children)
             for p in summary.parent_child}
    assert links == {
        ("company", "person"): (2, 3, 2),
        ("intermediary", "person"): (1, 2, 2),
        ("corporate", "company"): (1, 1, 1),
        ("corporate", "intermediary"): (1, 1, 1),
    }
    assert summary.to_dict()["parent_child"][0]["mean_children"] == 1.5
    groups = roll_up(put(SPEND), graph, "corporate", metrics=["amount"]).execute()
    assert groups.to_dict("records") == [{"customer_id": "G1", "members": 4, "amount": 17.0}]


@duckdb_only
def test_listing_questions(put):
    graph = customer_graph(put(SMALL))
    direct = set(direct_customers(graph).execute()["customer_id"])
    assert direct == {"G1", "K1", "K2", "R1", "p1", "p2", "p3", "x"}
    behind = end_customers(graph).execute()
    assert sorted(zip(behind.intermediary_id, behind.customer_id, behind.depth)) == [
        ("R1", "e1", 1), ("R1", "e2", 1)
    ]
    assert end_customers(graph, "R9").execute().empty
    children = children_counts(graph).execute().set_index("parent_id")
    assert children.loc["K1", "children"] == 2 and children.loc["K1", "child_level"] == "person"
    # ancestry leaves out the customer's own row
    assert (ancestry(graph).execute()["depth"] >= 1).all()
    # at_level moves rows, not sums: every transaction of K1's people becomes K1's
    rows = at_level(put(SPEND), graph, "company").execute()
    assert sorted(rows.loc[rows.customer_id == "K1", "amount"]) == [1.0, 2.0, 10.0]


@duckdb_only
def test_a_flat_customer_list_has_depth_zero(put):
    flat = customers_frame([("a", "person", None, "direct", None), ("b", "person", None, "end", None)])
    summary = customer_summary(put(flat))
    assert summary.depth == 0
    assert summary.end_without_intermediary == 1
    assert summary.intermediaries == () and summary.parent_child == ()


@duckdb_only
@pytest.mark.parametrize(
    "rows, error, words",
    [
        ([("a", "person", "zz", "direct", None)], InputError,
         "Customer a (parent zz) has a parent_id that is not in the customers table"),
        ([("a", "person", "a", "direct", None)], InputError, "Customer a is its own parent"),
        ([("a", "company", "b", "direct", None), ("b", "company", "a", "direct", None),
          ("c", "person", "a", "direct", None)], InputError,
         "The parents of customer a, b form a loop (each is its own ancestor 2 levels up)"),
        ([("a", "person", "y", "direct", None), ("b", "person", "z", "direct", None)], InputError,
         "Customers a (parent y), b (parent z) have parent_ids that are not in the customers table"),
    ],
)
def test_broken_hierarchies_are_named(put, rows, error, words):
    with pytest.raises(error) as caught:
        customer_graph(put(customers_frame(rows)))
    assert words in str(caught.value)


@duckdb_only
def test_depth_limit_level_and_metric_errors(put):
    graph_table = put(SMALL)
    with pytest.raises(AnalysisError, match="deeper than max_depth=1 levels"):
        customer_graph(graph_table, max_depth=1)
    with pytest.raises(InputError, match="Unknown customer level 'household'"):
        roll_up(put(SPEND), graph_table, "household")
    named = put(SPEND.assign(note="x"))
    with pytest.raises(InputError, match="Only numbers can be rolled up; note is not numeric"):
        roll_up(named, graph_table, "company", metrics=["amount", "note"])
    with pytest.raises(InputError, match="needs the column customer_id"):
        customer_graph(put(pd.DataFrame({"id": ["a"]}).astype("string")))


@duckdb_only
def test_the_receiving_department_is_the_internal_customer(put):
    rows = [("c1", "a", 0), ("c1", "b", 10), ("c1", "c", 20),
            ("c2", "a", 0), ("c2", "b", 5),
            ("c3", "b", 0), ("c3", "a", 30)]
    events = timed_events(rows)
    events["department_id"] = events["touchpoint"].map({"a": "A", "b": "B", "c": "C"}).astype("string")
    found = internal_customers(put(events))
    assert [(x.supplier, x.customer, x.handoffs) for x in found.links] == [
        ("A", "B", 2), ("B", "A", 1), ("B", "C", 1)
    ]
    assert found.customers_of("A") == ("B",)
    assert found.customers_of("B") == ("A", "C")
    assert found.suppliers_of("C") == ("B",)
    assert found.links[1].share_of_supplier == 0.5
    assert found.departments == ("A", "B", "C")
    assert internal_customers(put(events), min_handoffs=2).departments == ("A", "B")
    with pytest.raises(InputError, match="min_handoffs must be at least 1"):
        internal_customers(put(events), min_handoffs=0)


# ---- the demo company ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("demo-customers"), DemoConfig(customers=3000, seed=7))
    customers = pd.read_csv(files.customers, dtype=str)[
        ["customer_id", "level", "parent_id", "relation", "segment", "region"]
    ]
    events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
    orders = events[events.touchpoint.isin(["order_online", "order_store", "order_partner"])]
    con = ibis.duckdb.connect()
    yield store.put_table(con, "customers", customers), orders, files.truths
    con.disconnect()


def test_demo_levels_match_the_planted_counts(demo):
    customers, _, truths = demo
    summary = customer_summary(customers)
    counts = truths.counts
    assert summary.customers == counts.customers_rows
    assert summary.level("person").customers == counts.persons
    assert summary.level("company").customers == counts.companies
    assert summary.level("intermediary").customers == counts.intermediaries
    assert summary.level("corporate").customers == counts.corporate_groups
    assert summary.depth == 2  # person -> company -> group, end customer -> partner -> group
    assert summary.end_without_intermediary == 0
    assert sum(i.end_customers for i in summary.intermediaries) == summary.end_customers
    assert len(summary.intermediaries) == counts.intermediaries
    # a fifth of the persons are end customers of a retail partner (PTYPE_P[1] = 0.20)
    assert 0.17 < summary.end_customers / counts.persons < 0.23


def test_demo_end_customers_are_the_partner_door_buyers(demo):
    customers, orders, truths = demo
    assert truths.alternatives[0].partner_door_is_end_customers
    behind = set(end_customers(customers)["customer_id"].execute())
    at_partner = set(orders.loc[orders.touchpoint == "order_partner", "customer_id"])
    ordering = set(orders.customer_id)
    assert at_partner == behind & ordering
    assert at_partner  # the demo does have partner orders


def test_demo_departments_hand_customers_to_their_internal_customers(demo_company):
    found = internal_customers(demo_company.events, touchpoints=demo_company.touchpoints)
    # support calls pass billing questions to Billing; the billing ping-pong bounces
    # between Billing and the stores, so each is the other's internal customer
    assert "D-BIL" in found.customers_of("D-CC")
    billing, stores = demo_company.truths.loops.pingpong_departments
    assert stores in found.customers_of(billing)
    assert billing in found.customers_of(stores)
    assert all(0 < x.share_of_supplier <= 1 for x in found.links)
