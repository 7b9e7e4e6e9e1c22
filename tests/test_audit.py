"""The audit log (corridor.audit): sign-ins, failed sign-ins, sign-outs, account changes
and edits made in the web app are recorded with who, when and from where; admins read
them on /audit; nothing in corridor changes or deletes an entry."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corridor.accounts import Role, add_user, set_role
from corridor.audit import latest, record
from corridor.store import Project
from corridor.web import create_app
from test_web import TEST_SECRET, csrf_from

PASSWORD = "audit password 123"


@pytest.fixture(scope="module")
def project(web_demo, tmp_path_factory):
    copy = tmp_path_factory.mktemp("audit") / "company.duckdb"
    shutil.copy(web_demo, copy)
    with Project.open(copy) as p:
        add_user(p, "auditor", Role.ADMIN, password=PASSWORD, actor="test")
        add_user(p, "editor", Role.MANAGER, password=PASSWORD, actor="test")
    return copy


def sign_in(client, user, password=PASSWORD):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def entries(project) -> list:
    with Project.open(project, read_only=True) as p:
        return latest(p, 1000)


def test_record_appends_with_increasing_ids_and_json_detail(tmp_path):
    with Project.create(tmp_path / "p.duckdb") as p:
        record(p, "cli", "customer.export", "C-1", {"rows": 3}, address=None)
        record(p, "ana", "customer.erase", "C-1", {"events": 12, "note": "ünïcode"},
               address="10.0.0.1")
        newest, oldest = latest(p)
    assert (oldest.audit_id, newest.audit_id) == (1, 2)
    assert (newest.actor, newest.action, newest.target, newest.address) == (
        "ana", "customer.erase", "C-1", "10.0.0.1")
    assert newest.detail == {"events": 12, "note": "ünïcode"}
    assert newest.to_dict()["detail"]["events"] == 12


def test_web_sign_ins_failures_edits_and_sign_outs_are_recorded(project):
    app = create_app(project, secret=TEST_SECRET, strict_i18n=True)
    before = len(entries(project))
    with TestClient(app, base_url="http://testserver", client=("10.1.2.3", 5)) as client:
        assert sign_in(client, "editor", "wrong password!").status_code == 401
        assert sign_in(client, "editor").status_code == 303
        token = csrf_from(client.get("/actions").text)
        made = client.post("/actions/incidents", data={
            "csrf_token": token, "title": "Audited incident"}, follow_redirects=False)
        incident = int(made.headers["location"].rsplit("-", 1)[1])
        client.post(f"/actions/incidents/{incident}/whys", data={
            "csrf_token": token, "statement": "Because of a queue"}, follow_redirects=False)
        client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    new = entries(project)[: len(entries(project)) - before][::-1]
    assert [(e.actor, e.action) for e in new] == [
        ("editor", "login.failed"), ("editor", "login"), ("editor", "incident.open"),
        ("editor", "why.add"), ("editor", "logout")]
    assert all(e.address == "10.1.2.3" for e in new)
    assert new[2].detail["title"] == "Audited incident"
    assert new[3].target == f"incident {incident}"
    assert not any(PASSWORD in str(e.to_dict()) or "wrong password" in str(e.to_dict())
                   for e in new)


def test_account_changes_are_recorded(project):
    with Project.open(project) as p:
        add_user(p, "newcomer", Role.STAFF, password=PASSWORD, actor="cli")
        set_role(p, "newcomer", Role.MANAGER, actor="cli")
    last, before = entries(project)[:2]
    assert (before.action, before.target, before.detail["role"]) == ("user.add", "newcomer", "staff")
    assert (last.action, last.detail["from"], last.detail["to"]) == ("user.set_role", "staff", "manager")


def test_admins_read_the_latest_entries_and_nothing_on_the_page_changes_them(project):
    app = create_app(project, secret=TEST_SECRET, strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as client:
        assert sign_in(client, "auditor").status_code == 303
        page = client.get("/audit")
    assert page.status_code == 200
    newest = entries(project)[0]
    assert f'data-audit="{newest.audit_id}"' in page.text
    assert 'data-action="login"' in page.text
    forms = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    assert forms == ["/logout"]


def test_no_code_in_corridor_updates_or_deletes_the_audit_log():
    source = Path(__file__).parent.parent / "src" / "corridor"
    touching = [
        f"{path.name}: {line.strip()}"
        for path in source.rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"(UPDATE|DELETE\s+FROM|DROP\s+TABLE|TRUNCATE)\s+audit_log", line, re.I)
    ]
    assert touching == []
