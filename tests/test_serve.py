"""`corridor serve` starts a real server: it answers on loopback, keeps anonymous
visitors out and lets the printed login in."""

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("serve") / "company.duckdb",
                       DemoConfig(customers=800, seed=4))
    port = _free_port()
    env = {**os.environ, "CORRIDOR_PASSWORD": "correct horse", "CORRIDOR_SECRET": "s" * 40}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corridor", "serve", str(built.project), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/login", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                pytest.fail(f"corridor serve exited: {proc.stderr.read()}")
            time.sleep(0.3)
    yield base, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_anonymous_visitors_are_sent_to_the_login_page(server):
    base, _ = server
    answer = httpx.get(base + "/", follow_redirects=False)
    assert answer.status_code in (302, 303, 307)
    assert answer.headers["location"].endswith("/login")


def test_the_printed_login_opens_the_overview(server):
    base, _ = server
    with httpx.Client(base_url=base) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        done = client.post("/login", data={"username": "admin", "password": "correct horse",
                                            "csrf_token": token})
        assert done.status_code in (302, 303)
        overview = client.get("/")
    assert overview.status_code == 200
    assert "<html" in overview.text


def test_a_wrong_password_is_refused(server):
    base, _ = server
    with httpx.Client(base_url=base) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get("/login").text).group(1)
        refused = client.post("/login", data={"username": "admin", "password": "guess",
                                               "csrf_token": token})
    assert refused.status_code == 401
