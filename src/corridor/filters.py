"""Filters on events: period, customer segment and level, channel, department, outcome,
touchpoint and lifecycle.

Filtering works on events, not on whole cases: an event that does not match is removed
from its case's sequence and the rest of the case stays. Filter by channel "web" and a
case web → phone → web becomes web → web. A case with no matching event disappears.

Every criterion is a tuple of accepted values; an empty tuple accepts everything.
Criteria combine with AND; values inside one criterion combine with OR.

*Lifecycle* is the XES ``lifecycle:transition`` of an event (schedule, start, complete,
...): a source that records every activity instance as several events (BPIC 2012 writes
SCHEDULE, START and COMPLETE) is read one event per instance with ``lifecycles=
("complete",)``. Lifecycle values are compared without regard to case, and an event
without a lifecycle does not pass a lifecycle filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import ibis.expr.types as ir

from .errors import InputError
from .schema import LEVELS, LIFECYCLE, OUTCOMES


@dataclass(frozen=True)
class EventFilter:
    """Which events an analysis looks at.

    ``start`` is inclusive. ``end`` given as a datetime is exclusive; given as a date it
    includes that whole day (``end=date(2024, 1, 31)`` keeps all of 31 January).
    Timestamps are stored as naive UTC: naive datetimes are taken as UTC, aware ones are
    converted to UTC.
    """

    start: datetime | date | None = None
    end: datetime | date | None = None
    segments: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()
    lifecycles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("segments", "levels", "channels", "departments", "outcomes",
                     "touchpoints", "lifecycles"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, tuple):
                raise InputError(
                    f"The filter's {name} must be a tuple of values; got {value!r}."
                )
        _check_choices("level", self.levels, LEVELS)
        _check_choices("outcome", self.outcomes, OUTCOMES)
        start, end = _start_bound(self.start), _end_bound(self.end)
        if start is not None and end is not None and end <= start:
            raise InputError(
                f"The filter's period is empty: end {self.end} is not after start"
                f" {self.start}."
            )

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps every event."""
        return self == EventFilter()


def apply(
    events: ir.Table,
    flt: EventFilter,
    customers: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
) -> ir.Table:
    """The events that pass ``flt``, with the same columns as ``events``.

    Segment and level need ``customers`` (matched on customer_id; an event whose customer
    is unknown does not pass). Department and channel use the event's own value and,
    when it is missing and ``touchpoints`` is given, the value its touchpoint declares.
    """
    keep: list[ir.BooleanValue] = []
    start, end = _start_bound(flt.start), _end_bound(flt.end)
    if start is not None:
        keep.append(events.timestamp >= start)
    if end is not None:
        keep.append(events.timestamp < end)
    if flt.outcomes:
        keep.append(events.outcome.isin(flt.outcomes))
    if flt.touchpoints:
        keep.append(events.touchpoint.isin(flt.touchpoints))
    if flt.lifecycles:
        keep.append(_lifecycle_in(events, flt.lifecycles))
    if flt.channels:
        keep.append(_own_or_declared(events, touchpoints, "channel", flt.channels))
    if flt.departments:
        keep.append(
            _own_or_declared(events, touchpoints, "department_id", flt.departments)
        )
    filtered = events.filter(*keep) if keep else events
    if flt.segments or flt.levels:
        if customers is None:
            raise InputError(
                "Filtering by segment or customer level needs the customers table;"
                " none was given."
            )
        chosen = customers
        if flt.segments:
            chosen = chosen.filter(chosen.segment.isin(flt.segments))
        if flt.levels:
            chosen = chosen.filter(chosen.level.isin(flt.levels))
        filtered = filtered.semi_join(chosen.select("customer_id"), "customer_id")
    return filtered


def _lifecycle_in(events: ir.Table, accepted: tuple[str, ...]) -> ir.BooleanValue:
    if LIFECYCLE not in events.columns:
        raise InputError(
            "Filtering by lifecycle needs a lifecycle column in the events, and these"
            " events have none."
        )
    return events[LIFECYCLE].lower().isin(tuple(v.lower() for v in accepted))


def _own_or_declared(
    events: ir.Table, touchpoints: ir.Table | None, column: str, accepted: tuple[str, ...]
) -> ir.BooleanValue:
    """The event's own ``column`` is accepted, or it has none and its touchpoint declares
    an accepted one. Written as IN-subqueries so no join can duplicate events."""
    own = events[column]
    if touchpoints is None:
        return own.isin(accepted)
    declaring = touchpoints.filter(touchpoints[column].isin(accepted)).touchpoint
    return own.isin(accepted) | (own.isnull() & events.touchpoint.isin(declaring))


def _check_choices(what: str, given: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for value in given:
        if value not in allowed:
            raise InputError(
                f"Unknown {what} {value!r} in the filter; expected one of"
                f" {', '.join(allowed)}."
            )


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _start_bound(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise InputError(f"The filter's start must be a date or datetime; got {value!r}.")


def _end_bound(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) + timedelta(days=1)
    raise InputError(f"The filter's end must be a date or datetime; got {value!r}.")

