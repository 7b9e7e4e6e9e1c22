"""The web app in a real browser: Playwright drives Debian's Chromium (no browser
download) through every page in every language, clicks through the main interactions,
fails on any console error or failed request, and saves a screenshot of each page in
tests/artifacts/screenshots/."""

from pathlib import Path

import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import served

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "artifacts" / "screenshots"
PAGES = ("/", "/customers", "/experience", "/actions")
LANGUAGES = ("en", "ar", "ru")
PASSWORD = "browser horse"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("browser") / "company.duckdb",
                       DemoConfig(customers=1200, seed=6))
    with served(built.project, PASSWORD) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, base):
    """A logged-in page that records every console error, page error and failed request."""
    context = browser.new_context(base_url=base)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: None if _favicon_cut_short(r) else problems.append(
        f"failed: {r.url} ({r.failure})"))
    tab.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    tab.goto("/login")
    tab.fill("input[name=username]", "admin")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(base + "/")
    tab.problems = problems
    yield tab
    context.close()


def _favicon_cut_short(request) -> bool:
    """Chromium fetches the icon lazily and drops the fetch when the test moves on to
    the next page: not a failure of the app."""
    return request.url.endswith("/favicon.svg") and request.failure == "net::ERR_ABORTED"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_renders_cleanly_in_every_language(page, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path in PAGES:
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
