"""The customer-focus maturity assessment: placement rules on constructed inputs (known
truth), the indicators measured on small hand-made data and on the demo project, and the
history kept."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from corridor import maturity
from corridor.accounts import add_user
from corridor.errors import InputError
from corridor.maturity import Indicator, Measures, Stage
from corridor.store import Project

ALL_FIVES = {s: 5 for s in maturity.STATEMENTS}
ALL_TWOS = {s: 2 for s in maturity.STATEMENTS}
STRONG = Measures(flow=0.9, accessibility=0.95, satisfaction_trend=2, incident_learning=0.7,
                  course_completion=0.8)
MIDDLING = Measures(flow=0.7, accessibility=0.75, satisfaction_trend=0, incident_learning=0.3,
                    course_completion=0.3)
WEAK = Measures(flow=0.4, accessibility=0.6, satisfaction_trend=-2, incident_learning=0.0,
                course_completion=0.0)


def test_every_indicator_strong_is_a_customer_service_centre():
    result = maturity.assess(STRONG, ALL_FIVES)
    assert result.stage is Stage.SERVICE_CENTRE
    assert result.score == 100.0
    assert all(e.supports is Stage.SERVICE_CENTRE for e in result.evidence)
    assert result.next_steps == ()


def test_middling_indicators_keep_a_professional_level():
    result = maturity.assess(MIDDLING, {s: 3 for s in maturity.STATEMENTS})
    assert result.stage is Stage.PROFESSIONAL
    assert {e.supports for e in result.evidence} == {Stage.PROFESSIONAL}
    assert result.next_steps[0] == maturity.NextStep(Stage.SERVICE_CENTRE, None)
    assert {s.indicator for s in result.next_steps[1:]} == set(Indicator)


def test_weak_indicators_are_still_developing_service_quality():
    result = maturity.assess(WEAK, ALL_TWOS)
    assert result.stage is Stage.DEVELOPING
    assert result.next_steps[0].stage is Stage.PROFESSIONAL


def test_one_lagging_indicator_does_not_hold_the_company_back_but_two_do():
    one = maturity.assess(Measures(0.9, 0.95, 2, 0.7, 0.0), ALL_FIVES)
    assert one.stage is Stage.SERVICE_CENTRE
    assert one.of(Indicator.COURSE_COMPLETION).supports is Stage.DEVELOPING
    two = maturity.assess(Measures(0.9, 0.95, 2, 0.0, 0.0), ALL_FIVES)
    assert two.stage is Stage.DEVELOPING  # two lag behind stage 2 as well
    mixed = maturity.assess(Measures(0.9, 0.95, 2, 0.3, 0.3), ALL_FIVES)
    assert mixed.stage is Stage.PROFESSIONAL


def test_indicators_without_data_are_left_out_and_one_alone_places_nothing():
    lone = maturity.assess(Measures(0.95, None, None, None, None))
    assert lone.stage is Stage.DEVELOPING  # one strong figure does not carry a company
    assert lone.of(Indicator.ACCESSIBILITY).supports is None
    assert lone.of(Indicator.QUESTIONNAIRE).value is None
    pair = maturity.assess(Measures(0.95, 0.95, None, None, None))
    assert pair.stage is Stage.SERVICE_CENTRE
    assert maturity.assess(Measures(None, None, None, None, None)).score == 0.0


def test_thresholds_are_inclusive_and_the_score_interpolates():
    flow = maturity.THRESHOLDS[Indicator.FLOW]
    assert flow.supports(0.60) is Stage.PROFESSIONAL and flow.supports(0.5999) is Stage.DEVELOPING
    assert flow.supports(0.80) is Stage.SERVICE_CENTRE
    assert flow.position(0.30) == pytest.approx(0.5)
    assert flow.position(0.70) == pytest.approx(1.5)
    result = maturity.assess(Measures(0.30, 0.70, None, None, None))
    assert result.score == pytest.approx(50 * (0.5 + 1.0) / 2, abs=0.05)


def test_ratings_must_cover_every_statement_from_one_to_five():
    with pytest.raises(InputError, match="Rate every statement"):
        maturity.assess(STRONG, {"standards": 5})
    with pytest.raises(InputError, match="1 to 5; got 6"):
        maturity.assess(STRONG, {**ALL_FIVES, "vision": 6})
    with pytest.raises(InputError, match="no statement 'extra'"):
        maturity.assess(STRONG, {**ALL_FIVES, "extra": 3})
    assert maturity.assess(STRONG, {s: "4" for s in maturity.STATEMENTS}).ratings["vision"] == 4


def events_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["case_id", "touchpoint", "outcome", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["customer_id"] = frame["case_id"]
    return frame


def test_journey_flow_counts_goal_reaching_or_clean_journeys(duck):
    events = duck(events_frame([
        ("c1", "visit", "ok", "2024-01-01"), ("c1", "buy", "ok", "2024-01-02"),
        ("c2", "visit", "failed", "2024-01-01"), ("c2", "buy", "ok", "2024-01-03"),
        ("c3", "visit", "ok", "2024-01-01"), ("c3", "call", "abandoned", "2024-01-02"),
        ("c4", "visit", None, "2024-01-01"),
    ]))
    assert maturity.journey_flow(events, ("buy",)) == pytest.approx(2 / 4)
    assert maturity.journey_flow(events) == pytest.approx(2 / 4)  # c1 and c4 are clean


def test_incident_learning_needs_a_root_cause_and_a_measured_action(tmp_path):
    from corridor.incidents import (add_action, add_why, list_incidents, open_incident,
                                    record_measured_effect)

    with Project.create(tmp_path / "p.duckdb") as p:
        p.con.execute("INSERT INTO departments (department_id) VALUES ('D')")
        assert maturity.incident_learning(list_incidents(p)) is None
        learned = open_incident(p, "Learned").incident_id
        why = add_why(p, learned, "Because", is_root_cause=True)
        action = add_action(p, learned, "Fix it", kind="preventive", owner_department_id="D",
                            due="2024-02-01", why_id=why.why_id, status="done",
                            completed_at="2024-02-01T00:00:00")
        record_measured_effect(p, action.action_id, {"verdict": "improved"})
        rooted = open_incident(p, "Rooted only").incident_id
        add_why(p, rooted, "Because", is_root_cause=True)
        open_incident(p, "Nothing yet")
        assert maturity.incident_learning(list_incidents(p)) == pytest.approx(1 / 3)


def test_assessments_are_kept_and_the_history_shows_change(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        assert maturity.history(p) == () and maturity.latest(p) is None
        with pytest.raises(InputError, match="questionnaire"):
            maturity.record(p, maturity.assess(WEAK), "max")
        first = maturity.record(p, maturity.assess(WEAK, ALL_TWOS), "max")
        second = maturity.record(p, maturity.assess(STRONG, ALL_FIVES), "ada")
        entries = maturity.history(p)
        assert [e.assessment_id for e in entries] == [second, first]
        assert [e.stage for e in entries] == [Stage.SERVICE_CENTRE, Stage.DEVELOPING]
        assert [e.assessed_by for e in entries] == ["ada", "max"]
        latest = maturity.latest(p)
        assert latest == maturity.assess(STRONG, ALL_FIVES)


def test_the_demo_company_is_measured_and_placed(web_demo, tmp_path):
    from corridor.course import load_course
    from test_academy import write_course

    project = tmp_path / "demo.duckdb"
    shutil.copy(web_demo, project)
    course = load_course(write_course(tmp_path / "course"))
    with Project.open(project) as p:
        add_user(p, "learner", "staff", password="long password 1", actor="test")
    with Project.open(project, read_only=True) as p:
        measures = maturity.measure(p, course)
    # the demo plants a goal, failed contacts, feedback and incidents with measured actions
    assert 0.3 < measures.flow < 1.0
    assert 0.3 < measures.accessibility < 1.0
    assert measures.satisfaction_trend in (-3, -2, -1, 0, 1, 2, 3)
    assert 0.0 < measures.incident_learning <= 1.0
    assert measures.course_completion == 0.0  # nobody has taken the course yet
    result = maturity.assess(measures, {s: 3 for s in maturity.STATEMENTS})
    assert result.stage in set(Stage)
    assert result.of(Indicator.COURSE_COMPLETION).supports is Stage.DEVELOPING
    assert 0 < result.score < 100
    print("demo measures:", measures, "stage:", result.stage, "score:", result.score)
