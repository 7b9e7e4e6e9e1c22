"""The corridor map in a real browser: the coverage slider and the view toggle redraw the
map in place (htmx) and keep the URL shareable, the back button returns to the earlier
map, a box leads to the user flow of its touchpoint, the controls work without
JavaScript, and Arabic mirrors the drawing. Screenshots go to tests/artifacts."""

from __future__ import annotations

import re

import pytest

from conftest import BROWSER_PASSWORD, CHROMIUM, SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def edges_drawn(page) -> int:
    return page.locator("svg.corridor-map g.edges g.edge").count()


def test_the_slider_and_the_view_redraw_the_map_in_place(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/map?lang=en")
    page.wait_for_load_state("networkidle")
    before = edges_drawn(page)
    assert before > 0
    page.screenshot(path=str(SHOTS / "map-en.png"), full_page=True)
    page.locator("svg.corridor-map").screenshot(path=str(SHOTS / "map-drawing-en.png"))
    page.evaluate("window.notReloaded = true")  # gone if the page were loaded again

    slider = page.locator("#map-coverage")
    slider.focus()
    page.keyboard.press("End")  # all the way: 100 %
    page.wait_for_url(re.compile(r"/map\?.*coverage=100"))
    page.wait_for_function("document.querySelector('#map-coverage').value === '100'")
    page.wait_for_load_state("networkidle")
    assert edges_drawn(page) > before
    assert page.locator(".coverage-value").inner_text().replace("\u00a0", "") == "100%"
    assert page.evaluate("document.activeElement.id") == "map-coverage"  # focus kept
    # the filter bar now carries the new coverage, so applying a filter keeps it
    assert page.locator("#map-filters input[name=coverage]").get_attribute("value") == "100"

    page.get_by_label("Time").check()
    page.wait_for_url(re.compile(r"/map\?.*view=time"))
    page.wait_for_selector("[data-view=time]")
    page.wait_for_load_state("networkidle")
    assert "coverage=100" in page.url
    labels = page.locator("svg.corridor-map .edge-label").evaluate_all(
        "texts => texts.map(t => t.textContent)")
    assert labels and all(re.search(r" (s|min|h|d)$", text) for text in labels)
    assert page.evaluate("window.notReloaded") is True  # all of it without a page load
    page.screenshot(path=str(SHOTS / "map-time-en.png"), full_page=True)

    page.go_back()  # the earlier map comes back
    page.wait_for_url(re.compile(r"/map\?.*view=frequency"))
    page.wait_for_selector("[data-view=frequency]")
    assert page.problems == []


def test_a_box_leads_to_the_user_flow_of_its_touchpoint(page):
    page.goto("/map?lang=en&channel=web")
    box = page.locator("svg.corridor-map a.node").first
    name = box.get_attribute("data-touchpoint")
    box.click()
    page.wait_for_url(re.compile(r"/flow\?"))
    assert "channel=web" in page.url and f"touchpoint={name}" in page.url
    assert page.problems == []


def test_the_controls_work_without_javascript(browser, browser_base):
    context = browser.new_context(base_url=browser_base, java_script_enabled=False)
    tab = context.new_page()
    tab.goto("/login")
    tab.fill("input[name=username]", "admin")
    tab.fill("input[name=password]", BROWSER_PASSWORD)
    tab.click("button[type=submit]")
    tab.goto("/map?lang=en")
    tab.locator("#map-coverage").fill("40")
    tab.get_by_label("Time").check()
    tab.click("#map-controls button[type=submit]")
    tab.wait_for_url(re.compile(r"/map\?.*coverage=40.*view=time"))
    assert tab.locator("[data-view=time]").count() == 1
    context.close()


def test_arabic_mirrors_the_map(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    positions = {}
    for lang in ("en", "ar"):
        page.goto(f"/map?lang={lang}")
        page.wait_for_load_state("networkidle")
        width = float(page.locator("svg.corridor-map").get_attribute("width"))
        positions[lang] = {
            node.get_attribute("data-touchpoint"):
                (float(node.locator("text.name").get_attribute("x")),
                 float(node.locator("text.name").get_attribute("y")))
            for node in page.locator("svg.corridor-map a.node").all()
        }
    # boxes carry each language's names, so their widths differ: within a layer (one row)
    # the boxes stand in the opposite order
    en, ar = positions["en"], positions["ar"]
    assert set(en) == set(ar)
    pairs = 0
    for a in en:
        for b in en:
            if abs(en[a][1] - en[b][1]) < 1 and en[a][0] < en[b][0] - 1:
                assert ar[a][0] > ar[b][0], (a, b)
                pairs += 1
    assert pairs and max(x for x, _ in ar.values()) <= width
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.screenshot(path=str(SHOTS / "map-ar.png"), full_page=True)
    page.locator("svg.corridor-map").screenshot(path=str(SHOTS / "map-drawing-ar.png"))
    assert page.problems == []
