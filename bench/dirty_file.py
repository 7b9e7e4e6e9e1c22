"""Ingest a deliberately dirty events file and print what landed where.

    .venv/bin/python bench/dirty_file.py [--rows 100000]

The file mixes good rows with every kind of defect ingest must catch: impossible and
unreadable dates, numbers that are not numbers, unknown outcomes, missing required
values, rows with too few or too many fields, exact duplicates, and bytes that are not
UTF-8. It prints read/accepted/rejected and the rejects grouped by reason.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from corridor.ingest import ingest_file
from corridor.store import Project

DEFECTS = {
    "bad date": lambda i: f"c{i},,tp{i % 9},2024-02-30 10:00,web,ok,12",
    "unreadable date": lambda i: f"c{i},,tp{i % 9},yesterday,web,ok,12",
    "number": lambda i: f"c{i},,tp{i % 9},2024-01-05 10:00,web,ok,twelve",
    "outcome": lambda i: f"c{i},,tp{i % 9},2024-01-05 10:00,web,maybe,12",
    "missing customer": lambda i: f",,tp{i % 9},2024-01-05 10:00,web,ok,12",
    "too few fields": lambda i: f"c{i},,tp{i % 9}",
    "too many fields": lambda i: f"c{i},,tp{i % 9},2024-01-05 10:00,web,ok,12,extra,more",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    planted: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dirty.csv"
        with path.open("wb") as f:
            f.write(b"customer_id,case_id,touchpoint,timestamp,channel,outcome,wait_seconds\n")
            previous = None
            for i in range(args.rows):
                roll = rng.random()
                if roll < 0.02:
                    name = rng.choice(sorted(DEFECTS))
                    line = DEFECTS[name](i).encode()
                elif roll < 0.025 and previous is not None:
                    name, line = "duplicate", previous
                elif roll < 0.027:
                    name, line = "not UTF-8", f"c{i},,Оплата,2024-01-05 10:00,web,ok,1".encode("cp1251")
                else:
                    name = "good"
                    touchpoint = "Оплата" if i % 9 == 0 else f"tp{i % 9}"
                    line = f"c{i % 5000},,{touchpoint},2024-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d},web,ok,{i % 90}".encode()
                    previous = line
                planted[name] = planted.get(name, 0) + 1
                f.write(line + b"\n")
        with Project.create(Path(tmp) / "p.duckdb") as project:
            result = ingest_file(project, "events", path)
            reasons = project.con.execute(
                "SELECT regexp_replace(reason, '''.*''|line \\d+', '…', 'g') AS why, count(*)"
                " FROM rejects GROUP BY why ORDER BY count(*) DESC"
            ).fetchall()
    print(f"planted: {dict(sorted(planted.items()))}")
    print(f"read {result.read:,}  accepted {result.accepted:,}  rejected {result.rejected:,}")
    for why, n in reasons:
        print(f"  {n:>7,}  {why}")


if __name__ == "__main__":
    main()
