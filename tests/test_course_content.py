"""The academy's course content: all eight modules in English, Arabic and Russian load,
agree with each other, follow the programme's tracks, embed live views that exist, and
have quizzes with one right answer and feedback on every choice. The loader's refusals
are checked on broken copies of the course in tmp_path."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from corridor.course import (
    COURSE_DIR,
    COURSE_LANGUAGES,
    LIVE_VIEWS,
    MODULES,
    TRACK_MODULES,
    Course,
    CourseError,
    ExerciseKind,
    Module,
    Track,
    load_course,
    module_path,
)

ARABIC = re.compile(r"[\u0600-\u06FF]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LETTERS = re.compile(r"[^\W\d_]")


@pytest.fixture(scope="module")
def course() -> Course:
    return load_course()


def all_modules(course: Course) -> list[Module]:
    return [course.module(n, lang) for n in MODULES for lang in COURSE_LANGUAGES]


def texts(module: Module) -> list[str]:
    """Every text a learner reads in a module."""
    found = [module.title, module.summary, module.exercise.title,
             module.exercise.instructions]
    for lesson in module.lessons:
        found += [lesson.title, *lesson.paragraphs]
        if lesson.live_caption:
            found.append(lesson.live_caption)
    for question in module.quiz:
        found.append(question.text)
        for choice in question.choices:
            found += [choice.text, choice.feedback]
    return found


def course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(COURSE_DIR, root)
    return root


def edit(root: Path, number: int, lang: str, change) -> Path:
    path = module_path(number, lang, root)
    data = json.loads(path.read_text("utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def refusal(root: Path) -> str:
    with pytest.raises(CourseError) as caught:
        load_course(root)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    assert "Traceback" not in message
    return message


# --- the packaged course ------------------------------------------------------------

def test_every_module_exists_in_every_language_and_loads(course):
    assert sorted(course.modules) == sorted(
        (n, lang) for n in MODULES for lang in COURSE_LANGUAGES)
    expected = {f"m{n}.{lang}.json" for n in MODULES for lang in COURSE_LANGUAGES}
    assert {p.name for p in COURSE_DIR.glob("*.json")} == expected
    for (number, lang), module in course.modules.items():
        assert (module.number, module.lang) == (number, lang)


def test_every_question_has_exactly_one_correct_answer_and_feedback_on_every_choice(course):
    for module in all_modules(course):
        assert 3 <= len(module.quiz) <= 4, (module.number, module.lang)
        for question in module.quiz:
            assert 3 <= len(question.choices) <= 4, question.question_id
            assert len(question.correct) == 1, question.question_id
            assert len({c.choice_id for c in question.choices}) == len(question.choices)
            for choice in question.choices:
                assert choice.feedback.strip(), (question.question_id, choice.choice_id)
                assert choice.feedback != choice.text


def test_correct_answers_are_not_always_in_the_same_place(course):
    places = {q.correct[0] for n in MODULES for q in course.module(n, "en").quiz}
    assert len(places) >= 3


def test_every_embedded_live_view_exists_and_every_module_embeds_one(course):
    for module in all_modules(course):
        embedded = [lesson for lesson in module.lessons if lesson.live_view]
        assert embedded, f"module {module.number} ({module.lang}) embeds no live view"
        for lesson in module.lessons:
            assert lesson.live_view is None or lesson.live_view in LIVE_VIEWS
            # a drawn view always comes with what to look for in it, and only then
            assert bool(lesson.live_caption) == bool(lesson.live_view), lesson.lesson_id
        assert module.exercise.live_view is None or module.exercise.live_view in LIVE_VIEWS


def test_each_module_ties_to_the_live_views_of_the_programme(course):
    programme = {1: {"customer_levels"}, 2: {"risk_queue", "latest_incident"},
                 3: {"department_corridor", "kpis"},
                 4: {"personas", "empathy_map", "efficiency_satisfaction"},
                 5: {"department_scorecard", "segments"},
                 6: {"corridor_roles", "accessibility"},
                 7: {"handoffs", "action_priorities"}, 8: {"maturity", "value_at_risk"}}
    for number, views in programme.items():
        module = course.module(number, "en")
        used = {l.live_view for l in module.lessons} | {module.exercise.live_view}
        assert views <= used, (number, views - used)
        assert used - {None} <= views, (number, used - views)


def test_each_track_sees_its_modules_and_has_lessons_in_each(course):
    assert TRACK_MODULES[Track.ANY_ROLE] == (1, 2, 3, 4, 5, 6)
    assert TRACK_MODULES[Track.MIDDLE] == (1, 2, 3, 4, 5, 6, 7)
    assert TRACK_MODULES[Track.MANAGERS] == (1, 2, 3, 4, 5, 6, 7, 8)
    for track, numbers in TRACK_MODULES.items():
        for lang in COURSE_LANGUAGES:
            modules = course.track(track, lang)
            assert [m.number for m in modules] == list(numbers)
            for module in modules:
                assert 2 <= len(module.lessons_for(track)) <= 4, (track, module.number)


def test_lessons_name_only_the_tracks_that_take_their_module(course):
    for number in MODULES:
        module = course.module(number, "en")
        for lesson in module.lessons:
            assert set(lesson.tracks) <= set(module.tracks), lesson.lesson_id
    assert course.module(7, "en").tracks == (Track.MIDDLE, Track.MANAGERS)
    assert course.module(8, "en").tracks == (Track.MANAGERS,)


def test_middle_roles_get_their_own_angle_where_the_programme_gives_one(course):
    for number in (1, 3, 4, 5):
        lessons = course.module(number, "en").lessons
        own = [l for l in lessons if set(l.tracks) == {Track.MIDDLE, Track.MANAGERS}]
        assert own, f"module {number} has no lesson for tracks B and C only"
        assert any(Track.ANY_ROLE in l.tracks for l in lessons)


def test_lessons_are_short_and_ids_are_unique(course):
    every_id = []
    for number in MODULES:
        module = course.module(number, "en")
        assert 2 <= len(module.lessons) <= 4
        for lesson in module.lessons:
            assert 2 <= len(lesson.paragraphs) <= 4, lesson.lesson_id
            assert all(len(p.split()) <= 120 for p in lesson.paragraphs), lesson.lesson_id
        ids = [l.lesson_id for l in module.lessons] + [module.exercise.exercise_id]
        ids += [q.question_id for q in module.quiz]
        assert all(i.startswith(f"m{number}-") for i in ids), ids
        every_id += ids
    assert len(every_id) == len(set(every_id))


def test_exercises_are_done_on_live_data(course):
    kinds = {n: course.module(n, "en").exercise.kind for n in MODULES}
    assert kinds[2] is ExerciseKind.FIVE_WHYS
    assert course.module(2, "en").exercise.live_view == "latest_incident"
    assert kinds[6] is ExerciseKind.CHOICE
    assert all(kinds[n] is ExerciseKind.TEXT for n in MODULES if n not in (2, 6))
    for number in MODULES:
        exercise = course.module(number, "en").exercise
        assert exercise.live_view or exercise.kind is ExerciseKind.FIVE_WHYS


def test_quoted_figures_name_their_source(course):
    figure = re.compile(r"\d+ ?%|a third|one in (three|five)", re.IGNORECASE)
    for number in MODULES:
        for lesson in course.module(number, "en").lessons:
            for paragraph in lesson.paragraphs:
                for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
                    if figure.search(sentence):
                        assert "American Express" in sentence or "PwC" in sentence, \
                            sentence


def test_arabic_and_russian_are_translations_not_copies(course):
    for number in MODULES:
        english = course.module(number, "en")
        english_texts = set(texts(english))
        for lang, script in (("ar", ARABIC), ("ru", CYRILLIC)):
            other = course.module(number, lang)
            for lesson, original in zip(other.lessons, english.lessons):
                assert lesson.lesson_id == original.lesson_id
                assert not set(lesson.paragraphs) & set(original.paragraphs)
            for text in texts(other):
                assert text not in english_texts, (lang, text)
                assert script.search(text), (lang, text)
                # letters outside the script are only names and abbreviations
                foreign = [c for c in LETTERS.findall(text) if not script.match(c)]
                assert len(foreign) <= 20, (lang, text)


def test_arabic_text_contains_no_latin_words_except_known_names(course):
    allowed = {"NPS", "CSAT", "CES", "PwC"}
    for number in MODULES:
        for text in texts(course.module(number, "ar")):
            assert set(re.findall(r"[A-Za-z]+", text)) <= allowed, text


def test_translations_keep_the_same_shape_as_english(course):
    for number in MODULES:
        english = course.module(number, "en")
        for lang in COURSE_LANGUAGES[1:]:
            other = course.module(number, lang)
            assert [q.correct for q in other.quiz] == [q.correct for q in english.quiz]
            assert [len(l.paragraphs) for l in other.lessons] == \
                [len(l.paragraphs) for l in english.lessons]
            assert [bool(l.live_caption) for l in other.lessons] == \
                [bool(l.live_caption) for l in english.lessons]


# --- the loader's refusals ----------------------------------------------------------

def test_a_copy_of_the_course_loads_from_another_root(tmp_path):
    assert len(load_course(course_copy(tmp_path)).modules) == len(MODULES) * 3


def test_a_missing_module_file_is_refused_naming_the_file(tmp_path):
    root = course_copy(tmp_path)
    module_path(3, "ru", root).unlink()
    message = refusal(root)
    assert "no module 3 in ru" in message
    assert str(module_path(3, "ru", root)) in message and "missing" in message


def test_broken_json_is_refused_with_its_line_and_column(tmp_path):
    root = course_copy(tmp_path)
    path = module_path(2, "ar", root)
    path.write_text('{\n  "module": 2,\n  "title": "x"\n  "summary": "y"\n}\n', "utf-8")
    message = refusal(root)
    assert message.startswith(f"{path}, line 4, column 3: not valid JSON")


def test_an_unknown_live_view_is_refused_naming_the_file_and_the_known_views(tmp_path):
    root = course_copy(tmp_path)
    path = edit(root, 1, "en",
                lambda d: d["lessons"][0].update(live_view="customer_moods"))
    message = refusal(root)
    assert message.startswith(f"{path}, lesson 1: live view 'customer_moods' does not "
                              "exist")
    assert "customer_levels" in message


def test_an_unknown_live_view_in_an_exercise_is_refused(tmp_path):
    root = course_copy(tmp_path)
    path = edit(root, 5, "en", lambda d: d["exercise"].update(live_view="weather"))
    assert refusal(root).startswith(f"{path}, exercise: live view 'weather'")


def test_two_correct_answers_are_refused_naming_the_file_and_question(tmp_path):
    root = course_copy(tmp_path)

    def two_correct(data):
        for choice in data["quiz"][1]["choices"]:
            choice["correct"] = True

    path = edit(root, 4, "en", two_correct)
    assert refusal(root) == f"{path}, question 2: exactly one choice must be correct."


def test_a_translation_whose_correct_answer_differs_is_refused(tmp_path):
    root = course_copy(tmp_path)

    def move_correct(data):
        for choice in data["quiz"][0]["choices"]:
            choice["correct"] = not choice["correct"] and choice["id"] == "c"

    path = edit(root, 6, "ru", move_correct)
    message = refusal(root)
    assert message.startswith(f"{path} does not match the English module")
    assert "correct answers" in message


def test_a_lesson_for_a_track_that_does_not_take_the_module_is_refused(tmp_path):
    root = course_copy(tmp_path)
    for lang in COURSE_LANGUAGES:
        edit(root, 7, lang, lambda d: d["lessons"][0].update(tracks=["A", "B", "C"]))
    message = refusal(root)
    assert str(module_path(7, "en", root)) in message
    assert "does not take this module" in message
