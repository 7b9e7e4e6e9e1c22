"""Shared fixtures. ``engine`` is how every analytic test gets its data: the same Ibis
expression runs on DuckDB and on PySpark (local[2], one SparkSession per test session),
and the tests assert the same answer on both."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pandas as pd
import pytest

from corridor import store

ENGINES = ["duckdb", "pyspark"]
if os.environ.get("CORRIDOR_SKIP_SPARK") == "1":
    ENGINES = ["duckdb"]


@pytest.fixture(scope="session")
def spark_session():
    session = store.spark_session("local[2]")
    yield session
    session.stop()


@dataclass
class Engine:
    name: str
    backend: object

    def table(self, name: str, frame: pd.DataFrame):
        """Create (or replace) table ``name`` from a pandas frame; return it as Ibis."""
        return store.put_table(self.backend, name, frame)


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    if request.param == "duckdb":
        import ibis

        con = ibis.duckdb.connect(str(tmp_path / "engine.duckdb"))
        yield Engine("duckdb", con)
        con.disconnect()
    else:
        session = request.getfixturevalue("spark_session")
        yield Engine("pyspark", store.spark_backend(session))


@pytest.fixture
def put(engine):
    """Put frames on the engine under unique names; drop them after the test."""
    names = []

    def put_frame(frame: pd.DataFrame):
        name = f"t_{uuid.uuid4().hex[:12]}"
        names.append(name)
        return engine.table(name, frame.astype({c: "string" for c in frame.columns
                                                if frame[c].dtype == object}))

    yield put_frame
    for name in names:
        engine.backend.drop_table(name, force=True)


@dataclass
class DemoTables:
    events: object
    customers: object
    touchpoints: object
    truths: object


@pytest.fixture(scope="session")
def demo_company(tmp_path_factory):
    """A small demo company (3,000 customers, seed 7), generated once per test session
    and put straight on DuckDB: the planted truths the analytics are checked against."""
    import ibis
    import numpy as np

    from corridor.demo import DemoConfig, generate

    files = generate(tmp_path_factory.mktemp("demo"), DemoConfig(customers=3000, seed=7))
    events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
    events["attributes"] = pd.Series([None] * len(events), dtype="string")
    events["load_id"] = np.int64(1)
    events["seq"] = np.arange(len(events), dtype="int64")
    customers = pd.read_csv(files.customers, dtype=str)[["customer_id", "segment", "region"]]
    touchpoints = pd.read_csv(files.touchpoints, dtype=str)
    con = ibis.duckdb.connect()
    yield DemoTables(
        store.put_table(con, "events", events),
        store.put_table(con, "customers", customers),
        store.put_table(con, "touchpoints", touchpoints),
        files.truths,
    )
    con.disconnect()


@dataclass
class DemoFrames:
    """A generated demo company's files read into pandas (events numbered by ``seq`` in
    file order, as ingest numbers them), with its planted truths."""

    events: pd.DataFrame
    transactions: pd.DataFrame
    feedback: pd.DataFrame
    customers: pd.DataFrame
    touchpoints: pd.DataFrame
    truths: object

    def on(self, con, *names: str) -> dict:
        """The named frames as tables on an Ibis backend."""
        return {name: store.put_table(con, name, getattr(self, name)) for name in names}


@pytest.fixture(scope="session")
def demo_frames(tmp_path_factory):
    """``demo_frames(customers, seed)``: a demo company generated once per test session
    for each size and seed that any test asks for."""
    import numpy as np

    from corridor.demo import DemoConfig, generate

    made: dict[tuple[int, int], DemoFrames] = {}

    def make(customers: int, seed: int = 7) -> DemoFrames:
        if (customers, seed) not in made:
            out = tmp_path_factory.mktemp(f"demo-{customers}-{seed}")
            files = generate(out, DemoConfig(customers=customers, seed=seed))
            events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
            events["seq"] = np.arange(len(events), dtype="int64")
            made[customers, seed] = DemoFrames(
                events=events,
                transactions=pd.concat([pd.read_parquet(p) for p in files.transactions],
                                       ignore_index=True),
                feedback=pd.read_csv(files.feedback, parse_dates=["timestamp"],
                                     dtype={"text": "string", "language": "string"}),
                customers=pd.read_csv(files.customers, dtype=str),
                touchpoints=pd.read_csv(files.touchpoints, dtype=str),
                truths=files.truths,
            )
        return made[customers, seed]

    return make


@pytest.fixture
def duck():
    """Frames on an in-memory DuckDB: the cases that need not run on every engine."""
    import ibis

    con = ibis.duckdb.connect()
    made = []

    def put_frame(frame: pd.DataFrame):
        made.append(f"t{len(made)}")
        text = {c: "string" for c in frame.columns if frame[c].dtype == object}
        return store.put_table(con, made[-1], frame.astype(text))

    yield put_frame
    con.disconnect()
