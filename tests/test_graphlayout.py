"""Our own layered graph layout: boxes never overlap, edges start and end at their
boxes, chains and acyclic graphs run downwards, barycentre sweeps cut crossings,
cycles are broken and drawn as back edges, and the result is deterministic."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.errors import InputError
from corridor.graphlayout import NodeBox, layered_layout

TOLERANCE = 0.01


def overlap(a: NodeBox, b: NodeBox) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def on_border(point, box: NodeBox) -> bool:
    x, y = point
    inside_x = box.left - TOLERANCE <= x <= box.right + TOLERANCE
    inside_y = box.top - TOLERANCE <= y <= box.bottom + TOLERANCE
    on_x_side = min(abs(x - box.left), abs(x - box.right)) <= TOLERANCE
    on_y_side = min(abs(y - box.top), abs(y - box.bottom)) <= TOLERANCE
    return (inside_x and on_y_side) or (inside_y and on_x_side)


def path_ends(path: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and last point of SVG path data made of M, C and L commands."""
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path)]
    return (numbers[0], numbers[1]), (numbers[-2], numbers[-1])


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 12))
    names = [f"n{k}" for k in range(n)]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=30, unique=True))
    sizes = {name: (draw(st.floats(20, 200)), draw(st.floats(10, 60))) for name in names}
    weights = [draw(st.floats(0.5, 1000)) for _ in pairs]
    mirror = draw(st.booleans())
    return names, [(names[a], names[b]) for a, b in pairs], sizes, weights, mirror


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_no_two_boxes_overlap_and_every_edge_meets_its_boxes(graph):
    names, edges, sizes, weights, mirror = graph
    layout = layered_layout(names, edges, sizes=sizes, weights=weights, mirror=mirror)
    assert [b.id for b in layout.nodes] == names
    for i, a in enumerate(layout.nodes):
        assert (a.width, a.height) == pytest.approx(sizes[a.id])
        assert 0 <= a.left and a.right <= layout.width and 0 <= a.top and a.bottom <= layout.height
        for b in layout.nodes[i + 1:]:
            assert not overlap(a, b), (a, b)
    assert [(e.source, e.target) for e in layout.edges] == edges
    for edge in layout.edges:
        source, target = layout.node(edge.source), layout.node(edge.target)
        assert on_border(edge.start, source), edge
        assert on_border(edge.end, target), edge
        assert path_ends(edge.path) == (pytest.approx(edge.start, abs=0.01),
                                        pytest.approx(edge.end, abs=0.01))
        assert edge.loop == (edge.source == edge.target)
        if not edge.loop:  # every other edge crosses layers: down, or up when it is a back edge
            assert source.layer != target.layer
            assert (source.layer > target.layer) == edge.back


def test_a_chain_lays_out_in_order_straight_down():
    names = ["visit", "compare", "order", "install", "bill"]
    layout = layered_layout(names, list(zip(names, names[1:])))
    assert [b.layer for b in layout.nodes] == [0, 1, 2, 3, 4]
    ys = [b.y for b in layout.nodes]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    assert len({b.x for b in layout.nodes}) == 1  # one straight column
    assert layout.crossings == 0 and not any(e.back for e in layout.edges)
    assert layout.layers == 5


def test_every_forward_edge_of_a_dag_goes_down_the_layers():
    # a diamond with a shortcut and a late way in, nodes given in a scrambled order
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d"), ("d", "e"),
             ("late", "e")]
    layout = layered_layout(["e", "d", "late", "c", "b", "a"], edges)
    for edge in layout.edges:
        source, target = layout.node(edge.source), layout.node(edge.target)
        assert not edge.back
        assert target.layer > source.layer
        assert edge.end[1] > edge.start[1]  # drawn downwards
    # longest path from the sources; the late way in sits just above its successor
    assert {b.id: b.layer for b in layout.nodes} == {"a": 0, "b": 1, "c": 1, "d": 2,
                                                     "e": 3, "late": 2}


def test_barycentre_sweeps_cut_the_crossings_of_a_naive_order():
    # the given order puts the targets in the reverse order of their sources
    tops = ["t1", "t2", "t3", "t4"]
    bottoms = ["b4", "b3", "b2", "b1"]
    edges = [("t1", "b1"), ("t2", "b2"), ("t3", "b3"), ("t4", "b4"), ("t1", "b2")]
    naive = layered_layout(tops + bottoms, edges, sweeps=0)
    swept = layered_layout(tops + bottoms, edges)
    assert naive.crossings == 8
    assert swept.crossings == 0
    order = sorted(bottoms, key=lambda name: swept.node(name).x)
    assert order == ["b1", "b2", "b3", "b4"]


def test_a_long_edge_gets_a_lane_of_its_own():
    # a -> d skips two layers; its lane keeps it clear of the boxes it passes
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    layout = layered_layout(["a", "b", "c", "d"], edges, default_size=(100, 30))
    long = next(e for e in layout.edges if (e.source, e.target) == ("a", "d"))
    lane = [float(v) for v in re.findall(r"L(-?[\d.]+),", long.path)]
    assert len(lane) == 2  # straight down through the two layers it crosses
    for name in ("b", "c"):
        box = layout.node(name)
        assert all(x > box.right or x < box.left for x in lane)


def test_a_cycle_is_broken_by_a_back_edge_drawn_upwards():
    edges = [("start", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("b", "b")]
    layout = layered_layout(["a", "b", "c", "start"], edges, roots=["start"])
    back = [e for e in layout.edges if e.back]
    assert [(e.source, e.target) for e in back] == [("c", "a")]
    assert back[0].end[1] < back[0].start[1]  # drawn upwards, arrow into a's bottom
    assert [layout.node(n).layer for n in ("start", "a", "b", "c")] == [0, 1, 2, 3]
    loop = next(e for e in layout.edges if e.loop)
    b = layout.node("b")
    assert loop.start[0] == pytest.approx(b.right) and loop.end[0] == pytest.approx(b.right)
    assert loop.label[0] > b.right  # beside the box, clear of it


def test_the_search_follows_heavy_edges_first_and_starts_at_the_roots():
    # most journeys go a -> c -> b; the few that go a -> b first then loop back
    edges = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "b")]
    layout = layered_layout(["a", "b", "c"], edges, weights=[1, 9, 1, 8])
    assert [(e.source, e.target) for e in layout.edges if e.back] == [("b", "c")]
    assert layout.node("c").layer < layout.node("b").layer
    light_first = layered_layout(["a", "b", "c"], edges, weights=[9, 1, 1, 8])
    assert [(e.source, e.target) for e in light_first.edges if e.back] == [("c", "b")]
    # a root given explicitly is where the search starts
    rooted = layered_layout(["x", "y"], [("x", "y"), ("y", "x")], roots=["y"])
    assert rooted.node("y").layer == 0 and rooted.node("x").layer == 1


def test_mirroring_flips_left_and_right_only():
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "c")]
    plain = layered_layout(["a", "b", "c", "d"], edges)
    mirrored = layered_layout(["a", "b", "c", "d"], edges, mirror=True)
    assert (mirrored.width, mirrored.height) == (plain.width, plain.height)
    for p, m in zip(plain.nodes, mirrored.nodes):
        assert m.x == pytest.approx(plain.width - p.x) and m.y == p.y
    loop = next(e for e in mirrored.edges if e.loop)
    assert loop.start[0] == pytest.approx(mirrored.node("c").left)  # loops on the other side


def test_the_layout_is_deterministic():
    edges = [("s", "a"), ("s", "b"), ("a", "c"), ("b", "c"), ("c", "a"), ("c", "e"), ("b", "e")]
    first = layered_layout(["s", "a", "b", "c", "e"], edges, weights=[3, 3, 2, 2, 1, 4, 1])
    again = layered_layout(["s", "a", "b", "c", "e"], edges, weights=[3, 3, 2, 2, 1, 4, 1])
    assert first == again


def test_an_empty_graph_is_an_empty_drawing():
    layout = layered_layout([], [])
    assert layout.nodes == () and layout.edges == () and layout.layers == 0


@pytest.mark.parametrize("nodes, edges, kwargs, words", [
    (["a", "a"], [], {}, "given twice"),
    (["a"], [("a", "z")], {}, "unknown node 'z'"),
    (["a", "b"], [("a", "b"), ("a", "b")], {}, "is given twice"),
    (["a", "b"], [("a", "b")], {"weights": [0]}, "one positive number per edge"),
    (["a"], [], {"roots": ["q"]}, "root 'q'"),
    (["a"], [], {"sweeps": 10_000}, "sweeps"),
    (["a"], [], {"sizes": {"a": (0, 10)}}, "positive"),
])
def test_bad_input_is_one_sentence(nodes, edges, kwargs, words):
    with pytest.raises(InputError, match=re.escape(words)):
        layered_layout(nodes, edges, **kwargs)


def test_too_many_nodes_are_refused_before_any_work():
    with pytest.raises(InputError, match="at most"):
        layered_layout(range(5_000), [])


def test_too_many_lanes_for_long_edges_are_refused_before_any_work():
    chain = [(k, k + 1) for k in range(299)]
    shortcuts = [(0, k) for k in range(2, 300)]  # each crosses up to 298 layers
    with pytest.raises(InputError, match="waypoints; at most"):
        layered_layout(range(300), chain + shortcuts)
