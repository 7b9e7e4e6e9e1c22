"""`corridor exceptions` and `corridor incidents ...` on a generated company, as a user
runs them: the planted exception is found, and an incident is written, read and measured."""

import json

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("reaction") / "company.duckdb",
                       DemoConfig(customers=2000, seed=5))
    return built.project, built.truths


def test_exceptions_json_alarms_on_the_planted_day(project):
    path, truths = project
    planted = truths.exception
    done = run_cli("exceptions", path, "--touchpoint", planted.touchpoint, "--json")
    assert done.returncode == 0, done.stderr
    days = {a["day"] for a in json.loads(done.stdout)["alarms"]}
    assert planted.start.isoformat() in days


def test_an_alarm_opens_an_incident_that_describes_it(project):
    path, truths = project
    planted = truths.exception
    done = run_cli("incidents", "from-alarm", path, "--touchpoint", planted.touchpoint,
                   "--day", planted.start.isoformat(), "--metric", "failure_rate", "--json")
    assert done.returncode == 0, done.stderr
    incident = json.loads(done.stdout)
    assert incident["touchpoint"] == planted.touchpoint
    assert planted.start.isoformat() in incident["description"]
    missing = run_cli("incidents", "from-alarm", path, "--touchpoint", planted.touchpoint,
                      "--day", "2025-01-06")
    assert missing.returncode == 2 and "no alarm" in missing.stderr


def test_an_incident_is_opened_questioned_and_acted_on_from_the_command_line(project):
    path, _ = project
    opened = run_cli("incidents", "open", path, "--title", "Bills sent twice",
                     "--touchpoint", "first_bill", "--json")
    assert opened.returncode == 0, opened.stderr
    number = json.loads(opened.stdout)["incident_id"]
    first = run_cli("incidents", "why", path, number, "--statement", "The job ran twice",
                    "--json")
    why_id = json.loads(first.stdout)["whys"][0]["why_id"]
    run_cli("incidents", "why", path, number, "--statement", "No lock on the job",
            "--parent", why_id, "--root-cause")
    acted = run_cli("incidents", "action", path, number, "--title", "Add a lock",
                    "--kind", "corrective", "--owner", "D-BIL", "--due", "2025-12-01",
                    "--json")
    assert acted.returncode == 0, acted.stderr
    shown = json.loads(run_cli("incidents", "show", path, number, "--json").stdout)
    assert shown["whys"][0]["causes"][0]["is_root_cause"] is True
    action_id = shown["actions"][0]["action_id"]
    assert shown["actions"][0]["owner_department_id"] == "D-BIL"
    run_cli("incidents", "update-action", path, action_id, "--status", "in_progress")
    run_cli("incidents", "update-why", path, why_id, "--statement", "The job ran twice on the 1st")
    edited = run_cli("incidents", "update", path, number, "--status", "investigating", "--json")
    assert edited.returncode == 0, edited.stderr
    incident = json.loads(edited.stdout)
    assert incident["status"] == "investigating"
    assert incident["actions"][0]["status"] == "in_progress"
    assert incident["whys"][0]["statement"] == "The job ran twice on the 1st"


def test_every_edit_from_the_command_line_is_audited(project):
    from corridor.audit import latest
    from corridor.store import Project

    path, _ = project
    opened = run_cli("incidents", "open", path, "--title", "Audited edit", "--json")
    number = json.loads(opened.stdout)["incident_id"]
    run_cli("incidents", "update", path, number, "--status", "closed")
    with Project.open(path, read_only=True) as p:
        entries = [e for e in latest(p, 50) if e.target == f"incident {number}"]
    assert [e.action for e in entries] == ["incident.update", "incident.open"]
    assert all(e.actor.startswith("cli:") for e in entries)
    assert entries[0].detail == {"fields": ["status"]}


def test_done_actions_of_the_demo_get_a_measured_effect(project):
    path, _ = project
    done = run_cli("incidents", "measure", path, "--again", "--json")
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)["measured"]
    assert measured and all(m["verdict"] for m in measured)
    listed = json.loads(run_cli("incidents", "list", path, "--json").stdout)
    kept = [a for i in listed for a in i["actions"] if a["measured_effect"] is not None]
    assert len(kept) == len(measured)


def test_an_unknown_incident_is_one_sentence_and_exit_2(project):
    path, _ = project
    done = run_cli("incidents", "show", path, "999")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "999" in done.stderr
