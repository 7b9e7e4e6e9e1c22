"""The user flow page (``/flow``): a Sankey of where cases go after their first visit to
a touchpoint, or where they come from before it.

Parameters: ``touchpoint`` (default: the touchpoint most cases start at), ``direction``
(``after`` or ``before``) and ``depth`` (1 to 8 steps). The form updates the chart with
htmx (the route answers an htmx request with the page body alone) and works without
JavaScript as a plain GET form. The chart is inline SVG laid out by :mod:`corridor.sankey`
with ``<title>`` tooltips; time runs in the reading direction, so "before" flows towards
the touchpoint and Arabic mirrors the columns.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from ibis import _

from .errors import InputError
from .sankey import Band, Link, Node, PlacedNode, SankeyLayout, layout
from .userflow import MAX_DEPTH, Direction, FlowLink, FlowNode, NodeKind, UserFlow
from .web_filters import PageFilters
from .web_site import Site
from .web_states import Unavailable, Why, project_holdings

DEFAULT_DEPTH = 3
TOP = 8  # touchpoints per level with a node of their own
PATHS = 10  # rows of the top-paths table

# Chart geometry (SVG user units; the SVG scales to the page width).
CHART_WIDTH = 960.0
CHART_HEIGHT = 420.0
HEADER = 26.0  # room above the nodes for the column headings
NODE_WIDTH = 14.0
GAP = 10.0
LABEL_GAP = 5.0
LABEL_ROOM = 150.0  # a margin beyond the last column for its labels
CHAR_WIDTH = 6.0  # the average width of one 12-unit character, rounded up
MIN_LABELLED = 4.0  # nodes thinner than this get no label (their tooltip remains)
COLOURS = 10  # palette classes c0..c9 in flow.css


@dataclass(frozen=True)
class ChartNode:
    placed: PlacedNode
    node: FlowNode
    name: str | None  # the touchpoint, shortened to fit between columns; None: not one
    label_x: float
    label_side: str  # "right" or "left": where the label's text runs from label_x
    labelled: bool
    colour: str  # a CSS class


@dataclass(frozen=True)
class ChartBand:
    band: Band
    link: FlowLink
    colour: str


@dataclass(frozen=True)
class ColumnHeading:
    x: float
    level: int
    side: str  # "middle": centred on x; "right" or "left": the text runs that way from x


@dataclass(frozen=True)
class FlowChart:
    width: float
    height: float
    top: float  # the nodes start this far down (the headings sit above)
    nodes: tuple[ChartNode, ...]
    bands: tuple[ChartBand, ...]
    headings: tuple[ColumnHeading, ...]


@dataclass(frozen=True)
class FlowPage:
    touchpoint: str | None  # None: no case passes the filters
    direction: Direction
    depth: int
    flow: UserFlow | None  # None: no case passes the filters or visits the touchpoint
    left_to_right: FlowChart | None
    right_to_left: FlowChart | None

    def chart(self, direction: str) -> FlowChart | None:
        return self.right_to_left if direction == "rtl" else self.left_to_right


# ---- the page's data -------------------------------------------------------------------


def project_touchpoints(project_path: Path) -> tuple[str, ...]:
    """Every touchpoint the project declares or has events at, sorted."""
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        rows = p.con.execute(
            "SELECT touchpoint FROM touchpoints WHERE touchpoint IS NOT NULL"
            " UNION SELECT DISTINCT touchpoint FROM events WHERE touchpoint IS NOT NULL"
            " ORDER BY 1").fetchall()
    return tuple(r[0] for r in rows)


def compute_flow(project_path: Path, filters: PageFilters, *, touchpoint: str | None,
                 direction: Direction, depth: int) -> FlowPage:
    """The flow for the events that pass ``filters``, reading the project read-only;
    with no ``touchpoint``, from the touchpoint most cases start at."""
    from .steps import as_steps
    from .store import Project
    from .userflow import user_flow

    with Project.open(project_path, read_only=True) as p:
        steps = as_steps(filters.journeys(p))  # stored when nothing is filtered
        with steps.cached() as ordered:
            if touchpoint is None:
                touchpoint = most_common_start(ordered)
            if touchpoint is None or ordered.codes.code_of(touchpoint) is None:
                return FlowPage(touchpoint, direction, depth, None, None, None)
            flow = user_flow(ordered, touchpoint, direction=direction, depth=depth, top=TOP,
                             paths=PATHS)
    return FlowPage(touchpoint, direction, depth, flow,
                    flow_chart(flow, mirror=False), flow_chart(flow, mirror=True))


def most_common_start(steps) -> str | None:
    """The touchpoint most cases start at (ties by name), or None without events."""
    t = steps.table
    first = t.filter(t.step == 1)
    counts = first.group_by("code").aggregate(cases=_.count())
    rows = counts.order_by([counts.cases.desc(), counts.code]).limit(1).to_pyarrow().to_pylist()
    return steps.codes.touchpoints[rows[0]["code"]] if rows else None


# ---- the chart ---------------------------------------------------------------------------


def flow_chart(flow: UserFlow, *, mirror: bool) -> FlowChart:
    """The Sankey of ``flow``: one column per level with time running left to right
    (right to left when ``mirror``), so a "before" flow ends at the touchpoint. Every
    label runs forward in time from its node; the last column's labels run into a
    margin kept free for them."""
    last = len(flow.levels) - 1
    before = flow.direction is Direction.BEFORE

    def column(level: int) -> int:
        return last - level if before else level

    nodes = [Node(n.id, column(n.level), float(n.cases), last=n.kind is not NodeKind.TOUCHPOINT)
             for n in flow.nodes]
    links = [Link(link.target.id, link.source.id, float(link.cases)) if before
             else Link(link.source.id, link.target.id, float(link.cases))
             for link in flow.links]
    inner = CHART_WIDTH - LABEL_ROOM
    drawn: SankeyLayout = layout(nodes, links, width=inner, height=CHART_HEIGHT,
                                 node_width=NODE_WIDTH, gap=GAP, mirror=mirror)
    shift = LABEL_ROOM if mirror else 0.0  # the label margin is on the left when mirrored
    by_id = {n.id: n for n in flow.nodes}
    links_by_ends = {(b.source.id, b.target.id): b for b in flow.links}

    spacing = (inner - NODE_WIDTH) / last if last else inner
    placed_nodes = []
    for placed in drawn.nodes:
        node = by_id[placed.key]
        moved = PlacedNode(placed.key, placed.column, placed.value, placed.x + shift,
                           placed.y + HEADER, placed.width, placed.height)
        room = LABEL_ROOM if placed.column == drawn.columns - 1 else spacing - NODE_WIDTH
        room_chars = max(int((room - 2 * LABEL_GAP) / CHAR_WIDTH) - 4, 6)  # 4: the share
        x = moved.x - LABEL_GAP if mirror else moved.x + moved.width + LABEL_GAP
        name = shortened(node.touchpoint, room_chars) if node.touchpoint is not None else None
        placed_nodes.append(ChartNode(
            placed=moved, node=node, name=name, label_x=x,
            label_side="left" if mirror else "right",
            labelled=placed.height >= MIN_LABELLED, colour=colour_of(node)))

    bands = []
    for band in drawn.bands:
        key = (band.target, band.source) if before else (band.source, band.target)
        link = links_by_ends[key]
        far = link.target  # the end away from the touchpoint gives the colour
        bands.append(ChartBand(
            Band(band.source, band.target, band.value, band.x0 + shift, band.y0 + HEADER,
                 band.x1 + shift, band.y1 + HEADER, band.width),
            link, colour_of(far)))

    headings = []
    for c in range(drawn.columns):
        x = shift + (c * spacing if not mirror else inner - NODE_WIDTH - c * spacing)
        level = last - c if before else c
        if c == 0:  # the first heading starts at its column's outer edge
            headings.append(ColumnHeading(x + NODE_WIDTH if mirror else x, level,
                                          "left" if mirror else "right"))
        else:
            headings.append(ColumnHeading(x + NODE_WIDTH / 2, level, "middle"))
    return FlowChart(CHART_WIDTH, CHART_HEIGHT + HEADER, HEADER, tuple(placed_nodes),
                     tuple(bands), tuple(headings))


def colour_of(node: FlowNode) -> str:
    """The same touchpoint has the same colour in every column and on every page."""
    if node.kind is NodeKind.TOUCHPOINT:
        return f"c{zlib.crc32(node.touchpoint.encode('utf-8')) % COLOURS}"
    return "other" if node.kind is NodeKind.OTHER else "edge"


def node_name(t, node: FlowNode) -> str:
    """What a reader calls ``node``: its touchpoint, or our words for the others."""
    if node.kind is NodeKind.TOUCHPOINT:
        return node.touchpoint or ""
    if node.kind is NodeKind.OTHER:
        return t("flow.node.other", count=t.number(len(node.merged)))
    return t(f"flow.node.{node.kind.value}")


def shortened(name: str, room: int) -> str:
    return name if len(name) <= room else name[: max(room - 1, 1)] + "…"


# ---- the request's parameters ----------------------------------------------------------


def parse_depth(text: str | None) -> int:
    if text is None or not text.strip():
        return DEFAULT_DEPTH
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_DEPTH:
        raise InputError(f"The depth must be a whole number of steps from 1 to {MAX_DEPTH};"
                         f" got {value[:20]!r}.")
    return int(value)


def parse_direction(text: str | None) -> Direction:
    value = (text or "").strip() or Direction.AFTER.value
    try:
        return Direction(value)
    except ValueError:
        raise InputError(
            f"The direction must be 'after' or 'before'; got {value[:20]!r}.") from None


def parse_touchpoint(text: str | None, known: tuple[str, ...]) -> str | None:
    value = (text or "").strip()
    if not value:
        return None
    if value not in known:
        from .company import nearest_known

        raise InputError(f"There is no touchpoint called {value[:80]!r} in this"
                         f" project{nearest_known(value, known)}.")
    return value


def register(app: FastAPI, site: Site) -> None:
    @app.get("/flow", response_class=HTMLResponse)
    def flow_page(request: Request):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        query = request.query_params
        known = site.cached("flow_touchpoints", project_touchpoints)
        touchpoint = parse_touchpoint(query.get("touchpoint"), known)
        direction = parse_direction(query.get("direction"))
        depth = parse_depth(query.get("depth"))
        data = site.cached("flow", compute_flow, filters, touchpoint=touchpoint,
                           direction=direction, depth=depth)
        page_params = [("touchpoint", data.touchpoint or ""), ("direction", direction.value),
                       ("depth", str(depth))]
        partial = (request.headers.get("HX-Request") == "true"
                   and request.headers.get("HX-History-Restore-Request") != "true")
        response = site.render(
            request, "flow_body.html" if partial else "flow.html", t, filters=filters,
            page_params=page_params, f=data, chart=data.chart(t.direction),
            touchpoints=known, node_name=node_name,
            unavailable=None if site.cached("holdings", project_holdings).events
            else Unavailable(Why.NO_EVENTS))
        response.headers["Vary"] = "HX-Request"
        return response

    site.registered.add("/flow")
