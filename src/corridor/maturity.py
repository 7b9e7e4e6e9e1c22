"""The customer-focus maturity assessment: at which of three stages the company works,
with the evidence and the next steps, and the history of every assessment made.

The stages are taken one at a time (:class:`Stage`): developing service quality,
keeping a professional service level, working as a customer-service centre.

The evidence is six indicators (:class:`Indicator`); five are measured from the data and
one is the managers' questionnaire (:data:`STATEMENTS`, each rated 1-5):

- *corridor flow*: the share of purchase journeys (company model, :mod:`corridor.company`)
  that reach their goal; without declared purchase journeys, the share of journeys
  without a failed or abandoned contact;
- *accessibility*: first-contact resolution, the share of service cases (company model)
  resolved at their first contact; without declared service journeys, the share of
  contact episodes resolved at the first try (:func:`corridor.access.accessibility`);
- *satisfaction trend*: of NPS, CSAT and CES, how many improved minus how many worsened,
  latest period against the one before (:func:`corridor.health.health_change`), -3 to 3;
- *incident learning*: the share of incidents with a root cause among their whys and at
  least one action whose effect was measured in later data;
- *course completion*: modules completed over modules to take, across every active
  account (:func:`corridor.academy.completion_share`);
- *questionnaire*: the mean rating, 1 to 5.

Each indicator has two thresholds (:data:`THRESHOLDS`): reaching the first supports
stage 2, the second stage 3; below the first it supports stage 1. An indicator without a
value (no data) supports nothing and is left out. **Placement**: the company is at the
highest stage that every measured indicator but at most one supports, and that at least
two indicators support (so one weak figure does not hold a company back, and one strong
figure does not carry it); otherwise at stage 1.

The *score* (0-100) says how far along the three stages the indicators are on average:
an indicator's position runs from 0 at its floor to 1 at its first threshold and 2 at its
second (linear in between, capped), and the score is 50 × the mean position.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import CorridorError, InputError


class Stage(enum.IntEnum):
    DEVELOPING = 1     # developing service quality
    PROFESSIONAL = 2   # keeping a professional service level
    SERVICE_CENTRE = 3  # working as a customer-service centre


class Indicator(str, enum.Enum):
    FLOW = "flow"
    ACCESSIBILITY = "accessibility"
    SATISFACTION_TREND = "satisfaction_trend"
    INCIDENT_LEARNING = "incident_learning"
    COURSE_COMPLETION = "course_completion"
    QUESTIONNAIRE = "questionnaire"


@dataclass(frozen=True)
class Thresholds:
    floor: float  # the lowest value the indicator can take
    professional: float  # at least this supports stage 2
    service_centre: float  # at least this supports stage 3

    def supports(self, value: float) -> Stage:
        if value >= self.service_centre:
            return Stage.SERVICE_CENTRE
        if value >= self.professional:
            return Stage.PROFESSIONAL
        return Stage.DEVELOPING

    def position(self, value: float) -> float:
        """0 at the floor, 1 at the first threshold, 2 at the second, linear between."""
        if value < self.professional:
            return max(0.0, (value - self.floor) / (self.professional - self.floor))
        if value < self.service_centre:
            return 1.0 + (value - self.professional) / (self.service_centre - self.professional)
        return 2.0


# Why these numbers: a company that keeps a professional level gets most journeys to
# their goal and most contacts through at the first try, does not let satisfaction slide,
# learns from a quarter of its incidents and has trained a quarter of its people; a
# customer-service centre does all of it most of the time and is improving.
THRESHOLDS: dict[Indicator, Thresholds] = {
    Indicator.FLOW: Thresholds(0.0, 0.60, 0.80),
    # first-contact resolution: about 70% is the contact-centre average, 80% world class
    # (SQM Group's benchmarks)
    Indicator.ACCESSIBILITY: Thresholds(0.0, 0.70, 0.80),
    Indicator.SATISFACTION_TREND: Thresholds(-3.0, 0.0, 1.0),
    Indicator.INCIDENT_LEARNING: Thresholds(0.0, 0.25, 0.60),
    Indicator.COURSE_COMPLETION: Thresholds(0.0, 0.25, 0.75),
    Indicator.QUESTIONNAIRE: Thresholds(1.0, 3.0, 4.0),
}

# The managers' questionnaire: statement ids (their texts are in the locale files,
# ``maturity.statement.<id>``), each rated 1 (not at all) to 5 (fully).
STATEMENTS: tuple[str, ...] = (
    "standards", "measured", "feedback_acted_on", "trained", "internal_customer",
    "root_causes", "proactive", "accessible", "service_by_value", "empowered", "vision",
)
LOWEST_RATING, HIGHEST_RATING = 1, 5
MAX_LAGGING = 1  # indicators that may stay below a stage the company is placed at
MIN_SUPPORTING = 2  # indicators that must reach it


@dataclass(frozen=True)
class Measures:
    """The indicators measured from the data; None where the data has nothing to say."""

    flow: float | None
    accessibility: float | None
    satisfaction_trend: float | None
    incident_learning: float | None
    course_completion: float | None
    flow_basis: str = "no failed contact"  # or "goal reached"
    accessibility_basis: str = "first try"  # or "first-contact resolution"


@dataclass(frozen=True)
class Evidence:
    indicator: Indicator
    value: float | None
    supports: Stage | None  # None: no value

    @property
    def thresholds(self) -> Thresholds:
        return THRESHOLDS[self.indicator]


@dataclass(frozen=True)
class NextStep:
    """What to do to reach ``stage``: the indicator to raise, or None for the stage's
    general advice."""

    stage: Stage
    indicator: Indicator | None


@dataclass(frozen=True)
class Assessment:
    stage: Stage
    score: float  # 0-100
    evidence: tuple[Evidence, ...]  # in Indicator order
    next_steps: tuple[NextStep, ...]  # empty at the last stage
    ratings: dict[str, int]  # statement id -> 1-5; empty without a questionnaire

    def of(self, indicator: Indicator) -> Evidence:
        return next(e for e in self.evidence if e.indicator is indicator)

    def to_dict(self) -> dict:
        return {
            "stage": int(self.stage), "stage_name": self.stage.name.lower(), "score": self.score,
            "evidence": [{"indicator": e.indicator.value, "value": e.value,
                          "supports": None if e.supports is None else int(e.supports)}
                         for e in self.evidence],
            "next_steps": [{"stage": int(n.stage),
                            "indicator": None if n.indicator is None else n.indicator.value}
                           for n in self.next_steps],
            "ratings": dict(self.ratings),
        }


@dataclass(frozen=True)
class HistoryEntry:
    assessment_id: int
    assessed_at: dt.datetime
    assessed_by: str
    stage: Stage
    score: float


# ---- placement ----------------------------------------------------------------------------


def check_ratings(ratings: Mapping[str, object]) -> dict[str, int]:
    """Every statement rated with a whole number 1-5 (text digits accepted)."""
    out = {}
    for statement in STATEMENTS:
        raw = ratings.get(statement)
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise InputError("Rate every statement of the questionnaire from "
                             f"{LOWEST_RATING} to {HIGHEST_RATING}.") from None
        if not LOWEST_RATING <= value <= HIGHEST_RATING:
            raise InputError(f"A rating must be {LOWEST_RATING} to {HIGHEST_RATING}; "
                             f"got {value}.")
        out[statement] = value
    unknown = sorted(set(ratings) - set(STATEMENTS))
    if unknown:
        raise InputError(f"The questionnaire has no statement {unknown[0]!r}.")
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def assess(measures: Measures, ratings: Mapping[str, object] | None = None) -> Assessment:
    """Place the company at a stage from the measures and (optionally) the
    questionnaire's ratings."""
    checked = check_ratings(ratings) if ratings is not None else {}
    values = {
        Indicator.FLOW: measures.flow,
        Indicator.ACCESSIBILITY: measures.accessibility,
        Indicator.SATISFACTION_TREND: measures.satisfaction_trend,
        Indicator.INCIDENT_LEARNING: measures.incident_learning,
        Indicator.COURSE_COMPLETION: measures.course_completion,
        Indicator.QUESTIONNAIRE: (sum(checked.values()) / len(checked)) if checked else None,
    }
    evidence = []
    for indicator in Indicator:
        value = _finite(values[indicator])
        evidence.append(Evidence(indicator, value, None if value is None
                                 else THRESHOLDS[indicator].supports(value)))
    measured = [e for e in evidence if e.supports is not None]
    stage = Stage.DEVELOPING
    for candidate in (Stage.SERVICE_CENTRE, Stage.PROFESSIONAL):
        reaching = sum(e.supports >= candidate for e in measured)
        if reaching >= MIN_SUPPORTING and len(measured) - reaching <= MAX_LAGGING:
            stage = candidate
            break
    score = (50.0 * sum(THRESHOLDS[e.indicator].position(e.value) for e in measured)
             / len(measured)) if measured else 0.0
    steps: list[NextStep] = []
    if stage < Stage.SERVICE_CENTRE:
        target = Stage(stage + 1)
        steps.append(NextStep(target, None))
        steps += [NextStep(target, e.indicator) for e in evidence
                  if e.supports is None or e.supports < target]
    return Assessment(stage, round(score, 1), tuple(evidence), tuple(steps), checked)


# ---- measuring ----------------------------------------------------------------------------


def journey_flow(events, goal: tuple[str, ...] = ()) -> float | None:
    """The share of journeys that reach a goal touchpoint, or (no goal) that have no
    failed or abandoned contact; None without events."""
    if goal:
        flows = events.touchpoint.isin(goal).any()
    else:
        flows = (~events.outcome.isin(("failed", "abandoned")).fill_null(False)).all()
    cases = events.group_by("case_id").aggregate(flows=flows)
    row = cases.aggregate(n=cases.count(), flowing=cases.flows.cast("int64").sum()) \
        .to_pyarrow().to_pylist()[0]
    return None if not row["n"] else row["flowing"] / row["n"]


def _of_kind(kpis, kind, done: str) -> float | None:
    chosen = [k for k in kpis.journeys if k.kind is kind]
    cases = sum(k.cases for k in chosen)
    return sum(getattr(k, done) for k in chosen) / cases if cases else None


def first_try_rate(events, touchpoints=None) -> float | None:
    from .access import accessibility

    result = accessibility(events, touchpoints=touchpoints)
    resolved = sum(g.resolved_episodes for g in result.groups)
    return sum(g.first_try_successes for g in result.groups) / resolved if resolved else None


def satisfaction_trend(events, feedback) -> float | None:
    from .health import health_change

    change = health_change(events, feedback=feedback)
    if change is None:
        return None
    judged = [c.improved for c in change.changes
              if c.name in ("nps", "csat", "ces") and c.delta is not None]
    if not judged:
        return None
    return float(sum(i is True for i in judged) - sum(i is False for i in judged))


def incident_learning(incidents) -> float | None:
    """The share of incidents with a root cause and an action whose effect was measured."""
    if not incidents:
        return None
    learned = sum(bool(i.root_causes) and any(a.measured_effect is not None
                                              for a in i.actions) for i in incidents)
    return learned / len(incidents)


def measure(project, course=None) -> Measures:
    """The data indicators of an open project (read-only is enough). ``course`` is the
    academy's course (default: the packaged one)."""
    from .academy import completion_share
    from .course import course as packaged
    from .incidents import list_incidents

    from .company import JourneyKind, company_model
    from .journey_types import journey_kpis

    events = project.table("events")
    touchpoints = project.table("touchpoints")
    model = company_model(project)
    kpis = journey_kpis(events, model, touchpoints=touchpoints) if model.journeys else None
    try:
        trend = satisfaction_trend(events, project.table("feedback"))
    except CorridorError:
        trend = None
    flow = _of_kind(kpis, JourneyKind.PURCHASE, "reached_goal") if kpis else None
    flow_basis = "goal reached"
    if flow is None:
        flow, flow_basis = journey_flow(events), "no failed contact"
    access = _of_kind(kpis, JourneyKind.SERVICE, "resolved_at_first_contact") if kpis else None
    access_basis = "first-contact resolution"
    if access is None:
        access_basis = "first try"
        try:
            access = first_try_rate(events, touchpoints)
        except CorridorError:
            access = None
    try:
        completion = completion_share(project, course or packaged())
    except CorridorError:  # no course content yet
        completion = None
    return Measures(flow, access, trend, incident_learning(list_incidents(project)),
                    completion, flow_basis, access_basis)


# ---- keeping assessments ------------------------------------------------------------------


def record(project, assessment: Assessment, assessed_by: str) -> int:
    """Keep an assessment with its questionnaire (insert-only); its id."""
    if not assessment.ratings:
        raise InputError("An assessment is kept only with the managers' questionnaire.")
    con = project.con
    con.execute("BEGIN")
    try:
        new_id = con.execute("SELECT coalesce(max(assessment_id), 0) + 1 FROM"
                             " maturity_assessments").fetchone()[0]
        evidence = json.dumps([{"indicator": e.indicator.value, "value": e.value}
                               for e in assessment.evidence])
        con.execute("INSERT INTO maturity_assessments VALUES (?, ?, ?, ?, ?, ?)",
                    [new_id, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                     assessed_by, int(assessment.stage), assessment.score, evidence])
        con.executemany("INSERT INTO maturity_questionnaires VALUES (?, ?, ?)",
                        [[new_id, s, r] for s, r in assessment.ratings.items()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return new_id


def history(project) -> tuple[HistoryEntry, ...]:
    """Every assessment kept, newest first."""
    return tuple(HistoryEntry(i, at, by, Stage(stage), score) for i, at, by, stage, score in
                 project.con.execute(
                     "SELECT assessment_id, assessed_at, assessed_by, stage, score FROM"
                     " maturity_assessments ORDER BY assessment_id DESC").fetchall())


def current(project, course=None) -> tuple[Assessment, Measures | None]:
    """The latest assessment kept (with no fresh measures), else one from the data alone
    (with the measures it was made from): what the maturity page shows."""
    kept = latest(project)
    if kept is not None:
        return kept, None
    measures = measure(project, course)
    return assess(measures), measures


def latest(project) -> Assessment | None:
    """The latest assessment kept, rebuilt from its stored values and ratings."""
    row = project.con.execute("SELECT assessment_id, evidence FROM maturity_assessments"
                              " ORDER BY assessment_id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    values = {item["indicator"]: item["value"] for item in json.loads(row[1])}
    ratings = dict(project.con.execute(
        "SELECT statement_id, rating FROM maturity_questionnaires WHERE assessment_id = ?",
        [row[0]]).fetchall())
    measures = Measures(*(values.get(i.value) for i in Indicator
                          if i is not Indicator.QUESTIONNAIRE))
    known = {s: r for s, r in ratings.items() if s in STATEMENTS}
    return assess(measures, known if len(known) == len(STATEMENTS) else None)
