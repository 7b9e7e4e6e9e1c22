"""Invariants of ingest over any mix of good and bad rows (hypothesis)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor.errors import RejectRateExceeded
from corridor.ingest import ingest_file
from corridor.store import Project

GOOD = st.builds(
    lambda day, amount: ("good", f"2024-01-{day:02d} 10:00", f"{amount:.2f}"),
    st.integers(1, 28), st.floats(0, 1e6, allow_nan=False),
)
BAD = st.sampled_from([
    ("bad", "2024-13-45 99:99", "10"),      # impossible date
    ("bad", "2024-01-01", "ten"),           # amount not a number
    ("bad", "", "10"),                      # missing timestamp
    ("short", None, None),                  # too few fields
])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(GOOD, BAD), min_size=0, max_size=40))
def test_every_row_lands_in_exactly_one_place_and_reingest_is_a_no_op(rows):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lines, bad_lines = ["customer_id,timestamp,amount"], set()
        for i, (what, ts, amount) in enumerate(rows):
            line_no = len(lines) + 1
            if what == "short":
                lines.append(f"c{i}")
            else:
                lines.append(f"c{i},{ts},{amount}")
            if what != "good":
                bad_lines.add(line_no)
        path = tmp / "t.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with Project.create(tmp / "p.duckdb") as project:
            if rows and len(bad_lines) == len(rows):
                # a file of bad rows only is refused whole, so it can load once fixed
                with pytest.raises(RejectRateExceeded, match="all .* rows were rejected"):
                    ingest_file(project, "transactions", path)
                assert project.con.execute("SELECT count(*) FROM loads").fetchone()[0] == 0
                return
            result = ingest_file(project, "transactions", path)
            assert result.read == len(rows)
            assert result.read == result.accepted + result.rejected
            assert result.rejected == len(bad_lines)
            reject_lines = {r[0] for r in project.con.execute("SELECT line FROM rejects").fetchall()}
            assert reject_lines == bad_lines
            assert project.con.execute("SELECT count(*) FROM rejects WHERE line IS NULL OR raw IS NULL").fetchone()[0] == 0
            before = project.counts()
            again = ingest_file(project, "transactions", path)
            assert again.already_loaded
            assert project.counts() == before
