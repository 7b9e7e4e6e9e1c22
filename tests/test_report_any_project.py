"""`corridor report` writes a file for any project that opens, and the web app shows every
page of it with 200: a section the project's tables cannot give says why, in one sentence
in the page's language, instead of failing the page or showing 0.

The projects are made as a user makes them (`corridor init`, `corridor ingest`):

- events only, an XES log (written here: a few cases of an order-handling process with
  XES's standard attributes), loaded with no mapping, as the BPIC 2012 log of issue 14
  was;
- events only, a small hand-made CSV;
- transactions only: the CDNOW sample that ships with the `lifetimes` package;
- empty: `corridor init` and nothing loaded.

Before this, /customers failed on an events-only project (the value section read a
lifetime value that is not there), and /funnel and /customers on a transactions-only or
empty project ("A funnel takes 2 to 8 steps; got 0", "no value to report").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corridor import i18n
from corridor.report import NAV, PERSONAL_PAGES, anchor, build_report
from corridor.web_states import Why
from helpers import load_cdnow, run_cli, write
from test_web import login, web_app

ACTIVITIES = (("receive order", "check stock", "ship", "invoice"),
              ("receive order", "check stock", "back-order", "check stock", "ship", "invoice"),
              ("receive order", "cancel"))


def xes_log(path: Path, cases: int = 9) -> Path:
    """A small XES event log: one trace per case, ``concept:name`` and ``time:timestamp``
    on every event, an ``org:resource`` beside them."""
    traces = []
    for case in range(cases):
        events = "".join(
            f'<event><string key="concept:name" value="{activity}"/>'
            f'<string key="org:resource" value="clerk{step % 3}"/>'
            f'<date key="time:timestamp" value="2024-03-{case + 1:02d}T{9 + step:02d}:15:00.000+01:00"/></event>'
            for step, activity in enumerate(ACTIVITIES[case % len(ACTIVITIES)]))
        traces.append(f'<trace><string key="concept:name" value="order-{case + 1}"/>{events}</trace>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">'
                    + "".join(traces) + "</log>\n", encoding="utf-8")
    return path
LANGUAGES = ("en", "ar", "ru")
EVENTS_CSV = """\
customer_id,case_id,touchpoint,timestamp,channel,outcome
c1,k1,visit,2024-01-01 09:00:00,web,ok
c1,k1,order,2024-01-01 09:05:00,web,ok
c2,k2,visit,2024-01-02 10:00:00,app,ok
c2,k2,call,2024-01-02 11:00:00,phone,failed
c3,k3,visit,2024-01-03 12:00:00,web,ok
"""
# what each kind of project cannot give, page by page: (page, reason)
EXPECTED = {
    "xes": {("/customers", Why.NO_TRANSACTIONS), ("/customers", Why.NO_CUSTOMERS),
            ("/customers", Why.NO_LIFETIME)},
    "csv": {("/customers", Why.NO_TRANSACTIONS), ("/customers", Why.NO_CUSTOMERS),
            ("/customers", Why.NO_LIFETIME)},
    "transactions": {("/map", Why.NO_EVENTS), ("/flow", Why.NO_EVENTS),
                     ("/funnel", Why.NO_EVENTS), ("/personas", Why.NO_EVENTS),
                     ("/customers", Why.NO_CUSTOMERS), ("/customers", Why.NO_COST),
                     ("/customers", Why.NO_EVENTS), ("/customers", Why.NO_EXPERIENCES)},
    "empty": {("/map", Why.NO_EVENTS), ("/flow", Why.NO_EVENTS), ("/funnel", Why.NO_EVENTS),
              ("/personas", Why.NO_EVENTS), ("/customers", Why.NO_CUSTOMERS),
              ("/customers", Why.NO_EVENTS_OR_TRANSACTIONS)},
}


def _init(folder: Path) -> Path:
    project = folder / "project.duckdb"
    done = run_cli("init", project, "--no-pseudonymise")
    assert done.returncode == 0, done.stderr
    return project


def _ingest(project: Path, kind: str, source: Path, *options) -> None:
    done = run_cli("ingest", project, kind, source, "--quiet", *options)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    made = {}
    folder = tmp_path_factory.mktemp("xes")
    made["xes"] = _init(folder)
    _ingest(made["xes"], "events", xes_log(folder / "orders.xes"))

    folder = tmp_path_factory.mktemp("csv")
    made["csv"] = _init(folder)
    _ingest(made["csv"], "events", write(folder / "events.csv", EVENTS_CSV))

    folder = tmp_path_factory.mktemp("cdnow")
    made["transactions"] = _init(folder)
    done = load_cdnow(made["transactions"], folder)
    assert done.returncode == 0, done.stderr

    made["empty"] = _init(tmp_path_factory.mktemp("empty"))
    return made


def _reasons(text: str) -> set[str]:
    return set(re.findall(r'data-unavailable="([\w.]+)"', text))


def _sentence(lang: str, why: Why) -> str:
    return i18n.catalog(lang)[f"unavailable.{why.value}"]


@pytest.fixture(scope="module")
def reports(projects, tmp_path_factory) -> dict[tuple[str, str], tuple]:
    """Each project's report in each language: (result, text)."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for kind, project in projects.items():
        for lang in LANGUAGES:
            result = build_report(project, folder / f"{kind}-{lang}.html", language=lang)
            out[kind, lang] = result, result.path.read_text(encoding="utf-8")
    return out


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_report_is_written_with_every_page_for_any_project(reports, kind):
    result, text = reports[kind, "en"]
    assert result.failed == ()  # no page fell back to "could not be computed"
    assert result.pages[0] == "/" and {"/customers", "/funnel", "/map"} <= set(result.pages)
    for path in result.pages:
        assert f'id="{anchor(path)}"' in text
    assert text.count('<section class="report-page"') == len(result.pages)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_section_that_cannot_be_computed_says_why_in_the_reports_language(
        reports, kind, lang):
    _, text = reports[kind, lang]
    sections = dict(re.findall(
        r'<section class="report-page" id="([\w-]+)">(.*?)</section>\n(?=<section class="report-page"|</main>)',
        text, re.S))
    for page, why in EXPECTED[kind]:
        section = sections[anchor(page)]
        assert why.value in _reasons(section), (page, why)
        assert _sentence(lang, why) in section, (page, why)
    if lang != "en":  # the sentences are translated, not English
        for _, why in EXPECTED[kind]:
            assert _sentence("en", why) not in text


def test_a_figure_with_no_data_reads_no_data_never_zero(reports):
    """An events-only project has no revenue: the profitability table says "no data"
    where it used to say 0."""
    _, text = reports["csv", "ru"]
    section = text.split(f'id="{anchor("/customers")}"')[1]
    money = section.split('data-section="profitability"')[1].split("</section>")[0]
    no_data = i18n.catalog("ru")["unavailable.no_data"]
    assert money.count(f'<td class="num">{no_data}</td>') == 2  # the segment and the total
    assert 'data-figure="revenue"' in money


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_web_app_serves_every_page_with_200(projects, kind):
    app = web_app(projects[kind], strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as client:
        for lang in LANGUAGES:
            login(client, lang=lang)
            first = client.get("/", params={"lang": lang})
            assert first.status_code == 200, first.text[:300]
            paths = dict.fromkeys(re.findall(r'href="(/[\w-]*)', NAV.search(first.text).group(1)))
            assert {"/customers", "/funnel", "/map", "/flow", "/personas"} <= set(paths)
            for path in paths:
                answer = client.get(path, params={"lang": lang})
                assert answer.status_code == 200, (path, lang, answer.text[:300])
            for page, why in EXPECTED[kind]:
                answer = client.get(page, params={"lang": lang})
                assert _sentence(lang, why) in answer.text, (page, why, lang)


def test_a_funnel_asked_for_by_name_is_still_checked(projects):
    """The page says why it has no default funnel, but steps the user names are still
    validated in one sentence (400)."""
    app = web_app(projects["transactions"], strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as client:
        login(client)
        answer = client.get("/funnel", params=[("step", "nowhere"), ("step", "else")])
        assert answer.status_code == 400
        assert "is not a touchpoint of this project" in answer.text


def test_a_page_that_fails_anyway_becomes_a_section_saying_so(projects, tmp_path,
                                                              monkeypatch):
    import corridor.web as web

    def broken(project_path):
        raise RuntimeError("the experience page broke")

    monkeypatch.setattr(web, "compute_experience", broken)
    result = build_report(projects["csv"], tmp_path / "r.html", language="ru")
    text = result.path.read_text(encoding="utf-8")
    assert result.failed == ("/experience",)
    section = text.split(f'id="{anchor("/experience")}"')[1].split("</section>")[0]
    assert 'data-unavailable="page"' in section
    assert i18n.catalog("ru")["unavailable.page"].split("{")[0] in section
    assert "the experience page broke" in section
    assert set(result.pages) - PERSONAL_PAGES == set(result.pages)


@pytest.mark.parametrize("content", [b"", b"not a database at all\n"])
def test_a_project_that_cannot_be_opened_fails_in_one_sentence(tmp_path, content):
    project = tmp_path / "broken.duckdb"
    project.write_bytes(content)
    done = run_cli("report", project, "--out", tmp_path / "r.html", "--quiet")
    assert done.returncode != 0
    assert "not a corridor project" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
