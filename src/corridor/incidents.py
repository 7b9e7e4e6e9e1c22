"""Incidents, their 5 Whys and their actions, kept in the project (tables ``incidents``,
``whys`` and ``actions``).

An incident is opened by hand (:func:`open_incident`) or from an exception alarm
(:func:`open_from_alarm`). Its whys form a tree: a why's ``parent_id`` is the why it
explains (None for a first why, which explains the incident itself), so an ordered chain is
a tree with one branch and several causes of one why are siblings. ``position`` numbers the
incident's whys in the order they were written (1, 2, …); siblings are shown in that
order. Whys flagged ``is_root_cause`` end a branch's questioning. Every why can name the
touchpoint and the department it concerns.

Actions are corrective (remove the symptom) or preventive (remove a root cause so it does
not happen again); each has an owner department, a due date and a status (open,
in_progress, done). A done action has ``completed_at``; its effect measured in later data
(:mod:`corridor.effects`) is stored with it as JSON (``measured_effect``, ``measured_at``).
Changing an action's completion (status or time) discards the measured effect, which was
measured from the old completion.

Every write runs in one transaction and changes all it should or nothing; new ids are the
table's largest id + 1, taken inside that transaction. Arguments are checked before
anything is written, and each refusal is one :class:`~corridor.errors.InputError`
sentence. Times are naive UTC like every stored timestamp (aware ones are converted).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Union

import duckdb

from .errors import InputError, ProjectError
from .exceptions import Alarm
from .store import Project


class IncidentStatus(str, enum.Enum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    CLOSED = "closed"


class ActionKind(str, enum.Enum):
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"


class ActionStatus(str, enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class _Keep:
    """Marks an update argument that was not given: the stored value stays."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()

# The longest text an incident, why or action keeps, whoever writes it (the library, the
# command line, the JSON API and the web forms all take these): a title, statement,
# description or expected effect; and a touchpoint or department id.
MAX_TEXT = 2000
MAX_NAME = 200

SOURCE_BY_HAND = "manual"
SOURCE_EXCEPTION = "exception detection"


@dataclass(frozen=True)
class Why:
    why_id: int
    incident_id: int
    parent_id: int | None  # the why this one explains; None: it explains the incident
    position: int  # 1, 2, … in the order the incident's whys were written
    statement: str
    touchpoint: str | None
    department_id: str | None
    is_root_cause: bool
    causes: tuple["Why", ...] = ()  # the whys that explain this one, by position

    def walk(self) -> Iterator["Why"]:
        """This why and every why below it, depth first."""
        yield self
        for cause in self.causes:
            yield from cause.walk()

    def to_dict(self) -> dict:
        return {
            "why_id": self.why_id,
            "incident_id": self.incident_id,
            "parent_id": self.parent_id,
            "position": self.position,
            "statement": self.statement,
            "touchpoint": self.touchpoint,
            "department_id": self.department_id,
            "is_root_cause": self.is_root_cause,
            "causes": [c.to_dict() for c in self.causes],
        }


@dataclass(frozen=True)
class Action:
    action_id: int
    incident_id: int
    why_id: int | None  # the why it answers
    kind: ActionKind
    title: str
    owner_department_id: str
    due: dt.date
    status: ActionStatus
    completed_at: dt.datetime | None
    effect: str | None  # the effect expected, in words
    measured_effect: dict | None  # corridor.effects.ActionEffect.to_dict(), once measured
    measured_at: dt.datetime | None

    def to_dict(self) -> dict:
        return {
            "action_id": self.action_id,
            "incident_id": self.incident_id,
            "why_id": self.why_id,
            "kind": self.kind.value,
            "title": self.title,
            "owner_department_id": self.owner_department_id,
            "due": self.due.isoformat(),
            "status": self.status.value,
            "completed_at": _iso(self.completed_at),
            "effect": self.effect,
            "measured_effect": self.measured_effect,
            "measured_at": _iso(self.measured_at),
        }


@dataclass(frozen=True)
class Incident:
    incident_id: int
    opened_at: dt.datetime
    title: str
    touchpoint: str | None
    department_id: str | None
    source: str
    status: IncidentStatus
    description: str | None
    whys: tuple[Why, ...] = ()  # the first whys (parent_id None), each with its causes
    actions: tuple[Action, ...] = ()  # by action_id

    def all_whys(self) -> tuple[Why, ...]:
        """Every why, depth first."""
        return tuple(w for top in self.whys for w in top.walk())

    @property
    def root_causes(self) -> tuple[Why, ...]:
        return tuple(w for w in self.all_whys() if w.is_root_cause)

    def why(self, why_id: int) -> Why:
        for w in self.all_whys():
            if w.why_id == why_id:
                return w
        raise InputError(f"Incident {self.incident_id} has no why {why_id}.")

    def chain_to(self, why_id: int) -> tuple[Why, ...]:
        """The whys from a first why down to ``why_id``: one line of questioning."""
        by_id = {w.why_id: w for w in self.all_whys()}
        chain = [self.why(why_id)]
        while chain[-1].parent_id is not None:
            chain.append(by_id[chain[-1].parent_id])
        return tuple(reversed(chain))

    def to_dict(self) -> dict:
        return {
            "incident_id": self.incident_id,
            "opened_at": _iso(self.opened_at),
            "title": self.title,
            "touchpoint": self.touchpoint,
            "department_id": self.department_id,
            "source": self.source,
            "status": self.status.value,
            "description": self.description,
            "whys": [w.to_dict() for w in self.whys],
            "actions": [a.to_dict() for a in self.actions],
        }


# ---- incidents ---------------------------------------------------------------------------


def open_incident(
    project: Project,
    title: str,
    *,
    touchpoint: str | None = None,
    department_id: str | None = None,
    description: str | None = None,
    source: str = SOURCE_BY_HAND,
    opened_at: dt.datetime | str | None = None,
    status: IncidentStatus | str = IncidentStatus.OPEN,
) -> Incident:
    """Open an incident (by hand unless ``source`` says otherwise); ``opened_at``
    defaults to now."""
    values = {
        "title": _text("An incident's title", title),
        "touchpoint": _optional_text("touchpoint", touchpoint, MAX_NAME),
        "department_id": _optional_text("department_id", department_id, MAX_NAME),
        "description": _optional_text("description", description),
        "source": _text("An incident's source", source),
        "opened_at": _moment("opened_at", opened_at) if opened_at is not None else _now(),
        "status": _choice(IncidentStatus, "Incident status", status),
    }
    with _writing(project) as con:
        _check_touchpoint(con, values["touchpoint"])
        _check_department(con, values["department_id"])
        incident_id = _next_id(con, "incidents", "incident_id")
        con.execute(
            "INSERT INTO incidents (incident_id, opened_at, title, touchpoint, department_id,"
            " source, status, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [incident_id, values["opened_at"], values["title"], values["touchpoint"],
             values["department_id"], values["source"], values["status"].value,
             values["description"]],
        )
    return get_incident(project, incident_id)


def open_from_alarm(
    project: Project,
    alarm: Alarm,
    *,
    title: str | None = None,
    department_id: str | None = None,
    opened_at: dt.datetime | str | None = None,
) -> Incident:
    """Open an incident for an exception alarm: its touchpoint, the touchpoint's
    department (unless given) and the alarm in words as the description."""
    if not isinstance(alarm, Alarm):
        raise InputError(f"open_from_alarm needs an Alarm from exception detection; got {alarm!r}.")
    if department_id is None:
        department_id = _department_of(project, alarm.touchpoint)
    label = alarm.metric.value.replace("_", " ").capitalize()
    return open_incident(
        project,
        title or f"{label} of {alarm.touchpoint} {alarm.direction.value} on {alarm.day.isoformat()}",
        touchpoint=alarm.touchpoint,
        department_id=department_id,
        description=alarm.describe(),
        source=SOURCE_EXCEPTION,
        opened_at=opened_at,
    )


def update_incident(
    project: Project,
    incident_id: int,
    *,
    title: Union[str, _Keep] = KEEP,
    touchpoint: Union[str, None, _Keep] = KEEP,
    department_id: Union[str, None, _Keep] = KEEP,
    description: Union[str, None, _Keep] = KEEP,
    status: Union[IncidentStatus, str, _Keep] = KEEP,
) -> Incident:
    """Change the given fields of an incident (None clears an optional one)."""
    changes: dict[str, object] = {}
    if title is not KEEP:
        changes["title"] = _text("An incident's title", title)
    if touchpoint is not KEEP:
        changes["touchpoint"] = _optional_text("touchpoint", touchpoint, MAX_NAME)
    if department_id is not KEEP:
        changes["department_id"] = _optional_text("department_id", department_id, MAX_NAME)
    if description is not KEEP:
        changes["description"] = _optional_text("description", description)
    if status is not KEEP:
        changes["status"] = _choice(IncidentStatus, "Incident status", status).value
    with _writing(project) as con:
        _check_incident(con, incident_id)
        if "touchpoint" in changes:
            _check_touchpoint(con, changes["touchpoint"])
        if "department_id" in changes:
            _check_department(con, changes["department_id"])
        _update(con, "incidents", "incident_id", incident_id, changes)
    return get_incident(project, incident_id)


def get_incident(project: Project, incident_id: int) -> Incident:
    """The incident with its whys as a tree and its actions."""
    incident_id = _id("incident", incident_id)
    row = project.con.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE incident_id = ?", [incident_id]
    ).fetchone()
    if row is None:
        raise InputError(f"There is no incident {incident_id} in this project.")
    whys = project.con.execute(
        f"SELECT {_WHY_COLUMNS} FROM whys WHERE incident_id = ? ORDER BY position, why_id",
        [incident_id],
    ).fetchall()
    actions = project.con.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE incident_id = ? ORDER BY action_id",
        [incident_id],
    ).fetchall()
    return _incident(row, whys, actions)


def list_incidents(
    project: Project, *, status: IncidentStatus | str | None = None
) -> tuple[Incident, ...]:
    """Every incident (or those with ``status``), oldest first, each complete."""
    query = f"SELECT {_INCIDENT_COLUMNS} FROM incidents"
    params: list = []
    if status is not None:
        query += " WHERE status = ?"
        params.append(_choice(IncidentStatus, "Incident status", status).value)
    rows = project.con.execute(query + " ORDER BY opened_at, incident_id", params).fetchall()
    if not rows:
        return ()
    ids = [r[0] for r in rows]
    marks = ", ".join("?" for _ in ids)
    whys = project.con.execute(
        f"SELECT {_WHY_COLUMNS} FROM whys WHERE incident_id IN ({marks})"
        " ORDER BY position, why_id", ids,
    ).fetchall()
    actions = project.con.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE incident_id IN ({marks})"
        " ORDER BY action_id", ids,
    ).fetchall()
    return tuple(
        _incident(r, [w for w in whys if w[1] == r[0]], [a for a in actions if a[1] == r[0]])
        for r in rows
    )


# ---- whys -------------------------------------------------------------------------------


def add_why(
    project: Project,
    incident_id: int,
    statement: str,
    *,
    parent_id: int | None = None,
    touchpoint: str | None = None,
    department_id: str | None = None,
    is_root_cause: bool = False,
) -> Why:
    """Add a why to an incident: an answer to ``parent_id`` (another why of the same
    incident), or a first why when None."""
    statement = _text("A why's statement", statement)
    touchpoint = _optional_text("touchpoint", touchpoint, MAX_NAME)
    department_id = _optional_text("department_id", department_id, MAX_NAME)
    is_root_cause = _flag("is_root_cause", is_root_cause)
    with _writing(project) as con:
        incident_id = _check_incident(con, incident_id)
        if parent_id is not None:
            _check_parent(con, incident_id, parent_id)
        _check_touchpoint(con, touchpoint)
        _check_department(con, department_id)
        why_id = _next_id(con, "whys", "why_id")
        position = con.execute(
            "SELECT coalesce(max(position), 0) + 1 FROM whys WHERE incident_id = ?",
            [incident_id],
        ).fetchone()[0]
        con.execute(
            "INSERT INTO whys (why_id, incident_id, parent_id, position, statement, touchpoint,"
            " department_id, is_root_cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [why_id, incident_id, parent_id, position, statement, touchpoint, department_id,
             is_root_cause],
        )
    return _get_why(project, why_id)


def update_why(
    project: Project,
    why_id: int,
    *,
    statement: Union[str, _Keep] = KEEP,
    parent_id: Union[int, None, _Keep] = KEEP,
    touchpoint: Union[str, None, _Keep] = KEEP,
    department_id: Union[str, None, _Keep] = KEEP,
    is_root_cause: Union[bool, _Keep] = KEEP,
) -> Why:
    """Change the given fields of a why; a new parent must belong to the same incident
    and must not lie below this why."""
    changes: dict[str, object] = {}
    if statement is not KEEP:
        changes["statement"] = _text("A why's statement", statement)
    if touchpoint is not KEEP:
        changes["touchpoint"] = _optional_text("touchpoint", touchpoint, MAX_NAME)
    if department_id is not KEEP:
        changes["department_id"] = _optional_text("department_id", department_id, MAX_NAME)
    if is_root_cause is not KEEP:
        changes["is_root_cause"] = _flag("is_root_cause", is_root_cause)
    with _writing(project) as con:
        incident_id = _why_incident(con, why_id)
        if parent_id is not KEEP:
            if parent_id is not None:
                _check_parent(con, incident_id, parent_id)
                _check_no_cycle(con, why_id, parent_id)
            changes["parent_id"] = parent_id
        if "touchpoint" in changes:
            _check_touchpoint(con, changes["touchpoint"])
        if "department_id" in changes:
            _check_department(con, changes["department_id"])
        _update(con, "whys", "why_id", why_id, changes)
    return _get_why(project, why_id)


def delete_why(project: Project, why_id: int) -> None:
    """Remove a why that nothing depends on (no why explains it, no action answers it)."""
    with _writing(project) as con:
        _why_incident(con, why_id)
        causes = con.execute("SELECT count(*) FROM whys WHERE parent_id = ?", [why_id]).fetchone()[0]
        if causes:
            raise InputError(
                f"Why {why_id} is explained by {causes} other why(s); remove or move them first."
            )
        actions = con.execute("SELECT count(*) FROM actions WHERE why_id = ?", [why_id]).fetchone()[0]
        if actions:
            raise InputError(
                f"Why {why_id} is answered by {actions} action(s); point them elsewhere first."
            )
        con.execute("DELETE FROM whys WHERE why_id = ?", [why_id])


# ---- actions ----------------------------------------------------------------------------


def add_action(
    project: Project,
    incident_id: int,
    title: str,
    *,
    kind: ActionKind | str,
    owner_department_id: str,
    due: dt.date | str,
    why_id: int | None = None,
    status: ActionStatus | str = ActionStatus.OPEN,
    completed_at: dt.datetime | str | None = None,
    effect: str | None = None,
) -> Action:
    """Add a corrective or preventive action to an incident, optionally answering one of
    its whys. A done action is completed now unless ``completed_at`` says when."""
    title = _text("An action's title", title)
    kind = _choice(ActionKind, "Action kind", kind)
    owner = _text("An action's owner department", owner_department_id, MAX_NAME)
    due = _date("due", due)
    status = _choice(ActionStatus, "Action status", status)
    completed = _completion(status, completed_at)
    effect = _optional_text("effect", effect)
    with _writing(project) as con:
        incident_id = _check_incident(con, incident_id)
        if why_id is not None:
            _check_why_of(con, incident_id, why_id)
        _check_department(con, owner)
        action_id = _next_id(con, "actions", "action_id")
        con.execute(
            "INSERT INTO actions (action_id, incident_id, why_id, kind, title,"
            " owner_department_id, due, status, completed_at, effect)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [action_id, incident_id, why_id, kind.value, title, owner, due, status.value,
             completed, effect],
        )
    return get_action(project, action_id)


def update_action(
    project: Project,
    action_id: int,
    *,
    title: Union[str, _Keep] = KEEP,
    kind: Union[ActionKind, str, _Keep] = KEEP,
    owner_department_id: Union[str, _Keep] = KEEP,
    due: Union[dt.date, str, _Keep] = KEEP,
    why_id: Union[int, None, _Keep] = KEEP,
    status: Union[ActionStatus, str, _Keep] = KEEP,
    completed_at: Union[dt.datetime, str, None, _Keep] = KEEP,
    effect: Union[str, None, _Keep] = KEEP,
) -> Action:
    """Change the given fields of an action. Marking it done completes it now unless
    ``completed_at`` says when; leaving done clears the completion. Either change, or a
    new completion time, discards the measured effect."""
    changes: dict[str, object] = {}
    if title is not KEEP:
        changes["title"] = _text("An action's title", title)
    if kind is not KEEP:
        changes["kind"] = _choice(ActionKind, "Action kind", kind).value
    if owner_department_id is not KEEP:
        changes["owner_department_id"] = _text("An action's owner department",
                                               owner_department_id, MAX_NAME)
    if due is not KEEP:
        changes["due"] = _date("due", due)
    if effect is not KEEP:
        changes["effect"] = _optional_text("effect", effect)
    with _writing(project) as con:
        current = _action_in(con, action_id)
        if why_id is not KEEP:
            if why_id is not None:
                _check_why_of(con, current.incident_id, why_id)
            changes["why_id"] = why_id
        if "owner_department_id" in changes:
            _check_department(con, changes["owner_department_id"])
        new_status = (current.status if status is KEEP
                      else _choice(ActionStatus, "Action status", status))
        if status is not KEEP or completed_at is not KEEP:
            if completed_at is KEEP:
                completed = current.completed_at if new_status is ActionStatus.DONE else None
                if new_status is ActionStatus.DONE and completed is None:
                    completed = _now()
            else:
                completed = _completion(new_status, completed_at)
            changes["status"] = new_status.value
            changes["completed_at"] = completed
            if completed != current.completed_at:
                changes["measured_effect"] = None
                changes["measured_at"] = None
        _update(con, "actions", "action_id", current.action_id, changes)
    return get_action(project, action_id)


def complete_action(
    project: Project, action_id: int, *, at: dt.datetime | str | None = None
) -> Action:
    """Mark an action done, now or at ``at``."""
    return update_action(project, action_id, status=ActionStatus.DONE,
                         completed_at=at if at is not None else _now())


def get_action(project: Project, action_id: int) -> Action:
    return _action_in(project.con, action_id)


def _action_in(con, action_id: int) -> Action:
    action_id = _id("action", action_id)
    row = con.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE action_id = ?", [action_id]
    ).fetchone()
    if row is None:
        raise InputError(f"There is no action {action_id} in this project.")
    return _action(row)


def record_measured_effect(
    project: Project, action_id: int, measured_effect: dict, *,
    measured_at: dt.datetime | None = None,
) -> Action:
    """Keep an effect measured in later data with a done action (JSON), and when it was
    measured (now unless given)."""
    if not isinstance(measured_effect, dict):
        raise InputError(
            f"A measured effect is a dict of JSON data; got {type(measured_effect).__name__}."
        )
    try:
        text = json.dumps(measured_effect, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"A measured effect must be plain JSON data ({exc}).") from None
    when = _moment("measured_at", measured_at) if measured_at is not None else _now()
    with _writing(project) as con:
        action = _action_in(con, action_id)
        if action.status is not ActionStatus.DONE:
            raise InputError(
                f"Action {action.action_id} is not done (status {action.status.value}); only a"
                " completed action has an effect to keep."
            )
        _update(con, "actions", "action_id", action.action_id,
                {"measured_effect": text, "measured_at": when})
    return get_action(project, action_id)


# ---- reading rows -----------------------------------------------------------------------

_INCIDENT_COLUMNS = ("incident_id, opened_at, title, touchpoint, department_id, source, status,"
                     " description")
_WHY_COLUMNS = ("why_id, incident_id, parent_id, position, statement, touchpoint, department_id,"
                " is_root_cause")
_ACTION_COLUMNS = ("action_id, incident_id, why_id, kind, title, owner_department_id, due, status,"
                   " completed_at, effect, measured_effect, measured_at")


def _incident(row, why_rows, action_rows) -> Incident:
    flat = [_why(r) for r in why_rows]
    children: dict[int | None, list[Why]] = {}
    for w in flat:
        children.setdefault(w.parent_id, []).append(w)
    known = {w.why_id for w in flat}

    def build(w: Why) -> Why:
        return replace(w, causes=tuple(build(c) for c in children.get(w.why_id, ())))

    # a why whose parent is missing (edited outside corridor) is shown as a first why
    tops = [w for w in flat if w.parent_id is None or w.parent_id not in known]
    return Incident(
        incident_id=int(row[0]), opened_at=row[1], title=row[2], touchpoint=row[3],
        department_id=row[4], source=row[5] or SOURCE_BY_HAND,
        status=_stored_choice(IncidentStatus, row[6], IncidentStatus.OPEN),
        description=row[7],
        whys=tuple(build(w) for w in tops),
        actions=tuple(_action(a) for a in action_rows),
    )


def _why(row) -> Why:
    return Why(why_id=int(row[0]), incident_id=int(row[1]),
               parent_id=None if row[2] is None else int(row[2]), position=int(row[3] or 0),
               statement=row[4], touchpoint=row[5], department_id=row[6],
               is_root_cause=bool(row[7]))


def _action(row) -> Action:
    measured = row[10]
    return Action(
        action_id=int(row[0]), incident_id=int(row[1]),
        why_id=None if row[2] is None else int(row[2]),
        kind=_stored_choice(ActionKind, row[3], ActionKind.CORRECTIVE), title=row[4],
        owner_department_id=row[5], due=row[6],
        status=_stored_choice(ActionStatus, row[7], ActionStatus.OPEN),
        completed_at=row[8], effect=row[9],
        measured_effect=json.loads(measured) if measured else None, measured_at=row[11],
    )


def _get_why(project: Project, why_id: int) -> Why:
    row = project.con.execute(f"SELECT {_WHY_COLUMNS} FROM whys WHERE why_id = ?", [why_id]).fetchone()
    incident = get_incident(project, int(row[1]))
    return incident.why(why_id)


def _stored_choice(enum_type, value, default):
    try:
        return enum_type(value) if value is not None else default
    except ValueError:
        return default


# ---- writing ----------------------------------------------------------------------------


@contextmanager
def _writing(project: Project):
    if not isinstance(project, Project):
        raise InputError(f"Incidents are kept in a corridor project; got {project!r}.")
    if project.read_only:
        raise ProjectError(
            f"{project.path} is open read-only; open it for writing to change incidents."
        )
    con = project.con
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed COMMIT has already rolled back
        raise


def _next_id(con, table: str, column: str) -> int:
    return int(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchone()[0])


def _update(con, table: str, key: str, key_value: int, changes: dict) -> None:
    if not changes:
        return
    assignments = ", ".join(f"{name} = ?" for name in changes)
    con.execute(f"UPDATE {table} SET {assignments} WHERE {key} = ?", [*changes.values(), key_value])


# ---- checks -----------------------------------------------------------------------------


def _id(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"The {what} id must be a whole number; got {value!r}.")
    return value


def _check_incident(con, incident_id) -> int:
    incident_id = _id("incident", incident_id)
    if con.execute("SELECT 1 FROM incidents WHERE incident_id = ?", [incident_id]).fetchone() is None:
        raise InputError(f"There is no incident {incident_id} in this project.")
    return incident_id


def _why_incident(con, why_id) -> int:
    why_id = _id("why", why_id)
    row = con.execute("SELECT incident_id FROM whys WHERE why_id = ?", [why_id]).fetchone()
    if row is None:
        raise InputError(f"There is no why {why_id} in this project.")
    return int(row[0])


def _check_parent(con, incident_id: int, parent_id) -> None:
    owner = _why_incident(con, parent_id)
    if owner != incident_id:
        raise InputError(
            f"Why {parent_id} belongs to incident {owner}, not incident {incident_id}; a why can"
            " only explain a why of its own incident."
        )


def _check_why_of(con, incident_id: int, why_id) -> None:
    owner = _why_incident(con, why_id)
    if owner != incident_id:
        raise InputError(
            f"Why {why_id} belongs to incident {owner}, not incident {incident_id}; an action can"
            " only answer a why of its own incident."
        )


def _check_no_cycle(con, why_id: int, parent_id: int) -> None:
    """Walk up from the new parent: meeting ``why_id`` means the chain would loop."""
    seen = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == why_id:
            if parent_id == why_id:
                raise InputError(f"Why {why_id} cannot explain itself.")
            raise InputError(
                f"Why {why_id} cannot explain why {parent_id}: why {parent_id} already follows"
                f" from why {why_id}, so the chain would loop."
            )
        seen.add(current)
        row = con.execute("SELECT parent_id FROM whys WHERE why_id = ?", [current]).fetchone()
        current = None if row is None or row[0] is None else int(row[0])


def _check_touchpoint(con, touchpoint: str | None) -> None:
    if touchpoint is None:
        return
    known = con.execute(
        "SELECT 1 FROM touchpoints WHERE touchpoint = ? UNION ALL"
        " SELECT 1 FROM (SELECT 1 FROM events WHERE touchpoint = ? LIMIT 1) LIMIT 1",
        [touchpoint, touchpoint],
    ).fetchone()
    if known is not None:
        return
    anything = con.execute(
        "SELECT (SELECT count(*) FROM touchpoints)"
        " + (SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1))"
    ).fetchone()[0]
    if anything:  # an empty project cannot tell, and says nothing
        raise InputError(
            f"Touchpoint {touchpoint!r} is not in this project (neither in its touchpoints nor"
            " in its events)."
        )


def _check_department(con, department_id: str | None) -> None:
    if department_id is None:
        return
    listed = con.execute("SELECT count(*) FROM departments").fetchone()[0]
    if not listed:  # no departments loaded: any name will do
        return
    found = con.execute(
        "SELECT 1 FROM departments WHERE department_id = ?", [department_id]
    ).fetchone()
    if found is None:
        raise InputError(f"Department {department_id!r} is not in this project's departments.")


def _department_of(project: Project, touchpoint: str) -> str | None:
    row = project.con.execute(
        "SELECT min(department_id) FROM touchpoints WHERE touchpoint = ?", [touchpoint]
    ).fetchone()
    return None if row is None else row[0]


def _text(what: str, value, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be non-empty text; got {_shown(value)}.")
    return _within(what, value.strip(), limit)


def _optional_text(name: str, value, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be text or None; got {_shown(value)}.")
    return _within(f"The {name}", value.strip(), limit) or None


def _within(what: str, text: str, limit: int) -> str:
    if len(text) > limit:
        raise InputError(f"{what} may have at most {limit:,} characters; this one has"
                         f" {len(text):,}.")
    return text


def _shown(value) -> str:
    """``value`` as an error message quotes it: cut short when long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False; got {value!r}.")
    return value


def _choice(enum_type, what: str, value):
    try:
        return enum_type(value)
    except ValueError:
        names = ", ".join(e.value for e in enum_type)
        raise InputError(f"{what} must be one of {names}; got {value!r}.") from None


def _date(name: str, value) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InputError(f"The {name} date must be a date without a time; got {value!r}.")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"The {name} date must be a date (YYYY-MM-DD); got {value!r}.")


def _moment(name: str, value) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError(
                f"{name} must be a date and time (YYYY-MM-DD HH:MM); got {value!r}."
            ) from None
    if not isinstance(value, dt.datetime):
        raise InputError(f"{name} must be a date and time (YYYY-MM-DD HH:MM); got {value!r}.")
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _completion(status: ActionStatus, completed_at) -> dt.datetime | None:
    if status is not ActionStatus.DONE:
        if completed_at is not None:
            raise InputError(
                f"Only a done action has a completion time; this one's status is {status.value}."
            )
        return None
    return _moment("completed_at", completed_at) if completed_at is not None else _now()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
