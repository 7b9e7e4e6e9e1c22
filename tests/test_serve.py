"""`corridor serve` starts a real server: it answers on loopback, keeps anonymous
visitors out and lets the printed login in; it believes X-Forwarded-For only from a proxy
named with --trusted-proxy."""

import re
from pathlib import Path

import httpx
import pytest

from corridor.demo import DemoConfig
from corridor.showcase import build_demo
from helpers import run_cli, served


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


# ---- forwarded headers: believed only from a trusted proxy --------------------------------

FORGED = ("203.0.113.9", "198.51.100.23", "192.0.2.77", "203.0.113.200")


def serving(project: Path, *options: str, user: str = "admin", password: str = "correct horse"):
    """``corridor serve PROJECT OPTIONS…`` on a free loopback port, with an admin account;
    yields its base URL once it answers."""
    return served(project, password, user, options)


def sign_in(client: httpx.Client, user: str, password: str, forwarded_for: str | None = None):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token}, headers=headers)


def audited_addresses(base: str, target: str, admin: str = "admin") -> list[str]:
    """The addresses the audit log gives for the failed sign-ins at ``target``, read by
    ``admin`` on the audit page."""
    with httpx.Client(base_url=base) as client:
        assert sign_in(client, admin, "correct horse").status_code == 303
        page = client.get("/audit").text
    return re.findall(r'data-action="login\.failed">\s*<td>[^<]*</td><td><bdi>[^<]*</bdi></td>'
                      rf'<td><bdi>([^<]*)</bdi></td>\s*<td><code>login\.failed</code></td>'
                      rf'<td><bdi>{re.escape(target)}</bdi>', page)


def test_a_forged_x_forwarded_for_is_throttled_and_audited_under_the_real_address(server):
    target = "forged-target"
    with httpx.Client(base_url=server) as client:
        for address in FORGED[:3]:
            assert sign_in(client, target, "wrong password!", address).status_code == 401
        # a fourth "address": the same real one, so the account's wait applies to it
        throttled = sign_in(client, target, "wrong password!", FORGED[3])
    assert throttled.status_code == 429
    assert audited_addresses(server, target) == ["127.0.0.1"] * 3


def test_a_trusted_proxy_s_x_forwarded_for_is_the_client_address(tmp_path):
    project = tmp_path / "empty.duckdb"
    assert run_cli("init", project).returncode == 0
    target = "proxied-target"
    with serving(project, "--trusted-proxy", "127.0.0.1", user="root") as base:
        with httpx.Client(base_url=base) as client:
            for address in FORGED:  # four clients behind the proxy: none slowed by another
                assert sign_in(client, target, "wrong password!", address).status_code == 401
        assert sorted(audited_addresses(base, target, "root")) == sorted(FORGED)


def test_a_trusted_proxy_must_be_an_address_or_a_network(tmp_path):
    done = run_cli("serve", tmp_path / "none.duckdb", "--trusted-proxy", "proxy.example")
    assert done.returncode != 0
    assert "--trusted-proxy 'proxy.example' is not an IP address or network" in done.stderr
