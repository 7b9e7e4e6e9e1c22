"""The analytic commands through the real CLI, on the project file and on Spark over
Parquet in the canonical layout (nothing loaded into a project)."""

import json

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from corridor.store import Project

from helpers import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    built = build_demo(tmp / "company.duckdb", DemoConfig(customers=1500, seed=2))
    lake = tmp / "lake"
    lake.mkdir()
    with Project.open(built.project, read_only=True) as p:
        for table in ("events", "customers", "touchpoints"):
            p.con.execute(f"COPY {table} TO '{lake / table}.parquet' (FORMAT PARQUET)")
    return built, lake


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def test_journeys_json_has_the_documented_shape_and_the_planted_corridor(demo):
    built, _ = demo
    goal = built.truths.corridor.goal
    data = _json(run_cli("journeys", built.project, "--goal", goal, "--json"))
    assert {"cases", "events", "variants", "dfg", "corridor"} <= set(data)
    assert {"path", "cases"} <= set(data["variants"][0])
    assert {"source", "target", "count", "cases", "median_seconds"} <= set(data["dfg"][0])
    assert data["corridor"]["basic"] == list(built.truths.corridor.basic)


def test_journeys_on_spark_over_parquet_gives_the_same_answer(demo):
    built, lake = demo
    goal = built.truths.corridor.goal
    local = _json(run_cli("journeys", built.project, "--goal", goal, "--top", "15", "--json"))
    spark = _json(run_cli("journeys", "--engine", "spark", "--events", lake / "events.parquet",
                          "--customers", lake / "customers.parquet", "--goal", goal, "--top", "15", "--json"))
    assert spark["cases"] == local["cases"] and spark["events"] == local["events"]
    assert spark["variants"] == local["variants"]
    local_edges = {(e["source"], e["target"]): e for e in local["dfg"]}
    spark_edges = {(e["source"], e["target"]): e for e in spark["dfg"]}
    assert spark_edges.keys() == local_edges.keys()
    for edge, want in local_edges.items():
        for field, value in want.items():
            assert spark_edges[edge][field] == (pytest.approx(value) if isinstance(value, float) else value)
    assert spark["corridor"]["basic"] == local["corridor"]["basic"]


def test_funnel_flow_and_access_commands_answer_in_json(demo):
    built, _ = demo
    steps = [s[0] for s in built.truths.corridor.steps if len(s) == 1][:4]
    funnel = _json(run_cli("funnel", built.project, *sum((["--step", s] for s in steps), []), "--json"))
    counts = [step["cases"] for step in funnel["steps"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    flow = _json(run_cli("flow", built.project, "--goal", built.truths.corridor.goal, "--json"))
    assert {"dropoffs", "loops", "bottlenecks", "handoffs"} <= set(flow)
    access = _json(run_cli("access", built.project, "--by", "channel", "--json"))
    assert any(g["channel"] == "phone" for g in access["groups"])


def test_flow_counts_drop_offs_over_purchase_journeys_only(demo):
    """A support case is not a failed purchase: the demo's model says which cases are
    purchases, and every person walks exactly one purchase journey."""
    built, _ = demo
    truths = built.truths
    flow = _json(run_cli("flow", built.project, "--json"))
    assert flow["journey"] == "purchase" and flow["goal"] == [truths.corridor.goal]
    assert flow["dropoffs"]["cases"] == truths.counts.persons
    assert flow["dropoffs"]["reached_goal"] == truths.measured.goal_journeys
    exits = {x["touchpoint"] for x in flow["dropoffs"]["exit_points"]}
    assert not exits & {"support_hotline", "billing_dispute", "web_chat", "app_support"}
    kinds = {j["journey"]: j for j in flow["journeys"]["journeys"]}
    assert kinds["purchase"]["conversion"] == pytest.approx(
        truths.measured.goal_journeys / truths.counts.persons)
    assert kinds["support"]["conversion"] is None and kinds["support"]["resolution"] > 0.9
    assert flow["journeys"]["unclassified_cases"] == 0
    support = _json(run_cli("flow", built.project, "--journey", "support", "--json"))
    assert support["dropoffs"] is None and support["covers"]["journey"] == "support"
    assert support["covers"]["filters"] == "all events" and support["covers"]["first"] < support["covers"]["last"]
    proc = run_cli("flow", built.project, "--journey", "sales")
    assert proc.returncode == 2 and "purchase, support" in proc.stderr


def test_bad_analytic_arguments_are_one_sentence(demo):
    built, _ = demo
    proc = run_cli("journeys", built.project, "--from", "last tuesday")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--from" in proc.stderr
    proc = run_cli("journeys", "--engine", "spark")
    assert proc.returncode == 2 and "--events" in proc.stderr


def test_revenue_at_risk_follows_the_model_and_splits_by_journey_type(demo):
    """A routine installation visit (days of waiting by design) is not a bad experience:
    the demo's model gives it its own wait limit; the journey breakdown adds up."""
    built, _ = demo
    risk = _json(run_cli("value", built.project, "--json"))["revenue_at_risk"]
    limits = {w["touchpoint"]: w["max_seconds"] for w in risk["definition"]["wait_limits"]}
    usual = built.truths.bottleneck.wait_mean_days_before * 86_400
    assert limits["installation_visit"] == 2 * usual and limits["technician_visit"] > 5 * 86_400
    assert {g["key"] for g in risk["by_journey"]} <= {"purchase", "support", None}
    assert sum(g["revenue_at_risk"] for g in risk["by_journey"]) == pytest.approx(risk["revenue_at_risk"])
    assert risk["customers_affected"] < 0.6 * built.truths.counts.persons


def test_access_of_one_journey_type_covers_only_its_cases(demo):
    built, _ = demo
    everything = _json(run_cli("access", built.project, "--json"))
    support = _json(run_cli("access", built.project, "--journey", "support", "--json"))
    assert support["covers"]["journey"] == "support"
    contacts = {g["channel"]: g["contacts"] for g in support["groups"]}
    assert "email" not in contacts  # bills and offers are e-mails of purchase journeys
    assert 0 < sum(contacts.values()) < sum(g["contacts"] for g in everything["groups"])

