"""The personas and department scorecards pages in a real browser: switch the empathy
map's group and the department by clicking (htmx swaps the page in place and the URL
follows), in English and Arabic, with no console error or failed request; screenshots in
tests/artifacts/screenshots/."""

import pytest

from conftest import CHROMIUM, SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_switching_the_empathy_maps_group(page, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(120_000)  # the first visit computes the personas
    page.goto(f"/personas?lang={language}")
    page.wait_for_selector("h3.group-title[data-group='persona:1']")
    assert page.locator("article.persona").count() >= 2
    link = page.locator(".group-row a[data-group^='segment:']").first
    group = link.get_attribute("data-group")
    link.click()
    page.wait_for_selector(f"h3.group-title[data-group='{group}']")
    assert "group=segment" in page.url
    assert page.locator(f".group-row a[data-group='{group}'][aria-current='true']").count() == 1
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"personas-{language}.png"), full_page=True)
    assert page.problems == []


@pytest.mark.parametrize("language", ["en", "ar"])
def test_switching_the_department(page, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(120_000)
    page.goto(f"/departments?lang={language}")
    page.wait_for_selector("#scorecard")
    first = page.locator("#scorecard").get_attribute("data-department")
    link = page.locator(".department-list a:not([aria-current])").first
    department = link.get_attribute("data-department")
    assert department != first
    link.click()
    page.wait_for_selector(f"#scorecard[data-department='{department}']")
    assert f"dept={department}" in page.url
    assert page.locator("svg.flow-chart path.link").count() >= 1
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"departments-{language}.png"), full_page=True)
    assert page.problems == []
