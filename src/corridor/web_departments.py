"""The department scorecards page (``/departments``): where a department's work goes —
its touchpoints, the customers they reach, hand-offs in and out, its incidents and
actions (:func:`corridor.scorecard.department_scorecards`).

Parameter: ``dept`` (a department id; default the first). It is not called
``department`` because the shared filter of that name keeps only a department's events,
and a scorecard needs the others' too (hand-offs in, share of all customers). The
scorecards of every department are computed once per filter choice; choosing a
department only picks one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from .errors import InputError
from .scorecard import Scorecard, Scorecards
from .web_filters import PageFilters
from .web_format import short_duration
from .web_site import Site

MAX_PARAMETER = 200  # characters of a department id in the URL


@dataclass(frozen=True)
class DepartmentsPage:
    scorecards: Scorecards
    computed_at: dt.datetime

    def name(self, department_id: str) -> str:
        """The department's name, or its id when it has none."""
        for c in self.scorecards.cards:
            if c.department_id == department_id:
                return c.name or department_id
        return department_id


def compute_departments(project_path: Path, filters: PageFilters) -> DepartmentsPage:
    """Every department's scorecard for the events that pass ``filters``, read
    read-only. Feedback follows the filters' period, segment and level."""
    from .incidents import list_incidents
    from .scorecard import department_scorecards
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        cards = department_scorecards(
            filters.events(p), touchpoints=p.table("touchpoints"),
            departments=p.table("departments"), customers=p.table("customers"),
            feedback=filters.feedback(p), incidents=list_incidents(p),
        )
    return DepartmentsPage(cards, dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


def chosen_department(page: DepartmentsPage, department: str | None) -> Scorecard | None:
    """The scorecard asked for (the first when none is), or None when there are no
    departments; an unknown department is one :class:`InputError` sentence."""
    cards = page.scorecards.cards
    if department is None or not department.strip():
        return cards[0] if cards else None
    if len(department) > MAX_PARAMETER:
        raise InputError(
            f"The department must be a department id of at most {MAX_PARAMETER} characters."
        )
    return page.scorecards.card(department.strip())


# ---- the chart: touchpoints → customers ---------------------------------------------------

CHART_WIDTH = 720
LABEL_SPACE = 190  # for the names beside each column of nodes
NODE_WIDTH = 14
ROW = 34  # vertical space per node
TOP = 34  # room for the column headings
MAX_NODES = 12  # touchpoints shown (the busiest); the rest are in the table


@dataclass(frozen=True)
class Node:
    label: str  # data (a touchpoint or segment name); empty: "no segment"
    customers: int
    x: float
    y: float
    height: float
    label_x: float
    anchor: str  # text-anchor of the label


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    customers: int
    path: str
    width: float


@dataclass(frozen=True)
class FlowChart:
    width: int
    height: int
    touchpoints: tuple[Node, ...]
    segments: tuple[Node, ...]
    links: tuple[Link, ...]
    heading_left_x: float  # the touchpoints' heading
    heading_right_x: float  # the segments' heading


def flow_chart(card: Scorecard, *, rtl: bool) -> FlowChart | None:
    """Where the department's work goes: its busiest touchpoints (by customers) on the
    start side, the segments of the customers they reach on the end side, a band for
    each touchpoint → segment, as wide as the customers it carries. Mirrored for a
    right-to-left page. None when the department reaches nobody."""
    touchpoints = sorted((t for t in card.touchpoints if t.customers),
                         key=lambda t: (-t.customers, t.touchpoint))[:MAX_NODES]
    if not touchpoints:
        return None
    shown = {t.touchpoint for t in touchpoints}
    if card.reach.flows:
        segments = [(s.segment or "", s.customers) for s in card.reach.segments]
        flows = [(f.touchpoint, f.segment or "", f.customers) for f in card.reach.flows
                 if f.touchpoint in shown]
    else:  # no segments known: every touchpoint flows into "the customers reached"
        segments = [("", card.reach.customers)]
        flows = [(t.touchpoint, "", t.customers) for t in touchpoints]
    rows = max(len(touchpoints), len(segments))
    height = TOP + rows * ROW + 8
    biggest = max([t.customers for t in touchpoints] + [n for _, n in segments]) or 1
    widest = max((n for _, _, n in flows), default=1) or 1

    def mirror(x: float) -> float:
        return CHART_WIDTH - x if rtl else x

    def column(items, x: float, outer: bool) -> list[Node]:
        out = []
        offset = TOP + (rows - len(items)) * ROW / 2
        for i, (label, n) in enumerate(items):
            h = max(4.0, (ROW - 8) * n / biggest)
            y = offset + i * ROW + (ROW - h) / 2
            left = mirror(x) - (NODE_WIDTH if rtl else 0)
            if outer:  # label outside the chart's middle: before a left column
                label_x = mirror(x - 6)
                anchor = "start" if rtl else "end"
            else:
                label_x = mirror(x + NODE_WIDTH + 6)
                anchor = "end" if rtl else "start"
            out.append(Node(label, n, round(left, 1), round(y, 1), round(h, 1),
                            round(label_x, 1), anchor))
        return out

    left_x = LABEL_SPACE
    right_x = CHART_WIDTH - LABEL_SPACE - NODE_WIDTH
    tp_nodes = column([(t.touchpoint, t.customers) for t in touchpoints], left_x, True)
    seg_nodes = column(segments, right_x, False)
    by_tp = {n.label: n for n in tp_nodes}
    by_seg = {n.label: n for n in seg_nodes}
    links = []
    for tp, seg, n in flows:
        a, b = by_tp.get(tp), by_seg.get(seg)
        if a is None or b is None:
            continue
        x1 = mirror(left_x + NODE_WIDTH)
        x2 = mirror(right_x)
        y1, y2 = a.y + a.height / 2, b.y + b.height / 2
        middle = (x1 + x2) / 2
        path = (f"M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} "
                f"{x2:.1f},{y2:.1f}")
        links.append(Link(tp, seg, n, path, round(max(1.0, 16.0 * n / widest), 1)))
    return FlowChart(CHART_WIDTH, int(height), tuple(tp_nodes), tuple(seg_nodes),
                     tuple(links), mirror(left_x + NODE_WIDTH / 2),
                     mirror(right_x + NODE_WIDTH / 2))


def register(app: FastAPI, site: Site) -> None:
    @app.get("/departments", response_class=HTMLResponse)
    def departments_page(request: Request, dept: str | None = None):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        page = site.cached("departments", compute_departments, filters)
        card = chosen_department(page, dept)
        chart = flow_chart(card, rtl=t.direction == "rtl") if card else None
        params = [("dept", card.department_id)] if card else []
        return site.render(request, "departments.html", t, filters=filters,
                           page_params=params, d=page, card=card, chart=chart,
                           duration=short_duration)

    site.registered.add("/departments")
