import duckdb
import pytest

from corridor import store
from corridor.errors import ProjectError, SchemaVersionError
from corridor.schema import SCHEMA_VERSION, SPECS
from corridor.store import Project


def test_init_creates_every_canonical_table_and_the_schema_version(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        assert p.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in p.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    expected = {s.table for s in SPECS.values()} | {
        "customer_pii", "rejects", "loads", "incidents", "whys", "actions", "meta",
        "planted_truths",
    }
    assert expected <= tables
    assert not (tmp_path / "p.duckdb.creating").exists()


def test_init_refuses_to_overwrite_an_existing_file(tmp_path):
    path = tmp_path / "p.duckdb"
    Project.create(path).close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path)


def test_opening_a_missing_project_says_how_to_create_one(tmp_path):
    with pytest.raises(ProjectError, match="corridor init"):
        Project.open(tmp_path / "nope.duckdb")


def test_opening_a_file_that_is_not_a_project_is_refused(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("hello")
    with pytest.raises(ProjectError, match="not a corridor project"):
        Project.open(text)
    plain = tmp_path / "plain.duckdb"
    duckdb.connect(str(plain)).close()
    with pytest.raises(ProjectError, match="no schema version"):
        Project.open(plain)


def test_a_project_from_a_newer_corridor_is_refused(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                      [str(SCHEMA_VERSION + 1)])
    with pytest.raises(SchemaVersionError, match="newer corridor"):
        Project.open(path)


def test_an_older_project_is_migrated_step_by_step_on_open(tmp_path, monkeypatch):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                      [str(SCHEMA_VERSION - 1)])

    def add_column(con):
        con.execute("ALTER TABLE incidents ADD COLUMN severity VARCHAR")

    monkeypatch.setitem(store.MIGRATIONS, SCHEMA_VERSION - 1, add_column)
    with Project.open(path) as p:
        assert p.schema_version == SCHEMA_VERSION
        cols = [r[0] for r in p.con.execute("DESCRIBE incidents").fetchall()]
    assert "severity" in cols


def test_a_failed_migration_leaves_the_project_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                      [str(SCHEMA_VERSION - 1)])

    def broken(con):
        con.execute("ALTER TABLE incidents ADD COLUMN severity VARCHAR")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(store.MIGRATIONS, SCHEMA_VERSION - 1, broken)
    with pytest.raises(RuntimeError):
        Project.open(path)
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION - 1)
    assert "severity" not in [r[0] for r in con.execute("DESCRIBE incidents").fetchall()]
    con.close()


def test_schema_1_transactions_get_their_kind_from_attributes_or_become_purchases(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("ALTER TABLE transactions DROP COLUMN kind")
        p.con.execute("""INSERT INTO transactions (customer_id, timestamp, amount, attributes)
            VALUES ('c1', TIMESTAMP '2024-01-01', 10, '{"kind":"bill"}'),
                   ('c1', TIMESTAMP '2024-01-02', 20, NULL),
                   ('c2', TIMESTAMP '2024-01-03', 30, '{"kind":"gift"}')""")
        p.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Project.open(path) as p:
        assert p.schema_version == SCHEMA_VERSION
        kinds = p.con.execute("SELECT kind FROM transactions ORDER BY amount").fetchall()
    assert [k for (k,) in kinds] == ["bill", "purchase", "purchase"]


def test_reading_an_older_project_brings_it_up_to_date_first(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path) as p:
        p.con.execute("ALTER TABLE actions DROP COLUMN measured_effect")
        p.con.execute("ALTER TABLE actions DROP COLUMN measured_at")
        p.con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Project.open(path, read_only=True) as p:
        assert p.read_only and p.schema_version == SCHEMA_VERSION
        cols = [r[0] for r in p.con.execute("DESCRIBE actions").fetchall()]
    assert "measured_effect" in cols


def test_a_project_opens_as_an_ibis_backend(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        assert p.table("events").count().execute() == 0
        assert "timestamp" in p.table("events").columns
