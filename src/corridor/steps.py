"""The step table every journey analytic shares: events put in case order once, with
touchpoints dictionary-encoded (DESIGN.md §2: sort once for everything).

A small dictionary gives every distinct touchpoint an integer code (codes follow the
sorted names), so per-case work moves integers, not strings. One window over
(timestamp, seq) per case then numbers the steps and looks one event ahead. Variants,
the directly-follows graph, funnels and start/end counts are plain aggregations and
joins over that one table; :meth:`CaseSteps.cached` keeps it on the engine while several
of them run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import ibis
import ibis.expr.types as ir

from .flow import epoch_millis
from .ordering import case_window


@dataclass(frozen=True)
class TouchpointCodes:
    """The dictionary: code ``i`` stands for ``touchpoints[i]`` (sorted names)."""

    touchpoints: tuple[str, ...]

    @property
    def size(self) -> int:
        return max(len(self.touchpoints), 1)

    @property
    def digits(self) -> int:
        """Characters per step in a variant key."""
        return len(str(self.size)) + 1

    def table(self) -> ir.Table:
        return ibis.memtable(
            {"touchpoint": list(self.touchpoints), "code": list(range(len(self.touchpoints)))},
            schema={"touchpoint": "string", "code": "int32"},
        )

    def key_of(self, packed: ir.ArrayValue) -> ir.StringValue:
        """The variant key of a sorted array of ``step * size + code`` values."""
        size, base = self.size, 10 ** (self.digits - 1)
        digits = packed.map(lambda p: (p % size + base).cast("string"))
        return ibis.literal("").join(digits)

    def code_of(self, touchpoint: str) -> int | None:
        """The code of ``touchpoint``, or None when no event is at it."""
        return self._index.get(touchpoint)

    @property
    def _index(self) -> dict[str, int]:
        return {name: code for code, name in enumerate(self.touchpoints)}

    def decode(self, key: str) -> tuple[str, ...]:
        width = self.digits
        base = 10 ** (width - 1)
        return tuple(
            self.touchpoints[int(key[i : i + width]) - base] for i in range(0, len(key), width)
        )


@dataclass(frozen=True)
class CaseSteps:
    """Events in case order with touchpoints encoded. ``table`` has one row per event:
    case_id, code, step (1-based), millis (milliseconds since the epoch), next_code and
    gap_us (microseconds to the next event; both null on a case's last event).
    ``code_table`` is the dictionary on the engine; ``events`` are the events the steps
    were made from (for analytics that need other columns)."""

    table: ir.Table
    codes: TouchpointCodes
    code_table: ir.Table
    events: ir.Table
    is_cached: bool = False

    @contextmanager
    def cached(self) -> Iterator[CaseSteps]:
        """The same steps computed once and kept on the engine until the block ends
        (steps already cached are used as they are)."""
        if self.is_cached:
            yield self
            return
        self.register_dictionary()
        with self.table.cache() as table:
            yield replace(self, table=table, is_cached=True)

    def register_dictionary(self) -> None:
        """Make the dictionary known to the engine before anything built on the steps is
        cached: ibis 12's PySpark cache() compiles without registering in-memory tables,
        so the dictionary is used once on the events' engine first."""
        self.table.get_backend().execute(self.code_table.count())


def touchpoint_codes(events: ir.Table) -> TouchpointCodes:
    """The dictionary of the touchpoints ``events`` visit."""
    distinct = events.filter(events.touchpoint.notnull()).select("touchpoint").distinct()
    return TouchpointCodes(tuple(sorted(distinct.to_pyarrow().column("touchpoint").to_pylist())))


def case_steps(events: ir.Table, codes: TouchpointCodes | None = None) -> CaseSteps:
    """Order and encode ``events`` once. Several analytics can share the result; use
    :meth:`CaseSteps.cached` so that the ordering is computed only once. ``codes`` is
    the dictionary to use (every touchpoint of ``events`` must be in it); by default,
    the one of ``events``."""
    codes = codes or touchpoint_codes(events)
    code_table = codes.table()
    coded = events.select("case_id", "touchpoint", "timestamp", "seq").join(
        code_table, "touchpoint"
    )
    w = case_window(coded)
    table = coded.select(
        "case_id",
        "code",
        step=ibis.row_number().over(w) + 1,
        millis=epoch_millis(coded.timestamp),
        next_code=coded.code.lead().over(w),
        gap_us=coded.timestamp.lead().over(w).delta(coded.timestamp, unit="microsecond"),
    )
    return CaseSteps(table, codes, code_table, events)


def as_steps(source: ir.Table | CaseSteps) -> CaseSteps:
    """Events become steps; steps are used as they are."""
    return source if isinstance(source, CaseSteps) else case_steps(source)
