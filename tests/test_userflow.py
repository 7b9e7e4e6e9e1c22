"""User flow: from each case's first visit to a touchpoint, the next (or previous) steps,
aggregated by level, with the quiet touchpoints of a level merged into "other" and case
counts conserved from level to level; checked on hand-made logs and against a
brute-force computation in plain Python."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from corridor.errors import InputError
from corridor.steps import case_steps
from corridor.userflow import Direction, NodeKind, UserFlow, user_flow

from helpers import timed_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

SHOP = [
    # a: home, view, cart, pay: the flow from view goes cart, pay, then ends
    ("a", "home", 0), ("a", "view", 1), ("a", "cart", 2), ("a", "pay", 3),
    # b: views twice; the flow starts at the FIRST view
    ("b", "view", 0), ("b", "faq", 1), ("b", "view", 2), ("b", "cart", 3),
    # c: view is its last event
    ("c", "home", 0), ("c", "view", 5),
    # d: view, cart and nothing more
    ("d", "search", 0), ("d", "home", 1), ("d", "view", 2), ("d", "cart", 3),
    # e never views
    ("e", "home", 0), ("e", "pay", 1),
]


def links_of(flow: UserFlow) -> dict[tuple[str, str], int]:
    return {(link.source.id, link.target.id): link.cases for link in flow.links}


def nodes_of(flow: UserFlow) -> list[list[tuple[str, int]]]:
    return [[(n.id, n.cases) for n in level] for level in flow.levels]


def assert_conserved(flow: UserFlow) -> None:
    """What enters a node leaves it (unless the journey ends there), and every level
    holds the cases of the one before minus those that ended."""
    out, into = Counter(), Counter()
    for link in flow.links:
        out[link.source.id] += link.cases
        into[link.target.id] += link.cases
        assert link.target.level == link.source.level + 1
    assert [n.cases for n in flow.levels[0]] == [flow.cases]
    for i, level in enumerate(flow.levels):
        for node in level:
            if i > 0:
                assert into[node.id] == node.cases, node
            if node.kind in (NodeKind.END, NodeKind.START) or i == flow.depth:
                assert out[node.id] == 0, node
            else:
                assert out[node.id] == node.cases, node
        if i + 1 < len(flow.levels):
            ended = sum(n.cases for n in level if n.kind in (NodeKind.END, NodeKind.START))
            assert sum(n.cases for n in flow.levels[i + 1]) == \
                sum(n.cases for n in level) - ended


def test_the_flow_after_a_touchpoint_on_a_small_log(put):
    flow = user_flow(put(timed_events(SHOP)), "view", depth=2)
    assert flow.cases == 4 and flow.direction is Direction.AFTER
    assert nodes_of(flow) == [
        [("0:touchpoint:view", 4)],
        [("1:touchpoint:cart", 2), ("1:touchpoint:faq", 1), ("1:end:end", 1)],
        [("2:touchpoint:pay", 1), ("2:touchpoint:view", 1), ("2:end:end", 1)],
    ]
    assert links_of(flow) == {
        ("0:touchpoint:view", "1:touchpoint:cart"): 2,
        ("0:touchpoint:view", "1:touchpoint:faq"): 1,
        ("0:touchpoint:view", "1:end:end"): 1,
        ("1:touchpoint:cart", "2:touchpoint:pay"): 1,
        ("1:touchpoint:cart", "2:end:end"): 1,
        ("1:touchpoint:faq", "2:touchpoint:view"): 1,
    }
    assert [(p.touchpoints, p.edge, p.cases) for p in flow.paths] == [
        ((), True, 1), (("cart",), True, 1), (("cart", "pay"), False, 1),
        (("faq", "view"), False, 1),
    ]
    assert flow.levels[1][0].share == pytest.approx(0.5)
    assert_conserved(flow)


def test_the_flow_before_a_touchpoint_on_a_small_log(put):
    flow = user_flow(put(timed_events(SHOP)), "view", direction="before", depth=2)
    assert flow.cases == 4 and flow.direction is Direction.BEFORE
    # a: home, start; b: start; c: home, start; d: home, search
    assert nodes_of(flow) == [
        [("0:touchpoint:view", 4)],
        [("1:touchpoint:home", 3), ("1:start:start", 1)],
        [("2:touchpoint:search", 1), ("2:start:start", 2)],
    ]
    assert [(p.touchpoints, p.edge, p.cases) for p in flow.paths] == [
        (("home",), True, 2), ((), True, 1), (("home", "search"), False, 1),
    ]
    assert_conserved(flow)


@duckdb_only
def test_a_deep_flow_stops_each_case_at_its_end(put):
    flow = user_flow(put(timed_events(SHOP)), "view", depth=8)
    # the longest way on from view is three steps (b: faq, view, cart), then it ends
    assert len(flow.levels) == 5
    assert [n.id for n in flow.levels[-1]] == ["4:end:end"]
    assert_conserved(flow)


@duckdb_only
def test_the_quiet_touchpoints_of_a_level_merge_into_other(put):
    rows = []
    for i, (nxt, n) in enumerate([("a", 4), ("b", 3), ("c", 2), ("d", 1), ("e", 1)]):
        for k in range(n):
            case = f"{nxt}{k}"
            rows += [(case, "x", 0), (case, nxt, 1), (case, "z", 2)]
    flow = user_flow(put(timed_events(rows)), "x", depth=2, top=2)
    level = flow.levels[1]
    assert [(n.kind, n.touchpoint, n.cases) for n in level] == [
        (NodeKind.TOUCHPOINT, "a", 4), (NodeKind.TOUCHPOINT, "b", 3),
        (NodeKind.OTHER, None, 4),
    ]
    assert level[2].merged == ("c", "d", "e")  # busiest first, ties by name
    assert links_of(flow)[("1:other:other", "2:touchpoint:z")] == 4
    assert_conserved(flow)


@duckdb_only
def test_equal_timestamps_follow_source_order(put):
    rows = [("a", "x", 0), ("a", "y", 0), ("a", "z", 0)]
    after = user_flow(put(timed_events(rows)), "y", depth=1)
    before = user_flow(put(timed_events(rows)), "y", direction="before", depth=1)
    assert [n.touchpoint for n in after.levels[1]] == ["z"]
    assert [n.touchpoint for n in before.levels[1]] == ["x"]


@duckdb_only
def test_the_step_table_gives_the_same_flow_as_the_events(put):
    events = put(timed_events(SHOP))
    assert user_flow(case_steps(events), "view").to_dict() == \
        user_flow(events, "view").to_dict()


@duckdb_only
@pytest.mark.parametrize("kwargs, words", [
    ({"touchpoint": "nowhere"}, "No event is at the touchpoint 'nowhere'"),
    ({"depth": 0}, "depth of a user flow must be a whole number from 1 to 8; got 0"),
    ({"depth": 9}, "from 1 to 8; got 9"),
    ({"depth": True}, "got True"),
    ({"top": 1}, "top of a user flow must be a whole number from 2 to 20; got 1"),
    ({"top": 21}, "got 21"),
    ({"direction": "sideways"}, "'after' or 'before'; got 'sideways'"),
    ({"paths": -1}, "paths"),
])
def test_bad_parameters_are_one_sentence(put, kwargs, words):
    params = {"touchpoint": "view", **kwargs}
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        user_flow(put(timed_events(SHOP)), params.pop("touchpoint"), **params)


# ---- against a brute force -----------------------------------------------------------


def brute_force(rows, touchpoint: str, direction: str, depth: int, top: int, paths: int):
    """The flow computed case by case in plain Python: per level, the nodes (id, cases);
    the links; the top paths."""
    names = sorted({tp for _, tp, _ in rows})
    cases: dict[str, list[tuple[int, int, str]]] = {}
    for seq, (case, tp, offset) in enumerate(rows):
        cases.setdefault(case, []).append((offset, seq, tp))
    walks = []
    for events in cases.values():
        journey = [tp for _, _, tp in sorted(events)]
        if touchpoint not in journey:
            continue
        i = journey.index(touchpoint)
        seen = journey[i + 1:] if direction == "after" else journey[:i][::-1]
        walk = seen[:depth]
        if len(walk) < depth:
            walk = walk + [None]  # the end (or the start) of the journey
        walks.append(walk)
    total = len(walks)
    edge = "end" if direction == "after" else "start"
    counts = [Counter(w[k] for w in walks if len(w) > k) for k in range(depth)]
    node: dict[tuple[int, str | None], str] = {(0, touchpoint): f"0:touchpoint:{touchpoint}"}
    levels = [[(f"0:touchpoint:{touchpoint}", total)]]
    for k, counted in enumerate(counts, start=1):
        if not counted:
            break
        ranked = sorted(((tp, n) for tp, n in counted.items() if tp is not None),
                        key=lambda item: (-item[1], item[0]))
        level = []
        for tp, n in ranked[:top]:
            node[k, tp] = f"{k}:touchpoint:{tp}"
            level.append((node[k, tp], n))
        if ranked[top:]:
            for tp, _ in ranked[top:]:
                node[k, tp] = f"{k}:other:other"
            level.append((f"{k}:other:other", sum(n for _, n in ranked[top:])))
        if counted.get(None):
            node[k, None] = f"{k}:{edge}:{edge}"
            level.append((node[k, None], counted[None]))
        levels.append(level)
    links = Counter()
    for walk in walks:
        full = [touchpoint] + walk
        for k in range(len(full) - 1):
            links[node[k, full[k]], node[k + 1, full[k + 1]]] += 1
    code = {tp: i for i, tp in enumerate(names)}
    path_counts = Counter(tuple(w) for w in walks)
    ordered = sorted(path_counts.items(), key=lambda item: (
        -item[1], [(-1 if tp is None else code[tp]) for tp in item[0]]
        + [-2] * (depth - len(item[0]))))
    found = [(tuple(tp for tp in w if tp is not None), w[-1] is None, n)
             for w, n in ordered[:paths]]
    return levels, dict(links), found


def random_log(seed: int, cases: int = 120):
    rng = random.Random(seed)
    touchpoints = [f"t{i}" for i in range(9)]
    rows = []
    for c in range(cases):
        for k in range(rng.randint(1, 9)):
            # equal offsets now and then: (timestamp, seq) order decides
            rows.append((f"c{c:03d}", rng.choice(touchpoints[: rng.randint(3, 9)]),
                         k - (k % 3 == 2)))
    return rows


@pytest.mark.parametrize("direction, depth, top", [("after", 3, 4), ("before", 4, 3)])
def test_the_flow_matches_a_brute_force_on_a_random_log(put, direction, depth, top):
    rows = random_log(seed=11)
    flow = user_flow(put(timed_events(rows)), "t1", direction=direction, depth=depth,
                     top=top, paths=15)
    levels, links, found = brute_force(rows, "t1", direction, depth, top, paths=15)
    assert nodes_of(flow) == levels
    assert links_of(flow) == links
    assert [(p.touchpoints, p.edge, p.cases) for p in flow.paths] == found
    assert_conserved(flow)


@duckdb_only
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_more_random_logs_match_the_brute_force(put, seed, direction):
    rows = random_log(seed=seed, cases=80)
    depth = 1 + seed * 2
    flow = user_flow(put(timed_events(rows)), "t0", direction=direction, depth=depth,
                     top=2 + seed, paths=50)
    levels, links, found = brute_force(rows, "t0", direction, depth, 2 + seed, paths=50)
    assert nodes_of(flow) == levels
    assert links_of(flow) == links
    assert [(p.touchpoints, p.edge, p.cases) for p in flow.paths] == found
    assert_conserved(flow)


@duckdb_only
def test_the_result_reads_as_plain_data(put):
    data = user_flow(put(timed_events(SHOP)), "view", depth=1).to_dict()
    assert data["direction"] == "after" and data["cases"] == 4
    assert data["levels"][1][0] == {"id": "1:touchpoint:cart", "level": 1,
                                    "kind": "touchpoint", "touchpoint": "cart",
                                    "cases": 2, "share": 0.5, "merged": []}
    assert {"source": "0:touchpoint:view", "target": "1:end:end", "cases": 1,
            "share": 0.25} in data["links"]
