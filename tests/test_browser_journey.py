"""The journey map in a real browser: changing the heat metric recolours the map in place
(htmx) and puts the choice in the URL, the stages run right to left in Arabic, the emotion
curve is there with its tooltips, and nothing fails on the way."""

import pytest

from conftest import CHROMIUM, SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def stage_x(page, stage: str) -> float:
    return page.locator(f'.journey-grid > .stage[data-stage="{stage}"]').bounding_box()["x"]


def test_changing_the_heat_metric_recolours_the_map_in_place(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/journey?lang=en")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Journey map"
    assert page.locator(".journey-grid").get_attribute("data-metric") == "volume"
    # one tooltip per stage: a point where customers rated it, "no data" where not
    assert page.locator(".emotion-curve g.point title").count() >= 5
    assert page.locator(".emotion-curve circle title").count() >= 1
    assert page.locator(".emotion-curve text.no-data").count() >= 1
    assert stage_x(page, "need") < stage_x(page, "evaluation")
    page.screenshot(path=str(SHOTS / "journey-en.png"), full_page=True)

    page.select_option("#heat-metric", "wait")
    page.wait_for_selector('.journey-grid[data-metric="wait"]')
    page.wait_for_load_state("networkidle")
    assert "metric=wait" in page.url
    hot = page.locator('.cell[data-touchpoint="installation_visit"]')
    assert "heat-bad-4" in hot.get_attribute("class")
    # the filter bar was swapped too: it keeps the new metric for the next filter change
    assert page.locator('form.filters input[name="metric"]').get_attribute("value") == "wait"
    page.screenshot(path=str(SHOTS / "journey-en-wait.png"), full_page=True)
    assert page.problems == []


def test_the_map_reads_right_to_left_in_arabic(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/journey?lang=ar&metric=satisfaction")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert stage_x(page, "need") > stage_x(page, "evaluation")
    stages = page.locator(".emotion-curve g.point text.stage-label")
    first = float(stages.first.get_attribute("x"))
    last = float(stages.last.get_attribute("x"))
    assert first > last  # the curve starts on the right, like the grid
    page.screenshot(path=str(SHOTS / "journey-ar.png"), full_page=True)

    page.select_option("#heat-metric", "conversion")
    page.wait_for_selector('.journey-grid[data-metric="conversion"]')
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.problems == []


def test_the_metric_form_works_without_htmx(page):
    page.route("**/static/htmx.min.js",
               lambda route: route.fulfill(body="", content_type="text/javascript"))
    page.goto("/journey?lang=ru")
    page.select_option("#heat-metric", "conversion")
    page.click("form.heat-form button[type=submit]")
    page.wait_for_url(lambda url: "/journey?" in url and "metric=conversion" in url)
    assert page.locator(".journey-grid").get_attribute("data-metric") == "conversion"
    assert page.problems == []
