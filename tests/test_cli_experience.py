"""`corridor experience`, `corridor risk` and `corridor personas` on a generated company,
as a user runs them."""

import json

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("experience") / "company.duckdb",
                       DemoConfig(customers=3000, seed=7))
    return built.project


def test_experience_json_scores_every_metric_and_finds_failed_contacts_hurt(project):
    done = run_cli("experience", project, "--by", "segment", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {s["metric"] for s in data["scores"]} == {"nps", "csat", "ces"}
    nps = next(d for d in data["drivers"] if d["outcome"].startswith("nps"))
    failed = next(d for d in nps["drivers"] if d["feature"] == "failed_contacts")
    assert failed["effect"] < 0 and failed["ci_high"] < 0


def test_risk_json_reports_the_holdout_and_a_ranked_queue(project):
    done = run_cli("risk", project, "--queue", "10", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["model"]["holdout"]["auc"] > 0.5
    items = data["queue"]["items"]
    assert len(items) == 10
    priorities = [item["priority"] for item in items]
    assert priorities == sorted(priorities, reverse=True)
    assert all(item["reasons"] and item["action"]["action"] for item in items)


def test_the_risk_queue_exports_as_csv_with_names_only_when_asked(project, tmp_path):
    import csv

    plain = tmp_path / "queue.csv"
    done = run_cli("risk", project, "--queue", "5", "--csv", plain)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(plain.open(encoding="utf-8-sig")))
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["customer_id"].startswith("cu_") and r["name"] == "" for r in rows)
    named = tmp_path / "named.csv"
    done = run_cli("risk", project, "--queue", "5", "--csv", named, "--names", "--json")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(named.open(encoding="utf-8-sig")))
    shown = json.loads(done.stdout)["queue"]["items"]
    assert all(r["name"] for r in rows)  # every person in the demo has a name
    assert [r["name"] for r in rows] == [i["name"] for i in shown]
    assert [r["customer_id"] for r in rows] == [i["customer_id"] for i in shown]
    refused = run_cli("risk", project, "--queue", "5", "--csv", tmp_path / "no" / "such" / "q.csv")
    assert refused.returncode == 2 and "could not be written" in refused.stderr


def test_an_unknown_risk_target_is_one_sentence(project):
    done = run_cli("risk", project, "--target", "happiness")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0


def test_personas_json_has_cards_and_an_empathy_map_for_each(project):
    done = run_cli("personas", project, "--k-max", "6", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    cards = data["personas"]["personas"]
    assert len(cards) == data["personas"]["k"] >= 2
    assert sum(card["customers"] for card in cards) == data["personas"]["customers"]
    assert len(data["empathy"]["maps"]) == len(cards)


def test_a_driver_against_its_expected_sign_or_uncertain_is_flagged_in_the_cli(project):
    data = json.loads(run_cli("experience", project, "--json").stdout)
    text = run_cli("experience", project)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    seen = 0
    for group in [*data["drivers"], *([data["churn"]] if data["churn"] else [])]:
        start = lines.index(f"  drivers of {group['outcome']}:")
        for d, line in zip(group["drivers"][:3], lines[start + 1:start + 4]):
            assert line.strip().startswith(f"{d['rank']}. {d['feature']} ")
            assert d["assessment"] in ("as_expected", "contradicts_expectation",
                                       "uncertain", "no_expectation")
            assert d["flagged"] == (d["assessment"] in ("contradicts_expectation", "uncertain"))
            assert ("FLAGGED" in line) == d["flagged"]
            if d["assessment"] == "contradicts_expectation":
                assert "against expectation" in line
            if d["assessment"] == "uncertain":
                assert "the interval" in line
            if d["assessment"] == "as_expected":
                assert line.endswith("as expected")
            seen += d["flagged"]
    assert seen  # the demo has drivers it cannot vouch for
