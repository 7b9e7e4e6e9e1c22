"""Ingest throughput and peak memory, beside peers, on one machine in one run.

    .venv/bin/python bench/ingest.py --rows 10000000 [--repeat 1] [--keep]

Writes an events CSV and the same rows as Parquet to bench/out/, then loads each into a
fresh project with `corridor ingest` (a subprocess, so its peak RSS is measured alone),
and beside it two peers that do less: DuckDB's own reader loading the file into a table
(no validation, no line numbers, no rejects) and pandas reading it. corridor loads twice:
into a project that keeps ids as they come (`init --no-pseudonymise`) and into one that
pseudonymises them (the default, ADR 11; its key goes to a temporary key folder). Prints
rows/s, wall seconds and peak RSS for each, and the ratio to the DuckDB peer. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

OUT = Path(__file__).parent / "out"
HEADER = "customer_id,case_id,touchpoint,timestamp,channel,outcome,wait_seconds,duration_seconds,cost,department_id\n"


def make_files(rows: int) -> tuple[Path, Path]:
    import duckdb

    OUT.mkdir(exist_ok=True)
    csv_path, parquet_path = OUT / f"events-{rows}.csv", OUT / f"events-{rows}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    con = duckdb.connect()
    con.execute(f"""
        CREATE TABLE e AS SELECT
          'c' || (i // 20) AS customer_id, NULL::VARCHAR AS case_id,
          'tp' || ((i * 7919) % 25) AS touchpoint,
          TIMESTAMP '2024-01-01' + INTERVAL (i // 20) MINUTE + INTERVAL (i % 20) HOUR AS timestamp,
          ['web','app','phone','store'][1 + i % 4] AS channel,
          CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'ok' END AS outcome,
          (i % 600)::DOUBLE AS wait_seconds, (i % 900)::DOUBLE AS duration_seconds,
          round((i % 50) / 10, 2) AS cost, 'dept' || (i % 7) AS department_id
        FROM range({rows}) t(i)""")
    con.execute(f"COPY e TO '{csv_path}' (HEADER, DELIMITER ',')")
    con.execute(f"COPY e TO '{parquet_path}' (FORMAT PARQUET)")
    con.close()
    return csv_path, parquet_path


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, the process and its children) of a command."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
    return seconds, peak


def corridor_cmd(tmp: Path, path: Path, pseudonymise: bool = True) -> list[str]:
    project = tmp / f"p-{time.monotonic_ns()}.duckdb"
    init = [sys.executable, "-m", "corridor", "init", str(project)]
    subprocess.run(init if pseudonymise else [*init, "--no-pseudonymise"], check=True,
                   capture_output=True)
    return [sys.executable, "-m", "corridor", "ingest", str(project), "events", str(path), "--quiet"]


def corridor_raw_ids_cmd(tmp: Path, path: Path) -> list[str]:
    return corridor_cmd(tmp, path, pseudonymise=False)


def duckdb_cmd(tmp: Path, path: Path) -> list[str]:
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    code = (
        "import duckdb,sys; c=duckdb.connect(sys.argv[1]);"
        f" c.execute(\"CREATE TABLE events AS SELECT * FROM {reader}('{path}')\")"
    )
    return [sys.executable, "-c", code, str(tmp / f"d-{time.monotonic_ns()}.duckdb")]


def pandas_cmd(tmp: Path, path: Path) -> list[str]:
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    return [sys.executable, "-c", f"import pandas as pd; pd.{reader}('{path}')"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    csv_path, parquet_path = make_files(args.rows)
    print(f"{args.rows:,} rows; CSV {csv_path.stat().st_size / 1e6:.0f} MB,"
          f" Parquet {parquet_path.stat().st_size / 1e6:.0f} MB")
    print(f"{'format':<8}{'contender':<36}{'median s':>10}{'rows/s':>14}{'peak MB':>10}{'vs duckdb':>10}")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        tmp = Path(tmp)
        os.environ["CORRIDOR_KEY_DIR"] = str(tmp / "keys")  # the subprocesses inherit it
        for path in (csv_path, parquet_path):
            fmt = path.suffix.lstrip(".")
            results = {}
            for name, build in (("duckdb reader (no validation)", duckdb_cmd),
                                ("pandas reader (no validation)", pandas_cmd),
                                ("corridor ingest, ids as they come", corridor_raw_ids_cmd),
                                ("corridor ingest, pseudonymised", corridor_cmd)):
                runs = [measure(build(tmp, path)) for _ in range(args.repeat)]
                seconds = statistics.median(r[0] for r in runs)
                peak = max(r[1] for r in runs)
                results[name] = seconds
                ratio = seconds / results["duckdb reader (no validation)"]
                print(f"{fmt:<8}{name:<36}{seconds:>10.1f}{args.rows / seconds:>14,.0f}"
                      f"{peak / 1e6:>10.0f}{ratio:>9.1f}x", flush=True)


if __name__ == "__main__":
    main()
