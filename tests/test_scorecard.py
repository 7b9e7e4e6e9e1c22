"""Department scorecards on a hand-made log whose answers are worked out below, on DuckDB
and Spark: touchpoints declared or handled, volume, waits, failures and satisfaction;
customers reached counted once; hand-offs in of a department equal to the hand-offs out
of the others to it; incidents and actions by owner. And on the demo company, the same
balance of hand-offs and every customer counted once."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from corridor.errors import InputError
from corridor.incidents import (
    Action,
    ActionKind,
    ActionStatus,
    Incident,
    IncidentStatus,
    Why,
)
from corridor.scorecard import department_scorecards

from helpers import timed_events

# case, touchpoint, minute, customer, own department, outcome, wait seconds
LOG = [
    ("k1", "a1", 0, "1", None, "ok", 60),
    ("k1", "b1", 10, "1", None, "failed", 10),
    ("k1", "a2", 30, "1", None, "ok", 120),
    ("k2", "a1", 0, "2", None, "ok", 30),
    ("k2", "c1", 5, "2", "B", "ok", 20),  # B handled c1 here, though C owns it
    ("k2", "a1", 20, "2", None, "ok", 90),
    ("k3", "b1", 100, "1", None, "ok", 40),
    ("k3", "c1", 160, "1", None, "ok", 50),
]
# By department: k1 A B A, k2 A B A, k3 B C. Hand-offs: A→B 10 and 5 min, B→A 20 and
# 15 min, B→C 60 min.


def frames():
    events = timed_events([(c, tp, m) for c, tp, m, *_ in LOG])
    events["customer_id"] = pd.array([r[3] for r in LOG], dtype="string")
    events["department_id"] = pd.array([r[4] for r in LOG], dtype="string")
    events["outcome"] = pd.array([r[5] for r in LOG], dtype="string")
    events["wait_seconds"] = [float(r[6]) for r in LOG]
    touchpoints = pd.DataFrame({"touchpoint": ["a1", "a2", "b1", "c1"],
                                "department_id": ["A", "A", "B", "C"]})
    departments = pd.DataFrame({"department_id": ["A", "B", "C", "D"],
                                "name": ["Alpha", "Beta", "Gamma", "Delta"],
                                "parent_id": [None, "A", None, None]})
    customers = pd.DataFrame({"customer_id": ["1", "2", "3"], "segment": ["x", "y", "x"]})
    at = pd.Timestamp("2024-01-02 10:00")
    feedback = pd.DataFrame({
        "customer_id": ["1", "2", "1", "1", "2"],
        "timestamp": [at] * 5,
        "touchpoint": ["a1", "a1", "b1", "c1", None],
        "metric": ["csat", "csat", "nps", "nps", "nps"],
        "score": [5.0, 2.0, 10.0, 3.0, 0.0],
    })
    return events, touchpoints, departments, customers, feedback


def incidents() -> list[Incident]:
    opened = dt.datetime(2024, 1, 3, 9)
    root = Why(1, 1, None, 1, "Nobody watches a1.", "a1", None, True)
    done = Action(1, 2, None, ActionKind.PREVENTIVE, "Watch b1", "C", dt.date(2024, 2, 1),
                  ActionStatus.DONE, dt.datetime(2024, 2, 1), None,
                  {"verdict": "improved"}, dt.datetime(2024, 3, 1))
    pending = Action(2, 1, 1, ActionKind.CORRECTIVE, "Fix a1", "A", dt.date(2024, 2, 15),
                     ActionStatus.OPEN, None, None, None, None)
    return [
        # no department named: it belongs to a1's declared owner, A
        Incident(1, opened, "a1 is slow", "a1", None, "manual", IncidentStatus.OPEN, None,
                 whys=(root,), actions=(pending,)),
        Incident(2, opened + dt.timedelta(days=1), "b1 fails", "b1", "B", "manual",
                 IncidentStatus.CLOSED, None, actions=(done,)),
    ]


@pytest.fixture
def cards(put):
    events, touchpoints, departments, customers, feedback = frames()
    return department_scorecards(
        put(events), touchpoints=put(touchpoints), departments=put(departments),
        customers=put(customers), feedback=put(feedback), incidents=incidents())


def test_every_department_has_a_card_even_without_work(cards):
    assert [c.department_id for c in cards.cards] == ["A", "B", "C", "D"]
    assert (cards.customers, cards.events) == (2, 8)
    delta = cards.card("D")
    assert (delta.name, delta.events, delta.touchpoints, delta.reach.customers) == (
        "Delta", 0, (), 0)
    assert cards.card("B").parent_id == "A"


def test_touchpoints_declared_or_handled_with_volume_waits_and_failures(cards):
    a = cards.card("A")
    assert [(t.touchpoint, t.declared, t.events, t.customers) for t in a.touchpoints] == [
        ("a1", True, 3, 2), ("a2", True, 1, 1)]
    assert [t.median_wait_seconds for t in a.touchpoints] == [60.0, 120.0]
    assert (a.events, a.median_wait_seconds, a.failure_share) == (4, 75.0, 0.0)
    b = cards.card("B")
    assert [(t.touchpoint, t.declared, t.events, t.failures) for t in b.touchpoints] == [
        ("b1", True, 2, 1), ("c1", False, 1, 0)]
    assert b.touchpoints[0].failure_share == 0.5
    assert b.median_wait_seconds == 20.0
    c = cards.card("C")
    assert [(t.touchpoint, t.events, t.median_wait_seconds) for t in c.touchpoints] == [
        ("c1", 1, 50.0)]


def test_satisfaction_comes_from_the_answers_at_its_touchpoints(cards):
    def scores(items):
        return {s.metric: (s.responses, s.value) for s in items}

    a = cards.card("A")
    assert scores(a.touchpoints[0].satisfaction) == {"csat": (2, 0.5)}
    assert scores(a.satisfaction) == {"csat": (2, 0.5)}
    # B handled b1 (a promoter) and c1 (a detractor): NPS 0; C owns c1 alone: NPS -100
    assert scores(cards.card("B").satisfaction) == {"nps": (2, 0.0)}
    assert scores(cards.card("C").satisfaction) == {"nps": (1, -100.0)}


def test_customers_reached_are_counted_once(cards):
    a = cards.card("A")
    # customer 1 met A three times at two touchpoints: one customer
    assert (a.reach.customers, a.reach.share) == (2, 1.0)
    assert [(s.segment, s.customers, s.share, s.of_segment) for s in a.reach.segments] == [
        ("x", 1, 0.5, 1.0), ("y", 1, 0.5, 1.0)]
    assert [(f.touchpoint, f.segment, f.customers) for f in a.reach.flows] == [
        ("a1", "x", 1), ("a1", "y", 1), ("a2", "x", 1)]
    c = cards.card("C")
    assert (c.reach.customers, c.reach.share) == (1, 0.5)


def test_handoffs_in_of_a_department_are_the_others_handoffs_out_to_it(cards):
    a, b, c = cards.card("A"), cards.card("B"), cards.card("C")
    assert [(h.department_id, h.count, h.delay.median_seconds) for h in a.handoffs.outgoing] == [
        ("B", 2, 450.0)]
    assert [(h.department_id, h.count, h.delay.median_seconds) for h in a.handoffs.incoming] == [
        ("B", 2, 1050.0)]
    assert [(h.department_id, h.count) for h in b.handoffs.outgoing] == [("A", 2), ("C", 1)]
    assert [(h.department_id, h.count, h.cases) for h in c.handoffs.incoming] == [("B", 1, 1)]
    for card in cards.cards:
        sent_here = sum(h.count for other in cards.cards for h in other.handoffs.outgoing
                        if h.department_id == card.department_id)
        assert card.handoffs.count_in == sent_here


def test_incidents_and_actions_go_to_their_department(cards):
    a, b, c = cards.card("A"), cards.card("B"), cards.card("C")
    assert [(i.incident_id, i.is_open, i.has_root_cause) for i in a.incidents] == [(1, True, True)]
    assert (a.open_incidents, a.closed_incidents, a.incidents_with_root_cause) == (1, 0, 1)
    assert [(i.incident_id, i.is_open, i.has_root_cause) for i in b.incidents] == [
        (2, False, False)]
    assert [(x.action_id, x.done, x.verdict) for x in a.actions] == [(2, False, None)]
    # C owns the action on B's incident: actions follow their owner
    assert [(x.action_id, x.incident_id, x.done, x.verdict) for x in c.actions] == [
        (1, 2, True, "improved")]
    assert (c.actions_done, c.actions_measured) == (1, 1)


def test_to_dict_and_an_unknown_department(cards):
    d = cards.to_dict()
    assert [x["department_id"] for x in d["departments"]] == ["A", "B", "C", "D"]
    a = d["departments"][0]
    assert a["handoffs"]["count_in"] == 2 and a["reach"]["customers"] == 2
    assert a["incidents"][0]["status"] == "open"
    with pytest.raises(InputError, match="There is no department 'Z'; the departments are A, B, C, D."):
        cards.card("Z")


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
def test_without_customers_or_feedback_the_rest_still_adds_up(put):
    events, touchpoints, *_ = frames()
    cards = department_scorecards(put(events), touchpoints=put(touchpoints))
    assert [c.department_id for c in cards.cards] == ["A", "B", "C"]
    a = cards.card("A")
    assert (a.name, a.reach.customers, a.reach.segments, a.satisfaction) == (None, 2, (), ())


def test_on_the_demo_company_handoffs_balance_and_customers_are_counted_once(demo_company):
    d = demo_company
    cards = department_scorecards(d.events, touchpoints=d.touchpoints, customers=d.customers)
    assert cards.events == sum(c.events for c in cards.cards)  # every demo event has an owner
    everyone = d.events.customer_id.nunique().execute()
    assert cards.customers == everyone
    total_in = sum(c.handoffs.count_in for c in cards.cards)
    total_out = sum(c.handoffs.count_out for c in cards.cards)
    assert total_in == total_out > 0
    for card in cards.cards:
        assert card.reach.customers <= everyone
        assert sum(s.customers for s in card.reach.segments) == card.reach.customers
        assert max((t.customers for t in card.touchpoints), default=0) <= card.reach.customers
