"""The corridor map page (``/map``): the directly-follows graph of the filtered events
as a server-drawn SVG, with a frequency view (edges by journeys) and a time view (edges
by the median time between two touchpoints), a coverage slider (the share of traffic
kept, :func:`corridor.dfg.simplify`) and each touchpoint coloured by its corridor role
(basic, alternative door, optional or other).

The graph, the roles and the main path of the filtered events are computed once per
filter choice (:func:`compute_map_base`, in the site's page cache); each coverage and
writing direction is cut from them and laid out by :mod:`corridor.graphlayout` (cheap,
kept in a small cache of its own). The view only
changes how the same drawing is styled, so it needs no computation at all.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from .company import Labeller
from .dfg import DirectlyFollowsGraph, Edge, Node, directly_follows, simplify
from .errors import AnalysisError, InputError
from .graphlayout import layered_layout
from .web_filters import PageFilters
from .web_format import short_duration
from .web_site import Site
from .web_states import Unavailable, Why, project_holdings

VIEWS = ("frequency", "time")
DEFAULT_VIEW = "frequency"
MIN_COVERAGE, MAX_COVERAGE, DEFAULT_COVERAGE = 10, 100, 80  # percent of the traffic
COVERAGE_STEP = 5  # the slider's step; any whole percent in range is accepted
MAX_NODES = 60  # touchpoints drawn at most: more is no longer a map anyone reads
MAX_EDGES = 160  # transitions drawn at most
ROLES = ("basic", "alternative", "optional", "other")
TIME_LEVELS = 5  # colour steps of the time view
NAME_CHARS = 28  # longer names are shortened in the box (the tooltip has them whole)

START, END = ("start",), ("end",)  # the layout ids of the markers; touchpoints are ("tp", name)
BOX_HEIGHT = 44.0
MARKER = 22.0


# ---- what the page shows -----------------------------------------------------------------


@dataclass(frozen=True)
class MapBase:
    """The filtered events summarised once: every coverage is cut from this."""

    graph: DirectlyFollowsGraph  # complete, not simplified
    journeys: tuple[tuple[str, int], ...]  # (touchpoint, journeys visiting it)
    roles: tuple[tuple[str, str], ...]  # (touchpoint, role) for the touchpoints with one
    main_path: tuple[str, ...]  # the most frequent variant: never cut from the map
    goal: tuple[str, ...]  # the company model's purchase goal; empty: none declared
    cases: int


@dataclass(frozen=True)
class MapNode:
    touchpoint: str
    label: str  # the name, shortened when long
    role: str  # one of ROLES
    is_goal: bool
    journeys: int
    events: int
    starts: int
    ends: int
    x: float  # centre
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class MapEdge:
    source: str
    target: str
    cases: int  # journeys with this transition
    count: int  # times it happened
    median_seconds: float
    p90_seconds: float
    path: str  # SVG path data
    label_x: float
    label_y: float
    back: bool  # closes a loop: drawn upwards
    loop: bool  # from a touchpoint to itself
    width: float  # stroke width in the frequency view
    time_width: float  # stroke width in the time view
    time_level: int  # 0 (quickest shown) .. TIME_LEVELS - 1 (slowest shown)


@dataclass(frozen=True)
class MapMarkerEdge:
    """From the start marker to a touchpoint where journeys begin, or from a touchpoint
    where they end to the end marker."""

    touchpoint: str
    cases: int
    path: str
    label_x: float
    label_y: float
    width: float


@dataclass(frozen=True)
class MapMarker:
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class CorridorMap:
    coverage: int  # percent of the traffic kept
    rtl: bool  # laid out mirrored, for right-to-left pages
    cases: int
    goal: tuple[str, ...]
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]  # most journeys first
    starts: tuple[MapMarkerEdge, ...]
    ends: tuple[MapMarkerEdge, ...]
    start: MapMarker | None
    end: MapMarker | None
    width: float
    height: float
    all_nodes: int  # in the whole graph
    all_edges: int
    capped: bool  # more than MAX_NODES / MAX_EDGES were left after simplifying
    quickest_seconds: float | None  # the range of median times among the edges shown
    slowest_seconds: float | None

    @property
    def is_empty(self) -> bool:
        return not self.nodes


# ---- parameters --------------------------------------------------------------------------


def parse_coverage(text: str | None) -> int:
    """The coverage in percent from the query string (default 80)."""
    if text is None or not text.strip():
        return DEFAULT_COVERAGE
    value = text.strip()
    if not value.isdigit() or not MIN_COVERAGE <= int(value) <= MAX_COVERAGE:
        raise InputError(
            f"The coverage must be a whole percent from {MIN_COVERAGE} to {MAX_COVERAGE};"
            f" got {value[:40]!r}."
        )
    return int(value)


def parse_view(text: str | None) -> str:
    """The view from the query string (default frequency)."""
    if text is None or not text.strip():
        return DEFAULT_VIEW
    value = text.strip()
    if value not in VIEWS:
        raise InputError(f"The view must be frequency or time; got {value[:40]!r}.")
    return value


# ---- computing -----------------------------------------------------------------------------


def compute_map_base(project_path: Path, filters: PageFilters) -> MapBase:
    """The directly-follows graph, corridor roles and main path of the events that pass
    ``filters``, from the library, reading the project read-only."""
    from ibis import _

    from .roles import corridor_roles
    from .steps import as_steps
    from .store import Project
    from .variants import variants
    from .company import company_goal

    with Project.open(project_path, read_only=True) as p:
        goal = company_goal(p)
        steps = as_steps(filters.journeys(p))  # stored when nothing is filtered
        with steps.cached() as cached:
            graph = directly_follows(cached)
            summary = variants(cached, top=1)
            visits = (cached.table.group_by("code").aggregate(journeys=_.case_id.nunique())
                      .to_pyarrow().to_pylist())
            try:
                found = corridor_roles(cached, goal=goal) if summary.cases else None
            except AnalysisError:  # no journey in this choice reaches the goal
                found = None
    names = cached.codes.touchpoints
    journeys = tuple(sorted(((names[r["code"]], int(r["journeys"])) for r in visits)))
    roles: list[tuple[str, str]] = []
    if found is not None:
        roles += [(i.touchpoint, "basic") for i in found.basic]
        roles += [(name, "alternative") for g in found.alternatives for name in g.touchpoints]
        roles += [(i.touchpoint, "optional") for i in found.optional]
    return MapBase(
        graph=graph,
        journeys=journeys,
        roles=tuple(sorted(roles)),
        main_path=summary.top[0].path if summary.top else (),
        goal=goal or (),
        cases=summary.cases,
    )


def compute_map(project_path: Path, filters: PageFilters, *, coverage: int = DEFAULT_COVERAGE,
                rtl: bool = False) -> CorridorMap:
    """The map of the events that pass ``filters`` at ``coverage`` percent."""
    return build_map(compute_map_base(project_path, filters), coverage=coverage, rtl=rtl)


@dataclass(frozen=True)
class MapCut:
    """The part of the graph a map shows."""

    nodes: tuple[Node, ...]  # most events first
    edges: tuple[Edge, ...]  # most occurrences first
    starts: tuple[tuple[str, int], ...]  # (touchpoint, journeys starting there) drawn
    ends: tuple[tuple[str, int], ...]
    capped: bool  # MAX_NODES or MAX_EDGES cut it further


TERMINAL = "terminal"  # a box's way in or out is the journey's start or end itself


def _busiest_way(name: str, terminal_cases: int, edges, shown: set[str],
                 incoming: bool) -> tuple[str, str] | str | None:
    """The busiest way into ``name`` (``incoming``) or out of it: an edge from or to a
    shown touchpoint as (source, target), or TERMINAL when starting (ending) there
    carries more journeys (an edge wins a tie); None when there is neither."""
    options = [(e.cases, 1, (e.source, e.target)) for e in edges
               if (e.target if incoming else e.source) == name and e.source != e.target
               and (e.source if incoming else e.target) in shown]
    if terminal_cases:
        options.append((terminal_cases, 0, TERMINAL))
    if not options:
        return None
    return max(options, key=lambda o: (o[0], o[1]))[2]


def cut_graph(base: MapBase, coverage: float) -> MapCut:
    """What the map shows at ``coverage`` (a share in (0, 1]):

    1. :func:`corridor.dfg.simplify` keeps the busiest transitions carrying ``coverage``
       of all transitions, and the most frequent path whole.
    2. The corridor's basic touchpoints and alternative doors are always shown: the map
       is a map of the corridor.
    3. Start and end arrows follow the same rule as transitions: the busiest carrying
       ``coverage`` of all starts (ends), among the touchpoints shown.
    4. A touchpoint shown with no way in (or out) gets its busiest one among what is
       shown (a transition from or to a shown touchpoint, or its start or end arrow),
       so no box floats unconnected.
    5. At most MAX_NODES touchpoints (the busiest) and MAX_EDGES transitions.
    Each step only adds to what a smaller coverage shows, except the caps.
    """
    full = base.graph
    simple = simplify(full, coverage, keep_path=base.main_path)
    corridor = {name for name, role in base.roles if role in ("basic", "alternative")}
    wanted = {n.touchpoint for n in simple.nodes} | corridor
    nodes = [n for n in full.nodes if n.touchpoint in wanted]
    capped = len(nodes) > MAX_NODES
    nodes = nodes[:MAX_NODES]
    shown = {n.touchpoint for n in nodes}
    edges = [e for e in simple.edges if e.source in shown and e.target in shown]
    starts = _leading([(n.touchpoint, n.starts) for n in full.nodes], coverage, shown)
    ends = _leading([(n.touchpoint, n.ends) for n in full.nodes], coverage, shown)
    kept = {(e.source, e.target) for e in edges}
    for n in nodes:  # a way in and a way out for every box
        name = n.touchpoint
        for incoming, terminals, terminal_cases in ((True, starts, n.starts),
                                                    (False, ends, n.ends)):
            if name in terminals or any((t if incoming else s) == name and s != t
                                        for s, t in kept):
                continue
            way = _busiest_way(name, terminal_cases, full.edges, shown, incoming)
            if way == TERMINAL:
                terminals[name] = terminal_cases
            elif way is not None:
                kept.add(way)
    edges = [e for e in full.edges if (e.source, e.target) in kept]  # ranked as in dfg
    capped = capped or len(edges) > MAX_EDGES
    edges = edges[:MAX_EDGES]
    rank = {n.touchpoint: k for k, n in enumerate(nodes)}
    return MapCut(
        nodes=tuple(nodes), edges=tuple(edges),
        starts=tuple(sorted(starts.items(), key=lambda p: rank[p[0]])),
        ends=tuple(sorted(ends.items(), key=lambda p: rank[p[0]])),
        capped=capped,
    )


def _leading(counts: list[tuple[str, int]], coverage: float, shown: set[str]) -> dict[str, int]:
    """The busiest (touchpoint, count) pairs whose counts reach ``coverage`` of the
    total (ties by name), among the ``shown`` touchpoints."""
    ranked = sorted(((name, c) for name, c in counts if c > 0), key=lambda p: (-p[1], p[0]))
    total = sum(c for _, c in ranked)
    chosen, running = {}, 0
    for name, c in ranked:
        if running >= coverage * total:
            break
        running += c
        if name in shown:
            chosen[name] = c
    return chosen


def build_map(base: MapBase, *, coverage: int, rtl: bool = False,
              names: Mapping[str, str] | None = None) -> CorridorMap:
    """Cut the map for ``coverage`` percent from ``base`` and lay it out (mirrored for a
    right-to-left page when ``rtl``), each box showing the touchpoint's name in ``names``
    (its code where it has none)."""
    names = names or {}
    if not MIN_COVERAGE <= coverage <= MAX_COVERAGE:
        raise InputError(
            f"The coverage must be from {MIN_COVERAGE} to {MAX_COVERAGE}; got {coverage}.")
    full = base.graph
    cut = cut_graph(base, coverage / 100)
    nodes, edges, starts, ends, capped = cut.nodes, cut.edges, cut.starts, cut.ends, cut.capped
    if not nodes:
        return CorridorMap(coverage, rtl, base.cases, base.goal, (), (), (), (), None, None,
                           0.0, 0.0, len(full.nodes), len(full.edges), False, None, None)

    ids = [("tp", n.touchpoint) for n in nodes]
    ids += ([START] if starts else []) + ([END] if ends else [])
    pairs = [(("tp", e.source), ("tp", e.target)) for e in edges]
    pairs += [(START, ("tp", name)) for name, _ in starts]
    pairs += [(("tp", name), END) for name, _ in ends]
    weights = [e.cases for e in edges] + [c for _, c in starts] + [c for _, c in ends]
    sizes = {("tp", n.touchpoint): (_box_width(names.get(n.touchpoint, n.touchpoint)), BOX_HEIGHT)
             for n in nodes}
    sizes[START] = sizes[END] = (MARKER, MARKER)
    layout = layered_layout(ids, pairs, sizes=sizes, weights=weights,
                            roots=[START] if starts else [], layer_gap=64.0, node_gap=28.0,
                            lane_width=12.0, label_room=56.0, margin=20.0, mirror=rtl)
    boxes = {b.id: b for b in layout.nodes}
    paths = {(p.source, p.target): p for p in layout.edges}
    # labels that would cover each other or a box move a little, busiest edges first
    importance = {pair: w for pair, w in zip(pairs, weights)}
    labels = _spread_labels(
        [(pair, paths[pair].label) for pair in sorted(pairs, key=lambda p: -importance[p])],
        [(b.left, b.top, b.right, b.bottom) for b in layout.nodes],
    )

    role_of = dict(base.roles)
    journeys = dict(base.journeys)
    map_nodes = tuple(
        MapNode(n.touchpoint, _short(names.get(n.touchpoint, n.touchpoint)), role_of.get(n.touchpoint, "other"),
                n.touchpoint in base.goal, journeys.get(n.touchpoint, 0), n.events, n.starts,
                n.ends, boxes[("tp", n.touchpoint)].x, boxes[("tp", n.touchpoint)].y,
                boxes[("tp", n.touchpoint)].width, boxes[("tp", n.touchpoint)].height)
        for n in nodes
    )
    most = max([e.cases for e in edges] + [c for _, c in starts + ends], default=1)
    medians = [e.median_seconds for e in edges]
    quickest, slowest = (min(medians), max(medians)) if medians else (None, None)
    map_edges = tuple(
        _map_edge(e, paths[key], labels[key], most, quickest, slowest)
        for e in sorted(edges, key=lambda e: (-e.cases, -e.count, e.source, e.target))
        for key in [(("tp", e.source), ("tp", e.target))]
    )

    def marker_edge(name: str, cases: int, key) -> MapMarkerEdge:
        return MapMarkerEdge(name, cases, paths[key].path, *labels[key],
                             _frequency_width(cases, most))

    def marker(node_id) -> MapMarker | None:
        box = boxes.get(node_id)
        return None if box is None else MapMarker(box.x, box.y, box.width)

    return CorridorMap(
        coverage=coverage, rtl=rtl, cases=base.cases, goal=base.goal,
        nodes=map_nodes, edges=map_edges,
        starts=tuple(marker_edge(name, c, (START, ("tp", name))) for name, c in starts),
        ends=tuple(marker_edge(name, c, (("tp", name), END)) for name, c in ends),
        start=marker(START), end=marker(END),
        width=layout.width, height=layout.height,
        all_nodes=len(full.nodes), all_edges=len(full.edges), capped=capped,
        quickest_seconds=quickest, slowest_seconds=slowest,
    )


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def _box_width(name: str) -> float:
    return max(96.0, 20.0 + 7.4 * len(_short(name)))


def _frequency_width(cases: int, most: int) -> float:
    return round(1.0 + 7.0 * math.sqrt(cases / most), 2) if most else 1.0


def _time_share(seconds: float, quickest: float | None, slowest: float | None) -> float:
    """Where ``seconds`` sits between the quickest and slowest median shown, on a log
    scale (times between touchpoints range from seconds to weeks)."""
    if quickest is None or slowest is None or slowest <= quickest:
        return 0.0
    low, high = math.log1p(quickest), math.log1p(slowest)
    return (math.log1p(seconds) - low) / (high - low)


LABEL_WIDTH, LABEL_HEIGHT = 46.0, 14.0  # room a label takes (a number or a duration)
LABEL_MOVES = ((0, 0), (0, -14), (0, 14), (0, -28), (0, 28), (-30, 0), (30, 0),
               (-30, -14), (30, -14), (-30, 14), (30, 14))


def _spread_labels(wanted, boxes) -> dict:
    """Each label's place: where the layout put it, or the first nearby place (of
    LABEL_MOVES) that covers no box and no label placed before it; labels come in order
    of importance. A label with no free place nearby stays where it was."""
    taken: list[tuple[float, float, float, float]] = list(boxes)
    placed = {}
    for key, (x, y) in wanted:
        for dx, dy in LABEL_MOVES:
            cx, cy = x + dx, y + dy
            rect = (cx - LABEL_WIDTH / 2, cy - LABEL_HEIGHT / 2,
                    cx + LABEL_WIDTH / 2, cy + LABEL_HEIGHT / 2)
            if not any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3]
                       for r in taken):
                break
        else:
            cx, cy = x, y
            rect = (cx - LABEL_WIDTH / 2, cy - LABEL_HEIGHT / 2,
                    cx + LABEL_WIDTH / 2, cy + LABEL_HEIGHT / 2)
        taken.append(rect)
        placed[key] = (round(cx, 2), round(cy, 2))
    return placed


def _map_edge(edge: Edge, drawn, label, most: int, quickest, slowest) -> MapEdge:
    share = _time_share(edge.median_seconds, quickest, slowest)
    return MapEdge(
        source=edge.source, target=edge.target, cases=edge.cases, count=edge.count,
        median_seconds=edge.median_seconds, p90_seconds=edge.p90_seconds,
        path=drawn.path, label_x=label[0], label_y=label[1],
        back=drawn.back, loop=drawn.loop,
        width=_frequency_width(edge.cases, most),
        time_width=round(1.0 + 6.0 * share, 2),
        time_level=min(int(share * TIME_LEVELS), TIME_LEVELS - 1),
    )


# ---- the route -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _laid_out(base: MapBase, coverage: int, rtl: bool,
              names: tuple[tuple[str, str], ...] = ()) -> CorridorMap:
    """Laid-out maps kept apart from the site's page cache, so that moving the slider
    through its positions does not push other pages' computations out of it."""
    return build_map(base, coverage=coverage, rtl=rtl, names=dict(names))



def register(app: FastAPI, site: Site) -> None:
    @app.get("/map", response_class=HTMLResponse)
    def map_page(request: Request):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        coverage = parse_coverage(request.query_params.get("coverage"))
        view = parse_view(request.query_params.get("view"))
        rtl = t.direction == "rtl"
        base = site.cached("map.base", compute_map_base, filters)
        label = Labeller(site.labels(), t.lang)
        names = tuple((n.touchpoint, label.tp(n.touchpoint)) for n in base.graph.nodes)
        data = _laid_out(base, coverage, rtl, names)
        page_params = [("coverage", coverage), ("view", view)]
        fragment = (request.headers.get("HX-Request") == "true"
                    and request.headers.get("HX-History-Restore-Request") != "true")
        held = site.cached("holdings", project_holdings)
        response = site.render(
            request, "map_fragment.html" if fragment else "map.html", t, filters=filters,
            page_params=page_params, m=data, view=view, views=VIEWS,
            unavailable=None if held.events else Unavailable(Why.NO_EVENTS),
            coverage_range=(MIN_COVERAGE, MAX_COVERAGE, COVERAGE_STEP),
            roles=ROLES, time_levels=TIME_LEVELS, duration=lambda s: short_duration(t, s),
        )
        response.headers["Vary"] = "HX-Request"
        return response

    site.registered.add("/map")
