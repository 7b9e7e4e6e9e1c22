"""Our variants, directly-follows counts and times, starts, ends and case durations
agree with pm4py's on the same random logs (pm4py is a test-only peer; never imported
from src/).

Equal timestamps inside a case are ordered by seq on our side; pm4py gets the frame
already in (case, timestamp, seq) order, and its sort by (case, timestamp) is stable,
so both see the same sequences.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

pm4py = pytest.importorskip("pm4py")

from corridor.dfg import directly_follows, duration_summary  # noqa: E402
from corridor.steps import case_steps  # noqa: E402
from corridor.variants import variants  # noqa: E402

from helpers import canonical_events  # noqa: E402



def random_log(seed: int, *, cases: int = 300, touchpoints: int = 20) -> pd.DataFrame:
    """Cases of 1-12 events over ``touchpoints`` names, a skewed choice so that some
    variants repeat; whole-second gaps of which about one in six is zero (a tie), plus
    sub-second jitter on some events. Rows are shuffled so that only seq records the
    source order."""
    rng = np.random.default_rng(seed)
    names = [f"tp{i:02d}" for i in range(touchpoints)]
    weights = 1.0 / np.arange(1, touchpoints + 1) ** 1.3
    weights /= weights.sum()
    rows = []
    for c in range(cases):
        length = int(rng.integers(1, 13)) if rng.random() < 0.7 else int(rng.integers(1, 4))
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(seconds=int(rng.integers(0, 9e6)))
        gaps = rng.integers(0, 5000, size=length).astype(float)
        gaps[rng.random(length) < 0.17] = 0.0
        gaps[0] = 0.0
        jitter = np.where(rng.random(length) < 0.2, rng.integers(1, 999, size=length) / 1e3, 0)
        gaps = gaps + jitter * (gaps > 0)
        stamps = start + pd.to_timedelta(np.cumsum(gaps), unit="s")
        for tp, ts in zip(rng.choice(names, size=length, p=weights), stamps):
            rows.append((f"case{c:04d}", tp, ts))
    frame = pd.DataFrame(rows, columns=["case_id", "touchpoint", "timestamp"])
    frame["seq"] = np.arange(len(frame), dtype="int64")
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return canonical_events(frame)


def for_pm4py(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = frame.sort_values(["case_id", "timestamp", "seq"], kind="stable")
    return pd.DataFrame(
        {
            "case:concept:name": ordered["case_id"].astype(str).to_numpy(),
            "concept:name": ordered["touchpoint"].astype(str).to_numpy(),
            "time:timestamp": ordered["timestamp"].to_numpy(),
        }
    )


@pytest.mark.parametrize("seed", [3, 11])
def test_same_answers_as_pm4py(put, seed):
    frame = random_log(seed)
    peer = for_pm4py(frame)
    steps = case_steps(put(frame))

    ours_variants = variants(steps, top=10_000)
    peer_variants = pm4py.get_variants(peer)
    assert {v.path: v.cases for v in ours_variants.top} == dict(peer_variants)
    assert ours_variants.cases == frame["case_id"].nunique()

    graph = directly_follows(steps)
    peer_counts, peer_starts, peer_ends = pm4py.discover_dfg(peer)
    assert {(e.source, e.target): e.count for e in graph.edges} == dict(peer_counts)
    assert {s.touchpoint: s.cases for s in graph.starts} == dict(peer_starts)
    assert {e.touchpoint: e.cases for e in graph.ends} == dict(peer_ends)

    peer_times, _, _ = pm4py.discover_performance_dfg(peer)
    assert set(peer_times) == {(e.source, e.target) for e in graph.edges}
    for edge in graph.edges:
        times = peer_times[(edge.source, edge.target)]
        assert edge.mean_seconds == pytest.approx(float(times["mean"]), abs=1e-6)
        assert edge.median_seconds == pytest.approx(float(times["median"]), abs=1e-6)

    peer_durations = np.asarray(pm4py.get_all_case_durations(peer), dtype=float)
    summary = duration_summary(put(frame))
    assert summary.median_seconds == pytest.approx(np.median(peer_durations), abs=1e-6)
    assert summary.mean_seconds == pytest.approx(peer_durations.mean(), abs=1e-6)


def test_the_random_log_really_has_ties_and_sub_second_gaps():
    # Guards the parity test against a generator that silently stops exercising seq.
    frame = random_log(3)
    per_case = Counter(zip(frame["case_id"], frame["timestamp"]))
    assert sum(n > 1 for n in per_case.values()) > 20
    assert (frame["timestamp"].dt.microsecond > 0).sum() > 20


# -- BPIC 2012: XES lifecycle (SCHEDULE, START, COMPLETE) ------------------------------


def _instance_repeats(frame: pd.DataFrame) -> int:
    """Repeats by the rule of corridor.loops, written again in pandas: per case and
    activity, the events of its complete state if any, else start, else its first other
    state by name; visits beyond the first, summed."""
    state = frame["lifecycle:transition"].str.lower()
    rank = np.where(state == "complete", "0", np.where(state == "start", "1", "2" + state))
    keyed = frame.assign(_rank=rank)
    best = keyed.groupby(["case:concept:name", "concept:name"])["_rank"].transform("min")
    kept = keyed[keyed["_rank"] == best]
    visits = kept.groupby(["case:concept:name", "concept:name"]).size()
    return int((visits - 1).sum())


@pytest.mark.slow
def test_bpic2012_lifecycle_filter_and_loops_agree_with_pm4py(tmp_path):
    import json

    from helpers import run_cli
    from pm4py_data import pm4py_input

    path = pm4py_input("bpic2012.xes.gz")
    peer = pm4py.read_xes(str(path))
    complete = peer[peer["lifecycle:transition"].str.lower() == "complete"]
    project = tmp_path / "bpic.duckdb"
    assert run_cli("init", project).returncode == 0
    loaded = run_cli("ingest", project, "events", path, "--quiet")
    assert loaded.returncode == 0, loaded.stderr

    def cli_json(*args):
        done = run_cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    journeys = cli_json("journeys", project, "--lifecycle", "complete", "--top", "1")
    assert journeys["events"] == len(complete) == 164_506
    assert journeys["covers"]["filters"] == "events of lifecycle complete"

    per_activity = complete.groupby(["case:concept:name", "concept:name"]).size()
    only_complete = cli_json("flow", project, "--lifecycle", "COMPLETE")["loops"]
    assert only_complete["total_repeats"] == int((per_activity - 1).sum())

    every_event = cli_json("flow", project)["loops"]
    per_event = peer.groupby(["case:concept:name", "concept:name"]).size()
    assert every_event["total_repeats"] == _instance_repeats(peer)
    # schedule/start/complete of one activity are not rework: counting events would
    # find far more repeats than there are completed repeat visits
    assert int((per_event - 1).sum()) > 2 * every_event["total_repeats"]
    assert abs(every_event["total_repeats"] - only_complete["total_repeats"]) < 50
