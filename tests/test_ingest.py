import gzip
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corridor.errors import MappingError, RejectRateExceeded
from corridor.ingest import ingest_file
from corridor.mapping import Mapping
from corridor.store import Project

from helpers import write

EVENTS_HEADER = "customer_id,case_id,touchpoint,timestamp,channel,outcome,wait_seconds\n"


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        yield p


def _rows(project, sql):
    return project.con.execute(sql).fetchall()


def test_good_rows_load_and_bad_rows_are_recorded_with_line_column_and_raw_text(project, tmp_path):
    path = write(tmp_path / "events.csv", EVENTS_HEADER
                 + "c1,,home,2024-01-01 10:00:00,web,ok,3\n"
                 + "c1,,cart,not-a-date,web,ok,4\n"
                 + "c2,,home,2024-01-02 10:00:00,web,teleported,5\n"
                 + "c3,,home,2024-01-02 11:00:00,web,ok,five\n"
                 + ",,home,2024-01-02 11:00:00,web,ok,1\n"
                 + "c4,,home,2024-01-03 09:00:00,app,failed,\n")
    result = ingest_file(project, "events", path)
    assert (result.read, result.accepted, result.rejected) == (6, 2, 4)
    rejects = _rows(project, "SELECT line, column_name, reason, raw FROM rejects ORDER BY line")
    assert [r[0] for r in rejects] == [3, 4, 5, 6]
    assert rejects[0][1] == "timestamp" and "not-a-date" in rejects[0][2]
    assert rejects[1][1] == "outcome" and "teleported" in rejects[1][2]
    assert rejects[2][1] == "wait_seconds" and "as a number" in rejects[2][2]
    assert rejects[3][1] == "customer_id" and "missing" in rejects[3][2]
    assert rejects[0][3] == "c1,,cart,not-a-date,web,ok,4"
    loaded = _rows(project, "SELECT customer_id, case_id, outcome, wait_seconds FROM events ORDER BY seq")
    assert loaded == [("c1", "c1", "ok", 3.0), ("c4", "c4", "failed", None)]


def test_read_always_equals_accepted_plus_rejected_and_is_recorded_in_loads(project, tmp_path):
    path = write(tmp_path / "e.csv", EVENTS_HEADER + "c1,,a,2024-01-01,web,ok,1\nc1,,b,bad,web,ok,1\n")
    r = ingest_file(project, "events", path)
    assert r.read == r.accepted + r.rejected == 2
    assert _rows(project, "SELECT rows_read, rows_accepted, rows_rejected FROM loads") == [(2, 1, 1)]


def test_arabic_and_cyrillic_text_is_kept_intact(project, tmp_path):
    texts = ["الخدمة ممتازة وسريعة", "Очень долго ждал ответа", "Great, quick help"]
    lines = "".join(f"c{i},2024-01-0{i + 1} 10:00,nps,{9 - i},\"{t}\"\n" for i, t in enumerate(texts))
    path = write(tmp_path / "fb.csv", "customer_id,timestamp,metric,score,text\n" + lines)
    assert ingest_file(project, "feedback", path).accepted == 3
    assert [r[0] for r in _rows(project, "SELECT text FROM feedback ORDER BY seq")] == texts


def test_equal_timestamps_keep_their_source_order_through_seq(project, tmp_path):
    path = write(tmp_path / "e.csv", EVENTS_HEADER
                 + "c1,,zeta,2024-01-01 10:00,web,ok,\n"
                 + "c1,,alpha,2024-01-01 10:00,web,ok,\n"
                 + "c1,,mid,2024-01-01 10:00,web,ok,\n")
    ingest_file(project, "events", path)
    order = _rows(project, "SELECT touchpoint FROM events ORDER BY timestamp, seq")
    assert [r[0] for r in order] == ["zeta", "alpha", "mid"]


def test_ingesting_the_same_file_again_adds_nothing(project, tmp_path):
    path = write(tmp_path / "e.csv", EVENTS_HEADER + "c1,,a,2024-01-01,web,ok,1\nc1,,b,oops,web,ok,1\n")
    ingest_file(project, "events", path)
    again = ingest_file(project, "events", path)
    assert again.already_loaded and (again.read, again.accepted, again.rejected) == (0, 0, 0)
    assert _rows(project, "SELECT count(*) FROM events") == [(1,)]
    assert _rows(project, "SELECT count(*) FROM rejects") == [(1,)]
    assert _rows(project, "SELECT count(*) FROM loads") == [(1,)]


def test_exact_duplicates_are_rejected_within_a_file_and_across_files(project, tmp_path):
    row = "c1,,a,2024-01-01 10:00,web,ok,1\n"
    first = write(tmp_path / "e1.csv", EVENTS_HEADER + row + row + "c1,,b,2024-01-01 11:00,web,ok,1\n")
    r1 = ingest_file(project, "events", first)
    assert (r1.accepted, r1.rejected) == (2, 1)
    assert _rows(project, "SELECT line, reason FROM rejects") == [(3, "exact duplicate of line 2")]
    second = write(tmp_path / "e2.csv", EVENTS_HEADER + row + "c1,,c,2024-01-01 12:00,web,ok,1\n")
    r2 = ingest_file(project, "events", second)
    assert (r2.accepted, r2.rejected) == (1, 1)
    assert _rows(project, "SELECT count(*) FROM events") == [(3,)]


def test_a_file_above_the_reject_rate_is_refused_whole_and_the_project_is_unchanged(project, tmp_path):
    path = write(tmp_path / "e.csv", EVENTS_HEADER + "c1,,a,2024-01-01,web,ok,1\nc1,,b,bad,web,ok,1\nc1,,c,bad,web,ok,1\n")
    with pytest.raises(RejectRateExceeded) as info:
        ingest_file(project, "events", path, max_reject_rate=0.5)
    message = str(info.value)
    assert "2 of 3 rows" in message and "line 3, column timestamp" in message
    assert "\n" not in message
    for table in ("events", "rejects", "loads", "touchpoints"):
        assert _rows(project, f"SELECT count(*) FROM {table}") == [(0,)]


def test_unknown_touchpoints_are_registered_and_later_described(project, tmp_path):
    ingest_file(project, "events", write(tmp_path / "e.csv", EVENTS_HEADER + "c1,,checkout,2024-01-01,web,ok,1\n"))
    # registered without a channel of its own: the event keeps its channel
    assert _rows(project, "SELECT touchpoint, channel, stage FROM touchpoints") == [("checkout", None, None)]
    described = write(tmp_path / "tp.csv", "touchpoint,stage,channel,department_id\ncheckout,purchase,web,sales\n")
    result = ingest_file(project, "touchpoints", described)
    assert result.accepted == 1
    assert _rows(project, "SELECT touchpoint, stage FROM touchpoints") == [("checkout", "purchase")]


def test_reference_keys_may_not_repeat(project, tmp_path):
    path = write(tmp_path / "d.csv", "department_id,name\nsales,Sales\nsales,Sales again\ncare,Care\n")
    r = ingest_file(project, "departments", path)
    assert (r.accepted, r.rejected) == (2, 1)
    assert "repeats line 2" in _rows(project, "SELECT reason FROM rejects")[0][0]
    again = write(tmp_path / "d2.csv", "department_id,name\ncare,Customer care\nbilling,Billing\n")
    r2 = ingest_file(project, "departments", again)
    assert (r2.accepted, r2.rejected) == (1, 1)
    assert "already in the project" in _rows(project, "SELECT reason FROM rejects ORDER BY load_id DESC")[0][0]


def test_unknown_customers_are_flagged_but_kept(project, tmp_path):
    ingest_file(project, "customers", write(tmp_path / "c.csv", "customer_id,segment\nc1,consumer\n"))
    r = ingest_file(project, "events", write(tmp_path / "e.csv", EVENTS_HEADER + "c1,,a,2024-01-01,web,ok,1\nc9,,a,2024-01-01,web,ok,1\n"))
    assert r.accepted == 2 and r.unknown_customers == 1
    assert _rows(project, "SELECT unknown_customers FROM loads WHERE kind = 'events'") == [(1,)]


def test_personal_data_is_kept_apart_from_customers(project, tmp_path):
    path = write(tmp_path / "c.csv", "customer_id,name,email,segment,plan\nc1,Анна Петрова,anna@example.org,consumer,fibre\n")
    ingest_file(project, "customers", path)
    assert "name" not in [r[0] for r in _rows(project, "DESCRIBE customers")]
    assert _rows(project, "SELECT customer_id, name, email FROM customer_pii") == [("c1", "Анна Петрова", "anna@example.org")]
    assert json.loads(_rows(project, "SELECT attributes FROM customers")[0][0]) == {"plan": "fibre"}


def test_a_mapping_renames_converts_times_from_a_zone_and_sets_constants(project, tmp_path):
    path = write(tmp_path / "visits.csv", "Client;Step;When\nk1;Главная;01.02.2024 10:30\nk1;Корзина;01.02.2024 10:45\n")
    mapping_file = write(tmp_path / "map.toml", """
[columns]
customer_id = "Client"
touchpoint = "Step"
timestamp = "When"
[constants]
channel = "web"
[timestamps]
format = "%d.%m.%Y %H:%M"
timezone = "Europe/Moscow"
""")
    r = ingest_file(project, "events", path, mapping=Mapping.from_toml(mapping_file))
    assert r.accepted == 2
    got = _rows(project, "SELECT touchpoint, timestamp, channel FROM events ORDER BY seq")
    assert got == [("Главная", datetime(2024, 2, 1, 7, 30), "web"), ("Корзина", datetime(2024, 2, 1, 7, 45), "web")]


def test_iso_timestamps_with_offsets_are_stored_in_utc(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\nc1,a,2024-01-01T10:00:00+02:00\nc1,b,2024-01-01T10:00:00Z\n")
    ingest_file(project, "events", path)
    assert [r[0] for r in _rows(project, "SELECT timestamp FROM events ORDER BY seq")] == [
        datetime(2024, 1, 1, 8, 0), datetime(2024, 1, 1, 10, 0)]


def test_a_missing_required_column_is_one_clear_sentence(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint\nc1,a\n")
    with pytest.raises(MappingError) as info:
        ingest_file(project, "events", path)
    assert "no column 'timestamp'" in str(info.value) and "\n" not in str(info.value)


def test_parquet_keeps_its_types_and_reports_row_numbers(project, tmp_path):
    table = pa.table({
        "customer_id": ["c1", "c1", None],
        "touchpoint": ["a", "b", "c"],
        "timestamp": pa.array([datetime(2024, 1, 1, 9), datetime(2024, 1, 1, 10), datetime(2024, 1, 1, 11)], pa.timestamp("us")),
        "cost": [1.5, 2, 3],
    })
    pq.write_table(table, tmp_path / "e.parquet")
    r = ingest_file(project, "events", tmp_path / "e.parquet")
    assert (r.accepted, r.rejected) == (2, 1)
    assert _rows(project, "SELECT line FROM rejects") == [(3,)]
    assert _rows(project, "SELECT sum(cost) FROM events") == [(3.5,)]


def test_json_lines_load_and_keep_extra_keys_as_attributes(project, tmp_path):
    path = write(tmp_path / "t.jsonl", '{"customer_id": "c1", "timestamp": "2024-01-01", "amount": 10, "store": "north"}\n'
                 'not json\n{"customer_id": "c2", "timestamp": "2024-01-02", "amount": "x"}\n')
    r = ingest_file(project, "transactions", path)
    assert (r.read, r.accepted, r.rejected) == (3, 1, 2)
    assert json.loads(_rows(project, "SELECT attributes FROM transactions")[0][0]) == {"store": "north"}


XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0">
  <trace>
    <string key="concept:name" value="case-1"/>
    <event>
      <string key="concept:name" value="register"/>
      <date key="time:timestamp" value="2024-01-01T10:00:00.000+01:00"/>
      <string key="org:resource" value="Anna"/>
    </event>
    <event>
      <string key="concept:name" value="approve"/>
      <date key="time:timestamp" value="2024-01-01T11:00:00.000+01:00"/>
    </event>
  </trace>
</log>
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_xes_loads_without_a_mapping(project, tmp_path, compressed):
    if compressed:
        path = tmp_path / "log.xes.gz"
        path.write_bytes(gzip.compress(XES.encode()))
    else:
        path = write(tmp_path / "log.xes", XES)
    r = ingest_file(project, "events", path)
    assert r.accepted == 2
    rows = _rows(project, "SELECT case_id, customer_id, touchpoint, timestamp, attributes FROM events ORDER BY seq")
    assert rows[0][:4] == ("case-1", "case-1", "register", datetime(2024, 1, 1, 9, 0))
    assert json.loads(rows[0][4])["org:resource"] == "Anna"


def test_json_lines_keys_that_first_appear_late_are_kept(project, tmp_path):
    first = "".join(f'{{"customer_id": "c{i}", "timestamp": "2024-01-01", "amount": {i}}}\n' for i in range(80_000))
    path = write(tmp_path / "t.jsonl", first + '{"customer_id": "late", "timestamp": "2024-01-02", "amount": 1, "voucher": "SPRING"}\n')
    assert ingest_file(project, "transactions", path).accepted == 80_001
    got = _rows(project, "SELECT attributes FROM transactions WHERE customer_id = 'late'")[0][0]
    assert json.loads(got) == {"voucher": "SPRING"}
