"""OCEL 2.0 logs (SQLite and JSON, written by pm4py) load as events: one row per event and
related case object, the customer found on the event, through the case object's links or
a shared event; events related to no case object are rejected with their reason. pm4py's
flattening is the reference for the rows of every case type."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pm4py = pytest.importorskip("pm4py")

from corridor.errors import MappingError  # noqa: E402
from corridor.ocel import open_ocel  # noqa: E402
from corridor.sources import open_source  # noqa: E402
from corridor.store import Project  # noqa: E402

from helpers import run_cli  # noqa: E402
from pm4py_data import pm4py_input  # noqa: E402

T0 = pd.Timestamp("2024-03-01 09:00", tz="UTC")

# (event id, type, minutes after T0, channel, related objects)
EVENTS = [
    ("e1", "register", 0, "web", ["c1"]),
    ("e2", "place order", 5, "web", ["c1", "o1", "i1", "i2"]),
    ("e3", "place order", 9, "store", ["c1", "o2"]),
    ("e4", "pay order", 20, "web", ["o1"]),  # customer through o1 -> c1 (O2O)
    ("e5", "ship", 60, None, ["o1", "o2"]),  # two orders: one row for each
    ("e6", "place order", 70, "phone", ["c2", "o3"]),
    ("e7", "pay order", 75, "web", ["o3"]),  # customer through the shared event e6
    ("e8", "pick item", 80, None, ["i1"]),  # no order, no customer
]
OBJECTS = {"c1": "customer", "c2": "customer", "o1": "order", "o2": "order",
           "o3": "order", "i1": "item", "i2": "item"}
LINKS = [("o1", "c1"), ("o2", "c1")]  # order -> customer


def small_ocel():
    from pm4py.objects.ocel.obj import OCEL

    events = pd.DataFrame({
        "ocel:eid": [e[0] for e in EVENTS],
        "ocel:activity": [e[1] for e in EVENTS],
        "ocel:timestamp": [T0 + pd.Timedelta(minutes=e[2]) for e in EVENTS],
        "channel": [e[3] for e in EVENTS],
    })
    objects = pd.DataFrame({"ocel:oid": list(OBJECTS), "ocel:type": list(OBJECTS.values())})
    relations = pd.DataFrame(
        [(e[0], e[1], T0 + pd.Timedelta(minutes=e[2]), o, OBJECTS[o], "")
         for e in EVENTS for o in e[4]],
        columns=["ocel:eid", "ocel:activity", "ocel:timestamp", "ocel:oid", "ocel:type",
                 "ocel:qualifier"])
    o2o = pd.DataFrame([(a, b, "placed by") for a, b in LINKS],
                       columns=["ocel:oid", "ocel:oid_2", "ocel:qualifier"])
    return OCEL(events=events, objects=objects, relations=relations, o2o=o2o)


def write_both(ocel, folder: Path) -> dict[str, Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm4py.write_ocel2_sqlite(ocel, str(folder / "log.sqlite"))
        pm4py.write_ocel2_json(ocel, str(folder / "log.json"))
    return {"sqlite": folder / "log.sqlite", "json": folder / "log.json"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return write_both(small_ocel(), tmp_path_factory.mktemp("ocel"))


def rows_of(source):
    good, bad = [], []
    for table, rejected in source.batches():
        good.extend(table.to_pylist())
        bad.extend(rejected)
    return good, bad


def flattened(path: Path, object_type: str) -> Counter:
    """pm4py's flattening of the log it reads back: (case, activity) per row."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pm4py.read_ocel2_sqlite if path.suffix == ".sqlite" else pm4py.read_ocel2_json
        flat = pm4py.ocel_flattening(read(str(path)), object_type)
    return Counter(zip(flat["case:concept:name"].astype(str), flat["concept:name"]))


@pytest.mark.parametrize("form", ["sqlite", "json"])
def test_each_event_gives_one_row_per_related_order_as_pm4py_flattens_it(logs, form):
    source = open_source(logs[form])
    assert source.format == "ocel"
    source.choose_objects(customer="customer", case="order")
    good, bad = rows_of(source)
    assert Counter((r["case_id"], r["touchpoint"]) for r in good) == flattened(logs[form], "order")
    assert {r["ocel:event"]: r["customer_id"] for r in good} == {
        "e2": "c1", "e3": "c1", "e4": "c1", "e5": "c1", "e6": "c2", "e7": "c2"}
    assert sorted(r["case_id"] for r in good if r["ocel:event"] == "e5") == ["o1", "o2"]
    # register (customer only) and pick item (item only) belong to no order
    assert sorted(json.loads(b.raw)["ocel:event"] for b in bad) == ["e1", "e8"]
    assert all("no object of type 'order'" in b.reason for b in bad)
    lines = sorted([r["_line"] for r in good] + [b.line for b in bad])
    assert lines == list(range(1, len(lines) + 1))  # every row its own number


@pytest.mark.parametrize("form", ["sqlite", "json"])
def test_the_customer_is_the_case_by_default(logs, form):
    source = open_source(logs[form])
    good, bad = rows_of(source)
    assert Counter((r["case_id"], r["touchpoint"]) for r in good) == flattened(logs[form], "customer")
    assert all(r["customer_id"] == r["case_id"] for r in good)
    assert {r["channel"] for r in good} == {"web", "store", "phone"}
    assert sorted(json.loads(b.raw)["ocel:event"] for b in bad) == ["e4", "e5", "e7", "e8"]


def test_an_object_type_the_log_does_not_have_is_refused_by_name(logs):
    source = open_source(logs["sqlite"])
    with pytest.raises(MappingError, match="no object type 'orders'.*customer, item, order"):
        source.choose_objects(case="orders")


def test_rejected_rows_render_as_json_for_the_rejects_table(logs):
    source = open_source(logs["json"])
    source.choose_objects(case="order")
    good, bad = rows_of(source)
    raw = source.raw_rows([bad[0].line, good[0]["_line"]])
    assert json.loads(raw[bad[0].line]) == json.loads(bad[0].raw)
    assert json.loads(raw[good[0]["_line"]])["case_id"] == good[0]["case_id"]


@pytest.mark.parametrize("form", ["sqlite", "json"])
def test_corridor_ingest_loads_an_ocel_log_per_customer(logs, form, tmp_path):
    project = tmp_path / "p.duckdb"
    assert run_cli("init", project).returncode == 0
    done = run_cli("ingest", project, "events", logs[form], "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected = sum(flattened(logs[form], "customer").values())
    assert (result["read"], result["accepted"], result["rejected"]) == (expected + 4, expected, 4)
    with Project.open(project, read_only=True) as p:
        touchpoints = Counter(r[0] for r in p.con.execute("SELECT touchpoint FROM events").fetchall())
        reasons = {r[0] for r in p.con.execute("SELECT reason FROM rejects").fetchall()}
        kept = p.con.execute(
            """SELECT json_extract_string(attributes, '$."ocel:event"') FROM events
               WHERE touchpoint = 'register'""").fetchall()
    assert touchpoints == Counter({"place order": 3, "register": 1})
    assert reasons == {"the event is related to no object of type 'customer'"}
    assert kept == [("e1",)]


def test_corridor_ingest_follows_orders_named_in_the_mapping(logs, tmp_path):
    # needs ingest.py and mapping.py to read [ocel] (issue 15's two small edits there)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[ocel]\ncustomer = "customer"\ncase = "order"\n')
    project = tmp_path / "p.duckdb"
    assert run_cli("init", project, "--no-pseudonymise").returncode == 0
    done = run_cli("ingest", project, "events", logs["sqlite"], "--map", mapping, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["accepted"], result["rejected"]) == (sum(flattened(logs["sqlite"], "order").values()), 2)
    with Project.open(project, read_only=True) as p:
        rows = p.con.execute(
            "SELECT case_id, customer_id, touchpoint FROM events ORDER BY seq").fetchall()
    assert rows == [("o1", "c1", "place order"), ("o2", "c1", "place order"),
                    ("o1", "c1", "pay order"), ("o1", "c1", "ship"), ("o2", "c1", "ship"),
                    ("o3", "c2", "place order"), ("o3", "c2", "pay order")]


def test_a_log_without_a_customer_type_needs_one_named(tmp_path):
    ocel = small_ocel()
    ocel.objects["ocel:type"] = ocel.objects["ocel:type"].replace("customer", "client")
    ocel.relations["ocel:type"] = ocel.relations["ocel:type"].replace("customer", "client")
    path = write_both(ocel, tmp_path)["sqlite"]
    project = tmp_path / "p.duckdb"
    assert run_cli("init", project).returncode == 0
    done = run_cli("ingest", project, "events", path)
    assert done.returncode == 2
    assert "[ocel] customer" in done.stderr and "client, item, order" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_ocel_1_log_is_refused_in_one_sentence(tmp_path):
    old = pm4py_input("ocel/example_log.jsonocel")
    copy = tmp_path / "old.json"
    copy.write_bytes(old.read_bytes())
    project = tmp_path / "p.duckdb"
    assert run_cli("init", project).returncode == 0
    for path in (old, copy):
        done = run_cli("ingest", project, "events", path)
        assert done.returncode == 2, done.stderr
        assert "OCEL 1.0" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_json_lines_named_json_still_load_as_json_lines(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('{"customer_id": "c1", "touchpoint": "a", "timestamp": "2024-01-01"}\n')
    assert open_source(path).format == "jsonl"


@pytest.mark.slow
def test_pm4py_order_log_gives_pm4py_flattening_per_order(tmp_path):
    """pm4py's simulated order log (OCEL 1.0 CSV in its sdist), written as OCEL 2.0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ocel = pm4py.read_ocel_csv(str(pm4py_input("ocel/ocel_order_simulated.csv")))
    paths = write_both(ocel, tmp_path)
    for path in paths.values():
        source = open_ocel(path)
        with pytest.raises(MappingError, match="customer"):
            source.choose_objects()
        source.choose_objects(customer="orders")
        good, bad = rows_of(source)
        reference = flattened(path, "orders")
        assert Counter((r["case_id"], r["touchpoint"]) for r in good) == reference
        assert len(good) == 6514
        related = ocel.relations.groupby("ocel:eid")["ocel:type"].apply(set)
        assert len(bad) == int((~related.apply(lambda s: "orders" in s)).sum()) + (
            len(ocel.events) - len(related))
