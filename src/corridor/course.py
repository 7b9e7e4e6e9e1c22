"""The customer-culture course as data: one file per module and language
(``course/m<N>.<lang>.json``), read into typed lessons, exercises and quizzes.

The programme (``shared/COURSE.md``) has three tracks: A (any role) takes modules 1–6,
B (middle roles) 1–7, C (managers) the B modules plus 8. A module's lessons may differ by
track (a lesson lists the tracks that read it). Each lesson may embed one live view of
the learner's own company, named from :data:`LIVE_VIEWS`; the academy pages draw it.

The files of one module must agree across languages on everything but the words: the
same lesson, exercise and question ids, the same tracks, live views and correct answers.
:func:`load_course` checks that and raises :class:`CourseError` with the file and the
problem.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import CorridorError

COURSE_DIR = Path(__file__).parent / "course"
MODULES = tuple(range(1, 9))
COURSE_LANGUAGES = ("en", "ar", "ru")


class Track(str, enum.Enum):
    ANY_ROLE = "A"
    MIDDLE = "B"
    MANAGERS = "C"


# The modules each track takes, in order (COURSE.md: managers take track B first).
TRACK_MODULES: dict[Track, tuple[int, ...]] = {
    Track.ANY_ROLE: (1, 2, 3, 4, 5, 6),
    Track.MIDDLE: (1, 2, 3, 4, 5, 6, 7),
    Track.MANAGERS: (1, 2, 3, 4, 5, 6, 7, 8),
}

# The live views a lesson or exercise may embed: name -> what it shows. The academy
# pages (web_academy) draw each from the learner's own project.
LIVE_VIEWS: dict[str, str] = {
    "customer_levels": "customers by level (person, company, intermediary, corporate, "
                       "department) and relation (direct, end)",
    "risk_queue": "the customers most at risk of leaving, with their reasons",
    "latest_incident": "the latest incident with its 5-Whys tree and actions",
    "department_corridor": "the corridor map with the learner's department's touchpoints "
                           "marked",
    "kpis": "the figures to watch: journeys, failed share, median wait, NPS, CSAT, CES "
            "and their change since the last period",
    "personas": "the persona cards of the company's customers",
    "empathy_map": "an empathy map (thinks and feels, says, does, goals and fears)",
    "efficiency_satisfaction": "touchpoints by cost to serve against satisfaction",
    "department_scorecard": "the learner's department scorecard: where our work goes",
    "segments": "customer segments by characteristics and by usage",
    "corridor_roles": "the basic corridor, the optional touchpoints and the alternative "
                      "doors",
    "accessibility": "how accessible the company is: waiting, reachability and failed "
                     "contacts per channel",
    "handoffs": "hand-offs between departments",
    "action_priorities": "open actions and bottlenecks in the order to fix them",
    "maturity": "the customer-focus maturity assessment: stage, evidence, next steps",
    "value_at_risk": "customer value and revenue at risk",
}


class ExerciseKind(str, enum.Enum):
    TEXT = "text"          # the learner writes an answer (kept with their progress)
    CHOICE = "choice"      # the learner picks one item the live view lists
    FIVE_WHYS = "five_whys"  # the learner writes whys for a real incident (actions page)


class CourseError(CorridorError):
    """A course file is missing, unreadable or disagrees with the others."""


@dataclass(frozen=True)
class Lesson:
    lesson_id: str
    title: str
    tracks: tuple[Track, ...]
    paragraphs: tuple[str, ...]
    live_view: str | None
    live_caption: str | None  # what to look at in the live view


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    title: str
    kind: ExerciseKind
    instructions: str
    live_view: str | None


@dataclass(frozen=True)
class Choice:
    choice_id: str
    text: str
    correct: bool
    feedback: str  # why this answer is right or wrong


@dataclass(frozen=True)
class Question:
    question_id: str
    text: str
    choices: tuple[Choice, ...]

    @property
    def correct(self) -> tuple[str, ...]:
        return tuple(c.choice_id for c in self.choices if c.correct)


@dataclass(frozen=True)
class Module:
    number: int
    lang: str
    title: str
    summary: str
    lessons: tuple[Lesson, ...]
    exercise: Exercise
    quiz: tuple[Question, ...]

    def lessons_for(self, track: Track) -> tuple[Lesson, ...]:
        return tuple(lesson for lesson in self.lessons if track in lesson.tracks)

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(t for t in Track if self.number in TRACK_MODULES[t])

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.quiz if q.question_id == question_id), None)


def module_path(number: int, lang: str, root: Path = COURSE_DIR) -> Path:
    return root / f"m{number}.{lang}.json"


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CourseError(f"{where}: '{key}' must be a non-empty text.")
    return value


def _live_view(data: dict, where: str) -> str | None:
    view = data.get("live_view")
    if view is not None and view not in LIVE_VIEWS:
        raise CourseError(f"{where}: live view {view!r} does not exist; known views are "
                          f"{', '.join(sorted(LIVE_VIEWS))}.")
    return view


def _tracks(data: dict, where: str) -> tuple[Track, ...]:
    raw = data.get("tracks")
    if not isinstance(raw, list) or not raw:
        raise CourseError(f"{where}: 'tracks' must list at least one of A, B, C.")
    try:
        return tuple(Track(t) for t in raw)
    except ValueError:
        raise CourseError(f"{where}: tracks must be A, B or C; got {raw}.") from None


def _parse_module(data: dict, number: int, lang: str, where: str) -> Module:
    if data.get("module") != number:
        raise CourseError(f"{where}: 'module' must be {number}.")
    lessons = []
    for i, raw in enumerate(data.get("lessons") or []):
        at = f"{where}, lesson {i + 1}"
        paragraphs = raw.get("paragraphs")
        if not isinstance(paragraphs, list) or not paragraphs or not all(
                isinstance(p, str) and p.strip() for p in paragraphs):
            raise CourseError(f"{at}: 'paragraphs' must be a list of non-empty texts.")
        lessons.append(Lesson(_text(raw, "id", at), _text(raw, "title", at),
                              _tracks(raw, at), tuple(paragraphs), _live_view(raw, at),
                              raw.get("live_caption")))
    if not lessons:
        raise CourseError(f"{where}: a module needs at least one lesson.")
    raw = data.get("exercise")
    if not isinstance(raw, dict):
        raise CourseError(f"{where}: the module has no exercise.")
    try:
        kind = ExerciseKind(raw.get("kind"))
    except ValueError:
        raise CourseError(f"{where}, exercise: kind must be one of "
                          f"{', '.join(k.value for k in ExerciseKind)}.") from None
    exercise = Exercise(_text(raw, "id", f"{where}, exercise"),
                        _text(raw, "title", f"{where}, exercise"), kind,
                        _text(raw, "instructions", f"{where}, exercise"),
                        _live_view(raw, f"{where}, exercise"))
    quiz = []
    for i, raw in enumerate(data.get("quiz") or []):
        at = f"{where}, question {i + 1}"
        choices = tuple(
            Choice(_text(c, "id", at), _text(c, "text", at), c.get("correct") is True,
                   _text(c, "feedback", at))
            for c in raw.get("choices") or [])
        if len(choices) < 2:
            raise CourseError(f"{at}: a question needs at least two choices.")
        if sum(c.correct for c in choices) != 1:
            raise CourseError(f"{at}: exactly one choice must be correct.")
        quiz.append(Question(_text(raw, "id", at), _text(raw, "question", at), choices))
    if not quiz:
        raise CourseError(f"{where}: a module needs a quiz of at least one question.")
    return Module(number, lang, _text(data, "title", where), _text(data, "summary", where),
                  tuple(lessons), exercise, tuple(quiz))


def read_module(number: int, lang: str, root: Path = COURSE_DIR) -> Module:
    path = module_path(number, lang, root)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CourseError(f"The course has no module {number} in {lang}: {path} is "
                          "missing.") from None
    except json.JSONDecodeError as exc:
        raise CourseError(f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON "
                          f"({exc.msg}).") from None
    if not isinstance(data, dict):
        raise CourseError(f"{path}: a module file holds one JSON object.")
    return _parse_module(data, number, lang, str(path))


def _shape(module: Module) -> tuple:
    """Everything about a module that must not depend on its language."""
    return (
        tuple((l.lesson_id, l.tracks, l.live_view) for l in module.lessons),
        (module.exercise.exercise_id, module.exercise.kind, module.exercise.live_view),
        tuple((q.question_id, tuple((c.choice_id, c.correct) for c in q.choices))
              for q in module.quiz),
    )


@dataclass(frozen=True)
class Course:
    modules: dict[tuple[int, str], Module]  # (number, lang) -> module

    def module(self, number: int, lang: str) -> Module:
        return self.modules[(number, lang if lang in COURSE_LANGUAGES else "en")]

    def track(self, track: Track, lang: str) -> tuple[Module, ...]:
        return tuple(self.module(n, lang) for n in TRACK_MODULES[track])


def load_course(root: Path = COURSE_DIR) -> Course:
    """Every module in every language, checked to agree across languages."""
    modules: dict[tuple[int, str], Module] = {}
    for number in MODULES:
        english = read_module(number, "en", root)
        modules[(number, "en")] = english
        for lang in COURSE_LANGUAGES[1:]:
            other = read_module(number, lang, root)
            if _shape(other) != _shape(english):
                raise CourseError(
                    f"{module_path(number, lang, root)} does not match the English module "
                    "(lesson, exercise or question ids, tracks, live views or correct "
                    "answers differ).")
            modules[(number, lang)] = other
        if any(t not in english.tracks for l in english.lessons for t in l.tracks):
            raise CourseError(f"{module_path(number, 'en', root)}: a lesson names a track "
                              "that does not take this module.")
        for track in english.tracks:
            if not english.lessons_for(track):
                raise CourseError(f"{module_path(number, 'en', root)}: track {track.value}"
                                  " has no lesson in this module.")
    return Course(modules)


@lru_cache(maxsize=1)
def course() -> Course:
    """The packaged course, read and checked once."""
    return load_course()
