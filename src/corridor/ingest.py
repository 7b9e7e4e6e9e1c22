"""Ingest: load one file of one kind into a project, losing nothing.

A file is read as a stream of Arrow batches (:mod:`corridor.sources`); each batch is
converted and validated by one vectorised DuckDB query into a staging table inside a
single transaction. Bad rows go to ``rejects`` with file, line, column, reason and raw
text; good rows go to the canonical table. The transaction commits only when the whole
file has been read, so a file loads entirely or not at all, and a killed process leaves
the project as it was. A file whose content was loaded before (same SHA-256, same kind)
adds nothing.

In a project that pseudonymises (:mod:`corridor.pseudonyms`), customer and case ids are
replaced by their pseudonyms in the same query, and a rejected row's raw text keeps its
identifier fields only as pseudonyms (a row that cannot be split into fields keeps no
raw text at all). Without its key such a project refuses to load anything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from dataclasses import replace as replace_field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from .errors import InputError, MappingError, RejectRateExceeded
from .mapping import SPACES, Mapping
from .pseudonyms import IDENTIFIERS, Domain, Key, pseudonym_sql, require_key
from .schema import (
    ATTRIBUTES,
    PII_TABLE,
    REFERENCE_KEYS,
    SPECS,
    Column,
    ColumnType,
    Kind,
    TableSpec,
)
from .sources import LINE_COLUMN, BadRow, SourceOptions, open_source
from .stepstore import refresh_steps
from .store import Project

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` in bytes while a file is read."""

# DuckDB spills beyond this during a load. Measured on a 10M-row file it is faster than
# no limit (55 s against 83 s) and halves peak memory (2.7 GB against 5.2 GB).
INGEST_MEMORY_LIMIT = "1GB"
REGISTERED_BY_INGEST = '{"registered_by": "ingest"}'
# Kinds whose identical rows are distinct records unless a mapping declares a key: two
# purchases of the same amount on the same day are two purchases (CDNOW records days).
KEPT_DUPLICATES = frozenset({Kind.TRANSACTIONS})
# The raw text kept for a rejected row that a pseudonymised project cannot split into
# fields, so cannot rid of its identifiers.
WITHHELD = ("[not kept: this project pseudonymises customer ids and this row could not be"
            " split into fields; see the source file at this line]")
_CHECKED = "_corridor_checked"
_BATCH = "_corridor_batch"
_BAD = "_corridor_bad"
_FOUND = "_corridor_found"
_UNREADABLE = "_corridor_unreadable"  # rows the reader could not split, kept as they come
# Currency around an amount: any currency sign, an ISO 4217 code, and the abbreviations
# exports write where their code page has no sign (roubles, riyals, dirhams, pounds).
_CURRENCY_WORDS = ("руб.", "руб", "р.", "ر.س", "د.إ", "ج.م")
_CURRENCY = (r"\p{Sc}|^[A-Z]{3}\s|\s[A-Z]{3}$|\s(?:"
             + "|".join(w.replace(".", r"\.") for w in _CURRENCY_WORDS) + ")$")
_TYPE_WORDS = {
    ColumnType.NUMBER: "a number",
    ColumnType.INTEGER: "a whole number",
    ColumnType.TIMESTAMP: "a timestamp",
    ColumnType.DATE: "a date",
}


@dataclass(frozen=True)
class IngestResult:
    kind: Kind
    source: str
    format: str
    read: int
    accepted: int
    rejected: int
    already_loaded: bool = False
    unknown_customers: int = 0
    new_touchpoints: int = 0
    load_id: int | None = None
    replaced: int = 0  # rows of earlier loads of the file that this load replaced

    def to_dict(self) -> dict:
        out = asdict(self)
        out["kind"] = self.kind.value
        return out


def ingest_file(
    project: Project,
    kind: Kind | str,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    max_reject_rate: float = 1.0,
    progress: ProgressCallback | None = None,
    replace: bool = False,
) -> IngestResult:
    """Load ``path`` as rows of ``kind``; see the module docstring for the guarantees.
    ``replace`` first removes the rows of earlier loads of the same file (same content,
    or same path) in the load's own transaction, so a file can be loaded again, say
    with a corrected mapping."""
    kind = Kind(kind)
    path = Path(path)
    mapping = mapping or Mapping()
    key = require_key(project)
    if not 0.0 <= max_reject_rate <= 1.0:
        raise InputError(
            f"--max-reject-rate must be between 0 and 1, got {max_reject_rate}."
        )
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file.")
    digest = _sha256(path)
    earlier = project.con.execute(
        "SELECT load_id, source, rows_read FROM loads WHERE sha256 = ? AND kind = ?",
        [digest, kind.value],
    ).fetchone()
    if earlier is not None and not replace:
        return IngestResult(kind, str(path), "", 0, 0, 0, already_loaded=True,
                            load_id=earlier[0])
    source = open_source(
        path,
        SourceOptions(
            delimiter=mapping.delimiter,
            encoding=mapping.encoding,
            quotechar=mapping.quotechar,
        ),
    )
    if source.format == "ocel":  # which object is the customer, which the case
        source.choose_objects(customer=mapping.ocel_customer, case=mapping.ocel_case)
    spec = SPECS[kind]
    con = project.con
    memory = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{os.environ.get('CORRIDOR_INGEST_MEMORY_LIMIT', INGEST_MEMORY_LIMIT)}'")
    con.execute("BEGIN TRANSACTION")
    failed: BaseException | None = None
    try:
        con.execute(f"SET TimeZone = '{mapping.timezone}'")
        replaced = _remove_earlier_loads(con, spec, path, digest) if replace else 0
        with key.bound(con) if key is not None else nullcontext():
            result = _load(project, spec, source, mapping, digest, max_reject_rate,
                           progress, key)
        if replaced:
            result = replace_field(result, replaced=replaced)
        if kind == Kind.EVENTS and result.accepted:
            # the stored case order changes with the events; ordering them is analysis
            # work, so it runs under the analytics' memory limit, not the load's
            con.execute(f"SET memory_limit = '{memory}'")
            refresh_steps(project)
        con.execute("COMMIT")
        return result
    except BaseException as exc:
        from .store import disk_full, rollback

        rollback(con)  # a failed COMMIT has rolled back already: its error is the one
        failed = exc
        full = disk_full(exc, project.path, unchanged=True)
        if full is not None:
            raise full from exc
        raise
    finally:
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{memory}'")
            for name in (_CHECKED, _BAD, _UNREADABLE):
                con.execute(f"DROP TABLE IF EXISTS {name}")
        except Exception:
            if failed is None:  # after a failure, the failure is what to report
                raise


# -- the load, inside one transaction -------------------------------------------------
#
# Each batch is converted into a small temporary table, its good rows are appended to
# the canonical table at once (with this load's id and seq = previous maximum + source
# line) and its bad rows' line, column and reason kept aside. Nothing of the file stays
# in memory. Duplicates are found at the end among this load's rows and removed again;
# the transaction makes all of it one step.


def _load(project, spec, source, mapping, digest, max_reject_rate, progress, key):
    con = project.con
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchone()[0]
    plan = _Plan.build(spec, source, mapping, pseudonymise=key is not None)
    target = _Target(spec, plan, load_id, _max_seq(con, spec.table))
    con.execute(f"CREATE TEMP TABLE {_BAD} (_line BIGINT, _column VARCHAR, reason VARCHAR)")
    con.execute(f"CREATE TEMP TABLE {_UNREADABLE} (line BIGINT, column_name VARCHAR,"
                " reason VARCHAR, raw VARCHAR)")
    identifiers = _RawIdentifiers(source, plan, key) if key is not None else None
    unreadable = staged = 0
    select = None
    for batch, bad in source.batches():
        if bad:  # into the project's temporary storage at once, not held in memory
            _keep_unreadable(con, bad, identifiers)
            unreadable += len(bad)
        if batch.num_rows:
            if select is None or batch.schema != select[0]:
                select = (batch.schema, plan.select_sql(batch.schema))
            con.register(_BATCH, batch)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_CHECKED} AS {select[1]}")
            con.unregister(_BATCH)
            target.append_checked(con)
            _append_checked(con, _BAD, "_line, _column, _reason", "_reason IS NOT NULL")
            staged += batch.num_rows
        if progress is not None:
            progress(source.bytes_read(), source.size_bytes)

    read = staged + unreadable
    _find_duplicates(con, spec, target)
    rejected = con.execute(f"SELECT count(*) FROM {_BAD}").fetchone()[0] + unreadable
    accepted = read - rejected
    if read and not accepted:
        # Recording such a load would make the file "already loaded" although nothing
        # of it is in the project; refusing it lets it load once the mapping is right.
        raise RejectRateExceeded(
            f"{source.path}: all {read:,} rows were rejected, so nothing was loaded and"
            f" the file can be loaded again once fixed. First problem:"
            f" {_first_problem(con)}."
        )
    if read and rejected / read > max_reject_rate:
        first = _first_problem(con)
        raise RejectRateExceeded(
            f"{source.path}: {rejected:,} of {read:,} rows ({rejected / read:.1%}) were"
            f" rejected, above the limit of {max_reject_rate:.1%}; nothing was loaded."
            f" First problem: {first}."
        )
    target.remove_duplicates(con)
    _write_rejects(con, spec, source, load_id, identifiers)
    unknown_customers, new_touchpoints = target.settle_references(con)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, spec.kind.value, str(source.path), digest, source.format, now, read,
         accepted, rejected, unknown_customers, new_touchpoints],
    )
    return IngestResult(
        spec.kind, str(source.path), source.format, read, accepted, rejected,
        unknown_customers=unknown_customers, new_touchpoints=new_touchpoints,
        load_id=load_id,
    )


def _remove_earlier_loads(con, spec: TableSpec, path: Path, digest: str) -> int:
    """Remove the loads of ``spec``'s kind of the same content or the same path, with
    their rows and rejects; the number of rows removed."""
    ids = [row[0] for row in con.execute(
        "SELECT load_id FROM loads WHERE kind = ? AND (sha256 = ? OR source IN (?, ?))",
        [spec.kind.value, digest, str(path), str(path.resolve())],
    ).fetchall()]
    if not ids:
        return 0
    listed = ", ".join(str(int(i)) for i in ids)
    removed = con.execute(f"SELECT count(*) FROM {spec.table} WHERE load_id IN ({listed})"
                          ).fetchone()[0]
    tables = [spec.table, "rejects", "loads"]
    if spec.kind is Kind.CUSTOMERS:
        tables.append(PII_TABLE)
    for table in tables:
        con.execute(f"DELETE FROM {table} WHERE load_id IN ({listed})")
    return removed


def _max_seq(con, table: str) -> int:
    return con.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0]


@dataclass(frozen=True)
class _Target:
    """The canonical table (and, for customers, the PII table) one load writes to."""

    spec: TableSpec
    plan: "_Plan"
    load_id: int
    base: int  # seq of this load's row = base + its source line

    @property
    def own_columns(self) -> list[str]:
        pii = {c.name for c in self.spec.columns if c.pii}
        return [n for n in self.plan.stored_names if n not in pii]

    @property
    def rows(self) -> str:
        """This load's rows, with their source line."""
        return (
            f"(SELECT *, seq - {self.base} AS _line FROM {self.spec.table}"
            f" WHERE load_id = {self.load_id})"
        )

    def append_checked(self, con) -> None:
        cols = ", ".join(_q(n) for n in self.own_columns)
        _append_checked(con, f"{self.spec.table} ({cols}, load_id, seq)",
                        f"{cols}, {self.load_id}, {self.base} + _line", "_reason IS NULL")
        pii = self.plan.pii
        if pii:
            names = ", ".join(_q(n) for n in pii)
            any_value = " OR ".join(f"{_q(n)} IS NOT NULL" for n in pii)
            _append_checked(con, f"{PII_TABLE} (customer_id, {names}, load_id, seq)",
                            f"customer_id, {names}, {self.load_id}, {self.base} + _line",
                            f"_reason IS NULL AND ({any_value})")

    def remove_duplicates(self, con) -> None:
        for table in (self.spec.table, PII_TABLE if self.plan.pii else None):
            if table:
                con.execute(
                    f"DELETE FROM {table} WHERE load_id = {self.load_id}"
                    f" AND seq IN (SELECT {self.base} + _line FROM {_BAD})"
                )
        if self.spec.kind is Kind.TOUCHPOINTS:
            # Touchpoints ingest registered on its own are now described.
            con.execute(
                f"DELETE FROM touchpoints WHERE attributes = '{REGISTERED_BY_INGEST}'"
                f" AND load_id <> {self.load_id} AND touchpoint IN"
                f" (SELECT touchpoint FROM touchpoints WHERE load_id = {self.load_id})"
            )

    def settle_references(self, con) -> tuple[int, int]:
        """Count customers we do not know and register touchpoints we did not know."""
        own, table, load_id = self.own_columns, self.spec.table, self.load_id
        unknown = new_tps = 0
        if "customer_id" in own and self.spec.kind is not Kind.CUSTOMERS:
            unknown = con.execute(
                f"""SELECT count(DISTINCT customer_id) FROM {table}
                WHERE load_id = ? AND customer_id NOT IN (SELECT customer_id FROM customers)""",
                [load_id],
            ).fetchone()[0]
        if "touchpoint" in own and self.spec.kind is not Kind.TOUCHPOINTS:
            # A registered touchpoint declares no channel or department: only a
            # touchpoints file can, and an event's own ones always stand for it.
            new_tps = _append(
                con, "touchpoints (touchpoint, channel, department_id, attributes, load_id, seq)",
                f"""SELECT touchpoint, NULL, NULL, '{REGISTERED_BY_INGEST}',
                       {load_id}, {_max_seq(con, "touchpoints")}
                         + row_number() OVER (ORDER BY min(seq))
                FROM {table}
                WHERE load_id = {load_id} AND touchpoint IS NOT NULL
                  AND touchpoint NOT IN (SELECT touchpoint FROM touchpoints)
                GROUP BY touchpoint""")
        return unknown, new_tps


# DuckDB 1.5.6 loses, at commit, an insert of a whole row group (122,880 rows) or more
# that follows an insert of no rows into the same table within one transaction
# (tests/test_ingest_duplicates.py). So a load never runs an insert that adds no rows.


def _append_checked(con, into: str, columns: str, where: str) -> None:
    """``INSERT INTO into SELECT columns FROM _CHECKED WHERE where``, unless no row of
    the batch is ``where``."""
    if con.execute(f"SELECT count(*) FROM {_CHECKED} WHERE {where}").fetchone()[0]:
        con.execute(f"INSERT INTO {into} SELECT {columns} FROM {_CHECKED} WHERE {where}")


def _append(con, into: str, select: str) -> int:
    """``INSERT INTO into select`` unless the select has no rows; the rows added. They go
    through a temporary table so the select runs once."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_FOUND} AS {select}")
    found = con.execute(f"SELECT count(*) FROM {_FOUND}").fetchone()[0]
    if found:
        con.execute(f"INSERT INTO {into} SELECT * FROM {_FOUND}")
    con.execute(f"DROP TABLE {_FOUND}")
    return found


def _keep_unreadable(con, bad: list[BadRow], identifiers: "_RawIdentifiers | None") -> None:
    raws = [b.raw if identifiers is None else identifiers.replaced(b.raw) for b in bad]
    table = _reject_table([b.line for b in bad], [b.column for b in bad],
                          [b.reason for b in bad], raws)
    con.register("_corridor_unreadable_batch", table)
    con.execute(f"INSERT INTO {_UNREADABLE} SELECT * FROM _corridor_unreadable_batch")
    con.unregister("_corridor_unreadable_batch")


def _reject_table(lines: list, columns: list, reasons: list, raws: list) -> pa.Table:
    """Rejected rows as Arrow, in the column order of the unreadable-rows table."""
    return pa.table({
        "line": pa.array(lines, pa.int64()),
        "column_name": pa.array(columns, pa.string()),
        "reason": pa.array(reasons, pa.string()),
        "raw": pa.array(raws, pa.string()),
    })


def _first_problem(con) -> str:
    line, column, reason = con.execute(
        f"SELECT _line, _column, reason FROM {_BAD} UNION ALL"
        f" SELECT line, column_name, reason FROM {_UNREADABLE} ORDER BY 1 LIMIT 1"
    ).fetchone()
    where = f"line {line}" + (f", column {column}" if column else "")
    return f"{where}: {reason}"


def _find_duplicates(con, spec: TableSpec, target: _Target) -> None:
    """Add to _BAD the lines of this load's rows that repeat another row."""
    rows, table, load_id = target.rows, spec.table, target.load_id
    key = REFERENCE_KEYS.get(spec.kind)
    if key is not None:
        # Reference tables: a key may appear once in the file and once in the project.
        existing = f"SELECT {_q(key)} FROM {table} WHERE load_id <> {load_id}"
        if spec.kind is Kind.TOUCHPOINTS:
            # Touchpoints that ingest registered on its own may be described later.
            existing += f" AND attributes IS DISTINCT FROM '{REGISTERED_BY_INGEST}'"
        _find_repeated_keys(con, rows, key, {key: _q(key)}, existing)
        return
    declared = target.plan.duplicate_key
    if declared:
        exprs = {name: target.plan.key_sql(name) for name in declared}
        earlier = (f"SELECT {', '.join(f'{e} AS {_q(n)}' for n, e in exprs.items())}"
                   f" FROM {table} WHERE load_id <> {load_id}")
        _find_repeated_keys(con, rows, ", ".join(declared), exprs, earlier)
        return
    if spec.kind in KEPT_DUPLICATES or target.plan.mapping.keep_duplicates:
        return
    cols = target.plan.business_names
    same = " AND ".join(f"a.{_q(c)} IS NOT DISTINCT FROM b.{_q(c)}" for c in cols)
    col_list = ", ".join(_q(c) for c in cols)
    _append(con, _BAD, f"""
        SELECT a._line, NULL, 'exact duplicate of line ' || b.first_line
        FROM {rows} a JOIN (
            SELECT {col_list}, min(_line) AS first_line FROM {rows}
            WHERE hash({col_list}) IN (
                SELECT hash({col_list}) AS h FROM {rows} GROUP BY h HAVING count(*) > 1)
            GROUP BY ALL HAVING count(*) > 1) b ON {same}
        WHERE a._line > b.first_line""")
    earlier = f"SELECT {col_list} FROM {table} WHERE load_id <> {load_id}"
    if "timestamp" in cols:
        earlier += (
            f" AND timestamp BETWEEN (SELECT min(timestamp) FROM {rows})"
            f" AND (SELECT max(timestamp) FROM {rows})"
        )
    _append(con, _BAD, f"""
        SELECT a._line, NULL, 'exact duplicate of a row already in the project'
        FROM {rows} a SEMI JOIN ({earlier}) b ON {same}
        WHERE a._line NOT IN (SELECT _line FROM {_BAD})""")


def _find_repeated_keys(con, rows: str, shown: str, exprs: dict[str, str],
                        existing: str) -> None:
    """Add to _BAD this load's rows whose key (``exprs``: name -> SQL over a row) repeats
    an earlier line of the file or a row of ``existing`` (which names the key columns as
    ``exprs`` does). A row with a missing key part is never a repeat."""
    names = ", ".join(_q(n) for n in exprs)
    keyed = (f"(SELECT _line, {', '.join(f'{e} AS {_q(n)}' for n, e in exprs.items())}"
             f" FROM {rows})")
    text = " || ', ' || ".join(_quoted(f"CAST({_q(n)} AS VARCHAR)") for n in exprs)
    complete = " AND ".join(f"{_q(n)} IS NOT NULL" for n in exprs)
    _append(con, _BAD, f"""
        SELECT _line, NULL, {_lit(shown + ' ')} || {text} || ' repeats line ' || first_line
        FROM (SELECT *, min(_line) OVER (PARTITION BY {names}) AS first_line
              FROM {keyed} WHERE {complete})
        WHERE _line > first_line""")
    same = " AND ".join(f"n.{_q(n)} = e.{_q(n)}" for n in exprs)
    text_n = " || ', ' || ".join(_quoted(f"CAST(n.{_q(n)} AS VARCHAR)") for n in exprs)
    _append(con, _BAD, f"""
        SELECT n._line, NULL, {_lit(shown + ' ')} || {text_n} || ' is already in the project'
        FROM {keyed} n SEMI JOIN ({existing}) e ON {same}
        WHERE n._line NOT IN (SELECT _line FROM {_BAD})""")


def _write_rejects(con, spec, source, load_id: int,
                   identifiers: "_RawIdentifiers | None") -> None:
    """Rows found bad by the conversion (raw text read again from the source) and rows
    the reader could not split, into ``rejects`` in line order, in one insert."""
    problems = con.execute(f"SELECT _line, _column, reason FROM {_BAD}").fetchall()
    unreadable = con.execute(f"SELECT count(*) FROM {_UNREADABLE}").fetchone()[0]
    if not problems and not unreadable:
        return
    raw = source.raw_rows(line for line, _, _ in problems) if problems else {}
    if identifiers is not None:
        raw = {line: identifiers.replaced(text) for line, text in raw.items()}
    lines, columns, reasons, raws = [], [], [], []
    for line, column, reason in problems:
        lines.append(line)
        columns.append(column)
        reasons.append(reason)
        raws.append(raw.get(line))
    con.register("_corridor_rejects", _reject_table(lines, columns, reasons, raws))
    con.execute(
        "INSERT INTO rejects SELECT ?, ?, ?, line, column_name, reason, raw FROM"
        f" (SELECT * FROM _corridor_rejects UNION ALL SELECT * FROM {_UNREADABLE})"
        " ORDER BY line",
        [load_id, spec.kind.value, str(source.path)],
    )
    con.unregister("_corridor_rejects")


class _RawIdentifiers:
    """Rewrites a rejected row's raw text with its identifier fields as pseudonyms:
    CSV records field by field in the file's own dialect, JSON objects (JSON Lines, and
    the rows Parquet and XES sources render) key by key. Text that cannot be split into
    fields is replaced by :data:`WITHHELD`."""

    def __init__(self, source, plan: "_Plan", key: Key):
        self.source = source
        self.key = key
        self.fields: dict[str, Domain] = {}  # source column -> domain of its ids
        # A source column that holds both ids (XES traces) is written as the customer's.
        for name, domain in sorted(plan.identifiers.items(),
                                   key=lambda item: item[1] is not Domain.CUSTOMER):
            column = plan.source_name.get(name)
            if column is not None:
                self.fields.setdefault(column, domain)

    def replaced(self, raw: str | None) -> str | None:
        if raw is None or not self.fields:
            return raw
        if self.source.format == "csv":
            return self._csv(raw)
        return self._json(raw)

    def _pseudonym(self, domain: Domain, value: str) -> str:
        text = value.strip(" ")  # as ingest trims the text it loads
        return self.key.pseudonym(domain, text) if text else value

    def _csv(self, raw: str) -> str:
        dialect = {"delimiter": self.source.delimiter, "quotechar": self.source.quotechar,
                   "doublequote": True, "quoting": csv.QUOTE_MINIMAL, "strict": False}
        try:
            rows = list(csv.reader(io.StringIO(raw, newline=""), **dialect))
        except csv.Error:
            return WITHHELD
        names = self.source.columns
        if len(rows) != 1 or len(rows[0]) != len(names):
            return WITHHELD
        row = rows[0]
        for i, name in enumerate(names):
            if name in self.fields:
                row[i] = self._pseudonym(self.fields[name], row[i])
        out = io.StringIO()
        csv.writer(out, lineterminator="", **dialect).writerow(row)
        return out.getvalue()

    def _json(self, raw: str) -> str:
        try:
            value = json.loads(raw)
        except ValueError:
            return WITHHELD
        if not isinstance(value, dict):
            return WITHHELD
        for name, domain in self.fields.items():
            item = value.get(name)
            if item is None or isinstance(item, (dict, list)):
                continue
            text = item if isinstance(item, str) else json.dumps(item)
            value[name] = self._pseudonym(domain, text)
        return json.dumps(value, ensure_ascii=False)


# -- conversion plan: source columns -> typed canonical columns ----------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quoted(expr: str) -> str:
    """SQL for the text of ``expr`` in single quotes, as shown in reject reasons."""
    return f"'''' || {expr} || ''''"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class _Plan:
    spec: TableSpec
    mapping: Mapping
    source_name: dict[str, str]  # canonical -> source column
    constant: dict[str, str]  # canonical -> constant value
    pii: list[str]
    where: str
    identifiers: dict[str, Domain]  # canonical columns stored as pseudonyms

    @classmethod
    def build(cls, spec: TableSpec, source, mapping: Mapping, *,
              pseudonymise: bool = False) -> "_Plan":
        where = str(source.path)
        columns = list(source.columns)
        by_lower = {c.lower(): c for c in columns}
        known = set(spec.names)
        for name in list(mapping.columns) + list(mapping.constants):
            if name not in known:
                raise MappingError(
                    f"The mapping names '{name}', which is not a column of"
                    f" {spec.kind.value}; expected one of {', '.join(spec.names)}."
                )
        source_name: dict[str, str] = {}
        constant: dict[str, str] = {}
        for col in spec.columns:
            if col.name in mapping.constants:
                constant[col.name] = mapping.constants[col.name]
            elif col.name in mapping.columns:
                wanted = mapping.columns[col.name]
                if wanted not in columns:
                    raise MappingError(
                        f"The mapping takes {col.name} from column '{wanted}', but"
                        f" {where} has no such column; its columns are"
                        f" {', '.join(columns)}."
                    )
                source_name[col.name] = wanted
            elif col.name.lower() in by_lower:
                source_name[col.name] = by_lower[col.name.lower()]
        if source.format == "xes" and "customer_id" not in source_name:
            source_name["customer_id"] = source_name.get("case_id", "case_id")
        if (source.format == "xes" and "lifecycle" in known and "lifecycle" not in source_name
                and "lifecycle" not in constant and "lifecycle:transition" in columns):
            source_name["lifecycle"] = "lifecycle:transition"
        for col in spec.columns:
            present = col.name in source_name or col.name in constant
            fallback = col.default_from in source_name if col.default_from else False
            if col.required and not present and not fallback:
                raise MappingError(
                    f"{where} has no column '{col.name}', which {spec.kind.value} need;"
                    f" its columns are {', '.join(columns)}. Name the column that holds"
                    f" it in a mapping file: [columns] {col.name} = \"...\"."
                )
        pii = [c.name for c in spec.columns if c.pii and c.name in source_name]
        identifiers = dict(IDENTIFIERS.get(spec.kind, {})) if pseudonymise else {}
        plan = cls(spec, mapping, source_name, constant, pii, where, identifiers)
        plan._check_values()
        plan._check_key(columns)
        return plan

    def _check_values(self) -> None:
        by_name = {c.name: c for c in self.spec.columns}
        for name, words in self.mapping.values.items():
            col = by_name.get(name)
            if col is None:
                raise MappingError(
                    f"The mapping has [values.{name}], but {name} is not a column of"
                    f" {self.spec.kind.value}; expected one of {', '.join(self.spec.names)}."
                )
            if col.choices:
                for word, value in words.items():
                    if value.lower() not in col.choices:
                        raise MappingError(
                            f"The mapping's [values.{name}] turns {word!r} into {value!r},"
                            f" which is not one of {', '.join(col.choices)}."
                        )

    def _check_key(self, columns: list[str]) -> None:
        if self.mapping.duplicate_key and self.spec.kind in REFERENCE_KEYS:
            raise MappingError(
                f"The mapping declares a [duplicates] key, but {self.spec.kind.value} are"
                f" always keyed by {REFERENCE_KEYS[self.spec.kind]}."
            )
        for name in self.mapping.duplicate_key:
            if name not in self.spec.names and name not in columns:
                raise MappingError(
                    f"The mapping's [duplicates] key names '{name}', which is neither a"
                    f" column of {self.where} ({', '.join(columns)}) nor of"
                    f" {self.spec.kind.value}."
                )

    @property
    def duplicate_key(self) -> tuple[str, ...]:
        return self.mapping.duplicate_key

    def key_sql(self, name: str) -> str:
        """SQL for one part of a declared key over a stored row: a canonical column
        (named as such or as the file's column mapped to it), else the file's column
        kept in ``attributes``."""
        if name in self.spec.names:
            return _q(name)
        canonical = {source: c for c, source in self.source_name.items()}
        if name in canonical:
            return _q(canonical[name])
        path = '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"json_extract_string({_q(ATTRIBUTES)}, {_lit(path)})"

    @property
    def stored_names(self) -> list[str]:
        return [c.name for c in self.spec.columns] + [ATTRIBUTES]

    @property
    def business_names(self) -> list[str]:
        return [c.name for c in self.spec.columns if not c.pii] + [ATTRIBUTES]

    def select_sql(self, schema: pa.Schema) -> str:
        """One query turning a batch into typed canonical rows with a reason per bad row."""
        inner, checks = [], []
        for col in self.spec.columns:
            text, failed = self._text_sql(col, schema)
            inner.append(f"{text} AS {_q('t_' + col.name)}")
            words = self._words_sql(col, schema)
            if words is not None:
                inner.append(f"{words} AS {_q('w_' + col.name)}")
            if col.name in self.source_name and col.name not in self.constant:
                inner.append(f"{_q(self.source_name[col.name])} AS {_q('s_' + col.name)}")
            checks.append((col, failed))
        inner.append(f"{self._attributes_sql(schema)} AS {_q(ATTRIBUTES)}")
        inner.append("_line")
        typed = [f"{self._typed_sql(c, schema)} AS {_q(c.name)}" for c in self.spec.columns]
        reason_cases, column_cases = [], []
        for col, failed in checks:
            shown = self.source_name.get(col.name, col.name)
            t = _q("t_" + col.name)
            v = _q(col.name)
            if self._words_sql(col, schema) is not None:
                w = _q("w_" + col.name)
                known = ", ".join(self.mapping.values[col.name])
                cond = f"{w} IS NOT NULL AND {t} IS NULL"
                reason_cases.append(
                    f"WHEN {cond} THEN {_quoted(f'left({w}, 80)')} || "
                    f"{_lit(f' is not a value the mapping knows for {col.name}; known: {known}')}"
                )
                column_cases.append(f"WHEN {cond} THEN {_lit(shown)}")
            if failed is not None:
                cond = failed.format(t=t, v=v)
                word = _TYPE_WORDS.get(col.type, "text")
                reason_cases.append(
                    f"WHEN {cond} THEN 'cannot read ' || {_quoted(f'left({t}, 80)')}"
                    f" || ' as {word}'"
                )
                column_cases.append(f"WHEN {cond} THEN {_lit(shown)}")
            if col.choices:
                cond = f"{v} IS NOT NULL AND {v} NOT IN ({', '.join(map(_lit, col.choices))})"
                reason_cases.append(
                    f"WHEN {cond} THEN {_quoted(f'left({t}, 80)')} || ' is not one of"
                    f" {', '.join(col.choices)}'"
                )
                column_cases.append(f"WHEN {cond} THEN {_lit(shown)}")
            if col.required:
                cond = f"{v} IS NULL"
                reason_cases.append(f"WHEN {cond} THEN 'missing {col.name}'")
                column_cases.append(f"WHEN {cond} THEN {_lit(shown)}")
        reason = f"CASE {' '.join(reason_cases)} END" if reason_cases else "NULL"
        column = f"CASE {' '.join(column_cases)} END" if column_cases else "NULL"
        middle = (
            f"SELECT *, {', '.join(typed)} FROM (SELECT {', '.join(inner)} FROM {_BATCH})"
        )
        names = ", ".join(_q(n) for n in self.stored_names)
        checked = (
            f"SELECT {names}, _line, {reason} AS _reason, {column} AS _column"
            f" FROM ({middle})"
        )
        return self._pseudonymised(checked) if self.identifiers else checked

    def _pseudonymised(self, checked: str) -> str:
        """``checked`` with its identifier columns replaced by their pseudonyms. Ids
        repeat (a customer's events, a case's steps), so each distinct id of the batch is
        hashed once and joined back; the rows keep their source order."""
        tables, joins, columns = [], [], []
        for domain in Domain:
            names = [c for c, d in self.identifiers.items() if d is domain]
            if not names:
                continue
            ids = f"_ids_{domain.value}"
            values = " UNION ALL ".join(f"SELECT {_q(c)} AS v FROM _rows" for c in names)
            tables.append(f"{ids} AS (SELECT v, {pseudonym_sql('v', domain)} AS p"
                          f" FROM (SELECT DISTINCT v FROM ({values}) WHERE v IS NOT NULL))")
            for c in names:
                alias = f"_p_{c}"
                joins.append(f"LEFT JOIN {ids} {alias} ON _rows.{_q(c)} = {alias}.v")
                columns.append(f"{alias}.p AS {_q(c)}")
        return (
            f"WITH _rows AS MATERIALIZED ({checked}), {', '.join(tables)}"
            f" SELECT _rows.* REPLACE ({', '.join(columns)}) FROM _rows {' '.join(joins)}"
            " ORDER BY _rows._line"
        )

    # Each canonical column is computed in two steps: its trimmed text ``t_<name>`` and
    # its typed value; a conversion failed when there was text but no value.
    def _words_sql(self, col: Column, schema: pa.Schema) -> str | None:
        """The file's own text of a column whose values the mapping translates."""
        src = self.source_name.get(col.name)
        if col.name not in self.mapping.values or src is None or col.name in self.constant:
            return None
        return f"NULLIF(TRIM(CAST({_q(src)} AS VARCHAR)), '')"

    def _native(self, col: Column, schema: pa.Schema) -> bool:
        """True when a typed source column converts to ``col`` without text."""
        return (col.name not in self.mapping.values
                and _converts_natively(col, schema, self.source_name.get(col.name, "")))

    def _text_sql(self, col: Column, schema: pa.Schema) -> tuple[str, str | None]:
        if col.name in self.constant:
            return _lit(self.constant[col.name]), None
        src = self.source_name.get(col.name)
        if src is None:
            return "NULL::VARCHAR", None
        if self._native(col, schema):
            # A typed source (Parquet) cannot fail conversion: no text needed.
            return "NULL::VARCHAR", None
        text = f"NULLIF(TRIM(CAST({_q(src)} AS VARCHAR)), '')"
        words = self.mapping.values.get(col.name)
        if words is not None:
            # The file's words become canonical values; canonical values stand as they
            # are, and any other word is a bad row (see select_sql).
            pairs = {value.strip().lower(): value for value in words.values()}
            pairs.update({word.strip().lower(): value for word, value in words.items()})
            cases = " ".join(f"WHEN {_lit(w)} THEN {_lit(v)}" for w, v in pairs.items())
            text = f"CASE lower({text}) {cases} END"
        failed = None
        if col.type is not ColumnType.TEXT:
            failed = "{t} IS NOT NULL AND {v} IS NULL"
        return text, failed

    def _typed_sql(self, col: Column, schema: pa.Schema) -> str:
        t = _q("t_" + col.name)
        src = self.source_name.get(col.name)
        native = (
            schema.field(src).type
            if src is not None and col.name not in self.constant and src in schema.names
            else pa.string()
        )
        src = _q("s_" + col.name)  # the untouched source value, for typed sources
        if col.type is ColumnType.TEXT:
            value = f"lower({t})" if col.choices else t
            if col.default_from:
                value = f"coalesce({value}, {_q('t_' + col.default_from)})"
            if col.default:
                value = f"coalesce({value}, {_lit(col.default)})"
            return value
        if col.type in (ColumnType.NUMBER, ColumnType.INTEGER):
            if self._native(col, schema):
                return f"CAST({src} AS {col.type.value})"
            return self._number_sql(t, col.type.value)
        if col.type is ColumnType.TIMESTAMP:
            return self._timestamp_sql(t, src, native)
        if col.type is ColumnType.DATE:
            if pa.types.is_date(native) or pa.types.is_timestamp(native):
                return f"CAST({src} AS DATE)"
            fmt = self.mapping.date_format
            if fmt:
                return f"CAST(try_strptime({t}, {_lit(fmt)}) AS DATE)"
            return f"TRY_CAST({t} AS DATE)"
        raise AssertionError(col.type)

    def _number_sql(self, t: str, sql_type: str) -> str:
        """A number written as people write it: currency symbols or ISO codes around
        it, a typographic minus, and the mapping's decimal mark and digit grouping."""
        bare = f"trim(replace(regexp_replace({t}, {_lit(_CURRENCY)}, '', 'g'), '\u2212', '-'))"
        numbers = self.mapping
        if not numbers.numbers_declared:
            # Plain numbers take the fast cast; only text it cannot read is cleaned.
            return f"coalesce(TRY_CAST({t} AS {sql_type}), TRY_CAST({bare} AS {sql_type}))"
        if numbers.thousands in SPACES:
            bare = f"regexp_replace({bare}, {_lit('[' + ''.join(SPACES) + ']')}, '', 'g')"
        elif numbers.thousands is not None:
            bare = f"replace({bare}, {_lit(numbers.thousands)}, '')"
        if numbers.decimal != ".":
            bare = f"replace({bare}, {_lit(numbers.decimal)}, '.')"
        return f"TRY_CAST({bare} AS {sql_type})"

    def _timestamp_sql(self, t: str, src: str, native: pa.DataType) -> str:
        utc = self.mapping.timezone == "UTC"
        zone = _lit(self.mapping.timezone)

        def local_to_utc(naive: str) -> str:
            return naive if utc else f"timezone('UTC', timezone({zone}, {naive}))"

        if pa.types.is_timestamp(native):
            if native.tz is not None:
                return f"timezone('UTC', {src})"
            return local_to_utc(f"CAST({src} AS TIMESTAMP)")
        if pa.types.is_date(native):
            return local_to_utc(f"CAST({src} AS TIMESTAMP)")
        fmt = self.mapping.timestamp_format
        if fmt:
            parsed = f"try_strptime({t}, {_lit(fmt)})"
            if "%z" in fmt or "%Z" in fmt:
                return f"timezone('UTC', {parsed})"
            return local_to_utc(parsed)
        # ISO 8601: an offset in the text wins; otherwise the mapping's zone applies
        # (it is the session zone during the load). Time-zone arithmetic is slow, so
        # text without an offset in UTC takes the plain cast.
        with_zone = f"timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ))"
        if not utc:
            return with_zone
        has_offset = (
            f"(regexp_matches(substr({t}, 11), '[+-]\\d|[zZ]$'))"
        )
        return f"CASE WHEN {has_offset} THEN {with_zone} ELSE TRY_CAST({t} AS TIMESTAMP) END"

    def _attributes_sql(self, schema: pa.Schema) -> str:
        """Source columns with no canonical home, kept as JSON. Read from each batch's
        schema, because JSON Lines and XES sources discover keys as they go."""
        used = set(self.source_name.values()) | {LINE_COLUMN}
        extras = [c for c in schema.names if c not in used]
        if not extras:
            return "NULL::VARCHAR"
        pairs = ", ".join(f"{_lit(c)}, {_q(c)}" for c in extras)
        return f"CAST(json_object({pairs}) AS VARCHAR)"


def _converts_natively(col: Column, schema: pa.Schema, column: str) -> bool:
    """True when a typed source column (Parquet) converts to ``col`` without failing."""
    if column not in schema.names:
        return False
    kind = schema.field(column).type
    if col.type in (ColumnType.NUMBER, ColumnType.INTEGER):
        return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if col.type in (ColumnType.TIMESTAMP, ColumnType.DATE):
        return pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe(result: IngestResult) -> str:
    """The one-line summary the CLI prints for a load."""
    if result.already_loaded:
        return f"{result.source}: already loaded (load {result.load_id}); nothing added."
    text = (
        f"{result.source}: read {result.read:,}, accepted {result.accepted:,},"
        f" rejected {result.rejected:,}"
    )
    if result.unknown_customers:
        text += f"; {result.unknown_customers:,} customers not in the customers table (kept)"
    if result.new_touchpoints:
        text += f"; {result.new_touchpoints:,} new touchpoints registered"
    if result.replaced:
        text += f"; replaced {result.replaced:,} rows of its earlier load"
    return text + "."


