"""The filters every page shares, kept in the URL so any view can be bookmarked and
shared: ``?from=2024-01-01&to=2024-03-31&segment=retail&channel=web&channel=phone``.

``from`` and ``to`` are days (``to`` includes its whole day) between
:data:`FIRST_DAY` and :data:`LAST_DAY`; ``segment``, ``level``, ``channel`` and
``department`` may repeat, and values of one name combine with OR. No value of any query
parameter may hold a control character (NUL, a line break, ...): such a request is refused
with one sentence before anything reads the project.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import ibis.expr.types as ir

from .errors import InputError
from .filters import EventFilter, apply

LIST_FIELDS = ("segment", "level", "channel", "department")
MAX_VALUES = 50  # values per filter name: more is not a person choosing
MAX_VALUE_LENGTH = 200  # characters of one filter value: no name is longer
# The days a filter may name: wide enough for any real history and plan, narrow enough
# that a day after the last one still exists (``to`` includes its whole day).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2200, 12, 31)
# What the OpenAPI document says of a text value: no control characters (as refused below).
TEXT_PATTERN = r"^[^\u0000-\u001F\u007F-\u009F]*$"


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc: NUL, tab, line
    breaks, DEL, the C1 controls) or a lone surrogate."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def check_query_text(query) -> None:
    """Refuse a query string (a Starlette ``QueryParams``, or a mapping with ``getlist``)
    that holds a control character in any parameter's name or value: one
    :class:`InputError`."""
    items = (query.multi_items() if hasattr(query, "multi_items")
             else [(k, v) for k in query for v in query.getlist(k)])
    for key, value in items:
        if has_control_character(key) or has_control_character(value):
            shown = key if not has_control_character(key) else key.encode("unicode_escape").decode()
            raise InputError(f"The parameter {shown!r} must not contain control characters"
                             f" such as NUL or line breaks.")


def parse_day(key: str, text: str) -> dt.date:
    """The day ``text`` names (``2024-01-31``), between FIRST_DAY and LAST_DAY; else one
    :class:`InputError` naming the filter ``key``."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"The filter {key!r} must be a day like 2024-01-31; got {text!r}."
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"The filter {key!r} must be a day from {FIRST_DAY.isoformat()} to"
                         f" {LAST_DAY.isoformat()}; got {text!r}.")
    return day


@dataclass(frozen=True)
class PageFilters:
    start: dt.date | None = None
    end: dt.date | None = None
    segment: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    department: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query) -> PageFilters:
        """The filters in a request's query string (a Starlette ``QueryParams`` or any
        mapping with ``getlist``); a malformed value is one :class:`InputError`."""
        check_query_text(query)
        values: dict[str, object] = {}
        for name, key in (("start", "from"), ("end", "to")):
            text = (query.get(key) or "").strip()
            if text:
                values[name] = parse_day(key, text)
        for name in LIST_FIELDS:
            chosen = tuple(dict.fromkeys(v.strip() for v in query.getlist(name) if v.strip()))
            if len(chosen) > MAX_VALUES:
                raise InputError(f"The filter {name!r} takes at most {MAX_VALUES} values.")
            if any(len(v) > MAX_VALUE_LENGTH for v in chosen):
                raise InputError(f"A value of the filter {name!r} has more than"
                                 f" {MAX_VALUE_LENGTH} characters.")
            values[name] = chosen
        filters = cls(**values)
        filters.event_filter()  # an empty period or an unknown level is refused here
        return filters

    @property
    def is_empty(self) -> bool:
        return self == PageFilters()

    def event_filter(self) -> EventFilter:
        return EventFilter(start=self.start, end=self.end, segments=self.segment,
                           levels=self.level, channels=self.channel,
                           departments=self.department)

    def pairs(self) -> list[tuple[str, str]]:
        """The filters as query-string pairs, in a stable order."""
        out: list[tuple[str, str]] = []
        if self.start:
            out.append(("from", self.start.isoformat()))
        if self.end:
            out.append(("to", self.end.isoformat()))
        for name in LIST_FIELDS:
            out.extend((name, value) for value in getattr(self, name))
        return out

    def query(self, **extra) -> str:
        """The query string of these filters plus ``extra`` (None values left out)."""
        pairs = self.pairs() + [(k, str(v)) for k, v in extra.items() if v is not None]
        return urlencode(pairs)

    def events(self, project) -> ir.Table:
        """The project's events that pass these filters."""
        events = project.table("events")
        if self.is_empty:
            return events
        return apply(events, self.event_filter(), customers=project.table("customers"),
                     touchpoints=project.table("touchpoints"))

    def journeys(self, project):
        """What a journey analytic (variants, the map, funnels, flows, roles) starts
        from: the project's stored step table when nothing is filtered and it is up to
        date, else the filtered events."""
        from .stepstore import stored_steps

        if self.is_empty:
            steps = stored_steps(project)
            if steps is not None:
                return steps
        return self.events(project)

    def feedback(self, project) -> ir.Table:
        """The project's feedback given in these filters' period by customers of the
        chosen segments and levels (channel and department concern contacts, not
        answers, so they do not apply)."""
        chosen = EventFilter(start=self.start, end=self.end, segments=self.segment,
                             levels=self.level)
        feedback = project.table("feedback")
        if chosen.is_empty:
            return feedback
        return apply(feedback, chosen, customers=project.table("customers"))

    def of_customers(self, project, table: ir.Table) -> ir.Table:
        """The rows of ``table`` (feedback, transactions) whose customer is in the chosen
        segments and levels; channel, department and period do not apply to them."""
        if not (self.segment or self.level):
            return table
        chosen = project.table("customers")
        if self.segment:
            chosen = chosen.filter(chosen.segment.isin(self.segment))
        if self.level:
            chosen = chosen.filter(chosen.level.isin(self.level))
        return table.semi_join(chosen.select("customer_id"), "customer_id")


@dataclass(frozen=True)
class FilterChoices:
    """The values the filter bar offers, read from the project."""

    segments: tuple[str, ...]
    levels: tuple[str, ...]
    channels: tuple[str, ...]
    departments: tuple[tuple[str, str], ...]  # (department_id, name)
    first_day: dt.date | None
    last_day: dt.date | None


def filter_choices(project_path: Path) -> FilterChoices:
    from .store import Project

    def column(sql: str) -> tuple[str, ...]:
        return tuple(r[0] for r in p.con.execute(sql).fetchall() if r[0] is not None)

    with Project.open(project_path, read_only=True) as p:
        segments = column("SELECT DISTINCT segment FROM customers ORDER BY 1")
        levels = column("SELECT DISTINCT level FROM customers ORDER BY 1")
        channels = column(
            "SELECT DISTINCT channel FROM (SELECT channel FROM events"
            " UNION SELECT channel FROM touchpoints) ORDER BY 1")
        departments = tuple(
            (r[0], r[1] or r[0]) for r in p.con.execute(
                "SELECT department_id, name FROM departments ORDER BY 1").fetchall())
        first, last = p.con.execute(
            "SELECT min(timestamp)::DATE, max(timestamp)::DATE FROM events").fetchone()
    return FilterChoices(segments, levels, channels, departments, first, last)

