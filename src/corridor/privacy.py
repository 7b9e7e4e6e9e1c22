"""A customer's personal data: everything the project holds about one customer, and its
erasure from the project file itself.

:func:`customer_data` gathers the customer's rows (their customers row and the ids of
the customers below them, their PII, events, transactions and feedback), the loads that
brought those rows, the rejected source rows that hold one of their identifiers and the
incidents, whys, actions and audit entries whose text mentions one.

:func:`erase_customer` removes the customer everywhere and makes sure the identifiers are
gone from the bytes of the file, not only from its tables: DuckDB keeps freed blocks, so
deleting rows in place would leave the old values readable in the file. Instead, while
holding the project's write lock, the project is copied table by table into a fresh file
*without* the customer's rows (their own rows are never written there; mentions in
incident texts are redacted on the way; the stored step table is rebuilt from the
remaining events), the fresh file is checkpointed so that it has no WAL, and it replaces
the project with one atomic ``os.replace``. Until that rename the project file is only
read, so a failure or a kill at any moment leaves the project as it was before, and after
the rename it is as it is after; a leftover ``PROJECT.erasing`` file from a killed run is
removed by the next erasure. A disk too full for the fresh file is reported as
:class:`~corridor.errors.DiskFull`, the project untouched.

Files a server killed in the middle of a load left in ``PROJECT.uploads/`` hold customers'
data too: erasure removes them (they were never loaded). While a server runs on the
project, a file there is a load in progress, so erasure refuses until it has finished.

What an identifier is: the customer id (matched as a whole token, so erasing ``C1`` does
not touch ``C10``), and the name, e-mail and phone kept for it in ``customer_pii`` (matched
as text in any letter case, when at least four characters long).

In a project that pseudonymises (:mod:`corridor.pseudonyms`) the customer is named by their
original id, turned into the pseudonym the project stores with the project's key, or by
that pseudonym itself; without the key only the pseudonym can be used. An original id
given is an identifier too: mentions of it in texts are found and redacted like the
pseudonym's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb

from . import pseudonyms, serving
from .errors import InputError, ProjectError
from .schema import PII_TABLE
from .stepstore import DERIVED_TABLES, STEPS_TABLE, refresh_steps
from .store import Project, disk_checked, rollback

# Tables whose rows belong to one customer through their ``customer_id`` column.
OWN_TABLES = ("customers", PII_TABLE, "events", "transactions", "feedback")
# Tables whose free text may mention a customer: the mentions are redacted on erasure
# (the audit log included: it keeps that an export or an erasure happened, not of whom).
MENTION_TABLES = ("incidents", "whys", "actions", "audit_log")
# Raw source rows that ingest refused: a row holding an identifier is removed on erasure.
REJECTS = "rejects"
# Tables that hold no customer's data at all and are copied as they are.
UNRELATED_TABLES = ("meta", "departments", "touchpoints", "loads", "planted_truths",
                    "users", "api_tokens", "academy_lessons_read", "academy_quiz_answers",
                    "academy_exercise_answers", "maturity_questionnaires",
                    "maturity_assessments")
REDACTED = "[erased customer]"
_MIN_TEXT_IDENTIFIER = 4
_FRESH_ALIAS = "corridor_erasing"


# -- what the project holds about a customer --------------------------------------------


@dataclass(frozen=True)
class Rows:
    """Rows of one table, with its column names."""

    table: str
    columns: tuple[str, ...]
    values: tuple[tuple, ...]

    def __len__(self) -> int:
        return len(self.values)

    def to_dict(self) -> list[dict]:
        return [{c: _jsonable(c, v) for c, v in zip(self.columns, row)} for row in self.values]


@dataclass(frozen=True)
class CustomerData:
    """Everything the project holds about one customer."""

    customer_id: str
    customer: Rows  # their customers row (none when only their events were loaded)
    children: tuple[str, ...]  # ids of the customers whose parent they are
    pii: Rows
    events: Rows
    transactions: Rows
    feedback: Rows
    loads: Rows  # the loads that brought any of the rows above
    rejects: Rows  # refused source rows that hold one of their identifiers
    incidents: Rows  # incidents, whys and actions whose text mentions one of them
    whys: Rows
    actions: Rows
    audit: Rows  # audit log entries that name them (earlier exports)

    def counts(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self)
                if isinstance(getattr(self, f.name), Rows)}

    def to_dict(self) -> dict:
        customer = self.customer.to_dict()
        out: dict = {
            "customer_id": self.customer_id,
            "customer": customer[0] if customer else None,
            "children": list(self.children),
        }
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Rows) and f.name != "customer":
                out[f.name] = value.to_dict()
        out["counts"] = self.counts()
        return out


def customer_data(project: Project, customer_id: str) -> CustomerData:
    """Everything ``project`` holds about the customer ``customer_id`` (their original
    id or, in a pseudonymised project, their pseudonym); an :class:`InputError` when it
    holds nothing about them."""
    con = project.con
    identifiers = _identifiers(project, _checked_id(customer_id))
    customer_id = identifiers.customer_id
    own = {t: _select(con, t, "customer_id = ?", [customer_id]) for t in OWN_TABLES}
    children = tuple(r[0] for r in con.execute(
        "SELECT customer_id FROM customers WHERE parent_id = ? ORDER BY customer_id",
        [customer_id]).fetchall())
    brought = " UNION ".join(f"SELECT load_id FROM {t} WHERE customer_id = ?" for t in OWN_TABLES)
    loads = _select(con, "loads", f"load_id IN ({brought}) ORDER BY load_id",
                    [customer_id] * len(OWN_TABLES))
    mentions = {t: _select(con, t, *_mentions(con, t, identifiers)) for t in (REJECTS, *MENTION_TABLES)}
    return CustomerData(
        customer_id=customer_id, customer=own["customers"], children=children,
        pii=own[PII_TABLE], events=own["events"], transactions=own["transactions"],
        feedback=own["feedback"], loads=loads, rejects=mentions[REJECTS],
        incidents=mentions["incidents"], whys=mentions["whys"], actions=mentions["actions"],
        audit=mentions["audit_log"],
    )


# -- erasure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    """What erasing a customer removed or changed, in rows per table."""

    customer_id: str
    customers: int  # their customers row
    children_detached: int  # customers below them, kept with no parent
    customer_pii: int
    events: int
    transactions: int
    feedback: int
    rejects: int  # refused source rows that held an identifier
    incidents: int  # rows whose text had a mention redacted
    whys: int
    actions: int
    audit_log: int  # audit entries (earlier exports) whose mention of them was redacted
    case_steps: int  # rows of the stored step table that went with the events
    upload_leftovers: int  # files a killed server left in PROJECT.uploads, removed
    bytes_before: int  # size of the project file before and after its rewrite
    bytes_after: int

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def lines(self) -> list[str]:
        """The counts in words, one table a line."""
        skip = {"customer_id", "bytes_before", "bytes_after"}
        return [f"{f.name.replace('_', ' ')}: {getattr(self, f.name):,}"
                for f in fields(self) if f.name not in skip]


Stage = Callable[[str], None]


def erase_customer(
    project_path: str | os.PathLike,
    customer_id: str,
    *,
    actor: str | None = None,
    on_stage: Stage | None = None,
) -> ErasureResult:
    """Remove the customer ``customer_id`` from the project at ``project_path``
    everywhere, the bytes of the file included (see the module docstring); all or
    nothing. ``actor`` is who asked (for the audit log). ``on_stage`` is called with
    ``"copied"``, ``"steps"``, ``"replace"`` (just before the project is replaced) and
    ``"replaced"`` as the work reaches each stage: a test's way in to fail or be killed
    there."""
    path = Path(project_path)
    given = _checked_id(customer_id)
    _refuse_while_loading(path)
    with disk_checked(path, unchanged=True):
        return _erase(path, given, actor, on_stage or (lambda _name: None))


def _refuse_while_loading(path: Path) -> None:
    """While a server runs on the project, a file in its uploads folder is a load in
    progress: erasing then would miss the customer's rows it brings."""
    server = serving.find(path)
    if server is not None and serving.uploads_left(path):
        raise ProjectError(
            f"The server at {server.url} is loading a file into {path} (it is in"
            f" {serving.uploads_path(path)}); erase the customer when the load has finished.")


def _erase(path: Path, given: str, actor: str | None, stage: Stage) -> ErasureResult:
    fresh = path.with_name(path.name + ".erasing")
    _remove_file(fresh)
    project = Project.open(path)  # holds the write lock until the replacement is done
    try:
        con = project.con
        con.execute("CHECKPOINT")  # the WAL folded into the file; nothing left to replay
        identifiers = _identifiers(project, given)
        # known customer: the copies a killed server left go, whatever they hold
        uploads = serving.clear_uploads(path) if serving.find(path) is None else 0
        removed = _count_removed(project, identifiers)
        steps_before = _count(con, STEPS_TABLE) if _has_table(con, STEPS_TABLE) else 0
        bytes_before = path.stat().st_size
        _copy_without(project, fresh, identifiers)
        stage("copied")
        with Project.open(fresh) as new:
            steps_after = _rebuild_steps(new)
            result = ErasureResult(
                customer_id=identifiers.customer_id, **removed,
                case_steps=max(steps_before - steps_after, 0), upload_leftovers=uploads,
                bytes_before=bytes_before, bytes_after=0,
            )
            _audit(new, actor, "customer.erase", REDACTED,
                   {k: v for k, v in result.to_dict().items()
                    if k not in ("customer_id", "bytes_after")})
            stage("steps")
            new.con.execute("CHECKPOINT")
        if Path(str(fresh) + ".wal").exists():  # pragma: no cover - DuckDB checkpoints on close
            raise ProjectError(f"The rewritten copy of {path} kept a write-ahead log; the"
                               " project was left as it was.")
        stage("replace")
        os.replace(fresh, path)
        stage("replaced")
    except BaseException:
        _remove_file(fresh)
        raise
    finally:
        project.close()
    return _with_size(result, path.stat().st_size)


# -- export and erasure are audited here -----------------------------------------------


def export_customer(project_path: str | os.PathLike, customer_id: str, *,
                    actor: str) -> CustomerData:
    """:func:`customer_data` of the project at ``project_path``, with the export recorded
    in the audit log: no export leaves without its audit entry."""
    with Project.open(project_path) as project:
        data = customer_data(project, customer_id)
        _audit(project, actor, "customer.export", data.customer_id, data.counts())
    return data


def _audit(project: Project, actor: str | None, action: str, target: str | None,
           detail: dict) -> None:
    """The one place where exports and erasures are written to the audit log. An
    erasure's entry names no customer (the erased id must not stay in the file); the
    entries of earlier exports have their mention of the customer redacted by the
    erasure like every other text."""
    if actor is None:
        return
    from .audit import record

    record(project, actor, action, target, detail)


# -- helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identifiers:
    customer_id: str  # as the project stores it
    texts: tuple[str, ...]  # name, e-mail and phone as kept in customer_pii
    original: str | None = None  # the id given, when the project stores its pseudonym

    @property
    def id_patterns(self) -> tuple[str, ...]:
        """The id (and the original id given) as a whole token (RE2)."""
        ids = (self.customer_id,) + ((self.original,) if self.original else ())
        return tuple(r"(^|[^0-9A-Za-z_])" + _re2_escape(i) + r"([^0-9A-Za-z_]|$)"
                     for i in ids)

    @property
    def text_patterns(self) -> tuple[str, ...]:
        """The name, e-mail and phone, in any letter case (RE2)."""
        return tuple("(?i)" + _re2_escape(text) for text in self.texts)


def _checked_id(customer_id: str) -> str:
    value = (customer_id or "").strip()
    if not value:
        raise InputError("A customer id is needed; give the id the customer has in the project.")
    return value


def _identifiers(project: Project, given: str) -> _Identifiers:
    customer_id, original = _stored_id(project, given)
    rows = project.con.execute(
        f"SELECT name, email, phone FROM {PII_TABLE} WHERE customer_id = ?",
        [customer_id]).fetchall()
    texts = sorted({v.strip() for row in rows for v in row
                    if v and len(v.strip()) >= _MIN_TEXT_IDENTIFIER and v.strip() != customer_id},
                   key=lambda v: (-len(v), v))  # the longest first: no half replacements
    return _Identifiers(customer_id, tuple(texts), original)


def _stored_id(project: Project, given: str) -> tuple[str, str | None]:
    """The id under which ``project`` stores the customer named ``given``, and the
    original id when that is a pseudonym of ``given``; an :class:`InputError` when the
    project holds nothing about them."""
    nothing = InputError(f"{project.path} holds nothing about a customer '{given}'; check"
                         " the id (ids are case-sensitive).")
    state = pseudonyms.status(project)
    if not state.on:
        if not _known(project, given):
            raise nothing
        return given, None
    key = pseudonyms.find_key(project)
    if key is not None:
        stored = key.pseudonym(pseudonyms.Domain.CUSTOMER, given)
        if stored != given and _known(project, stored):
            return stored, given
    if _known(project, given):  # the pseudonym itself
        return given, None
    if key is None and not pseudonyms.looks_like(pseudonyms.Domain.CUSTOMER, given):
        raise InputError(
            f"{project.path} stores customer ids as pseudonyms and its key is not at"
            f" {state.key_path}, so the original id '{given}' cannot be looked up; give"
            f" the customer's pseudonym ({pseudonyms.Domain.CUSTOMER.prefix}...) instead,"
            " or restore the key.")
    raise nothing


def _known(project: Project, customer_id: str) -> bool:
    return any(
        project.con.execute(f"SELECT 1 FROM {t} WHERE customer_id = ? LIMIT 1",
                            [customer_id]).fetchone()
        for t in OWN_TABLES)


def _select(con, table: str, where: str, params: list) -> Rows:
    cursor = con.execute(f"SELECT * FROM {table} WHERE {where}", params)
    columns = tuple(d[0] for d in cursor.description)
    return Rows(table, columns, tuple(tuple(r) for r in cursor.fetchall()))


def _text_columns(con, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database()"
        " AND schema_name = current_schema() AND table_name = ? AND data_type = 'VARCHAR'"
        " ORDER BY column_index", [table]).fetchall()
    return [r[0] for r in rows]


def _mentions(con, table: str, identifiers: _Identifiers) -> tuple[str, list]:
    """A WHERE clause (and its parameters) for the rows of ``table`` whose text holds
    one of the identifiers."""
    parts, params = [], []
    for column in _text_columns(con, table):
        quoted = _quote(column)
        for pattern in identifiers.id_patterns + identifiers.text_patterns:
            parts.append(f"coalesce(regexp_matches({quoted}, ?), false)")
            params.append(pattern)
    return ("(" + " OR ".join(parts) + ")" if parts else "false"), params


def _redacted(column: str, identifiers: _Identifiers) -> tuple[str, list]:
    """A SQL expression (and its parameters) for ``column`` with every identifier in it
    replaced by the redaction mark."""
    expression, params = _quote(column), []
    mark = REDACTED.replace("\\", "\\\\")
    for pattern in identifiers.text_patterns:
        expression = f"regexp_replace({expression}, ?, ?, 'g')"
        params += [pattern, mark]
    # Twice: a match takes the character after the id with it, which the next id needs
    # before it, so of two ids one character apart the first pass replaces only one.
    for pattern in identifiers.id_patterns:
        for _ in range(2):
            expression = f"regexp_replace({expression}, ?, ?, 'g')"
            params += [pattern, "\\1" + mark + "\\2"]
    return expression, params


def _tables(con) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " AND schema_name = current_schema() AND NOT temporary ORDER BY table_name").fetchall()
    return [r[0] for r in rows]


def _has_table(con, table: str) -> bool:
    return table in _tables(con)


def _count(con, table: str, where: str = "true", params: Iterable = ()) -> int:
    return con.execute(f"SELECT count(*) FROM {table} WHERE {where}", list(params)).fetchone()[0]


def _rebuild_steps(project: Project) -> int:
    """Rebuild the stored step table from the remaining events; its rows."""
    refresh_steps(project, full=True)
    return _count(project.con, STEPS_TABLE)


def _count_removed(project: Project, ids: _Identifiers) -> dict[str, int]:
    con = project.con
    own = {t: _count(con, t, "customer_id = ?", [ids.customer_id]) for t in OWN_TABLES}
    mentioned = {t: _count(con, t, *_mentions(con, t, ids)) for t in (REJECTS, *MENTION_TABLES)}
    return {
        "customers": own["customers"],
        "children_detached": _count(con, "customers", "parent_id = ?", [ids.customer_id]),
        "customer_pii": own[PII_TABLE], "events": own["events"],
        "transactions": own["transactions"], "feedback": own["feedback"],
        "rejects": mentioned[REJECTS], "incidents": mentioned["incidents"],
        "whys": mentioned["whys"], "actions": mentioned["actions"],
        "audit_log": mentioned["audit_log"],
    }


def _copy_without(project: Project, fresh: Path, ids: _Identifiers) -> None:
    """Write the project into the new file ``fresh`` without the customer: the schema
    first, then every table's rows but theirs. The derived step tables stay empty (they
    are rebuilt from the remaining events)."""
    con = project.con
    source = con.execute("SELECT current_database()").fetchone()[0]
    tables = _tables(con)
    target = _FRESH_ALIAS
    con.execute(f"ATTACH {_literal(str(fresh))} AS {target}")
    try:
        con.execute(f"COPY FROM DATABASE {_quote(source)} TO {target} (SCHEMA)")
        con.execute("BEGIN")
        try:
            for table in tables:
                if table in DERIVED_TABLES:
                    continue
                select, params = _copy_select(con, table, ids)
                con.execute(f"INSERT INTO {target}.{_quote(table)} BY NAME {select}", params)
            con.execute("COMMIT")
        except BaseException:
            rollback(con)  # a failed COMMIT has rolled back already
            raise
        con.execute(f"CHECKPOINT {target}")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the failure above is what to report
            con.execute(f"DETACH {target}")
        raise
    con.execute(f"DETACH {target}")


def _copy_select(con, table: str, ids: _Identifiers) -> tuple[str, list]:
    name = _quote(table)
    columns = set(_columns(con, table))
    if table == "customers":
        return (f"SELECT * REPLACE (CASE WHEN parent_id = ? THEN NULL ELSE parent_id END"
                f" AS parent_id) FROM {name} WHERE customer_id IS DISTINCT FROM ?",
                [ids.customer_id, ids.customer_id])
    if table == REJECTS:
        where, params = _mentions(con, table, ids)
        return f"SELECT * FROM {name} WHERE NOT {where}", params
    if table in MENTION_TABLES:
        replaced, params = [], []
        for column in _text_columns(con, table):
            expression, more = _redacted(column, ids)
            replaced.append(f"{expression} AS {_quote(column)}")
            params += more
        if replaced:
            return f"SELECT * REPLACE ({', '.join(replaced)}) FROM {name}", params
    if "customer_id" in columns:  # the own tables, and any later table keyed by customer
        return f"SELECT * FROM {name} WHERE customer_id IS DISTINCT FROM ?", [ids.customer_id]
    return f"SELECT * FROM {name}", []


def _columns(con, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database()"
        " AND schema_name = current_schema() AND table_name = ? ORDER BY column_index",
        [table]).fetchall()
    return [r[0] for r in rows]


def _with_size(result: ErasureResult, size: int) -> ErasureResult:
    from dataclasses import replace

    return replace(result, bytes_after=size)


def _remove_file(path: Path) -> None:
    for leftover in (path, Path(str(path) + ".wal")):
        leftover.unlink(missing_ok=True)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_RE2_SPECIAL = set("\\.^$|?*+()[]{}")


def _re2_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


def _jsonable(column: str, value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if column in ("attributes", "measured_effect") and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
