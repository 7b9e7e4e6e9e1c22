"""What a figure covers, in words and as data: the period the events span, the filters
applied and the journey type, so that every command and page can say it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis.expr.types as ir

from .filters import EventFilter


def describe_filter(flt: EventFilter | None) -> str:
    """A filter in words ("all events" when there is none)."""
    if flt is None or flt.is_empty:
        return "all events"
    parts = []
    for label, values in (("segment", flt.segments), ("level", flt.levels),
                          ("channel", flt.channels), ("department", flt.departments),
                          ("outcome", flt.outcomes), ("touchpoint", flt.touchpoints),
                          ("lifecycle", flt.lifecycles)):
        if values:
            parts.append(f"{label} {' or '.join(values)}")
    period = ""
    if flt.start or flt.end:
        period = f" from {flt.start or 'the first event'} to {flt.end or 'the last event'}"
    return "events" + period + (" of " + ", ".join(parts) if parts else "")


@dataclass(frozen=True)
class Covers:
    first: dt.datetime | None  # the earliest event covered; None: no event
    last: dt.datetime | None
    filters: str  # in words
    journey: str | None  # the journey type; None: every case

    def __str__(self) -> str:
        span = "no events" if self.first is None else f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"
        who = f"cases of journey type {self.journey!r}" if self.journey else "every case"
        return f"{self.filters} ({span}), {who}"

    def to_dict(self) -> dict:
        return {"first": None if self.first is None else self.first.isoformat(),
                "last": None if self.last is None else self.last.isoformat(),
                "filters": self.filters, "journey": self.journey, "text": str(self)}


def covers(events: ir.Table, flt: EventFilter | None = None, journey: str | None = None) -> Covers:
    """What an analysis of ``events`` (already filtered by ``flt``) covers."""
    row = events.aggregate(first=events.timestamp.min(), last=events.timestamp.max()) \
        .to_pyarrow().to_pylist()[0]
    return Covers(row["first"], row["last"], describe_filter(flt), journey)
