"""The project store: one DuckDB file per project, and the engines analytics run on.

Everything that differs between backends lives here: opening a project file, creating the
canonical tables and migrating old files, the DuckDB resource settings, and the PySpark
session and backend used for data beyond one machine.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .errors import DiskFull, InputError, ProjectError, SchemaVersionError
from .schema import ACADEMY_DDL, ACCOUNT_DDL, APPLICATION_DDL, SCHEMA_VERSION, loadable_ddl



def _transactions_get_a_kind(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 2: transactions say whether they are purchases, bills, refunds or other.
    Rows loaded before keep a kind their source gave (then kept in ``attributes``) and
    are purchases otherwise."""
    con.execute("ALTER TABLE transactions ADD COLUMN kind VARCHAR")
    con.execute("""
        UPDATE transactions SET kind = CASE
            WHEN json_extract_string(attributes, '$.kind') IN
                 ('purchase', 'bill', 'refund', 'other')
            THEN json_extract_string(attributes, '$.kind') ELSE 'purchase' END""")


def _actions_keep_their_measured_effect(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3: an action keeps the effect measured in later data (JSON) and when."""
    con.execute("ALTER TABLE actions ADD COLUMN IF NOT EXISTS measured_effect VARCHAR")
    con.execute("ALTER TABLE actions ADD COLUMN IF NOT EXISTS measured_at TIMESTAMP")


def _people_and_protection(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 4: accounts (users), the append-only audit log and API tokens."""
    for ddl in ACCOUNT_DDL:
        con.execute(ddl)


def _the_academy(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 5: course progress and answers, maturity questionnaires and assessments."""
    for ddl in ACADEMY_DDL:
        con.execute(ddl)


def _events_get_a_lifecycle(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 6: events have a lifecycle column (XES ``lifecycle:transition``). Events
    loaded before kept it in ``attributes``; it moves out of there, so that those rows
    look exactly like the same rows loaded now (duplicate detection compares them)."""
    con.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS lifecycle VARCHAR")
    con.execute("""
        UPDATE events SET
            lifecycle = json_extract_string(attributes, '$."lifecycle:transition"'),
            attributes = nullif(
                json_merge_patch(attributes, '{"lifecycle:transition": null}')::VARCHAR,
                '{}')
        WHERE json_extract_string(attributes, '$."lifecycle:transition"') IS NOT NULL""")


# version -> function that upgrades a project from that version to version + 1.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _transactions_get_a_kind,
    2: _actions_keep_their_measured_effect,
    3: _people_and_protection,
    4: _the_academy,
    5: _events_get_a_lifecycle,
}

DEFAULT_MAX_TEMP = "40GB"


def _configure(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Put spill files beside the project and cap them (DESIGN.md §2)."""
    temp = os.environ.get("CORRIDOR_TEMP_DIR") or str(path.parent / (path.name + ".tmp"))
    con.execute(f"SET temp_directory = '{temp}'")
    cap = os.environ.get("CORRIDOR_MAX_TEMP", DEFAULT_MAX_TEMP)
    con.execute(f"SET max_temp_directory_size = '{cap}'")
    memory = os.environ.get("CORRIDOR_MEMORY_LIMIT")
    if memory:
        con.execute(f"SET memory_limit = '{memory}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # stored timestamps are naive UTC


@dataclass
class _Held:
    """A project this process holds open read-write for a long write (a load while
    serving), and how many of its opens still use it."""

    con: duckdb.DuckDBPyConnection
    users: int = 1


# resolved project path -> the instance its opens share while a long write runs
_HELD: dict[str, _Held] = {}
_HELD_LOCK = threading.Lock()


def _release(key: str) -> None:
    with _HELD_LOCK:
        held = _HELD[key]
        held.users -= 1
        if held.users == 0:
            del _HELD[key]
            held.con.close()


class Project:
    """An open project file. Use :meth:`create` or :meth:`open`; close when done."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool,
                 held: str | None = None):
        self.path = path
        self.con = con
        self.read_only = read_only
        self._ibis = None
        self._held = held  # the _HELD key when this is a cursor on a held instance

    # -- lifecycle -----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike) -> "Project":
        path = Path(path)
        if path.exists():
            raise ProjectError(f"{path} already exists; choose a new project path.")
        if not path.parent.exists():
            raise ProjectError(f"The folder {path.parent} does not exist.")
        tmp = path.with_name(path.name + ".creating")
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            leftover.unlink(missing_ok=True)
        try:
            with disk_checked(path, unchanged=False):
                con = duckdb.connect(str(tmp))
                try:
                    con.execute("BEGIN")
                    for ddl in (*APPLICATION_DDL, *loadable_ddl()):
                        con.execute(ddl)
                    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
                    con.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("schema_version", str(SCHEMA_VERSION)), ("created_at", now)],
                    )
                    con.execute("COMMIT")
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
        except BaseException:
            for leftover in (tmp, Path(str(tmp) + ".wal")):  # nothing half-made stays
                leftover.unlink(missing_ok=True)
            raise
        # A project appears whole or not at all.
        os.replace(tmp, path)
        return cls.open(path)

    @classmethod
    @contextmanager
    def held(cls, path: str | os.PathLike) -> Iterator["Project"]:
        """The project open read-write for a long write. Until it ends, every other open
        of the project in this process shares its database instead of waiting for the
        file: readers see the last commit (DuckDB's MVCC) and never the write in flight,
        and short writes (an audit entry, an incident) commit beside it."""
        project = cls.open(path)
        key = str(Path(path).resolve())
        with _HELD_LOCK:
            if key in _HELD:
                project.close()
                raise ProjectError(f"{path} is already held for a long write.")
            _HELD[key] = _Held(project.con)
        project._held = key
        try:
            yield project
        finally:
            project.close()

    @classmethod
    def open(cls, path: str | os.PathLike, read_only: bool = False) -> "Project":
        path = Path(path)
        if not path.exists():
            raise ProjectError(
                f"No project at {path}; create one with 'corridor init {path}'."
            )
        key = str(path.resolve())
        with _HELD_LOCK:
            held = _HELD.get(key)
            if held is not None:
                held.users += 1
                cursor = held.con.cursor()
        if held is not None:
            cursor.execute("SET TimeZone = 'UTC'")  # a session setting: each cursor its own
            return cls(path, cursor, read_only, held=key)
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            full = disk_full(exc, path, unchanged=True)
            if full is not None:  # replaying the write-ahead log found no space
                raise full from exc
            if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
                raise ProjectError(
                    f"{path} is in use by another corridor process; try again when it"
                    " has finished."
                ) from exc
            raise ProjectError(f"{path} is not a corridor project ({_first_line(exc)}).") from exc
        project = cls(path, con, read_only)
        try:
            with disk_checked(path, unchanged=True):
                _configure(con, path)
                if read_only and project.schema_version_or_none() not in (None, SCHEMA_VERSION):
                    # An older project is brought up to date once, then read as asked.
                    con.close()
                    cls.open(path).close()
                    return cls.open(path, read_only=True)
                project._check_and_migrate()
        except BaseException:
            con.close()
            raise
        return project

    def close(self) -> None:
        if self._ibis is not None:
            self._ibis = None
        if self._held is None:
            self.con.close()
            return
        if self.con is not _HELD[self._held].con:
            self.con.close()
        _release(self._held)
        self._held = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        row = self.con.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0])

    def schema_version_or_none(self) -> int | None:
        """The schema version, or None when the file has none (not a project)."""
        try:
            return self.schema_version
        except (duckdb.Error, TypeError):
            return None

    def _check_and_migrate(self) -> None:
        try:
            version = self.schema_version
        except (duckdb.Error, TypeError) as exc:
            raise ProjectError(
                f"{self.path} is a DuckDB file but not a corridor project (it has no"
                " schema version)."
            ) from exc
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} was written by a newer corridor (schema {version}; this"
                f" corridor knows up to {SCHEMA_VERSION}); upgrade corridor to open it."
            )
        if version < SCHEMA_VERSION:
            self.migrate(version)

    def migrate(self, version: int) -> None:
        """Upgrade step by step, each step in its own transaction."""
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise SchemaVersionError(
                    f"No migration from schema {version} to {version + 1}."
                )
            self.con.execute("BEGIN")
            try:
                step(self.con)
                version += 1
                self.con.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)]
                )
                self.con.execute("COMMIT")
            except BaseException:
                rollback(self.con)
                raise

    # -- analytics -----------------------------------------------------------------
    @property
    def ibis(self):
        """The project as an Ibis backend (DuckDB) over the same connection."""
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.con)
        return self._ibis

    def table(self, name: str):
        return self.ibis.table(name)

    def counts(self) -> dict[str, int]:
        """Rows per canonical table (a small, typed-enough summary for `info`)."""
        from .schema import SPECS

        names = [s.table for s in SPECS.values()] + ["rejects", "loads"]
        return {
            n: self.con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names
        }


# -- writes that find the disk full ----------------------------------------------------
#
# DuckDB reports a full disk as an IO or transaction error whose text says "No space left
# on device" and names the file; when a COMMIT fails that way DuckDB has already rolled
# back, so the ROLLBACK that usually follows fails too and hides the first error in its
# context. These helpers find the full disk wherever it is in the chain and turn it into
# one sentence naming the folder that needs space.

_NO_SPACE = ("No space left on device", "Disk quota exceeded")


def no_space_file(error: BaseException | None) -> str | None:
    """When ``error``, or an error it arose from, says the device is full: the file that
    could not be written ('' when none is named); None otherwise."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return os.fsdecode(error.filename) if error.filename is not None else ""
        text = str(error)
        if any(words in text for words in _NO_SPACE):
            named = re.search(r'"([^"]+)"', text)
            return named.group(1) if named else ""
        error = error.__cause__ or error.__context__
    return None


def disk_full(error: BaseException, project: str | os.PathLike | None = None, *,
              unchanged: bool = False) -> DiskFull | None:
    """``error`` as one sentence saying which disk is full, when it is a full disk (see
    :func:`no_space_file`); None otherwise. ``unchanged``: the write was all or nothing,
    so the sentence can say that ``project`` is as it was."""
    if isinstance(error, DiskFull):
        return error
    file = no_space_file(error)
    if file is None:
        return None
    written = Path(file) if file else None
    if written is not None:
        folder = written.parent
    elif project is not None:
        folder = Path(project).absolute().parent
    else:
        folder = None
    where = f"the disk holding {folder}" if folder is not None else "the disk"
    what = f", so {written.name} could not be written" if written is not None else ""
    if unchanged and project is not None:
        after = f"{project} is as it was before; free some space there and try again."
    else:
        after = "free some space there and try again."
    return DiskFull(f"No space is left on {where}{what}; {after}",
                    None if folder is None else str(folder))


@contextmanager
def disk_checked(project: str | os.PathLike | None, *, unchanged: bool = False):
    """Let a full disk out of the block as :class:`DiskFull` (see :func:`disk_full`)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is a full disk
        full = disk_full(exc, project, unchanged=unchanged)
        if full is None or full is exc:
            raise
        raise full from exc


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the transaction that an error interrupted. A COMMIT that failed has
    already been rolled back by DuckDB, and a database that a failed write made unusable
    cannot roll back: either way the error being handled is the one to report, so this
    never raises one of its own."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- PySpark -------------------------------------------------------------------------


def spark_session(master: str = "local[2]", app_name: str = "corridor"):
    """A SparkSession configured the way corridor's analytics expect (UTC, quiet)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", _python())
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # One warehouse per session: managed tables of concurrent or killed sessions never
    # collide.
    warehouse = Path(tempfile.mkdtemp(prefix="corridor-spark-warehouse-"))
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _python() -> str:
    import sys

    return sys.executable


def spark_backend(session):
    import ibis

    return ibis.pyspark.connect(session)


def put_table(backend, name: str, frame):
    """Create or replace table ``name`` on any backend from a pandas frame or Arrow
    table. Columns that hold only nulls are created as text."""
    import pyarrow as pa

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return backend.create_table(name, table, overwrite=True)




# -- the tables an analysis reads ---------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """The canonical tables an analytic reads, on whichever engine holds them."""

    events: object
    customers: object | None = None
    touchpoints: object | None = None
    steps: object | None = None  # all events in case order, stored in the project

    def journeys_of(self, flt):
        """What a journey analytic of the events that pass ``flt`` starts from: the
        stored step table when there is no filter and it is up to date, else the
        filtered events."""
        from .filters import apply

        if flt.is_empty:
            return self.steps or self.events
        return apply(self.events, flt, customers=self.customers, touchpoints=self.touchpoints)


def project_tables(project: Project) -> Tables:
    from .stepstore import stored_steps

    return Tables(
        project.table("events"), project.table("customers"), project.table("touchpoints"),
        stored_steps(project),
    )


def spark_tables(
    session, events: str, *, customers: str | None = None, touchpoints: str | None = None
) -> Tables:
    """Tables already in the canonical layout, read where they lie: each reference is a
    Parquet file or folder (local or a cluster URL such as ``hdfs://`` or ``s3a://``) or
    the name of a Spark table. Nothing is loaded into a project.

    A table needs only its kind's required columns (README, "Canonical columns per
    kind"); the others are filled as ingest fills them (:func:`spark_canonical`)."""
    from .schema import Kind

    backend = spark_backend(session)

    def read(reference: str | None, kind: Kind):
        if reference is None:
            return None
        if "://" in reference or Path(reference).exists():
            frame = session.read.parquet(reference)
        elif reference in backend.list_tables():
            frame = session.table(reference)
        else:
            raise InputError(
                f"{reference} is neither a Parquet file or folder nor a Spark table."
            )
        view = f"corridor_{kind.value}_{uuid.uuid4().hex[:12]}"
        spark_canonical(frame, kind, reference).createOrReplaceTempView(view)
        return backend.table(view)

    return Tables(read(events, Kind.EVENTS), read(customers, Kind.CUSTOMERS),
                  read(touchpoints, Kind.TOUCHPOINTS))


# Optional columns an analytic reads only when a table has them, left out when missing.
_ONLY_WHEN_PRESENT = ("lifecycle",)
_SPARK_TYPES = {"VARCHAR": "string", "DOUBLE": "double", "BIGINT": "bigint",
                "TIMESTAMP": "timestamp", "DATE": "date"}


def spark_canonical(frame, kind, reference: str):
    """A Spark DataFrame of ``kind`` completed to the canonical columns as ingest would
    complete a file: a missing required column is an :class:`InputError`; a missing
    optional column is null, or its default (an event's ``case_id`` is its
    ``customer_id``, its ``outcome`` is ``ok``), and so is an empty value of a column
    with a default. Events without ``seq`` are numbered in the order Spark reads them
    (``monotonically_increasing_id``: within one file, file order), which is then how
    events of one case with the same timestamp are ordered."""
    from pyspark.sql import functions as F

    from .schema import SEQ, SPECS, Kind

    spec = SPECS[kind]
    present = set(frame.columns)
    for column in spec.columns:
        if column.required and column.default_from is None and column.name not in present:
            raise InputError(
                f"{reference} has no column '{column.name}', which {kind.value} need; its"
                f" columns are {', '.join(frame.columns)}.")
    for column in spec.columns:
        if column.name in _ONLY_WHEN_PRESENT and column.name not in present:
            continue
        value = (F.col(column.name) if column.name in present
                 else F.lit(None).cast(_SPARK_TYPES[column.type.value]))
        if column.default_from is not None:
            value = F.coalesce(value, F.col(column.default_from))
        if column.default is not None:
            value = F.coalesce(value, F.lit(column.default))
        if column.name not in present or column.default_from or column.default:
            frame = frame.withColumn(column.name, value)
    if kind is Kind.EVENTS and SEQ not in present:
        frame = frame.withColumn(SEQ, F.monotonically_increasing_id())
    return frame
