"""Flow analytics on hand-made logs, identical on every engine: drop-off points, loops
and ping-pong, bottlenecks with their trend, and hand-offs between departments."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from corridor.bottlenecks import Trend, bottlenecks
from corridor.dropoff import dropoffs
from corridor.errors import InputError
from corridor.flow import Period
from corridor.handoffs import handoffs
from corridor.loops import loops

from helpers import START, canonical_events

# Each analytic's core test runs on every engine; further behaviour is checked on DuckDB
# alone to keep the Spark run short.
duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)



def event(case, touchpoint, minutes, *, department=None, wait=None, customer=None) -> dict:
    return {
        "case_id": case,
        "customer_id": customer or case,
        "touchpoint": touchpoint,
        "timestamp": START + pd.Timedelta(minutes=minutes),
        "department_id": department,
        "wait_seconds": np.nan if wait is None else float(wait),
    }


def events_frame(rows: list[dict]) -> pd.DataFrame:
    """Canonical events in the given source order."""
    return canonical_events(pd.DataFrame(rows))


# -- drop-offs ---------------------------------------------------------------------------

SHOP = [
    *(event("c1", t, m) for t, m in (("home", 0), ("view", 1), ("cart", 2), ("pay", 3))),
    *(event("c2", t, m) for t, m in (("home", 0), ("view", 1))),
    *(event("c3", t, m) for t, m in (("home", 0), ("view", 1), ("cart", 2))),
    *(event("c4", t, m) for t, m in (("home", 0), ("cart", 1000))),
    *(event("c5", t, m) for t, m in (("view", 0), ("pay", 1))),
]


def test_dropped_journeys_end_where_they_stop(put):
    result = dropoffs(put(events_frame(SHOP)), goal="pay")
    assert (result.cases, result.reached_goal, result.dropped) == (5, 2, 3)
    assert [(e.touchpoint, e.cases) for e in result.exit_points] == [("cart", 2), ("view", 1)]
    assert result.exit_points[0].share == pytest.approx(2 / 3)
    rates = {e.touchpoint: (e.cases_through, e.exits, e.exit_rate) for e in result.exit_rates}
    assert rates == {
        "cart": (3, 2, pytest.approx(2 / 3)),
        "view": (4, 1, 0.25),
        "home": (4, 0, 0.0),
        "pay": (2, 0, 0.0),
    }
    assert result.exit_rates[0].touchpoint == "cart"


def test_recent_journeys_are_in_progress_not_dropped(put):
    result = dropoffs(put(events_frame(SHOP)), goal=["pay"], idle=dt.timedelta(hours=1))
    # c4's last event is the newest in the data: it may still go on
    assert (result.cases, result.in_progress, result.dropped) == (4, 1, 2)
    assert [(e.touchpoint, e.cases) for e in result.exit_points] == [("cart", 1), ("view", 1)]
    assert result.to_dict()["drop_rate"] == pytest.approx(0.5)


@duckdb_only
def test_dropoffs_need_a_goal(put):
    with pytest.raises(InputError, match="goal"):
        dropoffs(put(events_frame(SHOP)), goal=[])


# -- loops -------------------------------------------------------------------------------

LOOPY = [
    *(event("a", t, m) for t, m in (("x", 0), ("y", 1), ("x", 2), ("y", 3))),
    *(event("b", t, m) for t, m in (("x", 0), ("x", 1), ("z", 2))),
    event("c", "z", 0),
    *(event("d", t, m) for t, m in (("x", 0), ("z", 1), ("x", 2))),
]
OWNERS = pd.DataFrame(
    {"touchpoint": ["x", "y", "z"], "stage": ["support"] * 3, "channel": ["web"] * 3,
     "department_id": ["D1", "D2", "D1"], "role": [None] * 3, "attributes": [None] * 3}
).astype("string")


def test_repeats_and_ping_pong_per_touchpoint(put):
    result = loops(put(events_frame(LOOPY)), touchpoints=put(OWNERS))
    assert (result.cases, result.cases_with_repeats, result.total_repeats) == (4, 3, 4)
    assert result.rework_rate == 0.75
    assert [(r.touchpoint, r.cases, r.cases_with_repeats, r.repeats) for r in result.repeats] == [
        ("x", 3, 3, 3),
        ("y", 1, 1, 1),
    ]
    found = {(p.touchpoint, p.via): (p.occurrences, p.cases, p.crosses_departments)
             for p in result.ping_pongs}
    assert found == {("x", "y"): (1, 1, True), ("y", "x"): (1, 1, True), ("x", "z"): (1, 1, False)}
    assert result.cases_with_ping_pong == 2


@duckdb_only
def test_ping_pong_across_departments_only(put):
    result = loops(put(events_frame(LOOPY)), touchpoints=put(OWNERS), across_departments=True)
    assert {(p.touchpoint, p.via) for p in result.ping_pongs} == {("x", "y"), ("y", "x")}
    assert result.ping_pongs[0].to_dict()["department_id"] in ("D1", "D2")
    assert result.cases_with_ping_pong == 1


# -- hand-offs ---------------------------------------------------------------------------

HANDOVERS = [
    event("h1", "t1", 0, department="D1"),
    event("h1", "t2", 10, department="D2"),
    event("h1", "t3", 15, department="D2"),
    event("h1", "t4", 75, department="D1"),
    event("h2", "t1", 0, department="D1"),
    event("h2", "t2", 30, department="D2"),
    event("h3", "t1", 0, department="D1"),
    event("h3", "t5", 5),
]


def test_handoffs_between_departments_with_delays(put):
    result = handoffs(put(events_frame(HANDOVERS)))
    assert (result.transitions, result.handoffs, result.cases_with_handoffs) == (4, 3, 2)
    first, second = result.pairs
    assert (first.from_department, first.to_department, first.count, first.cases) == (
        "D1", "D2", 2, 2
    )
    assert first.delay.median_seconds == pytest.approx(1200.0)
    assert first.delay.p90_seconds == pytest.approx(600 + 0.9 * 1200)
    assert (second.from_department, second.to_department, second.count) == ("D2", "D1", 1)
    assert second.delay.median_seconds == pytest.approx(3600.0)


@duckdb_only
def test_handoffs_take_missing_departments_from_touchpoints(put):
    owners = pd.DataFrame({"touchpoint": ["t5"], "department_id": ["D3"]}).astype("string")
    result = handoffs(put(events_frame(HANDOVERS)), touchpoints=put(owners))
    assert (result.transitions, result.handoffs) == (5, 4)
    d3 = [p for p in result.pairs if p.to_department == "D3"]
    assert [(p.from_department, p.count, p.delay.median_seconds) for p in d3] == [
        ("D1", 1, 300.0)
    ]
    assert result.to_dict()["handoff_rate"] == pytest.approx(0.8)


# -- bottlenecks -------------------------------------------------------------------------

def queue_log() -> tuple[list[dict], pd.DataFrame]:
    """Six weeks: waiting at q grows 100 s a week in region N and stays at 100 s in S;
    r is busier but waits 50 s everywhere."""
    rows = []
    for week in range(6):
        for region, growth in (("N", 100), ("S", 0)):
            for k in range(2):
                case = f"{region}{week}{k}"
                minutes = week * 7 * 24 * 60 + k
                rows.append(event(case, "q", minutes, wait=100 + growth * week))
            for k in range(3):
                case = f"{region}{week}r{k}"
                rows.append(event(case, "r", week * 7 * 24 * 60 + k, wait=50))
    customers = pd.DataFrame(
        {"customer_id": [r["customer_id"] for r in rows],
         "region": [r["customer_id"][0] for r in rows]}
    ).drop_duplicates().astype("string")
    return rows, customers


def test_bottlenecks_rank_by_waiting_times_volume_with_trend(put):
    rows, customers = queue_log()
    result = bottlenecks(put(events_frame(rows)), customers=put(customers))
    assert [b.touchpoint for b in result.overall] == ["q", "r"]
    q = result.overall[0]
    assert q.total_wait_seconds == 2 * (100 + 200 + 300 + 400 + 500 + 600) + 12 * 100
    assert (q.events, q.waited_events) == (24, 24)
    north, south = result.for_region("N"), result.for_region("S")
    assert north[0].touchpoint == "q" and north[0].trend is Trend.INCREASING
    assert north[0].slope_seconds_per_period == pytest.approx(100.0)
    assert [p.mean_wait_seconds for p in north[0].series] == [100, 200, 300, 400, 500, 600]
    assert north[0].series[0].period_start == dt.date(2024, 1, 1)
    assert south[0].touchpoint == "q" and south[0].trend is Trend.FLAT
    assert result.for_region("S")[1].trend is Trend.FLAT  # r
    assert result.to_dict()["regions"][0]["region"] == "N"


@duckdb_only
def test_bottleneck_range_and_top(put):
    rows, customers = queue_log()
    table = put(events_frame(rows))
    result = bottlenecks(
        table, customers=put(customers), until=dt.date(2024, 1, 15), top=1
    )
    (q,) = result.for_region("N")
    assert [p.mean_wait_seconds for p in q.series] == [100, 200]
    assert q.trend is Trend.UNKNOWN  # two weeks are too few for a trend
    assert len(result.overall) == 1
    with pytest.raises(InputError, match="before"):
        bottlenecks(table, since=dt.date(2024, 2, 1), until=dt.date(2024, 1, 1))


def test_missing_waits_can_be_filled_with_the_gap_since_the_previous_event(put):
    rows = [event("a", "order", 0, wait=60), event("a", "install", 3 * 24 * 60)]
    table = put(events_frame(rows))
    plain = {b.touchpoint: b for b in bottlenecks(table).overall}
    assert "install" not in plain  # no wait recorded there: not a bottleneck
    filled = {b.touchpoint: b for b in bottlenecks(table, fill_missing_wait=True).overall}
    assert filled["install"].total_wait_seconds == 3 * 86400
    assert filled["order"].total_wait_seconds == 60  # the first event keeps its own wait
    assert bottlenecks(table, period=Period.MONTH).period is Period.MONTH


# -- the demo company: abandonment, rework, ping-pong and the growing installation wait ---

@pytest.fixture(scope="module")
def demo(demo_company):
    d = demo_company
    return d.events, d.customers, d.touchpoints, d.truths


def test_demo_abandoned_online_orders_are_the_doors_exit_rate(demo):
    events, _, _, truths = demo
    result = dropoffs(events, goal=truths.corridor.goal)
    rates = {e.touchpoint: e.exit_rate for e in result.exit_rates}
    for door in truths.alternatives[0].abandon_rate:
        assert rates[door.touchpoint] == pytest.approx(door.share, abs=0.03)


def test_demo_rework_and_ping_pong_between_billing_and_stores(demo):
    events, _, touchpoints, truths = demo
    planted = truths.loops
    result = loops(events, touchpoints=touchpoints, across_departments=True)
    a, b, _ = planted.pingpong_touchpoints
    (pattern,) = [p for p in result.ping_pongs if (p.touchpoint, p.via) == (a, b)]
    assert (pattern.department_id, pattern.via_department_id) == planted.pingpong_departments
    billing_cases = events.filter(events.touchpoint == a).case_id.nunique().execute()
    assert pattern.cases / billing_cases == pytest.approx(planted.pingpong_probability, abs=0.06)
    (visits,) = [r for r in result.repeats if r.touchpoint == "technician_visit"]
    assert visits.repeat_rate == pytest.approx(planted.technician_revisit_probability, abs=0.07)


def test_demo_ping_pong_hands_cases_back_and_forth(demo):
    events, _, _, truths = demo
    result = handoffs(events)
    billing, stores = truths.loops.pingpong_departments
    pairs = {(p.from_department, p.to_department): p for p in result.pairs}
    bounces = loops(events).ping_pongs
    (pattern,) = [
        p for p in bounces if (p.touchpoint, p.via) == truths.loops.pingpong_touchpoints[:2]
    ]
    assert pairs[(billing, stores)].count >= pattern.occurrences
    assert pairs[(stores, billing)].count >= pattern.occurrences


def test_demo_growing_installation_wait_is_the_regions_top_bottleneck(demo):
    events, customers, _, truths = demo
    planted = truths.bottleneck
    # the analyst looks while the wait is still growing
    result = bottlenecks(events, customers=customers, until=planted.peak_from)
    top = result.for_region(planted.region)[0]
    assert (top.touchpoint, top.trend) == (planted.touchpoint, Trend.INCREASING)
    slopes = {
        r.region: b.slope_seconds_per_period
        for r in result.regions
        for b in r.bottlenecks
        if b.touchpoint == planted.touchpoint
    }
    others = [v for region, v in slopes.items() if region != planted.region]
    assert slopes[planted.region] > 3 * max(others)
    for region in set(slopes) - {planted.region}:
        assert result.for_region(region)[0].trend is not Trend.INCREASING


def test_demo_installation_wait_series_shows_the_planted_peak(demo):
    events, customers, _, truths = demo
    planted = truths.bottleneck
    result = bottlenecks(events, customers=customers)
    top = result.for_region(planted.region)[0]
    assert top.touchpoint == planted.touchpoint

    def mean_days(start, end) -> float:
        weeks = [p for p in top.series if start <= p.period_start < end]
        waited = sum(p.waited_events for p in weeks)
        return sum(p.total_wait_seconds for p in weeks) / waited / 86400

    before = mean_days(truths.start, planted.start)
    peak = mean_days(planted.peak_from, planted.resolved_on)
    planted_ratio = planted.wait_mean_days_peak / planted.wait_mean_days_before
    assert peak / before == pytest.approx(planted_ratio, rel=0.35)


@duckdb_only
def test_a_log_without_waits_has_no_bottlenecks_and_says_so(put, tmp_path):
    rows = [event("a", "order", 0), event("a", "install", 60), event("b", "order", 5)]
    result = bottlenecks(put(events_frame(rows)))
    assert result.overall == () and result.waits_recorded is False
    assert result.to_dict()["waits_recorded"] is False

    from helpers import run_cli, write

    project = tmp_path / "p.duckdb"
    assert run_cli("init", project, "--no-pseudonymise").returncode == 0
    log = write(tmp_path / "events.csv", "customer_id,touchpoint,timestamp\n"
                "c1,order,2024-01-01T10:00:00\nc1,install,2024-01-02T10:00:00\n")
    assert run_cli("ingest", project, "events", log).returncode == 0
    shown = run_cli("flow", project)
    assert shown.returncode == 0, shown.stderr
    assert "no waits recorded" in shown.stdout and " in all" not in shown.stdout
