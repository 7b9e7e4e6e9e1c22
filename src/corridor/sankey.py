"""A Sankey layout of our own: nodes in columns, heights proportional to their value,
links as filled cubic-Bezier bands as wide as their value.

One scale (pixels per unit) serves the whole chart, chosen so that the fullest column
fits the height; every column is centred. Within a column the nodes are ordered to
reduce crossings: a few sweeps move each node to the weighted mean position of its
neighbours in the column before (then after), and the order with the fewest weighted
crossings wins. Within a node the bands are stacked in the order of the nodes at their
other end, so bands leaving one node do not cross each other.

The geometry is plain numbers (and an SVG path per band), so a page can draw it as
inline SVG with no script, and ``mirror`` lays it out right to left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InputError

SWEEPS = 4  # forward and backward ordering passes


@dataclass(frozen=True)
class Node:
    key: str
    column: int
    value: float
    last: bool = False  # keep at the bottom of its column (an "end" or "other" node)


@dataclass(frozen=True)
class Link:
    source: str  # key of a node in some column c
    target: str  # key of a node in column c + 1
    value: float


@dataclass(frozen=True)
class PlacedNode:
    key: str
    column: int
    value: float
    x: float  # left edge
    y: float  # top edge
    width: float
    height: float

    @property
    def center_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Band:
    """A link drawn from the source node's side (x0) to the target node's side (x1):
    it covers y0..y0 + width at the source and y1..y1 + width at the target."""

    source: str
    target: str
    value: float
    x0: float
    y0: float
    x1: float
    y1: float
    width: float

    @property
    def path(self) -> str:
        """The band as a closed SVG path: two cubic Beziers joined by straight ends."""
        xm = (self.x0 + self.x1) / 2
        a, b = self.y0, self.y1
        c, d = self.y1 + self.width, self.y0 + self.width
        return (f"M{_n(self.x0)} {_n(a)}C{_n(xm)} {_n(a)} {_n(xm)} {_n(b)} {_n(self.x1)} {_n(b)}"
                f"L{_n(self.x1)} {_n(c)}C{_n(xm)} {_n(c)} {_n(xm)} {_n(d)} {_n(self.x0)} {_n(d)}Z")


@dataclass(frozen=True)
class SankeyLayout:
    width: float
    height: float
    scale: float  # pixels per unit of value
    columns: int
    nodes: tuple[PlacedNode, ...]  # column by column, top to bottom
    bands: tuple[Band, ...]
    crossings: float  # weighted crossings of the chosen order (0 is a planar drawing)

    def node(self, key: str) -> PlacedNode:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)


def layout(
    nodes: Sequence[Node],
    links: Sequence[Link],
    *,
    width: float = 960.0,
    height: float = 420.0,
    node_width: float = 14.0,
    gap: float = 10.0,
    mirror: bool = False,
) -> SankeyLayout:
    """Place ``nodes`` (column 0 first) and draw ``links`` between adjacent columns.

    A node is as tall as its value times the scale; a column's nodes are separated by
    ``gap``. With ``mirror`` column 0 is on the right and links run right to left.
    """
    by_key = {node.key: node for node in nodes}
    if len(by_key) != len(nodes):
        raise InputError("Every node of a Sankey chart needs a key of its own.")
    for link in links:
        source, target = by_key.get(link.source), by_key.get(link.target)
        if source is None or target is None:
            raise InputError(
                f"A Sankey link joins unknown nodes: {link.source!r} to {link.target!r}.")
        if target.column != source.column + 1:
            raise InputError("A Sankey link must join a node to one in the next column.")
        if link.value < 0:
            raise InputError("A Sankey link cannot carry a negative value.")
    if any(node.value < 0 or node.column < 0 for node in nodes):
        raise InputError("Sankey nodes need a column and a value of 0 or more.")
    if not nodes:
        return SankeyLayout(width, height, 0.0, 0, (), (), 0.0)

    count = max(node.column for node in nodes) + 1
    columns: list[list[Node]] = [[] for _ in range(count)]
    for node in nodes:
        columns[node.column].append(node)
    columns = _order(columns, links)
    crossings = _crossings(columns, links)

    usable = [height - gap * max(len(col) - 1, 0) for col in columns]
    if min(usable) <= 0:
        raise InputError("The Sankey chart is too short for the gaps between its nodes.")
    totals = [sum(node.value for node in col) for col in columns]
    scale = min((room / total for room, total in zip(usable, totals) if total > 0),
                default=0.0)
    step = (width - node_width) / (count - 1) if count > 1 else 0.0

    placed: dict[str, PlacedNode] = {}
    ordered: list[PlacedNode] = []
    for c, col in enumerate(columns):
        x = c * step if not mirror else width - node_width - c * step
        used = totals[c] * scale + gap * max(len(col) - 1, 0)
        y = (height - used) / 2
        for node in col:
            p = PlacedNode(node.key, c, node.value, x, y, node_width, node.value * scale)
            placed[node.key] = p
            ordered.append(p)
            y += p.height + gap

    rank = {node.key: i for col in columns for i, node in enumerate(col)}
    out_offset = {key: 0.0 for key in placed}
    in_offset = {key: 0.0 for key in placed}
    bands: list[Band] = []
    for link in sorted(links, key=lambda k: (rank[k.source], rank[k.target])):
        s, t = placed[link.source], placed[link.target]
        w = link.value * scale
        x0 = s.x + s.width if not mirror else s.x
        x1 = t.x if not mirror else t.x + t.width
        bands.append(Band(link.source, link.target, link.value, x0, s.y + out_offset[s.key],
                          x1, 0.0, w))
        out_offset[s.key] += w
    # Incoming bands stack in the order of their sources.
    finished: list[Band] = []
    for band in sorted(bands, key=lambda b: (rank[b.target], rank[b.source])):
        t = placed[band.target]
        finished.append(Band(band.source, band.target, band.value, band.x0, band.y0,
                             band.x1, t.y + in_offset[t.key], band.width))
        in_offset[t.key] += band.width
    finished.sort(key=lambda b: (placed[b.source].column, rank[b.source], rank[b.target]))
    return SankeyLayout(width, height, scale, count, tuple(ordered), tuple(finished),
                        crossings)


def _order(columns: list[list[Node]], links: Sequence[Link]) -> list[list[Node]]:
    """Barycentre sweeps; the order with the fewest weighted crossings wins (the
    given order when nothing beats it)."""
    incoming: dict[str, list[Link]] = {}
    outgoing: dict[str, list[Link]] = {}
    for link in links:
        incoming.setdefault(link.target, []).append(link)
        outgoing.setdefault(link.source, []).append(link)

    def arranged(col: list[Node], neighbours: dict[str, list[Link]], other: str,
                 position: dict[str, int]) -> list[Node]:
        def key(item: tuple[int, Node]) -> tuple[bool, float, int]:
            i, node = item
            near = neighbours.get(node.key, [])
            weight = sum(link.value for link in near)
            if weight > 0:
                centre = sum(position[getattr(link, other)] * link.value
                             for link in near) / weight
            else:
                centre = float(i)
            return (node.last, centre, i)

        return [node for _, node in sorted(enumerate(col), key=key)]

    best = [list(col) for col in columns]
    best_crossings = _crossings(best, links)
    current = [list(col) for col in columns]
    for _ in range(SWEEPS):
        for c in range(1, len(current)):
            position = {n.key: i for i, n in enumerate(current[c - 1])}
            current[c] = arranged(current[c], incoming, "source", position)
        for c in range(len(current) - 2, -1, -1):
            position = {n.key: i for i, n in enumerate(current[c + 1])}
            current[c] = arranged(current[c], outgoing, "target", position)
        found = _crossings(current, links)
        if found < best_crossings:
            best, best_crossings = [list(col) for col in current], found
    return best


def _crossings(columns: list[list[Node]], links: Sequence[Link]) -> float:
    """Pairs of links between the same two columns that cross, each pair weighted by
    the product of their values."""
    rank = {node.key: (c, i) for c, col in enumerate(columns) for i, node in enumerate(col)}
    by_column: dict[int, list[tuple[int, int, float]]] = {}
    for link in links:
        (c, a), (_, b) = rank[link.source], rank[link.target]
        by_column.setdefault(c, []).append((a, b, link.value))
    total = 0.0
    for pairs in by_column.values():
        for i, (a1, b1, v1) in enumerate(pairs):
            for a2, b2, v2 in pairs[i + 1:]:
                if (a1 - a2) * (b1 - b2) < 0:
                    total += v1 * v2
    return total


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
