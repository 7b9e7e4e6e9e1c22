"""Which customer a figure is about is one rule for the API and every page: roles allowed
personal data (manager, analyst, admin) see customer ids; staff and department heads see
the same figures with the ids masked, as the academy's risk queue already did."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient

from corridor.accounts import Role, add_user
from corridor.store import Project
from corridor.tokens import create_token
from corridor.web import create_app
from test_web import TEST_SECRET, csrf_from

PASSWORD = "customer ids password 1"
USER_OF = {r.value: f"ids-{r.value.replace('_', '-')}" for r in Role}
WITHOUT_IDS = ("staff", "department_head")
ANALYTICS = ("overview", "map", "flow", "funnel", "journey", "customers", "experience",
             "personas", "departments", "incidents")
PAGES = ("/", "/map", "/flow", "/funnel", "/journey", "/customers", "/experience",
         "/personas", "/departments", "/actions", "/academy",
         *(f"/academy/{n}" for n in range(1, 7)))


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    """A copy of the demo company whose organisations have no names (so a page could
    only show them by id), with an account and a token per role."""
    project = tmp_path_factory.mktemp("customer-ids") / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        p.con.execute("UPDATE customer_pii SET name = NULL WHERE customer_id IN"
                      " (SELECT customer_id FROM customers WHERE level = 'intermediary')")
        department = p.con.execute("SELECT min(department_id) FROM touchpoints").fetchone()[0]
        for role in Role:
            add_user(p, USER_OF[role.value], role, password=PASSWORD, actor="test",
                     department_id=department if role is Role.DEPARTMENT_HEAD else None)
        tokens = {r.value: create_token(p, USER_OF[r.value]).token for r in Role}
        ids = [r[0] for r in p.con.execute("SELECT customer_id FROM customers").fetchall()]
        intermediaries = [r[0] for r in p.con.execute(
            "SELECT customer_id FROM customers WHERE level = 'intermediary'").fetchall()]
    app = create_app(project, secret=TEST_SECRET, strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as client:
        yield {"client": client, "tokens": tokens, "intermediaries": intermediaries,
               "any_id": re.compile("|".join(re.escape(i) for i in
                                              sorted(ids, key=len, reverse=True)))}


def api(world, role: str, what: str):
    answer = world["client"].get(f"/api/v1/{what}",
                                 headers={"Authorization": f"Bearer {world['tokens'][role]}"})
    assert answer.status_code == 200, answer.text
    return answer


def signed_in(world, role: str) -> TestClient:
    client = world["client"]
    form = client.get("/login")
    done = client.post("/login", data={"username": USER_OF[role], "password": PASSWORD,
                                       "csrf_token": csrf_from(form.text)},
                       follow_redirects=False)
    assert done.status_code == 303
    return client


@pytest.mark.parametrize("role", WITHOUT_IDS)
def test_the_customers_api_masks_every_customer_id_for_roles_without_personal_data(world,
                                                                                 role):
    answer = api(world, role, "customers")
    assert world["any_id"].findall(answer.text) == []
    body = answer.json()
    assert body["customer_ids_included"] is False
    # the figures stay, without whom they are about
    rows = body["summary"]["intermediaries"]
    assert len(rows) == len(world["intermediaries"])
    assert all(r["intermediary_id"] is None and r["end_customers"] > 0 for r in rows)
    assert all(c["customer_id"] is None for c in body["value"]["underwater"]["worst"])


@pytest.mark.parametrize("role", ("manager", "analyst", "admin"))
def test_roles_allowed_personal_data_get_the_customer_ids(world, role):
    body = api(world, role, "customers").json()
    assert body["customer_ids_included"] is True
    assert {r["intermediary_id"] for r in body["summary"]["intermediaries"]} == set(
        world["intermediaries"])
    assert all(c["customer_id"] for c in body["value"]["underwater"]["worst"])


def test_no_api_answer_a_staff_member_reads_holds_a_customer_id(world):
    for what in ANALYTICS:
        assert world["any_id"].findall(api(world, "staff", what).text) == [], what


def test_no_page_a_staff_member_opens_holds_a_customer_id(world):
    client = signed_in(world, "staff")
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert world["any_id"].findall(page.text) == [], path


def test_an_organisation_without_a_name_shows_by_id_only_to_roles_allowed_personal_data(
        world):
    staff = signed_in(world, "staff").get("/customers").text
    assert staff.count('data-hidden="customer"') == len(world["intermediaries"])
    analyst = signed_in(world, "analyst").get("/customers").text
    assert 'data-hidden="customer"' not in analyst
    assert all(i in analyst for i in world["intermediaries"])
