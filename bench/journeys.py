"""Journey analytics speed and peak memory beside peers, on one machine in one run.

    .venv/bin/python bench/journeys.py --events 1000000 --repeat 3
    .venv/bin/python bench/journeys.py --events 10000000 --repeat 3 --skip-pandas
    .venv/bin/python bench/journeys.py --events 100000000 --repeat 1 --only floor,corridor \
        --memory-limit 4GB

Builds (or reuses) bench/out/journeys-N.corridor, a corridor project whose events table
holds N synthetic events (about 10 per case, 25 touchpoints, a Markov corridor with
loops and skips; about 5 % of a case's consecutive events share a timestamp, so seq
matters), loaded in chunks that are each in time order like real loads. When pm4py or
pandas run, the same events also go to bench/out/journeys-N.parquet for them.

Every contender computes the same things: variants, the directly-follows graph with
counts, distinct cases and times (mean, median, p90), case durations and a 5-step funnel
(tp00 → tp04); pm4py has no funnel and no p90, so it does a little less.

- corridor: one step table (``steps.case_steps``, cached), then ``journeys.analyse``
            (without corridor roles, which no peer computes) and ``funnel.funnel`` on it,
            on the DuckDB project file.
- stored:   the same on the step table kept in the project (ADR 0010), as
            `corridor journeys` and the web app read it after a load; the cost of storing
            it (once, at load) is printed when the bench stores it.
- pm4py:    get_variants, discover_dfg, discover_performance_dfg, get_all_case_durations
            on a pandas frame.
- pandas:   a straightforward hand-written implementation.
- floor:    DuckDB sorting the columns the analytics read (case_id, timestamp, seq,
            touchpoint) by (case_id, timestamp, seq) into a temporary table, once, with
            the same settings. "sort *" sorts every column the same way, for reference.

DuckDB runs with 2 threads and memory_limit 768MB by default (peak RSS then stays near
1.3 GB at 10M events), spilling to bench/out/tmp capped at 30 GB. At 100M events the
per-case variant aggregation needs more (it ran out of memory at 768MB; use
--memory-limit 4GB). Each measurement runs in its own subprocess; its peak RSS is that
process's VmHWM (Python, libraries and data included). Times cover the analytics only:
the in-memory peers read their Parquet file before the clock starts. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
TOUCHPOINTS = 25
FUNNEL = ("tp00", "tp01", "tp02", "tp03", "tp04")
CHUNK_EVENTS = 10_000_000
CONTENDERS = ("floor", "sort*", "corridor", "stored", "pm4py", "pandas")


# -- data ------------------------------------------------------------------------------


def generate_chunk(n_events: int, case_offset: int, seed: int):
    """Integer columns of ``n_events`` events: case, touchpoint code, step, seconds."""
    import numpy as np

    rng = np.random.default_rng(seed)
    corridor_rng = np.random.default_rng(7)  # the same corridor in every chunk
    moves = 0.35 * corridor_rng.dirichlet(np.full(TOUCHPOINTS, 0.3), size=TOUCHPOINTS)
    for i in range(TOUCHPOINTS):
        moves[i, (i + 1) % TOUCHPOINTS] += 0.55
    moves = np.hstack([moves, np.full((TOUCHPOINTS, 1), 0.1)])  # last column: leave
    cumulative = (moves / moves.sum(1, keepdims=True)).cumsum(1)

    n_cases = int(n_events / 9.0) + 10
    state = rng.choice(4, size=n_cases, p=[0.7, 0.15, 0.1, 0.05])
    alive, step = np.arange(n_cases), 0
    cases, codes, steps = [], [], []
    while alive.size and step < 200:
        cases.append(alive)
        codes.append(state)
        steps.append(np.full(alive.size, step))
        nxt = (rng.random(alive.size)[:, None] > cumulative[state]).sum(1)
        stay = nxt < TOUCHPOINTS
        alive, state, step = alive[stay], nxt[stay], step + 1
    case = np.concatenate(cases)
    code = np.concatenate(codes)
    stp = np.concatenate(steps)
    order = np.lexsort((stp, case))
    case, code, stp = case[order][:n_events], code[order][:n_events], stp[order][:n_events]

    gap = np.round(rng.exponential(7200.0, size=case.size))
    gap[rng.random(case.size) < 0.05] = 0  # equal timestamps: seq decides
    gap[stp == 0] = 0
    start = rng.integers(0, 365 * 86400, size=n_cases)
    running = np.cumsum(gap)
    first = np.searchsorted(case, case, side="left")
    seconds = (start[case] + running - running[first]).astype("int64")
    return case + case_offset, code.astype("int16"), stp.astype("int32"), seconds


def build(n_events: int, *, parquet: bool) -> tuple[Path, Path]:
    """The project file (and, when asked, its Parquet copy) for ``n_events`` events;
    reused when present."""
    OUT.mkdir(exist_ok=True)
    project_path = OUT / f"journeys-{n_events}.corridor"
    parquet_path = OUT / f"journeys-{n_events}.parquet"
    if not project_path.exists():
        _build_project(project_path, n_events)
    else:
        from corridor.store import Project

        Project.open(project_path).close()  # migrates a project built by an older corridor
    _store_steps(project_path)
    if parquet and not parquet_path.exists():
        import duckdb

        con = duckdb.connect(str(project_path), read_only=True)
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"COPY (SELECT case_id, touchpoint, timestamp, seq FROM events)"
            f" TO '{parquet_path}' (FORMAT PARQUET)"
        )
        con.close()
    return project_path, parquet_path


def _build_project(project_path: Path, n_events: int) -> None:
    import pyarrow as pa

    from corridor.store import Project

    # Built under another name and renamed when complete, so an interrupted build is
    # never reused.
    building = project_path.with_name(project_path.name + ".building")
    for leftover in (building, Path(str(building) + ".wal")):
        leftover.unlink(missing_ok=True)
    _environment()
    with Project.create(building) as project:
        con = project.con
        con.execute("SET enable_progress_bar = false")
        done, case_offset, chunk = 0, 0, 0
        while done < n_events:
            size = min(CHUNK_EVENTS, n_events - done)
            case, code, stp, seconds = generate_chunk(size, case_offset, seed=1000 + chunk)
            batch = pa.table({"c": case, "k": code, "s": stp, "t": seconds})  # noqa: F841
            # One load: rows in time order; seq continues across loads.
            con.execute(f"""
                INSERT INTO events
                SELECT 'C' || lpad((c // 2)::VARCHAR, 9, '0'),
                       'J' || lpad(c::VARCHAR, 9, '0'),
                       'tp' || lpad(k::VARCHAR, 2, '0'),
                       make_timestamp(t * 1000000 + 1704067200000000),
                       ['web', 'app', 'phone', 'store', 'email'][k % 5 + 1],
                       CASE WHEN hash(c, s) % 100 < 90 THEN 'ok'
                            WHEN hash(c, s) % 100 < 97 THEN 'failed'
                            ELSE 'abandoned' END,
                       (hash(c, s, 1) % 600)::DOUBLE,
                       (hash(c, s, 2) % 900)::DOUBLE,
                       (hash(c, s, 3) % 1000)::DOUBLE / 100,
                       'd' || (k % 6)::VARCHAR,
                       NULL, {chunk + 1},
                       {done} + row_number() OVER (ORDER BY t, c, s) - 1
                FROM batch ORDER BY t, c, s""")
            done += size
            case_offset = int(case.max()) + 1
            chunk += 1
        con.execute("CHECKPOINT")
    os.replace(building, project_path)


def _store_steps(project_path: Path) -> None:
    """Keep the step table in the project as a load of events does (ADR 0010), and say
    what that cost: it is paid once per load, not per analysis."""
    from corridor.stepstore import refresh_steps, stored_steps
    from corridor.store import Project

    with Project.open(project_path) as project:
        _set_threads(project.con)
        if stored_steps(project) is not None:
            return
        started = time.perf_counter()
        refresh_steps(project)
        print(f"stored the step table in {time.perf_counter() - started:.2f} s"
              " (paid once, at load)")


def _environment() -> None:
    """DuckDB settings for every DuckDB contender (read by corridor.store)."""
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("CORRIDOR_TEMP_DIR", str(OUT / "tmp"))
    os.environ.setdefault("CORRIDOR_MAX_TEMP", "30GB")


# -- contenders (each runs in a child process) -----------------------------------------


def run_floor(project_path: Path, columns: str) -> dict:
    from corridor.store import Project

    with Project.open(project_path, read_only=True) as project:
        con = project.con
        _set_threads(con)
        started = time.perf_counter()
        con.execute(
            f"CREATE TEMP TABLE sorted AS SELECT {columns} FROM events"
            " ORDER BY case_id, timestamp, seq"
        )
        seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM sorted").fetchone()[0]
    return {"seconds": seconds, "check": {"events": rows}}


def run_corridor(project_path: Path) -> dict:
    """corridor as a standalone call runs: the step table is built (and cached) first."""
    from corridor.steps import case_steps
    from corridor.store import Project

    with Project.open(project_path, read_only=True) as project:
        _set_threads(project.con)
        events = project.table("events")
        started = time.perf_counter()
        with case_steps(events).cached() as ordered:
            return _analyse_and_funnel(ordered, started)


def run_stored(project_path: Path) -> dict:
    """corridor as `corridor journeys` and the web app run on a loaded project: the step
    table is read from the project instead of being built."""
    from corridor.stepstore import stored_steps
    from corridor.store import Project

    with Project.open(project_path, read_only=True) as project:
        _set_threads(project.con)
        project.table("events")  # Ibis connects before the clock, as for "corridor"
        started = time.perf_counter()
        ordered = stored_steps(project)
        if ordered is None:
            raise SystemExit("the project has no up-to-date stored step table")
        return _analyse_and_funnel(ordered, started)


def _analyse_and_funnel(ordered, started: float) -> dict:
    """Variants, the graph and durations, then the funnel, on steps ready since ``started``."""
    from corridor.funnel import funnel
    from corridor.journeys import analyse

    ready = time.perf_counter()
    report = analyse(ordered, top=20, roles=False)
    middle = time.perf_counter()
    steps = funnel(ordered, list(FUNNEL))
    ended = time.perf_counter()
    edges = report.dfg.edges
    return {
        "seconds": ended - started,
        "parts": {"steps": ready - started, "analyse": middle - ready, "funnel": ended - middle},
        "check": {
            "events": report.events,
            "cases": report.cases,
            "variants": report.distinct_variants,
            "top_variant_cases": report.variants[0].cases,
            "edges": len(edges),
            "edge_occurrences": sum(e.count for e in edges),
            "busiest_edge_median": round(edges[0].median_seconds, 3),
            "funnel": [s.cases for s in steps.steps],
            "duration_median": round(report.durations.median_seconds, 3),
        },
    }


def run_pm4py(parquet_path: Path) -> dict:
    import contextlib
    import io

    import numpy as np
    import pandas as pd

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # prints a banner on import

    frame = pd.read_parquet(parquet_path)
    frame = frame.sort_values(["case_id", "timestamp", "seq"], kind="stable")
    frame = frame.rename(columns={"case_id": "case:concept:name",
                                  "touchpoint": "concept:name",
                                  "timestamp": "time:timestamp"})
    started = time.perf_counter()
    variant_counts = pm4py.get_variants(frame)
    counts, _, _ = pm4py.discover_dfg(frame)
    times, _, _ = pm4py.discover_performance_dfg(frame)
    durations = pm4py.get_all_case_durations(frame)
    seconds = time.perf_counter() - started
    busiest = sorted(counts, key=lambda k: (-counts[k], k))[0]
    return {
        "seconds": seconds,
        "check": {
            "cases": len(durations),
            "variants": len(variant_counts),
            "top_variant_cases": max(variant_counts.values()),
            "edges": len(counts),
            "edge_occurrences": int(sum(counts.values())),
            "busiest_edge_median": round(float(times[busiest]["median"]), 3),
            "duration_median": round(float(np.median(durations)), 3),
        },
    }


def run_pandas(parquet_path: Path) -> dict:
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(parquet_path)
    started = time.perf_counter()
    frame = frame.sort_values(["case_id", "timestamp", "seq"], kind="stable", ignore_index=True)
    by_case = frame.groupby("case_id", sort=False)
    paths = by_case["touchpoint"].agg(tuple)
    variant_counts = paths.value_counts()

    frame["next"] = by_case["touchpoint"].shift(-1)
    frame["gap"] = (by_case["timestamp"].shift(-1) - frame["timestamp"]).dt.total_seconds()
    pairs = frame[frame["next"].notna()]
    edges = pairs.groupby(["touchpoint", "next"]).agg(
        count=("gap", "size"), cases=("case_id", "nunique"), mean=("gap", "mean"),
        median=("gap", "median"), p90=("gap", lambda g: g.quantile(0.9)),
    )
    spans = by_case["timestamp"].agg(["min", "max"])
    durations = (spans["max"] - spans["min"]).dt.total_seconds()
    summary = (durations.median(), durations.mean(), durations.quantile(0.9), durations.max())

    frame["position"] = np.arange(len(frame))
    reached = frame[frame["touchpoint"] == FUNNEL[0]].groupby("case_id")["position"].min()
    funnel_counts = [len(reached)]
    for name in FUNNEL[1:]:
        hits = frame[frame["touchpoint"] == name][["case_id", "position"]]
        hits = hits.merge(reached.rename("previous"), left_on="case_id", right_index=True)
        reached = hits[hits["position"] > hits["previous"]].groupby("case_id")["position"].min()
        funnel_counts.append(len(reached))
    seconds = time.perf_counter() - started
    busiest = edges.reset_index().sort_values(
        ["count", "touchpoint", "next"], ascending=[False, True, True]
    ).iloc[0]
    return {
        "seconds": seconds,
        "check": {
            "events": len(frame),
            "cases": len(paths),
            "variants": len(variant_counts),
            "top_variant_cases": int(variant_counts.iloc[0]),
            "edges": len(edges),
            "edge_occurrences": int(edges["count"].sum()),
            "busiest_edge_median": round(float(busiest["median"]), 3),
            "funnel": funnel_counts,
            "duration_median": round(float(summary[0]), 3),
        },
    }


def child(name: str, project_path: Path, parquet_path: Path) -> None:
    if name == "floor":
        result = run_floor(project_path, "case_id, timestamp, seq, touchpoint")
    elif name == "sort*":
        result = run_floor(project_path, "*")
    elif name == "corridor":
        result = run_corridor(project_path)
    elif name == "stored":
        result = run_stored(project_path)
    elif name == "pm4py":
        result = run_pm4py(parquet_path)
    elif name == "pandas":
        result = run_pandas(parquet_path)
    else:
        raise SystemExit(f"unknown contender {name}")
    result["peak_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(result))


def _peak_rss_mb() -> float:
    """This process's own high-water RSS. Not ru_maxrss: Linux carries that across
    fork and exec, so a child would report at least its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- driver ----------------------------------------------------------------------------


def measure(name: str, project_path: Path, parquet_path: Path, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", name, "--project", str(project_path),
               "--parquet", str(parquet_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="768MB",
                        help="DuckDB memory_limit (peak RSS runs about 0.5 GB above it)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--only", default=",".join(CONTENDERS),
                        help="comma-separated contenders to run")
    parser.add_argument("--skip-pm4py", action="store_true")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()

    os.environ.setdefault("CORRIDOR_MEMORY_LIMIT", args.memory_limit)
    os.environ.setdefault("BENCH_DUCKDB_THREADS", str(args.threads))
    _environment()
    if args.child:
        child(args.child, Path(args.project), Path(args.parquet))
        return

    chosen = [c for c in args.only.split(",") if c]
    if args.skip_pm4py and "pm4py" in chosen:
        chosen.remove("pm4py")
    if args.skip_pandas and "pandas" in chosen:
        chosen.remove("pandas")
    started = time.perf_counter()
    needs_frame = any(name in chosen for name in ("pm4py", "pandas"))
    project_path, parquet_path = build(args.events, parquet=needs_frame)
    print(f"data: {project_path} ({args.events:,} events; ready in"
          f" {time.perf_counter() - started:.1f} s)")
    print(f"DuckDB: threads={args.threads}, memory_limit={args.memory_limit},"
          f" temp_directory={os.environ['CORRIDOR_TEMP_DIR']},"
          f" max_temp_directory_size={os.environ['CORRIDOR_MAX_TEMP']}; cpus={os.cpu_count()}")

    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for name in chosen:
            results.setdefault(name, []).append(
                measure(name, project_path, parquet_path, args.timeout)
            )
    report(results, args.events)


def _set_threads(con) -> None:
    """corridor.store leaves DuckDB's thread count alone; the bench sets it (and keeps
    DuckDB's progress bar off the output)."""
    con.execute(f"SET threads = {int(os.environ['BENCH_DUCKDB_THREADS'])}")
    con.execute("SET enable_progress_bar = false")


def report(results: dict[str, list[dict]], n_events: int) -> None:
    floor = min(r["seconds"] for r in results["floor"]) if "floor" in results else None
    print()
    print(f"{'contender':<10} {'min s':>8} {'median s':>9} {'× floor':>8} {'peak MB':>8}  notes")
    for name, runs in results.items():
        times = [r["seconds"] for r in runs]
        best = min(times)
        ratio = f"{best / floor:.2f}" if floor else "-"
        peak = max(r["peak_mb"] for r in runs)
        notes = ""
        if name in ("corridor", "stored"):
            parts = runs[times.index(best)]["parts"]
            notes = " + ".join(f"{k} {v:.2f}s" for k, v in parts.items())
            if floor and name == "corridor":
                notes += f"; the step table alone {parts['steps'] / floor:.2f}× floor"
            if name == "stored":
                notes += "; step table read from the project"
        elif name == "pm4py":
            notes = "no funnel, no p90"
        elif name == "floor":
            notes = "sort of 4 columns"
        elif name == "sort*":
            notes = "sort of all columns"
        print(f"{name:<10} {best:>8.2f} {statistics.median(times):>9.2f} {ratio:>8}"
              f" {peak:>8.0f}  {notes}")
    for name in ("corridor", "stored"):
        if name not in results:
            continue
        ours = min(r["seconds"] for r in results[name])
        analyse = min(r["parts"]["steps"] + r["parts"]["analyse"] for r in results[name])
        for peer in ("pm4py", "pandas"):
            if peer in results:
                theirs = min(r["seconds"] for r in results[peer])
                print(f"{name} is {theirs / ours:.1f}× faster than {peer}"
                      f" ({theirs / analyse:.1f}× without the funnel)")
    print()
    _print_checks(results)


def _print_checks(results: dict[str, list[dict]]) -> None:
    """The contenders' answers side by side: they must agree."""
    checks = {name: runs[0]["check"] for name, runs in results.items()
              if name not in ("floor", "sort*")}
    keys = sorted({k for check in checks.values() for k in check})
    disagree = []
    for key in keys:
        values = {name: check[key] for name, check in checks.items() if key in check}
        if len({json.dumps(v) for v in values.values()}) > 1:
            disagree.append(f"{key}: {values}")
    if disagree:
        print("ANSWERS DIFFER:\n  " + "\n  ".join(disagree))
    elif checks:
        print("answers agree:", json.dumps(next(iter(checks.values()))))


if __name__ == "__main__":
    main()
