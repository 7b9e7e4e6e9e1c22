"""Satisfaction scores with their intervals, by dimensions and over time, and the
journey joined to each piece of feedback: hand-made cases with known answers (on DuckDB
and Spark where the work is done by the engine) and the demo company's planted truths."""

from __future__ import annotations

import datetime as dt
import math

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor.errors import AnalysisError, InputError
from corridor.satisfaction import (
    FEATURE_NAMES,
    Dimension,
    Metric,
    Scope,
    feedback_journeys,
    mean_interval,
    nps_interval,
    satisfaction,
    wilson_interval,
)
from helpers import START, canonical_events

Z95 = 1.959963984540054


def feedback_frame(rows) -> pd.DataFrame:
    """Feedback from (customer_id, minutes after START, touchpoint, metric, score)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "offset", "touchpoint", "metric", "score"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("offset"), unit="min")
    frame["score"] = frame["score"].astype("float64")
    frame["text"] = pd.Series([None] * len(frame), dtype="string")
    frame["language"] = pd.Series(["en"] * len(frame), dtype="string")
    for column in ("customer_id", "touchpoint", "metric"):
        frame[column] = frame[column].astype("string")
    return frame


# ---- intervals ------------------------------------------------------------------------------


def test_nps_interval_uses_the_trinomial_variance():
    # 5 promoters, 2 passives, 3 detractors of 10: NPS 20, Var = (0.5 + 0.3 - 0.2^2) / 10
    est = nps_interval(5, 3, 10, Z95)
    half = 100 * Z95 * math.sqrt((0.8 - 0.04) / 10)
    assert est.value == pytest.approx(20.0)
    assert (est.low, est.high) == pytest.approx((20 - half, 20 + half))


def test_nps_interval_stays_within_minus_100_and_100():
    est = nps_interval(2, 0, 3, Z95)
    assert est.high <= 100.0 and est.low >= -100.0


def test_wilson_interval_matches_the_published_value_for_8_of_10():
    est = wilson_interval(8, 10, Z95)
    assert est.value == pytest.approx(0.8)
    assert (est.low, est.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_wilson_interval_of_no_successes_starts_at_zero():
    est = wilson_interval(0, 20, Z95)
    assert est.low == 0.0 and 0.0 < est.high < 0.2


def test_mean_interval_is_the_student_t_interval():
    scores = np.array([5.0, 6.0, 7.0, 4.0, 3.0])
    est = mean_interval(scores.sum(), (scores**2).sum(), 5, 0.95)
    half = 2.7764451051977987 * scores.std(ddof=1) / math.sqrt(5)
    assert est.value == pytest.approx(5.0)
    assert (est.low, est.high) == pytest.approx((5 - half, 5 + half))


def test_one_response_has_a_mean_but_no_interval():
    est = mean_interval(4.0, 16.0, 1, 0.95)
    assert (est.value, est.low, est.high) == (4.0, None, None)


# ---- scores by dimension and time -------------------------------------------------------


NPS_SCORES = [10, 10, 9, 8, 7, 6, 5, 0, 9, 10]


def reference_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    touchpoints = pd.DataFrame({
        "touchpoint": ["support_hotline", "web_chat", "installation_visit"],
        "stage": ["support", "support", "use"],
        "channel": ["phone", "web", "field"],
        "department_id": ["D-CC", "D-CC", "D-FLD"],
    })
    customers = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(10)],
        "segment": ["consumer"] * 6 + ["enterprise"] * 4,
        "level": ["person"] * 10,
        "region": ["East", "West"] * 5,
    })
    return touchpoints, customers


@pytest.fixture
def reference():
    """Touchpoints and customers on DuckDB (tests that do not need every engine)."""
    return tuple(ibis.memtable(frame) for frame in reference_frames())


def test_nps_overall_and_by_segment_on_every_engine(put):
    customers = put(reference_frames()[1])
    rows = [(f"C{i}", i * 60, None, "nps", s) for i, s in enumerate(NPS_SCORES)]
    rows.append(("C0", 5, "web_chat", "csat", 5))  # another metric: not counted
    result = satisfaction(put(feedback_frame(rows)), "nps", by="segment", customers=customers)
    assert result.overall.responses == 10
    assert result.overall.score.value == pytest.approx(20.0)
    consumer = result.cell("consumer")  # 10 10 9 8 7 6: 3 promoters, 1 detractor
    enterprise = result.cell("enterprise")  # 5 0 9 10: 2 promoters, 2 detractors
    assert consumer.score.value == pytest.approx(100 * (3 - 1) / 6)
    assert enterprise.score.value == pytest.approx(0.0)
    assert consumer.top_share.value == pytest.approx(0.5)
    assert enterprise.bottom_share.value == pytest.approx(0.5)
    assert result.to_dict()["cells"][0]["segment"] == "consumer"


def test_csat_by_touchpoint_stage_channel_and_department(reference):
    touchpoints, customers = reference
    rows = [
        ("C0", 0, "support_hotline", "csat", 5), ("C1", 1, "support_hotline", "csat", 2),
        ("C2", 2, "web_chat", "csat", 4), ("C3", 3, "web_chat", "csat", 4),
        ("C4", 4, "installation_visit", "csat", 1), ("C5", 5, None, "csat", 3),
    ]
    fb = ibis.memtable(feedback_frame(rows))
    by_tp = satisfaction(fb, "csat", by=[Dimension.TOUCHPOINT, Dimension.CHANNEL], touchpoints=touchpoints)
    assert [c.keys for c in by_tp.cells] == [
        ("installation_visit", "field"), ("support_hotline", "phone"), ("web_chat", "web"), (None, None)
    ]
    assert by_tp.cell("web_chat", "web").score.value == 1.0
    assert by_tp.cell("support_hotline", "phone").bottom_share.value == 0.5
    by_dep = satisfaction(fb, "csat", by=["stage", "department"], touchpoints=touchpoints)
    support = by_dep.cell("support", "D-CC")
    assert support.responses == 4
    assert support.score.value == pytest.approx(0.75)
    assert support.mean.value == pytest.approx(3.75)
    assert support.key("department") == "D-CC"


def test_ces_per_week_and_month():
    monday = 0
    rows = [
        ("C0", monday, "web_chat", "ces", 7), ("C1", monday + 60, "web_chat", "ces", 5),
        ("C2", monday + 7 * 1440, "web_chat", "ces", 2),  # the next Monday
        ("C3", monday + 7 * 1440 + 30, "web_chat", "ces", 4),
    ]
    feedback = ibis.memtable(feedback_frame(rows))
    result = satisfaction(feedback, "ces", period="week")
    assert [c.period for c in result.cells] == [dt.date(2024, 1, 1), dt.date(2024, 1, 8)]
    assert [c.score.value for c in result.cells] == [6.0, 3.0]
    assert [c.top_share.value for c in result.cells] == [1.0, 0.0]  # easy = 5-7
    monthly = satisfaction(feedback, Metric.CES, period="month")
    assert [(c.period, c.responses) for c in monthly.cells] == [(dt.date(2024, 1, 1), 4)]


def test_scores_off_the_scale_are_left_out_and_counted():
    rows = [("C0", 0, None, "csat", 5), ("C1", 1, None, "csat", 9), ("C2", 2, None, "csat", 0),
            ("C3", 3, None, "csat", None)]
    result = satisfaction(ibis.memtable(feedback_frame(rows)), "csat")
    assert (result.responses, result.left_out) == (1, 3)


def test_small_groups_can_be_left_out(reference):
    _, customers = reference
    rows = [(f"C{i}", i, None, "nps", 9) for i in range(8)]  # 6 consumer, 2 enterprise
    feedback = ibis.memtable(feedback_frame(rows))
    result = satisfaction(feedback, "nps", by="segment", customers=customers, min_responses=3)
    assert [c.keys for c in result.cells] == [("consumer",)]
    assert result.overall.responses == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metric="stars"), "The metric must be one of nps, csat, ces; got 'stars'."),
        (dict(by="colour"), "Satisfaction can be grouped by touchpoint, stage"),
        (dict(by=["segment", "segment"]), "The dimension 'segment' is asked for twice."),
        (dict(by="stage"), "Grouping by stage needs the touchpoints table; none was given."),
        (dict(by="level"), "Grouping by level needs the customers table; none was given."),
        (dict(period="day"), "The period must be 'week' or 'month'; got 'day'."),
        (dict(confidence=95), "The confidence level must be between 0 and 1, such as 0.95; got 95."),
        (dict(min_responses=0), "min_responses must be a whole number of at least 1; got 0."),
    ],
)
def test_bad_arguments_are_one_sentence(kwargs, message):
    feedback = ibis.memtable(feedback_frame([("C0", 0, None, "nps", 9)]))
    kwargs = {"metric": "nps", **kwargs}
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        satisfaction(feedback, kwargs.pop("metric"), **kwargs)


def test_no_scores_of_the_metric_is_an_analysis_error():
    feedback = ibis.memtable(feedback_frame([("C0", 0, None, "nps", 9)]))
    with pytest.raises(AnalysisError, match="The feedback holds no ces scores on its 1-7 scale."):
        satisfaction(feedback, "ces")


# ---- the journey before each piece of feedback ------------------------------------------


def journey_events() -> pd.DataFrame:
    """Minutes after START. C1's support case has a failed call and its retry, a hand-off
    to Billing, a trip to a store and back (a ping-pong); its journey case has an app
    login later. C2's events sit on the edges of a one-day window. C4's case switches
    channel within Customer Care, hands off to the field and has a repeat visit."""
    rows = [
        ("C1", "C1-S1", "support_hotline", 0, "phone", "failed", 600.0, "D-CC"),
        ("C1", "C1-S1", "support_hotline", 10, "phone", "ok", 120.0, "D-CC"),
        ("C1", "C1-S1", "billing_dispute", 30, "phone", "ok", 300.0, "D-BIL"),
        ("C1", "C1-S1", "store_support", 60, "store", "ok", None, "D-RET"),
        ("C1", "C1-S1", "billing_dispute", 90, "phone", "ok", None, "D-BIL"),
        ("C1", "C1-J", "ad_seen", -5000, "web", "ok", None, "D-MKT"),
        ("C1", "C1-J", "app_login", 100, "app", "ok", None, "D-DIG"),
        ("C2", "C2-J", "website_visit", -1440, "web", "ok", None, "D-DIG"),
        ("C2", "C2-J", "plan_compare", -1439, "web", "ok", None, "D-DIG"),
        ("C2", "C2-J", "order_online", 0, "web", "ok", None, "D-DIG"),
        ("C2", "C2-J", "credit_check", 1, "web", "ok", None, "D-BIL"),
        ("C4", "C4-S1", "web_chat", 4000, "web", "ok", None, "D-CC"),
        ("C4", "C4-S1", "support_hotline", 4020, "phone", "ok", 60.0, "D-CC"),
        ("C4", "C4-S1", "technician_visit", 4500, "field", "ok", 7200.0, "D-FLD"),
        ("C4", "C4-S1", "technician_visit", 5000, "field", "ok", 3600.0, "D-FLD"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "case_id", "touchpoint", "offset", "channel",
                                        "outcome", "wait_seconds", "department_id"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("offset"), unit="min")
    frame = frame.sort_values(["customer_id", "timestamp"], kind="stable")
    return canonical_events(frame.reset_index(drop=True))


JOURNEY_FEEDBACK = [
    ("C1", 120, "support_hotline", "ces", 3),
    ("C2", 0, None, "nps", 8),
    ("C3", 0, None, "nps", 10),  # no events at all
    ("C4", 5100, "support_hotline", "ces", 6),
]


def pulled(table) -> dict[str, dict]:
    """The journeys by customer (each customer gave one piece of feedback here)."""
    frame = table.execute()
    assert frame.customer_id.is_unique
    return {r["customer_id"]: r for r in frame.to_dict("records")}


def test_the_customer_journey_before_feedback_on_every_engine(put):
    journeys = feedback_journeys(
        put(feedback_frame(JOURNEY_FEEDBACK)), put(journey_events()), lookback=dt.timedelta(days=1)
    )
    rows = pulled(journeys)
    c1 = rows["C1"]
    assert (c1["contacts"], c1["failed_contacts"], c1["cases"], c1["channels"]) == (6, 1, 2, 3)
    assert (c1["handoffs"], c1["ping_pongs"], c1["repeats"], c1["channel_switches"]) == (2, 1, 0, 0)
    assert c1["wait_hours"] == pytest.approx((600 + 120 + 300) / 3600)
    assert (c1["last_touchpoint"], c1["last_case_id"]) == ("app_login", "C1-J")
    assert c1["hours_since_last_event"] == pytest.approx(20 / 60)
    assert sorted(c1["touchpoints_visited"]) == [
        "app_login", "billing_dispute", "store_support", "support_hotline"
    ]
    c2 = rows["C2"]  # the window is (feedback - 1 day, feedback]
    assert (c2["contacts"], c2["last_touchpoint"], c2["hours_since_last_event"]) == (2, "order_online", 0.0)
    c3 = rows["C3"]
    assert [c3[f] for f in FEATURE_NAMES] == [0] * len(FEATURE_NAMES)
    assert c3["last_touchpoint"] is None or pd.isna(c3["last_touchpoint"])
    c4 = rows["C4"]  # web -> phone in one department, a hand-off, then the same visit again
    assert (c4["channel_switches"], c4["handoffs"], c4["repeats"], c4["ping_pongs"]) == (1, 1, 1, 0)
    assert c4["wait_hours"] == pytest.approx((60 + 7200 + 3600) / 3600)
    assert len(rows) == len(JOURNEY_FEEDBACK)  # one row per piece of feedback


def test_the_case_scope_keeps_the_case_that_visited_the_feedbacks_touchpoint():
    journeys = feedback_journeys(
        ibis.memtable(feedback_frame(JOURNEY_FEEDBACK)), ibis.memtable(journey_events()),
        lookback=dt.timedelta(days=1), scope=Scope.CASE, metric="ces",
    )
    rows = pulled(journeys)
    assert set(rows) == {"C1", "C4"}
    c1 = rows["C1"]  # the app login in the journey case is newer, but not about the call
    assert (c1["last_case_id"], c1["last_touchpoint"]) == ("C1-S1", "billing_dispute")
    assert (c1["contacts"], c1["cases"], c1["channels"]) == (5, 1, 2)
    assert c1["hours_since_last_event"] == pytest.approx(0.5)


def test_stages_keep_only_their_touchpoints():
    touchpoints = pd.DataFrame({
        "touchpoint": ["support_hotline", "billing_dispute", "store_support", "app_login"],
        "stage": ["support", "support", "support", "use"],
        "channel": ["phone", "phone", "store", "app"],
        "department_id": ["D-CC", "D-BIL", "D-RET", "D-DIG"],
    })
    journeys = feedback_journeys(
        ibis.memtable(feedback_frame(JOURNEY_FEEDBACK[:1])), ibis.memtable(journey_events()),
        touchpoints=ibis.memtable(touchpoints), lookback=dt.timedelta(days=1), stages=["support"],
    )
    c1 = pulled(journeys)["C1"]
    assert (c1["contacts"], c1["last_touchpoint"]) == (5, "billing_dispute")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lookback=dt.timedelta(0)), "The lookback must be a positive time span"),
        (dict(scope="household"), "The scope must be 'customer' or 'case'; got 'household'."),
        (dict(stages=["support"]), "Keeping only some stages needs the touchpoints table"),
        (dict(metric="stars"), "The metric must be one of nps, csat, ces"),
    ],
)
def test_bad_journey_arguments_are_one_sentence(kwargs, message):
    feedback = ibis.memtable(feedback_frame(JOURNEY_FEEDBACK))
    events = ibis.memtable(journey_events())
    with pytest.raises(InputError, match=message):
        feedback_journeys(feedback, events, **kwargs)


# ---- the demo company --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_frames):
    frames = demo_frames(8000)
    con = ibis.duckdb.connect()
    tables = frames.on(con, "events", "feedback", "customers", "touchpoints")
    yield (tables["events"], tables["feedback"], tables["customers"], tables["touchpoints"],
           frames.truths)
    con.disconnect()


def test_demo_scores_agree_with_a_direct_count(demo):
    _, feedback, *_ = demo
    frame = feedback.execute()
    for metric in Metric:
        scores = frame.loc[frame.metric == metric.value, "score"]
        result = satisfaction(feedback, metric)
        assert result.responses == len(scores)
        if metric is Metric.NPS:
            expected = 100 * ((scores >= 9).mean() - (scores <= 6).mean())
        elif metric is Metric.CSAT:
            expected = (scores >= 4).mean()
        else:
            expected = scores.mean()
        assert result.overall.score.value == pytest.approx(expected)
        assert result.overall.score.low < expected < result.overall.score.high


def test_the_planted_installation_backlog_sinks_csat_in_its_region(demo):
    _, feedback, customers, _, truths = demo
    backlog = truths.bottleneck
    result = satisfaction(feedback, "csat", by="region", period="month", customers=customers)
    before = result.cell(backlog.region, period=dt.date(2025, 4, 1))
    for month in (dt.date(2025, 8, 1), dt.date(2025, 9, 1)):  # the peak of the backlog
        peak = result.cell(backlog.region, period=month)
        assert peak.score.high < before.score.low
        other = result.cell("North", period=month)
        assert peak.score.high < other.score.low
    after = result.cell(backlog.region, period=dt.date(2025, 12, 1))
    assert after.score.low > result.cell(backlog.region, period=dt.date(2025, 9, 1)).score.high


def test_each_csat_response_carries_the_installation_wait_before_it(demo):
    events, feedback, _, touchpoints, _ = demo
    journeys = feedback_journeys(
        feedback, events, touchpoints=touchpoints, metric="csat", lookback=dt.timedelta(days=1)
    ).execute()
    installs = events.filter(events.touchpoint == "installation_visit").execute()
    wait = installs.groupby("customer_id").wait_seconds.sum() / 3600
    merged = journeys.join(wait.rename("install_hours"), on="customer_id")
    assert len(journeys) == feedback.filter(feedback.metric == "csat").count().execute()
    assert len(merged) == len(journeys)
    # the window holds the installation visit; when it came within a day of the order,
    # also the minutes queued in the store or at the partner
    extra = merged.wait_hours - merged.install_hours
    assert extra.between(-1e-9, 1.0).all()
    assert np.isclose(extra, 0.0).mean() > 0.95
    assert (journeys.touchpoints_visited.map(lambda v: "installation_visit" in list(v))).all()


def test_each_ces_response_is_joined_to_the_support_case_it_is_about(demo):
    events, feedback, _, touchpoints, _ = demo
    journeys = feedback_journeys(
        feedback, events, touchpoints=touchpoints, metric="ces", scope="case",
        lookback=dt.timedelta(days=30),
    ).execute()
    # the demo asks about the case's first touchpoint, 1-4 hours after its last contact
    first = events.execute().sort_values(["case_id", "timestamp", "seq"]).groupby("case_id").touchpoint.first()
    chosen = journeys.last_case_id.map(first)
    assert (chosen == journeys.touchpoint).mean() > 0.99
    assert journeys.last_case_id.str.contains("-S").all()
    # after the last contact ended: its duration comes on top of the 1-4 hours
    assert journeys.hours_since_last_event.between(1 - 1e-3, 4 + 3).mean() > 0.99


def test_surveys_without_a_touchpoint_can_be_put_on_the_last_one_before_them():
    journeys = feedback_journeys(
        ibis.memtable(feedback_frame(JOURNEY_FEEDBACK)), ibis.memtable(journey_events()),
        lookback=dt.timedelta(days=1), metric="nps",
    )
    placed = journeys.mutate(touchpoint=journeys.touchpoint.fill_null(journeys.last_touchpoint))
    result = satisfaction(placed, "nps", by="touchpoint")
    assert [(c.keys, c.responses) for c in result.cells] == [(("order_online",), 1), ((None,), 1)]
