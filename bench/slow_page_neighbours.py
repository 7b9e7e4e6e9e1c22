"""What a slow first computation does to everyone else: while one reader opens a page
nobody has computed yet (the personas page: clustering and quotes), another keeps asking
for the overview, already computed. Prints the overview's latency meanwhile.

    .venv/bin/python bench/slow_page_neighbours.py [--customers 20000]

Before the page cache computed pages side by side, the overview waited for the whole
personas computation. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from web_load import demo_project, free_port, signed_in, start_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    project = demo_project(args.customers)
    password = "bench password 123"
    port = free_port()
    server = start_server(project, port, password)
    try:
        base = f"http://127.0.0.1:{port}"
        slow, quick = signed_in(base, password), signed_in(base, password)
        quick.get("/")  # computed once: from now on the overview is a cached page
        spent: list[float] = []
        started = time.monotonic()
        opening = threading.Thread(target=lambda: spent.append(
            (slow.get("/personas"), time.monotonic() - started)[1]))
        opening.start()
        latencies = []
        while opening.is_alive():
            asked = time.monotonic()
            assert quick.get("/").status_code == 200
            latencies.append(time.monotonic() - asked)
            time.sleep(0.05)
        opening.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{project.name}: the personas page took {spent[0]:.1f} s to compute; meanwhile"
          f" the cached overview answered {len(latencies)} times, median"
          f" {statistics.median(latencies) * 1000:.0f} ms, slowest"
          f" {max(latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
