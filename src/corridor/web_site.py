"""What every page of the web app shares: the project it reads, the templates, the
language of the request, the login and CSRF checks, the page cache and the one lock
around project access.

Pages live in their own modules (``web_<page>.py``); each has a ``register(app, site)``
that adds its routes and uses a :class:`Site` for everything else.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from . import i18n
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
)


@dataclass
class Site:
    """The shared state and helpers of one running app."""

    project_path: Path
    templates: Jinja2Templates
    strict_i18n: bool = False
    # One project access at a time: DuckDB will not open a file read-write while this
    # process holds it read-only, and the first request of a page computes it once.
    lock: threading.RLock = field(default_factory=threading.RLock)
    pages: OrderedDict = field(default_factory=OrderedDict)
    registered: set[str] = field(default_factory=set)
    seen_version: tuple = ()

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
            self.seen_version = version

    # ---- computed pages ----------------------------------------------------------------

    def cached(self, name: str, compute: Callable[..., Any],
               filters: PageFilters | None = None, **params: Any) -> Any:
        """The page ``name`` for ``filters`` and the page's own ``params`` (hashable
        values), computed once by ``compute(project_path)``, or
        ``compute(project_path, filters, **params)`` when filters are given, and kept."""
        key = (name, filters, tuple(sorted(params.items())))
        with self.lock:
            self._drop_stale()
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
            value = (compute(self.project_path) if filters is None
                     else compute(self.project_path, filters, **params))
            self.pages[key] = value
            while len(self.pages) > PAGE_CACHE_SIZE:
                self.pages.popitem(last=False)
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

    def write(self, change: Callable[[Any], None], forget: tuple[str, ...] = ()) -> None:
        """Open the project read-write for ``change(project)`` alone, then drop the
        computed pages that show what it changed. (A write by anyone else, seen from the
        project file, drops every computed page.)"""
        from .store import Project

        with self.lock:
            with Project.open(self.project_path) as p:
                change(p)
            self.forget(*forget)
            # our own write: only the pages named change; do not recompute the others
            self.seen_version = self.project_version()

    # ---- requests ----------------------------------------------------------------------

    def translator(self, request: Request) -> i18n.Translator:
        lang = i18n.choose(request.query_params.get("lang"), request.session.get("lang"))
        request.session["lang"] = lang
        return i18n.Translator(lang, strict=self.strict_i18n)

    @staticmethod
    def login_redirect(request: Request) -> Response | None:
        """A redirect to the login page when nobody is signed in, else None."""
        if request.session.get("user"):
            return None
        return RedirectResponse("/login", status_code=303)

    @staticmethod
    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    @staticmethod
    async def csrf_ok(request: Request) -> tuple[bool, dict]:
        form = dict(await request.form())
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        ok = (isinstance(sent, str) and isinstance(expected, str)
              and hmac.compare_digest(sent.encode(), expected.encode()))
        return ok, form

    @staticmethod
    def forbidden(t: i18n.Translator) -> Response:
        return HTMLResponse(t("error.csrf"), status_code=403)

    def filter_choices(self) -> FilterChoices:
        return self.cached("filter_choices", filter_choices)

    def filters(self, request: Request) -> PageFilters:
        return PageFilters.from_query(request.query_params)

    def render(self, request: Request, name: str, t: i18n.Translator, status: int = 200,
               **context) -> Response:
        filters = context.pop("filters", None) or self.filters(request)
        navigation = [(href, key) for href, key in NAVIGATION if href in self.registered]
        return self.templates.TemplateResponse(
            request, name,
            {"t": t, "lang": t.lang, "dir": t.direction, "languages": i18n.LANGUAGES,
             "csrf_token": self.csrf_token(request), "user": request.session.get("user"),
             "path": request.url.path, "navigation": navigation, "filters": filters,
             "query": filters.query(), "filter_choices": self.filter_choices,
             "page_query": urlencode(filters.pairs() + list(context.get("page_params") or [])),
             **context},
            status_code=status,
        )
