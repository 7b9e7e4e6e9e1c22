"""A layered drawing of a directed graph (Sugiyama style), our own code, so that maps
need no graphviz or other system binary.

Layers run top to bottom; ``mirror=True`` flips the drawing left to right (for pages
read right to left). The steps:

1. **Cycles.** A depth-first search from the ``roots`` (then from the sources, then
   from every other node, in the order given) follows each node's out-edges heaviest
   first. An edge to a node still on the search stack closes a cycle: it is reversed for
   layering and remembered, so it is drawn from its own source up to its own target
   (``EdgePath.back``). A self-loop is set aside and drawn as a loop beside its node.
2. **Layers.** Each node goes one layer below its deepest predecessor (the longest path
   from the sources); a source then moves down to just above its nearest successor, so
   a late way in does not start at the top with a long edge.
3. **Lanes for long edges.** An edge crossing k layers gets k - 1 waypoints: narrow
   placeholders that take part in the ordering and the coordinates, so the edge has its
   own lane through every layer it crosses and its crossings are counted. They are
   never drawn as nodes.
4. **Order within layers.** Starting from the given order, sweeps down and up sort each
   layer by the (weighted) barycentre of its neighbours in the layer just swept; the
   order with the fewest crossings seen wins.
5. **Coordinates.** Passes down and up pull every node towards the weighted mean of
   its neighbours' centres while keeping the order and the gaps exactly (a weighted
   isotonic regression by pool-adjacent-violators). Then everything is shifted so the
   drawing starts at the margin.
6. **Paths.** Cubic curves with vertical tangents join an edge's points: it leaves the
   bottom of the upper node, runs straight down each waypoint lane, and enters the top of
   the lower node. The ends of a node's edges are spread along its side in the order of
   the other ends, so they do not cross at the border.

Everything is deterministic: ties keep the given order of nodes and edges.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from .errors import InputError

MAX_NODES = 1_000
MAX_EDGES = 10_000
MAX_WAYPOINTS = 20_000  # lanes of long edges: the work grows with them
MAX_SWEEPS = 100

Point = tuple[float, float]


@dataclass(frozen=True)
class NodeBox:
    """A node's place: its centre, size and layer (0 is the top)."""

    id: Hashable
    x: float
    y: float
    width: float
    height: float
    layer: int

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class EdgePath:
    """An edge's drawing: ``path`` is SVG path data from the border of ``source`` to the
    border of ``target`` (so an arrow marker at its end points into the target)."""

    source: Hashable
    target: Hashable
    path: str
    start: Point  # on the border of the source
    end: Point  # on the border of the target
    label: Point  # where a label of the edge can sit
    back: bool  # drawn against the layers: the edge closes a cycle
    loop: bool  # source and target are the same node


@dataclass(frozen=True)
class Layout:
    nodes: tuple[NodeBox, ...]  # in the order given
    edges: tuple[EdgePath, ...]  # in the order given
    width: float
    height: float
    layers: int
    crossings: int  # edge crossings between adjacent layers (waypoint lanes included)

    def node(self, node_id: Hashable) -> NodeBox:
        for box in self.nodes:
            if box.id == node_id:
                return box
        raise KeyError(node_id)


def layered_layout(
    nodes: Sequence[Hashable],
    edges: Sequence[tuple[Hashable, Hashable]],
    *,
    sizes: Mapping[Hashable, tuple[float, float]] | None = None,
    default_size: tuple[float, float] = (120.0, 40.0),
    weights: Sequence[float] | None = None,
    roots: Sequence[Hashable] = (),
    layer_gap: float = 60.0,
    node_gap: float = 24.0,
    lane_width: float = 10.0,
    loop_size: float = 28.0,
    label_room: float = 0.0,
    margin: float = 16.0,
    sweeps: int = 8,
    mirror: bool = False,
) -> Layout:
    """Lay out the graph with ``nodes`` (any hashable ids, each once) and ``edges``
    ((source, target) pairs, each pair once) in layers from the top down.

    ``sizes`` gives a node's (width, height), else ``default_size``; ``weights`` (one
    per edge, > 0) make heavy edges stay forward when cycles are broken and pull their
    ends into line; ``roots`` are where the search for cycles starts (say, a start
    marker). ``label_room`` is the width kept free around each edge label point inside
    the drawing. ``sweeps`` = 0 keeps the given order within layers.
    """
    ids = list(nodes)
    index: dict[Hashable, int] = {}
    for k, node_id in enumerate(ids):
        if node_id in index:
            raise InputError(f"The node {node_id!r} is given twice; each node must be given once.")
        index[node_id] = k
    if len(ids) > MAX_NODES:
        raise InputError(f"A layout takes at most {MAX_NODES} nodes; got {len(ids)}.")
    if len(edges) > MAX_EDGES:
        raise InputError(f"A layout takes at most {MAX_EDGES} edges; got {len(edges)}.")
    if not 0 <= sweeps <= MAX_SWEEPS:
        raise InputError(f"The number of sweeps must be from 0 to {MAX_SWEEPS}; got {sweeps}.")
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for source, target in edges:
        for end in (source, target):
            if end not in index:
                raise InputError(
                    f"The edge {source!r} -> {target!r} names the unknown node {end!r}.")
        pair = (index[source], index[target])
        if pair in seen:
            raise InputError(f"The edge {source!r} -> {target!r} is given twice.")
        seen.add(pair)
        pairs.append(pair)
    weight = [1.0] * len(pairs) if weights is None else [float(w) for w in weights]
    if len(weight) != len(pairs) or not all(w > 0 and math.isfinite(w) for w in weight):
        raise InputError("The edge weights must be one positive number per edge.")
    for root in roots:
        if root not in index:
            raise InputError(f"The root {root!r} is not a node of the graph.")
    size = [tuple(map(float, (sizes or {}).get(node_id, default_size))) for node_id in ids]
    if not all(w > 0 and h > 0 for w, h in size):
        raise InputError("Every node's width and height must be positive.")

    graph = _Graph(len(ids), pairs, weight)
    reversed_edges = graph.break_cycles([index[r] for r in roots])
    layer = graph.layers(reversed_edges)
    waypoints = sum(max(abs(layer[t] - layer[s]) - 1, 0) for s, t in pairs)
    if waypoints > MAX_WAYPOINTS:
        raise InputError(
            f"The graph's long edges need {waypoints} waypoints; at most "
            f"{MAX_WAYPOINTS} are laid out. Show fewer nodes or edges."
        )
    lanes = _Lanes(graph, layer, reversed_edges, size, lane_width, loop_size)
    crossings = lanes.order(sweeps)
    lanes.coordinates(node_gap)
    return lanes.draw(ids, layer_gap, margin, label_room, mirror, crossings)


# ---- the graph and its cycles -----------------------------------------------------------


class _Graph:
    def __init__(self, n: int, pairs: list[tuple[int, int]], weight: list[float]):
        self.n = n
        self.pairs = pairs
        self.weight = weight
        self.out: list[list[int]] = [[] for _ in range(n)]
        self.into: list[int] = [0] * n
        for k, (s, t) in enumerate(pairs):
            if s != t:
                self.out[s].append(k)
                self.into[t] += 1
        for edges in self.out:
            edges.sort(key=lambda k: (-weight[k], k))

    def break_cycles(self, roots: list[int]) -> set[int]:
        """The edges a depth-first search finds going back to a node on its stack."""
        state = [0] * self.n  # 0 not seen, 1 on the stack, 2 done
        back: set[int] = set()
        sources = [v for v in range(self.n) if self.into[v] == 0]
        for root in [*roots, *sources, *range(self.n)]:
            if state[root]:
                continue
            state[root] = 1
            stack = [(root, iter(self.out[root]))]
            while stack:
                _, edges = stack[-1]
                for k in edges:
                    t = self.pairs[k][1]
                    if state[t] == 1:
                        back.add(k)
                    elif state[t] == 0:
                        state[t] = 1
                        stack.append((t, iter(self.out[t])))
                        break
                else:
                    state[stack.pop()[0]] = 2
        return back

    def forward(self, k: int, back: set[int]) -> tuple[int, int]:
        s, t = self.pairs[k]
        return (t, s) if k in back else (s, t)

    def layers(self, back: set[int]) -> list[int]:
        """Longest path from the sources of the acyclic graph, sources pulled down."""
        succ: list[list[int]] = [[] for _ in range(self.n)]
        pred_count = [0] * self.n
        for k, (s, t) in enumerate(self.pairs):
            if s == t:
                continue
            u, v = self.forward(k, back)
            succ[u].append(v)
            pred_count[v] += 1
        has_pred = [c > 0 for c in pred_count]
        layer = [0] * self.n
        ready = [v for v in range(self.n) if pred_count[v] == 0]
        done = 0
        while ready:  # Kahn's order; a list used as a stack is enough for longest paths
            u = ready.pop()
            done += 1
            for v in succ[u]:
                layer[v] = max(layer[v], layer[u] + 1)
                pred_count[v] -= 1
                if pred_count[v] == 0:
                    ready.append(v)
        assert done == self.n, "the reversed back edges leave no cycle"
        for v in range(self.n):
            if not has_pred[v] and succ[v]:
                layer[v] = min(layer[w] for w in succ[v]) - 1
        lowest = min(layer, default=0)
        return [x - lowest for x in layer]


# ---- lanes: nodes and waypoints in layers -----------------------------------------------


class _Lanes:
    """Real nodes (0..n-1) and waypoints (n..) in layers, with the segments that join
    them between adjacent layers."""

    def __init__(self, graph: _Graph, layer: list[int], back: set[int],
                 size: list[tuple[float, float]], lane_width: float, loop_size: float):
        self.graph = graph
        self.back = back
        self.n = graph.n
        self.layer = list(layer)
        self.width = [w for w, _ in size]
        self.height = [h for _, h in size]
        self.loop_size = loop_size
        # how far each item reaches to the left and right of its centre
        self.reach_left = [w / 2 for w in self.width]
        self.reach_right = [w / 2 for w in self.width]
        for s, t in graph.pairs:
            if s == t:
                self.reach_right[s] = self.width[s] / 2 + loop_size + 6
        self.chains: dict[int, list[int]] = {}  # edge -> items from the upper end down
        self.up: list[list[tuple[int, float]]] = [[] for _ in range(self.n)]  # (item, weight)
        self.down: list[list[tuple[int, float]]] = [[] for _ in range(self.n)]
        for k, (s, t) in enumerate(graph.pairs):
            if s == t:
                continue
            u, v = graph.forward(k, back)
            chain = [u]
            for depth in range(layer[u] + 1, layer[v]):
                w = len(self.layer)
                self.layer.append(depth)
                self.width.append(lane_width)
                self.height.append(0.0)
                self.reach_left.append(lane_width / 2)
                self.reach_right.append(lane_width / 2)
                self.up.append([])
                self.down.append([])
                chain.append(w)
            chain.append(v)
            for a, b in zip(chain, chain[1:]):
                self.down[a].append((b, graph.weight[k]))
                self.up[b].append((a, graph.weight[k]))
            self.chains[k] = chain
        self.waypoints = len(self.layer) - self.n
        depth = max(self.layer, default=-1) + 1
        self.rows: list[list[int]] = [[] for _ in range(depth)]
        for item, row in enumerate(self.layer):  # real nodes in the given order first
            self.rows[row].append(item)
        self.x = [0.0] * len(self.layer)

    # -- order ----------------------------------------------------------------------------

    def _positions(self) -> list[int]:
        pos = [0] * len(self.layer)
        for row in self.rows:
            for p, item in enumerate(row):
                pos[item] = p
        return pos

    def crossings(self) -> int:
        pos = self._positions()
        total = 0
        for r, row in enumerate(self.rows[:-1]):
            segments = sorted((pos[a], pos[b]) for a in row for b, _ in self.down[a])
            total += _inversions([b for _, b in segments], len(self.rows[r + 1]))
        return total

    def order(self, sweeps: int) -> int:
        best = self.crossings()
        best_rows = [list(r) for r in self.rows]
        for sweep in range(sweeps):
            downward = sweep % 2 == 0
            pos = self._positions()
            rows = range(1, len(self.rows)) if downward else range(len(self.rows) - 2, -1, -1)
            for r in rows:
                row = self.rows[r]
                keys = {}
                for item in row:
                    neighbours = self.up[item] if downward else self.down[item]
                    total = sum(w for _, w in neighbours)
                    bary = (sum(pos[o] * w for o, w in neighbours) / total
                            if total else float(pos[item]))
                    keys[item] = (bary, pos[item])
                row.sort(key=keys.__getitem__)
                for p, item in enumerate(row):
                    pos[item] = p
            count = self.crossings()
            if count < best:
                best, best_rows = count, [list(r) for r in self.rows]
        self.rows = best_rows
        return best

    # -- coordinates ----------------------------------------------------------------------

    def coordinates(self, gap: float, passes: int = 6) -> None:
        for row in self.rows:  # packed, centred on 0
            x = 0.0
            for p, item in enumerate(row):
                if p:
                    x += self._separation(row[p - 1], item, gap)
                self.x[item] = x
            for item in row:
                self.x[item] -= x / 2
        last = len(self.rows) - 1
        for _ in range(passes):
            for r in range(1, last + 1):
                self._pull(self.rows[r], gap, (self.up,))
            for r in range(last - 1, -1, -1):
                self._pull(self.rows[r], gap, (self.down,))
        for r in range(last + 1):
            self._pull(self.rows[r], gap, (self.up, self.down))

    def _separation(self, a: int, b: int, gap: float) -> float:
        both_real = a < self.n and b < self.n
        return self.reach_right[a] + self.reach_left[b] + (gap if both_real else gap / 2)

    def _pull(self, row: list[int], gap: float, sides) -> None:
        desired, weights = [], []
        for item in row:
            total = target = 0.0
            for side in sides:
                for other, w in side[item]:
                    total += w
                    target += w * self.x[other]
            desired.append(target / total if total else self.x[item])
            weights.append(1.0 if total else 0.25)
        seps = [self._separation(a, b, gap) for a, b in zip(row, row[1:])]
        for item, x in zip(row, _ordered_fit(desired, seps, weights)):
            self.x[item] = x

    # -- drawing --------------------------------------------------------------------------

    def draw(self, ids: list, layer_gap: float, margin: float, label_room: float,
             mirror: bool, crossings: int) -> Layout:
        row_height = [max((self.height[i] for i in row if i < self.n), default=0.0)
                      for row in self.rows]
        row_top, y = [], 0.0
        for h in row_height:
            row_top.append(y)
            y += h + layer_gap
        centre_y = [row_top[self.layer[i]] + row_height[self.layer[i]] / 2
                    for i in range(len(self.layer))]
        ports = self._ports()
        pieces: dict[int, tuple[list[Point], list[bool], Point]] = {}
        for k, (s, t) in enumerate(self.graph.pairs):
            if s == t:
                pieces[k] = self._loop(s, centre_y[s])
                continue
            chain = self.chains[k]
            first, last = chain[0], chain[-1]
            points = [(ports[(first, k, "bottom")], centre_y[first] + self.height[first] / 2)]
            straight = []
            for item in chain[1:-1]:
                row = self.layer[item]
                top, bottom = row_top[row], row_top[row] + row_height[row]
                points += [(self.x[item], top), (self.x[item], bottom)]
                straight += [False, True]
            points.append((ports[(last, k, "top")], centre_y[last] - self.height[last] / 2))
            straight.append(False)
            middle = chain[len(chain) // 2] if len(chain) > 2 else None
            label = ((self.x[middle], centre_y[middle]) if middle is not None else
                     ((points[0][0] + points[-1][0]) / 2, (points[0][1] + points[-1][1]) / 2))
            if k in self.back:
                points.reverse()
                straight.reverse()
            pieces[k] = (points, straight, label)

        # the bounding box of everything drawn, then shift to the margin (and mirror)
        xs = [self.x[i] - self.width[i] / 2 for i in range(self.n)]
        xs += [self.x[i] + self.width[i] / 2 for i in range(self.n)]
        for points, _, label in pieces.values():
            xs += [p[0] for p in points] + [label[0] - label_room / 2, label[0] + label_room / 2]
        left = min(xs, default=0.0)
        width = (max(xs, default=0.0) - left) + 2 * margin
        height = max(y - layer_gap, 0.0) + 2 * margin

        def place(p: Point) -> Point:
            x = p[0] - left + margin
            return (round(width - x if mirror else x, 2), round(p[1] + margin, 2))

        boxes = tuple(
            NodeBox(ids[i], *place((self.x[i], centre_y[i])), self.width[i], self.height[i],
                    self.layer[i])
            for i in range(self.n)
        )
        drawn = []
        for k, (s, t) in enumerate(self.graph.pairs):
            points, straight, label = pieces[k]
            points = [place(p) for p in points]
            drawn.append(EdgePath(
                source=ids[s], target=ids[t], path=_path_data(points, straight, loop=s == t),
                start=points[0], end=points[-1], label=place(label), back=k in self.back,
                loop=s == t,
            ))
        return Layout(boxes, tuple(drawn), round(width, 2), round(height, 2),
                      len(self.rows), crossings)

    def _ports(self) -> dict[tuple[int, int, str], float]:
        """Where each edge meets its real nodes: spread along the bottom (edges going
        down) and the top (edges coming in), in the order of their other ends."""
        sides: dict[tuple[int, str], list[tuple[float, int]]] = {}
        for k, chain in self.chains.items():
            sides.setdefault((chain[0], "bottom"), []).append((self.x[chain[1]], k))
            sides.setdefault((chain[-1], "top"), []).append((self.x[chain[-2]], k))
        ports = {}
        for (item, side), ends in sides.items():
            ends.sort()
            usable = max(self.width[item] - 16.0, 0.0)
            step = min(12.0, usable / max(len(ends) - 1, 1))
            for p, (_, k) in enumerate(ends):
                ports[(item, k, side)] = self.x[item] + (p - (len(ends) - 1) / 2) * step
        return ports

    def _loop(self, item: int, y: float) -> tuple[list[Point], list[bool], Point]:
        right = self.x[item] + self.width[item] / 2
        quarter = self.height[item] / 4
        size = self.loop_size
        points = [(right, y - quarter), (right + size, y - quarter - size / 3),
                  (right + size, y + quarter + size / 3), (right, y + quarter)]
        return points, [], (right + size + 4, y)


def _path_data(points: list[Point], straight: list[bool], loop: bool) -> str:
    def xy(p: Point) -> str:
        return f"{_num(p[0])},{_num(p[1])}"

    if loop:  # start, two control points, end
        return f"M{xy(points[0])} C{xy(points[1])} {xy(points[2])} {xy(points[3])}"
    out = [f"M{xy(points[0])}"]
    for a, b, is_straight in zip(points, points[1:], straight):
        if is_straight:
            out.append(f"L{xy(b)}")
        else:
            middle = (a[1] + b[1]) / 2
            out.append(f"C{xy((a[0], middle))} {xy((b[0], middle))} {xy(b)}")
    return " ".join(out)


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _inversions(values: list[int], size: int) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree over 0..size-1)."""
    tree = [0] * (size + 1)
    count = 0
    for seen, v in enumerate(values):
        i, not_greater = v + 1, 0
        while i > 0:
            not_greater += tree[i]
            i -= i & -i
        count += seen - not_greater
        i = v + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _ordered_fit(desired: list[float], seps: list[float], weights: list[float]) -> list[float]:
    """Positions x closest to ``desired`` (weighted least squares) with
    x[i+1] - x[i] >= seps[i]: an isotonic regression after taking the gaps out."""
    offset = [0.0]
    for s in seps:
        offset.append(offset[-1] + s)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for d, off, w in zip(desired, offset, weights):
        blocks.append([d - off, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    fitted: list[float] = []
    for mean, _, count in blocks:
        fitted += [mean] * int(count)
    return [f + off for f, off in zip(fitted, offset)]
