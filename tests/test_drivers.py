"""Key drivers of scores and churn: regressions with cluster-robust intervals checked on
made-up data with known effects, support cases and their churn on a hand-made log (on
DuckDB and Spark), and the demo company's planted drivers recovered, ranked first and with
the right sign."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from corridor.drivers import (
    EXPECTED_EFFECTS,
    SCORE_FEATURES,
    Assessment,
    Expected,
    assess,
    churn_drivers,
    score_drivers,
    support_cases,
)
from corridor.errors import AnalysisError, InputError
from corridor.satisfaction import feedback_journeys
from helpers import START, canonical_events

# ---- made-up journeys with known effects --------------------------------------------------


def made_up_journeys(n: int = 3000, seed: int = 1, metric: str = "nps") -> pd.DataFrame:
    """score = 7 - 0.8 failed contacts - 1.2 ping-pongs + a customer effect + noise, two
    responses per customer; waiting, hand-offs and the rest have no effect. Journeys with
    store_support are the ping-pong ones."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"C{i // 2}" for i in range(n)],
        "metric": metric,
        "failed_contacts": rng.poisson(0.6, n),
        "abandoned_contacts": np.zeros(n, dtype=int),
        "wait_hours": rng.exponential(2.0, n),
        "channel_switches": rng.poisson(0.3, n),
        "handoffs": rng.poisson(0.8, n),
        "repeats": rng.poisson(0.2, n),
        "ping_pongs": (rng.random(n) < 0.15).astype(int),
    })
    customer_effect = np.repeat(rng.normal(0, 0.5, n // 2), 2)
    frame["score"] = (7 - 0.8 * frame.failed_contacts - 1.2 * frame.ping_pongs
                      + customer_effect + rng.normal(0, 1.0, n))
    chat = rng.random(n) < 0.4
    frame["touchpoints_visited"] = [
        ["support_hotline"] + (["store_support"] if pp else []) + (["web_chat"] if c else [])
        for pp, c in zip(frame.ping_pongs, chat)
    ]
    for i in range(5):
        frame.at[i, "touchpoints_visited"] = frame.at[i, "touchpoints_visited"] + ["rare_touchpoint"]
    frame["score"] = frame["score"].clip(0, 10)
    return frame


def test_planted_effects_come_out_first_with_their_intervals():
    result = score_drivers(ibis.memtable(made_up_journeys()))
    assert [d.feature for d in result.drivers[:2]] == ["failed_contacts", "ping_pongs"] or [
        d.feature for d in result.drivers[:2]
    ] == ["ping_pongs", "failed_contacts"]
    failed, pingpong = result.driver("failed_contacts"), result.driver("ping_pongs")
    assert failed.ci_low < -0.8 < failed.ci_high and failed.significant
    assert pingpong.ci_low < -1.2 < pingpong.ci_high and pingpong.significant
    assert failed.unit == "nps points per failed contact"
    for name in ("wait_hours", "handoffs", "channel_switches", "repeats"):
        assert abs(result.driver(name).effect) < 0.1
    assert [d.rank for d in result.drivers] == list(range(1, len(result.drivers) + 1))
    assert result.dropped == ("abandoned_contacts",)  # never varies
    assert (result.observations, result.clusters, result.model) == (3000, 1500, "ols")


def test_ols_effects_are_those_of_scikit_learn():
    frame = made_up_journeys()
    result = score_drivers(ibis.memtable(frame))
    kept = [f for f in SCORE_FEATURES if f != "abandoned_contacts"]
    reference = LinearRegression().fit(frame[kept], frame.score)
    for name, coefficient in zip(kept, reference.coef_):
        assert result.driver(name).effect == pytest.approx(coefficient, abs=1e-9)
    assert result.intercept == pytest.approx(reference.intercept_)


def test_answers_repeated_within_a_customer_do_not_make_effects_look_surer():
    frame = made_up_journeys(n=1000)
    once = score_drivers(ibis.memtable(frame))
    twice = score_drivers(ibis.memtable(pd.concat([frame, frame], ignore_index=True)))
    for d in once.drivers:
        again = twice.driver(d.feature)
        assert again.effect == pytest.approx(d.effect)
        assert (again.ci_high - again.ci_low) == pytest.approx(d.ci_high - d.ci_low, rel=0.01)


def test_a_feature_that_repeats_another_is_dropped_and_named():
    frame = made_up_journeys()
    frame["handoffs"] = frame["failed_contacts"] * 2
    result = score_drivers(ibis.memtable(frame))
    assert result.dropped == ("abandoned_contacts", "handoffs")
    assert result.driver("failed_contacts").ci_low < -0.8 < result.driver("failed_contacts").ci_high


def test_touchpoint_presence_is_a_raw_difference_with_welch_intervals():
    frame = made_up_journeys()
    result = score_drivers(ibis.memtable(frame))
    store_visits = result.presence("store_support")
    with_, without = frame.score[frame.ping_pongs == 1], frame.score[frame.ping_pongs == 0]
    assert store_visits.difference == pytest.approx(with_.mean() - without.mean())
    assert store_visits.significant and store_visits.rank == 1
    assert store_visits.ci_low < store_visits.difference < store_visits.ci_high
    assert not result.presence("web_chat").significant
    names = {p.touchpoint for p in result.touchpoints}
    assert "rare_touchpoint" not in names  # visited by fewer than min_presence
    assert "support_hotline" not in names  # visited by all: nothing to compare with


def test_a_logistic_model_matches_scikit_learn_and_its_planted_log_odds():
    rng = np.random.default_rng(3)
    n = 20000
    cases = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(n)],
        "failed_contacts": rng.poisson(0.5, n),
        "ping_pongs": (rng.random(n) < 0.2).astype(int),
        "wait_hours": rng.exponential(1.0, n),
    })
    logit = -2.5 + 0.7 * cases.failed_contacts + 0.9 * cases.ping_pongs
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    from corridor.drivers import _fit

    fitted = _fit(cases, y, ("failed_contacts", "ping_pongs", "wait_hours"), logistic=True,
                  level=0.95, what="cases")
    reference = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10).fit(
        cases[["failed_contacts", "ping_pongs", "wait_hours"]], y
    )
    assert fitted.coefficients == pytest.approx(reference.coef_[0], abs=1e-4)
    for i, planted in enumerate((0.7, 0.9, 0.0)):
        assert fitted.low[i] < planted < fitted.high[i]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(features=["colour"]), "'colour' is not a journey feature; choose from contacts"),
        (dict(features=[]), "At least one feature is needed to look for drivers; none was given."),
        (dict(confidence=1.5), "The confidence level must be between 0 and 1"),
        (dict(min_presence=1), "min_presence must be a whole number of at least 2; got 1."),
        (dict(metric="stars"), "The metric must be one of nps, csat, ces; got 'stars'."),
    ],
)
def test_bad_driver_arguments_are_one_sentence(kwargs, message):
    with pytest.raises(InputError, match=message):
        score_drivers(ibis.memtable(made_up_journeys(n=100)), **kwargs)


def test_journeys_of_several_metrics_need_one_named():
    frame = pd.concat([made_up_journeys(n=100), made_up_journeys(n=100, metric="ces")])
    with pytest.raises(InputError, match="they hold ces, nps"):
        score_drivers(ibis.memtable(frame))
    assert score_drivers(ibis.memtable(frame), metric="ces").outcome == "ces score"


def test_too_few_responses_is_an_analysis_error():
    with pytest.raises(AnalysisError, match="Only 12 nps responses: too few to weigh 6 features"):
        score_drivers(ibis.memtable(made_up_journeys(n=12)))


# ---- reading drivers against their expected sign ------------------------------------------


def waiting_pleases() -> pd.DataFrame:
    """The made-up journeys, but each hour of waiting adds 0.3 points: the opposite of
    what waiting is expected to do."""
    frame = made_up_journeys()
    frame["score"] = frame["score"] + 0.3 * frame["wait_hours"]
    return frame


def test_every_default_feature_is_expected_to_worsen_the_experience():
    assert set(SCORE_FEATURES) <= set(EXPECTED_EFFECTS)
    assert set(EXPECTED_EFFECTS.values()) == {Expected.WORSENS}
    assert "contacts" not in EXPECTED_EFFECTS  # plain activity is not judged


def test_a_driver_against_its_expected_sign_is_flagged():
    result = score_drivers(ibis.memtable(waiting_pleases()))
    wait = result.driver("wait_hours")
    assert wait.significant and wait.ci_low > 0  # a clear, positive effect of waiting ...
    assert wait.expected_sign == -1  # ... where waiting is expected to lower the score
    assert wait.assessment is Assessment.CONTRADICTS_EXPECTATION and wait.flagged
    failed = result.driver("failed_contacts")
    assert (failed.expected_sign, failed.assessment, failed.flagged) == (
        -1, Assessment.AS_EXPECTED, False)
    assert result.to_dict()["drivers"][wait.rank - 1]["assessment"] == "contradicts_expectation"


def test_a_driver_whose_interval_includes_zero_is_uncertain():
    result = score_drivers(ibis.memtable(made_up_journeys()))
    unplanted = [result.driver(n) for n in ("wait_hours", "handoffs", "channel_switches",
                                            "repeats")]
    included = [d for d in unplanted if d.ci_low <= 0 <= d.ci_high]
    assert included  # effects planted at 0: most intervals hold it
    for d in included:
        assert not d.significant
        assert d.assessment is Assessment.UNCERTAIN and d.flagged
    for d in result.drivers:
        if not d.significant:
            assert d.assessment is Assessment.UNCERTAIN  # never "as expected" by chance


def test_a_driver_with_a_wide_interval_is_uncertain():
    # significant and in the expected direction, but the interval's half-width (0.017)
    # exceeds half the effect (0.0103): it could be a sixth of what it shows
    assert assess(-0.0205, -0.0377, -0.0033, -1) is Assessment.UNCERTAIN
    assert assess(-0.5, -0.58, -0.42, -1) is Assessment.AS_EXPECTED
    assert assess(-0.4, -0.6, -0.2, -1) is Assessment.AS_EXPECTED  # half-width = half: not wide
    assert assess(0.5, 0.42, 0.58, None) is Assessment.NO_EXPECTATION
    # a clear sign against the expectation is flagged as such even when wide
    assert assess(0.02, 0.001, 0.039, -1) is Assessment.CONTRADICTS_EXPECTATION
    # on data: a real but small effect of hand-offs, measured on few answers
    frame = made_up_journeys(n=400, seed=5)
    frame["score"] = frame["score"] - 0.25 * frame["handoffs"]
    handoffs = score_drivers(ibis.memtable(frame)).driver("handoffs")
    assert handoffs.significant and handoffs.effect < 0
    assert handoffs.wide and handoffs.assessment is Assessment.UNCERTAIN and handoffs.flagged


def test_stated_expectations_can_be_replaced_and_are_checked():
    frame = ibis.memtable(waiting_pleases())
    result = score_drivers(frame, expectations={"wait_hours": Expected.IMPROVES})
    assert result.driver("wait_hours").assessment is Assessment.AS_EXPECTED
    assert result.driver("failed_contacts").assessment is Assessment.NO_EXPECTATION
    with pytest.raises(InputError, match="'colour' is not a journey feature"):
        score_drivers(frame, expectations={"colour": Expected.WORSENS})
    with pytest.raises(InputError, match="must be 'worsens' or 'improves'; got 'sad'"):
        score_drivers(frame, expectations={"wait_hours": "sad"})


# ---- support cases and churn on a hand-made log ------------------------------------------

TOUCHPOINTS = pd.DataFrame({
    "touchpoint": ["ad_seen", "app_login", "support_hotline", "web_chat", "contract_cancel"],
    "stage": ["need", "use", "support", "support", "exit"],
    "channel": ["web", "app", "phone", "web", "phone"],
    "department_id": ["D-MKT", "D-DIG", "D-CC", "D-CC", "D-RTN"],
})


def churn_log() -> pd.DataFrame:
    """Days after START. A fails once, retries and leaves two days later; B leaves after
    twenty days (too late to count); C's case ends five days before the data do (cannot be
    told); D's case starts with an app login (not a support case); E left before its case."""
    day = 1440
    rows = [
        ("A", "A-J", "ad_seen", 0, "ok"),
        ("A", "A-S1", "support_hotline", 10 * day, "failed"),
        ("A", "A-S1", "support_hotline", 10 * day + 30, "ok"),
        ("A", "A-J", "contract_cancel", 12 * day, "ok"),
        ("B", "B-S1", "web_chat", 10 * day, "ok"),
        ("B", "B-J", "contract_cancel", 30 * day, "ok"),
        ("C", "C-S1", "support_hotline", 50 * day, "ok"),
        ("D", "D-S1", "app_login", 20 * day, "ok"),
        ("D", "D-S1", "support_hotline", 20 * day + 5, "ok"),
        ("E", "E-J", "contract_cancel", 5 * day, "ok"),
        ("E", "E-S1", "support_hotline", 8 * day, "ok"),
        ("F", "F-J", "app_login", 55 * day, "ok"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "case_id", "touchpoint", "offset", "outcome"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("offset"), unit="min")
    return canonical_events(frame, channel=None)


def test_support_cases_and_who_left_after_them_on_every_engine(put):
    cases = support_cases(put(churn_log()), touchpoints=put(TOUCHPOINTS)).execute()
    rows = {r["case_id"]: r for r in cases.to_dict("records")}
    assert set(rows) == {"A-S1", "B-S1", "C-S1", "E-S1"}
    assert rows["A-S1"]["churned"] == 1
    assert (rows["A-S1"]["failed_contacts"], rows["A-S1"]["contacts"]) == (1, 2)
    assert rows["A-S1"]["first_touchpoint"] == "support_hotline"
    assert rows["B-S1"]["churned"] == 0
    assert pd.isna(rows["C-S1"]["churned"])
    assert rows["E-S1"]["churned"] == 0
    assert rows["A-S1"]["customer_id"] == "A"


def test_a_longer_churn_window_counts_later_exits():
    longer = support_cases(
        ibis.memtable(churn_log()), touchpoints=ibis.memtable(TOUCHPOINTS), within=dt.timedelta(days=21)
    ).execute()
    churned = dict(zip(longer.case_id, longer.churned))
    assert churned["B-S1"] == 1
    assert pd.isna(churned["C-S1"])  # 50 + 21 days is past the data's end on day 55


def test_named_touchpoints_replace_the_stages():
    events = ibis.memtable(churn_log())
    cases = support_cases(
        events, support_touchpoints=["web_chat"], exit_touchpoints="contract_cancel"
    ).execute()
    assert list(cases.case_id) == ["B-S1"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(), InputError,
         "Without a touchpoints table, name the support touchpoints with support_touchpoints."),
        (dict(support_touchpoints=[]), InputError, "support_touchpoints must name at least one touchpoint"),
        (dict(support_touchpoints=["web_chat"], exit_touchpoints=["contract_cancel"],
              within=dt.timedelta(days=-1)), InputError, "The churn window must be a positive time span"),
        (dict(support_touchpoints=["web_chat"], exit_touchpoints=["contract_cancel"],
              within=dt.timedelta(days=1)), AnalysisError,
         "Every one of the 1 support cases stayed: churn drivers need both outcomes."),
    ],
)
def test_churn_drivers_say_what_is_missing(kwargs, error, message):
    with pytest.raises(error, match=message):
        churn_drivers(ibis.memtable(churn_log()), **kwargs)


def test_a_feature_that_separates_leavers_is_named_as_the_problem():
    day = 1440
    rows = []
    for i in range(40):
        leaves = i < 20
        rows.append((f"K{i}", f"K{i}-S1", "support_hotline", i * 10, "failed" if leaves else "ok"))
        rows.append((f"K{i}", f"K{i}-S1", "web_chat", i * 10 + 5, "ok"))
        if leaves:
            rows.append((f"K{i}", f"K{i}-J", "contract_cancel", day + i * 10, "ok"))
    rows.append(("Z", "Z-J", "app_login", 60 * day, "ok"))
    frame = pd.DataFrame(rows, columns=["customer_id", "case_id", "touchpoint", "offset", "outcome"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("offset"), unit="min")
    events = ibis.memtable(canonical_events(frame, channel=None))
    with pytest.raises(AnalysisError, match="a feature separates those who left from those who stayed"):
        churn_drivers(events, touchpoints=ibis.memtable(TOUCHPOINTS), features=["failed_contacts"])


# ---- the demo company's planted drivers --------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_frames):
    frames = demo_frames(20000)
    con = ibis.duckdb.connect()
    tables = frames.on(con, "events", "feedback", "touchpoints")
    yield tables["events"], tables["feedback"], tables["touchpoints"], frames.truths.drivers
    con.disconnect()


# the demo's features (truths.py) and the journey features that measure them
MEASURED_BY = {
    "failed_hotline_contacts": "failed_contacts",
    "failed_hotline_contacts_in_case": "failed_contacts",
    "pingpong_cases": "ping_pongs",
    "pingpong_in_case": "ping_pongs",
    "installation_wait_days": "wait_hours",
}
PER_UNIT = {"installation_wait_days": 1 / 24}  # planted per day, measured per hour


def assert_planted_drivers_lead(result, model):
    planted = {MEASURED_BY[e.feature]: e.coefficient * PER_UNIT.get(e.feature, 1.0) for e in model.effects}
    leading = result.drivers[: len(planted)]
    assert {d.feature for d in leading} == set(planted)
    for d in leading:
        assert d.significant
        assert np.sign(d.effect) == np.sign(planted[d.feature])
        # the planted drivers hurt, as expected: for a score negative, for churn positive
        assert d.expected_sign == (1 if result.model == "logistic" else -1)
        assert d.assessment is Assessment.AS_EXPECTED and not d.flagged
        # scores are rounded and clipped to their scale, which pulls effects towards 0
        assert 0.5 < d.effect / planted[d.feature] < 1.5


def test_failed_calls_and_ping_pongs_drive_nps(demo):
    events, feedback, touchpoints, truth = demo
    journeys = feedback_journeys(
        feedback, events, touchpoints=touchpoints, metric="nps",
        lookback=dt.timedelta(days=366), stages=["support"],
    )
    assert_planted_drivers_lead(score_drivers(journeys), truth.nps)


def test_failed_calls_and_ping_pongs_in_the_case_drive_ces(demo):
    events, feedback, touchpoints, truth = demo
    journeys = feedback_journeys(
        feedback, events, touchpoints=touchpoints, metric="ces", scope="case",
        lookback=dt.timedelta(days=30),
    )
    result = score_drivers(journeys)
    assert_planted_drivers_lead(result, truth.ces)
    # the store visit of the ping-pong is the touchpoint whose presence hurts most
    assert result.touchpoints[0].touchpoint == "store_support"
    assert result.touchpoints[0].difference < 0


def test_the_installation_wait_drives_csat(demo):
    events, feedback, touchpoints, truth = demo
    journeys = feedback_journeys(
        feedback, events, touchpoints=touchpoints, metric="csat", lookback=dt.timedelta(days=1)
    )
    assert_planted_drivers_lead(score_drivers(journeys), truth.csat)


def test_failed_calls_and_ping_pongs_drive_churn_after_a_support_case(demo):
    events, _, touchpoints, truth = demo
    result = churn_drivers(events, touchpoints=touchpoints, within=dt.timedelta(days=14))
    assert result.model == "logistic"
    assert result.left_out > 0  # cases in the last two weeks cannot be told yet
    assert_planted_drivers_lead(result, truth.churn)
    assert result.touchpoints[0].touchpoint == "store_support"
    assert result.touchpoints[0].difference > 0
