"""Object-centric event logs (OCEL 2.0, https://www.ocel-standard.org) as a source of
events: the SQLite and the JSON form of the standard.

An OCEL event has a type, a time, attributes and relationships to objects of several
types (a customer, an order, its items...). corridor follows a journey per *case
object*: every event yields one row per object of the case type it is related to, so an
event related to two orders is in both orders' journeys. Its columns:

- ``case_id``: the case object's id;
- ``customer_id``: the customer object the event itself is related to (the smallest id
  when several); else the customer the case object is linked to by an object-to-object
  relationship (either direction); else the customer that shares an event with the case
  object; else empty (ingest then rejects the row, saying why). When the case type is the
  customer type, the case object is the customer;
- ``touchpoint``: the event type; ``timestamp``: the event time as written;
- ``ocel:event``: the event's id; and every event attribute by its name (a name that
  clashes with those columns is prefixed ``event:``; columns the standard reserves,
  ``ocel_*``, and pm4py's ``ocel:activity`` copy of the type are left out).

The customer type is the one :meth:`OcelSource.choose_objects` names, else the object
type called ``customer`` (any case); the case type defaults to the customer type. An
event related to no object of the case type is a :class:`BadRow` (it belongs to no
journey). Rows come in the order of the file's events (then case id); ``_line`` is the
row's number in that order, so a reject names the row, not a line of the file.

Both forms are staged once into a temporary DuckDB file beside the system's other
temporary files, so the rows can be produced by one query and read in batches. The
SQLite form is copied table by table in chunks; the JSON form is one document, which
DuckDB parses whole: for logs near the size of memory use the SQLite form.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .errors import MappingError, SourceFormatError, printable

LINE_COLUMN = "_line"  # as in corridor.sources
FIXED = ("case_id", "customer_id", "touchpoint", "timestamp", "ocel:event")
SQLITE_MAGIC = b"SQLite format 3\x00"
_JSON_START = re.compile(rb'\A\s*\{\s*"(objectTypes|eventTypes|objects|events)"\s*:\s*\[')
_OCEL1_START = re.compile(rb'\A\s*\{\s*"ocel:')
_CHUNK = 50_000


def looks_like_ocel_json(path: Path) -> bool:
    """True when a ``.json`` file opens like an OCEL document (OCEL 2.0, or 1.0 so that
    it can be refused by name) rather than like JSON Lines."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    return bool(_JSON_START.match(head) or _OCEL1_START.match(head))


def open_ocel(path: Path, batch_rows: int = 100_000) -> "OcelSource":
    """An OCEL 2.0 log in SQLite or JSON form (told apart by the file's first bytes)."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(b"\x1f\x8b"):
        raise SourceFormatError(
            f"{printable(Path(path).name)} is a gzip-compressed OCEL log; unpack it first.")
    form = "sqlite" if head == SQLITE_MAGIC else "json"
    return OcelSource(path, form, batch_rows=batch_rows)


def _text(value) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _strings(names: list[str], rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows)) if rows else [() for _ in names]
    return pa.table({n: pa.array([_text(v) for v in col], pa.string())
                     for n, col in zip(names, columns)})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class OcelSource:
    """Rows of an OCEL 2.0 log, one per (event, related case object); see the module
    docstring. Follows the Source protocol of :mod:`corridor.sources`."""

    format = "ocel"

    def __init__(self, path: Path, form: str, *, batch_rows: int = 100_000):
        self.path = Path(path)
        self.form = form
        self.batch_rows = batch_rows
        self.size_bytes = self.path.stat().st_size
        self._folder = tempfile.TemporaryDirectory(prefix="corridor-ocel-")
        self._con = duckdb.connect(str(Path(self._folder.name) / "ocel.duckdb"))
        weakref.finalize(self, _close, self._con, self._folder)
        self._con.execute("SET preserve_insertion_order = true")
        self._rows = 0
        self._given = 0
        self._built: tuple[str, str] | None = None
        self.customer_type: str | None = None
        self.case_type: str | None = None
        self._chosen = False
        try:
            attributes = self._stage_sqlite() if form == "sqlite" else self._stage_json()
        except (duckdb.Error, sqlite3.Error) as exc:
            what = "SQLite" if form == "sqlite" else "JSON"
            raise SourceFormatError(
                f"{printable(self.path.name)} is not a readable OCEL 2.0 {what} log"
                f" ({_first_line(exc)})."
            ) from None
        self._attributes = attributes  # (column name in the rows, staged column)
        self.columns: list[str] = [*FIXED, *(name for name, _ in attributes)]
        self.object_types: tuple[str, ...] = tuple(
            r[0] for r in self._con.execute(
                "SELECT DISTINCT type FROM obj WHERE type IS NOT NULL ORDER BY type"
            ).fetchall())

    # -- which objects are the customer and the case ------------------------------------
    def choose_objects(self, *, customer: str | None = None, case: str | None = None) -> None:
        """Name the object type that is the customer and the one that is the case
        (default: the customer type). Refused in one sentence when the log has no such
        type."""
        for role, name in (("customer", customer), ("case", case)):
            if name is not None and name not in self.object_types:
                raise MappingError(
                    f"{printable(self.path.name)} has no object type {name!r} for the {role}; its"
                    f" object types are {', '.join(self.object_types) or 'none'}."
                )
        if customer is None:
            found = [t for t in self.object_types if t.lower() == "customer"]
            if not found:
                raise MappingError(
                    f"{printable(self.path.name)}: name the object type that is the customer in the"
                    f" mapping ([ocel] customer = \"...\"); its object types are"
                    f" {', '.join(self.object_types) or 'none'}."
                )
            customer = found[0]
        self.customer_type, self.case_type = customer, case or customer
        self._chosen = True

    # -- the Source protocol ------------------------------------------------------------
    def batches(self) -> Iterator[tuple[pa.Table, list]]:
        from .sources import BadRow

        self._build()
        self._given = 0
        names = list(self.columns)
        select = ", ".join(_q(c) for c in [LINE_COLUMN, *names])
        reader = self._con.execute(
            f"SELECT {select} FROM ocel_rows ORDER BY {_q(LINE_COLUMN)}"
        ).to_arrow_reader(self.batch_rows)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            orphan = table.column("case_id").is_null()
            bad = [
                BadRow(line, None, f"the event is related to no object of type"
                       f" {self.case_type!r}", self._render(row))
                for line, row in zip(
                    table.filter(orphan).column(LINE_COLUMN).to_pylist(),
                    table.filter(orphan).select(names).to_pylist())
            ]
            good = table.filter(pc.invert(orphan))
            good = good.select([*names, LINE_COLUMN])
            good = good.set_column(good.num_columns - 1, LINE_COLUMN,
                                   good.column(LINE_COLUMN).cast(pa.int64()))
            self._given += table.num_rows
            yield good, bad

    def bytes_read(self) -> int:
        if not self._rows:
            return 0
        return int(self.size_bytes * min(self._given / self._rows, 1.0))

    def raw_rows(self, lines: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(lines))
        if not wanted:
            return {}
        self._build()
        self._con.execute("CREATE OR REPLACE TEMP TABLE wanted (line BIGINT)")
        self._con.executemany("INSERT INTO wanted VALUES (?)", [(n,) for n in wanted])
        select = ", ".join(_q(c) for c in self.columns)
        found = self._con.execute(
            f"SELECT {_q(LINE_COLUMN)}, {select} FROM ocel_rows"
            f" WHERE {_q(LINE_COLUMN)} IN (SELECT line FROM wanted)"
        ).fetchall()
        return {row[0]: self._render(dict(zip(self.columns, row[1:]))) for row in found}

    @staticmethod
    def _render(row: dict) -> str:
        return json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False)

    # -- the rows -------------------------------------------------------------------------
    def _build(self) -> None:
        if not self._chosen:
            self.choose_objects()
        key = (self.customer_type, self.case_type)
        if self._built == key:
            return
        customer, case = _lit(self.customer_type), _lit(self.case_type)
        same = self.customer_type == self.case_type
        if same:
            whose = "c.object_id"
            helpers = ""
        else:
            whose = "coalesce(own.customer, linked.customer, shared.customer)"
            helpers = f"""
            , own AS (
                SELECT e2o.event_id, min(e2o.object_id) AS customer
                FROM e2o JOIN obj ON obj.id = e2o.object_id AND obj.type = {customer}
                GROUP BY e2o.event_id)
            , case_obj AS (SELECT id FROM obj WHERE type = {case})
            , cust_obj AS (SELECT id FROM obj WHERE type = {customer})
            , linked AS (
                SELECT case_id, min(customer) AS customer FROM (
                    SELECT source_id AS case_id, target_id AS customer FROM o2o
                    WHERE source_id IN (SELECT id FROM case_obj)
                      AND target_id IN (SELECT id FROM cust_obj)
                    UNION ALL
                    SELECT target_id, source_id FROM o2o
                    WHERE target_id IN (SELECT id FROM case_obj)
                      AND source_id IN (SELECT id FROM cust_obj))
                GROUP BY case_id)
            , shared AS (
                SELECT c.object_id AS case_id, min(own.customer) AS customer
                FROM cases c JOIN own USING (event_id) GROUP BY c.object_id)"""
        attrs = "".join(f", ev.{_q(staged)} AS {_q(name)}" for name, staged in self._attributes)
        joins = "" if same else """
            LEFT JOIN own ON own.event_id = ev.id
            LEFT JOIN linked ON linked.case_id = c.object_id
            LEFT JOIN shared ON shared.case_id = c.object_id"""
        self._con.execute(f"""
            CREATE OR REPLACE TABLE ocel_rows AS
            WITH cases AS (
                SELECT DISTINCT e2o.event_id, e2o.object_id
                FROM e2o JOIN obj ON obj.id = e2o.object_id AND obj.type = {case})
            {helpers}
            SELECT row_number() OVER (ORDER BY ev.ord, c.object_id) AS {_q(LINE_COLUMN)},
                   c.object_id AS case_id, {whose} AS customer_id,
                   ev.type AS touchpoint, ev.time AS timestamp, ev.id AS "ocel:event"
                   {attrs}
            FROM ev LEFT JOIN cases c ON c.event_id = ev.id {joins}
            ORDER BY 1""")
        self._rows = self._con.execute("SELECT count(*) FROM ocel_rows").fetchone()[0]
        self._built = key

    # -- staging --------------------------------------------------------------------------
    def _stage_sqlite(self) -> list[tuple[str, str]]:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        lite = sqlite3.connect(uri, uri=True)
        try:
            tables = {r[0] for r in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            for needed in ("event", "object", "event_object", "event_map_type"):
                if needed not in tables:
                    raise SourceFormatError(
                        f"{printable(self.path.name)} is not an OCEL 2.0 SQLite log: it has no table"
                        f" '{needed}'."
                    )
            self._copy(lite, "SELECT rowid, ocel_id, ocel_type FROM event",
                       "ev_index", ["ord", "id", "type"])
            self._copy(lite, "SELECT ocel_id, ocel_type FROM object", "obj", ["id", "type"])
            self._copy(lite, "SELECT ocel_event_id, ocel_object_id FROM event_object",
                       "e2o", ["event_id", "object_id"])
            if "object_object" in tables:
                self._copy(lite, "SELECT ocel_source_id, ocel_target_id FROM object_object",
                           "o2o", ["source_id", "target_id"])
            else:
                self._con.execute("CREATE TABLE o2o (source_id VARCHAR, target_id VARCHAR)")
            names: list[str] = []
            per_type = []
            for _, mapped in lite.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"):
                table = f"event_{mapped}"
                if table not in tables:
                    continue
                cols = [r[1] for r in lite.execute(f"PRAGMA table_info({_q(table)})")]
                own = [c for c in cols if not _reserved(c)]
                names.extend(c for c in own if c not in names)
                per_type.append((table, own, "ocel_time" in cols))
            attributes = _attribute_columns(names)
            staged = ", ".join(f"{_q(s)} VARCHAR" for _, s in attributes)
            self._con.execute(
                "CREATE TABLE ev_attr (id VARCHAR, time VARCHAR"
                + (", " + staged if staged else "") + ")")
            for table, own, has_time in per_type:
                select = ["ocel_id", "ocel_time" if has_time else "NULL", *(_q(c) for c in own)]
                self._copy(lite, f"SELECT {', '.join(select)} FROM {_q(table)}", "ev_attr",
                           ["id", "time", *(_staged_name(c, attributes) for c in own)],
                           create=False)
        finally:
            lite.close()
        self._con.execute("""
            CREATE TABLE ev AS SELECT i.ord, i.id, i.type, a.* EXCLUDE (id)
            FROM ev_index i LEFT JOIN (
                SELECT * FROM ev_attr QUALIFY row_number() OVER (PARTITION BY id) = 1
            ) a ON a.id = i.id ORDER BY i.ord""")
        return attributes

    def _copy(self, lite, query: str, table: str, names: list[str], *, create: bool = True):
        cursor = lite.execute(query)
        made = not create
        while True:
            rows = cursor.fetchmany(_CHUNK)
            if not rows and made:
                break
            chunk = _strings(names, rows)
            if table == "ev_index":
                chunk = chunk.set_column(0, "ord", chunk.column(0).cast(pa.int64()))
            self._con.register("chunk", chunk)
            if made:
                self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM chunk")
            else:
                self._con.execute(f"CREATE TABLE {table} AS SELECT * FROM chunk")
                made = True
            self._con.unregister("chunk")
            if not rows:
                break

    def _stage_json(self) -> list[tuple[str, str]]:
        with open(self.path, "rb") as f:
            head = f.read(1 << 16)
        if _OCEL1_START.match(head):
            raise SourceFormatError(
                f"{printable(self.path.name)} is an OCEL 1.0 log; corridor reads OCEL 2.0 (convert it,"
                " for example with pm4py)."
            )
        relation = "STRUCT(objectId VARCHAR, qualifier VARCHAR)[]"
        columns = {
            "eventTypes": "STRUCT(name VARCHAR, attributes STRUCT(name VARCHAR, type VARCHAR)[])[]",
            "events": "STRUCT(id VARCHAR, type VARCHAR, time VARCHAR,"
                      f" attributes STRUCT(name VARCHAR, value JSON)[], relationships {relation})[]",
            "objects": f"STRUCT(id VARCHAR, type VARCHAR, relationships {relation})[]",
        }
        spec = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in columns.items()) + "}"
        path = _lit(str(self.path))
        self._con.execute(f"""
            CREATE TABLE doc AS SELECT * FROM read_json({path}, format = 'unstructured',
                records = true, maximum_object_size = {max(self.size_bytes + 1, 1 << 24)},
                columns = {spec})""")
        count, has_events = self._con.execute(
            "SELECT count(*), bool_and(events IS NOT NULL) FROM doc").fetchone()
        if count != 1 or not has_events:
            raise SourceFormatError(
                f"{printable(self.path.name)} is not an OCEL 2.0 JSON log: expected one object with"
                " an 'events' list."
            )
        names: list[str] = []
        for (name,) in self._con.execute("""
                SELECT DISTINCT a.name FROM (
                    SELECT unnest(t.attributes) AS a FROM (
                        SELECT unnest(eventTypes) AS t FROM doc))""").fetchall():
            if name is not None and not _reserved(name) and name not in names:
                names.append(name)
        attributes = _attribute_columns(names)
        picks = "".join(
            f", list_filter(e.attributes, a -> a.name = {_lit(n)})[1].value ->> '$'"
            f" AS {_q(s)}" for n, s in attributes)
        self._con.execute(f"""
            CREATE TABLE ev AS
            SELECT ord, e.id AS id, e.type AS type, e.time AS time {picks}
            FROM (SELECT generate_subscripts(events, 1) AS ord, unnest(events) AS e FROM doc)
            ORDER BY ord""")
        self._con.execute("""
            CREATE TABLE obj AS SELECT o.id AS id, o.type AS type
            FROM (SELECT unnest(objects) AS o FROM doc)""")
        self._con.execute("""
            CREATE TABLE e2o AS SELECT id AS event_id, r.objectId AS object_id
            FROM (SELECT e.id AS id, unnest(e.relationships) AS r
                  FROM (SELECT unnest(events) AS e FROM doc))""")
        self._con.execute("""
            CREATE TABLE o2o AS SELECT id AS source_id, r.objectId AS target_id
            FROM (SELECT o.id AS id, unnest(o.relationships) AS r
                  FROM (SELECT unnest(objects) AS o FROM doc))""")
        self._con.execute("DROP TABLE doc")
        return attributes


def _reserved(name: str) -> bool:
    return name.startswith("ocel_") or name == "ocel:activity"


def _attribute_columns(names: list[str]) -> list[tuple[str, str]]:
    """(column name in the rows, staged column) per event attribute; names that clash
    with the fixed columns or the line column get ``event:``."""
    from .sources import MAX_COLUMNS

    if len(names) > MAX_COLUMNS:
        raise SourceFormatError(
            f"The OCEL log declares {len(names):,} event attributes; corridor reads at most"
            f" {MAX_COLUMNS:,}.")
    out = []
    for i, name in enumerate(names):
        shown = f"event:{name}" if name in FIXED or name == LINE_COLUMN else name
        out.append((shown, f"a{i}"))
    return out


def _staged_name(name: str, attributes: list[tuple[str, str]]) -> str:
    shown = f"event:{name}" if name in FIXED or name == LINE_COLUMN else name
    return dict(attributes)[shown]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _close(con, folder) -> None:
    try:
        con.close()
    finally:
        folder.cleanup()
