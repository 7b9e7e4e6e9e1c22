"""RFM scores and segments: hand-made purchases with known scores on every engine, ties,
accounts at a level of the customer graph, errors, and the demo company's planted churn
and plan prices."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from corridor import store
from corridor.demo import DemoConfig, generate
from corridor.errors import AnalysisError, InputError
from corridor.rfm import DEFAULT_SEGMENTS, Monetary, SegmentRule, check_segment_rules, rfm, rfm_scores

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)


def purchases(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    return frame.astype({"customer_id": "string", "amount": "float64"})


# as of 2024-01-10: a bought long ago (twice on one day), b a while ago, c often,
# d once but big, e just now and little; f buys after the as-of day only.
FIVE = purchases(
    [
        ("a", "2024-01-01 08:00", 10.0),
        ("a", "2024-01-01 18:00", 5.0),
        ("b", "2024-01-05 12:00", 20.0),
        ("c", "2024-01-02 09:00", 10.0),
        ("c", "2024-01-03 09:00", 10.0),
        ("c", "2024-01-09 23:59", 10.0),
        ("d", "2024-01-08 10:00", 100.0),
        ("e", "2024-01-10 00:00", 0.5),
        ("f", "2024-01-11 00:00", 99.0),
    ]
)


def test_scores_and_segments_on_every_engine(put):
    scores = rfm_scores(put(FIVE), as_of="2024-01-10").execute().set_index("customer_id")
    assert "f" not in scores.index  # bought after the as-of day
    assert scores["recency_days"].to_dict() == {"a": 9, "b": 5, "c": 1, "d": 2, "e": 0}
    assert scores["frequency"].to_dict() == {"a": 1, "b": 1, "c": 3, "d": 1, "e": 1}
    assert scores["monetary"].to_dict() == {"a": 15.0, "b": 20.0, "c": 30.0, "d": 100.0, "e": 0.5}
    assert scores["rfm"].to_dict() == {"a": "112", "b": "213", "c": "454", "d": "315", "e": "511"}
    assert scores["rfm_segment"].to_dict() == {
        "a": "lost", "b": "hibernating", "c": "loyal", "d": "about_to_sleep", "e": "new"
    }


@duckdb_only
def test_segment_profiles_and_score_bands(put):
    result = rfm(put(FIVE), as_of=dt.date(2024, 1, 10))
    assert result.customers == 5
    assert [s.segment for s in result.segments] == [r.segment for r in DEFAULT_SEGMENTS]
    assert result.segment("loyal").customers == 1 and result.segment("champions").customers == 0
    assert result.segment("loyal").mean_monetary == 30.0 and result.segment("new").share == 0.2
    frequency = [(b.score, b.customers, b.low, b.high) for b in result.bands if b.measure == "frequency"]
    assert frequency == [(1, 4, 1.0, 1.0), (5, 1, 3.0, 3.0)]  # four tied customers share score 1
    assert result.to_dict()["as_of"] == "2024-01-10"


@duckdb_only
def test_mean_monetary_and_the_default_as_of(put):
    scores = rfm_scores(put(FIVE), monetary=Monetary.MEAN).execute().set_index("customer_id")
    # without as_of, the last transaction day (2024-01-11) is the as-of day
    assert scores.loc["f", "recency_days"] == 0 and scores.loc["e", "recency_days"] == 1
    assert scores.loc["c", "monetary"] == 10.0  # 30 over three purchase days
    assert (scores.loc["c", "m_score"], scores.loc["a", "m_score"]) == (1, 2)  # c is above a in total


@duckdb_only
def test_equal_values_always_share_a_score(put):
    rows = [(f"k{n:02d}", "2024-03-01 10:00", 5.0) for n in range(7)]
    rows += [("z1", "2024-02-01 10:00", 1.0), ("z2", "2024-02-01 11:00", 9.0)]
    scores = rfm_scores(put(purchases(rows)), as_of=dt.date(2024, 3, 1)).execute()
    tied = scores[scores.customer_id.str.startswith("k")]
    # 2 of 9 customers bought longer ago: 1 + floor(5 * 2 / 9) = 2 for all seven
    assert set(tied.r_score) == {2}
    assert set(tied.f_score) == {1}  # nobody buys less often
    assert set(tied.m_score) == {1 + (5 * 1) // 9}  # only z1 spends less
    assert scores.set_index("customer_id").loc["z2", "m_score"] == 1 + (5 * 8) // 9


@duckdb_only
def test_accounts_are_scored_on_their_people_purchases(put):
    customers = pd.DataFrame(
        {
            "customer_id": ["K1", "p1", "p2", "q"],
            "level": ["company", "person", "person", "person"],
            "parent_id": [None, "K1", "K1", None],
        }
    ).astype("string")
    tx = purchases(
        [
            ("p1", "2024-01-01 09:00", 10.0),
            ("p2", "2024-01-01 15:00", 5.0),  # the same day as p1: one purchase day for K1
            ("p2", "2024-01-03 09:00", 1.0),
            ("q", "2024-01-02 09:00", 7.0),
        ]
    )
    result = rfm(put(tx), as_of="2024-01-05", customers=put(customers), level="company")
    row = result.scores.execute().set_index("customer_id").loc["K1"]
    assert (row.recency_days, row.frequency, row.monetary) == (2, 2, 16.0)
    assert result.customers == 1 and result.level == "company"
    persons = rfm_scores(put(tx), as_of="2024-01-05", customers=put(customers), level="person").execute()
    assert sorted(persons.customer_id) == ["p1", "p2", "q"]


@duckdb_only
def test_rfm_errors_are_sentences(put):
    tx = put(FIVE)
    with pytest.raises(InputError, match="as_of must be a date such as 2025-06-30; got 'soon'"):
        rfm(tx, as_of="soon")
    with pytest.raises(InputError, match="RFM per level needs the customers table"):
        rfm(tx, as_of="2024-01-10", level="company")
    with pytest.raises(AnalysisError, match="No customer has a purchase on or before 2023-01-01"):
        rfm(tx, as_of="2023-01-01")
    with pytest.raises(AnalysisError, match="There are no transactions"):
        rfm(put(FIVE.iloc[:0]))
    with pytest.raises(InputError, match="needs the column amount"):
        rfm(put(FIVE.drop(columns="amount")))


def test_the_segment_map_must_cover_every_cell_once():
    assert len(check_segment_rules(DEFAULT_SEGMENTS)) == 11
    with pytest.raises(InputError, match=r"R=1, F=1 has no segment"):
        check_segment_rules(DEFAULT_SEGMENTS[:-1])
    overlapping = DEFAULT_SEGMENTS + (SegmentRule("all", (1, 5), (1, 5)),)
    with pytest.raises(InputError, match="R=1, F=1 has segments lost, all"):
        check_segment_rules(overlapping)
    with pytest.raises(InputError, match="score range 4-2"):
        check_segment_rules((SegmentRule("odd", (4, 2), (1, 5)),))


# ---- the demo company ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("demo-rfm"), DemoConfig(customers=3000, seed=7))
    customers = pd.read_csv(files.customers, dtype=str)[["customer_id", "level", "parent_id", "segment"]]
    tx = pd.concat([pd.read_parquet(p) for p in files.transactions], ignore_index=True)
    events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
    left = set(events.loc[events.touchpoint == "contract_cancel", "customer_id"])
    con = ibis.duckdb.connect()
    yield (store.put_table(con, "customers", customers), store.put_table(con, "transactions", tx),
           left, files.truths)
    con.disconnect()


def test_demo_customers_who_cancelled_score_low_on_recency(demo):
    customers, tx, left, truths = demo
    last_day = truths.end - dt.timedelta(days=1)
    result = rfm(tx, as_of=last_day, customers=customers, level="person")
    scores = result.scores.execute()
    gone = scores.customer_id.isin(left)
    assert gone.sum() > 50
    # after the exit there are no bills or purchases, so the leavers' last purchase is older
    assert scores.loc[gone, "recency_days"].mean() > 2 * scores.loc[~gone, "recency_days"].mean()
    assert scores.loc[gone, "r_score"].mean() < scores.loc[~gone, "r_score"].mean()
    assert 0.99 < sum(s.share for s in result.segments) < 1.01


def test_demo_enterprise_accounts_spend_the_most(demo):
    customers, tx, _, truths = demo
    companies = rfm(tx, customers=customers, level="company").scores
    segment = customers.select("customer_id", "segment")
    spend = companies.join(segment, "customer_id").group_by("segment").aggregate(
        monetary=companies.monetary.mean()
    ).execute().set_index("segment")["monetary"]
    # enterprise plans cost 249-599 a month, small-business plans 79-119, and enterprise
    # accounts hold more people
    assert spend["enterprise"] > 3 * spend["small_business"]
    assert companies.count().execute() <= truths.counts.companies
