"""A customer's data: the export holds everything the project knows about them, and erasure
removes them everywhere — from the tables, the derived step table, the texts that mention
them and the bytes of the project file — all or nothing, even when killed."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corridor import audit
from corridor.errors import InputError
from corridor.incidents import add_action, add_why, open_incident
from corridor.ingest import ingest_file
from corridor.journeys import analyse
from corridor.privacy import (DERIVED_TABLES, MENTION_TABLES, OWN_TABLES, REDACTED, REJECTS,
                              UNRELATED_TABLES, customer_data, erase_customer,
                              export_customer)
from corridor.steps import case_steps
from corridor.stepstore import STEPS_TABLE, stored_steps
from corridor.store import Project
from helpers import write

STAGES = ("copied", "steps", "replace")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo company with, for one customer who has events, transactions,
    feedback with text and a name, e-mail and phone of their own: an incident, a why and
    an action that mention them, and a rejected source row that holds their id. The demo
    pseudonymises: ``id`` is the pseudonym the project stores, ``original`` the id in the
    demo's files."""
    import csv

    from corridor.demo import DemoConfig
    from corridor.showcase import build_demo

    folder = tmp_path_factory.mktemp("privacy")
    built = build_demo(folder / "company.duckdb", DemoConfig(customers=300, seed=2))
    with Project.open(built.project) as p:
        who = _a_customer_with_everything(p)
        with (built.files_dir / "customers.csv").open(encoding="utf-8") as f:
            who["original"] = next(r["customer_id"] for r in csv.DictReader(f)
                                   if r["email"] == who["email"])
        incident = open_incident(p, f"Customer {who['id']} waited three weeks",
                                 description=f"Reached us as {who['email']} on {who['phone']}.")
        why = add_why(p, incident.incident_id, f"{who['name']} was booked twice")
        add_action(p, incident.incident_id, title=f"Call back {who['id']}", kind="corrective",
                   owner_department_id="D-FLD", due="2026-01-31", why_id=why.why_id)
        bad = write(folder / "late.csv", "customer_id,touchpoint,timestamp\n"
                    f"{who['original']},support_hotline,not a time\n"
                    "C00000001,support_hotline,not a time either\n"
                    # one good row: a file whose every row is rejected is refused whole
                    "C00000001,support_hotline,2024-06-01T10:00:00\n")
        ingest_file(p, "events", bad)
    return built.project, who


def _a_customer_with_everything(p: Project) -> dict:
    row = p.con.execute("""
        SELECT q.customer_id, q.name, q.email, q.phone FROM customer_pii q
        WHERE q.name IS NOT NULL AND q.email IS NOT NULL AND q.phone IS NOT NULL
          AND EXISTS (SELECT 1 FROM events e WHERE e.customer_id = q.customer_id)
          AND EXISTS (SELECT 1 FROM transactions t WHERE t.customer_id = q.customer_id)
          AND EXISTS (SELECT 1 FROM feedback f WHERE f.customer_id = q.customer_id
                      AND f.text IS NOT NULL)
          AND (SELECT count(*) FROM customer_pii o WHERE contains(o.name, q.name)
               OR contains(o.email, q.email) OR contains(o.phone, q.phone)) = 1
        ORDER BY q.customer_id LIMIT 1""").fetchone()
    assert row is not None
    return dict(zip(("id", "name", "email", "phone"), row))


@pytest.fixture
def copy(demo, tmp_path):
    path, who = demo
    target = tmp_path / "company.duckdb"
    shutil.copy(path, target)
    return target, who


def _found(folder: Path, *texts: str) -> dict[str, list[str]]:
    """Which of ``texts`` occur in the bytes of which project file (the WAL and any
    leftover included)."""
    blobs = {f.name: f.read_bytes() for f in folder.iterdir()
             if f.is_file() and f.name.startswith("company.duckdb")}
    return {t: sorted(n for n, b in blobs.items() if t.encode("utf-8") in b)
            for t in texts if any(t.encode("utf-8") in b for b in blobs.values())}


def _state(path: Path, customer_id: str) -> dict:
    with Project.open(path, read_only=True) as p:
        tables = [r[0] for r in p.con.execute(
            "SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        counts = {t: p.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        counts["theirs"] = sum(p.con.execute(
            f"SELECT count(*) FROM {t} WHERE customer_id = ?", [customer_id]).fetchone()[0]
            for t in OWN_TABLES)
        return counts


def _others(path: Path, customer_id: str) -> dict[str, int]:
    with Project.open(path, read_only=True) as p:
        out = {t: p.con.execute(f"SELECT count(*) FROM {t} WHERE customer_id <> ?",
                                [customer_id]).fetchone()[0] for t in OWN_TABLES}
        for t in ("departments", "touchpoints", "loads", "incidents", "whys", "actions",
                  "planted_truths"):
            out[t] = p.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- export ---------------------------------------------------------------------------------


def test_the_export_holds_their_rows_their_pii_and_every_text_that_mentions_them(copy):
    path, who = copy
    with Project.open(path, read_only=True) as p:
        data = customer_data(p, who["id"])
        expected = {t: p.con.execute(f"SELECT count(*) FROM {t} WHERE customer_id = ?",
                                     [who["id"]]).fetchone()[0]
                    for t in ("events", "transactions", "feedback")}
    out = data.to_dict()
    assert out["customer"]["customer_id"] == who["id"]
    assert out["pii"] == [{**out["pii"][0], "name": who["name"], "email": who["email"],
                           "phone": who["phone"]}]
    for table, n in expected.items():
        assert len(out[table]) == n > 0
        assert {r["customer_id"] for r in out[table]} == {who["id"]}
    assert any(r["text"] for r in out["feedback"])
    assert all(isinstance(r["timestamp"], str) for r in out["events"])
    assert {r["kind"] for r in out["loads"]} >= {"customers", "events", "transactions",
                                                  "feedback"}
    assert [who["id"] in r["raw"] for r in out["rejects"]] == [True]
    assert len(out["incidents"]) == len(out["whys"]) == len(out["actions"]) == 1
    assert who["email"] in out["incidents"][0]["description"]
    assert who["name"] in out["whys"][0]["statement"]
    assert out["counts"]["events"] == expected["events"]


def test_a_parent_customer_lists_the_customers_below_it(copy):
    path, _ = copy
    with Project.open(path, read_only=True) as p:
        parent = p.con.execute("SELECT parent_id FROM customers WHERE parent_id IS NOT NULL"
                               " ORDER BY 1 LIMIT 1").fetchone()[0]
        below = [r[0] for r in p.con.execute(
            "SELECT customer_id FROM customers WHERE parent_id = ? ORDER BY 1", [parent]).fetchall()]
        data = customer_data(p, parent)
    assert list(data.children) == below and below


@pytest.mark.parametrize("bad", ["NOBODY-42", "", "   "])
def test_an_unknown_or_empty_id_is_one_sentence(copy, bad):
    path, _ = copy
    before = _sha(path)
    with Project.open(path, read_only=True) as p:
        with pytest.raises(InputError) as exported:
            customer_data(p, bad)
    with pytest.raises(InputError) as erased:
        erase_customer(path, bad)
    for error in (exported.value, erased.value):
        message = str(error)
        assert "\n" not in message and message.endswith(".")
    assert _sha(path) == before
    assert not path.with_name(path.name + ".erasing").exists()


# -- erasure --------------------------------------------------------------------------------


def test_after_erasure_no_identifier_is_left_in_the_bytes_of_the_project(copy):
    path, who = copy
    identifiers = (who["id"], who["name"], who["email"], who["phone"])
    assert set(_found(path.parent, *identifiers)) == set(identifiers)  # the scan sees them
    with Project.open(path, read_only=True) as p:
        counts = customer_data(p, who["id"]).counts()
    result = erase_customer(path, who["id"])
    assert _found(path.parent, *identifiers) == {}
    assert sorted(f.name for f in path.parent.iterdir()
                  if f.name.startswith("company.duckdb")) == ["company.duckdb"]
    assert (result.customers, result.customer_pii, result.events, result.transactions,
            result.feedback, result.rejects, result.incidents, result.whys, result.actions) == (
        1, 1, counts["events"], counts["transactions"], counts["feedback"], 1, 1, 1, 1)
    assert result.case_steps == counts["events"]
    with Project.open(path, read_only=True) as p:
        with pytest.raises(InputError):
            customer_data(p, who["id"])
        assert p.con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 1  # the other's
        assert REDACTED in p.con.execute("SELECT title || description FROM incidents"
                                         " ORDER BY incident_id DESC LIMIT 1").fetchone()[0]


def test_erasure_keeps_every_other_customer_and_detaches_the_customers_below(copy):
    path, who = copy
    before = _others(path, who["id"])
    erase_customer(path, who["id"])
    assert _others(path, who["id"]) == before
    with Project.open(path, read_only=True) as p:
        parent = p.con.execute("SELECT parent_id FROM customers WHERE parent_id IS NOT NULL"
                               " ORDER BY 1 LIMIT 1").fetchone()[0]
        below = {r[0] for r in p.con.execute(
            "SELECT customer_id FROM customers WHERE parent_id = ?", [parent]).fetchall()}
    result = erase_customer(path, parent)
    assert result.children_detached == len(below) > 0
    with Project.open(path, read_only=True) as p:
        kept = dict(p.con.execute("SELECT customer_id, parent_id FROM customers WHERE"
                                  " list_contains(?, customer_id)", [sorted(below)]).fetchall())
        version = p.schema_version
    assert kept == {c: None for c in below}
    assert version >= 3


def test_after_erasure_the_stored_steps_match_the_events_and_analytics_run(copy):
    path, who = copy
    erase_customer(path, who["id"])
    with Project.open(path, read_only=True) as p:
        steps = stored_steps(p)
        assert steps is not None
        stored = sorted(p.con.execute(
            f"SELECT case_id, code, step, millis, next_code, gap_us FROM {STEPS_TABLE}").fetchall())
        fresh = case_steps(p.table("events"), steps.codes).table.to_pyarrow().to_pylist()
        assert stored == sorted(tuple(r.values()) for r in fresh)
        assert analyse(steps).to_dict() == analyse(p.table("events")).to_dict()


def test_erasing_the_only_customer_with_events_leaves_an_empty_working_project(tmp_path):
    path = tmp_path / "company.duckdb"
    with Project.create(path) as p:
        ingest_file(p, "events", write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\n"
                                       "c1,home,2024-01-01\nc1,cart,2024-01-02\n"))
    result = erase_customer(path, "c1")
    assert (result.events, result.case_steps) == (2, 2)
    with Project.open(path, read_only=True) as p:
        assert p.con.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        steps = stored_steps(p)  # an empty step table, in step with the (no) events
        assert steps is not None and steps.codes.touchpoints == ()
        assert p.con.execute("SELECT count(*) FROM case_steps").fetchone()[0] == 0
    assert _found(tmp_path, "c1") == {}


def test_a_token_match_erases_c1_but_not_c10(tmp_path):
    path = tmp_path / "company.duckdb"
    with Project.create(path) as p:
        ingest_file(p, "customers", write(tmp_path / "c.csv", "customer_id,name,email,phone\n"
                                          "c1,Ann Lee,ann@example.com,+1 555 0101\n"
                                          "c10,Bob Ray,bob@example.com,+1 555 0110\n"))
        ingest_file(p, "events", write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\n"
                                       "c1,home,2024-01-01\nc10,home,2024-01-02\n"
                                       "c10,cart,2024-01-03\nc1,cart,never\nc10,cart,never\n"))
        open_incident(p, "c1 c1 and c10 complained",
                      description="Ann Lee wrote twice (ANN@EXAMPLE.COM); c10 once")
    erase_customer(path, "c1")
    with Project.open(path, read_only=True) as p:
        assert p.con.execute("SELECT title, description FROM incidents").fetchone() == (
            f"{REDACTED} {REDACTED} and c10 complained",
            f"{REDACTED} wrote twice ({REDACTED}); c10 once")
        assert p.con.execute("SELECT raw FROM rejects").fetchall() == [("c10,cart,never",)]
        assert p.con.execute("SELECT count(*) FROM events").fetchone()[0] == 2
        assert p.con.execute("SELECT customer_id FROM customer_pii").fetchall() == [("c10",)]
    assert _found(tmp_path, "Ann Lee", "ann@example.com", "ANN@EXAMPLE.COM", "555 0101") == {}


@pytest.mark.parametrize("stage", STAGES)
def test_a_failure_at_any_stage_leaves_the_project_as_it_was(copy, stage):
    path, who = copy
    before, sha = _state(path, who["id"]), _sha(path)

    def fail(name):
        if name == stage:
            raise RuntimeError(f"failed at {name}")

    with pytest.raises(RuntimeError):
        erase_customer(path, who["id"], on_stage=fail)
    assert _state(path, who["id"]) == before and _sha(path) == sha
    assert sorted(f.name for f in path.parent.iterdir()) == ["company.duckdb"]


KILLER = textwrap.dedent("""
    import os, signal, sys
    from corridor.privacy import erase_customer

    def stage(name):
        if name == sys.argv[3]:
            os.kill(os.getpid(), signal.SIGKILL)

    erase_customer(sys.argv[1], sys.argv[2], on_stage=stage)
""")


@pytest.mark.parametrize("stage", (*STAGES, "replaced"))
def test_killing_the_process_at_any_stage_leaves_before_or_after(copy, stage):
    path, who = copy
    before = _state(path, who["id"])
    proc = subprocess.run([sys.executable, "-c", KILLER, str(path), who["id"], stage],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = _state(path, who["id"])
    if stage == "replaced":
        assert state["theirs"] == 0 and _found(path.parent, who["id"], who["email"]) == {}
    else:
        assert state == before
        # a leftover of the killed run is cleared by the next erasure, which completes
        erase_customer(path, who["id"])
        assert _state(path, who["id"])["theirs"] == 0
    assert sorted(f.name for f in path.parent.iterdir()) == ["company.duckdb"]
    assert _found(path.parent, who["id"], who["name"], who["email"], who["phone"]) == {}


WAL_WRITER = textwrap.dedent("""
    import os, sys
    from corridor.incidents import open_incident
    from corridor.store import Project

    p = Project.open(sys.argv[1])
    open_incident(p, "Late note about " + sys.argv[2], description="written to the WAL only")
    os._exit(0)  # no close, no checkpoint: the incident lives in the WAL
""")


def test_a_write_ahead_log_left_by_another_writer_is_kept_and_cleaned(copy):
    path, who = copy
    subprocess.run([sys.executable, "-c", WAL_WRITER, str(path), who["id"]], check=True,
                   timeout=120)
    wal = Path(str(path) + ".wal")
    assert wal.exists() and who["id"].encode() in wal.read_bytes()
    incidents = _state(path, who["id"])["incidents"]
    result = erase_customer(path, who["id"])
    assert not wal.exists()
    assert result.incidents == 2
    with Project.open(path, read_only=True) as p:
        assert p.con.execute("SELECT count(*) FROM incidents").fetchone()[0] == incidents
        assert p.con.execute("SELECT title FROM incidents ORDER BY incident_id DESC"
                             " LIMIT 1").fetchone()[0] == f"Late note about {REDACTED}"
    assert _found(path.parent, who["id"], who["email"]) == {}


def test_export_and_erasure_are_audited_without_keeping_the_customer(copy):
    path, who = copy
    export_customer(path, who["id"], actor="tester")
    result = erase_customer(path, who["id"], actor="tester")
    with Project.open(path, read_only=True) as p:
        entries = audit.latest(p)
    assert [(e.actor, e.action, e.target) for e in entries[:2]] == [
        ("tester", "customer.erase", REDACTED), ("tester", "customer.export", REDACTED)]
    assert entries[0].detail["events"] == result.events
    assert result.audit_log == 1
    assert _found(path.parent, who["id"], who["name"], who["email"], who["phone"]) == {}


def test_every_table_of_a_project_is_known_to_erasure(tmp_path):
    """A new table must be placed: rows of a customer, text that mentions one, derived,
    or unrelated to customers — erasure relies on it."""
    known = {*OWN_TABLES, *MENTION_TABLES, REJECTS, *UNRELATED_TABLES, *DERIVED_TABLES}
    with Project.create(tmp_path / "p.duckdb") as p:
        ingest_file(p, "events", write(tmp_path / "e.csv",
                                       "customer_id,touchpoint,timestamp\nc1,home,2024-01-01\n"))
        tables = {r[0] for r in p.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables - known == set()
