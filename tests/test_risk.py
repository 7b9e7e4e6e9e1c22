"""The risk model and the proactive queue: hand-made journeys with known features and
labels (nothing after the reference date leaks in), metrics with known answers, and the
demo company, where the model must beat chance on an out-of-time holdout."""

import datetime as dt
import json
import uuid

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor import store
from corridor.errors import AnalysisError, InputError
from corridor.risk import (
    DEFAULT_ACTION,
    DEFAULT_ACTION_RULES,
    NEVER_DAYS,
    ActionRule,
    Learner,
    RiskModel,
    RiskTables,
    customer_values,
    data_end,
    family_of,
    holdout_metrics,
    proactive_queue,
    reference_dates,
    risk_features,
    risk_labels,
)
from helpers import canonical_events

AS_OF = dt.date(2024, 3, 1)

# ---- a hand-made company -------------------------------------------------------------------

TOUCHPOINTS = pd.DataFrame(
    [
        ("order", "purchase", "web", "D-SAL"),
        ("install", "use", "field", "D-FLD"),
        ("login", "use", "app", "D-DIG"),
        ("hotline", "support", "phone", "D-CC"),
        ("chat", "support", "web", "D-CC"),
        ("billing", "support", "phone", "D-BIL"),
        ("store", "support", "store", "D-RET"),
        ("cancel", "exit", "phone", "D-RTN"),
    ],
    columns=["touchpoint", "stage", "channel", "department_id"],
)

# customer, case, touchpoint, timestamp, outcome, wait_seconds
PAST_EVENTS = [
    ("A", "A", "order", "2024-01-10 10:00", "ok", None),
    ("A", "A", "install", "2024-01-14 10:00", "ok", 4 * 86_400.0),
    ("A", "A-S01", "hotline", "2024-02-27 12:00", "failed", 600.0),
    ("A", "A-S01", "hotline", "2024-02-27 13:00", "failed", 300.0),
    ("A", "A-S01", "chat", "2024-02-27 13:30", "ok", None),
    ("A", "A-S01", "billing", "2024-02-28 10:00", "ok", None),
    ("A", "A-S01", "store", "2024-02-28 15:00", "ok", None),
    ("A", "A-S01", "billing", "2024-02-29 09:00", "ok", None),
    ("B", "B", "order", "2024-02-20 12:00", "ok", None),
    ("C", "C", "order", "2024-01-05 10:00", "ok", None),
    ("C", "C", "cancel", "2024-02-15 10:00", "ok", None),  # left before the reference date
    ("D", "D", "order", "2024-02-01 10:00", "abandoned", None),  # never bought
]
FUTURE_EVENTS = [
    ("A", "A-S02", "hotline", "2024-03-01 00:00", "failed", 900.0),  # exactly at the cut
    ("A", "A-S02", "cancel", "2024-03-05 10:00", "ok", None),
    ("B", "B", "install", "2024-03-02 10:00", "ok", 10 * 86_400.0),
    ("E", "E", "order", "2024-03-02 10:00", "ok", None),
]
PAST_FEEDBACK = [("A", "2024-02-29 20:00", "nps", 3.0), ("B", "2024-02-25 10:00", "csat", 5.0)]
FUTURE_FEEDBACK = [("A", "2024-03-03 10:00", "ces", 1.0), ("B", "2024-04-15 10:00", "nps", 2.0)]
PAST_TRANSACTIONS = [
    ("A", "2024-01-10 10:00", 100.0, 30.0, "purchase"),
    ("A", "2024-02-10 03:00", 40.0, 16.0, "bill"),
    ("B", "2024-02-20 12:00", 50.0, 15.0, "purchase"),
    ("C", "2024-01-05 10:00", 80.0, 24.0, "purchase"),
]
FUTURE_TRANSACTIONS = [("A", "2024-03-02 10:00", 999.0, 300.0, "purchase")]


def _events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "case_id", "touchpoint", "timestamp", "outcome",
                                        "wait_seconds"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["wait_seconds"] = frame["wait_seconds"].astype("float64")
    return canonical_events(frame, channel=None, department_id=None)


def _feedback(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "metric", "score"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def _transactions(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "margin", "kind"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def _hand_made(put, *, future: bool) -> RiskTables:
    extra = (lambda rows: rows) if future else (lambda rows: [])
    return RiskTables(
        events=put(_events(PAST_EVENTS + extra(FUTURE_EVENTS))),
        feedback=put(_feedback(PAST_FEEDBACK + extra(FUTURE_FEEDBACK))),
        transactions=put(_transactions(PAST_TRANSACTIONS + extra(FUTURE_TRANSACTIONS))),
        touchpoints=put(TOUCHPOINTS),
    )


@pytest.fixture
def put_duckdb():
    """Like ``put``, on DuckDB only: Spark runs one hand-made case (Spark is slow per query)."""
    con = ibis.duckdb.connect()

    def put_frame(frame: pd.DataFrame):
        text = {c: "string" for c in frame.columns if frame[c].dtype == object}
        return store.put_table(con, f"t_{uuid.uuid4().hex[:12]}", frame.astype(text))

    yield put_frame
    con.disconnect()


JOURNEY_OF_A = {
    "events_7d": 6, "events_365d": 8, "support_contacts_7d": 6, "failed_contacts_7d": 2,
    "failed_support_contacts_7d": 2, "wait_hours_7d": 0.25, "wait_hours_365d": 96.25,
    "loops_7d": 2,  # the second hotline call and the second billing contact
    "pingpongs_7d": 1,  # billing -> store -> billing
    "channel_switches_7d": 4, "channel_switches_365d": 5,  # phone-web-phone-store-phone; web-field
    "handoffs_7d": 3, "handoffs_365d": 4,  # CC-BIL-RET-BIL; SAL-FLD
    "support_cases_7d": 1, "support_cases_365d": 1,
    "days_since_last_event": 0.625, "days_since_last_support_contact": 0.625,
    "tenure_days": 50 + 14 / 24, "pending_purchase_days": 0.0,
}


def test_journey_features_are_the_same_on_every_engine(put):
    # Events alone, channels and departments on the events: the window functions are what
    # engines could disagree on (Spark is slow per table and query, so one of each).
    events = _events(PAST_EVENTS).drop(columns=["channel", "department_id"])
    events = events.merge(TOUCHPOINTS[["touchpoint", "channel", "department_id"]], on="touchpoint")
    features = risk_features(RiskTables(events=put(events)), AS_OF, exit_touchpoints=["cancel"])
    features = features.set_index("customer_id")
    assert list(features.index) == ["A", "B", "D"]  # C left; without transactions D counts
    unstaged = {"support_contacts_7d", "failed_support_contacts_7d", "support_cases_7d", "support_cases_365d",
                "days_since_last_support_contact"}  # no touchpoints table: no stages
    for name, value in JOURNEY_OF_A.items():
        if name not in unstaged:
            assert features.loc["A", name] == pytest.approx(value), name
    assert features.loc["A", "support_contacts_365d"] == 0
    assert features.loc["A", "days_since_last_support_contact"] == NEVER_DAYS
    assert features.loc["D", "failed_contacts_7d"] == 0 and features.loc["D", "failed_contacts_30d"] == 1


def test_features_count_the_journey_feedback_and_spend_before_the_reference_date(put_duckdb):
    features = risk_features(_hand_made(put_duckdb, future=False), AS_OF).set_index("customer_id")
    # C left before the date and D never bought: neither is a customer to keep
    assert list(features.index) == ["A", "B"]
    a, b = features.loc["A"], features.loc["B"]
    expected_a = {
        **JOURNEY_OF_A, "low_scores_7d": 1, "surveys_answered": 1,
        "spend_last_year": 140.0, "margin_last_year": 46.0, "purchase_days": 1,
        "days_since_last_purchase": 50 + 14 / 24,
    }
    for name, value in expected_a.items():
        assert a[name] == pytest.approx(value), name
    assert b["pending_purchase_days"] == pytest.approx(9.5)
    assert b["days_since_last_support_contact"] == NEVER_DAYS
    assert b["support_contacts_365d"] == 0 and b["low_scores_365d"] == 0 and b["surveys_answered"] == 1
    assert b["purchase_days"] == 1 and b["spend_last_year"] == 50.0


def test_nothing_on_or_after_the_reference_date_changes_the_features(put_duckdb):
    without = risk_features(_hand_made(put_duckdb, future=False), AS_OF)
    with_future = risk_features(_hand_made(put_duckdb, future=True), AS_OF)
    pd.testing.assert_frame_equal(without, with_future)


def test_labels_come_from_the_horizon_after_the_reference_date(put_duckdb):
    tables = _hand_made(put_duckdb, future=True)
    label = lambda **kw: list(risk_labels(tables, AS_OF, **kw)["customer_id"])  # noqa: E731
    assert label(target="churn") == ["A"]  # cancels on day 4
    assert label(target="churn", horizon_days=3) == []
    assert label(target="dissatisfaction") == ["A"]  # CES 1 on day 2; B's NPS 2 is 45 days out
    assert label(target="dissatisfaction", horizon_days=60) == ["A", "B"]
    assert label(target="either", horizon_days=60) == ["A", "B"]
    assert label(target="churn", exit_touchpoints=["store"]) == []


# ---- metrics with known answers -------------------------------------------------------------


def test_holdout_metrics_have_known_answers():
    risk = np.array([0.9, 0.8, 0.1, 0.2])
    label = np.array([1, 0, 0, 1])
    m = holdout_metrics(AS_OF, risk, label, top=2, bins=2)
    assert m.auc == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs in order
    assert (m.top_k, m.precision_at_k, m.base_rate, m.lift_at_k) == (2, 0.5, 0.5, 1.0)
    assert m.brier == pytest.approx((0.01 + 0.64 + 0.01 + 0.64) / 4)
    # bins {0.1, 0.2}: predicted 0.15, observed 0.5; {0.8, 0.9}: 0.85 against 0.5
    assert [b.customers for b in m.bins] == [2, 2]
    assert m.expected_calibration_error == pytest.approx(0.5 * 0.35 + 0.5 * 0.35)
    assert holdout_metrics(AS_OF, risk, label, top=0.5).top_k == 2  # a share rounds up
    assert holdout_metrics(AS_OF, risk, np.zeros(4)).auc is None  # one class: no AUC


# ---- the demo company -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_frames):
    frames = demo_frames(6000)
    con = ibis.duckdb.connect()
    yield RiskTables(**frames.on(con, "events", "feedback", "transactions", "touchpoints"))
    con.disconnect()


@pytest.fixture(scope="module")
def model(demo):
    dates = reference_dates(demo, horizon_days=30, count=5)
    return RiskModel(horizon_days=30, target="either").fit(demo, as_of=dates)


def test_reference_dates_are_a_horizon_apart_and_end_with_the_data(demo):
    dates = reference_dates(demo, horizon_days=30, count=5)
    assert data_end(demo) == dt.date(2026, 1, 1)
    assert dates[-1] == dt.date(2025, 12, 2)  # its 30 days end with the data
    assert all((b - a).days == 30 for a, b in zip(dates, dates[1:]))


def test_the_holdout_auc_is_clearly_above_chance_on_the_demo(model):
    fit = model.fit_
    assert fit.holdout_date == dt.date(2025, 12, 2) and fit.validation_date == dt.date(2025, 11, 2)
    assert fit.train_dates == (dt.date(2025, 8, 4), dt.date(2025, 9, 3), dt.date(2025, 10, 3))
    assert {c.learner for c in fit.candidates} == set(Learner)
    holdout = fit.holdout
    assert holdout.customers > 3000 and holdout.positives > 80
    # measured 0.69 (SE about 0.03): the demo's low scores and exits follow support cases,
    # most of which start after the reference date
    assert holdout.auc > 0.62
    assert holdout.lift_at_k > 2.5  # measured 4.4: the top 5% are far riskier than the rest


def test_the_holdout_probabilities_are_calibrated(model):
    holdout = model.fit_.holdout
    assert holdout.expected_calibration_error < 0.015
    assert holdout.brier < holdout.brier_of_base_rate
    mean_predicted = sum(b.mean_predicted * b.customers for b in holdout.bins) / holdout.customers
    assert mean_predicted == pytest.approx(holdout.base_rate, abs=0.01)


def test_evaluating_the_holdout_date_again_gives_the_same_metrics(model, demo):
    assert model.evaluate(demo, model.fit_.holdout_date) == model.fit_.holdout


def test_predictions_cover_the_population_highest_risk_first(model, demo):
    scores = model.predict(demo, "2025-12-02")
    risk = scores.per_customer.column("risk").to_numpy()
    assert scores.customers == model.fit_.holdout.customers
    assert (np.diff(risk) <= 0).all() and ((risk > 0) & (risk < 1)).all()
    assert scores.to_dict()["expected_customers_at_risk"] == pytest.approx(risk.sum())


@pytest.fixture(scope="module")
def queue(model, demo):
    return proactive_queue(model, demo, "2025-12-02", size=40)


def test_the_queue_is_ordered_by_risk_times_value(queue, model, demo):
    items = queue.items
    assert [i.rank for i in items] == list(range(1, 41))
    assert all(i.priority == pytest.approx(i.risk * i.value) for i in items)
    assert all(a.priority >= b.priority for a, b in zip(items, items[1:]))
    assert {i.value_source for i in items} <= {"clv", "margin"}
    scores = model.predict(demo, "2025-12-02").per_customer.to_pandas().set_index("customer_id")
    assert all(scores.loc[i.customer_id, "risk"] == pytest.approx(i.risk) for i in items)
    assert queue.customers_scored == len(scores)
    # nobody left out of the queue outranks its last customer
    values = customer_values(demo, "2025-12-02").set_index("customer_id")["value"]
    priority = scores["risk"] * values.reindex(scores.index).fillna(0.0)
    left_out = priority.drop([i.customer_id for i in items])
    assert left_out.max() <= items[-1].priority


def test_reasons_name_real_features_that_push_this_customers_risk_up(queue, model, demo):
    rows = model.features(demo, "2025-12-02").set_index("customer_id")
    rules = {r.feature: r for r in DEFAULT_ACTION_RULES}
    for item in queue.items:
        assert 1 <= len(item.reasons) <= 3
        assert [r.contribution for r in item.reasons] == sorted((r.contribution for r in item.reasons),
                                                               reverse=True)
        families = [family_of(r.feature).name for r in item.reasons]
        assert len(set(families)) == len(families)  # one reason per feature family
        for reason in item.reasons:
            assert reason.feature in model.features_ and reason.contribution > 0
            assert reason.value == pytest.approx(rows.loc[item.customer_id, reason.feature])
        covered = [family_of(r.feature).name for r in item.reasons if family_of(r.feature).name in rules]
        expected = rules[covered[0]].action if covered else DEFAULT_ACTION.action
        assert item.action.action == expected
    assert json.dumps(queue.to_dict())


def test_a_logistic_reason_is_its_coefficient_times_the_distance_from_typical(model, demo):
    assert model.learner_ is Learner.LOGISTIC  # chosen on the validation date of this demo
    x = model.features(demo, "2025-12-02")[list(model.features_)].to_numpy()[:5]
    transform, scaler, logistic = (step for _, step in model.model_.steps)
    scaled = lambda v: transform.transform(v) / scaler.scale_  # noqa: E731
    typical = np.broadcast_to(model.typical_, x.shape)
    expected = logistic.coef_[0] * (scaled(x) - scaled(typical))
    np.testing.assert_allclose(model.contributions(x), expected, atol=1e-6)


def test_a_values_table_replaces_the_clv(queue, model, demo):
    last, second_last = queue.items[-1], queue.items[-2]
    values = ibis.memtable(pd.DataFrame({"customer_id": [last.customer_id, second_last.customer_id],
                                         "value": [1e9, 2e9]}))
    given = proactive_queue(model, demo, "2025-12-02", size=3, values=values)
    ranked = sorted([(second_last.risk * 2e9, second_last.customer_id), (last.risk * 1e9, last.customer_id)],
                    reverse=True)
    assert [i.customer_id for i in given.items[:2]] == [c for _, c in ranked]
    assert [i.value_source for i in given.items] == ["given", "given", "none"]
    assert given.items[2].value == 0 and given.items[2].priority == 0


def test_the_fit_summary_is_plain_data(model):
    data = model.fit_.to_dict()
    assert json.loads(json.dumps(data))["holdout"]["auc"] == model.fit_.holdout.auc
    assert data["learner"] in {"logistic", "gradient_boosting"} and data["target"] == "either"


# ---- errors in one sentence ---------------------------------------------------------------


def test_bad_reference_dates_are_one_sentence(demo):
    m = RiskModel(horizon_days=30)
    with pytest.raises(InputError, match=r"at least three reference dates .*; got 2\."):
        m.fit(demo, as_of=["2025-06-01", "2025-08-01"])
    with pytest.raises(InputError, match=r"at least horizon_days \(30\) apart .* are 20 days apart\."):
        m.fit(demo, as_of=["2025-06-01", "2025-07-01", "2025-07-21"])
    with pytest.raises(AnalysisError, match=r"The data end on 2025-12-31, so the 30 days after 2025-12-20 "
                                            r"cannot be observed; .* on or before 2025-12-02\."):
        m.fit(demo, as_of=["2025-10-01", "2025-11-01", "2025-12-20"])
    with pytest.raises(InputError, match=r"as_of must be a date such as 2025-06-30; got 'soon'\."):
        m.fit(demo, as_of=["soon", "2025-07-01", "2025-08-01"])
    with pytest.raises(AnalysisError, match=r"^No customer has a history before 2024-01-01\.$"):
        m.fit(demo, as_of=["2024-01-01", "2024-02-01", "2024-03-03"])


def test_bad_parameters_are_one_sentence(demo):
    dates = ["2025-08-01", "2025-09-01", "2025-10-01"]
    cases = [
        (RiskModel(horizon_days=0), r"horizon_days must be a whole number of days, at least 1; got 0\."),
        (RiskModel(target="sad"), r"target must be one of churn, dissatisfaction, either; got 'sad'\."),
        (RiskModel(top=1.5), r"top must be a share between 0 and 1 or a whole number .*; got 1\.5\."),
        (RiskModel(learners=["forest"]),
         r"learners must be among logistic, gradient_boosting; got \['forest'\]\."),
        (RiskModel(calibration="magic"), r"calibration must be one of sigmoid, isotonic; got 'magic'\."),
        (RiskModel(windows_days=(7, -1)), r"windows_days must be a list of positive whole numbers of days"),
    ]
    for model, message in cases:
        with pytest.raises(InputError, match=message):
            model.fit(demo, as_of=dates)
    with pytest.raises(InputError, match=r"not fitted yet; call fit\(tables, as_of=\[dates\]\) first\."):
        RiskModel().predict(demo, "2025-12-01")
    with pytest.raises(InputError, match=r"^Dissatisfaction is read from feedback scores; pass the feedback "
                                         r"table\.$"):
        risk_labels(RiskTables(demo.events, touchpoints=demo.touchpoints), "2025-06-01",
                    target="dissatisfaction")
    no_exit = RiskTables(demo.events, demo.feedback, demo.transactions)
    with pytest.raises(InputError, match=r"Churn needs the exit touchpoint: pass exit_touchpoints"):
        RiskModel(target="churn").fit(no_exit, as_of=dates)


def test_queue_errors_are_one_sentence(model, demo):
    with pytest.raises(InputError, match=r"must name a feature family among .*; got 'mood'\."):
        proactive_queue(model, demo, "2025-12-02", rules=[ActionRule("mood", "Smile", "it helps")])
    with pytest.raises(InputError, match=r"size must be a whole number, at least 1; got 0\."):
        proactive_queue(model, demo, "2025-12-02", size=0)
    twice = ibis.memtable(pd.DataFrame({"customer_id": ["C1", "C1"], "value": [1.0, 2.0]}))
    with pytest.raises(InputError, match=r"more than one row for customer C1; give one value per customer\."):
        proactive_queue(model, demo, "2025-12-02", values=twice)
    no_money = RiskTables(demo.events, demo.feedback, None, demo.touchpoints)
    with pytest.raises(InputError, match=r"needs the transactions table or a values table\."):
        proactive_queue(model, no_money, "2025-12-02")
