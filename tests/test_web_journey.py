"""The journey map page: behind the login, in English, Arabic (mirrored) and Russian with
untranslated text as a failure; the heat metric recolours the same map, the filters
change it, a bad metric is one sentence, and data that looks like HTML stays text."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from corridor import i18n
from corridor.journeymap import journey_map
from corridor.store import Project
from corridor.web_journey import METRICS, compute_journey, emotion_curve

from helpers import timed_events
from test_web import web_app, login


@pytest.fixture(scope="module")
def app(web_demo):
    return web_app(web_demo, strict_i18n=True)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver") as c:
        login(c)
        yield c


def number(page: str, metric: str) -> int:
    text = re.search(rf'data-metric="{metric}">([^<]+)<', page).group(1)
    return int(re.sub(r"\D", "", text))


def test_the_page_needs_a_login(app):
    with TestClient(app, base_url="http://testserver") as anonymous:
        response = anonymous.get("/journey", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("/login")


def test_the_page_is_in_the_navigation(client):
    assert 'href="/journey"' in client.get("/").text


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
def test_the_page_renders_in_every_language(client, lang):
    response = client.get("/journey", params={"lang": lang})
    assert response.status_code == 200, response.text[:500]
    page = response.text
    direction = "rtl" if lang == "ar" else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in page
    assert f"<h1>{i18n.Translator(lang)('journey.title')}</h1>" in page
    assert '<link rel="stylesheet" href="/static/journey.css">' in page
    stages = re.findall(r'<section class="stage" data-stage="([^"]+)"', page)
    assert stages == ["need", "evaluation", "purchase", "use", "support", "loyalty", "exit"]
    # touchpoints by the names the demo's company model gives them in the page's language
    from corridor.demo_model import TOUCHPOINT_NAMES
    installation = {"en": "Technician installed the line", "ar": TOUCHPOINT_NAMES["installation_visit"][0],
                    "ru": TOUCHPOINT_NAMES["installation_visit"][1]}[lang]
    assert f'<bdi>{installation}</bdi>' in page and '<bdi>installation_visit</bdi>' not in page
    # the emotion curve: one point with a tooltip per stage, text set right to left in Arabic
    assert page.count('<g class="point"') == len(stages)
    assert "<circle" in page and "<title>" in page  # a line joins only neighbouring rated stages
    assert ('direction="rtl"' in page) == (lang == "ar")
    assert '<li data-kind="wait" data-touchpoint="installation_visit">' in page
    # the map shows the purchase journey; the hotline's failures are on the support journey's
    assert 'data-touchpoint="support_hotline"' not in page
    support = client.get("/journey", params={"lang": lang, "journey": "support"}).text
    assert '<li data-kind="failure" data-touchpoint="support_hotline">' in support


def test_the_emotion_curve_is_mirrored_right_to_left(web_demo):
    with Project.open(web_demo, read_only=True) as p:
        m = journey_map(p.table("events"), touchpoints=p.table("touchpoints"), feedback=None)
    ltr, rtl = emotion_curve(m), emotion_curve(m, right_to_left=True)
    xs = [p.x for p in ltr.points]
    assert xs == sorted(xs)
    assert [round(ltr.width - p.x, 1) for p in rtl.points] == xs
    assert [p.y for p in rtl.points] == [p.y for p in ltr.points]


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
def test_a_stage_without_feedback_reads_no_data_on_the_page(client, web_demo, lang):
    page = client.get("/journey", params={"lang": lang}).text
    journey = compute_journey(web_demo).map
    no_data = i18n.Translator(lang)("journey.no_data")
    unrated = [s.name for s in journey.stages if s.emotion is None]
    rated = [s.name for s in journey.stages if s.emotion is not None]
    assert "need" in unrated and rated  # nobody rates the advert; installation is rated
    points = dict(re.findall(r'<g class="point" data-stage="([^"]+)">(.*?)</g>', page, re.S))
    headers = dict(re.findall(
        r'<section class="stage" data-stage="([^"]+)">.*?data-emotion="[^"]*">(.*?)</dd>',
        page, re.S))
    for name in unrated:
        assert "<circle" not in points[name] and no_data in points[name]  # no point at 0
        assert no_data in headers[name] and "0.00" not in headers[name]
    for name in rated:
        assert "<circle" in points[name] and no_data not in headers[name]
    # the line breaks at stages without data: it only joins rated stages
    curve = emotion_curve(journey, right_to_left=lang == "ar")
    rated_x = {f"{p.x:.1f}" for p in curve.points if p.y is not None}
    for line in re.findall(r'<polyline class="curve" points="([^"]+)"', page):
        assert {xy.split(",")[0] for xy in line.split()} <= rated_x
    assert {p.stage for p in curve.points if p.y is None} == set(unrated)


def heat_of(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-touchpoint="([^"]+)"\s+data-heat="([^"]*)"', page))


def test_the_heat_metric_recolours_the_same_map(client):
    pages = {m: client.get("/journey", params={"metric": m}).text for m in METRICS}
    heats = {m: heat_of(p) for m, p in pages.items()}
    assert heats["volume"]["app_login"] != heats["volume"]["referral"]
    assert heats["wait"]["installation_visit"] == "4"  # the longest wait of all
    assert heats["wait"]["ad_seen"] == ""  # nobody waits for an advert
    assert len({tuple(sorted(h.items())) for h in heats.values()}) == len(METRICS)
    assert len({number(p, "cases") for p in pages.values()}) == 1
    for m, p in pages.items():
        assert re.search(rf'<option value="{m}" selected>', p)
        assert '<input type="hidden" name="metric" value="' + m + '">' in p  # kept by the filters


def test_a_filter_changes_the_map_and_keeps_the_metric(client):
    everyone = client.get("/journey", params={"metric": "wait"})
    segment = re.search(r'name="segment" value="([^"]+)"', everyone.text).group(1)
    some = client.get("/journey", params={"metric": "wait", "segment": segment})
    assert some.status_code == 200
    assert 0 < number(some.text, "cases") < number(everyone.text, "cases")
    assert f'<input type="hidden" name="segment" value="{segment}">' in some.text
    assert re.search(r'<option value="wait" selected>', some.text)


def test_a_filter_nothing_passes_says_so(client):
    response = client.get("/journey", params={"from": "1990-01-01", "to": "1990-01-02"})
    assert response.status_code == 200
    assert i18n.Translator("en")("journey.no_events") in response.text


@pytest.mark.parametrize("query, words", [
    ({"metric": "loudness"},
     "The heat metric must be one of volume, wait, conversion, satisfaction"),
    ({"metric": "<script>"}, "got &#x27;&lt;script&gt;&#x27;"),
    ({"from": "soon"}, "must be a day like 2024-01-31"),
])
def test_bad_parameters_are_a_400_with_one_sentence(client, query, words):
    response = client.get("/journey", params=query)
    assert response.status_code == 400
    assert words in response.text
    assert "Traceback" not in response.text and "<script>" not in response.text


def test_a_cached_page_answers_quickly(client):
    client.get("/journey")
    started = time.perf_counter()
    for metric in METRICS:
        assert client.get("/journey", params={"metric": metric}).status_code == 200
    assert (time.perf_counter() - started) / len(METRICS) < 0.3


XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def xss_project(tmp_path_factory):
    """A tiny project whose touchpoint and region names look like HTML."""
    from corridor.ingest import ingest_file

    folder = tmp_path_factory.mktemp("journey-xss")
    rows = []
    for k in range(30):
        rows += [(f"c{k}", "look", 0), (f"c{k}", XSS, 10), (f"c{k}", "buy", 20)]
    events = timed_events(rows)
    # customers of the odd, HTML-looking region wait longest
    events["wait_seconds"] = [(900.0 if int(c[1:]) % 2 else 600.0) if tp == XSS else float("nan")
                              for c, tp in zip(events["customer_id"], events["touchpoint"])]
    events["outcome"] = ["failed" if tp == XSS and i % 2 else "ok"
                         for i, tp in enumerate(events["touchpoint"])]
    events = events[["customer_id", "case_id", "touchpoint", "timestamp", "outcome",
                     "wait_seconds"]]
    events.to_csv(folder / "events.csv", index=False)
    customers = pd.DataFrame({"customer_id": [f"c{k}" for k in range(30)],
                              "region": [XSS if k % 2 else "North" for k in range(30)]})
    customers.to_csv(folder / "customers.csv", index=False)
    pd.DataFrame({"touchpoint": ["look", XSS, "buy"],
                  "stage": ["evaluation", "purchase", "purchase"]}
                 ).to_csv(folder / "touchpoints.csv", index=False)
    project = folder / "xss.duckdb"
    with Project.create(project) as p:
        for kind in ("customers", "touchpoints", "events"):
            ingest_file(p, kind, folder / f"{kind}.csv")
    return project


def test_data_that_looks_like_html_is_shown_as_text(xss_project):
    app = web_app(xss_project, strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as c:
        login(c)
        page = c.get("/journey").text
    assert XSS not in page
    assert "<bdi>&lt;img src=x onerror=alert(1)&gt;</bdi>" in page
    assert 'data-kind="wait"' in page and 'data-kind="failure"' in page
    assert "Longest in <bdi>&lt;img src=x onerror=alert(1)&gt;</bdi>" in page
