"""`corridor serve` starts a real server: it answers on loopback, keeps anonymous
visitors out and lets the printed login in."""

import re

import httpx
import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    built = build_demo(tmp_path_factory.mktemp("serve") / "company.duckdb",
                       DemoConfig(customers=800, seed=4))
    with served(built.project, "correct horse") as base:
        yield base


def test_anonymous_visitors_are_sent_to_the_login_page(server):
    base = server
    answer = httpx.get(base + "/", follow_redirects=False)
    assert answer.status_code in (302, 303, 307)
    assert answer.headers["location"].endswith("/login")


def test_the_printed_login_opens_the_overview(server):
    base = server
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
    base = server
    with httpx.Client(base_url=base) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get("/login").text).group(1)
        refused = client.post("/login", data={"username": "admin", "password": "guess",
                                               "csrf_token": token})
    assert refused.status_code == 401
