"""Pseudonymised identifiers (ADR 0011): customer and case ids reach the project only as
keyed pseudonyms — in its tables, its rejects and its bytes — the same id always gets
the same pseudonym, the key stays outside the project, and a customer can still be
exported or erased by their original id (with the key) or by their pseudonym."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corridor import pseudonyms
from corridor.errors import InputError, ProjectError
from corridor.incidents import open_incident
from corridor.ingest import WITHHELD, ingest_file
from corridor.privacy import REDACTED, customer_data, erase_customer, export_customer
from corridor.pseudonyms import Domain, Key, find_key, pseudonym_sql, status, turn_on
from corridor.store import Project
from helpers import run_cli, write

ANN, BOB, CARL = "CUST-ANN-700417", "CUST-BOB-700418", "CUST-CARL-700419"
GROUP = "GROUP-NORTH-9001"
CASE = "CASE-ANN-700417-S01"  # case ids often carry the customer's id
RAW_IDS = (ANN, BOB, CARL, GROUP, CASE)

CUSTOMERS = ("customer_id,level,parent_id,name,email\n"
             f"{GROUP},corporate,,North Group,\n"
             f"{ANN},person,{GROUP},Ann Lee,ann@example.com\n"
             f"{BOB},person,{GROUP},Bob Ray,bob@example.com\n")
EVENTS = ("customer_id,case_id,touchpoint,timestamp\n"
          f"{ANN},{CASE},hotline,2024-01-01T10:00:00\n"
          f"{ANN},{CASE},shop,2024-01-01T11:00:00\n"
          f"{BOB},,shop,2024-01-02T09:00:00\n"
          f"{ANN},{CASE},hotline,not a time\n"  # rejected: a bad timestamp
          f"{ANN},{CASE},hotline,2024-01-01T10:00:00\n"  # rejected: a duplicate
          f"{CARL},{CASE},shop,2024-01-03,one field too many\n")  # rejected: not split
TRANSACTIONS = f"customer_id,timestamp,amount\n{ANN},2024-01-05,10.5\n{BOB},2024-01-06,3\n"
FEEDBACK = ("customer_id,timestamp,metric,score,text\n"
            f"{ANN},2024-01-07,nps,9,Quick and kind\n")


def corridor(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _load_all(p: Project, folder: Path) -> None:
    for kind, text in (("customers", CUSTOMERS), ("events", EVENTS),
                       ("transactions", TRANSACTIONS), ("feedback", FEEDBACK)):
        ingest_file(p, kind, write(folder / f"{kind}.csv", text))


def _pseudonymised(folder: Path) -> Path:
    path = folder / "company.duckdb"
    with Project.create(path) as p:
        turn_on(p)
        _load_all(p, folder)
    return path


def _key(path: Path) -> Key:
    with Project.open(path, read_only=True) as p:
        key = find_key(p)
    assert key is not None
    return key


def _in_bytes(path: Path, *texts: str) -> set[str]:
    """Which ``texts`` occur in the bytes of the project file or its WAL."""
    blobs = [f.read_bytes() for f in (path, Path(f"{path}.wal")) if f.exists()]
    return {t for t in texts if any(t.encode() in b for b in blobs)}


def _in_tables(path: Path, *texts: str) -> set[str]:
    """Which ``texts`` occur in any text column of any table of the project."""
    found = set()
    with Project.open(path, read_only=True) as p:
        columns = p.con.execute(
            "SELECT table_name, column_name FROM duckdb_columns()"
            " WHERE data_type = 'VARCHAR' AND NOT internal").fetchall()
        for table, column in columns:
            for text in texts:
                if p.con.execute(f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)',
                                 [text]).fetchone()[0]:
                    found.add(text)
    return found


# -- the project file ----------------------------------------------------------------------


def test_raw_ids_never_reach_the_project_file_after_a_load(tmp_path):
    path = _pseudonymised(tmp_path)
    assert _in_tables(path, *RAW_IDS) == set()
    assert _in_bytes(path, *RAW_IDS) == set()
    key = _key(path)
    with Project.open(path, read_only=True) as p:
        assert p.con.execute("SELECT customer_id, parent_id FROM customers ORDER BY seq"
                             ).fetchall() == [
            (key.pseudonym(Domain.CUSTOMER, GROUP), None),
            (key.pseudonym(Domain.CUSTOMER, ANN), key.pseudonym(Domain.CUSTOMER, GROUP)),
            (key.pseudonym(Domain.CUSTOMER, BOB), key.pseudonym(Domain.CUSTOMER, GROUP))]
        assert p.con.execute("SELECT DISTINCT customer_id, case_id FROM events ORDER BY 1"
                             ).fetchall() == sorted([
            (key.pseudonym(Domain.CUSTOMER, ANN), key.pseudonym(Domain.CASE, CASE)),
            (key.pseudonym(Domain.CUSTOMER, BOB), key.pseudonym(Domain.CASE, BOB))])
        for table in ("customer_pii", "transactions", "feedback"):
            ids = {r[0] for r in p.con.execute(f"SELECT customer_id FROM {table}").fetchall()}
            assert ids and all(pseudonyms.looks_like(Domain.CUSTOMER, i) for i in ids)
        names = p.con.execute("SELECT name FROM customer_pii ORDER BY seq").fetchall()
    assert names == [("North Group",), ("Ann Lee",), ("Bob Ray",)]  # PII is not an id


def test_a_project_without_the_setting_loads_raw_ids_as_before(tmp_path):
    path = tmp_path / "company.duckdb"
    with Project.create(path) as p:  # as projects made before pseudonymisation are
        _load_all(p, tmp_path)
        assert status(p).on is False and find_key(p) is None
        assert p.con.execute("SELECT DISTINCT case_id FROM events ORDER BY 1").fetchall() == [
            (CASE,), (BOB,)]
        raws = [r[0] for r in p.con.execute("SELECT raw FROM rejects ORDER BY line").fetchall()]
    assert all(CASE in raw for raw in raws)
    assert _in_bytes(path, ANN, CASE) == {ANN, CASE}  # the byte scan does see raw ids


def test_init_pseudonymises_by_default_and_no_pseudonymise_opts_out(tmp_path, key_dir):
    made = corridor("init", tmp_path / "on.duckdb")
    assert made.returncode == 0, made.stderr
    with Project.open(tmp_path / "on.duckdb", read_only=True) as p:
        state = status(p)
        key = find_key(p)
    assert state.on and key is not None and key.path == key_dir / f"{state.project_id}.key"
    assert str(key.path) in made.stdout and "cannot join" in made.stdout
    assert key.secret.hex() not in made.stdout + made.stderr
    assert key.secret.hex().encode() not in (tmp_path / "on.duckdb").read_bytes()
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    off = corridor("init", tmp_path / "off.duckdb", "--no-pseudonymise")
    assert off.returncode == 0, off.stderr
    with Project.open(tmp_path / "off.duckdb") as p:
        assert not status(p).on and status(p).project_id
        ingest_file(p, "transactions", write(tmp_path / "t.csv", TRANSACTIONS))
        assert {r[0] for r in p.con.execute("SELECT customer_id FROM transactions").fetchall()} == {
            ANN, BOB}


def test_the_key_lives_in_corridor_key_dir_else_in_the_users_config(monkeypatch, tmp_path):
    monkeypatch.setenv("CORRIDOR_KEY_DIR", str(tmp_path / "mine"))
    assert pseudonyms.key_path("p1") == tmp_path / "mine" / "p1.key"
    monkeypatch.delenv("CORRIDOR_KEY_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pseudonyms.key_path("p1") == tmp_path / "home" / ".config/corridor/keys/p1.key"


# -- pseudonyms ----------------------------------------------------------------------------


def test_the_same_id_in_two_loads_gets_the_same_pseudonym_so_loads_join(tmp_path):
    path = _pseudonymised(tmp_path)
    ann = _key(path).pseudonym(Domain.CUSTOMER, ANN)
    with Project.open(path) as p:
        later = ingest_file(p, "events", write(tmp_path / "later.csv",
                                               "customer_id,case_id,touchpoint,timestamp\n"
                                               f"{ANN},{CASE},shop,2024-02-01\n"))
        assert later.unknown_customers == 0  # joins the customers loaded before
        cases = p.con.execute("SELECT load_id, case_id FROM events WHERE customer_id = ?"
                              " ORDER BY seq", [ann]).fetchall()
    assert len({load for load, _ in cases}) == 2 and len({case for _, case in cases}) == 1


def test_different_keys_give_different_pseudonyms(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    ids = []
    for folder in (one, two):
        with Project.open(_pseudonymised(folder), read_only=True) as p:
            rows = p.con.execute("SELECT customer_id FROM customers").fetchall()
        ids.append({r[0] for r in rows})
    assert len(ids[0]) == len(ids[1]) == 3 and ids[0].isdisjoint(ids[1])


def test_a_pseudonym_is_a_prefix_and_100_bits_of_base32_and_sql_agrees_with_python(tmp_path):
    import duckdb

    key = Key("p", tmp_path / "p.key", bytes(range(32)))
    values = ["C1", " C1", "Анна-7", "x" * 300, "", None]
    con = duckdb.connect()
    con.execute("CREATE TABLE ids (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO ids VALUES (?, ?)", list(enumerate(values)))
    with key.bound(con):
        got = [[r[0] for r in con.execute(f"SELECT {pseudonym_sql('v', d)} FROM ids ORDER BY i")
                .fetchall()] for d in Domain]
    assert got == [[None if v is None else key.pseudonym(d, v) for v in values] for d in Domain]
    customer, case = key.pseudonym(Domain.CUSTOMER, "C1"), key.pseudonym(Domain.CASE, "C1")
    assert customer.startswith("cu_") and case.startswith("ca_") and customer[3:] != case[3:]
    assert len(customer) == 3 + 20 and pseudonyms.looks_like(Domain.CUSTOMER, customer)
    assert con.execute("SELECT getvariable('corridor_pseudonym_outer')").fetchone()[0] is None
    assert "secret" not in repr(key) and bytes(range(32)).hex() not in repr(key)


# -- rejects -------------------------------------------------------------------------------


def test_rejected_rows_keep_identifier_fields_only_as_pseudonyms(tmp_path):
    path = _pseudonymised(tmp_path)
    key = _key(path)
    ann, case = key.pseudonym(Domain.CUSTOMER, ANN), key.pseudonym(Domain.CASE, CASE)
    with Project.open(path, read_only=True) as p:
        rows = p.con.execute("SELECT line, reason, raw FROM rejects ORDER BY line").fetchall()
    assert [(line, raw) for line, _, raw in rows] == [
        (5, f"{ann},{case},hotline,not a time"),
        (6, f"{ann},{case},hotline,2024-01-01T10:00:00"),
        (7, WITHHELD)]
    assert "expected 4 fields" in rows[2][1]


def test_json_lines_and_parquet_rejects_hold_no_raw_id(tmp_path):
    path = tmp_path / "company.duckdb"
    with Project.create(path) as p:
        turn_on(p)
        ingest_file(p, "transactions", write(
            tmp_path / "t.jsonl",
            f'{{"customer_id": "{ANN}", "timestamp": "2024-01-01", "amount": "lots"}}\n'
            f'{{"customer_id": 700418, "timestamp": "2024-01-01", "amount": "x"}}\n'
            f'{{"customer_id": "{BOB}", broken\n'
            '{"customer_id": "c-good", "timestamp": "2024-01-02", "amount": 5}\n'))
        # (a file of bad rows only would be refused whole: each has one good row)
        pq.write_table(pa.table({"customer_id": [CARL, "c-good"], "timestamp": ["never", "2024-01-02"],
                                 "amount": [1.0, 2.0]}), tmp_path / "t.parquet")
        ingest_file(p, "transactions", tmp_path / "t.parquet")
        raws = [r[0] for r in p.con.execute("SELECT raw FROM rejects ORDER BY load_id, line")
                .fetchall()]
    key = _key(path)
    assert [json.loads(r)["customer_id"] if r != WITHHELD else r for r in raws] == [
        key.pseudonym(Domain.CUSTOMER, ANN), key.pseudonym(Domain.CUSTOMER, "700418"),
        WITHHELD, key.pseudonym(Domain.CUSTOMER, CARL)]
    assert _in_bytes(path, ANN, BOB, CARL, "700418") == set()


# -- a missing key -------------------------------------------------------------------------


def test_ingest_refuses_a_pseudonymised_project_whose_key_is_missing(tmp_path):
    path = _pseudonymised(tmp_path)
    key = _key(path)
    with Project.open(path, read_only=True) as p:
        before = p.counts()
    hidden = key.path.rename(tmp_path / "elsewhere.key")
    late = write(tmp_path / "late.csv", "customer_id,touchpoint,timestamp\nNEW-1,shop,2024-03-01\n")
    with Project.open(path) as p:
        with pytest.raises(ProjectError, match="key is missing"):
            ingest_file(p, "events", late)
    done = corridor("ingest", path, "events", late)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert str(key.path) in done.stderr and str(path) in done.stderr
    with Project.open(path, read_only=True) as p:
        assert p.counts() == before
    hidden.rename(key.path)
    assert corridor("ingest", path, "events", late).returncode == 0  # the key is back


# -- export and erasure --------------------------------------------------------------------


def test_export_finds_the_customer_by_original_id_or_by_pseudonym(tmp_path):
    path = _pseudonymised(tmp_path)
    ann = _key(path).pseudonym(Domain.CUSTOMER, ANN)
    with Project.open(path) as p:
        open_incident(p, f"{ANN} waited a week")  # staff write the ids they know
        by_original, by_pseudonym = customer_data(p, ANN), customer_data(p, ann)
    assert by_original.customer_id == by_pseudonym.customer_id == ann
    assert by_original.counts() == {**by_pseudonym.counts(), "incidents": 1}
    assert by_original.counts()["events"] == 2 and by_original.counts()["rejects"] == 2
    exported = export_customer(path, ANN, actor="tester")
    with Project.open(path, read_only=True) as p:
        entries = p.con.execute("SELECT target, CAST(to_json(a) AS VARCHAR) FROM audit_log a"
                                ).fetchall()
    assert exported.customer_id == ann
    assert [target for target, _ in entries] == [ann]  # the audit log names the pseudonym
    assert ANN not in entries[0][1]


def test_erasure_by_original_id_removes_the_customer_everywhere(tmp_path):
    path = _pseudonymised(tmp_path)
    ann = _key(path).pseudonym(Domain.CUSTOMER, ANN)
    with Project.open(path) as p:
        open_incident(p, f"{ANN} and {ann} complained")
    result = erase_customer(path, ANN, actor="tester")
    assert result.customer_id == ann and (result.events, result.rejects) == (2, 2)
    with Project.open(path, read_only=True) as p:
        assert p.con.execute("SELECT title FROM incidents").fetchone()[0] == (
            f"{REDACTED} and {REDACTED} complained")
        with pytest.raises(InputError, match="holds nothing"):
            customer_data(p, ANN)
    assert _in_bytes(path, ann, "Ann Lee", "ann@example.com") == set()


def test_erasure_by_pseudonym_works_without_the_key(tmp_path):
    path = _pseudonymised(tmp_path)
    key = _key(path)
    bob = key.pseudonym(Domain.CUSTOMER, BOB)
    key.path.unlink()
    result = erase_customer(path, bob)
    assert result.customer_id == bob and result.events == 1 and result.customers == 1
    assert _in_bytes(path, bob, "Bob Ray") == set()


def test_without_the_key_only_the_pseudonym_works_and_the_cli_says_so(tmp_path):
    path = _pseudonymised(tmp_path)
    key = _key(path)
    ann = key.pseudonym(Domain.CUSTOMER, ANN)
    key.path.unlink()
    by_pseudonym = corridor("customer", "export", path, ann)
    assert by_pseudonym.returncode == 0, by_pseudonym.stderr
    assert json.loads(by_pseudonym.stdout)["customer_id"] == ann
    for command in (("export",), ("erase", "--yes")):
        refused = corridor("customer", command[0], path, ANN, *command[1:])
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.count("\n") == 1
        assert str(key.path) in refused.stderr and "pseudonym" in refused.stderr
    unknown = corridor("customer", "export", path, "cu_" + "a" * 20)
    assert unknown.returncode == 2 and "holds nothing" in unknown.stderr


def test_the_cli_erases_by_original_id_and_names_the_pseudonym(tmp_path):
    path = _pseudonymised(tmp_path)
    ann = _key(path).pseudonym(Domain.CUSTOMER, ANN)
    done = corridor("customer", "erase", path, ANN, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Erased customer {ANN} (stored as {ann})" in done.stdout
    assert "events: 2" in done.stdout
    assert _in_bytes(path, ann) == set()


# -- the demo ------------------------------------------------------------------------------


def test_the_demo_is_pseudonymised_and_a_rebuild_drops_the_old_demos_key(tmp_path):
    from corridor.demo import DemoConfig
    from corridor.showcase import build_demo

    first = build_demo(tmp_path / "company.duckdb", DemoConfig(customers=300, seed=2))
    old = _key(first.project)
    with Project.open(first.project, read_only=True) as p:
        ids = [r[0] for r in p.con.execute(
            "SELECT customer_id FROM customers UNION ALL SELECT case_id FROM events").fetchall()]
    assert ids and all(pseudonyms.looks_like(Domain.CUSTOMER, i)
                       or pseudonyms.looks_like(Domain.CASE, i) for i in ids)
    second = build_demo(tmp_path / "company.duckdb", DemoConfig(customers=500, seed=5))
    assert not old.path.exists() and _key(second.project).path.exists()
    shown = run_cli("info", second.project)
    assert shown.returncode == 0, shown.stderr
