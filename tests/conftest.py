"""Shared fixtures. ``engine`` is how every analytic test gets its data: the same Ibis
expression runs on DuckDB and on PySpark (local[2], one SparkSession per test session),
and the tests assert the same answer on both."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from corridor import store

ENGINES = ["duckdb", "pyspark"]
if os.environ.get("CORRIDOR_SKIP_SPARK") == "1":
    ENGINES = ["duckdb"]


@pytest.fixture(scope="session", autouse=True)
def key_dir(tmp_path_factory):
    """The pseudonymisation keys of every project the tests make (ADR 0011) live in a
    folder of the test session, never in the user's ~/.config."""
    before = os.environ.get("CORRIDOR_KEY_DIR")
    folder = tmp_path_factory.mktemp("keys")
    os.environ["CORRIDOR_KEY_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("CORRIDOR_KEY_DIR", None)
    else:
        os.environ["CORRIDOR_KEY_DIR"] = before


@pytest.fixture(scope="session")
def spark_session():
    session = store.spark_session("local[2]")
    yield session
    session.stop()


@dataclass
class Engine:
    name: str
    backend: object

    def table(self, name: str, frame: pd.DataFrame):
        """Create (or replace) table ``name`` from a pandas frame; return it as Ibis."""
        return store.put_table(self.backend, name, frame)


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    if request.param == "duckdb":
        import ibis

        con = ibis.duckdb.connect(str(tmp_path / "engine.duckdb"))
        yield Engine("duckdb", con)
        con.disconnect()
    else:
        session = request.getfixturevalue("spark_session")
        yield Engine("pyspark", store.spark_backend(session))


@pytest.fixture
def put(engine):
    """Put frames on the engine under unique names; drop them after the test."""
    names = []

    def put_frame(frame: pd.DataFrame):
        name = f"t_{uuid.uuid4().hex[:12]}"
        names.append(name)
        return engine.table(name, frame.astype({c: "string" for c in frame.columns
                                                if frame[c].dtype == object}))

    yield put_frame
    for name in names:
        engine.backend.drop_table(name, force=True)


@dataclass
class DemoTables:
    events: object
    customers: object
    touchpoints: object
    truths: object


@pytest.fixture(scope="session")
def demo_company(tmp_path_factory):
    """A small demo company (3,000 customers, seed 7), generated once per test session
    and put straight on DuckDB: the planted truths the analytics are checked against."""
    import ibis
    import numpy as np

    from corridor.demo import DemoConfig, generate

    files = generate(tmp_path_factory.mktemp("demo"), DemoConfig(customers=3000, seed=7))
    events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
    events["attributes"] = pd.Series([None] * len(events), dtype="string")
    events["load_id"] = np.int64(1)
    events["seq"] = np.arange(len(events), dtype="int64")
    customers = pd.read_csv(files.customers, dtype=str)[["customer_id", "segment", "region"]]
    touchpoints = pd.read_csv(files.touchpoints, dtype=str)
    con = ibis.duckdb.connect()
    yield DemoTables(
        store.put_table(con, "events", events),
        store.put_table(con, "customers", customers),
        store.put_table(con, "touchpoints", touchpoints),
        files.truths,
    )
    con.disconnect()


@dataclass
class DemoFrames:
    """A generated demo company's files read into pandas (events numbered by ``seq`` in
    file order, as ingest numbers them), with its planted truths."""

    events: pd.DataFrame
    transactions: pd.DataFrame
    feedback: pd.DataFrame
    customers: pd.DataFrame
    touchpoints: pd.DataFrame
    truths: object

    def on(self, con, *names: str) -> dict:
        """The named frames as tables on an Ibis backend."""
        return {name: store.put_table(con, name, getattr(self, name)) for name in names}


@pytest.fixture(scope="session")
def demo_frames(tmp_path_factory):
    """``demo_frames(customers, seed)``: a demo company generated once per test session
    for each size and seed that any test asks for."""
    import numpy as np

    from corridor.demo import DemoConfig, generate

    made: dict[tuple[int, int], DemoFrames] = {}

    def make(customers: int, seed: int = 7) -> DemoFrames:
        if (customers, seed) not in made:
            out = tmp_path_factory.mktemp(f"demo-{customers}-{seed}")
            files = generate(out, DemoConfig(customers=customers, seed=seed))
            events = pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True)
            events["seq"] = np.arange(len(events), dtype="int64")
            made[customers, seed] = DemoFrames(
                events=events,
                transactions=pd.concat([pd.read_parquet(p) for p in files.transactions],
                                       ignore_index=True),
                feedback=pd.read_csv(files.feedback, parse_dates=["timestamp"],
                                     dtype={"text": "string", "language": "string"}),
                customers=pd.read_csv(files.customers, dtype=str),
                touchpoints=pd.read_csv(files.touchpoints, dtype=str),
                truths=files.truths,
            )
        return made[customers, seed]

    return make


@pytest.fixture
def duck():
    """Frames on an in-memory DuckDB: the cases that need not run on every engine."""
    import ibis

    con = ibis.duckdb.connect()
    made = []

    def put_frame(frame: pd.DataFrame):
        made.append(f"t{len(made)}")
        text = {c: "string" for c in frame.columns if frame[c].dtype == object}
        return store.put_table(con, made[-1], frame.astype(text))

    yield put_frame
    con.disconnect()


# -- a real browser on a real server (shared by every browser test module) -------------

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "artifacts" / "screenshots"
BROWSER_PASSWORD = "browser horse"


@pytest.fixture(scope="session")
def browser_base(tmp_path_factory):
    """``corridor serve`` on a small demo company; yields its base URL."""
    from corridor.demo import DemoConfig
    from corridor.showcase import build_demo
    from helpers import served

    from helpers import add_account

    built = build_demo(tmp_path_factory.mktemp("browser") / "company.duckdb",
                       DemoConfig(customers=1200, seed=6))
    add_account(built.project, "manager", BROWSER_PASSWORD, role="manager")
    with served(built.project, BROWSER_PASSWORD) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, browser_base):
    """A page signed in as the admin that records every console error, page error and
    failed request in ``page.problems``; a test ends with ``assert page.problems == []``."""
    yield from signed_in_tab(browser, browser_base, "admin")


def signed_in_tab(browser, browser_base, user: str):
    """A page signed in as ``user`` (admin, or manager) on the browser server, recording
    its problems (see ``page``); closed afterwards."""
    context = browser.new_context(base_url=browser_base)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: None if _favicon_cut_short(r) else problems.append(
        f"failed: {r.url} ({r.failure})"))
    tab.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    tab.goto("/login")
    tab.fill("input[name=username]", user)
    tab.fill("input[name=password]", BROWSER_PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(browser_base + "/")
    tab.problems = problems
    yield tab
    context.close()


def _favicon_cut_short(request) -> bool:
    """Chromium fetches the icon lazily and drops the fetch when the test moves on to
    the next page: not a failure of the app."""
    return request.url.endswith("/favicon.svg") and request.failure == "net::ERR_ABORTED"


@pytest.fixture(scope="session")
def web_demo(tmp_path_factory) -> Path:
    """A demo company's project file for web tests that only read it."""
    from corridor.demo import DemoConfig
    from corridor.showcase import build_demo

    built = build_demo(tmp_path_factory.mktemp("web-demo") / "company.duckdb",
                       DemoConfig(customers=1500, seed=2))
    return built.project


@pytest.fixture(scope="module")
def app(web_demo):
    """The web app on the read-only demo company, strict about translations. A test
    module that needs another project defines its own ``app``."""
    from test_web import web_app

    return web_app(web_demo, strict_i18n=True)


@pytest.fixture(scope="module")
def client(app):
    """A client signed in to ``app`` as the test admin."""
    from fastapi.testclient import TestClient

    from test_web import login

    with TestClient(app, base_url="http://testserver") as c:
        login(c)
        yield c
