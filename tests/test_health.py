"""What changed since last period: the latest days of the data against the days before,
each figure with the direction that is better."""

from __future__ import annotations

import pandas as pd
import pytest

from corridor.errors import InputError
from corridor.health import Better, health_change
from helpers import timed_events

DAY = 24 * 60  # minutes


def two_periods():
    """Days 0–9 (previous) and 10–19 (current), with the log ending on day 19."""
    rows = [("a", "web", 0), ("a", "call", 60), ("b", "web", 2 * DAY),  # previous: 2 cases
            ("c", "web", 12 * DAY), ("c", "shop", 12 * DAY + 30),
            ("d", "web", 15 * DAY), ("e", "call", 19 * DAY)]             # current: 3 cases
    events = timed_events(rows)
    events["outcome"] = ["ok", "failed", "ok", "ok", "ok", "abandoned", "ok"]
    events["wait_seconds"] = [10.0, 30.0, None, 100.0, 200.0, 300.0, None]
    return events


def test_the_latest_period_is_compared_with_the_one_before(put):
    change = health_change(put(two_periods()), days=10)
    assert (change.current_start, change.current_end) == (
        pd.Timestamp("2024-01-11").date(), pd.Timestamp("2024-01-20").date())
    assert change.previous_start == pd.Timestamp("2024-01-01").date()
    cases = change.change("cases")
    assert (cases.current, cases.previous, cases.better) == (3, 2, Better.NEITHER)
    assert cases.improved is None
    failed = change.change("failed_share")
    assert failed.current == pytest.approx(1 / 4) and failed.previous == pytest.approx(1 / 3)
    assert failed.improved is True  # fewer failures is better
    wait = change.change("median_wait_seconds")
    assert (wait.current, wait.previous) == (200.0, 20.0)
    assert wait.improved is False  # longer waits are worse


def test_feedback_and_revenue_join_when_given(put):
    events = put(two_periods())
    feedback = put(pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "timestamp": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-15", "2024-01-16"]),
        "touchpoint": [None] * 4, "metric": ["csat"] * 4, "score": [2.0, 5.0, 5.0, 4.0],
        "text": [None] * 4, "language": [None] * 4,
    }))
    transactions = put(pd.DataFrame({
        "customer_id": ["a", "c", "c"],
        "timestamp": pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-18"]),
        "amount": [100.0, 40.0, 80.0], "margin": [10.0, 4.0, 8.0],
        "kind": ["purchase", "purchase", "refund"],
    }))
    change = health_change(events, feedback=feedback, transactions=transactions, days=10)
    csat = change.change("csat")
    assert (csat.current, csat.previous, csat.improved) == (1.0, 0.5, True)
    assert change.change("nps").current is None  # no NPS answers at all
    revenue = change.change("revenue")
    assert (revenue.current, revenue.previous, revenue.improved) == (40.0, 100.0, False)


@pytest.mark.parametrize("days", [0, 367, 2.5])
def test_the_period_length_is_checked(put, days):
    with pytest.raises(InputError, match="period must be 1 to 366 days"):
        health_change(put(two_periods()), days=days)


def steady_periods():
    """Day 0 and day 10 alike (with 10-day periods the log, ending on day 10, puts each
    in its own period): two journeys each, one failed contact of four, waits of 10 and
    30 seconds; the current period's waits a hair longer (0.02 s)."""
    rows, outcome, wait = [], [], []
    for start, extra in ((0, 0.0), (10 * DAY, 0.02)):
        for k, case in enumerate(("x", "y")):
            rows += [(f"{case}{start}", "web", start + k * 60),
                     (f"{case}{start}", "call", start + k * 60 + 5)]
            outcome += ["ok", "failed" if k == 0 else "ok"]
            wait += [10.0 + extra, 30.0 + extra]
    events = timed_events(rows)
    events["outcome"] = outcome
    events["wait_seconds"] = wait
    return events


def test_a_change_of_zero_reads_no_change(put):
    change = health_change(put(steady_periods()), days=10)
    failed = change.change("failed_share")
    assert failed.current == failed.previous == pytest.approx(0.25)
    assert failed.delta == 0 and failed.unchanged is True
    assert failed.improved is None  # neither better nor worse
    cases = change.change("cases")
    assert (cases.delta, cases.unchanged, cases.improved) == (0, True, None)


def test_a_change_that_rounds_to_zero_at_its_resolution_is_no_change(put):
    wait = health_change(put(steady_periods()), days=10).change("median_wait_seconds")
    assert wait.delta == pytest.approx(0.02)  # shown to a tenth of a second: 0.0
    assert wait.resolution == 0.1
    assert wait.unchanged is True and wait.improved is None
    assert wait.to_dict()["unchanged"] is True


def test_a_figure_without_data_has_no_change_either_way(put):
    change = health_change(put(steady_periods()), days=10, feedback=put(pd.DataFrame({
        "customer_id": ["x0"], "timestamp": pd.to_datetime(["2024-01-08"]),
        "touchpoint": [None], "metric": ["csat"], "score": [5.0], "text": [None],
        "language": [None]})))
    csat = change.change("csat")
    assert (csat.current, csat.previous) == (1.0, None)
    assert (csat.delta, csat.unchanged, csat.improved) == (None, None, None)
