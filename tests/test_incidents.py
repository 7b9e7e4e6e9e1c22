"""Incidents, their 5 Whys and their actions: created, read and changed through the
library, checked before anything is written, and written all or nothing."""

import datetime as dt
import shutil

import pytest

from corridor import incidents as inc
from corridor.errors import InputError, ProjectError
from corridor.exceptions import Alarm, Direction, Metric
from corridor.incidents import ActionKind, ActionStatus, IncidentStatus
from corridor.store import Project
from corridor.demo import DemoConfig, generate

OPENED = dt.datetime(2025, 8, 18, 10, 0)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small project made once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("template") / "p.corridor"
    with Project.create(path) as p:
        p.con.executemany(
            "INSERT INTO departments (department_id, name) VALUES (?, ?)",
            [("D-DIG", "Digital"), ("D-CC", "Customer Care"), ("D-FLD", "Field")],
        )
        p.con.executemany(
            "INSERT INTO touchpoints (touchpoint, stage, channel, department_id) VALUES (?, ?, ?, ?)",
            [("app_login", "use", "app", "D-DIG"), ("support_hotline", "support", "phone", "D-CC"),
             ("installation_visit", "use", "field", "D-FLD")],
        )
        p.con.execute("CHECKPOINT")
    return path


@pytest.fixture
def project(template, tmp_path):
    path = tmp_path / "p.corridor"
    shutil.copyfile(template, path)
    with Project.open(path) as p:
        yield p


def outage(project):
    return inc.open_incident(project, "App logins failing", touchpoint="app_login",
                             department_id="D-DIG", opened_at=OPENED)


def test_an_incident_opened_by_hand_reads_back_typed(project):
    made = inc.open_incident(project, "  App logins failing ", touchpoint="app_login",
                             department_id="D-DIG", description="Half fail.", opened_at=OPENED)
    assert made.incident_id == 1
    got = inc.get_incident(project, 1)
    assert got == made
    assert (got.title, got.status, got.source, got.opened_at) == (
        "App logins failing", IncidentStatus.OPEN, "manual", OPENED)
    assert got.whys == () and got.actions == ()
    assert inc.open_incident(project, "Second").incident_id == 2  # max + 1


def test_an_alarm_opens_an_incident_for_its_touchpoint_and_department(project):
    alarm = Alarm("app_login", Metric.FAILURE_RATE, dt.date(2025, 8, 18), 0.54, 0.021, 206,
                  24.2, 16.6, Direction.UP, True)
    incident = inc.open_from_alarm(project, alarm, opened_at=OPENED)
    assert incident.title == "Failure rate of app_login up on 2025-08-18"
    assert (incident.touchpoint, incident.department_id) == ("app_login", "D-DIG")
    assert incident.source == "exception detection"
    assert incident.description == alarm.describe()
    assert "54.0% against 2.1% expected" in incident.description
    with pytest.raises(InputError, match="open_from_alarm needs an Alarm"):
        inc.open_from_alarm(project, {"touchpoint": "app_login"})


def test_whys_form_an_ordered_chain_down_to_a_root_cause(project):
    incident = outage(project)
    parent = None
    for i, text in enumerate(["Logins fail.", "Sessions are rejected.", "A certificate expired.",
                              "The reminder went to a leaver.", "Expiry is not monitored."]):
        why = inc.add_why(project, incident.incident_id, text, parent_id=parent,
                          department_id="D-DIG", is_root_cause=i == 4,
                          touchpoint="app_login" if i < 2 else None)
        assert why.position == i + 1
        parent = why.why_id
    got = inc.get_incident(project, incident.incident_id)
    assert len(got.whys) == 1  # one chain
    chain = got.chain_to(parent)
    assert [w.position for w in chain] == [1, 2, 3, 4, 5]
    assert [w.parent_id for w in chain] == [None, 1, 2, 3, 4]
    assert [w.statement for w in got.root_causes] == ["Expiry is not monitored."]
    assert chain[0].touchpoint == "app_login" and chain[-1].touchpoint is None


def test_whys_can_branch_into_a_tree(project):
    incident = outage(project)
    top = inc.add_why(project, incident.incident_id, "Logins fail.")
    a = inc.add_why(project, incident.incident_id, "A certificate expired.", parent_id=top.why_id)
    b = inc.add_why(project, incident.incident_id, "Nobody noticed for hours.", parent_id=top.why_id)
    inc.add_why(project, incident.incident_id, "No alert on login failures.", parent_id=b.why_id,
                is_root_cause=True)
    got = inc.get_incident(project, incident.incident_id)
    (root,) = got.whys
    assert [c.why_id for c in root.causes] == [a.why_id, b.why_id]
    assert [w.statement for w in got.all_whys()] == [
        "Logins fail.", "A certificate expired.", "Nobody noticed for hours.",
        "No alert on login failures."]
    moved = inc.update_why(project, b.why_id, parent_id=a.why_id)
    assert moved.parent_id == a.why_id
    assert [c.why_id for c in inc.get_incident(project, 1).whys[0].causes] == [a.why_id]


def test_a_why_cannot_loop_or_cross_into_another_incident(project):
    first, second = outage(project), inc.open_incident(project, "Hotline unreachable")
    top = inc.add_why(project, first.incident_id, "Logins fail.")
    below = inc.add_why(project, first.incident_id, "Sessions rejected.", parent_id=top.why_id)
    other = inc.add_why(project, second.incident_id, "Calls dropped.")
    with pytest.raises(InputError, match=(
            f"Why {other.why_id} belongs to incident 2, not incident 1; a why can only explain"
            " a why of its own incident.")):
        inc.add_why(project, first.incident_id, "Because.", parent_id=other.why_id)
    with pytest.raises(InputError, match=(
            f"Why {top.why_id} cannot explain why {below.why_id}: why {below.why_id} already"
            f" follows from why {top.why_id}, so the chain would loop.")):
        inc.update_why(project, top.why_id, parent_id=below.why_id)
    with pytest.raises(InputError, match=f"Why {top.why_id} cannot explain itself."):
        inc.update_why(project, top.why_id, parent_id=top.why_id)
    with pytest.raises(InputError, match="There is no why 99 in this project."):
        inc.add_why(project, first.incident_id, "Because.", parent_id=99)
    assert inc.get_incident(project, 1).chain_to(below.why_id)[0].why_id == top.why_id


def test_actions_have_an_owner_a_due_date_and_a_status(project):
    incident = outage(project)
    why = inc.add_why(project, incident.incident_id, "Expiry not monitored.", is_root_cause=True)
    action = inc.add_action(project, incident.incident_id, "Automate certificate renewal",
                            kind="preventive", owner_department_id="D-DIG", due="2025-09-30",
                            why_id=why.why_id, effect="no expired certificates")
    assert (action.kind, action.status, action.due, action.completed_at) == (
        ActionKind.PREVENTIVE, ActionStatus.OPEN, dt.date(2025, 9, 30), None)
    started = inc.update_action(project, action.action_id, status="in_progress")
    assert started.status is ActionStatus.IN_PROGRESS and started.completed_at is None
    done = inc.complete_action(project, action.action_id, at=dt.datetime(2025, 9, 8, 9, 0))
    assert done.status is ActionStatus.DONE
    assert done.completed_at == dt.datetime(2025, 9, 8, 9, 0)
    assert inc.get_incident(project, 1).actions == (done,)


def test_a_measured_effect_is_kept_until_the_completion_changes(project):
    incident = outage(project)
    action = inc.add_action(project, incident.incident_id, "Renew the certificate",
                            kind=ActionKind.CORRECTIVE, owner_department_id="D-DIG",
                            due=dt.date(2025, 8, 22), status="done",
                            completed_at=dt.datetime(2025, 8, 22))
    kept = inc.record_measured_effect(project, action.action_id, {"change": -0.1},
                                      measured_at=dt.datetime(2025, 10, 1))
    assert kept.measured_effect == {"change": -0.1}
    assert kept.measured_at == dt.datetime(2025, 10, 1)
    retitled = inc.update_action(project, action.action_id, title="Renew the session certificate")
    assert retitled.measured_effect == {"change": -0.1}  # the completion did not change
    moved = inc.update_action(project, action.action_id, completed_at="2025-08-23 06:00")
    assert moved.completed_at == dt.datetime(2025, 8, 23, 6, 0)
    assert moved.measured_effect is None and moved.measured_at is None
    reopened = inc.update_action(project, action.action_id, status="open")
    assert reopened.completed_at is None
    with pytest.raises(InputError, match="Action 1 is not done \\(status open\\); only a completed"):
        inc.record_measured_effect(project, action.action_id, {"change": 0})


@pytest.mark.parametrize("call, message", [
    (lambda p: inc.get_incident(p, 7), "There is no incident 7 in this project."),
    (lambda p: inc.add_why(p, 7, "Because."), "There is no incident 7 in this project."),
    (lambda p: inc.get_incident(p, "1"), "The incident id must be a whole number; got '1'."),
    (lambda p: inc.open_incident(p, " "), "An incident's title must be non-empty text"),
    (lambda p: inc.open_incident(p, "X", status="solved"),
     "Incident status must be one of open, investigating, closed; got 'solved'."),
    (lambda p: inc.open_incident(p, "X", touchpoint="teleport"),
     "Touchpoint 'teleport' is not in this project"),
    (lambda p: inc.open_incident(p, "X", department_id="D-XYZ"),
     "Department 'D-XYZ' is not in this project's departments."),
    (lambda p: inc.open_incident(p, "X", opened_at="yesterday"),
     "opened_at must be a date and time \\(YYYY-MM-DD HH:MM\\); got 'yesterday'."),
    (lambda p: inc.add_action(p, 1, "Fix", kind="corrective", owner_department_id="D-DIG",
                              due="next week"),
     "The due date must be a date \\(YYYY-MM-DD\\); got 'next week'."),
    (lambda p: inc.add_action(p, 1, "Fix", kind="corrective", owner_department_id="D-DIG",
                              due=dt.datetime(2025, 9, 1, 12)),
     "The due date must be a date without a time"),
    (lambda p: inc.add_action(p, 1, "Fix", kind="corrective", owner_department_id="D-DIG",
                              due="2025-09-01", status="finished"),
     "Action status must be one of open, in_progress, done; got 'finished'."),
    (lambda p: inc.add_action(p, 1, "Fix", kind="curative", owner_department_id="D-DIG",
                              due="2025-09-01"),
     "Action kind must be one of corrective, preventive; got 'curative'."),
    (lambda p: inc.add_action(p, 1, "Fix", kind="corrective", owner_department_id="D-DIG",
                              due="2025-09-01", completed_at="2025-08-30 10:00"),
     "Only a done action has a completion time; this one's status is open."),
    (lambda p: inc.update_action(p, 42, status="done"), "There is no action 42 in this project."),
    (lambda p: inc.add_why(p, 1, "Because.", is_root_cause="yes"),
     "is_root_cause must be True or False; got 'yes'."),
])
def test_bad_arguments_are_refused_in_one_sentence(project, call, message):
    outage(project)
    with pytest.raises(InputError, match=message):
        call(project)
    assert project.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1


LONG = "x" * 1_000_000


@pytest.mark.parametrize("call, message", [
    (lambda p: inc.open_incident(p, LONG),
     "An incident's title may have at most 2,000 characters; this one has 1,000,000."),
    (lambda p: inc.open_incident(p, "X", description=LONG),
     "The description may have at most 2,000 characters"),
    (lambda p: inc.open_incident(p, "X", touchpoint="t" * 201),
     "The touchpoint may have at most 200 characters; this one has 201."),
    (lambda p: inc.update_incident(p, 1, title=LONG), "An incident's title may have at most"),
    (lambda p: inc.add_why(p, 1, LONG), "A why's statement may have at most 2,000"),
    (lambda p: inc.update_why(p, 1, statement=LONG), "A why's statement may have at most"),
    (lambda p: inc.add_action(p, 1, LONG, kind="corrective", owner_department_id="D-DIG",
                              due="2025-09-01"), "An action's title may have at most 2,000"),
    (lambda p: inc.add_action(p, 1, "Fix", kind="corrective", owner_department_id="D-DIG",
                              due="2025-09-01", effect=LONG),
     "The effect may have at most 2,000 characters"),
    (lambda p: inc.update_action(p, 1, effect=LONG), "The effect may have at most"),
])
def test_text_longer_than_the_shared_limit_is_refused_and_nothing_is_kept(project, call,
                                                                          message):
    incident = outage(project)
    why = inc.add_why(project, incident.incident_id, "Certificate expired.")
    inc.add_action(project, incident.incident_id, "Renew it", kind="corrective",
                   owner_department_id="D-DIG", due="2025-09-01", why_id=why.why_id)
    before = inc.get_incident(project, incident.incident_id)
    with pytest.raises(InputError, match=message) as refused:
        call(project)
    assert len(str(refused.value)) < 200  # one sentence, not the text sent back
    assert inc.list_incidents(project) == (before,)


def test_text_at_the_limit_is_kept_whole(project):
    incident = inc.open_incident(project, "t" * inc.MAX_TEXT, description="d" * inc.MAX_TEXT)
    assert len(inc.get_incident(project, incident.incident_id).title) == 2000 == inc.MAX_TEXT


def test_an_action_cannot_answer_another_incidents_why(project):
    first, second = outage(project), inc.open_incident(project, "Hotline unreachable")
    why = inc.add_why(project, second.incident_id, "Calls dropped.")
    with pytest.raises(InputError, match=(
            f"Why {why.why_id} belongs to incident 2, not incident 1; an action can only answer"
            " a why of its own incident.")):
        inc.add_action(project, first.incident_id, "Fix", kind="corrective",
                       owner_department_id="D-DIG", due="2025-09-01", why_id=why.why_id)
    assert project.con.execute("SELECT count(*) FROM actions").fetchone()[0] == 0


def test_a_write_that_fails_midway_leaves_nothing_behind(project, monkeypatch):
    incident = outage(project)
    real_update = inc._update

    def update_then_fail(con, *args):
        real_update(con, *args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(inc, "_update", update_then_fail)
    with pytest.raises(RuntimeError):
        inc.update_incident(project, incident.incident_id, title="Renamed", status="closed")
    monkeypatch.undo()
    again = inc.get_incident(project, incident.incident_id)
    assert (again.title, again.status) == ("App logins failing", IncidentStatus.OPEN)
    assert inc.update_incident(project, 1, status="closed").status is IncidentStatus.CLOSED


def test_a_why_with_causes_or_actions_is_not_deleted(project):
    incident = outage(project)
    top = inc.add_why(project, incident.incident_id, "Logins fail.")
    below = inc.add_why(project, incident.incident_id, "Expired.", parent_id=top.why_id)
    inc.add_action(project, 1, "Renew", kind="corrective", owner_department_id="D-DIG",
                   due="2025-08-22", why_id=below.why_id)
    with pytest.raises(InputError, match=f"Why {top.why_id} is explained by 1 other why"):
        inc.delete_why(project, top.why_id)
    with pytest.raises(InputError, match=f"Why {below.why_id} is answered by 1 action"):
        inc.delete_why(project, below.why_id)
    inc.update_action(project, 1, why_id=None)
    inc.delete_why(project, below.why_id)
    assert [w.why_id for w in inc.get_incident(project, 1).all_whys()] == [top.why_id]
    assert inc.add_why(project, 1, "Again.").why_id == top.why_id + 1  # max + 1


def test_incidents_are_listed_by_status(project):
    outage(project)
    inc.open_incident(project, "Hotline unreachable", touchpoint="support_hotline",
                      opened_at=OPENED + dt.timedelta(days=1), status="investigating")
    assert [i.incident_id for i in inc.list_incidents(project)] == [1, 2]
    assert [i.title for i in inc.list_incidents(project, status="investigating")] == [
        "Hotline unreachable"]
    assert inc.list_incidents(project, status=IncidentStatus.CLOSED) == ()


def test_a_read_only_project_refuses_changes(project, tmp_path):
    outage(project)
    path = project.path
    project.close()
    with Project.open(path, read_only=True) as ro:
        assert inc.get_incident(ro, 1).title == "App logins failing"
        with pytest.raises(ProjectError, match="is open read-only"):
            inc.open_incident(ro, "Another")


def store_demo_incidents(project, planted_incidents):
    """The demo's incidents written through the library: each why answers the one before."""
    for planted in planted_incidents:
        incident = inc.open_incident(
            project, planted.title, touchpoint=planted.touchpoint,
            department_id=planted.department_id, description=planted.description,
            source=planted.source, opened_at=planted.opened_at, status=planted.status)
        ids, parent = {}, None
        for why in sorted(planted.whys, key=lambda w: w.position):
            parent = inc.add_why(project, incident.incident_id, why.statement, parent_id=parent,
                                 touchpoint=why.touchpoint, department_id=why.department_id,
                                 is_root_cause=why.is_root_cause).why_id
            ids[why.position] = parent
        for action in planted.actions:
            inc.add_action(project, incident.incident_id, action.title, kind=action.kind,
                           owner_department_id=action.owner_department_id, due=action.due,
                           why_id=ids[action.why_position], status=action.status,
                           completed_at=action.completed_at, effect=action.effect)


def test_the_demo_incidents_are_stored_as_chains_with_their_actions(tmp_path):
    files = generate(tmp_path / "demo", DemoConfig(customers=50, seed=7))
    with Project.create(tmp_path / "demo.corridor") as project:
        project.con.execute(
            "INSERT INTO departments BY NAME SELECT department_id, name"
            f" FROM read_csv('{files.departments}')")
        project.con.execute(
            "INSERT INTO touchpoints BY NAME SELECT touchpoint, stage, channel, department_id"
            f" FROM read_csv('{files.touchpoints}')")
        store_demo_incidents(project, files.incidents)
        stored = inc.list_incidents(project)
    assert [i.title for i in stored] == [i.title for i in sorted(
        files.incidents, key=lambda i: i.opened_at)]
    for incident in stored:
        (root_cause,) = incident.root_causes
        assert [w.position for w in incident.chain_to(root_cause.why_id)] == [1, 2, 3, 4, 5]
    done = [a for i in stored for a in i.actions if a.status is ActionStatus.DONE]
    assert len(done) == 3 and all(a.completed_at is not None for a in done)
    assert stored[0].to_dict()["whys"][0]["causes"][0]["position"] == 2
