"""What every page of the web app shares: the project it reads, the templates, the
language of the request, who is signed in (server-side sessions), what their role may
open (:meth:`Site.allow`), the CSRF checks, the page cache and the shared lock around
project access (pages compute side by side; a write waits for them and goes alone).

Pages live in their own modules (``web_<page>.py``); each has a ``register(app, site)``
that adds its routes and uses a :class:`Site` for everything else.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from . import i18n
from .accounts import Permission, Role, may
from .company import Labeller, Labels, project_labels
from .sessions import Session, SessionStore, Throttle
from .web_filters import FilterChoices, PageFilters, filter_choices

PAGE_CACHE_SIZE = 64  # computed pages kept per process (each filter choice is one)

# The navigation bar, in order: (path, message key). A page appears once it is registered.
NAVIGATION = (
    ("/", "nav.overview"),
    ("/map", "nav.map"),
    ("/flow", "nav.flow"),
    ("/funnel", "nav.funnel"),
    ("/journey", "nav.journey"),
    ("/customers", "nav.customers"),
    ("/experience", "nav.experience"),
    ("/personas", "nav.personas"),
    ("/departments", "nav.departments"),
    ("/actions", "nav.actions"),
    ("/academy", "nav.academy"),
    ("/maturity", "nav.maturity"),
    ("/audit", "nav.audit"),
)

# What a role needs to open each page (a page not listed needs AGGREGATES). Customer PII
# (names, emails, phones, feedback texts, quotes) is left out of a page for roles without
# CUSTOMER_PII (the personas page hides its quotes).
PAGE_PERMISSIONS: dict[str, Permission] = {
    "/actions": Permission.COURSE,
    "/audit": Permission.AUDIT,
    "/academy": Permission.COURSE,
    "/maturity": Permission.ASSESS_MATURITY,
}


@dataclass(frozen=True)
class Principal:
    """Who is signed in on this request."""

    user_name: str
    role: Role
    department_id: str | None
    session: Session | None  # None: signed in with an API token, not a browser session

    def may(self, permission: Permission) -> bool:
        return may(self.role, permission)


class SharedLock:
    """Many holders of the shared side at once, or one of the exclusive side. A waiting
    exclusive holder does not hold up new shared ones: a request may take the shared side
    again further down its own stack. A thread must not ask for the exclusive side while
    it holds the shared one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            while self._exclusive:
                self._changed.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._changed:
                self._shared -= 1
                self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._changed:
            while self._exclusive or self._shared:
                self._changed.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._changed:
                self._exclusive = False
                self._changed.notify_all()


def _project_labels(project_path: Path) -> Labels:
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        return project_labels(p)


def _touchpoint_departments(project_path: Path) -> dict[str, str | None]:
    """Each touchpoint's department, read read-only."""
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        return dict(p.con.execute(
            "SELECT touchpoint, any_value(department_id) FROM touchpoints GROUP BY 1"
        ).fetchall())


@dataclass
class Site:
    """The shared state and helpers of one running app."""

    project_path: Path
    templates: Jinja2Templates
    strict_i18n: bool = False
    # The page cache's bookkeeping.
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Opening the project: read-only opens share it, and a read-write open waits until
    # none is open (DuckDB will not open a file read-write while this process has it open
    # read-only), so pages compute side by side and never beside a write.
    access: SharedLock = field(default_factory=SharedLock)
    pages: OrderedDict = field(default_factory=OrderedDict)
    computing: dict = field(default_factory=dict)  # key -> Future of a page being computed
    generation: int = 0  # counts drops: a page computed across one is not kept
    registered: set[str] = field(default_factory=set)
    seen_version: tuple = ()
    sessions: SessionStore = field(default_factory=SessionStore)
    throttle: Throttle = field(default_factory=Throttle)
    # in-process accounts (name -> Credentials), e.g. the report renderer's
    service_accounts: dict = field(default_factory=dict)
    # this run's own API token (corridor serve's serving file), for command-line loads
    run_token: str | None = None
    accounts_version: tuple = ()

    def project_version(self) -> tuple:
        """Size and modification time of the project file and its write-ahead log: when
        they change, someone (this app or a command line) wrote to the project."""
        version = []
        for path in (self.project_path, Path(f"{self.project_path}.wal")):
            try:
                info = path.stat()
            except FileNotFoundError:
                version.append(None)
            else:
                version.append((info.st_size, info.st_mtime_ns))
        return tuple(version)

    def _drop_stale(self) -> None:
        version = self.project_version()
        if version != self.seen_version:
            self.pages.clear()
            self.generation += 1
            self.seen_version = version

    def read(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(project)`` on the project opened read-only for it alone, beside other
        readers (for what is read fresh every time, outside :meth:`cached`)."""
        from .store import Project

        with self.access.shared():
            with Project.open(self.project_path, read_only=True) as p:
                return fn(p)

    # ---- computed pages ----------------------------------------------------------------

    def cached(self, name: str, compute: Callable[..., Any],
               filters: PageFilters | None = None, **params: Any) -> Any:
        """The page ``name`` for ``filters`` and the page's own ``params`` (hashable
        values), computed once by ``compute(project_path)``, or
        ``compute(project_path, filters, **params)`` when filters are given, and kept.
        Different pages compute side by side; a request for a page being computed waits
        for that computation instead of starting another."""
        key = (name, filters, tuple(sorted(params.items())))
        with self.lock:
            self._drop_stale()
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
            running = self.computing.get(key)
            if running is not None:  # another request computes it: wait for its answer
                owner = False
            else:
                running = self.computing[key] = Future()
                generation, owner = self.generation, True
        if not owner:
            return running.result()
        try:
            with self.access.shared():
                value = (compute(self.project_path) if filters is None
                         else compute(self.project_path, filters, **params))
        except BaseException as error:
            with self.lock:
                del self.computing[key]
            running.set_exception(error)
            raise
        with self.lock:
            del self.computing[key]
            if generation == self.generation:  # nothing was dropped meanwhile
                self.pages[key] = value
                while len(self.pages) > PAGE_CACHE_SIZE:
                    self.pages.popitem(last=False)
        running.set_result(value)
        return value

    def computed(self, name: str, filters: PageFilters | None = None, **params: Any) -> Any:
        """The page ``name`` if it has been computed and kept, else None."""
        with self.lock:
            return self.pages.get((name, filters, tuple(sorted(params.items()))))

    def forget(self, *names: str) -> None:
        """Drop the computed pages called ``names`` (every filter choice of each)."""
        with self.lock:
            for key in [k for k in self.pages if k[0] in names]:
                del self.pages[key]
            self.generation += 1

    @contextmanager
    def held(self) -> Iterator[Any]:
        """The project open read-write for a long write (a load). It is opened while no
        request has the file open (they all open it under ``access``); until it closes,
        requests read the last commit through it instead of waiting."""
        from .store import Project

        stack = ExitStack()
        with self.access.exclusive():
            project = stack.enter_context(Project.held(self.project_path))
        with stack:
            yield project

    def forget_all(self) -> None:
        """Drop every computed page (after a load: every page may show it)."""
        with self.lock:
            self.pages.clear()
            self.generation += 1

    def write(self, change: Callable[[Any], None], forget: tuple[str, ...] = ()) -> None:
        """Open the project read-write for ``change(project)`` alone, then drop the
        computed pages that show what it changed. (A write by anyone else, seen from the
        project file, drops every computed page.)"""
        from .store import Project

        with self.access.exclusive():
            with Project.open(self.project_path) as p:
                change(p)
            with self.lock:
                self.forget(*forget)
                # our own write: only the pages named change; do not recompute the others
                self.seen_version = self.project_version()

    # ---- requests ----------------------------------------------------------------------

    def translator(self, request: Request) -> i18n.Translator:
        lang = i18n.choose(request.query_params.get("lang"), request.session.get("lang"))
        request.session["lang"] = lang
        return i18n.Translator(lang, strict=self.strict_i18n)

    # ---- who is signed in ----------------------------------------------------------

    def _sync_accounts(self) -> None:
        """When the project changed (a command line or this app wrote to it), end the
        sessions of users who were disabled, removed or given another role."""
        from .accounts import list_users

        version = self.project_version()
        if version == self.accounts_version:
            return
        users = {u.user_name: u for u in self.read(list_users)}
        self.accounts_version = version
        for name in self.sessions.users():
            if name in self.service_accounts:
                continue
            user = users.get(name)
            for session in self.sessions.sessions_of(name):
                if (user is None or user.disabled or user.role.value != session.role
                        or user.department_id != session.department_id):
                    self.sessions.end(session.session_id)

    def current(self, request: Request) -> Principal | None:
        """The signed-in user of ``request``, or None (no session, or it timed out or
        was ended)."""
        if "principal" in request.scope.get("state", {}):
            return request.state.principal
        principal = None
        session_id = request.session.get("sid")
        if session_id:
            self._sync_accounts()
            session = self.sessions.get(session_id)
            if session is None:
                request.session.pop("sid", None)
            else:
                principal = Principal(session.user_name, Role(session.role),
                                      session.department_id, session)
        request.state.principal = principal
        return principal

    def login_redirect(self, request: Request) -> Response | None:
        """For a page: a redirect to the login page when nobody is signed in, a 403
        page when the user's role may not open this page (PAGE_PERMISSIONS), else None."""
        return self.allow(request, PAGE_PERMISSIONS.get(request.url.path,
                                                        Permission.AGGREGATES))

    def allow(self, request: Request, permission: Permission) -> Response | None:
        """None when the signed-in user's role has ``permission``; else a redirect to the
        login page (nobody signed in) or a 403 page (a role without it)."""
        principal = self.current(request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        if principal.may(permission):
            return None
        return self.not_allowed(self.translator(request))

    @staticmethod
    def not_allowed(t: i18n.Translator) -> Response:
        """The 403 page for a role that may not do this."""
        return HTMLResponse(f"<!doctype html><p>{t('error.not_allowed')}</p>", status_code=403)

    def may_open(self, request: Request, path: str) -> bool:
        principal = self.current(request)
        return principal is not None and principal.may(
            PAGE_PERMISSIONS.get(path, Permission.AGGREGATES))

    # ---- department scopes -------------------------------------------------------------

    def touchpoint_departments(self) -> dict[str, str | None]:
        """Each touchpoint's department (kept like a page)."""
        return self.cached("touchpoint_departments", _touchpoint_departments)

    def may_edit(self, principal: Principal | None, touchpoint: str | None,
                 department: str | None = None) -> bool:
        """Whether ``principal`` may edit an incident of ``touchpoint`` (or of
        ``department`` when given): department heads only their department's."""
        from .accounts import may_edit_department

        if principal is None:
            return False
        if department is None and touchpoint is not None:
            department = self.touchpoint_departments().get(touchpoint)
        return may_edit_department(principal.role, principal.department_id, department)

    def csrf_token(self, request: Request) -> str:
        principal = self.current(request)
        if principal is not None and principal.session is not None:
            return principal.session.csrf
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def csrf_ok(self, request: Request) -> tuple[bool, dict]:
        form = dict(await request.form())
        sent = form.get("csrf_token")
        principal = self.current(request)
        expected = (principal.session.csrf if principal is not None and principal.session
                    else request.session.get("csrf"))
        ok = (isinstance(sent, str) and isinstance(expected, str)
              and hmac.compare_digest(sent.encode(), expected.encode()))
        return ok, form

    async def checked_form(self, request: Request, permission: Permission) -> dict | Response:
        """The form of a state-changing request whose sender's role has ``permission``
        and whose CSRF token is the session's; else the response refusing it (the login
        page, or 403)."""
        if (refused := self.allow(request, permission)):
            return refused
        ok, form = await self.csrf_ok(request)
        return form if ok else self.forbidden(self.translator(request))

    @staticmethod
    def forbidden(t: i18n.Translator) -> Response:
        return HTMLResponse(t("error.csrf"), status_code=403)

    def labels(self) -> Labels:
        """The project's display names (company model and reference files), kept like a
        page until the data changes."""
        return self.cached("labels", _project_labels)

    def filter_choices(self) -> FilterChoices:
        return self.cached("filter_choices", filter_choices)

    def filters(self, request: Request) -> PageFilters:
        return PageFilters.from_query(request.query_params)

    def render(self, request: Request, name: str, t: i18n.Translator, status: int = 200,
               **context) -> Response:
        filters = context.pop("filters", None) or self.filters(request)
        principal = self.current(request)
        navigation = [(href, key) for href, key in NAVIGATION
                      if href in self.registered and self.may_open(request, href)]
        return self.templates.TemplateResponse(
            request, name,
            {"t": t, "lang": t.lang, "dir": t.direction, "languages": i18n.LANGUAGES,
             "label": Labeller(self.labels(), t.lang),
             "csrf_token": self.csrf_token(request),
             "user": principal.user_name if principal else None,
             "role": principal.role.value if principal else None,
             "may": (lambda p: principal is not None and principal.may(Permission(p))),
             "path": request.url.path, "navigation": navigation, "filters": filters,
             "query": filters.query(), "filter_choices": self.filter_choices,
             "page_query": urlencode(filters.pairs() + list(context.get("page_params") or [])),
             **context},
            status_code=status,
        )
