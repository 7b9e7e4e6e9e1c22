"""The web forms take the same text limits as the JSON API and the library (one set of
constants, corridor.incidents.MAX_TEXT and MAX_NAME): text over a limit is answered with
one sentence and the form again, and nothing is stored."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from corridor.incidents import MAX_NAME, MAX_TEXT, list_incidents, open_incident
from corridor.store import Project
from corridor.tokens import create_token
from test_web import csrf_from, login, web_app

LONG = "x" * 1_000_000


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    project = tmp_path_factory.mktemp("limits") / "company.duckdb"
    shutil.copy(web_demo, project)
    app = web_app(project, strict_i18n=True)  # adds the admin "ana"
    with Project.open(project) as p:
        incident = open_incident(p, "Queue at the counter").incident_id
        token = create_token(p, "ana").token
    with TestClient(app, base_url="http://testserver") as client:
        assert login(client).status_code == 303
        yield {"project": project, "client": client, "incident": incident, "token": token}


def stored(world) -> list:
    with Project.open(world["project"], read_only=True) as p:
        return list(list_incidents(p))


def post_form(world, path: str, **fields):
    client = world["client"]
    token = csrf_from(client.get("/actions").text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.mark.parametrize("fields, sentence", [
    ({"title": LONG}, "The title may have at most 2,000 characters; this one has 1,000,000."),
    ({"title": "Queue", "description": LONG},
     "The description may have at most 2,000 characters; this one has 1,000,000."),
    ({"title": "Queue", "touchpoint": "t" * (MAX_NAME + 1)},
     "The touchpoint may have at most 200 characters; this one has 201."),
])
def test_the_incident_form_refuses_text_over_the_api_limit_and_stores_nothing(world, fields,
                                                                             sentence):
    before = stored(world)
    answer = post_form(world, "/actions/incidents", **fields)
    assert answer.status_code == 400
    assert sentence in answer.text
    assert len(answer.text) < 200_000  # the form again, without the text sent
    assert stored(world) == before


def test_the_why_form_refuses_a_statement_over_the_api_limit_and_stores_nothing(world):
    before = stored(world)
    answer = post_form(world, f"/actions/incidents/{world['incident']}/whys", statement=LONG)
    assert answer.status_code == 400
    assert "The why may have at most 2,000 characters; this one has 1,000,000." in answer.text
    assert stored(world) == before


def test_the_form_and_the_api_take_the_same_text_at_the_limit_and_refuse_one_more(world):
    client = world["client"]
    bearer = {"Authorization": f"Bearer {world['token']}"}
    at_limit = "a" * MAX_TEXT
    assert post_form(world, "/actions/incidents", title=at_limit).status_code == 303
    assert client.post("/api/v1/incidents", json={"title": at_limit},
                       headers=bearer).status_code == 201
    assert post_form(world, "/actions/incidents", title=at_limit + "a").status_code == 400
    assert client.post("/api/v1/incidents", json={"title": at_limit + "a"},
                       headers=bearer).status_code == 422
    assert [len(i.title) for i in stored(world)].count(MAX_TEXT) == 2


def test_the_form_fields_tell_the_browser_the_same_limits(world):
    page = world["client"].get("/actions").text
    assert f'name="title" required maxlength="{MAX_TEXT}"' in page
    assert f'name="description" rows="3" maxlength="{MAX_TEXT}"' in page
    assert f'name="statement" required maxlength="{MAX_TEXT}"' in page
