"""The canonical tables: every table and column name corridor uses is defined here.

Loadable kinds (``customers``, ``departments``, ``touchpoints``, ``events``,
``transactions``, ``feedback``) have their columns described by :class:`Column`, which
ingest uses to convert and validate source rows. Application tables (loads, rejects,
incidents, whys, actions, planted truths) are plain DDL.

Timestamps are stored as naive ``TIMESTAMP`` values in UTC: ingest converts local times
using the mapping file's time zone. Extra source columns that have no canonical home are
kept, as JSON text, in the ``attributes`` column every loadable table has.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SCHEMA_VERSION = 6


class ColumnType(enum.Enum):
    TEXT = "VARCHAR"
    INTEGER = "BIGINT"
    NUMBER = "DOUBLE"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"


class Kind(str, enum.Enum):
    """What a loaded file holds."""

    CUSTOMERS = "customers"
    DEPARTMENTS = "departments"
    TOUCHPOINTS = "touchpoints"
    EVENTS = "events"
    TRANSACTIONS = "transactions"
    FEEDBACK = "feedback"


LEVELS = ("person", "company", "intermediary", "corporate", "department")
RELATIONS = ("direct", "end")
STAGES = ("need", "evaluation", "purchase", "use", "support", "loyalty", "exit")
OUTCOMES = ("ok", "failed", "abandoned")
METRICS = ("nps", "csat", "ces")
TRANSACTION_KINDS = ("purchase", "bill", "refund", "other")
ROLES = ("basic", "optional", "alternative")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    choices: tuple[str, ...] = ()
    pii: bool = False
    default_from: str | None = None  # take this column's value when empty
    default: str | None = None  # constant used when empty


@dataclass(frozen=True)
class TableSpec:
    kind: Kind
    table: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required and c.default_from is None)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


T = ColumnType

SPECS: dict[Kind, TableSpec] = {
    Kind.CUSTOMERS: TableSpec(
        Kind.CUSTOMERS,
        "customers",
        (
            Column("customer_id", T.TEXT, required=True),
            Column("level", T.TEXT, choices=LEVELS, default="person"),
            Column("parent_id", T.TEXT),
            Column("relation", T.TEXT, choices=RELATIONS, default="direct"),
            Column("segment", T.TEXT),
            Column("region", T.TEXT),
            Column("since", T.DATE),
            Column("name", T.TEXT, pii=True),
            Column("email", T.TEXT, pii=True),
            Column("phone", T.TEXT, pii=True),
        ),
    ),
    Kind.DEPARTMENTS: TableSpec(
        Kind.DEPARTMENTS,
        "departments",
        (
            Column("department_id", T.TEXT, required=True),
            Column("name", T.TEXT),
            Column("parent_id", T.TEXT),
        ),
    ),
    Kind.TOUCHPOINTS: TableSpec(
        Kind.TOUCHPOINTS,
        "touchpoints",
        (
            Column("touchpoint", T.TEXT, required=True),
            Column("stage", T.TEXT, choices=STAGES),
            Column("channel", T.TEXT),
            Column("department_id", T.TEXT),
            Column("role", T.TEXT, choices=ROLES),
        ),
    ),
    Kind.EVENTS: TableSpec(
        Kind.EVENTS,
        "events",
        (
            Column("customer_id", T.TEXT, required=True),
            Column("case_id", T.TEXT, required=True, default_from="customer_id"),
            Column("touchpoint", T.TEXT, required=True),
            Column("timestamp", T.TIMESTAMP, required=True),
            Column("channel", T.TEXT),
            Column("outcome", T.TEXT, choices=OUTCOMES, default="ok"),
            Column("wait_seconds", T.NUMBER),
            Column("duration_seconds", T.NUMBER),
            Column("cost", T.NUMBER),
            Column("department_id", T.TEXT),
            # XES lifecycle:transition (schedule, start, complete...) as the source wrote
            # it; one touchpoint instance may leave several events (schema 6)
            Column("lifecycle", T.TEXT),
        ),
    ),
    Kind.TRANSACTIONS: TableSpec(
        Kind.TRANSACTIONS,
        "transactions",
        (
            Column("customer_id", T.TEXT, required=True),
            Column("timestamp", T.TIMESTAMP, required=True),
            Column("amount", T.NUMBER, required=True),
            Column("margin", T.NUMBER),
            # one-off purchases feed BG/NBD and Gamma-Gamma; recurring bills do not
            Column("kind", T.TEXT, choices=TRANSACTION_KINDS, default="purchase"),
        ),
    ),
    Kind.FEEDBACK: TableSpec(
        Kind.FEEDBACK,
        "feedback",
        (
            Column("customer_id", T.TEXT, required=True),
            Column("timestamp", T.TIMESTAMP, required=True),
            Column("touchpoint", T.TEXT),
            Column("metric", T.TEXT, required=True, choices=METRICS),
            Column("score", T.NUMBER, required=True),
            Column("text", T.TEXT),
            Column("language", T.TEXT),
        ),
    ),
}

# Columns every loaded row carries besides its own: which load brought it, and its
# position in the source (events use `seq` as the tie-breaker for equal timestamps).
LOAD_ID = "load_id"
SEQ = "seq"
ATTRIBUTES = "attributes"
LIFECYCLE = "lifecycle"  # the optional events column lifecycle filters and loops read
PII_TABLE = "customer_pii"

# Ingest-facing key per kind: the column a later row must not repeat for reference tables.
REFERENCE_KEYS: dict[Kind, str] = {
    Kind.CUSTOMERS: "customer_id",
    Kind.DEPARTMENTS: "department_id",
    Kind.TOUCHPOINTS: "touchpoint",
}


def stored_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """(name, SQL type) of a loadable table as stored: PII moves to its own table."""
    cols = [(c.name, c.type.value) for c in spec.columns if not c.pii]
    cols.append((ATTRIBUTES, "VARCHAR"))
    cols.append((LOAD_ID, "BIGINT"))
    cols.append((SEQ, "BIGINT"))
    return cols


# Schema 4: people and protection. The audit log is append-only: corridor only ever
# INSERTs into it (corridor.audit.record); nothing in the app updates or deletes a row.
ACCOUNT_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS users (
        user_name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL,
        department_id VARCHAR, disabled BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMP NOT NULL, password_changed_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        audit_id BIGINT PRIMARY KEY, "at" TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
        address VARCHAR, action VARCHAR NOT NULL, target VARCHAR, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        token_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, label VARCHAR,
        created_at TIMESTAMP NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false)""",
)

# Schema 5: the academy. Course answers and maturity assessments are insert-only: a
# retried quiz is a new attempt, a new assessment a new row (the history shows change).
ACADEMY_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS academy_lessons_read (
        user_name VARCHAR NOT NULL, module INTEGER NOT NULL, lesson_id VARCHAR NOT NULL,
        read_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS academy_quiz_answers (
        user_name VARCHAR NOT NULL, module INTEGER NOT NULL, attempt INTEGER NOT NULL,
        question_id VARCHAR NOT NULL, choice_id VARCHAR NOT NULL, correct BOOLEAN NOT NULL,
        answered_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS academy_exercise_answers (
        user_name VARCHAR NOT NULL, module INTEGER NOT NULL, exercise_id VARCHAR NOT NULL,
        answer VARCHAR NOT NULL, answered_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS maturity_questionnaires (
        assessment_id BIGINT NOT NULL, statement_id VARCHAR NOT NULL,
        rating INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS maturity_assessments (
        assessment_id BIGINT PRIMARY KEY, assessed_at TIMESTAMP NOT NULL,
        assessed_by VARCHAR NOT NULL, stage INTEGER NOT NULL, score DOUBLE NOT NULL,
        evidence VARCHAR NOT NULL)""",
)

APPLICATION_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    f"""CREATE TABLE IF NOT EXISTS {PII_TABLE} (
        customer_id VARCHAR, name VARCHAR, email VARCHAR, phone VARCHAR,
        load_id BIGINT, seq BIGINT)""",
    """CREATE TABLE IF NOT EXISTS loads (
        load_id BIGINT PRIMARY KEY, kind VARCHAR, source VARCHAR, sha256 VARCHAR,
        format VARCHAR, loaded_at TIMESTAMP, rows_read BIGINT, rows_accepted BIGINT,
        rows_rejected BIGINT, unknown_customers BIGINT, new_touchpoints BIGINT)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        load_id BIGINT, kind VARCHAR, source VARCHAR, line BIGINT, column_name VARCHAR,
        reason VARCHAR, raw VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS incidents (
        incident_id BIGINT PRIMARY KEY, opened_at TIMESTAMP, title VARCHAR,
        touchpoint VARCHAR, department_id VARCHAR, source VARCHAR, status VARCHAR,
        description VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS whys (
        why_id BIGINT PRIMARY KEY, incident_id BIGINT, parent_id BIGINT, position INTEGER,
        statement VARCHAR, touchpoint VARCHAR, department_id VARCHAR,
        is_root_cause BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS actions (
        action_id BIGINT PRIMARY KEY, incident_id BIGINT, why_id BIGINT, kind VARCHAR,
        title VARCHAR, owner_department_id VARCHAR, due DATE, status VARCHAR,
        completed_at TIMESTAMP, effect VARCHAR, measured_effect VARCHAR,
        measured_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS planted_truths (name VARCHAR PRIMARY KEY, value VARCHAR)""",
    *ACCOUNT_DDL,
    *ACADEMY_DDL,
)


def loadable_ddl() -> list[str]:
    out = []
    for spec in SPECS.values():
        cols = ", ".join(f'"{n}" {t}' for n, t in stored_columns(spec))
        out.append(f"CREATE TABLE IF NOT EXISTS {spec.table} ({cols})")
    return out
