"""`corridor report`: one self-contained HTML file with every view of the web app, in the
chosen language and filters, written whole or not at all."""

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
