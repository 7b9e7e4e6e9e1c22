"""The funnel builder page (``/funnel``): any 2 to 8 touchpoints in order, an optional
window from entry, and a breakdown by segment or by the channel of the first step.

Page parameters (kept in the URL next to the shared filters):

- ``step`` (repeated): the funnel's touchpoints in order, each one the project knows;
  without any, the corridor's basic touchpoints (or the most common path's first ones);
- ``within``: whole hours from entry in which every step must be reached (1 to 8760);
- ``by``: ``none``, ``segment`` or ``channel``;
- ``remove``: a step's position to take out; answered with a redirect to the funnel
  without it, so every page shown has a clean address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .errors import InputError
from .funnel import Funnel
from .funnel_breakdown import FunnelBreakdown
from .web_filters import PageFilters
from .web_format import duration
from .web_site import Site
from .web_states import Unavailable, Why, holdings

MIN_STEPS, MAX_STEPS = 2, 8
MAX_WITHIN_HOURS = 8760  # a year
BREAKDOWNS = ("none", "segment", "channel")
TOP_GROUPS = 6  # groups listed in a breakdown; the rest together as "other"
TOP_BETWEEN = 3  # touchpoints listed as visited between two steps


@dataclass(frozen=True)
class FunnelChoices:
    """What the form offers, read once from the whole project (not the filtered view,
    so that a funnel's address means the same under every filter)."""

    touchpoints: tuple[str, ...]
    default_steps: tuple[str, ...]
    unavailable: Unavailable | None = None  # why no default funnel can be drawn


@dataclass(frozen=True)
class FunnelParams:
    steps: tuple[str, ...]
    within_hours: int | None
    by: str

    def pairs(self, steps: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
        """The page's own parameters as query-string pairs (``steps`` instead of the
        chosen ones when given)."""
        out = [("step", s) for s in (self.steps if steps is None else steps)]
        if self.within_hours is not None:
            out.append(("within", str(self.within_hours)))
        if self.by != "none":
            out.append(("by", self.by))
        return out


@dataclass(frozen=True)
class FunnelPage:
    steps: tuple[str, ...]
    within_hours: int | None
    by: str
    funnel: Funnel
    breakdown: FunnelBreakdown | None  # None without a breakdown
    computed_at: dt.datetime


def funnel_choices(project_path: Path) -> FunnelChoices:
    """Every touchpoint of the project and the funnel shown first: the corridor's basic
    touchpoints in their typical order, else the most common path's first steps."""
    from .journeys import analyse
    from .store import Project
    from .stepstore import steps_or_events
    from .company import company_goal

    with Project.open(project_path, read_only=True) as p:
        touchpoints = tuple(r[0] for r in p.con.execute(
            "SELECT DISTINCT touchpoint FROM (SELECT touchpoint FROM events"
            " UNION SELECT touchpoint FROM touchpoints)"
            " WHERE touchpoint IS NOT NULL ORDER BY 1").fetchall())
        has_events = holdings(p).events
        report = analyse(steps_or_events(p), customers=p.table("customers"),
                         touchpoints=p.table("touchpoints"), top=1, goal=company_goal(p))
    default: tuple[str, ...] = ()
    if report.corridor is not None:
        default = tuple(i.touchpoint for i in report.corridor.basic)[:MAX_STEPS]
    if len(default) < MIN_STEPS and report.variants:
        default = tuple(report.variants[0].path)[:MAX_STEPS]
    if len(default) < MIN_STEPS:
        default = touchpoints[:MIN_STEPS]
    unavailable = None
    if len(default) < MIN_STEPS:
        unavailable = Unavailable(Why.FEW_TOUCHPOINTS if has_events else Why.NO_EVENTS)
    elif not has_events:
        unavailable = Unavailable(Why.NO_EVENTS)
    return FunnelChoices(touchpoints, default, unavailable)


def parse_params(query, choices: FunnelChoices) -> FunnelParams:
    """The page's parameters from a query string; a bad one is one InputError."""
    steps = tuple(v.strip() for v in query.getlist("step") if v.strip())
    if not steps:
        steps = choices.default_steps
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise InputError(
            f"A funnel takes {MIN_STEPS} to {MAX_STEPS} steps; got {len(steps)}.")
    known = set(choices.touchpoints)
    for step in steps:
        if step not in known:
            from .company import nearest_known

            raise InputError(f"The step {step[:80]!r} is not a touchpoint of this"
                             f" project{nearest_known(step, known)}.")
    text = (query.get("within") or "").strip()
    within = None
    if text:
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_WITHIN_HOURS:
            raise InputError(
                f"The window 'within' must be a whole number of hours from 1 to"
                f" {MAX_WITHIN_HOURS}; got {text[:40]!r}.")
        within = int(text)
    by = (query.get("by") or "none").strip()
    if by not in BREAKDOWNS:
        raise InputError(
            f"The breakdown 'by' must be none, segment or channel; got {by[:40]!r}.")
    return FunnelParams(steps, within, by)


def compute_funnel(project_path: Path, filters: PageFilters, *, steps: tuple[str, ...],
                   within: int | None, by: str) -> FunnelPage:
    """The funnel over ``steps`` for the events that pass ``filters``, from the library,
    reading the project read-only."""
    from .funnel import funnel
    from .funnel_breakdown import funnel_by
    from .store import Project

    window = None if within is None else timedelta(hours=within)
    with Project.open(project_path, read_only=True) as p:
        events = filters.journeys(p)
        if by == "none":
            breakdown = None
            result = funnel(events, steps, within=window, top_between=TOP_BETWEEN)
        else:
            breakdown = funnel_by(events, steps, by=by, customers=p.table("customers"),
                                  touchpoints=p.table("touchpoints"), within=window,
                                  top=TOP_GROUPS, top_between=TOP_BETWEEN)
            result = breakdown.overall
    return FunnelPage(steps, within, by, result, breakdown,
                      dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


def _url(filters: PageFilters, pairs: list[tuple[str, str]]) -> str:
    return "/funnel?" + urlencode(filters.pairs() + pairs)


def _next_step(params: FunnelParams, choices: FunnelChoices) -> str:
    """The touchpoint an added step starts with: the next corridor touchpoint not yet in
    the funnel, else any unused one, else the last step again."""
    for name in (*choices.default_steps, *choices.touchpoints):
        if name not in params.steps:
            return name
    return params.steps[-1]


def register(app: FastAPI, site: Site) -> None:
    @app.get("/funnel", response_class=HTMLResponse)
    def funnel_page(request: Request):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        choices = site.cached("funnel_choices", funnel_choices)
        if choices.unavailable is not None and not request.query_params.getlist("step"):
            # no funnel to show by default: the page says why instead of failing
            return site.render(request, "funnel.html", t, filters=filters, f=None,
                               unavailable=choices.unavailable)
        params = parse_params(request.query_params, choices)
        remove = (request.query_params.get("remove") or "").strip()
        if remove:
            if not remove.isascii() or not remove.isdigit() \
                    or not 1 <= int(remove) <= len(params.steps):
                raise InputError(
                    f"The step to remove must be a position from 1 to"
                    f" {len(params.steps)}; got {remove[:40]!r}.")
            if len(params.steps) <= MIN_STEPS:
                raise InputError(f"A funnel keeps at least {MIN_STEPS} steps.")
            kept = tuple(s for i, s in enumerate(params.steps, 1) if i != int(remove))
            return RedirectResponse(_url(filters, params.pairs(kept)), status_code=303)
        data = site.cached("funnel", compute_funnel, filters, steps=params.steps,
                           within=params.within_hours, by=params.by)
        removes = [
            _url(filters, params.pairs(params.steps[:i] + params.steps[i + 1:]))
            if len(params.steps) > MIN_STEPS else None
            for i in range(len(params.steps))
        ]
        return site.render(
            request, "funnel.html", t, filters=filters, page_params=params.pairs(),
            f=data, choices=choices, params=params, removes=removes,
            add_step=_next_step(params, choices) if len(params.steps) < MAX_STEPS else None,
            max_steps=MAX_STEPS, max_within=MAX_WITHIN_HOURS, breakdowns=BREAKDOWNS,
            duration=lambda seconds: duration(t, seconds),
        )

    site.registered.add("/funnel")
