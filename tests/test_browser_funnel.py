"""The funnel builder in a real browser: add a step with the form, choose another
touchpoint and a breakdown, remove a step, in English and in Arabic (bars growing from
the right), with no console error or failed request; screenshots in
tests/artifacts/screenshots/funnel-*.png."""

import pytest

from conftest import CHROMIUM, SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def counts(page) -> list[int]:
    return [int(n) for n in page.locator("table.funnel tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.cases)")]


def bar_edges(page, position: int) -> tuple[float, float, float, float]:
    """The left and right edges of a step's bar and of its track, in pixels."""
    row = page.locator(f"table.funnel tr[data-step='{position}']")
    bar = row.locator(".fill").bounding_box()
    track = row.locator(".track").bounding_box()
    return bar["x"], bar["x"] + bar["width"], track["x"], track["x"] + track["width"]


def test_building_a_funnel_by_clicking(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/funnel?lang=en")
    page.wait_for_load_state("networkidle")
    first = counts(page)
    assert len(first) >= 2
    assert all(later <= earlier for earlier, later in zip(first, first[1:]))

    # add a step with the form's button, then pick another touchpoint for it
    page.click("button.secondary[name=step]")
    page.wait_for_load_state("networkidle")
    assert len(counts(page)) == len(first) + 1
    last = page.locator("select[name=step]").last
    last.select_option("app_login")
    # and break the funnel down by segment
    page.select_option("select[name=by]", "segment")
    page.click("form.funnel-form button[type=submit]:not([name])")
    page.wait_for_load_state("networkidle")
    assert "by=segment" in page.url and "app_login" in page.url
    assert page.locator("table.breakdown tbody tr").count() >= 2
    steps = counts(page)
    assert len(steps) == len(first) + 1 and steps[:-1] == first
    # left to right: every bar starts at its track's left edge
    bar_left, _, track_left, _ = bar_edges(page, 2)
    assert abs(bar_left - track_left) < 1
    page.screenshot(path=str(SHOTS / "funnel-en.png"), full_page=True)

    # remove the step that was added: the funnel is the first one again
    page.locator("a.remove-step").last.click()
    page.wait_for_load_state("networkidle")
    assert counts(page) == first
    assert page.locator("table.breakdown").count() == 1  # the breakdown stays chosen
    assert page.problems == []


def test_the_arabic_funnel_grows_from_the_right(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/funnel?lang=ar&by=channel&within=2160")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("dir") == "rtl"
    _, bar_right, _, track_right = bar_edges(page, 2)
    assert abs(bar_right - track_right) < 1
    page.screenshot(path=str(SHOTS / "funnel-ar.png"), full_page=True)
    page.goto("/funnel?lang=ru&by=segment")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "funnel-ru.png"), full_page=True)
    assert page.problems == []
