"""What the demo company was built to contain: the planted truths and the demo incidents.

Every number here is a parameter of the generating model in :mod:`corridor.demo` (or, for
``measured``, a count taken from the generated files), so an analytic run on the demo
files can be checked against the truth. ``PlantedTruths.to_dict()`` gives plain
JSON-serialisable data with ISO dates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass


def plain(value):
    """Dataclasses, tuples and dates turned into JSON-serialisable data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Share:
    """A touchpoint and its probability (a share of journeys or of events)."""

    touchpoint: str
    share: float


@dataclass(frozen=True)
class CorridorTruth:
    """The basic corridor. ``steps`` is the typical order; a step with several
    touchpoints is an alternative group (exactly one door per journey).
    ``coverage`` gives the generating probability of each basic touchpoint; it is the
    coverage among goal-reaching journeys because nothing that decides whether a journey
    reaches the goal depends on it."""

    goal: str
    steps: tuple[tuple[str, ...], ...]
    basic: tuple[str, ...]
    coverage: tuple[Share, ...]
    other_optional: tuple[Share, ...]  # evaluation extras, also among goal-reaching journeys


@dataclass(frozen=True)
class AlternativeGroup:
    step: str
    doors: tuple[Share, ...]  # share among goal-reaching journeys (sums to 1)
    coverage: float  # together
    co_occurrence: float  # probability that two doors occur in one journey
    abandon_rate: tuple[Share, ...]  # outcome='abandoned' at the door, journey ends there
    partner_door_is_end_customers: bool  # order_partner <=> relation='end' customers


@dataclass(frozen=True)
class OptionalServices:
    services: tuple[Share, ...]  # probability among goal-reaching journeys


@dataclass(frozen=True)
class BottleneckTruth:
    """Waiting for installation, in one region. Wait (days) = Gamma(shape, mean/shape)
    with mean = wait_mean_days_before × factor; the factor grows linearly from
    ``start`` by ``weekly_growth_factor`` per week for ``growth_weeks`` weeks, stays at
    the peak, and returns to 1 on ``resolved_on``. The factor is evaluated at the order
    time (= event timestamp − wait_seconds); the appointment is then put at a random time
    between ``appointment_hours`` on the day the wait ends, which adds about
    (mean of appointment hours − 12 h) to the wait."""

    touchpoint: str
    region: str
    start: dt.date
    growth_weeks: int
    weekly_growth_factor: float
    weekly_growth_days: float
    peak_from: dt.date
    resolved_on: dt.date
    wait_mean_days_before: float
    wait_mean_days_peak: float
    wait_mean_days_after: float
    wait_gamma_shape: float
    appointment_hours: tuple[int, int]
    measured_by: str


@dataclass(frozen=True)
class AccessibilityTruth:
    """Phone contacts at the hotline fail with ``failure_rate_in_hours`` when placed in
    ``failing_hours`` (hour of the event's timestamp, [start, end)), else with
    ``failure_rate_outside``. After a failure the customer switches channel with
    ``switch_probability`` (to ``switch_to`` with the given shares) or retries the
    hotline; retries falling outside ``opening_hours`` move to the next morning."""

    touchpoint: str
    channel: str
    failing_hours: tuple[tuple[int, int], ...]
    opening_hours: tuple[int, int]
    failure_rate_in_hours: float
    failure_rate_outside: float
    switch_probability: float
    switch_to: tuple[Share, ...]
    switch_delay_minutes: tuple[float, float]  # web/app; the store is visited when open
    retry_delay_minutes: tuple[float, float]
    failed_wait_seconds: tuple[float, float]  # waited in the queue, then the call dropped


@dataclass(frozen=True)
class Effect:
    feature: str
    coefficient: float
    definition: str


@dataclass(frozen=True)
class ScoreModel:
    """score = clip(round(intercept + Σ coefficient × feature + Normal(0, noise_sd)),
    low, high), asked of a random ``response_rate`` share."""

    metric: str
    touchpoint: str | None
    when: str
    intercept: float
    noise_sd: float
    low: int
    high: int
    response_rate: float
    effects: tuple[Effect, ...]


@dataclass(frozen=True)
class ChurnModel:
    """Each support case (a ticket: its own case_id) makes the customer leave with
    P = 1 / (1 + exp(−(intercept + Σ coefficient × feature of the case))); the exit event
    comes Uniform(delay_days) after the end of the case's last contact. Besides, every
    activated customer leaves at activation + Exponential(1 / baseline_exits_per_year)
    years. The earliest exit counts; after it the customer has no further events and no
    transactions. Exits after the window's end are not seen."""

    exit_touchpoint: str
    unit: str
    intercept: float
    effects: tuple[Effect, ...]
    delay_days: tuple[float, float]
    baseline_exits_per_year: float


@dataclass(frozen=True)
class DriversTruth:
    nps: ScoreModel
    csat: ScoreModel
    ces: ScoreModel
    churn: ChurnModel
    referral_probability_promoter: float  # latent NPS ≥ 9, customers who did not churn
    referral_probability_other: float


@dataclass(frozen=True)
class ExceptionTruth:
    """Failures of one touchpoint jump from ``baseline_rate`` to ``rate`` for events in
    [start 00:00, end 24:00); a failed attempt is retried with ``retry_probability``."""

    touchpoint: str
    channel: str
    start: dt.date
    end: dt.date  # last day, inclusive
    baseline_rate: float
    rate: float
    retry_probability: float


@dataclass(frozen=True)
class ValueSegment:
    """One-off purchases (transactions with kind='purchase'). The first is at the
    order event (time 0); repeat purchases follow BG/NBD with these parameters
    (λ ~ Gamma(r, rate alpha), dropout p ~ Beta(a, b) after each repeat purchase) over
    the customer's observation time T = (min(window end, exit event) − first purchase),
    in ``time_unit``. Amounts follow Gamma-Gamma: ν ~ Gamma(q, rate v), each amount
    ~ Gamma(p, rate ν), so the mean spend is p·v/(q−1)."""

    segment: str
    share: float  # of journey customers (persons)
    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float
    time_unit: str


@dataclass(frozen=True)
class LoopsTruth:
    hotline_retry_probability_after_failure: float  # = 1 − switch probability
    technician_visit_probability: float  # of technical support cases
    technician_revisit_probability: float  # rework: a second visit
    pingpong_touchpoints: tuple[str, str, str]  # the pattern in one case
    pingpong_departments: tuple[str, str]
    pingpong_probability: float  # of billing support cases
    activation_failure_rate: float  # failed activations are retried
    support_cases_per_year: float
    ticket_case_id: str  # how a support case's case_id is formed
    support_case_types: tuple[Share, ...]  # first touchpoint of each case type


@dataclass(frozen=True)
class ChannelCost:
    channel: str
    fixed: float
    per_minute: float


@dataclass(frozen=True)
class Billing:
    bill_every_days: int
    plan_prices: tuple[tuple[str, float], ...]
    addon_prices: tuple[tuple[str, float], ...]  # added to every bill after being taken
    bill_margin_rate: float
    purchase_margin_rate: float


@dataclass(frozen=True)
class Counts:
    customers_rows: int
    persons: int
    companies: int
    intermediaries: int
    corporate_groups: int
    events: int
    transactions: int
    feedback: int
    chunks: int


@dataclass(frozen=True)
class Measured:
    """Counted in the generated files: journeys (cases) that reach the goal, and the
    share of them that visit each touchpoint anywhere in the case."""

    goal_journeys: int
    coverage: tuple[Share, ...]


@dataclass(frozen=True)
class PlantedTruths:
    seed: int
    start: dt.date
    end: dt.date  # exclusive
    regions: tuple[str, ...]
    corridor: CorridorTruth
    alternatives: tuple[AlternativeGroup, ...]
    optional: OptionalServices
    bottleneck: BottleneckTruth
    accessibility: AccessibilityTruth
    drivers: DriversTruth
    exception: ExceptionTruth
    value_segments: tuple[ValueSegment, ...]
    loops: LoopsTruth
    costs: tuple[ChannelCost, ...]
    billing: Billing
    counts: Counts
    measured: Measured

    def to_dict(self) -> dict:
        return plain(self)


# ---- incidents: the reaction loop's memory of the planted problems ---------------------


@dataclass(frozen=True)
class DemoWhy:
    position: int  # 1-based; each why answers the one before it
    statement: str
    touchpoint: str | None
    department_id: str | None
    is_root_cause: bool


@dataclass(frozen=True)
class DemoAction:
    kind: str  # corrective | preventive
    title: str
    owner_department_id: str
    why_position: int
    due: dt.date
    status: str  # open | done
    completed_at: dt.datetime | None
    effect: str | None


@dataclass(frozen=True)
class DemoIncident:
    title: str
    opened_at: dt.datetime
    touchpoint: str
    department_id: str
    source: str
    status: str
    description: str
    whys: tuple[DemoWhy, ...]
    actions: tuple[DemoAction, ...]

    def to_dict(self) -> dict:
        return plain(self)


def demo_incidents(b: BottleneckTruth, e: ExceptionTruth, a: AccessibilityTruth, start: dt.date):
    """Three incidents, one per planted problem, with ordered whys and actions."""
    at = lambda d, h=9: dt.datetime.combine(d, dt.time(h))  # noqa: E731
    day = dt.timedelta(days=1)
    w = lambda pos, text, tp=None, dep=None, root=False: DemoWhy(pos, text, tp, dep, root)  # noqa: E731
    backlog = DemoIncident(
        title=f"Installation waits growing in {b.region}",
        opened_at=at(b.start + 21 * day),
        touchpoint=b.touchpoint,
        department_id="D-FLD",
        source="monitoring",
        status="closed",
        description=f"Customers in {b.region} wait ever longer between order and installation.",
        whys=(
            w(1, f"Customers in {b.region} wait weeks for their installation.", b.touchpoint, "D-FLD"),
            w(2, "Technician appointments in the region are booked out far ahead.", b.touchpoint, "D-FLD"),
            w(3, "The region lost two technician crews when a contractor agreement ended.", None, "D-FLD"),
            w(4, "The agreement was not renewed because capacity was planned on last year's orders.", None, "D-FLD"),
            w(5, "Field capacity planning is not linked to the sales forecast.", None, "D-SAL", True),
        ),
        actions=(
            DemoAction("corrective", f"Bring a second installation contractor into {b.region}", "D-FLD", 3,
                       b.resolved_on, "done", at(b.resolved_on, 8),
                       f"installation wait in {b.region} back to about {b.wait_mean_days_after:g} days"),
            DemoAction("preventive", "Plan field capacity from the weekly sales forecast", "D-FLD", 5,
                       b.resolved_on + 60 * day, "open", None, None),
        ),
    )
    outage = DemoIncident(
        title="App logins failing",
        opened_at=at(e.start, 10),
        touchpoint=e.touchpoint,
        department_id="D-DIG",
        source="exception detection",
        status="closed",
        description="The share of failed app logins jumped from a few percent to about half.",
        whys=(
            w(1, "Half of all app logins fail.", e.touchpoint, "D-DIG"),
            w(2, "The login service rejects valid sessions.", e.touchpoint, "D-DIG"),
            w(3, "The certificate used to sign sessions expired.", None, "D-DIG"),
            w(4, "Its renewal reminder went to the mailbox of someone who had left.", None, "D-DIG"),
            w(5, "Certificate expiry is not monitored automatically.", None, "D-DIG", True),
        ),
        actions=(
            DemoAction("corrective", "Renew the session-signing certificate", "D-DIG", 3,
                       e.end + day, "done", at(e.end + day, 0), "app login failures back to baseline"),
            DemoAction("preventive", "Automate certificate renewal and expiry alerts", "D-DIG", 5,
                       e.end + 30 * day, "done", at(e.end + 21 * day), None),
        ),
    )
    spans = " and ".join(f"{lo:02d}:00-{hi:02d}:00" for lo, hi in a.failing_hours)
    hotline = DemoIncident(
        title="Hotline unreachable at lunchtime and in the evening",
        opened_at=at(start + 45 * day),
        touchpoint=a.touchpoint,
        department_id="D-CC",
        source="accessibility review",
        status="open",
        description=f"Calls to the hotline fail far more often {spans}; customers retry or switch channel.",
        whys=(
            w(1, f"Most calls placed {spans} are dropped before an agent answers.", a.touchpoint, "D-CC"),
            w(2, "Too few agents are on shift in those hours.", a.touchpoint, "D-CC"),
            w(3, "Lunch breaks are taken together and the evening shift is half-staffed.", None, "D-CC"),
            w(4, "Shifts are planned around agents' preferences, not call volume.", None, "D-CC"),
            w(5, "There is no forecast of calls per hour.", None, "D-CC", True),
        ),
        actions=(
            DemoAction("corrective", "Stagger lunch breaks across the team", "D-CC", 3,
                       start + 75 * day, "open", None, None),
            DemoAction("preventive", "Plan shifts from an hourly call forecast", "D-CC", 5,
                       start + 120 * day, "open", None, None),
        ),
    )
    return (backlog, outage, hotline)
