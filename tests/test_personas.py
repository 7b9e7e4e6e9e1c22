"""Personas: per-customer features, k chosen by the silhouette, persona cards; on a
hand-made log whose numbers are worked out below, and on the demo company, whose planted
behaviours (app users, support cases with hotline failures, customers who never bought)
must come out as personas of their own."""

from __future__ import annotations

import json
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor import store
from corridor.demo import DemoConfig, generate
from corridor.errors import AnalysisError, InputError
from corridor.personas import (
    PainKind,
    PersonaCard,
    PersonaModel,
    PersonaValue,
    SegmentShare,
    Trait,
    customer_features,
    empty_satisfaction,
    group_table,
    journey_pains,
    persona_name,
    typical_corridor,
)

from helpers import START, canonical_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

# customer, case, touchpoint, day, channel, outcome, wait seconds
NAN = np.nan
LOG = [
    ("a", "a", "web_visit", 0.0, "web", "ok", NAN),
    ("a", "a", "order", 1.0, "web", "ok", NAN),
    ("a", "a-S1", "hotline", 5.0, "phone", "failed", 600.0),  # a long wait: above the p90
    ("a", "a-S1", "hotline", 5.1, "phone", "ok", 60.0),  # a loop: hotline twice in a case
    ("b", "b", "web_visit", 0.0, "web", "ok", NAN),
    ("b", "b", "order", 2.0, "store", "ok", 120.0),
    ("b", "b-S1", "hotline", 4.0, "phone", "ok", 60.0),
    ("c", "c", "web_visit", 0.0, "app", "ok", NAN),
    ("d", "d", "web_visit", 0.0, "web", "ok", NAN),
    ("d", "d", "order", 1.0, "web", "ok", NAN),
    ("d", "d-S1", "hotline", 6.0, "phone", "ok", 30.0),
]
TOUCHPOINTS = pd.DataFrame({
    "touchpoint": ["web_visit", "order", "hotline"],
    "stage": ["evaluation", "purchase", "support"],
    "channel": ["web", "web", "phone"],
    "department_id": ["D1", "D2", "D3"],
    "role": [None, None, None],
}).astype("string")
TRANSACTIONS = pd.DataFrame({
    "customer_id": ["a", "a", "b"],
    "timestamp": [START, START, START],
    "amount": [100.0, 50.0, 80.0],
    "margin": [30.0, 20.0, 8.0],
    "kind": ["purchase", "bill", "purchase"],
}).astype({"customer_id": "string", "kind": "string"})
FEEDBACK = pd.DataFrame({
    "customer_id": ["a", "a", "a", "b"],
    "timestamp": [START] * 4,
    "metric": ["nps", "nps", "ces", "csat"],
    "score": [3.0, 5.0, 2.0, 5.0],
}).astype({"customer_id": "string", "metric": "string"})


def hand_made_log() -> pd.DataFrame:
    frame = pd.DataFrame(LOG, columns=["customer_id", "case_id", "touchpoint", "day", "channel",
                                       "outcome", "wait_seconds"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("day"), unit="D")
    return canonical_events(frame)


def test_features_and_corridor_of_a_hand_made_log(put):
    events = put(hand_made_log())
    touchpoints = put(TOUCHPOINTS)
    table, channels = customer_features(
        events, touchpoints=touchpoints, transactions=put(TRANSACTIONS), feedback=put(FEEDBACK)
    )
    assert channels == ("app", "phone", "store", "web")
    rows = table.to_pandas().set_index("customer_id").sort_index()
    a = rows.loc["a"]
    assert (a.contacts, a.support_cases, a.failed_contacts, a.stages_reached) == (4, 1, 1, 3)
    assert a.share_web == a.share_phone == 0.5
    assert a.mean_wait_hours == pytest.approx((600 + 60) / 2 / 3600)
    assert a.contacts_per_month == 4.0  # the data spans less than a month: one month
    assert (a.spend, a.margin, a.purchases) == (150.0, 50.0, 1)
    assert (a.nps_mean, a.ces_mean) == (4.0, 2.0) and pd.isna(a.csat_mean)
    c = rows.loc["c"]
    assert (c.share_app, c.spend, c.purchases) == (1.0, 0.0, 0) and pd.isna(c.mean_wait_hours)

    groups = group_table({"a": "1", "b": "2", "c": "2", "d": "2"})
    corridor = typical_corridor(events, groups, coverage=0.5)["2"]
    assert [(s.touchpoint, round(s.coverage, 3), s.position) for s in corridor] == [
        ("web_visit", 1.0, 1.0), ("order", 0.667, 2.0), ("hotline", 0.667, 3.0)
    ]


@duckdb_only  # journey_pains runs on Spark in tests/test_empathy.py
def test_pains_compare_the_members_with_everyone_else(put):
    events = put(hand_made_log())
    groups = group_table({"a": "1", "b": "2", "c": "2", "d": "2"})
    pains = {(p.kind, p.touchpoint): p for p in journey_pains(events, groups)["1"]}
    # hotline waits 30, 60, 60, 600: p90 = 60 + 0.7 × 540 = 438, only a's 600 is above;
    # cases visit the hotline 2, 1, 1 times: once is usual, so a's second visit is a loop
    for kind in (PainKind.FAILURE, PainKind.LONG_WAIT, PainKind.LOOP):
        pain = pains[(kind, "hotline")]
        assert (pain.customers, pain.share, pain.share_others) == (1, 1.0, 0.0)
        assert (pain.visitors, pain.visitors_others) == (1, 2)
    others = {(p.kind, p.touchpoint): p for p in journey_pains(events, groups)["2"]}
    assert others[(PainKind.FAILURE, "hotline")].excess == -1.0
    assert others[(PainKind.FAILURE, "hotline")].rate == 0.0
    assert others[(PainKind.FAILURE, "hotline")].rate_others == 1.0


@duckdb_only
def test_spend_stands_in_for_margin_when_transactions_have_none(put):
    model = PersonaModel(k_range=(2, 2)).fit(
        put(hand_made_log()), transactions=put(TRANSACTIONS.drop(columns="margin"))
    )
    assert "spend" in model.feature_names_ and "margin" not in model.feature_names_
    assert all(c.value.mean_margin is None and c.value.mean_spend is not None
               for c in model.personas_.cards)


# ---- the demo company ----------------------------------------------------------------------


@dataclass
class Demo:
    events: object
    touchpoints: object
    transactions: object
    feedback: object
    customers: object
    frames: dict


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("personas"), DemoConfig(customers=3000, seed=7))
    frames = {
        "events": pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True),
        "transactions": pd.concat([pd.read_parquet(p) for p in files.transactions], ignore_index=True),
        "feedback": pd.read_csv(files.feedback, dtype={"text": "string", "language": "string"}),
        "touchpoints": pd.read_csv(files.touchpoints, dtype=str),
        "customers": pd.read_csv(files.customers, dtype=str)[["customer_id", "segment"]],
    }
    con = ibis.duckdb.connect()
    tables = {name: store.put_table(con, name, frame) for name, frame in frames.items()}
    yield Demo(**tables, frames=frames)
    con.disconnect()


def fit(demo: Demo) -> PersonaModel:
    # a stand-in CLV table: 10 for every customer who bought, as corridor.lifetime values them
    buyers = demo.frames["transactions"].query("kind == 'purchase'").customer_id.unique()
    clv = ibis.memtable(pd.DataFrame({"customer_id": buyers, "clv": 10.0}))
    return PersonaModel().fit(
        demo.events, touchpoints=demo.touchpoints, transactions=demo.transactions,
        feedback=demo.feedback, customers=demo.customers, clv=clv,
    )


@pytest.fixture(scope="module")
def model(demo):
    return fit(demo)


def members(model: PersonaModel, persona: int) -> set[str]:
    return set(model.customer_ids_[model.labels_ == persona])


def test_k_is_the_one_with_the_best_silhouette_and_every_k_tried_is_reported(model):
    result = model.personas_
    assert [s.k for s in result.scores] == list(range(2, 9))
    best = max(result.scores, key=lambda s: s.silhouette)
    assert result.k == model.k_ == best.k
    assert result.criterion == "silhouette"
    assert [c.persona for c in result.cards] == list(range(1, result.k + 1))
    sizes = [c.customers for c in result.cards]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == result.customers == 3000
    assert sorted(set(model.labels_)) == list(range(1, result.k + 1))
    assert len({c.name for c in result.cards}) == result.k  # names are unique
    json.dumps(result.to_dict(), ensure_ascii=False)


def test_the_same_data_and_seed_give_the_same_cards(demo, model):
    again = fit(demo)
    assert again.personas_.to_dict() == model.personas_.to_dict()
    assert (again.labels_ == model.labels_).all()


def test_the_planted_app_users_make_a_digital_persona(demo, model):
    events = demo.frames["events"]
    app_users = set(events.loc[events.touchpoint == "app_login", "customer_id"])
    digital = max(model.personas_.cards,
                  key=lambda c: next((s.share for s in c.channels if s.channel == "app"), 0.0))
    inside = members(model, digital.persona)
    assert next(s for s in digital.channels if s.channel == "app").share > 0.6
    assert len(inside & app_users) / len(inside) > 0.95  # its members are app users
    assert len(inside & app_users) / len(app_users) > 0.8  # and it holds most of them
    assert "app_login" in [s.touchpoint for s in digital.corridor]
    assert digital.pains[0].kind is PainKind.FAILURE and digital.pains[0].touchpoint == "app_login"


def test_the_planted_support_cases_make_a_high_support_persona_with_the_lowest_nps(demo, model):
    events = demo.frames["events"]
    everyone = pd.Index(model.customer_ids_)
    tickets = events[events.case_id.str.contains("-S")]
    cases = tickets.groupby("customer_id").case_id.nunique().reindex(everyone, fill_value=0)
    failed = events[(events.touchpoint == "support_hotline") & (events.outcome == "failed")]
    failed = failed.groupby("customer_id").size().reindex(everyone, fill_value=0)
    labels = pd.Series(model.labels_, index=everyone)
    support = max(model.personas_.cards, key=lambda c: cases[labels == c.persona].mean())
    mine = labels == support.persona
    assert cases[mine].mean() > 2 * cases.mean()
    assert failed[mine].mean() > 2 * failed.mean()  # the planted hotline failures
    assert (PainKind.FAILURE, "support_hotline") == (support.pains[0].kind, support.pains[0].touchpoint)
    scored = [c for c in model.personas_.cards if c.satisfaction.nps.responses]
    assert min(scored, key=lambda c: c.satisfaction.nps_score) is support
    assert "high-support" in support.name.lower()


def test_customers_who_never_bought_make_browser_personas(demo, model):
    buyers = set(demo.frames["transactions"].customer_id)
    never = set(model.customer_ids_) - buyers
    browsers = [c for c in model.personas_.cards if c.value.buyer_share < 0.1]
    assert browsers
    inside = set().union(*(members(model, c.persona) for c in browsers))
    assert len(inside & never) / len(never) > 0.95
    stages = dict(zip(demo.frames["touchpoints"].touchpoint, demo.frames["touchpoints"].stage))
    for card in browsers:
        assert {stages[s.touchpoint] for s in card.corridor} <= {"need", "evaluation"}
        assert card.value.mean_margin < 5 and "browsers" in card.name.lower()
        assert card.value.mean_clv < 1.0  # members the CLV table does not value count 0
    for card in model.personas_.cards:
        if card not in browsers:
            assert card.value.buyer_share == 1.0 and card.value.mean_clv == 10.0
        assert sum(s.share for s in card.segments) == pytest.approx(1.0)
    shares = [c.value.margin_share for c in model.personas_.cards]
    assert sum(shares) == pytest.approx(1.0)


def test_quotes_are_texts_of_the_personas_own_members_in_their_own_language(demo, model):
    feedback = demo.frames["feedback"].dropna(subset=["text"])
    written = set(zip(feedback.customer_id, feedback.text, feedback.language))
    languages = set()
    for card in model.personas_.cards:
        inside = members(model, card.persona)
        assert len({q.text for q in card.quotes}) == len(card.quotes)
        for quote in card.quotes:
            assert quote.customer_id in inside
            assert (quote.customer_id, quote.text, quote.language) in written  # unchanged
            languages.add(quote.language)
    assert languages >= {"en", "ar"} or languages >= {"en", "ru"}
    with_texts = [c for c in model.personas_.cards if c.value.buyer_share > 0.5]
    assert all(len(c.quotes) == 3 for c in with_texts)


def test_names_come_from_templates_over_the_traits():
    def card(buyers=1.0, segments=()):
        value = PersonaValue(100.0, 40.0, 0.5, buyers, None)
        return PersonaCard(1, "", 10, 0.5, (), value, (), (), empty_satisfaction(), (), (),
                           tuple(segments))

    def trait(feature, z):
        return Trait(feature, 1.0, 1.0, z)

    assert persona_name(card(), [trait("share_app", 1.5), trait("support_cases", -0.3)]) \
        == "Digital self-servers"
    assert persona_name(card(), [trait("share_phone", 2.0), trait("support_cases", 1.2),
                                 trait("mean_wait_hours", 0.8)]) \
        == "High-support phone customers with long waits"
    assert persona_name(card(buyers=0.02), [trait("share_store", 1.1), trait("margin", -1.4)]) \
        == "In-store browsers who have not bought"
    business = [SegmentShare("enterprise", 0.7, 0.1)]
    assert persona_name(card(segments=business), [trait("margin", 2.0), trait("nps_mean", -0.9)]) \
        == "High-value enterprise customers who are less satisfied"
    assert persona_name(card(), [trait("share_kiosk", 0.9)]) == "Kiosk-first customers"


# ---- errors: one sentence each ---------------------------------------------------------------


@duckdb_only
def test_bad_parameters_and_too_little_data_are_one_sentence(put):
    events = put(hand_made_log())
    with pytest.raises(InputError, match=r"^k_range must be two whole numbers .* got \(1, 8\)\.$"):
        PersonaModel(k_range=(1, 8)).fit(events)
    with pytest.raises(InputError, match=r"^quotes must be a whole number of at least 0; got -1\.$"):
        PersonaModel(quotes=-1).fit(events)
    with pytest.raises(AnalysisError, match=r"^Personas need more customers than personas: "
                                            r"4 customers cannot make 5 or more\.$"):
        PersonaModel(k_range=(5, 8)).fit(events)
    same = canonical_events(pd.DataFrame({
        "case_id": ["x", "y", "z"], "touchpoint": ["t"] * 3, "timestamp": [START] * 3,
    }))
    with pytest.raises(AnalysisError, match=r"^The 3 customers do not differ in any feature"):
        PersonaModel().fit(put(same))
    with pytest.raises(AnalysisError, match=r"^There are no events"):
        PersonaModel().fit(put(hand_made_log().iloc[:0]))
    with pytest.raises(InputError, match=r"^The events table needs the column outcome; it has "):
        PersonaModel().fit(put(hand_made_log().drop(columns=["outcome"])))


def test_unknown_persona_and_bad_groups_are_one_sentence(model):
    with pytest.raises(InputError, match=rf"^There is no persona 99; personas are 1 to {model.k_}\.$"):
        model.personas_.card(99)
    with pytest.raises(InputError, match=r"^Groups must be a table or frame with the columns "
                                         r"customer_id and group.*; got int\.$"):
        group_table(42)
