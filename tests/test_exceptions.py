"""Exception detection: control charts on daily touchpoint metrics that respect the weekly
rhythm, checked on hand-made series with known answers and on the demo's planted
exception."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from corridor.errors import AnalysisError, InputError
from corridor.exceptions import (
    ChartSettings, Direction, Metric, daily_metrics, detect_exceptions, first_alarm_on_or_after,
)
from helpers import canonical_events

MONDAY = dt.date(2024, 1, 1)


def day_events(per_day, touchpoint="login", start=MONDAY, wait=None):
    """Events from one (events, failures) pair per day; ``wait(day, i)`` gives waits."""
    rows = []
    for d, (events, failures) in enumerate(per_day):
        day = pd.Timestamp(start) + pd.Timedelta(days=d)
        for i in range(events):
            rows.append({
                "case_id": f"c{d}-{i}",
                "touchpoint": touchpoint,
                "timestamp": day + pd.Timedelta(hours=8, seconds=30 * i),
                "outcome": "failed" if i < failures else "ok",
                "wait_seconds": np.nan if wait is None else float(wait(d, i)),
            })
    return canonical_events(pd.DataFrame(rows))


def test_a_failure_spike_alarms_on_its_day_and_nowhere_else(duck):
    per_day = [(100, 2)] * 70
    per_day[50] = (100, 40)
    events = duck(day_events(per_day))
    report = detect_exceptions(events, metrics=[Metric.FAILURE_RATE])
    assert [(a.day, a.metric) for a in report.alarms] == [
        (MONDAY + dt.timedelta(days=50), Metric.FAILURE_RATE)
    ]
    alarm = report.alarms[0]
    assert alarm.value == pytest.approx(0.40)
    assert alarm.expected == pytest.approx(0.02)
    assert alarm.observations == 100
    assert alarm.direction is Direction.UP and alarm.worse is True
    assert alarm.score >= report.settings.limit
    summary = report.series[0]
    assert (summary.touchpoint, summary.metric) == ("login", Metric.FAILURE_RATE)
    assert summary.days_observed == 70
    assert summary.days_monitored == 70 - report.settings.warmup_days
    assert report.touchpoint_days_monitored == 42


def test_daily_metrics_count_failures_and_waits_per_day(engine, put):
    events = put(day_events([(4, 1), (2, 2)], wait=lambda d, i: 10 * (i + 1) + 100 * d))
    frame = daily_metrics(events).execute().sort_values("day").reset_index(drop=True)
    assert frame["events"].tolist() == [4, 2]
    assert frame["failed"].tolist() == [1, 2]
    assert frame["waited"].tolist() == [4, 2]
    assert frame["mean_wait"].tolist() == pytest.approx([25.0, 115.0])
    assert frame["median_wait"].tolist() == pytest.approx([25.0, 115.0])
    assert frame["wait_sum_squares"].tolist() == pytest.approx([3000.0, 110 ** 2 + 120 ** 2])


def test_a_weekly_rhythm_is_expected_and_a_busy_saturday_is_not(duck):
    weekday, weekend = (100, 0), (20, 0)
    per_day = [weekend if (MONDAY + dt.timedelta(days=d)).weekday() >= 5 else weekday
               for d in range(84)]
    quiet = detect_exceptions(duck(day_events(per_day)), metrics=[Metric.VOLUME])
    assert quiet.alarms == ()
    saturday = 75
    assert (MONDAY + dt.timedelta(days=saturday)).weekday() == 5
    per_day[saturday] = weekday
    busy = detect_exceptions(duck(day_events(per_day)), metrics=[Metric.VOLUME])
    assert [(a.day, a.direction) for a in busy.alarms] == [
        (MONDAY + dt.timedelta(days=saturday), Direction.UP)
    ]
    assert busy.alarms[0].expected == pytest.approx(20, rel=0.1)
    assert busy.alarms[0].worse is None  # more volume is neither good nor bad


def test_a_long_wait_day_alarms_and_a_lasting_shift_becomes_the_new_normal(duck):
    def wait(d, i):
        base = 60.0 if d < 60 else 180.0  # from day 60 on, waits triple for good
        if d == 40:
            base = 300.0
        return base + (i % 5 - 2) * 10.0

    report = detect_exceptions(duck(day_events([(20, 0)] * 100, wait=wait)),
                               metrics=[Metric.WAIT])
    days = [(a.day - MONDAY).days for a in report.alarms]
    assert days[0] == 40 and report.alarms[0].value == pytest.approx(300.0)
    assert 60 in days  # the shift is seen on its first day
    relearn = report.settings.relearn_days
    assert all(d < 60 + relearn + 2 for d in days)  # and accepted after relearn_days


def test_satisfaction_is_charted_from_feedback_and_a_drop_is_worse(duck):
    rows = []
    for d in range(60):
        day = pd.Timestamp(MONDAY) + pd.Timedelta(days=d)
        scores = [4, 5, 4, 4, 5, 3, 4, 5] if d != 45 else [2, 1, 2, 3, 1, 2, 2, 1]
        rows += [{"customer_id": f"c{d}-{i}", "timestamp": day + pd.Timedelta(hours=12),
                  "touchpoint": "installation", "metric": "csat", "score": s}
                 for i, s in enumerate(scores)]
    feedback = duck(pd.DataFrame(rows))
    events = duck(day_events([(5, 0)] * 60, touchpoint="installation"))
    report = detect_exceptions(events, feedback=feedback, metrics=[Metric.CSAT])
    assert [(a.day, a.metric, a.direction, a.worse) for a in report.alarms] == [
        (MONDAY + dt.timedelta(days=45), Metric.CSAT, Direction.DOWN, True)
    ]
    assert report.alarms[0].value == pytest.approx(1.75)


def test_sparse_failures_do_not_alarm_on_single_events(duck):
    rng = np.random.default_rng(3)
    per_day = [(int(n), int(rng.binomial(n, 0.05))) for n in rng.poisson(4, 200)]
    report = detect_exceptions(duck(day_events(per_day)), metrics=[Metric.FAILURE_RATE])
    assert report.alarms == ()


# ---- the demo company -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_report(demo_company):
    return detect_exceptions(demo_company.events)


def test_the_planted_exception_is_found_on_its_first_day(demo_company, demo_report):
    planted = demo_company.truths.exception
    first = first_alarm_on_or_after(demo_report, planted.touchpoint, Metric.FAILURE_RATE,
                                    planted.start - dt.timedelta(days=28))
    assert first is not None
    assert planted.start <= first.day <= planted.start + dt.timedelta(days=1)
    assert first.direction is Direction.UP and first.worse
    assert first.value > 10 * first.expected
    alarmed = {a.day for a in demo_report.alarms_for(planted.touchpoint, Metric.FAILURE_RATE)}
    planted_days = {planted.start + dt.timedelta(days=i)
                    for i in range((planted.end - planted.start).days + 1)}
    assert alarmed == planted_days  # every day of it, and nothing after it ends


def test_false_alarms_outside_the_planted_events_are_rare(demo_company, demo_report):
    planted = demo_company.truths.exception
    outside = {
        (a.touchpoint, a.day) for a in demo_report.alarms
        if not (a.touchpoint == planted.touchpoint and planted.start <= a.day <= planted.end)
    }
    rate = len(outside) / demo_report.touchpoint_days_monitored
    assert demo_report.touchpoint_days_monitored > 8000
    assert rate < 0.002  # measured: 2 of 8,420 touchpoint-days


def test_the_hotline_failing_at_the_same_hours_every_day_is_no_exception(demo_company, demo_report):
    steady = demo_company.truths.accessibility.touchpoint
    assert demo_report.alarms_for(steady, Metric.FAILURE_RATE) == ()
    summary = next(s for s in demo_report.series
                   if s.touchpoint == steady and s.metric is Metric.FAILURE_RATE)
    assert summary.days_monitored > 250 and summary.mean_value > 0.15


def test_a_slowly_growing_regional_wait_is_left_to_the_bottleneck_trend(demo_company, demo_report):
    planted = demo_company.truths.bottleneck
    during = [a for a in demo_report.alarms_for(planted.touchpoint, Metric.WAIT)
              if planted.start <= a.day < planted.resolved_on]
    # 18 weeks of growth in one region of five: at most an isolated day stands out
    assert len(during) <= 2
    assert all(a.direction is Direction.UP for a in during)


def test_the_report_is_plain_data(demo_report):
    data = demo_report.to_dict()
    assert data["alarms"][0].keys() >= {"touchpoint", "metric", "day", "value", "expected",
                                        "score", "direction"}
    assert isinstance(data["alarms"][0]["day"], str)
    assert data["touchpoint_days_monitored"] == demo_report.touchpoint_days_monitored


# ---- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    (dict(smoothing=0), "smoothing \\(EWMA λ\\) must be above 0 and at most 1; got 0"),
    (dict(limit=-1), "limit must be a positive number; got -1"),
    (dict(warmup_days=2.5), "warmup_days must be a whole number of at least 1; got 2.5"),
])
def test_bad_settings_are_one_sentence(settings, message):
    with pytest.raises(InputError, match=message):
        ChartSettings(**settings)


def test_bad_requests_are_one_sentence(duck):
    events = duck(day_events([(3, 0)] * 3))
    with pytest.raises(InputError, match="Unknown metric 'speed'; choose from failure_rate"):
        detect_exceptions(events, metrics=["speed"])
    with pytest.raises(InputError, match="need the feedback table"):
        detect_exceptions(events, metrics=[Metric.NPS])
    with pytest.raises(InputError, match="touchpoints must be a list"):
        detect_exceptions(events, touchpoints="login")
    with pytest.raises(AnalysisError, match="There are no events to chart."):
        detect_exceptions(events, touchpoints=["nowhere"])
