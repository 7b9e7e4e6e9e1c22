"""Data that went through ingest gives the same answers on DuckDB (the project file)
and on PySpark (the same canonical table): the backend fixture's contract."""

import pandas as pd
import pytest

from corridor.ingest import ingest_file
from corridor.ordering import with_steps
from corridor.store import Project

from helpers import write


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    lines = ["customer_id,touchpoint,timestamp,channel,outcome,wait_seconds,department_id"]
    for c in range(40):
        for k in range(1 + c % 6):
            ts = f"2024-03-{1 + (c + k) % 28:02d} {8 + k:02d}:{(c * 7) % 60:02d}"
            tie = k == 2 and c % 3 == 0  # equal timestamps, resolved by source order
            lines.append(f"c{c},tp{(c + k) % 5},{ts if not tie else lines[-1].split(',')[2]},"
                         f"{['web', 'phone', 'store'][k % 3]},{'failed' if (c + k) % 7 == 0 else 'ok'},"
                         f"{(c * k) % 50},d{k % 3}")
    path = write(tmp / "events.csv", "\n".join(lines) + "\n")
    project = Project.create(tmp / "p.duckdb")
    ingest_file(project, "events", path)
    yield project
    project.close()


def _summaries(events):
    steps = with_steps(events)
    steps = steps.filter(steps.next_touchpoint.notnull())
    edges = (steps.group_by(["touchpoint", "next_touchpoint"])
             .aggregate(n=steps.count(), cases=steps.case_id.nunique())
             .order_by(["touchpoint", "next_touchpoint"]).to_pandas())
    per_channel = (events.group_by("channel")
                   .aggregate(n=events.count(), failed=(events.outcome == "failed").sum(),
                              wait=events.wait_seconds.sum())
                   .order_by("channel").to_pandas())
    return edges.reset_index(drop=True), per_channel.reset_index(drop=True)


def test_ingested_events_give_the_same_answers_on_every_engine(loaded, engine):
    expected = _summaries(loaded.table("events"))
    frame = loaded.table("events").to_pandas()
    got = _summaries(engine.table("events", frame))
    for want, have in zip(expected, got):
        pd.testing.assert_frame_equal(want, have, check_dtype=False)
    assert expected[0]["n"].sum() == len(frame) - frame.case_id.nunique()
