"""Accessibility: how easily a customer reaches us, per channel, touchpoint, department
and period (any combination).

Every event passed in is a contact; filter the events first to judge only some of them
(say the support stage). Definitions:

- *Failed*: outcome other than 'ok' ('failed' or 'abandoned'); a missing outcome is 'ok'.
- *Same matter*: two contacts of a case concern the same matter when they share the
  touchpoint's stage (from the touchpoints table; ``match=Match.STAGE``, falling back to
  the touchpoint where no stage is known) or the same touchpoint (``Match.TOUCHPOINT``).
- *Attempts before success*: a case's contacts on one matter, in (timestamp, seq) order,
  form episodes that end at each 'ok'. An episode ending in 'ok' is *resolved*; its
  attempts are the failed contacts before the 'ok'. Episodes are counted where they
  started: under the channel, touchpoint, department and period of their first contact
  (how hard it was to get through when starting there). An episode still without an 'ok'
  at the end of the data is *unresolved*.
- *Time to first response*: the contact's ``wait_seconds`` (median and 90th percentile of
  the contacts that have one).
- *Outside service hours*: the contact's local time (UTC timestamp plus the service hours'
  fixed offset; no daylight-saving rules) is not within its weekday's opening hours,
  opening time inclusive, closing time exclusive.
- *Failure rate by hour*: failed / contacts per local hour of day (0-23).
- *Channel switch after a failure*: the case's next contact (any matter) comes within
  ``switch_within`` of the failed contact and uses another channel. The rate is switches
  per failed contact.
- *Repeat contact / first-contact resolution*: a contact is repeated when the same case
  contacts us again on the same matter within ``repeat_within`` after it; first-contact
  resolution is the share of contacts not repeated. Contacts near the end of the data
  may look resolved only because the repeat has not happened yet.

A contact's channel and department are its own, else its touchpoint's.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import InputError
from .flow import (
    Delay,
    Period,
    as_date,
    as_float,
    as_int,
    as_text,
    epoch_millis,
    from_touchpoints,
    median_of,
    p90_of,
    period_start,
    share,
)
from .loops import instances
from .ordering import case_window


class Dimension(str, enum.Enum):
    CHANNEL = "channel"
    TOUCHPOINT = "touchpoint"
    DEPARTMENT = "department"
    PERIOD = "period"


class Match(str, enum.Enum):
    STAGE = "stage"
    TOUCHPOINT = "touchpoint"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OpeningHours:
    """Open from ``opens`` (inclusive) to ``closes`` (exclusive); a closing time of
    00:00 means midnight at the end of the day."""

    opens: dt.time
    closes: dt.time

    def __post_init__(self):
        if not self.opens_minute < self.closes_minute:
            raise InputError(
                f"Opening hours must open before they close; got {self.opens}-{self.closes}."
            )

    @property
    def opens_minute(self) -> int:
        return self.opens.hour * 60 + self.opens.minute

    @property
    def closes_minute(self) -> int:
        minute = self.closes.hour * 60 + self.closes.minute
        return minute or 24 * 60

    def __str__(self) -> str:
        closes = "24:00" if self.closes == dt.time(0) else f"{self.closes:%H:%M}"
        return f"{self.opens:%H:%M}-{closes}"


def _hours(opens: int, closes: int) -> OpeningHours:
    return OpeningHours(dt.time(opens), dt.time(closes))


@dataclass(frozen=True)
class ServiceHours:
    """Opening hours for each weekday, Monday first; None is closed all day. The default
    is Monday-Friday 08:00-20:00, Saturday 09:00-14:00, Sunday closed."""

    days: tuple[OpeningHours | None, ...] = (
        *(_hours(8, 20) for _day in range(5)),
        _hours(9, 14),
        None,
    )
    utc_offset_minutes: int = 0  # local time = stored UTC time + this offset

    def __post_init__(self):
        if len(self.days) != 7:
            raise InputError(
                f"Service hours need one entry per weekday (7); got {len(self.days)}."
            )

    def to_dict(self) -> dict:
        return {
            "days": {
                n: None if h is None else [h.opens.isoformat(), h.closes.isoformat()]
                for n, h in zip(WEEKDAYS, self.days)
            },
            "utc_offset_minutes": self.utc_offset_minutes,
        }


@dataclass(frozen=True)
class AccessGroup:
    """Accessibility of one group of contacts; a dimension not grouped by is None."""

    channel: str | None
    touchpoint: str | None
    department_id: str | None
    period_start: dt.date | None
    contacts: int
    failed: int
    outside_hours: int
    first_response: Delay  # wait_seconds
    resolved_episodes: int
    unresolved_episodes: int
    attempts_before_success: int  # failed attempts summed over resolved episodes
    first_try_successes: int  # resolved episodes without a failed attempt
    switched_after_failure: int
    repeated: int  # contacts repeated on the same matter within repeat_within

    @property
    def failure_rate(self) -> float | None:
        return share(self.failed, self.contacts)

    @property
    def outside_hours_share(self) -> float | None:
        return share(self.outside_hours, self.contacts)

    @property
    def mean_attempts_before_success(self) -> float | None:
        return share(self.attempts_before_success, self.resolved_episodes)

    @property
    def first_try_rate(self) -> float | None:
        return share(self.first_try_successes, self.resolved_episodes)

    @property
    def switch_rate(self) -> float | None:
        return share(self.switched_after_failure, self.failed)

    @property
    def first_contact_resolution(self) -> float | None:
        return None if not self.contacts else 1.0 - self.repeated / self.contacts

    def to_dict(self) -> dict:
        return {
            "channel": self.channel,
            "touchpoint": self.touchpoint,
            "department_id": self.department_id,
            "period_start": None if self.period_start is None else self.period_start.isoformat(),
            "contacts": self.contacts,
            "failed": self.failed,
            "failure_rate": self.failure_rate,
            "outside_hours": self.outside_hours,
            "outside_hours_share": self.outside_hours_share,
            "first_response": self.first_response.to_dict(),
            "resolved_episodes": self.resolved_episodes,
            "unresolved_episodes": self.unresolved_episodes,
            "mean_attempts_before_success": self.mean_attempts_before_success,
            "first_try_rate": self.first_try_rate,
            "switched_after_failure": self.switched_after_failure,
            "switch_rate": self.switch_rate,
            "repeated": self.repeated,
            "first_contact_resolution": self.first_contact_resolution,
        }


@dataclass(frozen=True)
class HourlyFailure:
    channel: str | None
    touchpoint: str | None
    department_id: str | None
    period_start: dt.date | None
    hour: int  # local hour of day, 0-23
    contacts: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.contacts

    def to_dict(self) -> dict:
        return {
            "channel": self.channel,
            "touchpoint": self.touchpoint,
            "department_id": self.department_id,
            "period_start": None if self.period_start is None else self.period_start.isoformat(),
            "hour": self.hour,
            "contacts": self.contacts,
            "failed": self.failed,
            "failure_rate": self.failure_rate,
        }


@dataclass(frozen=True)
class Accessibility:
    by: tuple[Dimension, ...]
    period: Period
    match: Match
    service_hours: ServiceHours
    switch_within_seconds: float
    repeat_within_seconds: float
    groups: tuple[AccessGroup, ...]  # sorted by the grouping columns
    hourly: tuple[HourlyFailure, ...] = field(default=())
    # the company model's hours per channel; None: ``service_hours`` for every contact
    channel_hours: Mapping[str, ServiceHours] | None = None

    def group(
        self,
        *,
        channel: str | None = None,
        touchpoint: str | None = None,
        department_id: str | None = None,
        period_start: dt.date | None = None,
    ) -> AccessGroup | None:
        for g in self.groups:
            if (g.channel, g.touchpoint, g.department_id, g.period_start) == (
                channel,
                touchpoint,
                department_id,
                period_start,
            ):
                return g
        return None

    def hourly_for(
        self,
        *,
        channel: str | None = None,
        touchpoint: str | None = None,
        department_id: str | None = None,
        period_start: dt.date | None = None,
    ) -> tuple[HourlyFailure, ...]:
        key = (channel, touchpoint, department_id, period_start)
        return tuple(
            h
            for h in self.hourly
            if (h.channel, h.touchpoint, h.department_id, h.period_start) == key
        )

    def to_dict(self) -> dict:
        return {
            "by": [d.value for d in self.by],
            "period": self.period.value,
            "match": self.match.value,
            "service_hours": self.service_hours.to_dict(),
            "channel_hours": None if self.channel_hours is None else {
                c: h.to_dict() for c, h in self.channel_hours.items()},
            "switch_within_seconds": self.switch_within_seconds,
            "repeat_within_seconds": self.repeat_within_seconds,
            "groups": [g.to_dict() for g in self.groups],
            "hourly": [h.to_dict() for h in self.hourly],
        }


_DIMENSION_COLUMNS = {
    Dimension.CHANNEL: "channel",
    Dimension.TOUCHPOINT: "touchpoint",
    Dimension.DEPARTMENT: "department_id",
    Dimension.PERIOD: "period_start",
}


def accessibility(
    events: ir.Table,
    *,
    by: Sequence[Dimension] = (Dimension.CHANNEL,),
    period: Period = Period.MONTH,
    touchpoints: ir.Table | None = None,
    match: Match = Match.STAGE,
    service_hours: ServiceHours = ServiceHours(),
    switch_within: dt.timedelta = dt.timedelta(hours=24),
    repeat_within: dt.timedelta = dt.timedelta(days=7),
    channel_hours: Mapping[str, ServiceHours] | None = None,
) -> Accessibility:
    """Failure, attempts, first response, service hours, channel switching and
    first-contact resolution, grouped by ``by`` (see the module docstring). With
    ``channel_hours`` (the company model's service hours per channel) a contact is judged
    against its channel's hours, and a channel without declared hours is never outside
    them; ``service_hours`` is then not used."""
    dims = _check_dimensions(by)
    for name, span in (("switch_within", switch_within), ("repeat_within", repeat_within)):
        if span <= dt.timedelta(0):
            raise InputError(f"{name} must be a positive time span; got {span}.")
    keys = [_DIMENSION_COLUMNS[d] for d in dims]

    # a contact is one touchpoint instance: an XES log's start and complete of one call
    # are one contact, not a repeat
    contacts = _contacts(instances(events), touchpoints, match, service_hours, period,
                         channel_hours)
    flagged = _flag_contacts(contacts, switch_within, repeat_within)
    per_group = (
        _grouped(flagged, keys)
        .aggregate(
            contacts=_.count(),
            failed=_.failed.sum(),
            outside=_.outside.sum(),
            median_wait=median_of(_.wait_seconds),
            p90_wait=p90_of(_.wait_seconds),
            switched=_.switched.sum(),
            repeated=_.repeated.sum(),
        )
        .execute()
    )
    episodes = _episodes(contacts, keys).execute()
    hourly = (
        contacts.group_by([*keys, "hour"])
        .aggregate(contacts=_.count(), failed=_.failed.sum())
        .execute()
    )

    by_key = {}
    for r in episodes.itertuples():
        by_key[_key(r, keys)] = r
    groups = []
    for r in per_group.itertuples():
        key = _key(r, keys)
        e = by_key.get(key)
        groups.append(
            AccessGroup(
                *key,
                contacts=as_int(r.contacts),
                failed=as_int(r.failed),
                outside_hours=as_int(r.outside),
                first_response=Delay(as_float(r.median_wait), as_float(r.p90_wait)),
                resolved_episodes=0 if e is None else as_int(e.resolved),
                unresolved_episodes=0 if e is None else as_int(e.unresolved),
                attempts_before_success=0 if e is None else as_int(e.attempts),
                first_try_successes=0 if e is None else as_int(e.first_try),
                switched_after_failure=as_int(r.switched),
                repeated=as_int(r.repeated),
            )
        )
    hours = [
        HourlyFailure(
            *_key(r, keys),
            hour=as_int(r.hour),
            contacts=as_int(r.contacts),
            failed=as_int(r.failed),
        )
        for r in hourly.itertuples()
    ]
    return Accessibility(
        by=dims,
        period=period,
        match=match,
        service_hours=service_hours,
        channel_hours=None if channel_hours is None else dict(channel_hours),
        switch_within_seconds=switch_within.total_seconds(),
        repeat_within_seconds=repeat_within.total_seconds(),
        groups=tuple(sorted(groups, key=_sort_key)),
        hourly=tuple(sorted(hours, key=lambda h: (_sort_key(h), h.hour))),
    )


def _check_dimensions(by: Sequence[Dimension]) -> tuple[Dimension, ...]:
    if isinstance(by, (str, Dimension)):
        by = (by,)
    dims = []
    for d in by:
        try:
            dimension = Dimension(d)
        except ValueError as exc:
            choices = ", ".join(x.value for x in Dimension)
            raise InputError(f"Unknown dimension {d!r}; choose from {choices}.") from exc
        if dimension not in dims:
            dims.append(dimension)
    return tuple(dims)


def _grouped(table: ir.Table, keys: list[str]):
    """The table grouped by ``keys``, or the whole table when there are none."""
    return table.group_by(keys) if keys else table


def _key(row, keys: list[str]) -> tuple:
    """(channel, touchpoint, department_id, period_start) of a pulled row; None where
    the dimension is not grouped by."""
    values = []
    for column in ("channel", "touchpoint", "department_id", "period_start"):
        if column not in keys:
            values.append(None)
        elif column == "period_start":
            values.append(as_date(getattr(row, column)))
        else:
            values.append(as_text(getattr(row, column)))
    return tuple(values)


def _sort_key(item) -> tuple:
    return tuple(
        (v is None, "" if v is None else str(v))
        for v in (item.channel, item.touchpoint, item.department_id, item.period_start)
    )


def _contacts(
    events: ir.Table,
    touchpoints: ir.Table | None,
    match: Match,
    service_hours: ServiceHours,
    period: Period,
    channel_hours: Mapping[str, ServiceHours] | None = None,
) -> ir.Table:
    """One row per contact with what every measure needs."""
    filled = from_touchpoints(
        events, touchpoints, fill=["channel", "department_id"], add=["stage"]
    )
    matter = filled.touchpoint
    if match is Match.STAGE:
        matter = filled.stage.fill_null(filled.touchpoint)
    local = filled.timestamp
    if service_hours.utc_offset_minutes:
        local = local + ibis.interval(minutes=service_hours.utc_offset_minutes)
    outside = ~_inside(local, service_hours)
    if channel_hours is not None:
        def shifted(hours: ServiceHours) -> ir.TimestampValue:
            if not hours.utc_offset_minutes:
                return filled.timestamp
            return filled.timestamp + ibis.interval(minutes=hours.utc_offset_minutes)

        branches = [(filled.channel == channel, ~_inside(shifted(hours), hours))
                    for channel, hours in channel_hours.items()]
        outside = ibis.cases(*branches, else_=ibis.literal(False)) if branches else ibis.literal(False)
    is_ok = filled.outcome.fill_null("ok") == "ok"
    return filled.select(
        "case_id",
        "timestamp",
        "seq",
        "channel",
        "touchpoint",
        "department_id",
        "wait_seconds",
        matter=matter,
        millis=epoch_millis(filled.timestamp),
        ok=is_ok.cast("int64"),
        failed=(~is_ok).cast("int64"),
        hour=local.hour(),
        outside=outside.cast("int64"),
        period_start=period_start(local, period),
    )


def _inside(local: ir.TimestampValue, hours: ServiceHours) -> ir.BooleanValue:
    weekday = local.day_of_week.index()  # 0 = Monday on every engine
    minute = local.hour() * 60 + local.minute()
    inside = ibis.literal(False)
    for day, opening in enumerate(hours.days):
        if opening is None:
            continue
        inside = inside | (
            (weekday == day)
            & (minute >= opening.opens_minute)
            & (minute < opening.closes_minute)
        )
    return inside


def _flag_contacts(
    contacts: ir.Table, switch_within: dt.timedelta, repeat_within: dt.timedelta
) -> ir.Table:
    by_case = case_window(contacts)
    on_matter = ibis.window(
        group_by=[contacts.case_id, contacts.matter],
        order_by=[contacts.timestamp, contacts.seq],
    )
    flagged = contacts.mutate(
        next_millis=contacts.millis.lead().over(by_case),
        next_channel=contacts.channel.lead().over(by_case),
        next_on_matter=contacts.millis.lead().over(on_matter),
    )
    switch_ms = int(switch_within / dt.timedelta(milliseconds=1))
    repeat_ms = int(repeat_within / dt.timedelta(milliseconds=1))
    soon = flagged.next_millis.notnull() & (flagged.next_millis - flagged.millis <= switch_ms)
    other_channel = flagged.next_channel.fill_null("") != flagged.channel.fill_null("")
    repeated = flagged.next_on_matter.notnull() & (
        flagged.next_on_matter - flagged.millis <= repeat_ms
    )
    return flagged.mutate(
        switched=((flagged.failed == 1) & soon & other_channel).cast("int64"),
        repeated=repeated.cast("int64"),
    )


def _episodes(contacts: ir.Table, keys: list[str]) -> ir.Table:
    """Per group of the episode's first contact: resolved and unresolved episodes, failed
    attempts before success, and first-try successes."""
    on_matter = ibis.window(
        group_by=[contacts.case_id, contacts.matter],
        order_by=[contacts.timestamp, contacts.seq],
    )
    running = ibis.window(
        group_by=[contacts.case_id, contacts.matter],
        order_by=[contacts.timestamp, contacts.seq],
        rows=(None, 0),
    )
    numbered = contacts.mutate(
        episode=contacts.ok.sum().over(running) - contacts.ok,
        previous_ok=contacts.ok.lag().over(on_matter),
    )
    parts = ["case_id", "matter", "episode"]
    totals = numbered.group_by(parts).aggregate(
        attempts=numbered.failed.sum(), resolved=numbered.ok.max()
    )
    starts = numbered.filter(numbered.previous_ok.isnull() | (numbered.previous_ok == 1))
    starts = starts.select(*parts, *keys)
    joined = starts.join(totals, parts)
    resolved = joined.resolved == 1
    return _grouped(joined, keys).aggregate(
        resolved=joined.resolved.sum(),
        unresolved=(1 - joined.resolved).sum(),
        attempts=resolved.ifelse(joined.attempts, 0).sum(),
        first_try=(resolved & (joined.attempts == 0)).cast("int64").sum(),
    )
