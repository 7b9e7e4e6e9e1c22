"""Corridor roles mined from journeys: basic steps in their typical order, alternative
doors of one step, optional services, and the same per customer segment."""

from __future__ import annotations


import pandas as pd
import pytest

from corridor.errors import AnalysisError, InputError
from corridor.roles import Role, corridor_roles

from helpers import timed_events as events_frame

# Each analytic's core test runs on every engine; further behaviour is checked on DuckDB
# alone to keep the Spark run short.
duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

def shop_journeys() -> list[tuple[str, str, float]]:
    """20 buying journeys: need -> offer -> one order door -> pay; 5 of them read the
    newsletter after paying, one calls the hotline early; 6 browsers never pay."""
    rows = []
    for k in range(20):
        case = f"b{k:02d}"
        door = "online_order" if k < 12 else "store_order" if k < 18 else "partner_order"
        # the order of need/offer varies a little but need comes first in most cases
        first, second = ("offer", "need") if k in (3, 9) else ("need", "offer")
        rows += [(case, first, 0), (case, second, 10)]
        if k == 4:
            rows.append((case, "hotline", 12))
        rows += [(case, door, 20), (case, "pay", 30)]
        if k % 4 == 0:
            rows.append((case, "newsletter", 40))
    for k in range(6):
        rows += [(f"v{k}", "need", 0), (f"v{k}", "browse", 5)]
    return rows


def test_basic_alternative_and_optional_roles_on_a_small_log(put):
    roles = corridor_roles(put(events_frame(shop_journeys())), goal="pay", noise_floor=0.08)
    assert roles.cases == 20
    assert roles.to_dict()["basic"] == ["need", "offer", "pay"]
    assert roles.to_dict()["alternatives"] == [["online_order", "store_order", "partner_order"]]
    assert roles.to_dict()["optional"] == ["newsletter"]
    assert [s.role for s in roles.corridor] == [
        Role.BASIC, Role.BASIC, Role.ALTERNATIVE, Role.BASIC
    ]
    (group,) = roles.alternatives
    assert group.coverage == 1.0
    assert group.max_overlap == 0.0
    assert [d.coverage for d in group.doors] == [12 / 20, 6 / 20, 2 / 20]
    assert roles.optional[0].coverage == 5 / 20
    assert roles.role_of("hotline") is None  # 1/20 is below the noise floor
    assert roles.role_of("browse") is None  # only on journeys that never pay


@duckdb_only
def test_without_a_goal_every_journey_counts(put):
    roles = corridor_roles(put(events_frame(shop_journeys())), noise_floor=0.15)
    assert roles.cases == 26
    assert roles.to_dict()["basic"] == ["need"]  # offer and pay: 20/26 < 0.8
    # without a goal, browsing and leaving is a branch beside the offer: the two never
    # meet and together cover every journey
    assert roles.to_dict()["alternatives"] == [["offer", "browse"]]


@duckdb_only
def test_touchpoints_that_meet_are_not_alternatives(put):
    rows = shop_journeys()
    # half of the online buyers also order in the store: no longer exclusive doors
    rows += [(f"b{k:02d}", "store_order", 25) for k in range(0, 12, 2)]
    roles = corridor_roles(put(events_frame(rows)), goal="pay", noise_floor=0.08)
    assert roles.alternatives == ()
    assert {"online_order", "store_order"} <= {i.touchpoint for i in roles.optional}


@duckdb_only
def test_roles_per_segment(put):
    rows = shop_journeys()
    customers = pd.DataFrame(
        {
            "customer_id": [f"b{k:02d}" for k in range(20)],
            "segment": ["retail" if k < 12 else "business" for k in range(20)],
        }
    ).astype("string")
    roles = corridor_roles(
        put(events_frame(rows)),
        goal="pay",
        noise_floor=0.08,
        customers=put(customers),
        by_segment=True,
    )
    by_segment = {s.segment: s.roles for s in roles.segments}
    assert set(by_segment) == {"business", "retail"}
    # retail customers all ordered online, business ones in the store or via partners
    assert by_segment["retail"].to_dict()["basic"] == ["need", "offer", "online_order", "pay"]
    assert by_segment["business"].to_dict()["alternatives"] == [
        ["store_order", "partner_order"]
    ]
    assert roles.to_dict()["segments"][0]["segment"] == "business"


@duckdb_only
def test_roles_report_clear_errors(put):
    table = put(events_frame(shop_journeys()))
    with pytest.raises(AnalysisError, match="No journey reaches the goal nowhere"):
        corridor_roles(table, goal="nowhere")
    with pytest.raises(InputError, match="customers table"):
        corridor_roles(table, by_segment=True)
    with pytest.raises(InputError, match="threshold"):
        corridor_roles(table, threshold=1.5)


# -- the demo company: its planted corridor -----------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_company):
    return demo_company.events, demo_company.customers, demo_company.truths


def test_demo_corridor_is_found_in_its_planted_order(demo):
    events, _, truths = demo
    roles = corridor_roles(events, goal=truths.corridor.goal)
    assert roles.cases == truths.measured.goal_journeys
    assert [s.touchpoints for s in roles.corridor] == [
        tuple(sorted(step, key=lambda t: -_measured(truths, t))) for step in truths.corridor.steps
    ]
    assert roles.to_dict()["basic"] == list(truths.corridor.basic)
    assert [set(g.touchpoints) for g in roles.alternatives] == [
        {d.touchpoint for d in group.doors} for group in truths.alternatives
    ]
    planted_optional = {s.touchpoint for s in truths.optional.services} | {
        s.touchpoint for s in truths.corridor.other_optional
    }
    assert planted_optional <= {i.touchpoint for i in roles.optional}
    # coverage is exactly what the generator counted in its files
    for item in (*roles.basic, *roles.optional, *(d for g in roles.alternatives for d in g.doors)):
        assert item.coverage == pytest.approx(_measured(truths, item.touchpoint), abs=1e-5)
    (group,) = roles.alternatives
    assert group.coverage == pytest.approx(truths.alternatives[0].coverage)
    assert group.max_overlap <= truths.alternatives[0].co_occurrence + 0.01


def test_demo_partner_door_belongs_to_end_customers_only(demo):
    events, customers, truths = demo
    roles = corridor_roles(
        events, goal=truths.corridor.goal, customers=customers, by_segment=True
    )
    by_segment = {s.segment: s.roles for s in roles.segments}
    # sales calls are planted for business customers only: their share of all goal
    # journeys over the business customers' share
    business_share = sum(
        v.share for v in truths.value_segments if v.segment in ("small_business", "enterprise")
    )
    overall = next(s for s in truths.corridor.other_optional if s.touchpoint == "sales_call")
    planted_sales_share = overall.share / business_share
    assert "order_partner" in by_segment["consumer"].alternatives[0].touchpoints
    for business in ("small_business", "enterprise"):
        doors = by_segment[business].alternatives[0].touchpoints
        assert set(doors) == {"order_online", "order_store"}
        sales = [i for i in by_segment[business].optional if i.touchpoint == "sales_call"]
        assert sales and sales[0].coverage == pytest.approx(planted_sales_share, abs=0.1)
    assert by_segment["consumer"].role_of("sales_call") is None


def _measured(truths, touchpoint: str) -> float:
    return next(s.share for s in truths.measured.coverage if s.touchpoint == touchpoint)
