"""The web app: FastAPI with server-rendered Jinja templates, htmx for interaction, and
every asset served from ``static/`` (no CDN).

This module has the login and logout (server-side sessions, CSRF tokens on every form),
the overview (the corridor's health at a glance), the customers page (levels and
relations, value, profitability, service tiers, target segments, revenue at risk), the
experience page (NPS, CSAT, CES with intervals and their drivers), the actions page
(incidents with their 5-Whys trees and actions; forms to open an incident and add a why)
and the audit log. The other pages, the academy and the JSON API live in their own
modules (:data:`PAGE_MODULES`), each added with ``register(app, site)``. Computed pages
are kept in the :class:`~corridor.web_site.Site` page cache. Each request opens the
project read-only for as long as it needs it; a write opens it read-write for the write
alone and drops the cached pages it changes.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match

from . import i18n
from .accounts import Permission
from .company import company_model
from .journey_types import JourneyKpis, journey_kpis
from .errors import AnalysisError, CorridorError, InputError
from .web_filters import PageFilters
from .web_site import Site
from .web_states import Holdings, Unavailable, Why, holdings

from .customers import CustomerSummary
from .experience import ExperienceReport
from .health import HealthChange
from .portfolio import ValueReport

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
SESSION_COOKIE = "corridor_session"
SESSION_MAX_AGE = 8 * 60 * 60  # seconds: one working day


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
    goal: tuple[str, ...]  # the company model's purchase goal; empty: none declared
    journeys: JourneyKpis | None  # per journey type of the company model; None: none declared
    basic: tuple[str, ...]
    alternatives: tuple[str, ...]  # each group of alternative doors, joined by " / "
    optional: tuple[str, ...]
    scores: dict[str, Score | None]  # nps, csat, ces; None when the feedback has none
    open_incidents: tuple[OpenIncident, ...]
    open_actions: int
    change: HealthChange | None  # the latest period against the one before
    computed_at: dt.datetime


def compute_overview(project_path: Path, filters: PageFilters = PageFilters()) -> Overview:
    """Everything the overview shows for the events that pass ``filters``, from the
    library, reading the project read-only."""
    from .health import health_change
    from .incidents import ActionStatus, IncidentStatus, list_incidents
    from .journeys import analyse
    from .satisfaction import Metric, satisfaction
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        model = company_model(p)
        goal = model.purchase_goal
        filtered = filters.events(p)
        kinds = journey_kpis(filtered, model, touchpoints=p.table("touchpoints"),
                             typed_from=p.table("events")) if model.journeys else None
        journeys = filters.journeys(p)
        try:
            report = analyse(journeys, customers=p.table("customers"),
                             touchpoints=p.table("touchpoints"), top=1, goal=goal or None)
        except AnalysisError:  # no journey in this view reaches the goal: no corridor
            report = analyse(journeys, top=1, roles=False)
        scores: dict[str, Score | None] = {}
        feedback = filters.feedback(p)
        for metric in Metric:
            try:
                result = satisfaction(feedback, metric)
            except CorridorError:  # no scores of this kind
                scores[metric.value] = None
            else:
                scores[metric.value] = Score(result.overall.score.value, result.responses)
        incidents = list_incidents(p)
        open_incidents = tuple(
            OpenIncident(i.incident_id, i.title, i.touchpoint, i.opened_at)
            for i in incidents if i.status != IncidentStatus.CLOSED
        )
        open_actions = sum(a.status != ActionStatus.DONE for i in incidents for a in i.actions)
        change = health_change(filtered, feedback=feedback,
                               transactions=filters.of_customers(p, p.table("transactions")))
    roles = report.corridor
    return Overview(
        project_name=Path(project_path).stem,
        cases=report.cases,
        events=report.events,
        variants=report.distinct_variants,
        goal=goal,
        journeys=kinds,
        basic=tuple(i.touchpoint for i in roles.basic) if roles else (),
        alternatives=tuple(" / ".join(g.touchpoints) for g in roles.alternatives) if roles else (),
        optional=tuple(i.touchpoint for i in roles.optional) if roles else (),
        scores=scores,
        open_incidents=open_incidents,
        open_actions=open_actions,
        change=change,
        computed_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
    )


# ---- the customers page -----------------------------------------------------------------

@dataclass(frozen=True)
class CustomerGaps:
    """Why each section of the customers page cannot be computed; None where it can."""

    summary: Unavailable | None = None  # levels and relations
    lifetime: Unavailable | None = None
    profit: Unavailable | None = None  # profit per customer (cost to serve or margin unknown)
    revenue: Unavailable | None = None  # no transactions: the revenue is no data, not 0
    margin: Unavailable | None = None
    cost_to_serve: Unavailable | None = None
    tiers: Unavailable | None = None
    targets: Unavailable | None = None
    revenue_at_risk: Unavailable | None = None


@dataclass(frozen=True)
class CustomersPage:
    summary: CustomerSummary
    value: ValueReport | None  # None: the project holds neither events nor transactions
    until: dt.date | None  # the CLV holdout starts the day after; None: no holdout
    computed_at: dt.datetime
    gaps: CustomerGaps = CustomerGaps()


def compute_customers(project_path: Path) -> CustomersPage:
    """Everything the customers page shows, from the library, reading the project
    read-only; a section the project's tables cannot give is an :class:`Unavailable`
    in ``gaps`` (the page says why) instead of a failed page."""
    from .customers import customer_summary
    from .lifetime import purchases_of
    from .portfolio import project_value
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        held = holdings(p)
        if held.events or held.transactions:
            value, until = project_value(p)
        else:  # nothing to value: every value section says so
            value, until = None, None
        summary = customer_summary(p.table("customers"))
        purchases = held.transactions and int(
            purchases_of(p.table("transactions")).limit(1).count().execute()) > 0
    return CustomersPage(summary, value, until, _now(),
                         customer_gaps(value, held, has_purchases=bool(purchases)))


def customer_gaps(value: ValueReport | None, held: Holdings, *,
                  has_purchases: bool) -> CustomerGaps:
    """Why each section of the customers page cannot be computed, from which parts of
    ``value`` are missing and which of the project's tables hold rows."""
    from .portfolio import ValuePart

    summary = None if held.customers else Unavailable(Why.NO_CUSTOMERS)
    if value is None:
        nothing = Unavailable(Why.NO_EVENTS_OR_TRANSACTIONS)
        return CustomerGaps(summary, nothing, nothing, nothing, nothing, nothing, nothing,
                            nothing, nothing)
    missing = {n.part for n in value.not_computed}
    lifetime = None
    if value.lifetime is None:
        lifetime = Unavailable(Why.NO_TRANSACTIONS if not held.transactions
                               else Why.NO_PURCHASES if not has_purchases
                               else Why.TOO_FEW_PURCHASES)
    margin = cost = None
    if ValuePart.MARGIN in missing:
        margin = Unavailable(Why.NO_MARGIN if held.transactions else Why.NO_TRANSACTIONS)
    if ValuePart.COST_TO_SERVE in missing:
        cost = Unavailable(Why.NO_COST)
    profit = cost or margin
    tiers = profit if value.tiers is None else None
    targets = None
    if value.targets is None:
        targets = (Unavailable(Why.NO_EVENTS) if not held.events
                   else profit or Unavailable(Why.NO_CORRIDOR))
    risk = None
    if value.revenue_at_risk is None:
        risk = Unavailable(Why.NO_LIFETIME if value.lifetime is None else Why.NO_EXPERIENCES)
    revenue = None if held.transactions else Unavailable(Why.NO_TRANSACTIONS)
    return CustomerGaps(summary, lifetime, profit, revenue, margin, cost, tiers, targets, risk)


# ---- the experience page ----------------------------------------------------------------


@dataclass(frozen=True)
class ExperiencePage:
    report: ExperienceReport | None  # None: the feedback holds no scores
    computed_at: dt.datetime


def compute_experience(project_path: Path) -> ExperiencePage:
    """Scores by segment and their drivers, from the library, reading read-only."""
    from .experience import customer_experience
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        try:
            report = customer_experience(
                events=p.table("events"), feedback=p.table("feedback"),
                customers=p.table("customers"), touchpoints=p.table("touchpoints"),
                by=("segment",),
            )
        except CorridorError:  # no NPS, CSAT or CES answers
            report = None
    return ExperiencePage(report, _now())


# ---- the actions page -------------------------------------------------------------------


def incidents_open_first(incidents) -> list:
    """Incidents not yet closed first; within each group the newest first."""
    from .incidents import IncidentStatus

    return sorted(incidents, key=lambda i: (i.status == IncidentStatus.CLOSED,
                                            -i.opened_at.timestamp(), -i.incident_id))


def read_actions(project_path: Path) -> tuple[list, list[str]]:
    """Every incident (open first) and the known touchpoints, read read-only."""
    from .incidents import list_incidents
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        incidents = incidents_open_first(list_incidents(p))
        touchpoints = [r[0] for r in p.con.execute(
            "SELECT DISTINCT touchpoint FROM touchpoints ORDER BY touchpoint").fetchall()]
    return incidents, touchpoints


def flat_whys(whys) -> list:
    """The whys of a tree, each before the whys that explain it."""
    out: list = []
    for why in whys:
        out.append(why)
        out.extend(flat_whys(why.causes))
    return out


INCIDENT_PAGES = ("overview", "actions", "departments", "journey")  # they show incidents
AUDIT_PAGE_SIZE = 200  # the latest entries the audit page lists


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _optional(form: dict, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _form_limits() -> dict[str, dict[str, int]]:
    """The longest text each field of the incident forms takes: the library's limits
    (:data:`corridor.incidents.MAX_TEXT`, ``MAX_NAME``), which the JSON API takes too."""
    from .incidents import MAX_NAME, MAX_TEXT

    return {"incident": {"title": MAX_TEXT, "description": MAX_TEXT, "touchpoint": MAX_NAME},
            "why": {"statement": MAX_TEXT}}


def _too_long(t: i18n.Translator, form: dict, limits: dict[str, int]) -> tuple[str, dict] | None:
    """The sentence refusing the first field of ``form`` longer than its limit, with the
    form to show again (the fields over their limit left out); None when all fit."""
    over = {name: len(form[name].strip()) for name, limit in limits.items()
            if isinstance(form.get(name), str) and len(form[name].strip()) > limit}
    if not over:
        return None
    name, length = next(iter(over.items()))
    sentence = t("form.too_long", field=t(f"form.field.{name}"), limit=t.number(limits[name]),
                 length=t.number(length))
    return sentence, {k: v for k, v in form.items() if k not in over}


# ---- the app -----------------------------------------------------------------------------

PAGE_MODULES = ("web_map", "web_flow", "web_funnel", "web_journey", "web_personas",
                "web_departments", "web_academy", "web_api")  # each adds routes: register(app, site)


MIN_SECRET_LENGTH = 32
# Secrets that appear in examples and defaults: refused whatever their length.
KNOWN_SECRETS = frozenset({"secret", "changeme", "change-me", "change me", "corridor",
                           "default", "password", "development", "dev", "test"})

# Every response carries these (the pages load scripts and styles from /static only).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # the funnel's bars are sized by a style attribute; <style> elements stay refused
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


def check_secret(secret: str) -> str:
    """The secret that signs session cookies, if it is good enough; else InputError."""
    if not isinstance(secret, str) or not secret.strip():
        raise InputError("The web server needs a non-empty secret to sign its session cookies.")
    if secret.strip().lower() in KNOWN_SECRETS or len(set(secret)) < 8:
        raise InputError("The session secret is a default or guessable value; set"
                         " CORRIDOR_SECRET to a long random string.")
    if len(secret) < MIN_SECRET_LENGTH:
        raise InputError(f"The session secret must have at least {MIN_SECRET_LENGTH}"
                         f" characters; it has {len(secret)}.")
    return secret


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, and the session cookie
    marked Secure when the request came over https (or always, with ``secure_cookies``)."""

    def __init__(self, app, secure_cookies: bool = False):
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        secure = self.secure_cookies or scope.get("scheme") == "https"

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {h for h, _ in SECURITY_HEADERS}]
                if secure:
                    headers = [(k, v + b"; secure") if k.lower() == b"set-cookie"
                               and b"; secure" not in v.lower() else (k, v)
                               for k, v in headers]
                message = {**message, "headers": headers + list(SECURITY_HEADERS)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


log = logging.getLogger("corridor.web")
SERVER_ERROR_DETAIL = "The server failed to answer this request; the failure has been logged."


def _error_answer(scope) -> Response:
    """The answer to a request that failed with an unexpected error: one sentence and
    nothing internal (no traceback, no exception text) — JSON ``detail`` under /api/,
    else a page in the request's language."""
    if scope.get("path", "").startswith("/api/"):
        return JSONResponse({"detail": SERVER_ERROR_DETAIL}, status_code=500)
    query = Request(scope).query_params
    session = scope.get("session") if isinstance(scope.get("session"), dict) else {}
    t = i18n.Translator(i18n.choose(query.get("lang"), session.get("lang")))
    return HTMLResponse(f'<!doctype html><html lang="{t.lang}" dir="{t.direction}">'
                        f"<p>{html.escape(t('error.server'))}</p></html>", status_code=500)


class ErrorAnswers:
    """ASGI middleware: an exception that escapes the app (any route, any middleware
    inside this one) is logged and answered with :func:`_error_answer`, so the answer
    still passes through :class:`SecurityHeaders`. When the answer had already started,
    it cannot be replaced: the exception goes on to the server. With ``reraise`` (the
    in-process report renderer, whose reader may see why a section failed) the exception
    goes on to the caller instead of the one-sentence answer."""

    def __init__(self, app, reraise: bool = False):
        self.app = app
        self.reraise = reraise

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started or self.reraise:
                raise
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            await _error_answer(scope)(scope, receive, send)


class AllowedMethods:
    """ASGI middleware: ``OPTIONS`` on a known path answers 204 with ``Allow`` (every
    method its routes take, and OPTIONS), and a 405 lists in ``Allow`` every method of
    the path, not only those of the first route that matched it."""

    def __init__(self, app, router):
        self.app = app
        self.router = router

    def methods(self, scope) -> set[str]:
        found: set[str] = set()
        for route in self.router.routes:
            methods = getattr(route, "methods", None)
            if methods and route.matches(scope)[0] is not Match.NONE:
                found |= set(methods)
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "OPTIONS":
            methods = self.methods(scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                return await Response(status_code=204, headers={"Allow": allow})(
                    scope, receive, send)

        async def send_allow(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(sorted(self.methods(scope) | {"OPTIONS"})).encode()
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"allow"]
                message = {**message, "headers": headers + [(b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_allow)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(
    project_path: Path,
    *,
    secret: str,
    strict_i18n: bool = False,
    clock: Callable[[], float] = time.monotonic,
    secure_cookies: bool = False,
    users: dict[str, str] | None = None,
    users_role: "Role | str" = "analyst",
    run_token: str | None = None,
    reraise: bool = False,
) -> FastAPI:
    """The web app for the project at ``project_path``; people log in with the
    project's accounts (``corridor user add``).

    ``secret`` signs the session cookie: at least 32 characters, not a default.
    ``clock`` (seconds, monotonic) times sessions and login throttling. With
    ``secure_cookies`` the session cookie is always marked Secure (behind a TLS proxy);
    it is anyway when the request came over https. ``users`` adds in-process accounts
    (name -> password, never stored; the report renderer uses one), with ``users_role``.
    ``run_token`` is this run's own API token, which ``corridor serve`` hands to the
    command line through the serving file (:mod:`corridor.serving`) for loads.
    ``strict_i18n`` makes a message missing from a catalog an error (the tests use it).
    ``reraise`` lets an unexpected failure reach the caller (the report renders in
    process and says why a section failed) instead of a one-sentence 500.
    """
    from .accounts import Credentials, Role, User, hash_password
    from .sessions import SessionStore, Throttle

    check_secret(secret)
    project_path = Path(project_path)
    if not project_path.exists():
        raise InputError(f"There is no project at {project_path}.")
    service: dict[str, Credentials] = {}
    for name, password in (users or {}).items():
        epoch = dt.datetime(1970, 1, 1)
        service[name] = Credentials(User(name, Role.parse(users_role), None, False, epoch,
                                         epoch), hash_password(password))

    app = FastAPI(title="corridor", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE, same_site="lax", https_only=secure_cookies,
    )
    app.add_middleware(AllowedMethods, router=app.router)
    # outermost of ours: every answer, an error's too, gets the security headers
    app.add_middleware(ErrorAnswers, reraise=reraise)
    app.add_middleware(SecurityHeaders, secure_cookies=secure_cookies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    site = Site(project_path, Jinja2Templates(env=env), strict_i18n=strict_i18n,
                sessions=SessionStore(clock=clock), throttle=Throttle(clock=clock),
                service_accounts=service, run_token=run_token)
    app.state.site = site
    render, translator, csrf_ok, forbidden = (site.render, site.translator, site.csrf_ok,
                                              site.forbidden)

    def audit(request: Request, actor: str, action: str, target: str | None = None,
              detail: dict | None = None, project=None) -> None:
        from .audit import record

        if project is not None:
            record(project, actor, action, target, detail, address=_address(request))
        else:
            site.write(lambda p: record(p, actor, action, target, detail,
                                        address=_address(request)))

    @app.exception_handler(CorridorError)
    async def corridor_error(request: Request, exc: CorridorError):
        # One clear sentence, never a traceback (DESIGN.md §6.5): a bad filter or form
        # value is the caller's mistake (400), anything else ours (500). The API answers
        # in JSON, with its own statuses.
        if request.url.path.startswith("/api/"):
            from .web_api import api_error_status

            return JSONResponse({"detail": str(exc)}, status_code=api_error_status(exc))
        status = 400 if isinstance(exc, InputError) else 500
        return HTMLResponse(f"<!doctype html><p>{html.escape(str(exc))}</p>",
                            status_code=status)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request):
        t = translator(request)
        return render(request, "login.html", t, error=None, username="")

    def read_credentials(username: str):
        from .accounts import credentials

        if username in service:
            return service[username]
        return site.read(lambda p: credentials(p, username))

    @app.post("/login")
    async def login(request: Request):
        from .accounts import store_rehash, verify

        t = translator(request)
        ok, form = await csrf_ok(request)
        if not ok:
            return forbidden(t)
        username = str(form.get("username", ""))[:200]
        password = str(form.get("password", ""))
        address = _address(request)
        wait = site.throttle.wait(username, address)
        if wait > 0:  # too early: not even checked
            seconds = math.ceil(wait)
            response = render(request, "login.html", t, status=429,
                              error=t("login.slow_down", seconds=seconds), username=username)
            response.headers["Retry-After"] = str(seconds)
            return response
        found = await run_in_threadpool(read_credentials, username)
        result = await run_in_threadpool(verify, found, password)
        if result.user is None:
            site.throttle.failed(username, address)
            audit(request, username or "-", "login.failed", username)
            return render(request, "login.html", t, status=401,
                          error=t("login.wrong"), username=username)
        user = result.user
        site.throttle.succeeded(username, address)
        lang = t.lang
        session = site.sessions.start(user.user_name, user.role.value, user.department_id,
                                      replacing=request.session.get("sid"))
        request.session.clear()  # a fresh session id (and CSRF token) at every login
        request.session.update({"sid": session.session_id, "lang": lang})

        def log_in(p) -> None:
            if result.rehash and user.user_name not in service:
                store_rehash(p, user.user_name, result.rehash)
            audit(request, user.user_name, "login", user.user_name,
                  {"role": user.role.value}, project=p)

        site.write(log_in)
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        t = translator(request)
        ok, _ = await csrf_ok(request)
        if not ok:
            return forbidden(t)
        principal = site.current(request)
        lang = t.lang
        site.sessions.end(request.session.get("sid"))
        request.session.clear()
        request.session["lang"] = lang
        if principal is not None:
            audit(request, principal.user_name, "logout", principal.user_name)
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        t = translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        return render(request, "overview.html", t, filters=filters,
                      o=site.cached("overview", compute_overview, filters))

    @app.get("/customers", response_class=HTMLResponse)
    def customers_page(request: Request):
        t = translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        return render(request, "customers.html", t,
                      c=site.cached("customers", compute_customers))

    @app.get("/experience", response_class=HTMLResponse)
    def experience_page(request: Request):
        t = translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        return render(request, "experience.html", t,
                      e=site.cached("experience", compute_experience))

    def may_edit(request: Request, touchpoint: str | None,
                 department: str | None = None) -> bool:
        return site.may_edit(site.current(request), touchpoint, department)

    def actions_page(request: Request, t: i18n.Translator, status: int = 200,
                     error: str | None = None, form: dict | None = None):
        incidents, touchpoints = site.cached("actions", read_actions)
        principal = site.current(request)
        editable = [tp for tp in touchpoints if may_edit(request, tp)]
        return render(request, "actions.html", t, status=status, incidents=incidents,
                      touchpoints=editable, error=error, form=form or {},
                      limits=_form_limits(),
                      flat_whys=flat_whys,
                      may_open_incident=bool(editable) or principal.may(Permission.EDIT_ALL),
                      may_edit_incident=lambda i: may_edit(request, i.touchpoint,
                                                           i.department_id))

    @app.get("/actions", response_class=HTMLResponse)
    def actions(request: Request):
        t = translator(request)
        if (redirect := site.allow(request, Permission.COURSE)):
            return redirect
        return actions_page(request, t)

    @app.post("/actions/incidents")
    async def new_incident(request: Request):
        from .incidents import open_incident

        t = translator(request)
        form = await site.checked_form(request, Permission.EDIT_OWN_DEPARTMENT)
        if isinstance(form, Response):
            return form
        if (refused := _too_long(t, form, _form_limits()["incident"])):
            return actions_page(request, t, status=400, error=refused[0], form=refused[1])
        touchpoint = _optional(form, "touchpoint")
        if not may_edit(request, touchpoint):
            return site.not_allowed(t)
        title = _optional(form, "title")
        if title is None:
            return actions_page(request, t, status=400, error=t("actions.title_required"),
                                form=form)
        actor = site.current(request).user_name
        ids: list[int] = []

        def change(p) -> None:
            incident = open_incident(p, title, touchpoint=touchpoint,
                                     description=_optional(form, "description"))
            ids.append(incident.incident_id)
            audit(request, actor, "incident.open", f"incident {incident.incident_id}",
                  {"title": title, "touchpoint": touchpoint}, project=p)

        try:
            site.write(change, forget=INCIDENT_PAGES)
        except InputError:
            return actions_page(request, t, status=400, error=t("actions.invalid"), form=form)
        return RedirectResponse(f"/actions#incident-{ids[0]}", status_code=303)

    @app.post("/actions/incidents/{incident_id}/whys")
    async def new_why(request: Request, incident_id: int):
        from .incidents import add_why

        t = translator(request)
        form = await site.checked_form(request, Permission.EDIT_OWN_DEPARTMENT)
        if isinstance(form, Response):
            return form
        incidents, _ = site.cached("actions", read_actions)
        incident = next((i for i in incidents if i.incident_id == incident_id), None)
        if incident is not None and not may_edit(request, incident.touchpoint,
                                                 incident.department_id):
            return site.not_allowed(t)
        if (refused := _too_long(t, form, _form_limits()["why"])):
            return actions_page(request, t, status=400, error=refused[0])
        statement = _optional(form, "statement")
        if statement is None:
            return actions_page(request, t, status=400,
                                error=t("actions.statement_required"))
        parent = _optional(form, "parent_id")
        if parent is not None and not parent.isdigit():
            return actions_page(request, t, status=400, error=t("actions.invalid"))
        actor = site.current(request).user_name

        def change(p) -> None:
            why = add_why(p, incident_id, statement,
                          parent_id=None if parent is None else int(parent),
                          is_root_cause=form.get("root_cause") == "on")
            audit(request, actor, "why.add", f"incident {incident_id}",
                  {"why_id": why.why_id, "statement": statement,
                   "parent_id": parent, "root_cause": form.get("root_cause") == "on"},
                  project=p)

        try:
            site.write(change, forget=INCIDENT_PAGES)
        except InputError:
            return actions_page(request, t, status=400, error=t("actions.invalid"))
        return RedirectResponse(f"/actions#incident-{incident_id}", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request):
        from .audit import latest

        t = translator(request)
        if (redirect := site.allow(request, Permission.AUDIT)):
            return redirect
        entries = site.read(lambda p: latest(p, AUDIT_PAGE_SIZE))  # never cached
        return render(request, "audit.html", t, entries=entries)

    site.registered.update({"/", "/customers", "/experience", "/actions", "/audit"})
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as missing:
            if missing.name != f"{__package__}.{name}":
                raise
            continue  # a page not built yet
        module.register(app, site)
    return app
