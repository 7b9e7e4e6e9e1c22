"""The academy and maturity pages: tracks by role, module pages with the live views of
the learner's own company, the exercise and the quiz with feedback, team progress scopes,
personal data kept from roles without it, and the maturity assessment with its history.
The app teaches a small course of our own (``app.state.course_root``)."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from corridor.accounts import Role, add_user
from corridor.course import LIVE_VIEWS
from corridor.store import Project
from corridor.web_academy import LIVE_VIEW_RENDERERS
from test_academy import VIEWS_OF_MODULE, write_course
from test_web import TEST_SECRET, csrf_from, login

PASSWORD = "academy password 1"


@pytest.fixture(scope="module")
def world(web_demo, tmp_path_factory):
    """A copy of the demo project with a staff member and a head of one department, a
    staff member of another, and a manager; the test course."""
    base = tmp_path_factory.mktemp("academy")
    project = base / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        departments = [r[0] for r in p.con.execute(
            "SELECT DISTINCT department_id FROM touchpoints WHERE department_id IS NOT NULL"
            " ORDER BY 1").fetchall()]
        mine, other = departments[0], departments[1]
        for name, role, department in (("sam", Role.STAFF, mine), ("hana", Role.DEPARTMENT_HEAD, mine),
                                       ("olga", Role.STAFF, other), ("max", Role.MANAGER, None)):
            add_user(p, name, role, department_id=department, password=PASSWORD, actor="test")
    return {"project": project, "course": write_course(base / "course"), "mine": mine,
            "other": other}


@pytest.fixture(scope="module")
def app(world):
    from corridor.web import create_app

    app = create_app(world["project"], secret=TEST_SECRET, strict_i18n=True)
    app.state.course_root = world["course"]
    return app


def signed_in(app, user: str, lang: str | None = None) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    assert login(client, user, PASSWORD, lang=lang).status_code == 303
    return client


def test_every_live_view_has_a_renderer():
    assert set(LIVE_VIEW_RENDERERS) == set(LIVE_VIEWS)


def test_a_learner_sees_their_track_and_modules_outside_it_are_not_found(app):
    with signed_in(app, "sam") as sam:
        page = sam.get("/academy")
        assert page.status_code == 200
        assert 'data-track="A"' in page.text
        assert re.findall(r'<tr data-module="(\d)"', page.text) == list("123456")
        assert 'href="/academy"' in page.text and 'href="/maturity"' not in page.text
        assert "academy-team" not in page.text  # staff see no one else's progress
        assert sam.get("/academy/7").status_code == 404
        assert sam.get("/academy/8").status_code == 404
        assert sam.get("/maturity", follow_redirects=False).status_code == 403
    with signed_in(app, "max") as manager:
        page = manager.get("/academy").text
        assert 'data-track="C"' in page
        assert re.findall(r'<tr data-module="(\d)"', page) == list("12345678")


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
def test_a_module_page_shows_lessons_live_views_exercise_and_quiz(app, lang):
    with signed_in(app, "hana", lang) as hana:
        page = hana.get(f"/academy/3?lang={lang}")
    assert page.status_code == 200
    assert f'lang="{lang}"' in page.text
    assert ('dir="rtl"' in page.text) == (lang == "ar")
    assert f"Module 3 ({lang})" in page.text
    for view in VIEWS_OF_MODULE[3]:
        assert f'data-live-view="{view}"' in page.text
    assert 'data-empty="true"' not in page.text
    assert 'action="/academy/3/quiz"' in page.text and 'action="/academy/3/exercise"' in page.text
    # the head's own department's touchpoints are marked in the corridor
    assert 'data-mine="true"' in page.text


def test_every_module_draws_its_live_views_from_the_demo_company(app):
    with signed_in(app, "max") as manager:
        for number, views in VIEWS_OF_MODULE.items():
            page = manager.get(f"/academy/{number}")
            assert page.status_code == 200, (number, page.text[:300])
            for view in views:
                block = page.text.split(f'data-live-view="{view}"')[1].split("</figure>")[0]
                assert 'data-empty="true"' not in block, view
                assert "<table" in block or "<li" in block or "<p" in block, view


def test_the_quiz_gives_feedback_on_each_answer_and_a_retry_completes_the_module(app):
    with signed_in(app, "sam") as sam:
        token = csrf_from(sam.get("/academy/1").text)
        assert sam.post("/academy/1/quiz", data={"m1-q1": "a"},
                        follow_redirects=False).status_code == 403  # no CSRF token
        incomplete = sam.post("/academy/1/quiz", data={"csrf_token": token, "q:m1-q1": "a"},
                              follow_redirects=False)
        assert incomplete.status_code == 400
        assert "Answer every question before sending the quiz." in incomplete.text
        sent = sam.post("/academy/1/quiz", data={"csrf_token": token, "q:m1-q1": "a",
                                                 "q:m1-q2": "b"}, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"] == "/academy/1#quiz"
        page = sam.get("/academy/1").text
        assert 'data-passed="false"' in page
        assert "Right: feedback 1a." in page and "Wrong: feedback 2b." in page
        assert re.search(r'data-module="1">.*?data-status="started"', sam.get("/academy").text,
                         re.S)
        sam.post("/academy/1/quiz", data={"csrf_token": token, "q:m1-q1": "a", "q:m1-q2": "a"})
        page = sam.get("/academy/1").text
        assert 'data-passed="true"' in page and 'data-attempt="2"' in page
        overview = sam.get("/academy").text
        assert re.search(r'<tr data-module="1">.*?data-status="complete"', overview, re.S)
        assert 'data-completed="1"' in overview


def test_reading_a_lesson_and_answering_the_exercise_are_kept(app):
    with signed_in(app, "sam") as sam:
        token = csrf_from(sam.get("/academy/2").text)
        assert sam.post("/academy/2/read", data={"csrf_token": token,
                                                 "lesson_id": "m2-risk_queue"},
                        follow_redirects=False).status_code == 303
        bad = sam.post("/academy/2/read", data={"csrf_token": token, "lesson_id": "nope"})
        assert bad.status_code == 400
        page = sam.get("/academy/2").text
        assert page.split('data-lesson="m2-risk_queue"')[1].split("</article>")[0].count(
            'data-read="true"') == 1
        assert sam.post("/academy/2/exercise", data={"csrf_token": token},
                        follow_redirects=False).status_code == 400
        sam.post("/academy/2/exercise", data={"csrf_token": token, "why1": "The line was busy",
                                              "why2": "Too few agents at nine",
                                              "answer": "Shift two agents to the morning"})
        page = sam.get("/academy/2").text
    assert "The line was busy" in page and "Shift two agents to the morning" in page


def test_the_five_whys_exercise_links_to_the_latest_incident_on_the_actions_page(app, world):
    from corridor.incidents import list_incidents

    with Project.open(world["project"], read_only=True) as p:
        latest = max(list_incidents(p), key=lambda i: (i.opened_at, i.incident_id))
    with signed_in(app, "sam") as sam:
        page = sam.get("/academy/2").text
    exercise = page.split('id="exercise"')[1].split("</section>")[0]
    assert f'href="/actions#incident-{latest.incident_id}"' in exercise
    assert 'name="why5"' in exercise


def test_a_choice_exercise_offers_the_items_of_its_live_view(app):
    with signed_in(app, "sam") as sam:
        page = sam.get("/academy/6").text
        offered = re.findall(r'name="choice" value="([^"]+)"', page)
        assert offered
        token = csrf_from(page)
        sam.post("/academy/6/exercise", data={"csrf_token": token, "choice": offered[0],
                                              "answer": "It is where most customers wait"})
        assert f"Chosen: {offered[0]}" in sam.get("/academy/6").text


def test_personal_data_in_live_views_shows_only_to_roles_allowed_it(app):
    with signed_in(app, "sam") as sam:
        staff = sam.get("/academy/2").text
    risk = staff.split('data-live-view="risk_queue"')[1].split("</figure>")[0]
    assert 'data-hidden="customer"' in risk
    with signed_in(app, "max") as manager:
        page = manager.get("/academy/2").text
    risk = page.split('data-live-view="risk_queue"')[1].split("</figure>")[0]
    assert 'data-hidden="customer"' not in risk


def test_a_department_head_sees_their_team_and_a_manager_the_company(app, world):
    with signed_in(app, "hana") as hana:
        page = hana.get("/academy").text
    assert 'data-scope="department"' in page
    assert set(re.findall(r'data-learner="([^"]+)"', page)) == {"hana", "sam"}
    with signed_in(app, "max") as manager:
        page = manager.get("/academy").text
    assert 'data-scope="company"' in page
    assert {"hana", "sam", "olga", "max"} <= set(re.findall(r'data-learner="([^"]+)"', page))


def test_a_manager_takes_the_maturity_assessment_and_the_history_keeps_it(app):
    from corridor.maturity import STATEMENTS

    with signed_in(app, "max") as manager:
        page = manager.get("/maturity")
        assert page.status_code == 200
        assert 'data-kept="false"' in page.text and "No assessment has been submitted" in page.text
        assert len(re.findall(r'<tr data-indicator=', page.text)) == 6
        token = csrf_from(page.text)
        incomplete = manager.post("/maturity", data={"csrf_token": token, "rating:vision": "3"})
        assert incomplete.status_code == 400
        assert "Rate every statement from 1 to 5" in incomplete.text
        ratings = {f"rating:{s}": "4" for s in STATEMENTS}
        sent = manager.post("/maturity", data={"csrf_token": token, **ratings},
                            follow_redirects=False)
        assert sent.status_code == 303
        page = manager.get("/maturity").text
        assert 'data-kept="true"' in page
        stage = re.search(r'id="result" data-stage="(\d)"', page).group(1)
        assert re.findall(r'<tr data-assessment="(\d+)"', page) == ["1"]
        assert f'<td data-stage="{stage}">' in page
        assert 'value="4" aria-labelledby="st-vision" aria-label="4" required checked' in page
        manager.post("/maturity", data={"csrf_token": token,
                                        **{f"rating:{s}": "2" for s in STATEMENTS}})
        page = manager.get("/maturity?lang=ar").text
        assert re.findall(r'<tr data-assessment="(\d+)"', page) == ["2", "1"]
        assert 'dir="rtl"' in page
        module8 = manager.get("/academy/8").text
    assert 'data-live-view="maturity"' in module8
    with signed_in(app, "hana") as hana:
        assert hana.post("/maturity", data={"csrf_token": token, **ratings},
                         follow_redirects=False).status_code == 403


def test_the_packaged_course_renders_every_module_in_every_language(world):
    from corridor.course import COURSE_LANGUAGES, course
    from corridor.web import create_app

    packaged = create_app(world["project"], secret=TEST_SECRET, strict_i18n=True)
    with signed_in(packaged, "max") as manager:
        for lang in COURSE_LANGUAGES:
            for number in range(1, 9):
                page = manager.get(f"/academy/{number}?lang={lang}")
                assert page.status_code == 200, (lang, number, page.text[:300])
                assert course().module(number, lang).title in html.unescape(page.text)
