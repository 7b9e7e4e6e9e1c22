"""Hostile files through the real CLI: each stops at a documented limit with one sentence
and exit 2, or loads; never a traceback, and never a raw control character on the
terminal. bench/fuzz_ingest.py runs the full-size versions of these."""

import gzip
import json

import pytest

from corridor.sources import GZIP_MAX_RATIO, GZIP_RATIO_FROM, MAX_COLUMNS
from helpers import run_cli, write

HEADER = "customer_id,touchpoint,timestamp"
ROW = "c1,visit,2024-01-01T10:00:00"
ESC = "\x1b[31m"


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    path = tmp_path_factory.mktemp("blank") / "p.duckdb"
    assert run_cli("init", path, "--no-pseudonymise").returncode == 0
    return path


@pytest.fixture
def project(blank, tmp_path):
    path = tmp_path / "p.duckdb"
    path.write_bytes(blank.read_bytes())
    return path


def one_sentence(proc, code=2) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "\x1b" not in proc.stderr
    return lines[0]


def test_a_csv_header_wider_than_the_column_limit_stops_with_one_sentence(project, tmp_path):
    names = [*HEADER.split(","), *(f"x{i}" for i in range(MAX_COLUMNS))]
    path = write(tmp_path / "wide.csv", ",".join(names) + "\n" + ROW + ",1" * MAX_COLUMNS + "\n")
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert "wide.csv line 1" in line and f"{MAX_COLUMNS + 3:,} columns" in line


def test_json_lines_adding_a_key_on_every_line_stop_at_the_column_limit(project, tmp_path):
    lines = [json.dumps({"customer_id": f"c{i}", "touchpoint": "v", "timestamp": "2024-01-01",
                         f"k{i}": i}) for i in range(MAX_COLUMNS + 50)]
    path = write(tmp_path / "keys.jsonl", "\n".join(lines) + "\n")
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert f"keys.jsonl line {MAX_COLUMNS - 2:,}" in line and "different keys" in line


def test_one_json_line_with_100k_keys_is_a_clean_error_not_an_unexpected_one(project, tmp_path):
    wide = {"customer_id": "c1", **{f"k{i}": i for i in range(100_000)}}
    path = write(tmp_path / "wide.jsonl", json.dumps(wide) + "\n")
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert "wide.jsonl line 1" in line and "100,001 different keys" in line


def test_an_xes_event_with_more_attributes_than_the_limit_stops(project, tmp_path):
    attributes = "".join(f'<string key="a{i}" value="v"/>' for i in range(MAX_COLUMNS + 1))
    path = write(tmp_path / "wide.xes", (
        '<?xml version="1.0"?>\n<log><trace><string key="concept:name" value="c1"/>\n'
        f'<event><string key="concept:name" value="v"/>{attributes}</event></trace></log>\n'))
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert "wide.xes line 3" in line and "different attributes" in line


def test_an_xml_entity_bomb_is_refused_without_expanding_it(project, tmp_path):
    entities = ['<!ENTITY a0 "lol">'] + [
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)]
    path = write(tmp_path / "bomb.xes", (
        '<?xml version="1.0"?>\n<!DOCTYPE log [' + "".join(entities) + "]>\n"
        '<log><trace><string key="concept:name" value="&a9;"/><event/></trace></log>\n'))
    assert "entity bomb" in one_sentence(run_cli("ingest", project, "events", path))


def test_a_gzip_bomb_stops_before_it_is_parsed(project, tmp_path):
    path = tmp_path / "bomb.csv.gz"
    rows = (ROW + "\n").encode() * 1_000_000
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write((HEADER + "\n").encode())
        for _ in range(GZIP_RATIO_FROM // len(rows) + 1):
            out.write(rows)
    assert path.stat().st_size * GZIP_MAX_RATIO < GZIP_RATIO_FROM  # a bomb by our measure
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert "bomb.csv.gz inflates to" in line and "decompression bomb" in line


def test_rows_with_bytes_that_are_not_utf8_load_with_nothing_on_stderr(project, tmp_path):
    body = b"".join(f"c{i},Оплата,2024-01-01\n".encode() if i % 50 else
                    b"c,\xff\xfe,2024-01-01,extra\n" for i in range(2000))
    path = tmp_path / "dirty.csv"
    path.write_bytes((HEADER + "\n").encode() + body)
    proc = run_cli("ingest", project, "events", path, "--json", "--quiet")
    assert proc.returncode == 0 and proc.stderr == ""
    counts = json.loads(proc.stdout)
    assert (counts["read"], counts["rejected"]) == (2000, 40)


def test_control_characters_in_header_names_are_escaped_in_the_message(project, tmp_path):
    path = write(tmp_path / "esc.csv", f"who{ESC},when\u202e\nc1,2024-01-01\n")
    line = one_sentence(run_cli("ingest", project, "events", path))
    assert "who\\x1b[31m" in line and "when\\u202e" in line and "\u202e" not in line


def test_control_characters_in_a_file_name_are_escaped_on_success_and_on_error(project, tmp_path):
    good = write(tmp_path / f"evil{ESC}.csv", HEADER + "\n" + ROW + "\n")
    proc = run_cli("ingest", project, "events", good)
    assert proc.returncode == 0 and "\x1b" not in proc.stdout + proc.stderr
    assert "evil\\x1b[31m.csv" in proc.stdout
    empty = write(tmp_path / f"empty{ESC}.csv", "")
    assert "empty\\x1b[31m.csv" in one_sentence(run_cli("ingest", project, "events", empty))


def test_json_nested_too_deep_and_lone_surrogates_fail_only_their_rows(project, tmp_path):
    good = json.dumps({"customer_id": "c1", "touchpoint": "v", "timestamp": "2024-01-01"})
    path = write(tmp_path / "odd.jsonl", "\n".join([
        good,
        '{"customer_id": "c2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"customer_id": "c3\\ud800", "touchpoint": "v", "timestamp": "2024-01-01"}',
    ]) + "\n")
    proc = run_cli("ingest", project, "events", path, "--json", "--quiet")
    assert proc.returncode == 0 and proc.stderr == ""
    counts = json.loads(proc.stdout)
    assert (counts["read"], counts["accepted"], counts["rejected"]) == (3, 1, 2)
