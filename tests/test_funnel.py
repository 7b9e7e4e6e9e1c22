"""Funnels: entry at the first step-1 event, each later step the first occurrence after
the previous one in (timestamp, seq) order, counts that never increase."""

from __future__ import annotations

from datetime import timedelta

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor import store
from corridor.errors import InputError
from corridor.funnel import funnel

from helpers import timed_events as events_frame

# Each analytic's core test runs on every engine; further behaviour is checked on DuckDB
# alone to keep the Spark run short.
duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

SHOP = [
    # c1 goes all the way, visiting faq between view and cart
    ("c1", "home", 0), ("c1", "view", 1), ("c1", "faq", 2), ("c1", "cart", 5),
    ("c1", "pay", 7),
    # c2 enters at view (no home) and converts view -> cart quickly, never pays
    ("c2", "view", 0), ("c2", "cart", 1),
    # c3: cart happens before view only, so cart after view is never reached
    ("c3", "cart", 0), ("c3", "view", 3),
    # c4 views twice; the funnel enters at the first view; cart 11 minutes later
    ("c4", "view", 0), ("c4", "faq", 4), ("c4", "help", 5), ("c4", "view", 6),
    ("c4", "cart", 11), ("c4", "pay", 30),
    # c5 never views
    ("c5", "home", 0), ("c5", "pay", 1),
]


def test_funnel_counts_conversions_and_times_on_a_small_log(put):
    result = funnel(put(events_frame(SHOP)), ["view", "cart", "pay"])
    view, cart, pay = result.steps
    assert [s.cases for s in result.steps] == [4, 3, 2]
    assert cart.conversion_from_previous == pytest.approx(3 / 4)
    assert pay.conversion_from_previous == pytest.approx(2 / 3)
    assert pay.conversion_from_first == pytest.approx(2 / 4)
    assert [s.drop_off for s in result.steps] == [0, 1, 1]
    # view -> cart: c1 4 min, c2 1 min, c4 11 min (from the first view)
    assert cart.time_to_convert.median_seconds == pytest.approx(240.0)
    assert cart.time_to_convert.p90_seconds == pytest.approx(240 + 0.8 * 420)
    # cart -> pay: c1 2 min, c4 19 min
    assert pay.time_to_convert.median_seconds == pytest.approx(10.5 * 60)
    assert view.time_to_convert.median_seconds is None
    assert [(b.touchpoint, b.cases) for b in cart.between] == [
        ("faq", 2), ("help", 1), ("view", 1)
    ]
    assert pay.between == ()


@duckdb_only
def test_funnel_may_start_anywhere_in_the_journey(put):
    result = funnel(put(events_frame(SHOP)), ["cart", "pay"])
    assert [s.cases for s in result.steps] == [4, 2]


def test_equal_timestamps_follow_source_order(put):
    rows = [("a", "x", 0), ("a", "y", 0), ("b", "y", 0), ("b", "x", 0)]
    result = funnel(put(events_frame(rows)), ["x", "y"])
    assert [s.cases for s in result.steps] == [2, 1]
    assert result.steps[1].time_to_convert.median_seconds == 0.0


def test_window_from_entry_excludes_late_conversions(put):
    table = put(events_frame(SHOP))
    result = funnel(table, ["view", "cart", "pay"], within=timedelta(minutes=10))
    # c4's cart is 11 minutes after its first view: out of the window
    assert [s.cases for s in result.steps] == [4, 2, 1]
    assert result.within_seconds == 600.0


@duckdb_only
def test_a_step_may_repeat_a_touchpoint(put):
    rows = [("a", "x", 0), ("a", "y", 1), ("a", "x", 2), ("b", "x", 0), ("b", "y", 1)]
    result = funnel(put(events_frame(rows)), ["x", "y", "x"])
    assert [s.cases for s in result.steps] == [2, 2, 1]


@duckdb_only
def test_unknown_steps_give_empty_steps_not_errors(put):
    result = funnel(put(events_frame(SHOP)), ["view", "nowhere"])
    assert [s.cases for s in result.steps] == [4, 0]
    assert result.steps[1].time_to_convert.median_seconds is None
    assert result.to_dict()["overall_conversion"] == 0.0


@duckdb_only
def test_a_step_no_event_has_is_refused_with_the_nearest_known_touchpoints(put):
    table = put(events_frame(SHOP))
    known = {"home", "view", "faq", "cart", "help", "pay"}
    with pytest.raises(InputError, match=r"'cartt'; nearest known: cart"):
        funnel(table, ["view", "cartt"], known=known)
    with pytest.raises(InputError, match=r"'nosuch'; the events' touchpoints are cart,"):
        funnel(table, ["view", "nosuch"], known=known)
    # a known step that the events given (a filtered view) never reach still counts 0
    assert [s.cases for s in funnel(table, ["view", "help"], known=known | {"gone"}).steps] == [4, 1]


def test_the_funnel_command_refuses_an_unknown_step_with_exit_two(tmp_path):
    from helpers import run_cli, write

    project = tmp_path / "p.duckdb"
    assert run_cli("init", project, "--no-pseudonymise").returncode == 0
    log = write(tmp_path / "events.csv", "customer_id,touchpoint,timestamp\n"
                "c1,ad_seen,2024-01-01T10:00:00\nc1,order_online,2024-01-02T10:00:00\n")
    assert run_cli("ingest", project, "events", log).returncode == 0
    refused = run_cli("funnel", project, "--step", "ad_seen", "--step", "order_onlin")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == ("Error: No event is at the funnel step 'order_onlin';"
                                      " nearest known: order_online.")
    later = run_cli("funnel", project, "--step", "ad_seen", "--step", "order_online",
                    "--from", "2024-01-02", "--json")  # known, only filtered away: 0 cases
    assert later.returncode == 0, later.stderr


@duckdb_only
def test_funnel_rejects_bad_step_lists(put):
    table = put(events_frame(SHOP))
    with pytest.raises(InputError, match="at least one step"):
        funnel(table, [])
    with pytest.raises(InputError, match="single string"):
        funnel(table, "view")
    with pytest.raises(InputError, match="positive"):
        funnel(table, ["view"], within=timedelta(0))


# -- property: on random small logs the funnel matches a direct reading of each case ----

def reference_counts(rows, steps, within_minutes=None) -> list[int]:
    by_case: dict[str, list[tuple[float, int, str]]] = {}
    for seq, (case, touchpoint, minutes) in enumerate(rows):
        by_case.setdefault(case, []).append((minutes, seq, touchpoint))
    counts = [0] * len(steps)
    for events in by_case.values():
        events.sort()
        position, entry = -1, None
        for i, step in enumerate(steps):
            later = [
                j for j in range(position + 1, len(events))
                if events[j][2] == step
                and (entry is None or within_minutes is None
                     or events[j][0] - entry <= within_minutes)
            ]
            if not later:
                break
            position = later[0]
            entry = events[position][0] if i == 0 else entry
            counts[i] += 1
    return counts


logs = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(min_value=0, max_value=20),
    ),
    min_size=1,
    max_size=30,
)
funnels = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def duckdb_memory():
    con = ibis.duckdb.connect()
    yield con
    con.disconnect()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs, steps=funnels, within=st.one_of(st.none(), st.integers(0, 10)))
def test_funnel_counts_never_increase_and_match_each_case(duckdb_memory, rows, steps, within):
    table = store.put_table(duckdb_memory, "events", events_frame(rows))
    window = None if within is None else timedelta(minutes=within)
    if window == timedelta(0):
        window = timedelta(seconds=1)
        within = 1 / 60
    result = funnel(table, steps, within=window)
    counts = [s.cases for s in result.steps]
    assert all(later <= earlier for earlier, later in zip(counts, counts[1:]))
    assert counts == reference_counts(rows, steps, within)
    assert all(s.drop_off >= 0 for s in result.steps)


# -- the demo company: abandoned online orders --------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_company):
    return demo_company.events, demo_company.truths


def test_demo_online_orders_convert_except_the_planted_abandonments(demo):
    events, truths = demo
    (group,) = truths.alternatives
    for door in group.abandon_rate:
        result = funnel(events, [door.touchpoint, "credit_check"])
        converted = result.steps[1].conversion_from_previous
        assert converted == pytest.approx(1 - door.share, abs=0.03), door.touchpoint
