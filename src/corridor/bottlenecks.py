"""Bottlenecks: where customers wait most, counted as waiting time x volume, and whether
the waiting grows, per touchpoint and (with the customers table) per region.

An event's wait is its ``wait_seconds``. With ``fill_missing_wait`` an event without one
waits the time since the case's previous event instead; this is off by default because
the gap between events is mostly the customer's own time (a first bill a month after
activation, a week between visiting the website and ordering), which would outrank real
queues. A touchpoint's *load* is the sum of its waits (mean wait x waited events), and
bottlenecks are ranked by it. Only touchpoints with at least one recorded wait are
bottlenecks: a log without waits has none (``waits_recorded`` is False, shown as "no waits
recorded"), never a list of touchpoints waiting 0 s.

The *trend* is a weighted least-squares line through the mean wait of each period (week
or month, weighted by the events waited in it) over the analysed range (``since``,
``until``): the slope is in seconds per period; the trend is increasing or decreasing
when the slope is at least two standard errors from zero and the line changes by at least
10% of the mean wait over the range, else flat; fewer than three periods give no trend.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
from ibis import _

from .errors import InputError
from .flow import (
    Period,
    as_date,
    as_float,
    as_int,
    as_text,
    median_of,
    p90_of,
    period_start,
    seconds_between,
)
from .ordering import case_window

MIN_TREND_PERIODS = 3
SIGNIFICANT_T = 2.0
MATERIAL_CHANGE = 0.10


class Trend(str, enum.Enum):
    INCREASING = "increasing"
    DECREASING = "decreasing"
    FLAT = "flat"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PeriodWait:
    period_start: dt.date
    events: int
    waited_events: int
    total_wait_seconds: float
    mean_wait_seconds: float | None

    def to_dict(self) -> dict:
        return {
            "period_start": self.period_start.isoformat(),
            "events": self.events,
            "waited_events": self.waited_events,
            "total_wait_seconds": self.total_wait_seconds,
            "mean_wait_seconds": self.mean_wait_seconds,
        }


@dataclass(frozen=True)
class Bottleneck:
    touchpoint: str
    region: str | None  # None for all regions together
    events: int
    waited_events: int
    total_wait_seconds: float  # the load: waiting x volume
    mean_wait_seconds: float | None
    median_wait_seconds: float | None
    p90_wait_seconds: float | None
    trend: Trend
    slope_seconds_per_period: float | None
    series: tuple[PeriodWait, ...]

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "region": self.region,
            "events": self.events,
            "waited_events": self.waited_events,
            "total_wait_seconds": self.total_wait_seconds,
            "mean_wait_seconds": self.mean_wait_seconds,
            "median_wait_seconds": self.median_wait_seconds,
            "p90_wait_seconds": self.p90_wait_seconds,
            "trend": self.trend.value,
            "slope_seconds_per_period": self.slope_seconds_per_period,
            "series": [p.to_dict() for p in self.series],
        }


@dataclass(frozen=True)
class RegionBottlenecks:
    region: str
    bottlenecks: tuple[Bottleneck, ...]  # highest load first

    def to_dict(self) -> dict:
        return {"region": self.region, "bottlenecks": [b.to_dict() for b in self.bottlenecks]}


@dataclass(frozen=True)
class Bottlenecks:
    period: Period
    fill_missing_wait: bool
    overall: tuple[Bottleneck, ...]  # highest load first; touchpoints with waits only
    regions: tuple[RegionBottlenecks, ...]  # empty without the customers table

    @property
    def waits_recorded(self) -> bool:
        """False when no analysed event has a wait: there is no bottleneck to show."""
        return bool(self.overall)

    def for_region(self, region: str) -> tuple[Bottleneck, ...]:
        for r in self.regions:
            if r.region == region:
                return r.bottlenecks
        return ()

    def to_dict(self) -> dict:
        return {
            "period": self.period.value,
            "fill_missing_wait": self.fill_missing_wait,
            "waits_recorded": self.waits_recorded,
            "overall": [b.to_dict() for b in self.overall],
            "regions": [r.to_dict() for r in self.regions],
        }


def bottlenecks(
    events: ir.Table,
    *,
    customers: ir.Table | None = None,
    period: Period = Period.WEEK,
    since: dt.date | None = None,
    until: dt.date | None = None,
    fill_missing_wait: bool = False,
    top: int = 10,
) -> Bottlenecks:
    """Touchpoints ranked by total waiting, with their trend, overall and per region.
    ``since`` is inclusive and ``until`` exclusive (dates, on event timestamps)."""
    if top < 1:
        raise InputError(f"top must be at least 1; got {top}.")
    if since is not None and until is not None and since >= until:
        raise InputError(f"since ({since}) must be before until ({until}).")
    waits = _waits(events, fill_missing_wait)
    if since is not None:
        waits = waits.filter(waits.timestamp >= _midnight(since))
    if until is not None:
        waits = waits.filter(waits.timestamp < _midnight(until))
    if customers is not None:
        lookup = customers.group_by("customer_id").aggregate(region=customers.region.min())
        waits = waits.left_join(lookup, "customer_id").select(*waits.columns, "region")
    else:
        waits = waits.mutate(region=ibis.null("string"))
    waits = waits.mutate(period=period_start(waits.timestamp, period))

    overall = _ranked(waits, by_region=False, period=period, top=top)
    regions = ()
    if customers is not None:
        ranked = _ranked(waits.filter(waits.region.notnull()), True, period, top)
        names = sorted({b.region for b in ranked})
        regions = tuple(
            RegionBottlenecks(r, tuple(b for b in ranked if b.region == r)) for r in names
        )
    return Bottlenecks(period, fill_missing_wait, tuple(overall), regions)


def _midnight(day: dt.date):
    return ibis.timestamp(dt.datetime.combine(day, dt.time()))


def _waits(events: ir.Table, fill_missing_wait: bool) -> ir.Table:
    wait = events.wait_seconds.cast("float64")
    if fill_missing_wait:
        previous = events.timestamp.lag().over(case_window(events))
        wait = wait.fill_null(seconds_between(previous, events.timestamp))
    return events.select("customer_id", "touchpoint", "timestamp", wait=wait)


def _ranked(waits: ir.Table, by_region: bool, period: Period, top: int) -> list[Bottleneck]:
    keys = ["region", "touchpoint"] if by_region else ["touchpoint"]
    totals = waits.group_by(keys).aggregate(
        events=_.count(),
        waited=_.wait.count(),
        total=_.wait.sum(),
        median=median_of(_.wait),
        p90=p90_of(_.wait),
    )
    frame = totals.execute()
    frame = frame[frame["waited"] > 0].copy()  # no recorded wait: not a bottleneck
    frame["region"] = frame["region"] if by_region else None
    frame["total"] = frame["total"].fillna(0.0)
    frame = frame.sort_values(
        ["region", "total", "touchpoint"] if by_region else ["total", "touchpoint"],
        ascending=[True, False, True] if by_region else [False, True],
    )
    chosen = frame.groupby("region", dropna=False).head(top) if by_region else frame.head(top)
    if chosen.empty:
        return []
    wanted = [str(t) for t in chosen["touchpoint"].unique()]
    series = _series(waits.filter(waits.touchpoint.isin(wanted)), keys, period)
    out = []
    for r in chosen.itertuples():
        region = as_text(r.region) if by_region else None
        points = series.get((region, str(r.touchpoint)), ())
        trend, slope = _trend(points, period)
        waited = as_int(r.waited)
        total = float(r.total)
        out.append(
            Bottleneck(
                touchpoint=str(r.touchpoint),
                region=region,
                events=as_int(r.events),
                waited_events=waited,
                total_wait_seconds=total,
                mean_wait_seconds=total / waited if waited else None,
                median_wait_seconds=as_float(r.median),
                p90_wait_seconds=as_float(r.p90),
                trend=trend,
                slope_seconds_per_period=slope,
                series=points,
            )
        )
    return out


def _series(waits: ir.Table, keys: list[str], period: Period):
    frame = (
        waits.group_by([*keys, "period"])
        .aggregate(events=_.count(), waited=_.wait.count(), total=_.wait.sum())
        .execute()
    )
    found: dict[tuple[str | None, str], list[PeriodWait]] = {}
    for r in frame.itertuples():
        region = as_text(r.region) if "region" in keys else None
        waited = as_int(r.waited)
        total = as_float(r.total) or 0.0
        found.setdefault((region, str(r.touchpoint)), []).append(
            PeriodWait(
                period_start=as_date(r.period),
                events=as_int(r.events),
                waited_events=waited,
                total_wait_seconds=total,
                mean_wait_seconds=total / waited if waited else None,
            )
        )
    return {k: tuple(sorted(v, key=lambda p: p.period_start)) for k, v in found.items()}


def _period_index(day: dt.date, first: dt.date, period: Period) -> float:
    if period is Period.WEEK:
        return (day - first).days / 7.0
    return float((day.year - first.year) * 12 + day.month - first.month)


def _trend(points: tuple[PeriodWait, ...], period: Period) -> tuple[Trend, float | None]:
    used = [p for p in points if p.waited_events > 0 and p.mean_wait_seconds is not None]
    if len(used) < MIN_TREND_PERIODS:
        return Trend.UNKNOWN, None
    first = used[0].period_start
    x = np.array([_period_index(p.period_start, first, period) for p in used])
    y = np.array([p.mean_wait_seconds for p in used])
    w = np.array([p.waited_events for p in used], dtype=float)
    x_mean = np.average(x, weights=w)
    y_mean = np.average(y, weights=w)
    sxx = float(np.sum(w * (x - x_mean) ** 2))
    if sxx == 0:
        return Trend.UNKNOWN, None
    slope = float(np.sum(w * (x - x_mean) * (y - y_mean)) / sxx)
    residuals = y - (y_mean + slope * (x - x_mean))
    # a period's mean wait varies as 1 / (events waited): the weights' scale cancels out
    dof = len(used) - 2
    sigma2 = float(np.sum(w * residuals**2)) / dof if dof > 0 else 0.0
    se = math.sqrt(sigma2 / sxx) if sigma2 > 0 else 0.0
    change = abs(slope) * float(x.max() - x.min())
    material = y_mean > 0 and change >= MATERIAL_CHANGE * y_mean
    significant = se == 0.0 or abs(slope) >= SIGNIFICANT_T * se
    if slope != 0 and material and significant:
        return (Trend.INCREASING if slope > 0 else Trend.DECREASING), slope
    return Trend.FLAT, slope
