"""The web app in a real browser: Playwright drives Debian's Chromium (no browser
download) through every page in every language, clicks through the main interactions,
fails on any console error or failed request, and saves a screenshot of each page in
tests/artifacts/screenshots/."""

import pytest

from conftest import CHROMIUM, SHOTS

LANGUAGES = ("en", "ar", "ru")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def navigation(page) -> list[str]:
    """The pages the navigation bar offers, in order."""
    return [href.split("?")[0] for href in
            page.locator("nav.pages a").evaluate_all("links => links.map(a => a.getAttribute('href'))")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_renders_cleanly_in_every_language(page, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    paths = navigation(page)
    assert len(paths) >= 4
    for path in paths:
        page.goto(f"{path}?lang={language}")
        page.wait_for_load_state("networkidle")  # every request done before moving on
        html = page.locator("html")
        assert html.get_attribute("lang") == language
        assert html.get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
        name = path.strip("/") or "overview"
        page.screenshot(path=str(SHOTS / f"{name}-{language}.png"), full_page=True)
    assert page.problems == []


def test_the_navigation_and_the_incident_form_work_by_clicking(page):
    page.click("nav a[href='/actions']")
    page.wait_for_url("**/actions")
    page.fill("input[name=title]", "Clicked <b>open</b>")
    page.click("form[action='/actions/incidents'] button[type=submit]")
    page.wait_for_load_state()
    assert page.get_by_text("Clicked <b>open</b>").count() >= 1
    page.click("nav a[href='/']")
    page.wait_for_url("**/")
    assert page.problems == []


def test_filters_in_the_url_follow_the_navigation(page):
    page.goto("/?channel=web")
    page.click("nav.pages a[href^='/customers']")
    page.wait_for_url("**/customers?channel=web")
    assert page.problems == []


def test_the_report_file_opens_with_nothing_fetched_from_anywhere(browser, web_demo, tmp_path):
    from corridor.report import build_report

    report = build_report(web_demo, tmp_path / "report.html", language="ar")
    context = browser.new_context()
    tab = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(report.path.as_uri())
    tab.wait_for_load_state("networkidle")
    assert requests == [report.path.as_uri()]
    assert errors == []
    assert tab.locator("html").get_attribute("dir") == "rtl"
    assert tab.locator("section.report-page").count() == len(report.pages)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "report-ar.png"), full_page=False)
    context.close()
