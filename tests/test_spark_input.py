"""Spark reads events where they lie in the README's canonical layout, which has no `seq`
and whose optional columns may be missing: such a Parquet gives the answers the same file
gives once ingest has loaded it into a project (one local Spark session for the file)."""

from __future__ import annotations

import math
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corridor.access import accessibility
from corridor.company import DEFAULT_MODEL
from corridor.errors import InputError
from corridor.filters import EventFilter
from corridor.flowreport import flow_report
from corridor.funnel import funnel
from corridor.ingest import ingest_file
from corridor.journeys import analyse
from corridor.store import Project, project_tables, spark_tables

pytestmark = pytest.mark.skipif(os.environ.get("CORRIDOR_SKIP_SPARK") == "1",
                                reason="CORRIDOR_SKIP_SPARK=1 skips the Spark cases")

# exactly the README's canonical event columns, in its order: no seq, no load_id
README_COLUMNS = ["customer_id", "case_id", "touchpoint", "timestamp", "channel", "outcome",
                  "wait_seconds", "duration_seconds", "cost", "department_id"]
TOUCHPOINTS = ["ad_seen", "web_visit", "order_online", "hotline", "first_bill"]


def _rows(cases: int = 60) -> list[dict]:
    import datetime as dt

    start = dt.datetime(2024, 3, 4, 8, 0)
    rows = []
    for c in range(cases):
        at = start + dt.timedelta(hours=5 * c)
        for k in range(2 + c % 4):
            tp = TOUCHPOINTS[(c + k) % len(TOUCHPOINTS)] if k else "ad_seen"
            tie = k == 2 and c % 3 == 0  # the same time as the step before: file order decides
            at = at if tie else at + dt.timedelta(minutes=7 + (c * k) % 40)
            rows.append({
                "customer_id": f"c{c % 45}",
                "case_id": None if c % 5 == 0 else f"case{c}",  # empty: the customer's id
                "touchpoint": tp, "timestamp": at,
                "channel": ("web", "phone", "store")[k % 3],
                "outcome": None if c % 7 == 0 else ("failed" if (c + k) % 6 == 0 else "ok"),
                "wait_seconds": None if c % 4 == 0 else float((c * k) % 300),
                "duration_seconds": float(30 + k), "cost": 1.5 * k,
                "department_id": f"d{k % 3}",
            })
    return rows


def _write(path, rows, columns):
    types = {"timestamp": pa.timestamp("us"), "wait_seconds": pa.float64(),
             "duration_seconds": pa.float64(), "cost": pa.float64()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
    table = pa.Table.from_pylist([{c: r[c] for c in columns} for r in rows], schema=schema)
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-input")
    rows = _rows()
    full = _write(folder / "events.parquet", rows, README_COLUMNS)
    project = Project.create(folder / "p.duckdb")
    ingest_file(project, "events", full)
    yield folder, full, rows, project
    project.close()


def _same(want, have, where="result"):
    """Equal, floats to 1e-9 relative (the engines sum in different orders)."""
    if isinstance(want, float) and isinstance(have, (int, float)):
        assert math.isclose(want, have, rel_tol=1e-9, abs_tol=1e-9), where
    elif isinstance(want, dict):
        assert isinstance(have, dict) and want.keys() == have.keys(), where
        for key in want:
            _same(want[key], have[key], f"{where}.{key}")
    elif isinstance(want, (list, tuple)):
        assert len(want) == len(have), where
        for i, (w, h) in enumerate(zip(want, have)):
            _same(w, h, f"{where}[{i}]")
    else:
        assert want == have, where


def _answers(tables):
    everything = EventFilter()
    steps = tables.journeys_of(everything)
    return {
        "journeys": analyse(steps, top=10, goal="order_online").to_dict(),
        "funnel": funnel(steps, ["ad_seen", "web_visit", "order_online"]).to_dict(),
        "flow": flow_report(tables.events, DEFAULT_MODEL, goal="order_online").to_dict(),
        "access": accessibility(tables.events).to_dict(),
    }


def test_a_parquet_of_the_readme_columns_without_seq_gives_the_answers_of_a_project(
        lake, spark_session):
    folder, full, rows, project = lake
    assert "seq" not in pq.read_schema(full).names
    spark = _answers(spark_tables(spark_session, str(full)))
    local = _answers(project_tables(project))
    for name in local:
        _same(local[name], spark[name], name)
    # the defaults ingest applies: an empty case id is the customer's, an empty outcome ok
    assert spark["journeys"]["cases"] == len({r["case_id"] or r["customer_id"] for r in rows})


def test_only_the_required_columns_are_needed_and_a_missing_one_is_named(lake, spark_session):
    folder, _full, rows, _project = lake
    bare = _write(folder / "bare.parquet", rows, ["customer_id", "touchpoint", "timestamp"])
    tables = spark_tables(spark_session, str(bare))
    events = tables.events.to_pandas()
    assert set(README_COLUMNS + ["seq"]) <= set(events.columns)
    assert (events.case_id == events.customer_id).all() and (events.outcome == "ok").all()
    assert events.seq.is_monotonic_increasing  # file order, as Spark reads one file
    assert analyse(tables.journeys_of(EventFilter()), top=5).cases == 45

    no_touchpoint = _write(folder / "partial.parquet", rows, ["customer_id", "timestamp"])
    with pytest.raises(InputError, match="no column 'touchpoint'"):
        spark_tables(spark_session, str(no_touchpoint))
