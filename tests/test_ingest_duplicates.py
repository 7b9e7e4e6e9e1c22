"""The duplicate rule holds at any size. DuckDB 1.5.6 drops, at commit, an insert of a
whole row group (122,880 rows) or more that follows an insert of no rows into the same
table in one transaction; before ingest avoided that, 130,000 copies of one customer
loaded as 130,000 rows with one key."""

from __future__ import annotations

import pytest

from corridor.errors import RejectRateExceeded
from corridor.ingest import ingest_file
from corridor.store import Project


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        yield p


def test_a_million_copies_of_one_customer_load_one_customer(project, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,segment\n" + "c1,retail\n" * 1_000_000)
    result = ingest_file(project, "customers", path)
    assert (result.read, result.accepted, result.rejected) == (1_000_000, 1, 999_999)
    assert project.con.execute("SELECT count(*) FROM customers").fetchone()[0] == 1
    assert project.con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 999_999


def test_half_a_million_events_written_twice_load_once(project, tmp_path):
    path = tmp_path / "events.csv"
    rows = "".join(f"c{i},web,2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}\n"
                   for i in range(500_000))
    path.write_text("customer_id,touchpoint,timestamp\n" + rows + rows)
    result = ingest_file(project, "events", path)
    assert (result.read, result.accepted, result.rejected) == (1_000_000, 500_000, 500_000)
    assert project.con.execute("SELECT count(*) FROM events").fetchone()[0] == 500_000


def test_a_second_file_repeating_every_key_of_a_large_first_one_loads_nothing(project, tmp_path):
    ids = "".join(f"c{i},retail\n" for i in range(200_000))
    ingest_file(project, "customers", _written(tmp_path / "a.csv", "customer_id,segment\n" + ids))
    again = _written(tmp_path / "b.csv", "customer_id,segment\n" + ids.replace("retail", "smb"))
    with pytest.raises(RejectRateExceeded, match="all 200,000 rows were rejected"):
        ingest_file(project, "customers", again)
    assert project.con.execute("SELECT count(*), count(DISTINCT customer_id) FROM customers"
                               ).fetchone() == (200_000, 200_000)


def _written(path, text):
    path.write_text(text)
    return path
