"""Variants: ordered touchpoint sequences per case, counted, ranked, covered."""

from __future__ import annotations

import pandas as pd
import pytest

from corridor.errors import InputError
from corridor.steps import TouchpointCodes, case_steps
from corridor.variants import coverage_of, top_k, variants

from helpers import timed_events

START = pd.Timestamp("2024-03-01 08:00:00")


def log(rows: list[tuple], *, seqs: list[int] | None = None) -> pd.DataFrame:
    """Canonical events from (case_id, touchpoint, minutes after START); ``seq`` is the
    row position unless given."""
    return timed_events(rows, unit="min", seqs=seqs, start=START)


def repeat(path: tuple[str, ...], cases: int, prefix: str) -> list[tuple]:
    return [(f"{prefix}{i}", tp, 10 * step) for i in range(cases) for step, tp in enumerate(path)]


# 10 cases: 4 × a b c, 3 × a c, 2 × b, 1 × a b c d
SHOP = (
    repeat(("a", "b", "c"), 4, "abc")
    + repeat(("a", "c"), 3, "ac")
    + repeat(("b",), 2, "b")
    + repeat(("a", "b", "c", "d"), 1, "abcd")
)


def test_variants_are_counted_with_shares_most_cases_first(put):
    summary = variants(put(log(SHOP)), top=10)
    assert summary.cases == 10
    assert summary.distinct == 4
    assert [(v.path, v.cases) for v in summary.top] == [
        (("a", "b", "c"), 4),
        (("a", "c"), 3),
        (("b",), 2),
        (("a", "b", "c", "d"), 1),
    ]
    assert [v.share for v in summary.top] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert summary.coverage is None


def test_equal_timestamps_follow_source_order_not_row_order(put):
    # Case k's two events share a timestamp; seq says "y" came first although its row
    # is second. Case m has distinct timestamps that contradict seq: time wins.
    rows = [("k", "x", 0), ("k", "y", 0), ("k", "z", 5), ("m", "x", 9), ("m", "y", 3)]
    summary = variants(put(log(rows, seqs=[11, 10, 12, 1, 2])))
    assert {v.path for v in summary.top} == {("y", "x", "z"), ("y", "x")}


def test_ties_in_count_are_ordered_by_path(put):
    rows = (
        repeat(("b",), 1, "p") + repeat(("a", "b", "c"), 1, "q")
        + repeat(("a", "b"), 1, "r") + repeat(("a", "c"), 2, "s")
    )
    summary = variants(put(log(rows)))
    assert [v.path for v in summary.top] == [
        ("a", "c"), ("a", "b"), ("a", "b", "c"), ("b",),
    ]


def test_paths_over_many_touchpoints_decode_and_sort_like_names(put):
    # 12 touchpoints need two-digit codes; "t10" sorts before "t2" as a name.
    names = [f"t{i}" for i in range(12)]
    rows = repeat(tuple(names), 2, "all") + repeat(("t2", "t11"), 1, "x")
    rows += repeat(("t10", "t0"), 1, "y")
    summary = variants(put(log(rows)))
    assert [v.path for v in summary.top] == [
        tuple(names), ("t10", "t0"), ("t2", "t11"),
    ]


def test_top_k_and_coverage(put):
    with case_steps(put(log(SHOP))).cached() as steps:
        assert [v.path for v in top_k(steps, 2)] == [("a", "b", "c"), ("a", "c")]
        # 4 + 3 = 7 of 10 cases: 0.7 needs exactly two variants (no float round-up),
        # a hair more needs a third.
        seventy = coverage_of(steps, 0.7)
        assert (seventy.variants, seventy.cases) == (2, 7)
        assert coverage_of(steps, 0.7001).variants == 3
        assert coverage_of(steps, 0.4).variants == 1
        full = coverage_of(steps, 1.0)
        assert (full.variants, full.cases, full.share) == (4, 10, 1.0)


def test_coverage_cuts_the_top_list_at_the_variants_needed(put):
    summary = variants(put(log(SHOP)), top=3, coverage=0.9)
    assert summary.coverage.variants == 3
    assert summary.coverage.share == pytest.approx(0.9)
    assert len(summary.top) == 3
    short = variants(put(log(SHOP)), top=3, coverage=0.5)
    assert [v.path for v in short.top] == [("a", "b", "c"), ("a", "c")]


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_coverage_outside_zero_to_one_is_refused(bad):
    with pytest.raises(InputError, match="Coverage"):
        variants(None, coverage=bad)  # refused before the data is touched


def test_no_events_give_an_empty_summary(put):
    summary = variants(put(log([("a", "x", 0)]).iloc[0:0]), coverage=0.5)
    assert (summary.cases, summary.distinct, summary.top) == (0, 0, ())
    assert summary.coverage.variants == 0


def test_codes_round_trip_through_keys():
    codes = TouchpointCodes(tuple(f"n{i}" for i in range(105)))
    assert codes.digits == 4
    key = "".join(str(1000 + c) for c in (104, 0, 7))
    assert codes.decode(key) == ("n104", "n0", "n7")
