"""The journey map page (``/journey``): stages as columns, touchpoints as cards in them
coloured by the measure chosen (``metric``: volume, wait, conversion, satisfaction), an
emotion curve across the stages as inline SVG (a stage without feedback reads "no data",
with no point and a break in the line; so does every other figure that has no value), and the pains and opportunities of
:func:`corridor.journeymap.journey_map` with their evidence.

The map is computed once per filter choice; the heat colouring is chosen at render time,
so changing it costs no computation. The select works as a plain GET form and, with
htmx, swaps the page's main part in place.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from . import i18n
from .errors import AnalysisError, InputError
from .journeymap import JourneyMap
from .web_filters import PageFilters
from .web_format import short_duration
from .web_site import Site

METRICS = ("volume", "wait", "conversion", "satisfaction")
DEFAULT_METRIC = "volume"
HEAT_LEVELS = 5
# what a darker colour means: more of something neutral, worse, or better
TONES = {"volume": "seq", "wait": "bad", "conversion": "div", "satisfaction": "div"}

CURVE_WIDTH, CURVE_HEIGHT = 720.0, 200.0
CURVE_PAD_X, CURVE_PAD_TOP, CURVE_PAD_BOTTOM = 56.0, 16.0, 40.0


@dataclass(frozen=True)
class JourneyPage:
    map: JourneyMap | None  # None: no event passes the filters
    computed_at: dt.datetime
    journey: str | None = None  # the journey type mapped; None: every case (no model)
    journeys: tuple[str, ...] = ()  # the company model's journey types, to choose from


def compute_journey(project_path: Path, filters: PageFilters = PageFilters(),
                    journey: str | None = None) -> JourneyPage:
    """The journey map of the cases of one journey type (``journey``, else the company
    model's first purchase journey; every case when the model declares none) among the
    events that pass ``filters``, read read-only, with the feedback of the filters'
    period, segments and levels. A purchase journey converts at its goal; a service
    journey without a goal touchpoint converts by continuing to a later stage."""
    from .company import JourneyKind, company_model
    from .journey_types import cases_of
    from .journeymap import journey_map
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        model = company_model(p)
        chosen = model.journey(journey) if journey else next(
            iter(model.of_kind(JourneyKind.PURCHASE) or model.journeys), None)
        events = filters.events(p)
        touchpoints = p.table("touchpoints")
        if chosen is not None:
            events = cases_of(events, model, chosen, touchpoints, typed_from=p.table("events"))
        feedback = filters.feedback(p)
        try:
            result = journey_map(events, touchpoints=touchpoints, feedback=feedback,
                                 customers=p.table("customers"),
                                 goal=(chosen.goal or None) if chosen else None)
        except AnalysisError:  # nothing passes the filters
            result = None
    return JourneyPage(result, dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                       chosen.name if chosen else None, tuple(j.name for j in model.journeys))


def chosen_journey(request: Request, known: tuple[str, ...]) -> str | None:
    """The ``journey`` query parameter, one of the model's journey types (or None)."""
    value = (request.query_params.get("journey") or "").strip()
    if not value:
        return None
    if value not in known:
        raise InputError(f"The journey type must be one of {', '.join(known) or 'none declared'};"
                         f" got {value[:40]!r}.")
    return value


def journey_types(project_path: Path) -> tuple[str, ...]:
    from .company import company_model
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        return tuple(j.name for j in company_model(p).journeys)


def chosen_metric(request: Request) -> str:
    value = (request.query_params.get("metric") or DEFAULT_METRIC).strip()
    if value not in METRICS:
        raise InputError(
            f"The heat metric must be one of {', '.join(METRICS)}; got {value[:40]!r}.")
    return value


# ---- heat colouring ---------------------------------------------------------------------------


def heat_levels(journey: JourneyMap, metric: str) -> dict[str, int | None]:
    """Per touchpoint its heat level 0..4 for ``metric`` (None: no value). Volume and
    wait are relative to the largest on the map (wait on a log scale, since waits run
    from seconds to days); conversion and satisfaction are absolute (0..1, -1..1)."""
    cells = journey.cells
    values: dict[str, float | None] = {}
    if metric == "volume":
        top = max((c.cases for c in cells), default=0)
        values = {c.touchpoint: c.cases / top if top else None for c in cells}
    elif metric == "wait":
        waits = {c.touchpoint: c.median_wait_seconds for c in cells}
        top = max((math.log1p(w) for w in waits.values() if w), default=0.0)
        values = {t: (math.log1p(w) / top if top and w is not None else None)
                  for t, w in waits.items()}
    elif metric == "conversion":
        values = {c.touchpoint: c.conversion for c in cells}
    else:
        values = {c.touchpoint: None if c.satisfaction is None else (c.satisfaction + 1) / 2
                  for c in cells}
    return {t: None if v is None else min(HEAT_LEVELS - 1, max(0, int(v * HEAT_LEVELS)))
            for t, v in values.items()}


# ---- the emotion curve ------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    stage: str  # the stage's name ("unstaged" for the unstaged column)
    emotion: float | None
    cases: int
    x: float
    y: float | None


@dataclass(frozen=True)
class EmotionCurve:
    width: float
    height: float
    bound: float  # the axis runs from -bound to +bound
    points: tuple[CurvePoint, ...]
    lines: tuple[str, ...]  # polyline "x,y x,y" of each run of stages with an emotion
    zero_y: float
    top_y: float
    bottom_y: float
    axis_x: float  # where the axis labels sit (the start side)
    label_y: float
    right_to_left: bool


def emotion_curve(journey: JourneyMap, right_to_left: bool = False) -> EmotionCurve:
    """The emotion of each stage as points across the width (mirrored right to left),
    joined only where neighbouring stages both have one. A stage without feedback has no
    emotion and no point (``y`` None): the page writes "no data" there and the line
    breaks, rather than drawing it at 0 or bridging the gap with a guess. The axis is symmetric, from -bound to
    +bound, with bound the largest emotion rounded up to a quarter (at least 0.5)."""
    stages = journey.stages
    found = [abs(s.emotion) for s in stages if s.emotion is not None]
    bound = max(0.5, math.ceil(max(found, default=0.0) * 4) / 4)
    bound = min(bound, 1.0)
    top, bottom = CURVE_PAD_TOP, CURVE_HEIGHT - CURVE_PAD_BOTTOM
    middle = (top + bottom) / 2
    span = CURVE_WIDTH - 2 * CURVE_PAD_X
    points, lines, run = [], [], []
    for k, s in enumerate(stages):
        x = CURVE_PAD_X + (k + 0.5) * span / max(1, len(stages))
        if right_to_left:
            x = CURVE_WIDTH - x
        y = None if s.emotion is None else middle - s.emotion / bound * (middle - top)
        points.append(CurvePoint(s.name, s.emotion, s.cases, round(x, 1),
                                 None if y is None else round(y, 1)))
        if y is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
        else:
            run.append(f"{x:.1f},{y:.1f}")
    if len(run) > 1:
        lines.append(" ".join(run))
    axis_x = CURVE_WIDTH - CURVE_PAD_X + 8 if right_to_left else CURVE_PAD_X - 8
    return EmotionCurve(CURVE_WIDTH, CURVE_HEIGHT, bound, tuple(points), tuple(lines),
                        middle, top, bottom, axis_x, bottom + 24, right_to_left)


# ---- text helpers -----------------------------------------------------------------------------


def bdi(value) -> Markup:
    """A data value, isolated for bidirectional text."""
    return Markup("<bdi>{}</bdi>").format(value)


def rich(t: i18n.Translator, key: str, **values) -> Markup:
    """A message with its values filled in as escaped HTML (so data can be <bdi>)."""
    return Markup(escape(t(key))).format(**values)


# ---- the route --------------------------------------------------------------------------------


def register(app: FastAPI, site: Site) -> None:
    @app.get("/journey", response_class=HTMLResponse)
    def journey_page(request: Request):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        metric = chosen_metric(request)
        kind = chosen_journey(request, site.cached("journey_types", journey_types))
        data = site.cached("journey", compute_journey, filters, journey=kind)
        journey = data.map
        params = [("metric", metric)] + ([("journey", kind)] if kind else [])
        return site.render(
            request, "journey.html", t, filters=filters, page_params=params,
            j=data, metric=metric, metrics=METRICS, tone=TONES[metric],
            heat={} if journey is None else heat_levels(journey, metric),
            curve=None if journey is None else emotion_curve(journey, t.direction == "rtl"),
            duration=lambda seconds: short_duration(t, seconds), bdi=bdi,
            rich=lambda key, **values: rich(t, key, **values),
            heat_levels=range(HEAT_LEVELS),
        )

    site.registered.add("/journey")
