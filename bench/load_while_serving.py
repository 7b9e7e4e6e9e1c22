"""Loading while the web app serves: what readers of the pages see while `corridor
ingest` loads a file into the project the server runs on.

    .venv/bin/python bench/load_while_serving.py [--customers 20000] [--cases 100000]

Builds the demo company into bench/out/, writes a file of later journeys (``--cases``
journeys of the company copied a year later under new case ids), starts `corridor serve`,
signs in and opens every page once. Then a reader asks for the pages one after another
the whole time, and two loads run in turn on copies of the same start:

- through: `corridor ingest` finds the server and hands it the file (ADR 12);
- direct: the serving file is hidden, so `corridor ingest` opens the project itself, as
  every load did before, holding the file while pages want it.

Prints, per way: the load's seconds, the pages read during it, their errors (any status
but 200) and their p50/p95 latency against the same reader before the load. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from web_load import OUT, demo_project, free_port, signed_in, start_server  # noqa: E402

from corridor.showcase import later_journeys  # noqa: E402

PAGES = ("/", "/map", "/flow", "/funnel", "/journey", "/departments", "/actions",
         "/customers", "/experience", "/personas")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values or [0])[0]


def run(project: Path, events: Path, direct: bool) -> dict:
    password = "bench password 123"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(project, port, password)
    samples: list[tuple[float, float, int]] = []  # (start, seconds, status)
    stop = threading.Event()
    try:
        client = signed_in(base, password)
        for page in PAGES:  # every page computed once: the reader starts warm
            client.get(page)

        def read() -> None:
            while not stop.is_set():
                for page in PAGES:
                    started = time.monotonic()
                    status = client.get(page).status_code
                    samples.append((started, time.monotonic() - started, status))

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(5)
        serving = Path(f"{project}.serving")
        hidden = serving.with_name(serving.name + ".hidden")
        if direct:
            serving.rename(hidden)
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "corridor", "ingest", "-q", str(project),
                               "events", str(events)], capture_output=True, text=True)
        ended = time.monotonic()
        if direct:
            hidden.rename(serving)
        time.sleep(3)
        stop.set()
        reader.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    before = [s for s in samples if s[0] < began]
    during = [s for s in samples if began <= s[0] <= ended]
    return {
        "load_ok": done.returncode == 0, "load_s": ended - began,
        "load_error": done.stderr.strip().splitlines()[-1:] if done.returncode else [],
        "pages_during": len(during),
        "errors_during": sum(s[2] != 200 for s in during),
        "p50_before": percentile([s[1] for s in before], 50) * 1000,
        "p95_before": percentile([s[1] for s in before], 95) * 1000,
        "p50_during": percentile([s[1] for s in during if s[2] == 200], 50) * 1000,
        "p95_during": percentile([s[1] for s in during if s[2] == 200], 95) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    source = demo_project(args.customers)
    events = OUT / f"later-{args.customers}-{args.cases}.csv"
    rows = later_journeys(source.with_name(source.stem + "-files"), events, args.cases)
    print(f"{source.name}: loading {rows:,} events ({events.stat().st_size / 1e6:.0f} MB)"
          f" while a reader asks for {len(PAGES)} pages in turn\n")
    print(f"{'way':8} {'load s':>7} {'pages':>6} {'errors':>7} {'p50 before':>11}"
          f" {'p50 during':>11} {'p95 before':>11} {'p95 during':>11}")
    for way in ("through", "direct"):
        project = OUT / f"load-while-serving-{way}.duckdb"
        shutil.copy(source, project)
        r = run(project, events, direct=way == "direct")
        print(f"{way:8} {r['load_s']:7.1f} {r['pages_during']:6d} {r['errors_during']:7d}"
              f" {r['p50_before']:11.1f} {r['p50_during']:11.1f} {r['p95_before']:11.1f}"
              f" {r['p95_during']:11.1f}" + ("" if r["load_ok"] else
                                              f"  load failed: {r['load_error']}"))
        project.unlink()
        Path(f"{project}.wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
