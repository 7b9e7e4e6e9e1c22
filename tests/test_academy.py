"""The academy's learners: tracks by role, progress (lessons read, exercises, quiz
attempts kept and scored), and who sees whose progress. Written against a small course of
our own in tmp_path (``write_course``), so they do not depend on the packaged content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corridor import academy
from corridor.accounts import Role, add_user, get_user
from corridor.course import LIVE_VIEWS, MODULES, TRACK_MODULES, Track, load_course
from corridor.errors import InputError
from corridor.store import Project

# The live views of each module of the test course (every view appears once).
VIEWS_OF_MODULE = {
    1: ("customer_levels",),
    2: ("risk_queue", "latest_incident"),
    3: ("department_corridor", "kpis"),
    4: ("personas", "empathy_map", "efficiency_satisfaction"),
    5: ("department_scorecard", "segments"),
    6: ("corridor_roles", "accessibility"),
    7: ("handoffs", "action_priorities"),
    8: ("maturity", "value_at_risk"),
}
EXERCISE_OF_MODULE = {2: ("five_whys", "latest_incident"), 6: ("choice", "corridor_roles")}


def tracks_of(number: int) -> list[str]:
    return [t.value for t in Track if number in TRACK_MODULES[t]]


def module_data(number: int, lang: str) -> dict:
    tracks = tracks_of(number)
    word = {"en": "Lesson", "ar": "درس", "ru": "Урок"}[lang]
    lessons = [{"id": f"m{number}-{view}", "title": f"{word} {number}.{i + 1}",
                "tracks": tracks, "paragraphs": [f"{word} {number} {view} ({lang})."],
                "live_view": view, "live_caption": f"Look at {view}."}
               for i, view in enumerate(VIEWS_OF_MODULE[number])]
    if number == 1:  # a lesson only track A reads, and one only B and C read
        lessons[0]["tracks"] = ["A"]
        lessons.append({"id": "m1-middle", "title": f"{word} 1.B", "tracks": ["B", "C"],
                        "paragraphs": ["For middle roles."], "live_view": None,
                        "live_caption": None})
    kind, view = EXERCISE_OF_MODULE.get(number, ("text", VIEWS_OF_MODULE[number][0]))
    return {
        "module": number, "title": f"Module {number} ({lang})", "summary": "A summary.",
        "lessons": lessons,
        "exercise": {"id": f"m{number}-exercise", "title": "Do it", "kind": kind,
                     "instructions": "Look and write.", "live_view": view},
        "quiz": [{"id": f"m{number}-q{q}", "question": f"Question {q}?",
                  "choices": [{"id": "a", "text": "Right one", "correct": True,
                               "feedback": f"Right: feedback {q}a."},
                              {"id": "b", "text": "Wrong one", "correct": False,
                               "feedback": f"Wrong: feedback {q}b."}]}
                 for q in (1, 2)],
    }


def write_course(root: Path) -> Path:
    """A complete small course (8 modules × en, ar, ru) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for number in MODULES:
        for lang in ("en", "ar", "ru"):
            (root / f"m{number}.{lang}.json").write_text(
                json.dumps(module_data(number, lang), ensure_ascii=False), "utf-8")
    return root


def test_the_test_course_loads_and_embeds_every_live_view(tmp_path):
    course = load_course(write_course(tmp_path / "course"))
    embedded = {v for views in VIEWS_OF_MODULE.values() for v in views}
    assert embedded == set(LIVE_VIEWS)
    assert course.module(1, "ar").title == "Module 1 (ar)"


@pytest.fixture
def world(tmp_path):
    """A project with two departments' people, and the test course."""
    project = Project.create(tmp_path / "p.duckdb")
    project.con.execute("INSERT INTO departments (department_id, name) VALUES"
                        " ('D-CC', 'Contact centre'), ('D-NET', 'Network')")
    people = {"sam": (Role.STAFF, "D-CC"), "sue": (Role.STAFF, "D-NET"),
              "hana": (Role.DEPARTMENT_HEAD, "D-CC"), "max": (Role.MANAGER, None),
              "ada": (Role.ANALYST, None), "root": (Role.ADMIN, None)}
    for name, (role, department) in people.items():
        add_user(project, name, role, department_id=department, password="long password 1",
                 actor="test")
    course = load_course(write_course(tmp_path / "course"))
    yield project, course, {n: get_user(project, n) for n in people}
    project.close()


def test_each_role_takes_its_track():
    assert academy.track_for(Role.STAFF) is Track.ANY_ROLE
    assert academy.track_for(Role.DEPARTMENT_HEAD) is Track.MIDDLE
    for role in (Role.MANAGER, Role.ANALYST, Role.ADMIN):
        assert academy.track_for(role) is Track.MANAGERS
    assert academy.takes(Role.STAFF, 6) and not academy.takes(Role.STAFF, 7)
    assert academy.takes(Role.DEPARTMENT_HEAD, 7) and not academy.takes(Role.DEPARTMENT_HEAD, 8)
    assert academy.takes(Role.MANAGER, 8)


def test_a_learner_sees_only_their_tracks_modules_and_lessons(world):
    project, course, users = world
    staff = academy.learner_progress(project, users["sam"], course)
    assert [m.module for m in staff.modules] == [1, 2, 3, 4, 5, 6]
    assert staff.module(1).lessons == 1  # the track-A lesson only
    head = academy.learner_progress(project, users["hana"], course)
    assert [m.module for m in head.modules] == [1, 2, 3, 4, 5, 6, 7]
    assert head.module(1).lessons == 1  # the B-and-C lesson only
    manager = academy.learner_progress(project, users["max"], course)
    assert [m.module for m in manager.modules] == list(range(1, 9))
    with pytest.raises(InputError, match="not in track A"):
        academy.answer_quiz(project, users["sam"], course.module(7, "en"), {})
    with pytest.raises(InputError, match="no lesson 'm1-middle' in track A"):
        academy.mark_read(project, users["sam"], course.module(1, "en"), "m1-middle")


def test_reading_a_lesson_counts_once(world):
    project, course, users = world
    module = course.module(2, "en")
    assert academy.mark_read(project, users["sam"], module, "m2-risk_queue") is True
    assert academy.mark_read(project, users["sam"], module, "m2-risk_queue") is False
    progress = academy.learner_progress(project, users["sam"], course).module(2)
    assert (progress.lessons_read, progress.lessons) == (1, 2)
    assert progress.started and not progress.complete


def test_quiz_answers_are_scored_kept_and_a_retry_is_a_new_attempt(world):
    project, course, users = world
    module = course.module(3, "en")
    first = academy.answer_quiz(project, users["sam"], module, {"m3-q1": "a", "m3-q2": "b"})
    assert (first.attempt, first.right, first.score, first.passed) == (1, 1, 0.5, False)
    assert first.answer("m3-q2").correct is False
    assert not academy.learner_progress(project, users["sam"], course).module(3).complete
    second = academy.answer_quiz(project, users["sam"], module, {"m3-q1": "a", "m3-q2": "a"})
    assert (second.attempt, second.score, second.passed) == (2, 1.0, True)
    kept = academy.attempts(project, "sam", 3)
    assert [a.attempt for a in kept] == [1, 2] and [a.score for a in kept] == [0.5, 1.0]
    progress = academy.learner_progress(project, users["sam"], course).module(3)
    assert (progress.attempts, progress.best_score, progress.complete) == (2, 1.0, True)
    # a later failed attempt does not undo the completion; every row stays
    academy.answer_quiz(project, users["sam"], module, {"m3-q1": "b", "m3-q2": "b"})
    assert academy.learner_progress(project, users["sam"], course).module(3).complete
    rows = project.con.execute("SELECT count(*) FROM academy_quiz_answers").fetchone()[0]
    assert rows == 6


def test_an_incomplete_or_unknown_quiz_answer_is_one_sentence_and_writes_nothing(world):
    project, course, users = world
    module = course.module(1, "en")
    with pytest.raises(InputError, match="Answer every question"):
        academy.answer_quiz(project, users["sam"], module, {"m1-q1": "a"})
    with pytest.raises(InputError, match="no choice 'z'"):
        academy.answer_quiz(project, users["sam"], module, {"m1-q1": "a", "m1-q2": "z"})
    assert project.con.execute("SELECT count(*) FROM academy_quiz_answers").fetchone()[0] == 0


def test_exercise_answers_are_all_kept_newest_first(world):
    project, course, users = world
    module = course.module(1, "en")
    with pytest.raises(InputError, match="must not be empty"):
        academy.answer_exercise(project, users["sam"], module, "   ")
    academy.answer_exercise(project, users["sam"], module, "First thought")
    academy.answer_exercise(project, users["sam"], module, "Second thought")
    answers = academy.exercise_answers(project, "sam", 1)
    assert [a for a, _ in answers] == ["Second thought", "First thought"]
    assert academy.learner_progress(project, users["sam"], course).module(1).exercise_done


def test_a_department_head_sees_only_their_department(world):
    project, course, users = world
    team = academy.team_progress(project, users["hana"], course)
    assert team.scope is academy.Scope.DEPARTMENT and team.department_id == "D-CC"
    assert [p.user_name for p in team.learners] == ["hana", "sam"]


def test_managers_and_up_see_the_whole_company_and_staff_no_team(world):
    project, course, users = world
    for name in ("max", "ada", "root"):
        team = academy.team_progress(project, users[name], course)
        assert team.scope is academy.Scope.COMPANY
        assert [p.user_name for p in team.learners] == ["ada", "hana", "max", "root", "sam",
                                                        "sue"]
    assert academy.team_progress(project, users["sam"], course) is None


def test_completion_share_counts_modules_passed_over_modules_to_take(world):
    project, course, users = world
    assert academy.completion_share(project, course) == 0.0
    for number in (1, 2, 3):
        academy.answer_quiz(project, users["sam"], course.module(number, "en"),
                            {f"m{number}-q1": "a", f"m{number}-q2": "a"})
    # modules to take: 6 + 6 (staff) + 7 (head) + 8 × 3 (manager, analyst, admin) = 43
    assert academy.completion_share(project, course) == pytest.approx(3 / 43)
