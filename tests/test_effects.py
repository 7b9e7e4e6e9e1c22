"""The measured effect of completed actions: before and after, tested, compared with
untouched touchpoints, and kept with the action. Hand-made cases with known answers and
the demo's planted fixes."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from corridor import incidents as inc
from corridor.demo import DemoConfig, generate
from corridor.effects import (
    Control, Scale, Verdict, before_after, measure_action_effect, measure_completed_actions,
    stored_effect,
)
from corridor.errors import AnalysisError, InputError
from corridor.exceptions import Metric, detect_exceptions
from corridor.store import Project
from helpers import canonical_events
from test_incidents import store_demo_incidents

AT = dt.datetime(2024, 3, 1)
WINDOW = dt.timedelta(days=28)


def side(touchpoint, channel, start, events, failures, waits=None):
    """``events`` spread evenly over 28 days from ``start``, the first ``failures`` failed."""
    step = WINDOW / events
    return pd.DataFrame({
        "case_id": [f"{touchpoint}-{start:%m%d}-{i}" for i in range(events)],
        "touchpoint": touchpoint,
        "channel": channel,
        "timestamp": [pd.Timestamp(start + i * step) for i in range(events)],
        "outcome": ["failed" if i < failures else "ok" for i in range(events)],
        "wait_seconds": np.nan if waits is None else waits,
    })


def before_and_after(touchpoint, channel, before, after, waits=(None, None)):
    return [side(touchpoint, channel, AT - WINDOW, *before, waits=waits[0]),
            side(touchpoint, channel, AT, *after, waits=waits[1])]


RNG = np.random.default_rng(5)
WAITS_BEFORE = RNG.gamma(4.0, 150.0, 500).round()
WAITS_AFTER = RNG.gamma(4.0, 75.0, 500).round()


def hand_made_events() -> pd.DataFrame:
    frames = (
        before_and_after("login", "app", (500, 50), (500, 10), (WAITS_BEFORE, WAITS_AFTER))
        + before_and_after("upgrade", "app", (400, 20), (400, 20))
        + before_and_after("checkout", "web", (300, 30), (300, 60))
        + before_and_after("tour", "app", (100, 0), (50, 0))  # never fails: no control for rates
    )
    return canonical_events(pd.concat(frames, ignore_index=True))


@pytest.fixture
def hand_made(duck):
    return duck(hand_made_events())


def test_a_failure_rate_falls_and_the_untouched_touchpoints_do_not(engine, put):
    effect = before_after(put(hand_made_events()), touchpoint="login", at=AT)
    assert effect.metric is Metric.FAILURE_RATE  # it failed before: its failure rate
    assert (effect.before.value, effect.after.value) == pytest.approx((0.10, 0.02))
    assert effect.before.observations == effect.after.observations == 500
    assert effect.before.start == AT - WINDOW and effect.after.end == AT + WINDOW
    pooled = 60 / 1000
    z = -0.08 / math.sqrt(pooled * (1 - pooled) * (2 / 500))
    assert effect.significance.statistic == pytest.approx(z)
    assert effect.significance.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert effect.verdict is Verdict.IMPROVED
    comparison = effect.comparison
    assert comparison.basis is Control.SAME_CHANNEL
    assert comparison.touchpoints == ("upgrade",)  # same channel, and it can fail
    assert comparison.scale is Scale.DIFFERENCE
    assert comparison.control_change == pytest.approx(0.0)
    assert comparison.difference_in_differences == pytest.approx(-0.08)
    se = math.sqrt(0.1 * 0.9 / 500 + 0.02 * 0.98 / 500 + 2 * 0.05 * 0.95 / 400)
    assert comparison.standard_error == pytest.approx(se)
    assert comparison.significance.significant


def test_all_other_touchpoints_can_be_the_comparison(hand_made):
    comparison = before_after(hand_made, touchpoint="login", at=AT,
                              control=Control.ALL_OTHERS).comparison
    assert comparison.touchpoints == ("checkout", "upgrade")
    # each control's own change, weighted by its events: checkout +10 points, upgrade 0
    assert comparison.control_change == pytest.approx(600 * 0.10 / 1400)
    assert comparison.difference_in_differences == pytest.approx(-0.08 - 600 * 0.10 / 1400)


def test_a_channel_without_controls_falls_back_to_all_others(hand_made):
    comparison = before_after(hand_made, touchpoint="checkout", at=AT).comparison
    assert comparison.basis is Control.ALL_OTHERS
    assert comparison.touchpoints == ("login", "upgrade")


def test_a_shorter_wait_is_tested_with_welchs_t(hand_made):
    effect = before_after(hand_made, touchpoint="login", at=AT, metric="wait")
    t, p = stats.ttest_ind(WAITS_AFTER, WAITS_BEFORE, equal_var=False)
    assert effect.before.value == pytest.approx(WAITS_BEFORE.mean())
    assert effect.after.value == pytest.approx(WAITS_AFTER.mean())
    assert effect.significance.statistic == pytest.approx(t)
    assert effect.significance.p_value == pytest.approx(p)
    assert effect.change < 0 and effect.verdict is Verdict.IMPROVED
    assert effect.comparison is None  # no other touchpoint has waits
    assert "No other touchpoint has wait data" in effect.note


def test_volume_is_compared_per_day_with_an_exact_test(hand_made):
    effect = before_after(hand_made, touchpoint="tour", at=AT)
    assert effect.metric is Metric.VOLUME  # no failures, no waits, no feedback
    assert (effect.before.value, effect.after.value) == pytest.approx((100 / 28, 50 / 28))
    assert effect.significance.p_value == pytest.approx(stats.binomtest(50, 150, 0.5).pvalue)
    assert effect.verdict is Verdict.CHANGED  # fewer events is neither good nor bad
    assert effect.comparison.scale is Scale.LOG_RATIO
    assert effect.comparison.target_change == pytest.approx(math.log(0.5))


def test_satisfaction_comes_from_the_touchpoints_feedback(hand_made, duck):
    rows = [{"customer_id": f"c{i}", "timestamp": pd.Timestamp(AT + (i - 56) * dt.timedelta(hours=12)),
             "touchpoint": "login", "metric": "csat", "score": (3 if i < 56 else 4) + (i % 3 - 1)}
            for i in range(112)]
    effect = before_after(hand_made, touchpoint="login", at=AT, metric=Metric.CSAT,
                          feedback=duck(pd.DataFrame(rows)))
    assert (effect.before.value, effect.after.value) == pytest.approx((3.0, 4.0), abs=0.05)
    assert effect.before.observations == effect.after.observations == 56
    assert effect.verdict is Verdict.IMPROVED


@pytest.mark.parametrize("arguments, error, message", [
    (dict(metric="speed"), InputError, "metric must be one of failure_rate, wait, volume"),
    (dict(metric="nps"), InputError, "The nps metric needs the feedback table."),
    (dict(window_days=0), InputError, "window_days must be a whole number of days, at least 1"),
    (dict(control="neighbours"), InputError, "control must be one of same_channel, all_others"),
    (dict(gap_days=3), AnalysisError, "before the 28-day window after 2024-03-01 00:00 is complete"),
    (dict(touchpoint="nowhere"), AnalysisError, "nowhere has no events in the 28 days"),
])
def test_requests_the_data_cannot_answer_are_one_sentence(hand_made, arguments, error, message):
    with pytest.raises(error, match=message):
        before_after(hand_made, **{"touchpoint": "login", "at": AT, **arguments})


# ---- the demo company: planted fixes, measured and kept ---------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("effects")
    files = generate(root / "files", DemoConfig(customers=3000, seed=7))
    project = Project.create(root / "demo.corridor")
    chunks = ", ".join(f"'{p}'" for p in files.events)
    project.con.execute(
        "INSERT INTO events BY NAME SELECT *, 1 AS load_id, row_number() OVER () AS seq"
        f" FROM read_parquet([{chunks}])")
    project.con.execute(
        "INSERT INTO feedback BY NAME SELECT customer_id, timestamp, touchpoint, metric, score,"
        f" text, language FROM read_csv('{files.feedback}')")
    project.con.execute(
        "INSERT INTO touchpoints BY NAME SELECT touchpoint, stage, channel, department_id"
        f" FROM read_csv('{files.touchpoints}')")
    project.con.execute(
        "INSERT INTO departments BY NAME SELECT department_id, name"
        f" FROM read_csv('{files.departments}')")
    store_demo_incidents(project, files.incidents)
    run = measure_completed_actions(project)
    yield project, files.truths, run
    project.close()


def action_titled(project, words):
    return next(a for i in inc.list_incidents(project) for a in i.actions if words in a.title)


def test_every_completed_demo_action_is_measured_and_kept(demo):
    project, _truths, run = demo
    done = [a for i in inc.list_incidents(project) for a in i.actions
            if a.status is inc.ActionStatus.DONE]
    assert sorted(m.action_id for m in run.measured) == sorted(a.action_id for a in done)
    assert run.skipped == ()
    for action in done:
        kept = stored_effect(action)
        measured = next(m for m in run.measured if m.action_id == action.action_id)
        assert kept == measured  # the JSON kept with the action reads back the same
        assert action.measured_at is not None
    assert measure_completed_actions(project).measured == ()  # nothing left to measure


def test_the_installation_backlog_fix_shortened_waits(demo):
    project, truths, run = demo
    action = action_titled(project, "second installation contractor")
    assert action.completed_at.date() == truths.bottleneck.resolved_on
    effect = next(m for m in run.measured if m.action_id == action.action_id).effect
    assert (effect.touchpoint, effect.metric) == (truths.bottleneck.touchpoint, Metric.WAIT)
    assert effect.verdict is Verdict.IMPROVED and effect.significance.significant
    assert effect.change < -0.5 * 86_400  # at least half a day shorter, on average
    assert effect.comparison.touchpoints == ("technician_visit",)  # the other field visits
    assert effect.comparison.difference_in_differences < 0
    assert effect.comparison.significance.significant


def test_the_outage_fix_brought_app_login_failures_back_to_baseline(demo):
    project, truths, run = demo
    action = action_titled(project, "Renew the session-signing certificate")
    effect = next(m for m in run.measured if m.action_id == action.action_id).effect
    assert (effect.touchpoint, effect.metric) == ("app_login", Metric.FAILURE_RATE)
    assert effect.verdict is Verdict.IMPROVED and effect.significance.significant
    assert effect.after.value == pytest.approx(truths.exception.baseline_rate, abs=0.01)
    assert effect.comparison.basis is Control.SAME_CHANNEL
    assert effect.comparison.difference_in_differences < -0.05
    assert effect.comparison.significance.significant


def test_an_alarm_becomes_an_incident_whose_fix_is_measured(demo):
    project, truths, _run = demo
    report = detect_exceptions(project.table("events"), metrics=[Metric.FAILURE_RATE],
                               touchpoints=[truths.exception.touchpoint])
    alarm = report.alarms[0]
    assert alarm.day == truths.exception.start
    incident = inc.open_from_alarm(project, alarm)
    why = inc.add_why(project, incident.incident_id, "The login service rejects sessions.",
                      touchpoint=alarm.touchpoint, department_id=incident.department_id,
                      is_root_cause=True)
    action = inc.add_action(
        project, incident.incident_id, "Restart the login service", kind="corrective",
        owner_department_id="D-DIG", due=truths.exception.end, why_id=why.why_id,
        status="done", completed_at=dt.datetime.combine(truths.exception.end, dt.time())
        + dt.timedelta(days=1))
    effect = measure_action_effect(project, action.action_id)
    assert effect.effect.verdict is Verdict.IMPROVED
    assert effect.incident_id == incident.incident_id


def test_actions_that_cannot_be_measured_say_why(demo):
    project, _truths, _run = demo
    open_action = action_titled(project, "Stagger lunch breaks")
    with pytest.raises(InputError, match=f"Action {open_action.action_id} is not done"
                                         " \\(status open\\); its effect is measured"):
        measure_action_effect(project, open_action.action_id)
    late = inc.open_incident(project, "Late fix")
    action = inc.add_action(project, late.incident_id, "Something", kind="corrective",
                            owner_department_id="D-DIG", due="2025-12-30", status="done",
                            completed_at="2025-12-20 09:00")
    with pytest.raises(InputError, match=f"Incident {late.incident_id} names no touchpoint"):
        measure_action_effect(project, action.action_id)
    with pytest.raises(AnalysisError, match="The events end on 2025-12-31, before the 28-day"
                                            " window after 2025-12-20 09:00 is complete"):
        measure_action_effect(project, action.action_id, touchpoint="app_login")
