"""One computation behind every headline figure: the command line (``--json``), the JSON
API, the pages and the report show the same number for the same thing on the demo."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from corridor.accounts import add_user
from corridor.i18n import Translator
from corridor.store import Project
from corridor.tokens import create_token
from helpers import run_cli
from test_web import login, web_app

PASSWORD = "figures everywhere 1"
EN = Translator("en")


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    project = folder / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        add_user(p, "figures-manager", "manager", password=PASSWORD, actor="test")
        token = create_token(p, "figures-manager", "tests").token
    report = folder / "report.html"
    done = run_cli("report", project, "--out", report, "--role", "manager", "--quiet")
    assert done.returncode == 0, done.stderr
    return {"project": project, "token": token, "report": report.read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def cli(world):
    def answer(*args):
        done = run_cli(*args[:1], world["project"], *args[1:], "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    return {name: answer(*args) for name, args in {
        "journeys": ("journeys",), "flow": ("flow",), "experience": ("experience",),
        "value": ("value",), "maturity": ("maturity",)}.items()}


@pytest.fixture(scope="module")
def served(world):
    with TestClient(web_app(world["project"], strict_i18n=True)) as client:
        headers = {"Authorization": f"Bearer {world['token']}"}
        api = {path: client.get(f"/api/v1/{path}", headers=headers).json()
               for path in ("overview", "customers", "maturity")}
        login(client)
        pages = {path: client.get(path).text for path in ("/", "/customers", "/maturity")}
    return api, pages


def metric(html: str, name: str) -> str:
    """The text of the first element marked ``data-metric="name"``."""
    found = re.search(rf'data-metric="{name}"[^>]*>([^<]*)<', html)
    assert found, f"no {name} on the page"
    return found.group(1).strip()


def section(report: str, path: str) -> str:
    """One page's section of the report (``corridor.report.anchor`` names it)."""
    from corridor.report import anchor

    found = re.search(rf'<section class="report-page" id="{anchor(path)}">(.*?)(?=<section class="report-page"|</body>)',
                      report, re.S)
    assert found, f"no section for {path} in the report"
    return found.group(1)


def test_journeys_agree_everywhere(cli, served, world):
    api, pages = served
    cases = cli["journeys"]["cases"]
    assert api["overview"]["cases"] == cases
    # the basic corridor of the company model's purchase goal, on both sides
    assert api["overview"]["basic"] == cli["journeys"]["corridor"]["basic"]
    assert metric(pages["/"], "cases") == EN.number(cases)
    assert metric(section(world["report"], "/"), "cases") == EN.number(cases)


def test_goal_reach_per_journey_type_agrees_everywhere(cli, served, world):
    api, pages = served
    flow = {j["journey"]: j for j in cli["flow"]["journeys"]["journeys"]}
    shown = {j["journey"]: j for j in api["overview"]["journeys"]["journeys"]}
    assert shown == flow
    purchase = flow["purchase"]
    assert purchase["reached_goal"] == cli["flow"]["dropoffs"]["reached_goal"]
    for html in (pages["/"], section(world["report"], "/")):
        cell = re.search(r'data-journey="purchase" data-kpi="conversion".*?data-count="(\d+)">([^<]*)<',
                         html, re.S)
        assert int(cell.group(1)) == purchase["reached_goal"]
        assert EN.percent(purchase["conversion"], 1) in cell.group(2)


def test_experience_scores_agree_everywhere(cli, served, world):
    api, pages = served
    for score in cli["experience"]["scores"]:
        key, value = score["metric"], score["overall"]["score"]["value"]
        assert api["overview"]["scores"][key]["value"] == pytest.approx(value, rel=1e-12)
        shown = EN.percent(value, 1) if key == "csat" else EN.number(value, 1)
        assert metric(pages["/"], key) == shown
        assert metric(section(world["report"], "/"), key) == shown


def test_clv_and_revenue_at_risk_agree_everywhere(cli, served, world):
    api, pages = served
    value = cli["value"]
    life, risk = value["lifetime_value"], value["revenue_at_risk"]
    assert api["customers"]["fitted_until"] == value["until"]
    assert api["customers"]["value"]["lifetime_value"]["total_clv"] == pytest.approx(life["total_clv"], rel=1e-12)
    assert api["customers"]["value"]["lifetime_value"]["customers"] == life["customers"]
    assert api["customers"]["value"]["revenue_at_risk"]["revenue_at_risk"] == pytest.approx(
        risk["revenue_at_risk"], rel=1e-12)
    for html in (pages["/customers"], section(world["report"], "/customers")):
        assert metric(html, "clv_customers") == EN.number(life["customers"])
        assert metric(html, "clv_total") == EN.number(life["total_clv"])
        shown = re.search(r'data-metric="revenue_at_risk" data-value="([^"]+)" data-customers="(\d+)">([^<]*)<', html)
        assert float(shown.group(1)) == pytest.approx(risk["revenue_at_risk"], rel=1e-12)
        assert int(shown.group(2)) == risk["customers_affected"]
        assert EN.number(risk["revenue_at_risk"]) in shown.group(3)


def test_maturity_stage_agrees_everywhere(cli, served, world):
    api, pages = served
    stage = cli["maturity"]["stage"]
    assert api["maturity"]["stage"] == stage
    assert api["maturity"]["score"] == pytest.approx(cli["maturity"]["score"])
    assert [e["value"] for e in api["maturity"]["evidence"]] == pytest.approx(
        [e["value"] for e in cli["maturity"]["evidence"]])
    assert f'id="result" data-stage="{stage}"' in pages["/maturity"]
    assert f'id="result" data-stage="{stage}"' in section(world["report"], "/maturity")
