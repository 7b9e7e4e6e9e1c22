"""The web app: FastAPI with server-rendered Jinja templates, htmx for interaction, and
every asset served from ``static/`` (no CDN).

This first slice has a login (a signed session cookie; CSRF tokens on every form), a
logout, and the overview: the corridor's health at a glance, computed once per app start
from the library and kept in ``app.state``. The project is read read-only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import html
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from . import i18n
from .errors import CorridorError, InputError

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
SESSION_COOKIE = "corridor_session"
SESSION_MAX_AGE = 8 * 60 * 60  # seconds: one working day
DEMO_USERS = {"demo": "demo"}  # until accounts and roles arrive (#7)


# ---- the overview ------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One experience metric overall: its headline value and how many responses."""

    value: float | None
    responses: int


@dataclass(frozen=True)
class OpenIncident:
    incident_id: int
    title: str
    touchpoint: str | None
    opened_at: dt.datetime


@dataclass(frozen=True)
class Overview:
    project_name: str
    cases: int
    events: int
    variants: int
    goal: str | None
    basic: tuple[str, ...]
    alternatives: tuple[str, ...]  # each group of alternative doors, joined by " / "
    optional: tuple[str, ...]
    scores: dict[str, Score | None]  # nps, csat, ces; None when the feedback has none
    open_incidents: tuple[OpenIncident, ...]
    computed_at: dt.datetime


def planted_goal(project) -> str | None:
    """The corridor goal the demo planted, if the project has one."""
    try:
        row = project.con.execute(
            "SELECT value FROM planted_truths WHERE name = 'corridor'"
        ).fetchone()
    except Exception:  # no planted_truths table: not a demo project
        return None
    if row is None:
        return None
    value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return value.get("goal") if isinstance(value, dict) else None


def compute_overview(project_path: Path) -> Overview:
    """Everything the overview shows, from the library, reading the project read-only."""
    from .incidents import IncidentStatus, list_incidents
    from .journeys import analyse
    from .satisfaction import Metric, satisfaction
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        goal = planted_goal(p)
        report = analyse(p.table("events"), customers=p.table("customers"),
                         touchpoints=p.table("touchpoints"), top=1, goal=goal)
        scores: dict[str, Score | None] = {}
        feedback = p.table("feedback")
        for metric in Metric:
            try:
                result = satisfaction(feedback, metric)
            except CorridorError:  # no scores of this kind
                scores[metric.value] = None
            else:
                scores[metric.value] = Score(result.overall.score.value, result.responses)
        incidents = tuple(
            OpenIncident(i.incident_id, i.title, i.touchpoint, i.opened_at)
            for i in list_incidents(p) if i.status != IncidentStatus.CLOSED
        )
    roles = report.corridor
    return Overview(
        project_name=Path(project_path).stem,
        cases=report.cases,
        events=report.events,
        variants=report.distinct_variants,
        goal=goal,
        basic=tuple(i.touchpoint for i in roles.basic) if roles else (),
        alternatives=tuple(" / ".join(g.touchpoints) for g in roles.alternatives) if roles else (),
        optional=tuple(i.touchpoint for i in roles.optional) if roles else (),
        scores=scores,
        open_incidents=incidents,
        computed_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
    )


# ---- the app -----------------------------------------------------------------------------


def create_app(
    project_path: Path,
    *,
    secret: str,
    users: dict[str, str] | None = None,
    strict_i18n: bool = False,
) -> FastAPI:
    """The web app for the project at ``project_path``.

    ``secret`` signs the session cookie and must not be empty. ``users`` maps user names
    to passwords; without it the demo login (demo / demo) is the only account.
    ``strict_i18n`` makes a message missing from a catalog an error (the tests use it).
    """
    if not isinstance(secret, str) or not secret.strip():
        raise InputError("The web server needs a non-empty secret to sign its session cookies.")
    project_path = Path(project_path)
    if not project_path.exists():
        raise InputError(f"There is no project at {project_path}.")
    accounts = dict(DEMO_USERS if users is None else users)

    app = FastAPI(title="corridor", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE, same_site="lax", https_only=False,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    templates = Jinja2Templates(env=env)
    app.state.overview = None
    lock = threading.Lock()

    def overview() -> Overview:
        with lock:
            if app.state.overview is None:
                app.state.overview = compute_overview(project_path)
            return app.state.overview

    def translator(request: Request) -> i18n.Translator:
        lang = i18n.choose(request.query_params.get("lang"), request.session.get("lang"))
        request.session["lang"] = lang
        return i18n.Translator(lang, strict=strict_i18n)

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def csrf_ok(request: Request) -> tuple[bool, dict]:
        form = dict(await request.form())
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        ok = (isinstance(sent, str) and isinstance(expected, str)
              and hmac.compare_digest(sent.encode(), expected.encode()))
        return ok, form

    def render(request: Request, name: str, t: i18n.Translator, status: int = 200, **context):
        return templates.TemplateResponse(
            request, name,
            {"t": t, "lang": t.lang, "dir": t.direction, "languages": i18n.LANGUAGES,
             "csrf_token": csrf_token(request), "user": request.session.get("user"),
             "path": request.url.path, **context},
            status_code=status,
        )

    def forbidden(t: i18n.Translator) -> Response:
        return HTMLResponse(t("error.csrf"), status_code=403)

    @app.exception_handler(CorridorError)
    async def corridor_error(request: Request, exc: CorridorError):
        # One clear sentence, never a traceback (DESIGN.md §6.5).
        return HTMLResponse(f"<!doctype html><p>{html.escape(str(exc))}</p>", status_code=500)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request):
        t = translator(request)
        return render(request, "login.html", t, error=None, username="")

    @app.post("/login")
    async def login(request: Request):
        t = translator(request)
        ok, form = await csrf_ok(request)
        if not ok:
            return forbidden(t)
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        expected = accounts.get(username)
        if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            return render(request, "login.html", t, status=401,
                          error=t("login.wrong"), username=username)
        lang = t.lang
        request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
        request.session.update({"user": username, "lang": lang,
                                "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        t = translator(request)
        ok, _ = await csrf_ok(request)
        if not ok:
            return forbidden(t)
        lang = t.lang
        request.session.clear()
        request.session["lang"] = lang
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        t = translator(request)
        if not request.session.get("user"):
            return RedirectResponse("/login", status_code=303)
        return render(request, "overview.html", t, o=overview())

    return app
