"""Malformed inputs through the real CLI: one clear sentence, never a traceback."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import run_cli, write


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.duckdb"
    assert run_cli("init", path).returncode == 0
    return path


def _one_sentence_error(proc, code=None):
    assert proc.returncode != 0
    if code is not None:
        assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_truncated_parquet_is_one_sentence_naming_the_file(project, tmp_path):
    pq.write_table(pa.table({"customer_id": ["c"] * 1000, "touchpoint": ["a"] * 1000, "timestamp": ["2024-01-01"] * 1000}), tmp_path / "e.parquet")
    data = (tmp_path / "e.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    line = _one_sentence_error(run_cli("ingest", project, "events", tmp_path / "cut.parquet"), code=2)
    assert "cut.parquet" in line


def test_broken_xes_names_file_and_line(project, tmp_path):
    path = write(tmp_path / "log.xes", '<?xml version="1.0"?>\n<log>\n<trace>\n<string key="concept:name" value="c1"/>\n<event>\n</trace>\n</log>\n')
    line = _one_sentence_error(run_cli("ingest", project, "events", path), code=2)
    assert "log.xes" in line and "line" in line


def test_truncated_gzip_xes_is_one_sentence(project, tmp_path):
    body = gzip.compress(("<log>" + "<trace><event/></trace>" * 5000 + "</log>").encode())
    (tmp_path / "log.xes.gz").write_bytes(body[: len(body) // 2])
    line = _one_sentence_error(run_cli("ingest", project, "events", tmp_path / "log.xes.gz"), code=2)
    assert "log.xes.gz" in line


def test_missing_columns_are_named(project, tmp_path):
    path = write(tmp_path / "e.csv", "who,what\nc1,a\n")
    line = _one_sentence_error(run_cli("ingest", project, "events", path), code=2)
    assert "customer_id" in line and "who, what" in line


def test_unknown_kind_and_missing_project_are_one_sentence(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id\nc1\n")
    assert "Unknown kind" in _one_sentence_error(run_cli("ingest", project, "things", path))
    assert "corridor init" in _one_sentence_error(run_cli("ingest", tmp_path / "nope.duckdb", "events", path))


def test_bad_dates_wrong_encoding_and_a_truncated_last_row_become_rejects(project, tmp_path):
    body = ("customer_id,touchpoint,timestamp,channel\n"
            "c1,a,2024-01-01,web\n"
            "c1,b,31/31/2024,web\n").encode() + "c2,Оплата,2024-01-02,web\n".encode("cp1251") + b'c3,"cut,2024-01-0'
    path = tmp_path / "dirty.csv"
    path.write_bytes(body)
    proc = run_cli("ingest", project, "events", path, "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["read"] == counts["accepted"] + counts["rejected"]
    assert counts["accepted"] >= 1 and counts["rejected"] >= 2
    listed = json.loads(run_cli("rejects", project, "--json").stdout)
    assert {r["line"] for r in listed} >= {3}


def test_a_ten_megabyte_field_loads(project, tmp_path):
    big = "x" * (10 * 1024 * 1024)
    path = write(tmp_path / "fb.csv", f"customer_id,timestamp,metric,score,text\nc1,2024-01-01,nps,9,{big}\nc2,2024-01-01,nps,3,short\n")
    proc = run_cli("ingest", project, "feedback", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accepted"] == 2


def test_reject_rate_refusal_exits_three_with_one_sentence(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\nc1,a,never\nc1,a,2024-01-01\n")
    line = _one_sentence_error(run_cli("ingest", project, "events", path, "--max-reject-rate", "0.1"), code=3)
    assert "nothing was loaded" in line


def test_ingest_json_reports_read_accepted_rejected(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\nc1,a,2024-01-01\nc1,b,bad\n")
    proc = run_cli("ingest", project, "events", path, "--json")
    data = json.loads(proc.stdout)
    assert (data["read"], data["accepted"], data["rejected"]) == (2, 1, 1)
    assert "Traceback" not in proc.stderr
