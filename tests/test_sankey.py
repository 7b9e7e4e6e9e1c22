"""The Sankey layout: node heights proportional to their values with one scale for the
whole chart, bands that start and end inside their nodes, nodes that never overlap,
an order that removes avoidable crossings, and a mirror image for right-to-left pages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.errors import InputError
from corridor.sankey import Link, Node, SankeyLayout, layout

EPS = 1e-6


def check_geometry(drawn: SankeyLayout, nodes, links, gap: float) -> None:
    placed = {n.key: n for n in drawn.nodes}
    assert set(placed) == {n.key for n in nodes}
    # one scale: every node is value × scale tall, so each column's heights sum to its
    # cases × scale
    for node in nodes:
        assert placed[node.key].height == pytest.approx(node.value * drawn.scale)
    for c in range(drawn.columns):
        column = sorted((p for p in drawn.nodes if p.column == c), key=lambda p: p.y)
        total = sum(n.value for n in nodes if n.column == c)
        assert sum(p.height for p in column) == pytest.approx(total * drawn.scale)
        # no overlap, a gap between neighbours, all inside the chart
        for upper, lower in zip(column, column[1:]):
            assert lower.y >= upper.y + upper.height + gap - EPS
        if column:
            assert column[0].y >= -EPS
            assert column[-1].y + column[-1].height <= drawn.height + EPS
            assert len({p.x for p in column}) == 1
    # bands start and end within their nodes, at the nodes' facing sides
    for band in drawn.bands:
        s, t = placed[band.source], placed[band.target]
        assert s.y - EPS <= band.y0 and band.y0 + band.width <= s.y + s.height + EPS
        assert t.y - EPS <= band.y1 and band.y1 + band.width <= t.y + t.height + EPS
        assert band.width == pytest.approx(band.value * drawn.scale)
        assert band.x0 in (pytest.approx(s.x), pytest.approx(s.x + s.width))
        assert band.x1 in (pytest.approx(t.x), pytest.approx(t.x + t.width))
    # bands of one node do not overlap each other on either side
    for side, key, start in (("source", "source", "y0"), ("target", "target", "y1")):
        by_node: dict[str, list] = {}
        for band in drawn.bands:
            by_node.setdefault(getattr(band, key), []).append(band)
        for bands in by_node.values():
            spans = sorted((getattr(b, start), getattr(b, start) + b.width) for b in bands)
            for (_, end), (begin, _) in zip(spans, spans[1:]):
                assert begin >= end - EPS, side


FLOW_NODES = [
    Node("x", 0, 10),
    Node("a", 1, 6), Node("b", 1, 3), Node("end1", 1, 1, last=True),
    Node("c", 2, 5), Node("d", 2, 4),
]
FLOW_LINKS = [
    Link("x", "a", 6), Link("x", "b", 3), Link("x", "end1", 1),
    Link("a", "c", 4), Link("a", "d", 2), Link("b", "d", 2), Link("b", "c", 1),
]


def test_heights_bands_and_gaps_on_a_small_flow():
    drawn = layout(FLOW_NODES, FLOW_LINKS, width=600, height=300, gap=10)
    check_geometry(drawn, FLOW_NODES, FLOW_LINKS, gap=10)
    # the fullest column (three nodes, two gaps) fills the height exactly
    assert drawn.scale == pytest.approx((300 - 2 * 10) / 10)
    assert drawn.columns == 3
    x = drawn.node("x")
    assert (x.x, drawn.node("c").x + drawn.node("c").width) == (0, 600)
    # the bands out of x fill it from the top, in the order of their targets
    out = [b for b in drawn.bands if b.source == "x"]
    assert out[0].y0 == pytest.approx(x.y)
    assert sum(b.width for b in out) == pytest.approx(x.height)


def test_the_layout_removes_crossings_the_given_order_has():
    # given order: column 1 is (p, q) but p feeds the lower node of column 2
    nodes = [Node("s1", 0, 5), Node("s2", 0, 5), Node("p", 1, 5), Node("q", 1, 5),
             Node("u", 2, 5), Node("v", 2, 5)]
    links = [Link("s1", "q", 5), Link("s2", "p", 5), Link("q", "u", 5), Link("p", "v", 5)]
    drawn = layout(nodes, links)
    assert drawn.crossings == 0
    check_geometry(drawn, nodes, links, gap=10.0)

    def by_y(c: int) -> list[str]:
        return [p.key for p in sorted(drawn.nodes, key=lambda p: p.y) if p.column == c]

    # each chain is drawn at one height: s1-q-u above s2-p-v (or the other way round)
    top = {by_y(0)[0], by_y(1)[0], by_y(2)[0]}
    assert top in ({"s1", "q", "u"}, {"s2", "p", "v"})


def test_nodes_marked_last_stay_at_the_bottom_of_their_column():
    drawn = layout(FLOW_NODES, FLOW_LINKS)
    column = sorted((p for p in drawn.nodes if p.column == 1), key=lambda p: p.y)
    assert column[-1].key == "end1"


def test_the_mirror_image_runs_right_to_left():
    plain = layout(FLOW_NODES, FLOW_LINKS, width=600, height=300)
    mirror = layout(FLOW_NODES, FLOW_LINKS, width=600, height=300, mirror=True)
    for p in plain.nodes:
        m = mirror.node(p.key)
        assert m.x == pytest.approx(600 - p.width - p.x)
        assert (m.y, m.height) == (pytest.approx(p.y), pytest.approx(p.height))
    assert mirror.node("x").x > mirror.node("c").x
    for band in mirror.bands:
        assert band.x0 > band.x1  # from the source's left side to the target's right
    check_geometry(mirror, FLOW_NODES, FLOW_LINKS, gap=10.0)


def test_a_band_is_a_closed_path_of_two_beziers():
    drawn = layout(FLOW_NODES, FLOW_LINKS, width=600, height=300)
    band = drawn.bands[0]
    path = band.path
    assert path.startswith("M") and path.endswith("Z")
    assert path.count("C") == 2 and path.count("L") == 1
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    assert numbers[:2] == [pytest.approx(band.x0, abs=0.01), pytest.approx(band.y0, abs=0.01)]


@pytest.mark.parametrize("nodes, links, words", [
    ([Node("a", 0, 1), Node("b", 2, 1)], [Link("a", "b", 1)], "next column"),
    ([Node("a", 0, 1)], [Link("a", "zz", 1)], "unknown nodes"),
    ([Node("a", 0, 1), Node("a", 1, 1)], [], "key of its own"),
    ([Node("a", 0, -1)], [], "value of 0 or more"),
])
def test_impossible_charts_are_refused(nodes, links, words):
    with pytest.raises(InputError, match=words):
        layout(nodes, links)


def test_an_empty_chart_has_nothing_to_draw():
    drawn = layout([], [])
    assert drawn.nodes == () and drawn.bands == ()


@st.composite
def layered_graphs(draw):
    """Random layered graphs whose nodes hold at least what enters and what leaves."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=6))
    keys = [[f"{c}-{i}" for i in range(n)] for c, n in enumerate(sizes)]
    links = []
    for c in range(len(keys) - 1):
        for s in keys[c]:
            for t in keys[c + 1]:
                if draw(st.booleans()):
                    links.append(Link(s, t, draw(st.integers(1, 50))))
    flows: dict[str, tuple[int, int]] = {}
    for link in links:
        i, o = flows.get(link.source, (0, 0))
        flows[link.source] = (i, o + link.value)
        i, o = flows.get(link.target, (0, 0))
        flows[link.target] = (i + link.value, o)
    nodes = [Node(k, c, max(flows.get(k, (0, 0))) + draw(st.integers(0, 5)),
                  last=draw(st.booleans()))
             for c, column in enumerate(keys) for k in column]
    return nodes, links


@settings(max_examples=60, deadline=None)
@given(layered_graphs(), st.booleans())
def test_any_layered_graph_keeps_the_geometry(graph, mirror):
    nodes, links = graph
    drawn = layout(nodes, links, width=800, height=500, gap=8, mirror=mirror)
    check_geometry(drawn, nodes, links, gap=8)
    assert drawn.crossings <= crossings_in_given_order(nodes, links) + EPS
    assert drawn.crossings == crossings_drawn(drawn)


def crossings_in_given_order(nodes, links) -> float:
    """Weighted crossings when each column keeps the order the nodes were given in."""
    rank: dict[str, int] = {}
    for node in nodes:
        rank[node.key] = sum(1 for other in rank if other.split("-")[0] == node.key.split("-")[0])
    return weighted_crossings([(node_column(nodes, k.source), rank[k.source], rank[k.target],
                                k.value) for k in links])


def crossings_drawn(drawn: SankeyLayout) -> float:
    """Weighted crossings of the layout as drawn (node order by height on the page)."""
    rank = {}
    for c in range(drawn.columns):
        for i, p in enumerate(sorted((p for p in drawn.nodes if p.column == c),
                                     key=lambda p: p.y)):
            rank[p.key] = i
    return weighted_crossings([(drawn.node(b.source).column, rank[b.source], rank[b.target],
                                b.value) for b in drawn.bands])


def node_column(nodes, key: str) -> int:
    return next(n.column for n in nodes if n.key == key)


def weighted_crossings(links) -> float:
    total = 0.0
    for i, (c1, a1, b1, v1) in enumerate(links):
        for c2, a2, b2, v2 in links[i + 1:]:
            if c1 == c2 and (a1 - a2) * (b1 - b2) < 0:
                total += v1 * v2
    return total
