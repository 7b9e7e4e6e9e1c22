"""The fast-moving trio (ibis, duckdb, sqlglot) and friends break each other: fail loudly
when the installed combination is not the pinned one (constraints.txt), and prove the
combination works end to end on both engines."""

from importlib.metadata import version
from pathlib import Path

import ibis
import pandas as pd
import pytest

from corridor.ordering import with_steps

PINNED = ("ibis-framework", "duckdb", "sqlglot", "pyspark", "pandas", "pyarrow", "numpy",
          "scipy")


def _constraints() -> dict[str, str]:
    text = (Path(__file__).parent.parent / "constraints.txt").read_text()
    pins = {}
    for line in text.splitlines():
        if "==" in line:
            name, ver = line.strip().split("==")
            pins[name.lower().replace("_", "-")] = ver
    return pins


@pytest.mark.parametrize("package", PINNED)
def test_installed_version_is_the_pinned_one(package):
    pins = _constraints()
    assert package in pins, f"{package} is not pinned in constraints.txt"
    assert version(package) == pins[package], (
        f"{package} {version(package)} is installed but constraints.txt pins"
        f" {pins[package]}: run `make install` or update the pin after testing the"
        " combination (see DESIGN.md §2)."
    )


def test_pinned_combination_compiles_and_runs_a_window_query(engine):
    frame = pd.DataFrame({
        "case_id": ["a", "a", "a", "b"], "customer_id": ["a", "a", "a", "b"],
        "touchpoint": ["x", "y", "z", "x"],
        "timestamp": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:00",
                                     "2024-01-01 09:00", "2024-01-02 00:00"]),
        "seq": [1, 2, 3, 4], "department_id": ["d", "e", "d", "d"],
    })
    steps = with_steps(engine.table("events", frame))
    got = steps.order_by(["case_id", "step"]).select("touchpoint", "next_touchpoint").to_pandas()
    assert list(got.touchpoint) == ["z", "x", "y", "x"]
    assert list(got.next_touchpoint.fillna("-")) == ["x", "y", "-", "-"]
    assert ibis.to_sql(steps, dialect="duckdb")
