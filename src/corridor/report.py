"""One self-contained HTML file with the web app's views, for people without access to
the server: ``corridor report PROJECT --out report.html``.

The report is rendered by the web app itself, in process, so it shows exactly the views
the server shows: every page in the navigation, in one language, with one choice of
filters, as one role sees them (default staff, the least-privileged role that opens the
analytic pages: no customer ids, no customers' own words; see :mod:`corridor.disclosure`).
Pages about the people using corridor (the academy's own progress, the audit log) are
never in a report. Styles are inlined, scripts and forms are left out, links between pages become
links within the file, and nothing is fetched from anywhere when it is opened.
The file is written next to its destination and moved into place, so a crash leaves
either the old file or the new one.

A report is written for any project that opens: a page whose figures the project's
tables cannot give says why in the report's language (the pages' own
:class:`~corridor.web_states.Unavailable` sentences), and a page that fails all the same
becomes a section saying it could not be computed, with the reason; only a project that
cannot be opened (or whose overview cannot be shown) fails the report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import i18n
from .accounts import Role
from .errors import CorridorError, InputError
from .web_filters import PageFilters

STATIC_LINK = re.compile(r'<link rel="stylesheet" href="/static/([\w.-]+\.css)">')
MAIN = re.compile(r"<main>(.*)</main>", re.S)
NAV = re.compile(r'<nav class="pages"[^>]*>(.*?)</nav>', re.S)
PAGE_LINK = re.compile(r'href="(/[\w/-]*)(?:\?[^"#]*)?(#[^"]*)?"')
# pages about the people using corridor, not the company: the academy shows one's own
# course progress, the audit log who signed in from where
PERSONAL_PAGES = frozenset({"/academy", "/audit"})
DEFAULT_ROLE = Role.STAFF  # the least-privileged role that opens the analytic pages
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
REPORT_CSS = """
.report-head { background: var(--paper); border-block-end: 1px solid var(--line);
  padding-block: 0.8rem; padding-inline: 1.2rem; }
.report-head h1 { margin: 0; }
.report-toc a { margin-inline-end: 1rem; color: var(--accent); }
section.report-page { border-block-start: 3px solid var(--line); margin-block-start: 2rem; }
form.filters, form :is(input, select, textarea, button), details.add-why { display: none; }
@media print { section.report-page { break-before: page; } }
"""


@dataclass(frozen=True)
class ReportResult:
    path: Path
    pages: tuple[str, ...]
    language: str
    bytes: int
    failed: tuple[str, ...] = ()  # pages shown as "could not be computed", with the reason
    role: Role = DEFAULT_ROLE  # the report holds what this role may see


def build_report(
    project_path: Path,
    out: Path,
    *,
    language: str = i18n.DEFAULT_LANGUAGE,
    filters: PageFilters = PageFilters(),
    role: Role | str = DEFAULT_ROLE,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Render every page of the web app that ``role`` may open, as ``role`` sees it, for
    ``project_path`` into the file ``out``."""
    role = Role.parse(role)
    if language not in i18n.LANGUAGES:
        raise InputError(
            f"The report language must be one of {', '.join(i18n.LANGUAGES)}; got {language!r}.")
    project_path, out = Path(project_path), Path(out)
    if not project_path.exists():
        raise InputError(f"There is no project at {project_path}.")
    if out.is_dir():
        raise InputError(f"{out} is a folder; give the report a file name.")
    _check_project(project_path)
    # in a thread of its own, so that a caller already inside an event loop can use it
    with ThreadPoolExecutor(max_workers=1) as worker:
        pages = worker.submit(asyncio.run, _render_pages(
            project_path, language, filters, role, progress)).result()
    document = _document(project_path, language, filters, pages, role)
    data = document.encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", delete=False) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, out)
    return ReportResult(out, tuple(p.path for p in pages), language, len(data),
                        failed=tuple(p.path for p in pages if p.failed), role=role)


def _check_project(project_path: Path) -> None:
    """A project that cannot be opened fails the report with one sentence (ProjectError)."""
    from .store import Project

    with Project.open(project_path, read_only=True):
        pass


@dataclass(frozen=True)
class _Page:
    path: str
    title: str
    main: str
    styles: tuple[str, ...]
    failed: bool = False


async def _render_pages(project_path: Path, language: str, filters: PageFilters, role: Role,
                        progress: Callable[[str], None] | None) -> list[_Page]:
    import httpx

    from .web import create_app

    password = secrets.token_urlsafe(24)
    app = create_app(project_path, secret=secrets.token_urlsafe(32),
                     users={"report": password}, users_role=role, reraise=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://report") as client:
        form = (await client.get("/login", params={"lang": language})).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        await client.post("/login", data={"username": "report", "password": password,
                                          "csrf_token": token})
        query = filters.query(lang=language)
        first = await client.get(f"/?{query}")
        _check(first, "/")
        links = NAV.search(first.text)
        paths = [p for p in dict.fromkeys(re.findall(r'href="(/[\w-]*)', links.group(1)))
                 if p not in PERSONAL_PAGES]
        titles = dict(re.findall(r'href="(/[\w-]*)[^"]*"[^>]*>([^<]+)</a>', links.group(1)))
        pages = []
        t = i18n.Translator(language)
        for path in paths:
            if progress:
                progress(path)
            title = html.unescape(titles.get(path, path))
            try:
                answer = first if path == "/" else await client.get(f"{path}?{query}")
                _check(answer, path)
            except Exception as exc:  # noqa: BLE001 - one section, not the whole report
                if path == "/":
                    raise
                pages.append(_failed_page(t, path, title, exc))
                continue
            pages.append(_Page(path, title, MAIN.search(answer.text).group(1),
                               tuple(STATIC_LINK.findall(answer.text))))
    return pages


class _PageFailed(CorridorError):
    """A page answered with an error instead of the page: its one sentence."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"The report could not render {path}: {reason}")
        self.reason = reason


def _check(answer, path: str) -> None:
    if answer.status_code != 200:
        text = html.unescape(re.sub(r"<[^>]+>", "", answer.text).strip())
        raise _PageFailed(path, text[:300])


def _failed_page(t: i18n.Translator, path: str, title: str, exc: Exception) -> _Page:
    """The section of a page that failed: its title and why, in one sentence."""
    if isinstance(exc, _PageFailed):
        reason = exc.reason
    elif isinstance(exc, CorridorError):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    sentence = t("unavailable.page", reason=reason)
    main = (f"<h1>{html.escape(title)}</h1>\n<p class=\"empty unavailable\" "
            f"data-unavailable=\"page\">{html.escape(sentence)}</p>")
    return _Page(path, title, main, (), failed=True)


def anchor(path: str) -> str:
    return "page-" + (path.strip("/") or "overview")


def _within_file(main: str, known: set[str]) -> str:
    """Links to another page become links to its section; a link with a fragment keeps
    the fragment (it names something on that page)."""

    def relink(match: re.Match) -> str:
        path, fragment = match.group(1), match.group(2)
        if fragment:
            return f'href="{fragment}"'
        if path in known:
            return f'href="#{anchor(path)}"'
        return 'href="#"'

    return PAGE_LINK.sub(relink, SCRIPT.sub("", main))


def _document(project_path: Path, language: str, filters: PageFilters,
              pages: list[_Page], role: Role) -> str:
    from .web import STATIC_DIR

    t = i18n.Translator(language)
    styles = ["corridor.css", *dict.fromkeys(s for p in pages for s in p.styles)]
    css = "\n".join((STATIC_DIR / name).read_text(encoding="utf-8")
                    for name in dict.fromkeys(styles)) + REPORT_CSS
    known = {p.path for p in pages}
    toc = " ".join(f'<a href="#{anchor(p.path)}">{html.escape(p.title)}</a>' for p in pages)
    chosen = html.escape(", ".join(f"{k}={v}" for k, v in filters.pairs())) or html.escape(
        t("report.no_filters"))
    made = t.datetime(dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None))
    sections = "\n".join(
        f'<section class="report-page" id="{anchor(p.path)}">{_within_file(p.main, known)}'
        f"</section>" for p in pages)
    return (
        f'<!doctype html>\n<html lang="{language}" dir="{t.direction}">\n<head>\n'
        f'<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, '
        f'initial-scale=1">\n<title>{html.escape(t("report.title"))} · '
        f"{html.escape(project_path.stem)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        f'<header class="report-head"><h1>{html.escape(t("report.title"))} '
        f"<small><bdi>{html.escape(project_path.stem)}</bdi></small></h1>\n"
        f'<p class="muted">{html.escape(t("report.made", when=made))} · '
        f'{html.escape(t("report.filters"))}: <bdi>{chosen}</bdi> · '
        f'{html.escape(t("report.seen_as", role=t(f"role.{role.value}")))}</p>\n'
        f'<nav class="report-toc">{toc}</nav></header>\n<main>\n{sections}\n</main>\n'
        f"</body>\n</html>\n"
    )
