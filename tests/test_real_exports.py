"""Exports as companies write them load with a mapping file alone: their words for values,
numbers with decimal commas, digit groups and currency signs, a retry after a wrong
mapping, and the duplicate rule (a transaction has no natural key; events and feedback
do; a mapping may declare one)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from corridor.errors import MappingError, RejectRateExceeded
from corridor.filters import EventFilter, apply
from corridor.ingest import ingest_file
from corridor.mapping import Mapping
from corridor.store import Project

from helpers import run_cli, write

# An ordinary Russian CRM export: cp1251, ';', Russian headers and words, day-first
# times in Moscow time, amounts with a space between thousands, a decimal comma and
# "руб." (cp1251 has no ₽).
CRM_EVENTS = (
    "Клиент;Обращение;Точка контакта;Дата и время;Канал;Результат;Отдел;Стоимость\n"
    "К-001;О-1;Звонок;31.12.2025 14:05;телефон;успешно;Продажи;1 234,50 руб.\n"
    "К-001;О-1;Договор;31.12.2025 15:40;офис;Ошибка;Продажи;12,00\n"
    "К-002;О-2;Звонок;01.01.2026 09:00;телефон;отказ;Поддержка;\n"
)
CRM_MAPPING = """\
[columns]
customer_id = "Клиент"
case_id = "Обращение"
touchpoint = "Точка контакта"
timestamp = "Дата и время"
channel = "Канал"
outcome = "Результат"
department_id = "Отдел"
cost = "Стоимость"

[timestamps]
format = "%d.%m.%Y %H:%M"
timezone = "Europe/Moscow"

[values.outcome]
"успешно" = "ok"
"ошибка" = "failed"
"отказ" = "abandoned"

[values.channel]
"телефон" = "phone"
"офис" = "store"

[numbers]
decimal = ","
thousands = " "
"""


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        yield p


def _rows(project, sql):
    return project.con.execute(sql).fetchall()


def test_a_russian_crm_export_loads_with_a_mapping_alone(tmp_path):
    project = tmp_path / "crm.duckdb"
    assert run_cli("init", project, "--no-pseudonymise").returncode == 0
    export = write(tmp_path / "выгрузка.csv", CRM_EVENTS, encoding="cp1251")
    mapping = write(tmp_path / "crm.toml", CRM_MAPPING)
    done = run_cli("ingest", project, "events", export, "--map", mapping, "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    load = json.loads(done.stdout)
    assert (load["read"], load["accepted"], load["rejected"]) == (3, 3, 0)
    with Project.open(project, read_only=True) as p:
        rows = _rows(p, "SELECT customer_id, touchpoint, timestamp, channel, outcome,"
                        " department_id, cost FROM events ORDER BY seq")
    assert rows == [
        ("К-001", "Звонок", datetime(2025, 12, 31, 11, 5), "phone", "ok", "Продажи", 1234.5),
        ("К-001", "Договор", datetime(2025, 12, 31, 12, 40), "store", "failed", "Продажи", 12.0),
        ("К-002", "Звонок", datetime(2026, 1, 1, 6, 0), "phone", "abandoned", "Поддержка", None),
    ]


def test_a_word_the_value_mapping_does_not_know_is_rejected_with_the_known_ones(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp,outcome\n"
                 "c1,call,2024-01-01,успешно\nc2,call,2024-01-01,непонятно\nc3,call,2024-01-01,ok\n")
    mapping = write(tmp_path / "m.toml", '[values.outcome]\n"успешно" = "ok"\n"ошибка" = "failed"\n')
    result = ingest_file(project, "events", path, mapping=Mapping.from_toml(mapping))
    assert (result.accepted, result.rejected) == (2, 1)
    line, column, reason = _rows(project, "SELECT line, column_name, reason FROM rejects")[0]
    assert (line, column) == (3, "outcome")
    assert reason == ("'непонятно' is not a value the mapping knows for outcome;"
                      " known: успешно, ошибка")
    assert _rows(project, "SELECT outcome FROM events ORDER BY seq") == [("ok",), ("ok",)]


def test_a_value_mapping_to_a_value_the_column_cannot_hold_is_a_mapping_error(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp,outcome\nc1,a,2024-01-01,да\n")
    mapping = write(tmp_path / "m.toml", '[values.outcome]\n"да" = "yes"\n')
    with pytest.raises(MappingError, match=r"turns 'да' into 'yes', which is not one of ok, failed, abandoned"):
        ingest_file(project, "events", path, mapping=Mapping.from_toml(mapping))


@pytest.mark.parametrize("thousands, decimal, written, value", [
    (" ", ",", "1 234 567,25", 1234567.25),
    (" ", ",", "1\u00a0234,5", 1234.5),        # non-breaking space
    (" ", ",", "1\u202f234,5", 1234.5),        # narrow non-breaking space
    ("'", ".", "1'234'567.5", 1234567.5),     # Swiss
    (".", ",", "€ 1.234,50", 1234.5),         # German, with a currency sign
    (",", ".", "$1,234.50", 1234.5),
    (" ", ",", "1 234,50 ₽", 1234.5),
    (",", ".", "\u22121,000.00 USD", -1000.0),  # typographic minus and an ISO code
])
def test_numbers_load_as_people_write_them(project, tmp_path, thousands, decimal, written, value):
    path = write(tmp_path / "t.csv", f"customer_id;timestamp;amount\nc1;2024-01-01;{written}\n")
    mapping = write(tmp_path / "m.toml",
                    f'[numbers]\ndecimal = "{decimal}"\nthousands = "{thousands}"\n')
    result = ingest_file(project, "transactions", path, mapping=Mapping.from_toml(mapping))
    assert result.accepted == 1
    assert _rows(project, "SELECT amount FROM transactions") == [(pytest.approx(value),)]


def test_currency_signs_around_plain_numbers_load_without_a_numbers_section(project, tmp_path):
    path = write(tmp_path / "t.csv", "customer_id,timestamp,amount\n"
                 "c1,2024-01-01,$12.50\nc2,2024-01-02,12.50 €\nc3,2024-01-03,RUB 7\nc4,2024-01-04,12 50\n")
    result = ingest_file(project, "transactions", path)
    assert (result.accepted, result.rejected) == (3, 1)
    assert _rows(project, "SELECT amount FROM transactions ORDER BY seq") == [(12.5,), (12.5,), (7.0,)]
    # digit groups are read only where the mapping says how they are written
    assert _rows(project, "SELECT line FROM rejects") == [(5,)]


def test_thousands_and_decimal_marks_must_differ(tmp_path):
    mapping = write(tmp_path / "m.toml", '[numbers]\ndecimal = ","\nthousands = ","\n')
    with pytest.raises(MappingError, match="must differ"):
        Mapping.from_toml(mapping)


def test_a_file_whose_rows_are_all_rejected_exits_non_zero_and_loads_after_the_fix(tmp_path):
    project = tmp_path / "p.duckdb"
    assert run_cli("init", project, "--no-pseudonymise").returncode == 0
    export = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp,outcome\n"
                   "c1,call,2024-01-01,успешно\nc2,call,2024-01-02,успешно\n")
    failed = run_cli("ingest", project, "events", export, "--quiet")
    assert failed.returncode == 3
    assert failed.stderr.strip().count("\n") == 0 and "Traceback" not in failed.stderr
    assert "all 2 rows were rejected" in failed.stderr and "line 2, column outcome" in failed.stderr
    mapping = write(tmp_path / "m.toml", '[values.outcome]\n"успешно" = "ok"\n')
    fixed = run_cli("ingest", project, "events", export, "--map", mapping, "--json", "--quiet")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["accepted"] == 2


def test_replace_reloads_a_file_in_place_of_its_earlier_rows(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp,outcome\n"
                 "c1,call,2024-01-01,ok\nc2,call,2024-01-02,успешно\nc3,visit,2024-01-03,ok\n")
    first = ingest_file(project, "events", path)
    assert (first.accepted, first.rejected) == (2, 1)
    assert ingest_file(project, "events", path).already_loaded
    mapping = Mapping.from_toml(write(tmp_path / "m.toml", '[values.outcome]\n"успешно" = "ok"\n'))
    again = ingest_file(project, "events", path, mapping=mapping, replace=True)
    assert (again.accepted, again.rejected, again.replaced) == (3, 0, 2)
    assert _rows(project, "SELECT count(*) FROM events") == [(3,)]
    assert _rows(project, "SELECT count(*) FROM rejects") == [(0,)]
    assert _rows(project, "SELECT load_id FROM loads") == [(again.load_id,)]
    # the stored case order follows the events
    assert _rows(project, "SELECT count(*) FROM case_steps") == [(3,)]


def test_a_replace_that_fails_leaves_the_earlier_load_in_place(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp\nc1,call,2024-01-01\n")
    ingest_file(project, "events", path)
    mapping = Mapping.from_toml(write(tmp_path / "m.toml", '[constants]\noutcome = "maybe"\n'))
    with pytest.raises(RejectRateExceeded):
        ingest_file(project, "events", path, mapping=mapping, replace=True)
    assert _rows(project, "SELECT count(*) FROM events") == [(1,)]
    assert _rows(project, "SELECT count(*) FROM loads") == [(1,)]


def test_identical_transactions_are_two_purchases(project, tmp_path):
    path = write(tmp_path / "t.csv", "customer_id,timestamp,amount\n"
                 "c1,1997-01-01,11.77\nc1,1997-01-01,11.77\nc2,1997-01-02,5\n")
    result = ingest_file(project, "transactions", path)
    assert (result.accepted, result.rejected) == (3, 0)
    assert _rows(project, "SELECT sum(amount) FROM transactions") == [(pytest.approx(28.54),)]


def test_a_declared_key_rejects_repeated_transactions_in_the_file_and_the_project(project, tmp_path):
    mapping = Mapping.from_toml(write(tmp_path / "m.toml", '[duplicates]\nkey = ["Order No"]\n'))
    header = "customer_id,timestamp,amount,Order No\n"
    first = write(tmp_path / "t1.csv", header + "c1,2024-01-01,10,A-1\nc1,2024-01-01,10,A-2\n"
                  "c1,2024-01-01,10,A-1\n")
    r1 = ingest_file(project, "transactions", first, mapping=mapping)
    assert (r1.accepted, r1.rejected) == (2, 1)
    second = write(tmp_path / "t2.csv", header + "c2,2024-02-01,7,A-2\nc2,2024-02-01,7,A-3\n")
    r2 = ingest_file(project, "transactions", second, mapping=mapping)
    assert (r2.accepted, r2.rejected) == (1, 1)
    reasons = [r[0] for r in _rows(project, "SELECT reason FROM rejects ORDER BY load_id")]
    assert reasons == ["Order No 'A-1' repeats line 2", "Order No 'A-2' is already in the project"]


def test_events_repeat_exactly_only_as_one_record_seen_twice_unless_the_mapping_keeps_them(project, tmp_path):
    text = "customer_id,touchpoint,timestamp\nc1,call,2024-01-01 10:00\nc1,call,2024-01-01 10:00\n"
    result = ingest_file(project, "events", write(tmp_path / "e.csv", text))
    assert (result.accepted, result.rejected) == (1, 1)
    keep = Mapping.from_toml(write(tmp_path / "m.toml", "[duplicates]\nkeep = true\n"))
    kept = ingest_file(project, "events", write(tmp_path / "e2.csv", text.replace("c1", "c2")),
                       mapping=keep)
    assert (kept.accepted, kept.rejected) == (2, 0)


def test_a_registered_touchpoint_does_not_lend_its_events_department_to_others(project, tmp_path):
    path = write(tmp_path / "e.csv", "customer_id,touchpoint,timestamp,department_id,channel\n"
                 "c1,review,2024-01-01 10:00,11180,web\nc2,review,2024-01-01 11:00,11180,web\n"
                 "c3,review,2024-01-01 12:00,,\nc4,review,2024-01-01 13:00,10972,phone\n")
    ingest_file(project, "events", path)
    assert _rows(project, "SELECT channel, department_id FROM touchpoints") == [(None, None)]
    events, touchpoints = project.table("events"), project.table("touchpoints")
    chosen = apply(events, EventFilter(departments=("11180",)), touchpoints=touchpoints)
    assert chosen.count().execute() == 2  # the events recorded in it, not the unrecorded one
    by_web = apply(events, EventFilter(channels=("web",)), touchpoints=touchpoints)
    assert by_web.count().execute() == 2
