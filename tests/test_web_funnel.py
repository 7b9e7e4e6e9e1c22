"""The funnel builder page: behind the login, in English, Arabic and Russian with
untranslated text as a failure; the demo's planted corridor as the first funnel with
counts that never increase; breakdowns that add up to the whole; filters and the window
changing the answer; bad parameters as one sentence; data shown escaped."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from corridor import i18n
from corridor.ingest import ingest_file
from corridor.store import Project

from helpers import write
from test_web import web_app, login


@pytest.fixture(scope="module")
def planted_basic(web_demo) -> list[str]:
    with Project.open(web_demo, read_only=True) as p:
        value = p.con.execute(
            "SELECT value FROM planted_truths WHERE name = 'corridor'").fetchone()[0]
    return json.loads(value)["basic"]


def step_counts(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-step="\d+" data-cases="(\d+)"', page)]


def chosen_steps(page: str) -> list[str]:
    selects = re.findall(r'<select name="step".*?</select>', page, flags=re.S)
    return [re.search(r'<option value="([^"]*)" selected>', s).group(1) for s in selects]


def metric(page: str, name: str) -> str:
    return re.search(rf'data-metric="{name}">([^<]+)<', page).group(1)


def breakdown_cells(page: str) -> dict[str, list[int]]:
    """Per group row of the breakdown table (``*`` is the total row): cases per step."""
    table = re.search(r'<table class="breakdown">.*?</table>', page, flags=re.S).group(0)
    rows = {}
    for group, row in re.findall(r'<tr data-group="([^"]*)">(.*?)</tr>', table, flags=re.S):
        rows[group] = [int(n) for n in re.findall(r'data-cases="(\d+)"', row)]
    return rows


def test_the_funnel_needs_a_login(app):
    with TestClient(app, base_url="http://testserver") as anonymous:
        response = anonymous.get("/funnel", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].endswith("/login")


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
@pytest.mark.parametrize("by", ["none", "segment", "channel"])
def test_the_funnel_renders_in_every_language(client, lang, by):
    response = client.get("/funnel", params={"lang": lang, "by": by, "within": "720"})
    assert response.status_code == 200, response.text[:500]
    direction = "rtl" if lang == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in response.text
    assert f"<h1>{i18n.catalog(lang)['funnel.title']}</h1>" in response.text
    assert re.findall(r'<a href="([^"?]+)[^"]*" aria-current="page"', response.text) == ["/funnel"]
    assert '<link rel="stylesheet" href="/static/funnel.css">' in response.text
    assert ("breakdown" in response.text) == (by != "none")
    assert "https://" not in response.text
    # the window reads as a translated duration: 720 hours are 30 days
    thirty = i18n.Translator(lang).number(30)
    assert metric(response.text, "window") == i18n.catalog(lang)["duration.days"].format(n=thirty)


def test_the_first_funnel_is_the_planted_corridor_with_counts_that_never_increase(
        client, planted_basic):
    page = client.get("/funnel", params={"lang": "en"}).text
    assert chosen_steps(page) == planted_basic
    counts = step_counts(page)
    assert len(counts) == len(planted_basic)
    assert counts[0] > 0 and counts[-1] > 0
    assert all(later <= earlier for earlier, later in zip(counts, counts[1:]))
    assert counts[-1] < counts[0]  # some customers leave the corridor on the way
    # the same funnel asked for by name
    named = client.get("/funnel", params=[("step", s) for s in planted_basic]).text
    assert step_counts(named) == counts
    assert metric(page, "entered") == f"{counts[0]:,}"


@pytest.mark.parametrize("by", ["segment", "channel"])
def test_the_breakdown_adds_up_to_the_total(client, by):
    page = client.get("/funnel", params={"by": by, "lang": "en"}).text
    rows = breakdown_cells(page)
    total = rows.pop("*")
    assert total == step_counts(page)
    assert rows, "no groups"
    assert [sum(cells[i] for cells in rows.values()) for i in range(len(total))] == total


def test_the_segment_breakdown_names_the_planted_segments(client):
    page = client.get("/funnel", params={"by": "segment", "lang": "en"}).text
    rows = breakdown_cells(page)
    assert "consumer" in rows
    first = next(iter(rows))
    assert first == "consumer"  # the largest segment leads


def test_a_filter_changes_the_funnel(client):
    everyone = step_counts(client.get("/funnel").text)
    segment = re.search(r'name="segment" value="([^"]+)"', client.get("/funnel").text).group(1)
    some_page = client.get("/funnel", params={"segment": segment}).text
    some = step_counts(some_page)
    assert 0 < some[0] < everyone[0]
    # the filters ride along in the builder form and the steps in the filter bar
    assert re.search(rf'<input type="hidden" name="segment" value="{segment}">', some_page)
    assert '<input type="hidden" name="step" value="' in some_page


def test_a_window_loses_the_slow_conversions(client, planted_basic):
    steps = [("step", s) for s in planted_basic]
    without = step_counts(client.get("/funnel", params=steps).text)
    within = step_counts(client.get("/funnel", params=[*steps, ("within", "24")]).text)
    assert within[0] == without[0]
    assert within[-1] < without[-1]


def test_adding_and_removing_steps(client, planted_basic):
    steps = planted_basic[:2]
    page = client.get("/funnel", params=[("step", s) for s in steps]).text
    # two steps: nothing to remove; the add button submits one more step
    assert 'class="remove-step"' not in page
    added = re.search(r'<button type="submit" class="secondary" name="step" value="([^"]+)">',
                      page).group(1)
    assert added == planted_basic[2]  # the next corridor touchpoint
    three = client.get("/funnel", params=[("step", s) for s in [*steps, added]]).text
    assert len(step_counts(three)) == 3
    links = re.findall(r'<a class="remove-step" href="([^"]+)"', three)
    assert len(links) == 3
    kept = [v for k, v in parse_qsl(urlsplit(links[0].replace("&amp;", "&")).query) if k == "step"]
    assert kept == [steps[1], added]
    # the remove parameter answers with the address of the funnel without that step
    response = client.get("/funnel", params=[*(("step", s) for s in [*steps, added]),
                                             ("remove", "2"), ("by", "segment")],
                          follow_redirects=False)
    assert response.status_code == 303
    assert parse_qsl(urlsplit(response.headers["location"]).query) == [
        ("step", steps[0]), ("step", added), ("by", "segment")]


def test_eight_steps_offer_no_more(client, planted_basic):
    steps = (planted_basic * 2)[:8]
    page = client.get("/funnel", params=[("step", s) for s in steps]).text
    assert len(step_counts(page)) == 8
    assert 'name="step" value=' not in re.sub(r'<input type="hidden"[^>]*>', "", page)


@pytest.mark.parametrize("query, sentence", [
    ("step=ad_seen", "A funnel takes 2 to 8 steps; got 1."),
    ("&".join(["step=ad_seen"] * 9), "A funnel takes 2 to 8 steps; got 9."),
    ("step=ad_seen&step=teleport", "The step &#x27;teleport&#x27; is not a touchpoint"),
    ("within=0", "whole number of hours from 1 to 8760; got &#x27;0&#x27;."),
    ("within=8761", "got &#x27;8761&#x27;."),
    ("within=1.5", "got &#x27;1.5&#x27;."),
    ("by=region", "must be none, segment or channel; got &#x27;region&#x27;."),
    ("remove=9", "The step to remove must be a position from 1 to"),
    ("step=ad_seen&step=activation&remove=1", "A funnel keeps at least 2 steps."),
])
def test_a_bad_parameter_is_a_400_with_one_sentence(client, query, sentence):
    response = client.get("/funnel?" + query)
    assert response.status_code == 400
    assert sentence in response.text
    assert "Traceback" not in response.text
    assert response.text.count("<p>") == 1 and response.text.count(".</p>") == 1


def test_a_cached_funnel_answers_quickly(client):
    client.get("/funnel", params={"by": "segment"})
    started = time.perf_counter()
    response = client.get("/funnel", params={"by": "segment"})
    assert response.status_code == 200
    assert time.perf_counter() - started < 0.3


# -- data that looks like markup is shown as text -----------------------------------------

XSS_STEP = "<script>alert(1)</script>"
XSS_SEGMENT = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def markup_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("funnel-xss")
    events = write(folder / "events.csv", "\n".join([
        "customer_id,case_id,touchpoint,timestamp,channel",
        f'c1,k1,"{XSS_STEP}",2024-01-01 10:00,"<b>web</b>"',
        "c1,k1,pay,2024-01-01 11:00,web",
        f'c2,k2,"{XSS_STEP}",2024-01-02 10:00,web',
        "c2,k2,pay,2024-01-02 12:30,web",
    ]) + "\n")
    customers = write(folder / "customers.csv",
                      f'customer_id,segment\nc1,"{XSS_SEGMENT}"\nc2,plain\n')
    with Project.create(folder / "markup.duckdb") as p:
        ingest_file(p, "events", events)
        ingest_file(p, "customers", customers)
    return folder / "markup.duckdb"


@pytest.mark.parametrize("by", ["segment", "channel"])
def test_markup_in_the_data_renders_escaped(markup_project, by):
    app = web_app(markup_project, strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as c:
        login(c)
        page = c.get("/funnel", params={"by": by, "lang": "en"})
    assert page.status_code == 200, page.text[:500]
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "<b>web</b>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert step_counts(page.text) == [2, 2]
    shown = "&lt;img src=x onerror=alert(1)&gt;" if by == "segment" else "&lt;b&gt;web&lt;/b&gt;"
    assert f"<bdi>{shown}</bdi>" in page.text
    # 1 h and 2 h 30 min from the first step to pay: the median is 1 h 45 min
    assert "1 h 45 min" in page.text
