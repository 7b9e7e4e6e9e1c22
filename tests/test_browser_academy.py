"""The academy in a real browser, on the packaged course: a learner walks through one
module in each language (reads a lesson, sees the live view, answers the quiz, sees the
feedback on each answer, and their progress updates; the Arabic page is right to left),
and a manager takes the maturity assessment and sees the stage and the history.
Screenshots in tests/artifacts/screenshots/academy-*.png."""

import pytest

from conftest import CHROMIUM, SHOTS, signed_in_tab

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

# A different module per language, so each walk starts from nothing (the server is shared).
MODULE_OF = {"en": 1, "ar": 3, "ru": 5}


def answer(page, module, right: bool) -> None:
    """Tick the right choice of every question (or a wrong one for the first)."""
    for i, question in enumerate(module.quiz):
        choice = question.correct[0]
        if not right and i == 0:
            choice = next(c.choice_id for c in question.choices if not c.correct)
        page.check(f'input[name="q:{question.question_id}"][value="{choice}"]')
    page.click("form.quiz-form button[type=submit]")


@pytest.mark.parametrize("language", ["en", "ar", "ru"])
def test_a_learner_walks_through_a_module(page, language):
    from corridor.course import course

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(120_000)  # the first visit computes the live views
    number = MODULE_OF[language]
    module = course().module(number, language)
    page.goto(f"/academy?lang={language}")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    row = page.locator(f"tr[data-module='{number}']")
    assert row.locator("[data-status='not_started']").count() == 1

    page.goto(f"/academy/{number}")
    assert page.locator("h1").inner_text().endswith(module.title)
    lesson = page.locator("article.lesson").first
    lesson_id = lesson.get_attribute("data-lesson")
    assert page.locator("figure.live-view").count() >= 1
    assert page.locator("figure.live-view table, figure.live-view li").count() >= 1
    lesson.locator("form.lesson-read-form button").click()
    page.wait_for_selector(f"article[data-lesson='{lesson_id}'] [data-read='true']")

    answer(page, module, right=False)
    page.wait_for_selector(".quiz-result[data-passed='false']")
    assert page.locator(".feedback[data-correct='false']").count() == 1
    assert page.locator(".feedback[data-correct='true']").count() == len(module.quiz) - 1
    wrong = next(c for c in module.quiz[0].choices if not c.correct)
    assert wrong.feedback in page.locator(".feedback.wrong").inner_text()

    answer(page, module, right=True)
    page.wait_for_selector(".quiz-result[data-passed='true']")
    assert page.locator(".feedback[data-correct='false']").count() == 0
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"academy-{language}.png"), full_page=True)

    page.goto("/academy")
    assert row.locator("[data-status='complete']").count() == 1
    page.screenshot(path=str(SHOTS / f"academy-progress-{language}.png"), full_page=True)
    assert page.locator(".academy-team").count() == 1  # the admin sees the company
    assert page.problems == []


@pytest.fixture
def manager(browser, browser_base):
    yield from signed_in_tab(browser, browser_base, "manager")


def test_a_manager_takes_the_maturity_assessment(manager):
    from corridor.maturity import STATEMENTS

    page = manager
    assert page.locator("[data-role='manager']").count() >= 1

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(120_000)
    page.goto("/maturity?lang=en")
    before = page.locator("tr[data-assessment]").count()
    assert page.locator("tr[data-indicator]").count() == 6
    for i, statement in enumerate(STATEMENTS):
        page.check(f'input[name="rating:{statement}"][value="{3 + i % 3}"]')
    page.click("form.maturity-form button[type=submit]")
    page.wait_for_selector("#result[data-kept='true']")
    stage = page.locator("#result").get_attribute("data-stage")
    assert stage in {"1", "2", "3"}
    assert page.locator(f".maturity-stages li[data-stage='{stage}'][aria-current='step']").count() == 1
    assert page.locator("tr[data-assessment]").count() == before + 1
    assert page.locator(f"tr[data-assessment] td[data-stage='{stage}']").count() >= 1
    assert page.locator(".maturity-steps li").count() >= 1 or stage == "3"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "academy-maturity-en.png"), full_page=True)
    page.goto("/maturity?lang=ar")
    assert page.get_attribute("html", "dir") == "rtl"
    page.screenshot(path=str(SHOTS / "academy-maturity-ar.png"), full_page=True)
    page.goto("/academy/8?lang=en")
    assert page.locator("figure[data-live-view='maturity'] [data-stage]").count() == 1
    assert page.problems == []
