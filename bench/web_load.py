"""Web pages under load: latency percentiles of every page of `corridor serve` on the demo
project, measured with wrk on loopback, beside the same server's static stylesheet.

    .venv/bin/python bench/web_load.py [--customers 100000] [--seconds 10] [--connections 4]

Builds the demo company (the size `make demo` uses unless told otherwise) into
bench/out/, starts `corridor serve` on a free port, signs in, opens every page in the
navigation once (the first, computing answer is timed on its own), then runs wrk against
each page with the session cookie. Prints requests per second and p50/p95/p99 in
milliseconds, and each page's p95 as a ratio to the stylesheet's (the server's floor).
Needs wrk (`apt-get install wrk`). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

OUT = Path(__file__).parent / "out"
GOAL_P95_MS = 300
# wrk's Lua hook: print the latency percentiles (microseconds) and errors as one JSON line
REPORT_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "p50": %d, "p95": %d, "p99": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), errors))
end
"""


def demo_project(customers: int) -> Path:
    from corridor.demo import DemoConfig
    from corridor.showcase import build_demo

    project = OUT / f"web-demo-{customers}.duckdb"
    if not project.exists():
        OUT.mkdir(exist_ok=True)
        print(f"building the demo company with {customers:,} customers…", file=sys.stderr)
        build_demo(project, DemoConfig(customers=customers))
    return project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_admin(project: Path, name: str, password: str) -> None:
    """An admin account to sign in with (kept if it exists: the password is reset)."""
    from corridor.accounts import Role, add_user, get_user, set_password
    from corridor.store import Project

    with Project.open(project) as p:
        if get_user(p, name) is None:
            add_user(p, name, Role.ADMIN, password=password, actor="bench")
        else:
            set_password(p, name, password)


def start_server(project: Path, port: int, password: str) -> subprocess.Popen:
    add_admin(project, "admin", password)
    env = {**os.environ, "CORRIDOR_SECRET": os.urandom(24).hex()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corridor", "serve", str(project), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"corridor serve did not start: {proc.stderr.read()}")
            time.sleep(0.3)


def signed_in(base: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=600)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"username": "admin", "password": password,
                                         "csrf_token": token})
    if answer.status_code >= 400:
        raise SystemExit(f"could not sign in: {answer.status_code}")
    return client


def wrk(url: str, cookie: str, seconds: int, connections: int, script: Path) -> dict:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(script), "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--project", type=Path, help="an existing project instead of the demo")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("This benchmark needs wrk: apt-get install wrk")
    project = args.project or demo_project(args.customers)
    password = os.urandom(12).hex()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(project, port, password)
    try:
        client = signed_in(base, password)
        started = time.perf_counter()
        overview = client.get("/").text
        first_times = {"/": (time.perf_counter() - started) * 1000}
        pages = list(dict.fromkeys(
            href.split("?")[0] for href in re.findall(r'<nav class="pages".*?</nav>',
                                                       overview, re.S)[0].split('href="')[1:]
            for href in [href.split('"')[0]]))
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        rows = []
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(REPORT_LUA)
            script = Path(f.name)
        for path in ["/static/corridor.css", *pages]:
            started = time.perf_counter()
            first = client.get(path)
            first_ms = first_times.get(path, (time.perf_counter() - started) * 1000)
            if first.status_code != 200:
                raise SystemExit(f"{path} answered {first.status_code}")
            result = wrk(base + path, cookie, args.seconds, args.connections, script)
            rows.append((path, first_ms, result))
        script.unlink()
    finally:
        server.terminate()
        server.wait(timeout=10)
    floor = rows[0][2]["p95"] or 1
    print(f"\n{project.name}: wrk, {args.connections} connections, {args.seconds} s per page,"
          f" loopback, goal p95 ≤ {GOAL_P95_MS} ms\n")
    print(f"{'page':24} {'first ms':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
          f" {'p99 ms':>8} {'errors':>7} {'p95 × floor':>12}")
    for path, first_ms, r in rows:
        print(f"{path:24} {first_ms:9.0f} {r['requests'] / r['seconds']:8.1f}"
              f" {r['p50'] / 1000:8.1f} {r['p95'] / 1000:8.1f} {r['p99'] / 1000:8.1f}"
              f" {r['errors']:7d} {r['p95'] / floor:12.1f}")
    worst = max(r["p95"] for _, _, r in rows[1:]) / 1000
    print(f"\nworst page p95: {worst:.1f} ms — goal {'met' if worst <= GOAL_P95_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
