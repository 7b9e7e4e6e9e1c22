"""The user flow page in a real browser: pick another touchpoint, change the direction
and the depth (htmx swaps the chart and pushes the URL), follow a node, and the same in
Arabic, right to left; screenshots in tests/artifacts/screenshots/."""

import pytest

from conftest import CHROMIUM, SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def anchor_of(page) -> str:
    return page.locator("g.node[data-level='0']").get_attribute("data-node")


def test_pick_a_touchpoint_and_a_direction(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/flow?lang=en")
    page.wait_for_load_state("networkidle")
    first = anchor_of(page)
    options = page.locator("form.flow-form select[name=touchpoint] option").evaluate_all(
        "options => options.map(o => o.value)")
    others = [o for o in options if first != f"0:touchpoint:{o}"]
    chosen = "activation" if "activation" in others else others[0]
    # another touchpoint: htmx swaps the body and pushes the URL
    with page.expect_response(lambda r: "/flow?" in r.url and f"touchpoint={chosen}" in r.url):
        page.select_option("form.flow-form select[name=touchpoint]", chosen)
    page.wait_for_selector(f"g.node[data-node='0:touchpoint:{chosen}']")
    assert f"touchpoint={chosen}" in page.url
    # the other direction
    with page.expect_response(lambda r: "direction=before" in r.url):
        page.check("input[name=direction][value=before]")
    page.wait_for_selector("svg.sankey[data-direction='before']")
    assert "direction=before" in page.url
    # deeper
    with page.expect_response(lambda r: "depth=5" in r.url):
        page.fill("form.flow-form input[name=depth]", "5")
        page.press("form.flow-form input[name=depth]", "Enter")
    page.wait_for_selector("text=" + "Step 5 before")
    assert page.locator("table.paths tbody tr").count() >= 1
    page.screenshot(path=str(SHOTS / "flow-en.png"), full_page=True)
    # a node links to the flow from it (a plain link, filters kept)
    node = page.locator("g.node a").first
    target = node.locator("xpath=..").get_attribute("data-node").split(":")[-1]
    node.click()
    page.wait_for_selector(f"g.node[data-node='0:touchpoint:{target}']")
    # the browser's back button returns to the previous flow
    page.go_back()
    page.wait_for_selector(f"g.node[data-node='0:touchpoint:{chosen}']")
    assert page.problems == []


def test_the_flow_in_arabic_runs_right_to_left(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/flow?lang=ar&depth=4")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("dir") == "rtl"
    anchor = page.locator("g.node[data-level='0'] rect").bounding_box()
    deepest = page.locator("g.node[data-level='4'] rect").first.bounding_box()
    assert anchor["x"] > deepest["x"]  # the flow starts on the right
    page.screenshot(path=str(SHOTS / "flow-ar.png"), full_page=True)
    with page.expect_response(lambda r: "direction=before" in r.url):
        page.check("input[name=direction][value=before]")
    page.wait_for_selector("svg.sankey[data-direction='before']")
    anchor = page.locator("g.node[data-level='0'] rect").bounding_box()
    earlier = page.locator("g.node[data-level='1'] rect").first.bounding_box()
    assert anchor["x"] < earlier["x"]  # looking back, the touchpoint is on the left
    page.screenshot(path=str(SHOTS / "flow-ar-before.png"), full_page=True)
    assert page.problems == []
