"""Funnels broken down by segment or channel: each case counted in the group of the event
that entered the funnel, the groups adding up to the whole funnel at every step, the
smaller groups put together as "other"."""

from __future__ import annotations

from datetime import timedelta

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor import store
from corridor.errors import InputError
from corridor.funnel import funnel
from corridor.funnel_breakdown import Breakdown, funnel_by

from helpers import timed_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

# The shop of tests/test_funnel.py, with customers and channels.
SHOP = [
    ("c1", "home", 0), ("c1", "view", 1), ("c1", "faq", 2), ("c1", "cart", 5),
    ("c1", "pay", 7),
    ("c2", "view", 0), ("c2", "cart", 1),
    ("c3", "cart", 0), ("c3", "view", 3),
    ("c4", "view", 0), ("c4", "faq", 4), ("c4", "help", 5), ("c4", "view", 6),
    ("c4", "cart", 11), ("c4", "pay", 30),
    ("c5", "home", 0), ("c5", "pay", 1),
    ("c6", "view", 0), ("c6", "cart", 2), ("c6", "pay", 3),
]
SEGMENTS = {"c1": "retail", "c2": "retail", "c3": "business", "c4": "business",
            "c5": "retail", "c6": "public"}
# c4 entered on the phone; its second view (web) does not change that. c2's entry has no
# channel of its own: the view touchpoint declares "web". c6 entered in the app.
ENTRY_CHANNELS = {("c4", 0): "phone", ("c2", 0): None, ("c6", 0): "app"}
STEPS = ["view", "cart", "pay"]


def shop_events() -> pd.DataFrame:
    frame = timed_events(SHOP)
    offsets = [minutes for _case, _tp, minutes in SHOP]
    for i, (case, touchpoint, _minutes) in enumerate(SHOP):
        if touchpoint == "view" and (case, offsets[i]) in ENTRY_CHANNELS:
            frame.loc[i, "channel"] = ENTRY_CHANNELS[case, offsets[i]]
    return frame


def customers_frame(segments: dict[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(segments), "segment": list(segments.values())})


TOUCHPOINTS = pd.DataFrame({"touchpoint": ["view", "cart", "pay", "home", "faq", "help"],
                            "channel": ["web", "web", "web", "web", "web", "phone"]})


def counts(result) -> dict:
    return {(g.name, g.is_other): [s.cases for s in g.funnel.steps] for g in result.groups}


@pytest.fixture
def shop(put):
    return {"events": put(shop_events()), "customers": put(customers_frame(SEGMENTS)),
            "touchpoints": put(TOUCHPOINTS)}


@pytest.mark.parametrize("by", list(Breakdown))
def test_the_groups_add_up_to_the_whole_funnel_at_every_step(shop, by):
    result = funnel_by(shop["events"], STEPS, by=by, customers=shop["customers"],
                       touchpoints=shop["touchpoints"])
    whole = funnel(shop["events"], STEPS)
    assert [s.cases for s in result.overall.steps] == [s.cases for s in whole.steps]
    assert result.overall == whole
    for position in range(len(STEPS)):
        assert sum(g.funnel.steps[position].cases for g in result.groups) == \
            whole.steps[position].cases


def test_segments_count_each_case_once_with_known_answers(shop):
    result = funnel_by(shop["events"], STEPS, by="segment", customers=shop["customers"])
    assert result.by is Breakdown.SEGMENT
    # view: c1 c2 retail, c3 c4 business, c6 public; cart: c1 c2 c4 c6; pay: c1 c4 c6
    assert counts(result) == {("business", False): [2, 1, 1], ("retail", False): [2, 2, 1],
                              ("public", False): [1, 1, 1]}
    retail = result.groups[1]
    assert retail.name == "retail" and retail.cases == 2
    cart, pay = retail.funnel.steps[1:]
    assert cart.conversion_from_previous == 1.0 and pay.conversion_from_first == 0.5
    assert pay.drop_off == 1
    # view -> cart: c1 4 minutes, c2 1 minute
    assert cart.time_to_convert.median_seconds == pytest.approx(150.0)
    assert cart.between == ()  # the steps in between are given for the whole funnel only


def test_the_channel_is_the_entry_events_own_or_declared(shop):
    result = funnel_by(shop["events"], STEPS, by="channel", touchpoints=shop["touchpoints"])
    # c1 and c3 enter on web; c2 has no channel and view declares web; c4 phone; c6 app
    assert counts(result) == {("web", False): [3, 2, 1], ("app", False): [1, 1, 1],
                              ("phone", False): [1, 1, 1]}


@duckdb_only
def test_without_touchpoints_an_entry_without_a_channel_has_none(shop):
    result = funnel_by(shop["events"], STEPS, by="channel")
    assert counts(result)[None, False] == [1, 1, 0]  # c2


@duckdb_only
def test_the_smaller_groups_are_put_together_as_other(shop):
    result = funnel_by(shop["events"], STEPS, by="channel",
                       touchpoints=shop["touchpoints"], top=1)
    assert counts(result) == {("web", False): [3, 2, 1], (None, True): [2, 2, 2]}
    assert result.distinct_groups == 3
    assert result.groups[-1].is_other
    # other: c4 cart 11 minutes after its first view, c6 2 minutes
    assert result.groups[-1].funnel.steps[1].time_to_convert.median_seconds == \
        pytest.approx(390.0)


@duckdb_only
def test_a_customer_missing_from_the_customers_table_has_no_segment(put):
    events = put(shop_events())
    customers = put(customers_frame({"c1": "retail", "c3": "business", "c4": "business"}))
    result = funnel_by(events, STEPS, by="segment", customers=customers, top=2)
    # c2 and c6 are unknown: the largest group with c3 and c4, listed after named ties
    assert counts(result) == {("business", False): [2, 1, 1], (None, False): [2, 2, 1],
                              (None, True): [1, 1, 1]}
    assert [g.name for g in result.groups] == ["business", None, None]


@duckdb_only
def test_the_window_applies_inside_every_group(shop):
    result = funnel_by(shop["events"], STEPS, by="segment", customers=shop["customers"],
                       within=timedelta(minutes=10))
    # c4's cart is 11 minutes after its first view: business loses it
    assert counts(result)["business", False] == [2, 0, 0]
    assert result.overall.within_seconds == 600.0
    assert result.groups[0].funnel.within_seconds == 600.0


@duckdb_only
def test_a_first_step_nobody_visits_gives_no_groups(shop):
    result = funnel_by(shop["events"], ["nowhere", "cart"], by="segment",
                       customers=shop["customers"])
    assert result.groups == ()
    assert [s.cases for s in result.overall.steps] == [0, 0]


@duckdb_only
def test_bad_breakdowns_are_one_sentence(shop):
    events = shop["events"]
    with pytest.raises(InputError, match="broken down by segment or channel; got 'region'"):
        funnel_by(events, STEPS, by="region")
    with pytest.raises(InputError, match="needs the customers table"):
        funnel_by(events, STEPS, by="segment")
    with pytest.raises(InputError, match="from 1 to 100; got 0"):
        funnel_by(events, STEPS, by="channel", top=0)
    with pytest.raises(InputError, match="positive"):
        funnel_by(events, STEPS, by="channel", within=timedelta(0))
    with pytest.raises(InputError, match="single string"):
        funnel_by(events, "view", by="channel")


@duckdb_only
def test_the_result_turns_into_plain_data(shop):
    result = funnel_by(shop["events"], STEPS, by="segment", customers=shop["customers"])
    data = result.to_dict()
    assert data["by"] == "segment"
    assert data["groups"][0]["name"] == "business"
    assert data["overall"]["steps"][0]["cases"] == 5


# -- property: on random logs the groups always add up to funnel() ---------------------

logs = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3", "c4", "c5", "c6"]),
              st.sampled_from(["a", "b", "c"]), st.integers(0, 20),
              st.sampled_from(["web", "app", "phone", None])),
    min_size=1, max_size=30)


@pytest.fixture(scope="module")
def memory():
    con = ibis.duckdb.connect()
    yield con
    con.disconnect()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs, steps=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
       top=st.integers(1, 3), within=st.one_of(st.none(), st.integers(1, 10)))
def test_groups_always_add_up_to_the_funnel(memory, rows, steps, top, within):
    frame = timed_events([r[:3] for r in rows])
    frame["channel"] = pd.array([r[3] for r in rows], dtype="string")
    events = store.put_table(memory, "events", frame)
    window = None if within is None else timedelta(minutes=within)
    whole = funnel(events, steps, within=window)
    for by in Breakdown:
        customers = store.put_table(memory, "customers", customers_frame(
            {"c1": "x", "c2": "x", "c3": "y", "c4": "z", "c5": None}))
        result = funnel_by(events, steps, by=by, customers=customers, within=window, top=top)
        assert result.overall == whole
        assert len(result.groups) <= top + 1
        for position, step in enumerate(whole.steps):
            assert sum(g.funnel.steps[position].cases for g in result.groups) == step.cases


# -- the demo company ---------------------------------------------------------------------

def test_the_demo_corridor_funnel_by_segment_adds_up(demo_company):
    truths = demo_company.truths
    steps = list(truths.corridor.basic)
    result = funnel_by(demo_company.events, steps, by="segment",
                       customers=demo_company.customers, top=2)
    whole = funnel(demo_company.events, steps)
    assert result.overall == whole
    assert [g.is_other for g in result.groups][-1]
    assert result.groups[0].name == "consumer"  # the planted majority segment
    for position, step in enumerate(whole.steps):
        assert sum(g.funnel.steps[position].cases for g in result.groups) == step.cases
