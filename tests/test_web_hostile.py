"""The web app and the API under hostile requests: control characters and absurd days in
the filters are one-sentence 400s, an unexpected failure is a 500 that keeps the security
headers and tells nothing internal, OPTIONS and 405 say which methods a path takes, and a
lifetime-value fit that does not converge leaves the pages standing with the reason."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from fastapi.testclient import TestClient

from corridor import i18n
from corridor.accounts import Role, add_user
from corridor.store import Project
from corridor.tokens import create_token
from test_web import login, web_app

PAGES = ("/", "/map", "/flow", "/funnel", "/journey", "/personas", "/departments",
         "/customers", "/experience", "/academy/8", "/maturity")
API = ("/overview", "/map", "/flow", "/funnel", "/journey", "/personas", "/departments")
SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


def copy_of(web_demo, tmp_path_factory, name: str):
    project = tmp_path_factory.mktemp(name) / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        add_user(p, "hostile-admin", Role.ADMIN, password="hostile password 1", actor="test")
        token = create_token(p, "hostile-admin", "tests").token
    return project, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def hostile(web_demo, tmp_path_factory):
    project, bearer = copy_of(web_demo, tmp_path_factory, "hostile")
    with TestClient(web_app(project, strict_i18n=True)) as client:
        login(client)
        yield client, bearer


def assert_secured(answer) -> None:
    for header, value in SECURITY.items():
        assert answer.headers[header] == value
    assert "default-src 'self'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("query", ["segment=%00", "channel=%00", "department=%00",
                                   "level=%00", "segment=a%0Ab", "journey=%00", "lang=%1F"])
def test_a_control_character_in_a_filter_is_a_one_sentence_400_everywhere(hostile, query):
    client, bearer = hostile
    for path in PAGES:
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text)
        assert "control characters" in answer.text and "Traceback" not in answer.text
        assert_secured(answer)
    for path in API:
        answer = client.get(f"/api/v1{path}?{query}", headers=bearer)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["detail"].endswith(".")
        assert_secured(answer)


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01", "from=1899-12-31",
                                   "to=2201-01-01"])
def test_a_day_outside_1900_to_2200_is_a_400_not_an_overflow(hostile, query):
    client, bearer = hostile
    for path in PAGES:
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text)
        assert "from 1900-01-01 to 2200-12-31" in answer.text
    for path in API:
        answer = client.get(f"/api/v1{path}?{query}", headers=bearer)
        assert answer.status_code == 400, (path, answer.text)
        assert "1900-01-01" in answer.json()["detail"]


def test_the_last_day_of_the_range_is_still_a_filter(hostile):
    client, bearer = hostile
    assert client.get("/?from=1900-01-01&to=2200-12-31").status_code == 200
    assert client.get("/api/v1/overview?to=2200-12-31", headers=bearer).status_code == 200


@pytest.fixture(scope="module")
def damaged(web_demo, tmp_path_factory):
    """A project changed outside corridor: its feedback lost the score column, so every
    page that reads scores fails with an error nobody planned for."""
    project, bearer = copy_of(web_demo, tmp_path_factory, "damaged")
    with Project.open(project) as p:
        p.con.execute("ALTER TABLE feedback DROP COLUMN score")
    with TestClient(web_app(project, strict_i18n=True)) as client:
        login(client)
        yield client, bearer


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_an_unexpected_failure_is_a_secured_500_page_in_the_pages_language(damaged, lang):
    client, _ = damaged
    answer = client.get("/experience", params={"lang": lang})
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert_secured(answer)
    sentence = i18n.Translator(lang)("error.server")
    assert sentence in answer.text and f'lang="{lang}"' in answer.text
    assert "score" not in answer.text and "Traceback" not in answer.text


def test_an_unexpected_api_failure_is_a_secured_json_500_with_one_sentence(damaged):
    client, bearer = damaged
    answer = client.get("/api/v1/experience", headers=bearer)
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/json")
    assert_secured(answer)
    assert list(answer.json()) == ["detail"]
    assert "score" not in answer.text and "Attribute" not in answer.text


def test_options_and_405_list_every_method_of_the_path(hostile):
    client, bearer = hostile
    options = client.options("/api/v1/incidents")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, POST"
    assert_secured(options)
    refused = client.delete("/api/v1/incidents", headers=bearer)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, OPTIONS, POST"
    assert client.put("/login").headers["allow"] == "GET, OPTIONS, POST"
    assert client.options("/no-such-page").status_code == 404


# ---- a lifetime-value fit that does not converge -----------------------------------------


@pytest.fixture(scope="module")
def unconverged(web_demo, tmp_path_factory):
    """The demo company with its purchases replaced: 40 customers who each bought once and
    again at the very end, all alike, so the BG/NBD likelihood keeps rising and the fit
    does not converge (its bills stay, and keep the rest of the value computable)."""
    project, bearer = copy_of(web_demo, tmp_path_factory, "unconverged")
    with Project.open(project) as p:
        ids = [r[0] for r in p.con.execute(
            "SELECT customer_id FROM customers ORDER BY customer_id LIMIT 40").fetchall()]
        p.con.execute("DELETE FROM transactions WHERE kind = 'purchase'")
        start = dt.datetime(2025, 3, 1, 10)
        rows = [(c, start + dt.timedelta(days=day), 50.0 + i, 10.0)
                for i, c in enumerate(ids) for day in (0, 100)]
        p.con.executemany("INSERT INTO transactions (customer_id, timestamp, amount, margin,"
                          " kind, load_id, seq) VALUES (?, ?, ?, ?, 'purchase', 99, 0)", rows)
    return project, bearer


def test_the_crafted_purchases_really_do_not_converge(unconverged):
    from corridor.errors import AnalysisError
    from corridor.lifetime import lifetime_values
    from corridor.portfolio import holdout_cut_off

    with Project.open(unconverged[0], read_only=True) as p:
        transactions = p.table("transactions")
        with pytest.raises(AnalysisError, match="did not converge"):
            lifetime_values(transactions, until=holdout_cut_off(transactions))


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_a_fit_that_does_not_converge_leaves_customers_and_academy_8_standing(unconverged,
                                                                              lang):
    project, bearer = unconverged
    t = i18n.Translator(lang)
    with TestClient(web_app(project, strict_i18n=True)) as client:
        login(client)
        customers = client.get("/customers", params={"lang": lang})
        assert customers.status_code == 200
        assert 'data-unavailable="too_few_purchases"' in customers.text
        assert t("unavailable.too_few_purchases") in customers.text
        module = client.get("/academy/8", params={"lang": lang})
        assert module.status_code == 200
        assert t("unavailable.no_lifetime") in module.text
        api = client.get("/api/v1/customers", headers=bearer)
        assert api.status_code == 200 and api.json()["value"]["lifetime_value"] is None
