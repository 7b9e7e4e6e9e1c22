"""Each journey analytic as corridor's Ibis expression and as hand-written DuckDB SQL,
side by side on the same connection and the same data.

    .venv/bin/python bench/ibis_vs_sql.py --events 10000000 --repeat 3

Uses the project files of bench/journeys.py (built by it when missing). Both versions
of a part read the same materialised step table, so a part's time is its own. Each
result is fully fetched (DuckDB drops aggregates nobody reads, so counting rows would
time less than the real work). Prints min and median seconds and the ratio; a ratio
well above 1 means the expression needs fixing. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import journeys as journeys_bench  # noqa: E402

WINDOW = "WINDOW w AS (PARTITION BY case_id ORDER BY timestamp, seq)"
HAND = {
    "step table": f"""
        CREATE OR REPLACE TEMP TABLE hand_steps AS
        SELECT case_id, code, row_number() OVER w AS step,
               epoch_ms(timestamp) AS millis, lead(code) OVER w AS next_code,
               date_diff('microsecond', timestamp, lead(timestamp) OVER w) AS gap_us
        FROM events JOIN bench_codes USING (touchpoint) {WINDOW}""",
    "variants": """
        SELECT k, count(*) AS cases FROM (
            SELECT case_id, array_to_string(list_transform(
                       list_sort(array_agg(step * {size} + code)),
                       p -> (p % {size} + {base})::VARCHAR), '') AS k,
                   coalesce(sum(gap_us), 0) AS duration_us
            FROM steps GROUP BY case_id) GROUP BY k""",
    "edges": """
        SELECT code, next_code, count(*), count(DISTINCT case_id), avg(gap_us),
               quantile_cont(gap_us, [0.5, 0.9])
        FROM steps WHERE next_code IS NOT NULL GROUP BY code, next_code""",
    "nodes": """
        SELECT code, count(*), sum((step = 1)::BIGINT), sum((next_code IS NULL)::BIGINT)
        FROM steps GROUP BY code""",
}


def funnel_sql(codes: list[int]) -> list[str]:
    """The funnel as hand-written statements: first hits, then one join per step, then
    counts, delays and the steps in between."""
    wanted = ", ".join(str(c) for c in codes)
    out = [f"CREATE OR REPLACE TEMP TABLE f1 AS SELECT case_id, min(step) AS step,"
           f" arg_min(millis, step) AS millis, NULL::BIGINT AS pstep, NULL::BIGINT AS pms"
           f" FROM steps WHERE code = {codes[0]} GROUP BY case_id"]
    for i, code in enumerate(codes[1:], start=2):
        out.append(
            f"CREATE OR REPLACE TEMP TABLE f{i} AS SELECT h.case_id, min(h.step) AS step,"
            f" arg_min(h.millis, h.step) AS millis, any_value(p.step) AS pstep,"
            f" any_value(p.millis) AS pms FROM (SELECT * FROM steps WHERE code IN"
            f" ({wanted})) h JOIN f{i - 1} p USING (case_id)"
            f" WHERE h.code = {code} AND h.step > p.step GROUP BY h.case_id")
    union = " UNION ALL ".join(
        f"SELECT {i} AS pos, case_id, pstep, step, pms, millis FROM f{i}"
        for i in range(1, len(codes) + 1))
    out.append(f"CREATE OR REPLACE TEMP TABLE reached AS {union}")
    out.append("SELECT pos, count(*), quantile_cont((millis - pms) / 1000.0, 0.5),"
               " quantile_cont((millis - pms) / 1000.0, 0.9) FROM reached GROUP BY pos")
    out.append("SELECT * FROM (SELECT pos, code, count(DISTINCT case_id) AS cases,"
               " row_number() OVER (PARTITION BY pos ORDER BY count(DISTINCT case_id) DESC,"
               " code) AS rank FROM reached r JOIN steps s USING (case_id)"
               " WHERE r.pos > 1 AND s.step > r.pstep AND s.step < r.step"
               " GROUP BY pos, code) WHERE rank < 3")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="768MB")
    args = parser.parse_args()
    os.environ.setdefault("CORRIDOR_MEMORY_LIMIT", args.memory_limit)
    journeys_bench._environment()
    project_path, _ = journeys_bench.build(args.events, parquet=False)

    import ibis

    from corridor.dfg import edge_table, node_table
    from corridor.funnel import funnel
    from corridor.steps import case_steps
    from corridor.store import Project
    from corridor.variants import case_paths, variant_counts

    with Project.open(project_path, read_only=True) as project:
        con = project.con
        con.execute("SET threads = 2")
        con.execute("SET enable_progress_bar = false")
        steps = case_steps(project.table("events"))
        codes = steps.codes
        con.register("bench_codes", codes.table().to_pyarrow())
        steps.register_dictionary()
        ibis_steps_sql = ibis.to_sql(steps.table, dialect="duckdb")
        con.execute(f"CREATE TEMP TABLE steps AS {ibis_steps_sql}")
        on_table = type(steps)(project.ibis.table("steps"), codes, steps.code_table,
                               steps.events, is_cached=True)
        size, base = codes.size, 10 ** (codes.digits - 1)
        funnel_names = list(journeys_bench.FUNNEL)
        funnel_codes = [codes.code_of(n) for n in funnel_names]

        def sql(statement: str):
            return lambda: con.execute(statement).fetchall()

        def script(statements: list[str]):
            def run():
                for statement in statements:
                    con.execute(statement).fetchall()
            return run

        parts = {
            "step table": (
                sql(f"CREATE OR REPLACE TEMP TABLE ibis_steps AS {ibis_steps_sql}"),
                sql(HAND["step table"]),
            ),
            "variants": (
                sql(ibis.to_sql(variant_counts(case_paths(on_table)), dialect="duckdb")),
                sql(HAND["variants"].format(size=size, base=base)),
            ),
            "edges": (
                sql(ibis.to_sql(edge_table(on_table), dialect="duckdb")),
                sql(HAND["edges"]),
            ),
            "nodes": (
                sql(ibis.to_sql(node_table(on_table), dialect="duckdb")),
                sql(HAND["nodes"]),
            ),
            "funnel": (
                lambda: funnel(on_table, funnel_names),
                script(funnel_sql(funnel_codes)),
            ),
        }
        print(f"{args.events:,} events; DuckDB threads=2, memory_limit={args.memory_limit}")
        print(f"{'part':<11} {'ibis min':>9} {'ibis med':>9} {'sql min':>8} {'sql med':>8}"
              f" {'ibis/sql':>9}")
        for name, (ours, hand) in parts.items():
            ibis_times, sql_times = [], []
            for _ in range(args.repeat):
                ibis_times.append(_timed(ours))
                sql_times.append(_timed(hand))
            ratio = min(ibis_times) / min(sql_times)
            print(f"{name:<11} {min(ibis_times):>9.2f} {statistics.median(ibis_times):>9.2f}"
                  f" {min(sql_times):>8.2f} {statistics.median(sql_times):>8.2f}"
                  f" {ratio:>9.2f}")


def _timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
