"""Value: cost to serve, profitability per customer, segment, level and intermediary,
target segments, service tiers, customers and services that do not pay back, and revenue
at risk; on a hand-made company whose every number is worked out below, and on the demo
company's planted channel costs and billing margins."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor import store
from corridor.demo import DemoConfig, generate
from corridor.errors import AnalysisError, InputError
from corridor.roles import corridor_roles
from corridor.profit import cost_to_serve, customer_profit, profitability
from corridor.revenue_risk import BadExperience, ScoreLimit, WaitLimit, revenue_at_risk
from corridor.targets import (
    ScoreWeights,
    Tier,
    service_payback,
    service_tiers,
    target_segments,
    underwater_customers,
)

from helpers import canonical_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

# Group G1 owns company K1 (people p1, p2); R1 is a retail partner serving e1; c1 and c2
# are consumers on their own. z buys but is missing from the customers table.
CUSTOMERS = pd.DataFrame(
    [
        ("G1", "corporate", None, "direct", "enterprise"),
        ("K1", "company", "G1", "direct", "enterprise"),
        ("R1", "intermediary", None, "direct", "retail_partner"),
        ("p1", "person", "K1", "direct", "enterprise"),
        ("p2", "person", "K1", "direct", "enterprise"),
        ("c1", "person", None, "direct", "consumer"),
        ("c2", "person", None, "direct", "consumer"),
        ("e1", "person", "R1", "end", "consumer"),
    ],
    columns=["customer_id", "level", "parent_id", "relation", "segment"],
).astype("string")

NAN = np.nan
# customer, touchpoint, own cost, outcome, wait seconds
CONTACTS = [
    ("p1", "order", 10.0, "ok", NAN),
    ("p1", "support", 5.0, "failed", 60.0),
    ("p1", "support", 5.0, "ok", 60.0),
    ("p2", "order", 10.0, "ok", NAN),
    ("c1", "order", NAN, "ok", NAN),  # costed from the table: 2
    ("c1", "support", NAN, "ok", 1200.0),  # costed from the table: 4; waited 20 minutes
    ("c2", "order", 3.0, "ok", NAN),
    ("e1", "partner_order", NAN, "ok", NAN),  # in no table: uncosted
]
COSTS = {"order": 2.0, "support": 4.0}


def events_frame() -> pd.DataFrame:
    frame = pd.DataFrame(CONTACTS, columns=["customer_id", "touchpoint", "cost", "outcome", "wait_seconds"])
    frame["case_id"] = frame["customer_id"]
    frame["timestamp"] = pd.Timestamp("2024-01-01 09:00") + pd.to_timedelta(np.arange(len(frame)), "h")
    return canonical_events(frame)


TRANSACTIONS = pd.DataFrame(
    {
        "customer_id": ["p1", "p1", "p2", "c1", "c2", "e1", "z"],
        "timestamp": pd.Timestamp("2024-01-02"),
        "amount": [100.0, 50.0, 20.0, 10.0, 30.0, 40.0, 5.0],
        "margin": [40.0, NAN, 5.0, 1.0, 12.0, 8.0, 1.0],  # p1's second: rate 0.5 -> 25
    }
).astype({"customer_id": "string"})

# profit = margin - cost to serve
PROFIT = {"p1": 65 - 20, "p2": 5 - 10, "c1": 1 - 6, "c2": 12 - 3, "e1": 8 - 0, "z": 1 - 0}

CLV = pd.DataFrame(
    {"customer_id": ["p1", "p2", "c1", "c2", "e1"], "clv": [100.0, 50.0, 3.0, 100.0, 10.0]}
).astype({"customer_id": "string"})

FEEDBACK = pd.DataFrame(
    [
        ("c2", "nps", 5.0, None),  # a detractor, about no touchpoint in particular
        ("e1", "csat", 4.0, "partner_order"),  # satisfied
        ("p2", "ces", 3.0, "order"),  # hard work
        ("p1", "nps", 9.0, None),
        ("p1", "csat", 2.0, "order"),
        ("z", "nps", 0.0, None),  # no CLV row
    ],
    columns=["customer_id", "metric", "score", "touchpoint"],
).astype({"customer_id": "string", "metric": "string", "touchpoint": "string"})
FEEDBACK["timestamp"] = pd.Timestamp("2024-01-03")


@pytest.fixture
def world(put):
    return {
        "customers": put(CUSTOMERS),
        "events": put(events_frame()),
        "transactions": put(TRANSACTIONS),
    }


def test_profit_tiers_and_revenue_at_risk_on_every_engine(world, put):
    per = customer_profit(world["events"], world["transactions"], cost_table=COSTS, margin_rate=0.5)
    frame = per.execute().set_index("customer_id")
    assert frame["profit"].to_dict() == PROFIT
    assert frame.loc["c1", "cost_to_serve"] == 6.0 and frame.loc["e1", "uncosted_contacts"] == 1
    assert frame.loc["z", "contacts"] == 0 and frame.loc["p1", "transactions"] == 2

    tiers = service_tiers(per)
    assert [(t.tier, t.customers, t.profit) for t in tiers.summary] == [
        ("premium", 1, 45.0), ("standard", 3, 18.0), ("self_service", 2, -10.0)
    ]

    risk = revenue_at_risk(
        put(CLV), events=world["events"], feedback=put(FEEDBACK), customers=world["customers"]
    )
    third = 1 / 3
    assert risk.customers_affected == 5 and risk.without_clv == 1  # p1, p2, c1, c2; z
    assert risk.revenue_at_risk == pytest.approx((100 + 50 + 3 + 100) * third)
    by_touchpoint = {g.key: g.revenue_at_risk for g in risk.by_touchpoint}
    # p1 had two bad experiences (a failed support call, a low CSAT on the order): half each
    assert by_touchpoint == pytest.approx(
        {"support": (50 + 3) * third, "order": (50 + 50) * third, None: 100 * third}
    )


@duckdb_only
def test_cost_to_serve_uses_event_costs_first_then_the_table(world, put):
    own_only = cost_to_serve(world["events"]).execute().set_index("customer_id")
    assert own_only.loc["c1", "cost_to_serve"] == 0.0 and own_only.loc["c1", "uncosted_contacts"] == 2
    table = put(pd.DataFrame({"touchpoint": ["order", "support", "order"],
                              "cost_per_contact": [2.0, 4.0, 7.0]}).astype({"touchpoint": "string"}))
    mixed = cost_to_serve(world["events"], cost_table=table).execute().set_index("customer_id")
    assert mixed.loc["c1", "cost_to_serve"] == 6.0  # order listed twice: the lower cost
    assert mixed.loc["p1", "cost_to_serve"] == 20.0  # the events' own costs win
    assert mixed["contacts"].sum() == len(CONTACTS)
    with pytest.raises(InputError, match="needs the column cost_per_contact"):
        cost_to_serve(world["events"], cost_table=put(pd.DataFrame({"touchpoint": ["a"]}).astype("string")))
    with pytest.raises(InputError, match="Costs per contact must be numbers of at least 0; check order"):
        cost_to_serve(world["events"], cost_table={"order": -1.0})


@duckdb_only
def test_profitability_per_segment_level_and_intermediary(world):
    report = profitability(world["events"], world["transactions"], world["customers"],
                           cost_table=COSTS, margin_rate=0.5)
    total = report.total
    assert (total.customers, total.revenue, total.margin, total.cost_to_serve, total.profit,
            total.unprofitable) == (6, 255.0, 92.0, 39.0, 53.0, 2)
    assert report.segment("enterprise").profit == 40.0
    assert report.segment("consumer").profit == 12.0 and report.segment("consumer").customers == 3
    assert report.segment(None).profit == 1.0 and report.not_in_customers == 1
    assert report.uncosted_contacts == 1
    levels = {g.key: (g.customers, g.profit) for g in report.by_level}
    assert levels == {"person": (5, 52.0), "company": (1, 40.0), "intermediary": (1, 8.0),
                      "corporate": (1, 40.0)}
    assert [(g.key, g.customers, g.profit) for g in report.by_intermediary] == [("R1", 1, 8.0)]
    assert report.to_dict()["total"]["profit_per_customer"] == pytest.approx(53 / 6)
    with pytest.raises(AnalysisError, match="1 transaction has no margin; pass margin_rate"):
        profitability(world["events"], world["transactions"], world["customers"], cost_table=COSTS)
    with pytest.raises(InputError, match="margin_rate must be a share between 0 and 1"):
        customer_profit(world["events"], world["transactions"], margin_rate=42)


@duckdb_only
def test_target_segments_rank_value_fit_and_importance(world, put):
    per = customer_profit(world["events"], world["transactions"], cost_table=COSTS, margin_rate=0.5)
    corridor = [("order", "partner_order"), "support"]
    ranking = target_segments(per, world["customers"], events=world["events"], corridor=corridor,
                              importance={"consumer": 1.0, "enterprise": 0.5})
    scores = {s.segment: s for s in ranking.segments}
    assert [s.segment for s in ranking.segments] == ["enterprise", "consumer", None]
    assert scores["enterprise"].value == 20.0 and scores["enterprise"].compatibility == 0.75
    assert scores["consumer"].value == 4.0
    assert scores["consumer"].compatibility == pytest.approx(2 / 3)
    assert scores["consumer"].value_score == pytest.approx(3 / 19)  # (4 - 1) / (20 - 1)
    assert scores["enterprise"].score == pytest.approx(0.5 * 1 + 0.3 * 0.75 + 0.2 * 0.5)
    assert scores[None].score == pytest.approx(0.2 * 0.5)  # lowest value, no contacts
    # the importance rule can turn the order around
    favour = target_segments(per, world["customers"], events=world["events"], corridor=corridor,
                             importance={"consumer": 1.0, "enterprise": 0.0},
                             weights=ScoreWeights(value=0.1, compatibility=0.1, importance=0.8))
    assert favour.segments[0].segment == "consumer"
    # by CLV, at the company level: K1 holds p1 and p2, who walk every step between them
    accounts = target_segments(put(CLV), world["customers"], events=world["events"],
                               corridor=corridor, value_column="clv", level="company")
    assert [(s.segment, s.customers, s.value, s.compatibility) for s in accounts.segments] == [
        ("enterprise", 1, 150.0, 1.0)
    ]
    with pytest.raises(InputError, match="Touchpoint order appears in more than one corridor step"):
        target_segments(per, world["customers"], events=world["events"], corridor=["order", ("order",)])
    with pytest.raises(InputError, match="The importance of segment consumer must be a share"):
        target_segments(per, world["customers"], events=world["events"], corridor=corridor,
                        importance={"consumer": 5})
    with pytest.raises(InputError, match="Score weights must be at least 0 and not all 0"):
        target_segments(per, world["customers"], events=world["events"], corridor=corridor,
                        weights=ScoreWeights(0, 0, 0))


@duckdb_only
def test_customers_and_services_that_do_not_pay_back(world, put):
    per = customer_profit(world["events"], world["transactions"], cost_table=COSTS, margin_rate=0.5)
    under = underwater_customers(per)
    assert (under.customers, under.total_excess) == (2, 10.0)
    assert [(c.customer_id, c.excess) for c in under.worst] == [("c1", 5.0), ("p2", 5.0)]
    by_clv = underwater_customers(per, clv=put(CLV), limit=1)
    assert [(c.customer_id, c.value, c.excess) for c in by_clv.worst] == [("c1", 3.0, 3.0)]
    assert by_clv.value_basis == "clv" and by_clv.customers == 1

    payback = service_payback(world["events"], per, world["customers"], cost_table=COSTS)
    # order: only consumers have non-users (e1): users c1, c2 earn 13 against 2 x 8, an
    # uplift of -1.5 per compared user, times 4 users = -6, against 25 of contacts
    order = payback.service("order")
    assert (order.users, order.users_compared, order.cost) == (4, 2, 25.0)
    assert order.incremental_margin == pytest.approx(-6.0) and order.pays_back is False
    # support: p1 earns 60 more than p2; c1 earns 9 less than c2 and e1 on average
    support = payback.service("support")
    assert support.incremental_margin == pytest.approx(51.0) and support.net == pytest.approx(37.0)
    assert [s.touchpoint for s in payback.services] == ["order", "partner_order", "support"]
    assert [s.touchpoint for s in payback.not_paying_back] == ["order"]
    assert payback.service("partner_order").uncosted_contacts == 1


@duckdb_only
def test_tiers_and_bad_experience_settings(world, put):
    per = customer_profit(world["events"], world["transactions"], cost_table=COSTS, margin_rate=0.5)
    placed = service_tiers(per).per_customer.execute().set_index("customer_id")["tier"].to_dict()
    assert placed == {"p1": "premium", "c2": "standard", "e1": "standard", "z": "standard",
                      "p2": "self_service", "c1": "self_service"}  # -5, -5 tie at the bottom
    custom = service_tiers(per, tiers=(Tier("gold", 0.5, 5.0), Tier("rest")))
    assert [(t.tier, t.customers) for t in custom.summary] == [("gold", 3), ("rest", 3)]  # e1, c2, p1
    with pytest.raises(InputError, match="The last service tier \\(gold\\) must take every remaining"):
        service_tiers(per, tiers=(Tier("gold", 0.5),))
    # with a 30-minute limit on support waits, c1's 20-minute wait is no longer bad, and
    # with a stricter NPS limit p1's 9 is; a switching probability of 1 puts all CLV at risk
    strict = BadExperience(score_limits=(ScoreLimit("nps", 10),), failed_outcomes=(),
                           wait_limits=(WaitLimit("support", 1800),))
    risk = revenue_at_risk(put(CLV), events=world["events"], feedback=put(FEEDBACK),
                           definition=strict, switching_probability=1.0)
    assert risk.revenue_at_risk == 200.0  # p1 and c2; z has no CLV
    assert {g.key for g in risk.by_kind} == {"low_score"}
    assert risk.by_segment[0].key is None  # without a customers table: one group
    # only what happened since 3 January: the feedback, not the contacts of the 1st
    recent = revenue_at_risk(put(CLV), events=world["events"], feedback=put(FEEDBACK), since="2024-01-03")
    assert recent.revenue_at_risk == pytest.approx((100 + 50 + 100) / 3)
    assert {g.key for g in recent.by_kind} == {"low_score"}
    with pytest.raises(InputError, match="switching_probability must be a share between 0 and 1"):
        revenue_at_risk(put(CLV), events=world["events"], switching_probability=1.5)
    with pytest.raises(InputError, match="Unknown feedback metric 'stars'"):
        revenue_at_risk(put(CLV), feedback=put(FEEDBACK),
                        definition=BadExperience(score_limits=(ScoreLimit("stars", 3),)))
    with pytest.raises(InputError, match="needs events or feedback"):
        revenue_at_risk(put(CLV))
    with pytest.raises(InputError, match="The CLV table needs the column clv"):
        revenue_at_risk(put(CLV.drop(columns="clv")), events=world["events"])


# ---- the demo company ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("demo-value"), DemoConfig(customers=3000, seed=7))
    customers = pd.read_csv(files.customers, dtype=str)[["customer_id", "level", "parent_id", "relation",
                                                         "segment"]]
    events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
    events["seq"] = np.arange(len(events), dtype="int64")
    tx = pd.concat([pd.read_parquet(p) for p in files.transactions], ignore_index=True)
    con = ibis.duckdb.connect()
    yield {
        "customers": store.put_table(con, "customers", customers),
        "events": store.put_table(con, "events", events),
        "transactions": store.put_table(con, "transactions", tx),
        "frames": (events, tx),
        "truths": files.truths,
        "con": con,
    }
    con.disconnect()


def test_demo_cost_to_serve_follows_the_channel_cost_model(demo):
    events, _ = demo["frames"]
    model = {c.channel: (c.fixed, c.per_minute) for c in demo["truths"].costs}
    fixed = events.channel.map(lambda c: model[c][0])
    per_minute = events.channel.map(lambda c: model[c][1])
    planted = (fixed + per_minute * events.duration_seconds / 60).round(2)
    expected = planted.groupby(events.customer_id).sum()
    found = cost_to_serve(demo["events"]).execute().set_index("customer_id")["cost_to_serve"]
    assert found.reindex(expected.index).to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-6)
    # a web contact costs the web's fixed cost: from a table when the events carry none
    web = events[events.channel == "web"].assign(cost=np.nan).head(100)
    table = {tp: model["web"][0] for tp in web.touchpoint.unique()}
    priced = cost_to_serve(store.put_table(demo["con"], "web", web), cost_table=table).execute()
    assert priced["cost_to_serve"].sum() == pytest.approx(100 * model["web"][0])


def test_demo_bill_margins_are_the_planted_rate(demo):
    _, tx = demo["frames"]
    billing = demo["truths"].billing
    bills = tx[tx.kind == "bill"]
    unpriced = store.put_table(demo["con"], "bills", bills.assign(margin=np.nan))
    rated = customer_profit(demo["events"].filter(demo["events"].customer_id == "none"), unpriced,
                            margin_rate=billing.bill_margin_rate).execute()
    assert rated["margin"].sum() == pytest.approx(bills["margin"].sum(), rel=1e-4)
    # every transaction's planted margin is its kind's rate (to the cent)
    rate = np.where(tx.kind == "bill", billing.bill_margin_rate, billing.purchase_margin_rate)
    assert np.abs(tx.margin - tx.amount * rate).max() <= 0.005 + 1e-9


def test_demo_profitability_and_revenue_at_risk(demo):
    report = profitability(demo["events"], demo["transactions"], demo["customers"])
    truths = demo["truths"]
    assert report.uncosted_contacts == 0 and report.not_in_customers == 0
    assert report.level("person").customers <= truths.counts.persons
    assert len(report.by_intermediary) == truths.counts.intermediaries
    # an enterprise person pays a plan of 249-599 a month, a consumer 29-65
    enterprise = report.segment("enterprise")
    consumer = report.segment("consumer")
    assert enterprise.profit_per_customer > 3 * consumer.profit_per_customer
    tiers = service_tiers(report.per_customer)
    assert tiers.tier("premium").mean_profit > tiers.tier("standard").mean_profit > 0
    assert tiers.tier("self_service").mean_profit <= 0
    assert tiers.tier("premium").share == pytest.approx(0.2, abs=0.01)
    # the corridor mined from the journeys; every person segment walks most of it
    roles = corridor_roles(demo["events"], goal=truths.corridor.goal)
    ranking = target_segments(report.per_customer, demo["customers"], events=demo["events"],
                              corridor=roles)
    assert ranking.segments[0].segment == "enterprise"
    persons = [s for s in ranking.segments if s.segment in ("consumer", "small_business", "enterprise")]
    assert all(0.6 < s.compatibility <= 1.0 for s in persons)
    # add-ons are billed every month from then on (planted prices): they pay back
    payback = service_payback(demo["events"], report.per_customer, demo["customers"])
    for addon, _price in truths.billing.addon_prices:
        assert payback.service(addon).pays_back, addon
    # with every CLV at 1, revenue at risk is a third of the customers with a bad experience
    ones = report.per_customer.select("customer_id", clv=ibis.literal(1.0))
    hotline_failures = demo["events"].filter(demo["events"].outcome == "failed")
    risk = revenue_at_risk(ones, events=hotline_failures, definition=BadExperience(max_wait_seconds=None))
    failed = hotline_failures.customer_id.nunique().execute()
    assert risk.revenue_at_risk == pytest.approx(failed / 3)
    # the planted failures lead: the app-login outage (and its baseline) and the hotline
    planted = {truths.exception.touchpoint, truths.accessibility.touchpoint}
    assert {g.key for g in risk.by_touchpoint[:2]} == planted


@duckdb_only
def test_profitability_without_events_or_margins_is_unknown_not_zero(world):
    report = profitability(None, world["transactions"], world["customers"], margin_rate=0.5)
    assert report.cost_known is False and report.margin_known is True
    assert report.total.margin == pytest.approx(65 + 5 + 1 + 12 + 8 + 1)
    assert report.total.cost_to_serve is None and report.total.profit is None
    assert report.total.unprofitable is None and report.uncosted_contacts is None
    assert all(g.profit is None for g in report.by_segment + report.by_level)
    unpriced = profitability(world["events"], world["transactions"], world["customers"],
                             cost_table=COSTS, allow_unpriced=True)
    assert unpriced.margin_known is False and unpriced.unpriced_transactions == 1
    assert unpriced.total.margin is None and unpriced.total.cost_to_serve == pytest.approx(39.0)
    assert unpriced.per_customer.execute()["profit"].isna().all()


@duckdb_only
def test_value_report_leaves_out_what_the_tables_cannot_give(world, put):
    from corridor.portfolio import ValuePart, ValueSettings, customer_value

    tables = dict(events=world["events"], transactions=world["transactions"],
                  customers=world["customers"])
    # everyone buys on one day (no repeat purchase) and one transaction has no margin
    report = customer_value(**tables)
    assert report.lifetime is None and report.revenue_at_risk is None
    assert "made a repeat purchase" in report.reason(ValuePart.LIFETIME_VALUE)
    assert report.rfm is not None and report.profitability.total.cost_to_serve is not None
    assert report.reason(ValuePart.MARGIN).startswith("1 transaction has no margin")
    assert report.tiers is report.underwater is report.services is report.targets is None
    assert {n.part for n in report.not_computed} == {
        ValuePart.LIFETIME_VALUE, ValuePart.MARGIN, ValuePart.TARGETS, ValuePart.TIERS,
        ValuePart.UNDERWATER, ValuePart.SERVICES, ValuePart.REVENUE_AT_RISK}
    priced = customer_value(**tables, settings=ValueSettings(margin_rate=0.5))
    assert priced.tiers is not None and priced.underwater is not None
    assert priced.services is not None and priced.reason(ValuePart.MARGIN) is None
    # events only: no purchases to value, no margin, but the cost to serve is known
    events_only = customer_value(**{**tables, "transactions": put(TRANSACTIONS.iloc[:0])})
    assert events_only.lifetime is None and events_only.rfm is None
    assert events_only.profitability.total.margin is None
    assert events_only.profitability.total.cost_to_serve is not None
    assert "no transactions" in events_only.reason(ValuePart.MARGIN)
    json_parts = events_only.to_dict()
    assert json_parts["lifetime_value"] is None and json_parts["not_computed"]
