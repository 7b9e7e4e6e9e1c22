"""User flow: where cases go after a touchpoint, or where they come from before it.

For each case that visits the touchpoint, the flow starts at the case's FIRST visit and
follows the next (``after``) or the previous (``before``) ``depth`` touchpoints in the
case's (timestamp, seq) order. Level 0 is the touchpoint itself; level ``i`` is the
touchpoint ``i`` steps away. A case whose journey ends (or, looking back, begins) before
``depth`` steps gets an "end" (or "start") node at the next level and stops there.

At every level the ``top`` busiest touchpoints keep their own node and the rest merge
into one "other" node. Every case is at exactly one node of each level it reaches, so
case counts are conserved: what enters a node leaves it, except at "end"/"start" nodes.

Everything runs on the shared step table (:mod:`corridor.steps`) as Ibis expressions: the
anchors, the levels and the raw links between touchpoint codes are computed on the engine;
only the small table of raw links (level, code, next code, cases) and the top paths come
back to Python, where the "other" merge happens (counts of cases add up exactly).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import InputError
from .steps import CaseSteps, as_steps

MAX_DEPTH = 8
MIN_TOP, MAX_TOP = 2, 20
MAX_PATHS = 50
EDGE = -1  # the code of the "end" (after) or "start" (before) node


class Direction(str, enum.Enum):
    AFTER = "after"  # the touchpoints that follow the first visit
    BEFORE = "before"  # the touchpoints that lead to it


class NodeKind(str, enum.Enum):
    TOUCHPOINT = "touchpoint"
    OTHER = "other"  # the touchpoints of a level outside its top ones, merged
    END = "end"  # the journey ended (after)
    START = "start"  # the journey began (before)


@dataclass(frozen=True)
class FlowNode:
    level: int  # 0 is the chosen touchpoint; i is i steps after (or before) it
    kind: NodeKind
    touchpoint: str | None  # None for other, end and start
    cases: int
    share: float  # of the cases that visit the chosen touchpoint
    merged: tuple[str, ...] = ()  # for "other": the touchpoints it holds, busiest first

    @property
    def id(self) -> str:
        name = self.touchpoint if self.kind is NodeKind.TOUCHPOINT else self.kind.value
        return f"{self.level}:{self.kind.value}:{name}"

    def to_dict(self) -> dict:
        return {"id": self.id, "level": self.level, "kind": self.kind.value,
                "touchpoint": self.touchpoint, "cases": self.cases, "share": self.share,
                "merged": list(self.merged)}


@dataclass(frozen=True)
class FlowLink:
    """Cases that are at ``source`` (level i) and then at ``target`` (level i + 1)."""

    source: FlowNode
    target: FlowNode
    cases: int
    share: float  # of the cases that visit the chosen touchpoint

    def to_dict(self) -> dict:
        return {"source": self.source.id, "target": self.target.id, "cases": self.cases,
                "share": self.share}


@dataclass(frozen=True)
class FlowPath:
    """One way on from the touchpoint: the touchpoints at levels 1, 2, ... (nearest
    first) and whether the journey ended (or began) right after them."""

    touchpoints: tuple[str, ...]
    edge: bool  # True: the journey ends (after) or begins (before) after these steps
    cases: int
    share: float

    def to_dict(self) -> dict:
        return {"touchpoints": list(self.touchpoints), "edge": self.edge,
                "cases": self.cases, "share": self.share}


@dataclass(frozen=True)
class UserFlow:
    touchpoint: str
    direction: Direction
    depth: int
    top: int
    cases: int  # cases that visit the touchpoint
    levels: tuple[tuple[FlowNode, ...], ...]  # levels[0] is the touchpoint; busiest first
    links: tuple[FlowLink, ...]  # by level, then busiest first
    paths: tuple[FlowPath, ...]  # most cases first, ties by path

    @property
    def nodes(self) -> tuple[FlowNode, ...]:
        return tuple(node for level in self.levels for node in level)

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "direction": self.direction.value,
            "depth": self.depth,
            "top": self.top,
            "cases": self.cases,
            "levels": [[n.to_dict() for n in level] for level in self.levels],
            "links": [link.to_dict() for link in self.links],
            "paths": [p.to_dict() for p in self.paths],
        }


def user_flow(
    source: ir.Table | CaseSteps,
    touchpoint: str,
    *,
    direction: Direction | str = Direction.AFTER,
    depth: int = 3,
    top: int = 8,
    paths: int = 10,
) -> UserFlow:
    """The flow of cases from (``after``) or to (``before``) their first visit to
    ``touchpoint``, ``depth`` steps deep, with the ``top`` busiest touchpoints of each
    level as nodes and the ``paths`` most common ways on.

    ``source`` is events, or the step table other analytics already use
    (:func:`corridor.steps.case_steps`).
    """
    way = check_direction(direction)
    depth = _check_int("depth", depth, 1, MAX_DEPTH)
    top = _check_int("top", top, MIN_TOP, MAX_TOP)
    paths = _check_int("paths", paths, 0, MAX_PATHS)
    if not isinstance(touchpoint, str) or not touchpoint:
        raise InputError(f"The user flow needs a touchpoint name; got {touchpoint!r}.")
    steps = as_steps(source)
    code = steps.codes.code_of(touchpoint)
    if code is None:
        raise InputError(f"No event is at the touchpoint {touchpoint!r}, so it has no flow.")
    with steps.cached() as ordered:
        rows = _level_rows(ordered.table, code, way, depth)
        with rows.cache() as kept:
            raw = _raw_links(kept)
            found = _top_paths(kept, depth, paths)
    return _assemble(ordered.codes.touchpoints, touchpoint, code, way, depth, top, raw, found)


def check_direction(direction: Direction | str) -> Direction:
    try:
        return Direction(direction)
    except ValueError:
        raise InputError(
            f"The direction of a user flow is 'after' or 'before'; got {direction!r}."
        ) from None


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(
            f"The {name} of a user flow must be a whole number from {low} to {high}; "
            f"got {value!r}."
        )
    return value


# ---- on the engine -------------------------------------------------------------------


def _level_rows(t: ir.Table, code: int, way: Direction, depth: int) -> ir.Table:
    """One row per case and level it reaches: case_id, level, code (EDGE for the end or
    the start of the journey). Every number is int64 so both parts stack on any engine."""
    hits = t.filter(t.code == code)
    anchors = hits.group_by("case_id").aggregate(anchor=hits.step.min().cast("int64"))
    joined = t.select("case_id", "code", "step").join(anchors, "case_id")
    step = joined.step.cast("int64")
    level = step - joined.anchor if way is Direction.AFTER else joined.anchor - step
    near = joined.select("case_id", level=level, code=joined.code.cast("int64"))
    near = near.filter((near.level >= 0) & (near.level <= depth))
    reach = near.group_by("case_id").aggregate(last=near.level.max())
    edges = reach.filter(reach["last"] < depth).select(
        "case_id", level=(reach["last"] + 1).cast("int64"), code=ibis.literal(EDGE, "int64")
    )
    return ibis.union(near, edges)


def _raw_links(rows: ir.Table) -> list[tuple[int, int, int, int]]:
    """(level, code, next code, cases) for every pair of touchpoints at consecutive levels."""
    after = rows.select(
        "case_id", before_level=(rows.level - 1).cast("int64"), next_code=rows.code
    )
    pairs = rows.join(
        after, [rows.case_id == after.case_id, rows.level == after.before_level]
    )
    counts = pairs.group_by(["level", "code", "next_code"]).aggregate(cases=_.count())
    return [
        (int(r["level"]), int(r["code"]), int(r["next_code"]), int(r["cases"]))
        for r in counts.to_pyarrow().to_pylist()
    ]


def _top_paths(rows: ir.Table, depth: int, limit: int) -> list[tuple[tuple[int, ...], int]]:
    """The ``limit`` most common ways on: the codes at levels 1..depth (missing levels
    left out) and their cases; ties by the codes, a path that stops first."""
    if limit == 0:
        return []
    columns = {
        f"l{i}": ibis.ifelse(rows.level == i, rows.code, ibis.null("int64")).max()
        for i in range(1, depth + 1)
    }
    per_case = rows.group_by("case_id").aggregate(**columns)
    counts = per_case.group_by(list(columns)).aggregate(cases=_.count())
    # Missing levels sort first (a shorter path before its longer ones) on every engine.
    order = [ibis.desc(counts.cases)] + [counts[c].fill_null(EDGE - 1) for c in columns]
    wanted = counts.order_by(order).limit(limit).to_pyarrow().to_pylist()
    return [
        (tuple(int(r[c]) for c in columns if r[c] is not None), int(r["cases"]))
        for r in wanted
    ]


# ---- in Python: merge the quiet touchpoints into "other" -------------------------------


def _assemble(
    names: tuple[str, ...],
    touchpoint: str,
    code: int,
    way: Direction,
    depth: int,
    top: int,
    raw: list[tuple[int, int, int, int]],
    found: list[tuple[tuple[int, ...], int]],
) -> UserFlow:
    edge_kind = NodeKind.END if way is Direction.AFTER else NodeKind.START
    # Every case at the touchpoint goes on to level 1 (a touchpoint, or the edge).
    cases = sum(n for level, _code, _next, n in raw if level == 0)

    # Cases at each (level, code): level 0 from what leaves it, the others from what
    # arrives (every case at level i < depth that has not ended goes on).
    at: dict[tuple[int, int], int] = {(0, code): cases}
    for level, _code, next_code, n in raw:
        at[level + 1, next_code] = at.get((level + 1, next_code), 0) + n

    def fraction(n: int) -> float:
        return n / cases if cases else 0.0

    # Level 0 is the touchpoint; each later level keeps its top touchpoints as nodes.
    anchor = FlowNode(0, NodeKind.TOUCHPOINT, touchpoint, cases, fraction(cases))
    levels: list[list[FlowNode]] = [[anchor]]
    node_of: dict[tuple[int, int], FlowNode] = {(0, code): anchor}
    for level in range(1, depth + 1):
        here = [(c, n) for (lv, c), n in at.items() if lv == level]
        if not here:
            break
        ranked = sorted((item for item in here if item[0] != EDGE),
                        key=lambda item: (-item[1], names[item[0]]))
        own, rest = ranked[:top], ranked[top:]
        nodes = [FlowNode(level, NodeKind.TOUCHPOINT, names[c], n, fraction(n))
                 for c, n in own]
        for (c, _n), node in zip(own, nodes):
            node_of[level, c] = node
        if rest:
            n = sum(n for _c, n in rest)
            other = FlowNode(level, NodeKind.OTHER, None, n, fraction(n),
                             merged=tuple(names[c] for c, _n in rest))
            nodes.append(other)
            for c, _n in rest:
                node_of[level, c] = other
        ended = at.get((level, EDGE), 0)
        if ended:
            node_of[level, EDGE] = FlowNode(level, edge_kind, None, ended, fraction(ended))
            nodes.append(node_of[level, EDGE])
        levels.append(nodes)

    merged: dict[tuple[str, str], list] = {}
    for level, c, next_code, n in raw:
        source, target = node_of[level, c], node_of[level + 1, next_code]
        entry = merged.setdefault((source.id, target.id), [source, target, 0])
        entry[2] += n
    links = sorted(
        (FlowLink(s, t, n, fraction(n)) for s, t, n in merged.values()),
        key=lambda link: (link.source.level, -link.cases, link.source.id, link.target.id),
    )

    flow_paths = tuple(
        FlowPath(
            touchpoints=tuple(names[c] for c in codes if c != EDGE),
            edge=bool(codes) and codes[-1] == EDGE,
            cases=n,
            share=fraction(n),
        )
        for codes, n in found
    )
    return UserFlow(
        touchpoint=touchpoint,
        direction=way,
        depth=depth,
        top=top,
        cases=cases,
        levels=tuple(tuple(level) for level in levels),
        links=tuple(links),
        paths=flow_paths,
    )
