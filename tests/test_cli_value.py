"""`corridor customers` and `corridor value` on a generated company, as a user runs them."""

import json

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("value") / "company.duckdb",
                       DemoConfig(customers=2000, seed=3))
    return built.project, built.truths


def test_customers_json_counts_the_planted_levels_and_intermediaries(project):
    path, truths = project
    done = run_cli("customers", path, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    levels = {x["level"]: x["customers"] for x in data["customers"]["levels"]}
    assert levels["person"] == truths.counts.persons
    assert levels["intermediary"] == truths.counts.intermediaries
    assert sum(x["end_customers"] for x in data["customers"]["intermediaries"]) == \
        data["customers"]["end_customers"]
    assert data["internal_customers"]["links"]


def test_value_json_has_every_documented_part_and_a_holdout(project):
    path, truths = project
    done = run_cli("value", path, "--until", "2025-09-30", "--goal", truths.corridor.goal,
                   "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"lifetime_value", "rfm", "profitability", "targets", "tiers",
                         "underwater", "services", "revenue_at_risk", "not_computed", "until", "currency"}
    assert data["not_computed"] == [] and data["until"] == "2025-09-30"
    assert all(data[part] is not None for part in data)
    life = data["lifetime_value"]
    assert life["holdout"]["predicted_purchases"] > 0
    assert life["purchases"]["converged"]
    assert data["revenue_at_risk"]["switching_probability"] == pytest.approx(1 / 3)


def test_value_defaults_to_the_last_quarter_as_holdout_and_none_turns_it_off(project):
    path, _ = project
    default = json.loads(run_cli("value", path, "--json").stdout)
    assert default["until"] is not None and default["lifetime_value"]["holdout"] is not None
    whole = json.loads(run_cli("value", path, "--until", "none", "--json").stdout)
    assert whole["until"] is None and whole["lifetime_value"]["holdout"] is None


def test_value_refuses_a_time_as_cut_off_in_one_sentence(project):
    path, _ = project
    done = run_cli("value", path, "--until", "2025-09-30T10:00")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "must be a day" in done.stderr
