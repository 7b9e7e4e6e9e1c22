"""Shared fixtures. ``engine`` is how every analytic test gets its data: the same Ibis
expression runs on DuckDB and on PySpark (local[2], one SparkSession per test session),
and the tests assert the same answer on both."""

from __future__ import annotations

import os
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
