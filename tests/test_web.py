"""The web app's first slice: login with CSRF, logout, and the overview in English,
Arabic (right to left) and Russian, with untranslated text as a failure."""

from __future__ import annotations

import json
import re

import pytest
from babel.numbers import format_decimal
from fastapi.testclient import TestClient

from corridor import i18n
from corridor.demo import DemoConfig
from corridor.errors import InputError
from corridor.incidents import open_incident
from corridor.showcase import build_demo
from corridor.store import Project
from corridor.web import create_app
from corridor.web_filters import PageFilters

USERS = {"ana": "correct horse"}  # an admin: sees every page
TEST_SECRET = "corridor-test-secret-9f3b7c1e5a2d8064"


def add_test_accounts(project, users: dict[str, str] = USERS, role: str = "admin") -> None:
    """The test accounts in ``project`` (those already there are kept)."""
    from corridor.accounts import add_user, get_user

    with Project.open(project) as p:
        for name, password in users.items():
            if get_user(p, name) is None:
                add_user(p, name, role, password=password, actor="test")


def web_app(project, **options):
    """The web app on ``project``, with the test accounts in it."""
    add_test_accounts(project)
    return create_app(project, secret=TEST_SECRET, **options)


XSS_TITLE = "<script>alert('x')</script> queue at the counter"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("web") / "company.duckdb",
                       DemoConfig(customers=1500, seed=2))
    with Project.open(built.project) as p:
        open_incident(p, XSS_TITLE)
    return built.project


@pytest.fixture(scope="module")
def app(project):
    return web_app(project, strict_i18n=True)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def login(client, username="ana", password="correct horse", lang=None):
    page = client.get("/login", params={"lang": lang} if lang else None)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.text)},
                       follow_redirects=False)


def test_an_empty_default_or_short_secret_is_refused(project):
    for secret in ("", "   ", "changeme", "s" * 40, "short-but-random-8x7Qz"):
        with pytest.raises(InputError, match="secret"):
            create_app(project, secret=secret)


def test_anonymous_requests_go_to_login(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].endswith("/login")


def test_login_page_has_a_csrf_token_and_static_assets(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert csrf_from(page.text)
    assert 'src="/static/htmx.min.js"' in page.text
    assert "//cdn" not in page.text and "https://" not in page.text
    assert client.get("/static/htmx.min.js").status_code == 200
    css = client.get("/static/corridor.css")
    assert css.status_code == 200 and "margin-inline" in css.text


def test_a_wrong_password_is_refused(client):
    response = login(client, password="wrong")
    assert response.status_code == 401
    assert "The user name or password is wrong." in response.text
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)
    assert login(client, username="nobody").status_code == 401


def test_login_without_the_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"username": "ana", "password": "correct horse"},
                           follow_redirects=False)
    assert response.status_code == 403
    forged = client.post("/login", data={"username": "ana", "password": "correct horse",
                                         "csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)


def test_login_works_and_sets_a_safe_cookie(client):
    response = login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    overview = client.get("/")
    assert overview.status_code == 200
    assert '<html lang="en" dir="ltr">' in overview.text


def overview_numbers(app) -> dict:
    o = app.state.site.computed("overview", PageFilters())
    assert o is not None
    return {"cases": o.cases, "events": o.events}


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
def test_the_overview_renders_in_every_language(client, app, lang):
    login(client, lang=lang)
    page = client.get("/", params={"lang": lang})
    assert page.status_code == 200
    direction = "rtl" if lang == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in page.text
    for key, value in overview_numbers(app).items():
        assert value > 999  # so that grouping shows
        expected = format_decimal(value, format="#,##0", locale=lang)
        assert f'data-metric="{key}">{expected}<' in page.text
    assert i18n.catalog(lang)["overview.title"] in page.text
    # the language is kept in the session
    again = client.get("/")
    assert f'<html lang="{lang}"' in again.text


def test_russian_numbers_are_grouped_the_russian_way(client, app):
    login(client)
    page = client.get("/", params={"lang": "ru"})
    cases = app.state.site.computed("overview", PageFilters()).cases
    assert f"{cases // 1000}\u00a0{cases % 1000:03d}" in page.text


def test_the_overview_holds_the_corridor_health(client, app):
    login(client)
    client.get("/")
    o = app.state.site.computed("overview", PageFilters())
    assert o.cases > 0 and o.events >= o.cases
    assert o.goal is not None and o.basic
    assert o.scores["nps"] is not None and o.scores["nps"].responses > 0
    assert any(i.title == XSS_TITLE for i in o.open_incidents)


def test_an_incident_title_renders_escaped(client):
    login(client)
    page = client.get("/", params={"lang": "en"})
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; queue at the counter" in page.text


def test_every_catalog_has_the_same_keys():
    english = set(i18n.catalog("en"))
    for lang in i18n.LANGUAGES:
        assert set(i18n.catalog(lang)) == english, lang
        assert all(isinstance(v, str) and v.strip() for v in i18n.catalog(lang).values())


def test_the_catalog_files_are_json_objects():
    for lang in i18n.LANGUAGES:
        for path in i18n.catalog_files(lang):
            with open(path, encoding="utf-8") as f:
                assert isinstance(json.load(f), dict), path


def test_every_page_catalog_exists_in_every_language():
    pages = {p.name for p in (i18n.LOCALES_DIR / "en").glob("*.json")}
    for lang in i18n.LANGUAGES:
        assert {p.name for p in (i18n.LOCALES_DIR / lang).glob("*.json")} == pages, lang


def test_a_missing_message_is_an_error_in_strict_mode():
    with pytest.raises(i18n.MissingTranslation):
        i18n.Translator("ar", strict=True)("no.such.key")
    assert i18n.Translator("ar")("no.such.key") == "no.such.key"


def test_logout_ends_the_session(client):
    login(client)
    page = client.get("/")
    assert page.status_code == 200
    refused = client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/login")
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)


def test_the_overview_says_what_changed_since_last_period(client, app):
    login(client)
    page = client.get("/", params={"lang": "en"})
    assert "What changed since last period" in page.text
    change = app.state.site.computed("overview", PageFilters()).change
    assert change is not None and change.days == 30
    for name in ("cases", "failed_share", "median_wait_seconds", "nps", "csat", "ces",
                 "revenue"):
        assert f'data-change="{name}"' in page.text
    assert change.change("cases").current > 0
