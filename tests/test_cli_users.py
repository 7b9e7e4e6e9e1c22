"""`corridor user ...`, `corridor init`'s admin, the demo's logins, and `corridor serve`
refusing a weak secret or a project without accounts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from corridor.accounts import Role, authenticate, get_user
from corridor.store import Project
from helpers import add_account, run_cli


def cli_with_stdin(*args, stdin: str, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_init_makes_an_admin_whose_one_time_password_is_printed_once(tmp_path):
    path = tmp_path / "p.duckdb"
    done = run_cli("init", path)
    assert done.returncode == 0, done.stderr
    password = done.stdout.split("one-time password ", 1)[1].split()[0]
    with Project.open(path, read_only=True) as p:
        assert authenticate(p, "admin", password).user.role is Role.ADMIN
        stored = p.con.execute("SELECT password_hash FROM users").fetchone()[0]
    assert password not in stored


def test_user_add_set_role_disable_and_list(tmp_path):
    path = tmp_path / "p.duckdb"
    run_cli("init", path)
    made = run_cli("user", "add", path, "ana", "--role", "manager")
    assert made.returncode == 0, made.stderr
    password = made.stdout.split("one-time password: ", 1)[1].strip()
    piped = cli_with_stdin("user", "add", path, "ben", "--role", "staff", "--password-stdin",
                           stdin="ben's long password\n")
    assert piped.returncode == 0 and "password" not in piped.stdout.lower()
    assert run_cli("user", "set-role", path, "ben", "analyst").stdout.strip() == "ben is now analyst."
    assert run_cli("user", "disable", path, "ana").returncode == 0
    listed = json.loads(run_cli("user", "list", path, "--json").stdout)
    assert [(u["user_name"], u["role"], u["disabled"]) for u in listed] == [
        ("admin", "admin", False), ("ana", "manager", True), ("ben", "analyst", False)]
    assert "ana\tmanager\t-" in run_cli("user", "list", path).stdout
    with Project.open(path, read_only=True) as p:
        assert authenticate(p, "ana", password).user is None  # disabled
        assert authenticate(p, "ben", "ben's long password").user.user_name == "ben"


def test_bad_user_commands_say_one_sentence(tmp_path):
    path = tmp_path / "p.duckdb"
    run_cli("init", path)
    for args, message in (
        (("user", "add", path, "admin", "--role", "staff"), "already a user 'admin'"),
        (("user", "add", path, "x", "--role", "king"), "Unknown role 'king'"),
        (("user", "set-role", path, "nobody", "staff"), "no user 'nobody'"),
        (("user", "add", path, "h", "--role", "department_head"), "needs a department"),
    ):
        done = run_cli(*args)
        assert done.returncode == 2 and message in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    short = cli_with_stdin("user", "add", path, "y", "--role", "staff", "--password-stdin",
                           stdin="short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr


def test_the_demo_makes_one_login_per_role(web_demo, tmp_path):
    from corridor.cli import demo_accounts

    copy = tmp_path / "company.duckdb"
    shutil.copy(web_demo, copy)
    made = demo_accounts(copy)
    assert sorted(u.user.role.value for u in made) == sorted(r.value for r in Role)
    again = {u.user.user_name: u.password for u in demo_accounts(copy)}  # new passwords
    with Project.open(copy, read_only=True) as p:
        for user in made:
            assert authenticate(p, user.user.user_name, user.password).user is None
            assert authenticate(p, user.user.user_name, again[user.user.user_name]).user
        assert get_user(p, "demo-department-head").department_id is not None


def test_serve_refuses_an_empty_short_or_default_secret_and_a_project_without_accounts(tmp_path):
    path = tmp_path / "p.duckdb"
    with Project.create(path):
        pass
    lonely = cli_with_stdin("serve", path, "--port", "1", stdin="",
                            env={"CORRIDOR_SECRET": "x" * 8 + "0123456789abcdefghijklmnopqrstuv"})
    assert lonely.returncode == 2 and "no active account" in lonely.stderr
    add_account(path, "admin", "correct horse battery")
    for secret, message in (("", "empty"), ("tooShort-1234", "at least 32"),
                            ("changeme", "default"), ("a" * 64, "default")):
        done = cli_with_stdin("serve", path, "--port", "1", stdin="",
                              env={"CORRIDOR_SECRET": secret})
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
