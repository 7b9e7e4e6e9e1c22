"""The academy's learners: which track each role takes, and each learner's progress
through it, kept in the project (schema 5).

Tracks by role: staff take track A (any role), department heads track B (middle roles),
managers, analysts and admins track C (managers: track B's modules, then module 8).

Progress per user and module: the lessons read, whether the exercise was answered, and
every quiz attempt (one row per answer, insert-only; a retry is a new attempt, the old
ones stay). An attempt *passes* when every question of the module was answered right; a
module is *complete* once any attempt passed. Team progress: a department head sees the
people of their department (``users.department_id``), managers and up everyone.

Writes take an open read-write project (the web app passes them to ``Site.write``);
reads take one open read-only. Bad input is one :class:`~corridor.errors.InputError`
sentence.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from .accounts import Permission, Role, User, list_users, may
from .course import TRACK_MODULES, Course, Module, Track
from .errors import InputError

MAX_ANSWER = 4000  # characters of an exercise answer

TRACK_OF_ROLE: dict[Role, Track] = {
    Role.STAFF: Track.ANY_ROLE,
    Role.DEPARTMENT_HEAD: Track.MIDDLE,
    Role.MANAGER: Track.MANAGERS,
    Role.ANALYST: Track.MANAGERS,
    Role.ADMIN: Track.MANAGERS,
}


def track_for(role: Role) -> Track:
    return TRACK_OF_ROLE[role]


def takes(role: Role, module: int) -> bool:
    """Whether a learner of ``role`` has ``module`` in their track."""
    return module in TRACK_MODULES[track_for(role)]


# ---- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    question_id: str
    choice_id: str
    correct: bool


@dataclass(frozen=True)
class QuizAttempt:
    module: int
    attempt: int  # 1, 2, … in the order taken
    answers: tuple[Answer, ...]
    answered_at: dt.datetime

    @property
    def right(self) -> int:
        return sum(a.correct for a in self.answers)

    @property
    def score(self) -> float:
        """The share of answers that were right."""
        return self.right / len(self.answers) if self.answers else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.answers) and all(a.correct for a in self.answers)

    def answer(self, question_id: str) -> Answer | None:
        return next((a for a in self.answers if a.question_id == question_id), None)


@dataclass(frozen=True)
class ModuleProgress:
    module: int
    lessons: int  # lessons of this module in the learner's track
    lessons_read: int
    exercise_done: bool
    attempts: int
    best_score: float | None  # None: no attempt yet
    passed: bool

    @property
    def complete(self) -> bool:
        return self.passed

    @property
    def started(self) -> bool:
        return bool(self.lessons_read or self.exercise_done or self.attempts)


@dataclass(frozen=True)
class LearnerProgress:
    user_name: str
    role: Role
    department_id: str | None
    track: Track
    modules: tuple[ModuleProgress, ...]  # the track's modules, in order

    @property
    def completed(self) -> int:
        return sum(m.complete for m in self.modules)

    @property
    def share(self) -> float:
        return self.completed / len(self.modules) if self.modules else 0.0

    def module(self, number: int) -> ModuleProgress | None:
        return next((m for m in self.modules if m.module == number), None)


class Scope(str, enum.Enum):
    DEPARTMENT = "department"
    COMPANY = "company"


@dataclass(frozen=True)
class TeamProgress:
    scope: Scope
    department_id: str | None  # the department for Scope.DEPARTMENT
    learners: tuple[LearnerProgress, ...]  # by user name

    @property
    def completed_share(self) -> float | None:
        """Modules completed over modules to take, across the learners."""
        total = sum(len(p.modules) for p in self.learners)
        return sum(p.completed for p in self.learners) / total if total else None


# ---- writes -------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _check_module(user: User, module: Module) -> None:
    if not takes(user.role, module.number):
        raise InputError(f"Module {module.number} is not in track "
                         f"{track_for(user.role).value}, which {user.user_name} takes.")


def mark_read(project, user: User, module: Module, lesson_id: str) -> bool:
    """Record that ``user`` read a lesson (once: reading again adds nothing). True when it
    was new."""
    _check_module(user, module)
    track = track_for(user.role)
    if lesson_id not in {lesson.lesson_id for lesson in module.lessons_for(track)}:
        raise InputError(f"Module {module.number} has no lesson {lesson_id!r} in track "
                         f"{track.value}.")
    seen = project.con.execute(
        "SELECT count(*) FROM academy_lessons_read WHERE user_name = ? AND module = ?"
        " AND lesson_id = ?", [user.user_name, module.number, lesson_id]).fetchone()[0]
    if seen:
        return False
    project.con.execute("INSERT INTO academy_lessons_read VALUES (?, ?, ?, ?)",
                        [user.user_name, module.number, lesson_id, _now()])
    return True


def answer_exercise(project, user: User, module: Module, answer: str) -> None:
    """Keep the learner's answer to the module's exercise (every answer is kept)."""
    _check_module(user, module)
    if not isinstance(answer, str) or not answer.strip():
        raise InputError("An exercise answer must not be empty.")
    if len(answer) > MAX_ANSWER:
        raise InputError(f"An exercise answer may have at most {MAX_ANSWER} characters; "
                         f"this one has {len(answer)}.")
    project.con.execute("INSERT INTO academy_exercise_answers VALUES (?, ?, ?, ?, ?)",
                        [user.user_name, module.number, module.exercise.exercise_id,
                         answer.strip(), _now()])


def score_quiz(module: Module, choices: dict[str, str]) -> tuple[Answer, ...]:
    """Each question's answer, right or wrong; every question needs one known choice."""
    answers = []
    for question in module.quiz:
        chosen = choices.get(question.question_id)
        if not chosen:
            raise InputError("Answer every question of the quiz before sending it.")
        if chosen not in {c.choice_id for c in question.choices}:
            raise InputError(f"Question {question.question_id} has no choice {chosen!r}.")
        answers.append(Answer(question.question_id, chosen, chosen in question.correct))
    return tuple(answers)


def answer_quiz(project, user: User, module: Module, choices: dict[str, str]) -> QuizAttempt:
    """Score an attempt at the module's quiz and keep it (a new attempt; earlier ones
    stay)."""
    _check_module(user, module)
    answers = score_quiz(module, choices)
    attempt = project.con.execute(
        "SELECT coalesce(max(attempt), 0) + 1 FROM academy_quiz_answers"
        " WHERE user_name = ? AND module = ?", [user.user_name, module.number]).fetchone()[0]
    now = _now()
    project.con.executemany(
        "INSERT INTO academy_quiz_answers VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[user.user_name, module.number, attempt, a.question_id, a.choice_id, a.correct, now]
         for a in answers])
    return QuizAttempt(module.number, attempt, answers, now)


# ---- reads --------------------------------------------------------------------------------


def attempts(project, user_name: str, module: int) -> tuple[QuizAttempt, ...]:
    """Every attempt of ``user_name`` at a module's quiz, oldest first."""
    rows = project.con.execute(
        "SELECT attempt, question_id, choice_id, correct, answered_at FROM"
        " academy_quiz_answers WHERE user_name = ? AND module = ? ORDER BY attempt,"
        " question_id", [user_name, module]).fetchall()
    out: dict[int, list] = {}
    when: dict[int, dt.datetime] = {}
    for attempt, question, choice, correct, at in rows:
        out.setdefault(attempt, []).append(Answer(question, choice, bool(correct)))
        when[attempt] = at
    return tuple(QuizAttempt(module, n, tuple(a), when[n]) for n, a in out.items())


def exercise_answers(project, user_name: str, module: int) -> tuple[tuple[str, dt.datetime], ...]:
    """The learner's answers to a module's exercise, newest first."""
    return tuple((a, at) for a, at in project.con.execute(
        "SELECT answer, answered_at FROM academy_exercise_answers WHERE user_name = ? AND"
        " module = ? ORDER BY answered_at DESC, rowid DESC", [user_name, module]).fetchall())


def read_lessons(project, user_name: str, module: int) -> frozenset[str]:
    return frozenset(r[0] for r in project.con.execute(
        "SELECT lesson_id FROM academy_lessons_read WHERE user_name = ? AND module = ?",
        [user_name, module]).fetchall())


def _progress_of(user: User, course: Course, read: dict, exercised: set,
                 tried: dict) -> LearnerProgress:
    track = track_for(user.role)
    modules = []
    for number in TRACK_MODULES[track]:
        module = course.module(number, "en")
        lessons = {lesson.lesson_id for lesson in module.lessons_for(track)}
        scores = tried.get((user.user_name, number), [])
        modules.append(ModuleProgress(
            module=number, lessons=len(lessons),
            lessons_read=len(lessons & read.get((user.user_name, number), set())),
            exercise_done=(user.user_name, number) in exercised,
            attempts=len(scores), best_score=max(scores) if scores else None,
            passed=bool(scores) and max(scores) >= 1.0))
    return LearnerProgress(user.user_name, user.role, user.department_id, track,
                           tuple(modules))


def _progress(project, users: list[User], course: Course) -> tuple[LearnerProgress, ...]:
    if not users:
        return ()
    names = [u.user_name for u in users]
    marks = ", ".join("?" for _ in names)
    read: dict[tuple[str, int], set[str]] = {}
    for name, module, lesson in project.con.execute(
            f"SELECT DISTINCT user_name, module, lesson_id FROM academy_lessons_read"
            f" WHERE user_name IN ({marks})", names).fetchall():
        read.setdefault((name, module), set()).add(lesson)
    exercised = {(name, module) for name, module in project.con.execute(
        f"SELECT DISTINCT user_name, module FROM academy_exercise_answers"
        f" WHERE user_name IN ({marks})", names).fetchall()}
    tried: dict[tuple[str, int], list[float]] = {}
    for name, module, _, score in project.con.execute(
            f"SELECT user_name, module, attempt, avg(correct::INTEGER) FROM"
            f" academy_quiz_answers WHERE user_name IN ({marks}) GROUP BY ALL ORDER BY ALL",
            names).fetchall():
        tried.setdefault((name, module), []).append(float(score))
    return tuple(_progress_of(u, course, read, exercised, tried) for u in users)


def learner_progress(project, user: User, course: Course) -> LearnerProgress:
    return _progress(project, [user], course)[0]


def team_progress(project, viewer: User, course: Course) -> TeamProgress | None:
    """The progress a viewer may see besides their own: a department head their
    department's active people, managers and up every active account; None for staff."""
    users = [u for u in list_users(project) if not u.disabled]
    if may(viewer.role, Permission.COMPANY_PROGRESS):
        return TeamProgress(Scope.COMPANY, None, _progress(project, users, course))
    if may(viewer.role, Permission.TEAM_PROGRESS) and viewer.department_id is not None:
        team = [u for u in users if u.department_id == viewer.department_id]
        return TeamProgress(Scope.DEPARTMENT, viewer.department_id,
                            _progress(project, team, course))
    return None


def completion_share(project, course: Course) -> float | None:
    """Modules completed over modules to take, across every active account (the
    maturity assessment's course indicator); None when the project has no account."""
    users = [u for u in list_users(project) if not u.disabled]
    return TeamProgress(Scope.COMPANY, None, _progress(project, users, course)).completed_share
