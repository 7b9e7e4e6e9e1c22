"""`corridor report`: one self-contained HTML file with every view of the web app, in the
chosen language and filters, as the chosen role sees it (staff by default: no customer
quotes, no customer ids), written whole or not at all."""

from __future__ import annotations

import re

import pytest

from corridor.errors import InputError
from corridor.report import anchor, build_report
from corridor.web_filters import PageFilters
from helpers import run_cli


@pytest.fixture(scope="module")
def english(web_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report(web_demo, out)


def test_the_report_holds_every_page_of_the_navigation(english):
    text = english.path.read_text(encoding="utf-8")
    assert english.pages[0] == "/" and {"/customers", "/experience", "/actions"} <= set(english.pages)
    for path in english.pages:
        assert f'id="{anchor(path)}"' in text
        assert f'href="#{anchor(path)}"' in text  # the table of contents
    assert text.count('<section class="report-page"') == len(english.pages)


def test_the_report_needs_nothing_from_outside(english):
    text = english.path.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r'(?:src|href)="/', text)  # no server paths left
    fetched = re.sub(r'xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"', "", text)  # names, not fetches
    assert "http://" not in fetched and "https://" not in fetched
    assert "<style>" in text and "--accent" in text  # the stylesheet is inside


def test_the_report_speaks_arabic_right_to_left_with_its_filters(web_demo, tmp_path):
    segment = "enterprise"
    result = build_report(web_demo, tmp_path / "ar.html", language="ar",
                          filters=PageFilters(segment=(segment,)))
    text = result.path.read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in text
    assert "تقرير الممر" in text
    assert f"segment={segment}" in text


def test_a_failed_report_leaves_the_old_file_as_it_was(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("the old report", encoding="utf-8")
    with pytest.raises(InputError, match="no project"):
        build_report(tmp_path / "missing.duckdb", out)
    assert out.read_text(encoding="utf-8") == "the old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_the_command_writes_the_file_and_refuses_bad_input_in_one_sentence(web_demo, tmp_path):
    out = tmp_path / "r.html"
    done = run_cli("report", web_demo, "--out", out, "--lang", "ru", "--quiet")
    assert done.returncode == 0, done.stderr
    assert out.exists() and '<html lang="ru" dir="ltr">' in out.read_text(encoding="utf-8")
    for args, words in ((("--lang", "fr"), "must be one of en, ar, ru"),
                        (("--from", "soon"), "must be a day like 2024-01-31")):
        bad = run_cli("report", web_demo, "--out", tmp_path / "bad.html", *args)
        assert bad.returncode != 0
        assert words in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


# ---- the role a report is written for -----------------------------------------------------


@pytest.fixture(scope="module")
def by_role(web_demo, tmp_path_factory):
    """A staff report (the default) and an analyst report of a copy of the demo whose
    organisations have no names (a page can only name them by id), and its customer ids."""
    import shutil

    from corridor.store import Project

    folder = tmp_path_factory.mktemp("report-roles")
    project = folder / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        p.con.execute("UPDATE customer_pii SET name = NULL WHERE customer_id IN"
                      " (SELECT customer_id FROM customers WHERE level = 'intermediary')")
        ids = [r[0] for r in p.con.execute("SELECT customer_id FROM customers").fetchall()]
    staff = build_report(project, folder / "staff.html")
    analyst = build_report(project, folder / "analyst.html", role="analyst")
    any_id = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    return {"project": project, "any_id": any_id,
            "staff": (staff, staff.path.read_text(encoding="utf-8")),
            "analyst": (analyst, analyst.path.read_text(encoding="utf-8"))}


def personas_section(text: str) -> str:
    return text.split(f'id="{anchor("/personas")}"')[1].split("</section>")[0]


def test_a_staff_report_by_default_holds_no_customer_quotes_and_no_customer_ids(by_role):
    result, text = by_role["staff"]
    assert result.role.value == "staff"
    assert "Seen as: staff" in text
    assert "/personas" in result.pages and "<blockquote" not in text
    assert 'data-hidden="quotes"' in personas_section(text)
    assert by_role["any_id"].findall(text) == []
    assert 'data-hidden="customer"' in text  # the unnamed organisations, masked
    assert "/maturity" not in result.pages  # a page staff may not open


def test_an_analyst_report_holds_the_quotes_and_ids_an_analyst_may_see(by_role):
    result, text = by_role["analyst"]
    assert "Seen as: analyst" in text
    assert "<blockquote" in personas_section(text)
    assert by_role["any_id"].findall(text)
    assert "/maturity" in result.pages


def test_no_report_holds_the_audit_log_or_the_readers_own_course(by_role, tmp_path):
    result = build_report(by_role["project"], tmp_path / "admin.html", role="admin")
    assert "/audit" not in result.pages and "/academy" not in result.pages
    assert "login.failed" not in result.path.read_text(encoding="utf-8")


def test_the_command_takes_a_role_and_refuses_an_unknown_one(by_role, tmp_path):
    done = run_cli("report", by_role["project"], "--out", tmp_path / "m.html", "--role",
                   "manager", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "as manager" in done.stdout
    assert "Seen as: manager" in (tmp_path / "m.html").read_text(encoding="utf-8")
    bad = run_cli("report", by_role["project"], "--out", tmp_path / "x.html", "--role", "boss")
    assert bad.returncode != 0 and "Unknown role 'boss'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
