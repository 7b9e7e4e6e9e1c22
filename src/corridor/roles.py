"""Corridor roles: which touchpoints every customer walks (basic), which are doors of the
same step that customers choose between (alternatives), and which some take (optional).

Definitions (DESIGN.md §4, made precise here):

- The journeys considered are the cases that reach the goal (any goal touchpoint), or all
  cases without a goal. A touchpoint's *coverage* is the share of those cases that visit
  it at least once.
- *Basic*: coverage >= ``threshold``.
- *Alternatives*: a group of two or more touchpoints below the threshold that almost never
  meet in one case, and together cover >= ``threshold``. "Almost never meet" is the
  overlap coefficient |A and B| / min(|A|, |B|) <= ``exclusivity`` for every pair in the
  group. The overlap coefficient is used rather than Jaccard because it asks "how often
  does the rarer door appear together with the other?", which stays high for a rare
  touchpoint that is merely independent of the doors (its overlap equals the other
  door's coverage) and so keeps rare, unrelated services out of a group. Groups are
  formed greedily from the most covered candidate down; a group is kept when the
  inclusion-exclusion lower bound of its union coverage (sum of coverages minus pairwise
  overlaps) reaches the threshold, and its exact union coverage is reported.
- *Optional*: any other touchpoint with coverage >= ``noise_floor``; rarer ones are noise.

The corridor's typical order ranks the basic touchpoints and alternative groups by
pairwise precedence: item X comes before Y when, among cases holding both, X's first
visit precedes Y's first visit in more than half of them; items are sorted by how many
others they precede (ties by median first step). A group's first visit is the first visit
to any of its doors, so the group sits where its doors typically sit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

import ibis
import ibis.expr.types as ir
from ibis import _

from .errors import AnalysisError, InputError
from .flow import as_float, as_int, goal_touchpoints
from .steps import CaseSteps, as_steps, case_steps


class Role(str, enum.Enum):
    BASIC = "basic"
    ALTERNATIVE = "alternative"
    OPTIONAL = "optional"


@dataclass(frozen=True)
class RoleItem:
    touchpoint: str
    coverage: float  # share of the considered cases visiting it
    cases: int
    typical_step: float  # median step number of the first visit

    def to_dict(self) -> dict:
        return {
            "touchpoint": self.touchpoint,
            "coverage": self.coverage,
            "cases": self.cases,
            "typical_step": self.typical_step,
        }


@dataclass(frozen=True)
class AlternativeGroup:
    doors: tuple[RoleItem, ...]  # most covered first
    coverage: float  # share of cases visiting at least one door
    max_overlap: float  # the largest pairwise overlap coefficient within the group

    @property
    def touchpoints(self) -> tuple[str, ...]:
        return tuple(d.touchpoint for d in self.doors)

    def to_dict(self) -> dict:
        return {
            "touchpoints": list(self.touchpoints),
            "coverage": self.coverage,
            "max_overlap": self.max_overlap,
            "doors": [d.to_dict() for d in self.doors],
        }


@dataclass(frozen=True)
class CorridorStep:
    """One step of the corridor in its typical order: a basic touchpoint, or an
    alternative group (the step with several doors)."""

    role: Role
    touchpoints: tuple[str, ...]
    coverage: float

    def to_dict(self) -> dict:
        return {
            "role": self.role.value,
            "touchpoints": list(self.touchpoints),
            "coverage": self.coverage,
        }


@dataclass(frozen=True)
class SegmentRoles:
    segment: str
    roles: CorridorRoles

    def to_dict(self) -> dict:
        return {"segment": self.segment, **self.roles.to_dict()}


@dataclass(frozen=True)
class CorridorRoles:
    basic: tuple[RoleItem, ...]  # in typical order
    alternatives: tuple[AlternativeGroup, ...]  # in typical order
    optional: tuple[RoleItem, ...]  # by coverage, highest first
    corridor: tuple[CorridorStep, ...]  # basic steps and alternative groups, in order
    cases: int  # journeys considered (those reaching the goal)
    goal: tuple[str, ...]
    threshold: float
    noise_floor: float
    exclusivity: float
    segments: tuple[SegmentRoles, ...] = ()

    def role_of(self, touchpoint: str) -> Role | None:
        if any(i.touchpoint == touchpoint for i in self.basic):
            return Role.BASIC
        if any(touchpoint in g.touchpoints for g in self.alternatives):
            return Role.ALTERNATIVE
        if any(i.touchpoint == touchpoint for i in self.optional):
            return Role.OPTIONAL
        return None

    def to_dict(self) -> dict:
        out = {
            "basic": [i.touchpoint for i in self.basic],
            "alternatives": [list(g.touchpoints) for g in self.alternatives],
            "optional": [i.touchpoint for i in self.optional],
            "corridor": [s.to_dict() for s in self.corridor],
            "cases": self.cases,
            "goal": list(self.goal),
            "threshold": self.threshold,
            "noise_floor": self.noise_floor,
            "exclusivity": self.exclusivity,
            "details": {
                "basic": [i.to_dict() for i in self.basic],
                "alternatives": [g.to_dict() for g in self.alternatives],
                "optional": [i.to_dict() for i in self.optional],
            },
        }
        if self.segments:
            out["segments"] = [s.to_dict() for s in self.segments]
        return out


def corridor_roles(
    source: ir.Table | CaseSteps,
    *,
    goal: str | Sequence[str] | None = None,
    threshold: float = 0.8,
    noise_floor: float = 0.02,
    exclusivity: float = 0.05,
    customers: ir.Table | None = None,
    by_segment: bool = False,
) -> CorridorRoles:
    """Mine the corridor's basic steps, alternative doors and optional services from
    events, or from the step table other analytics share."""
    for name, value in (
        ("threshold", threshold),
        ("noise_floor", noise_floor),
        ("exclusivity", exclusivity),
    ):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name} must be a share between 0 and 1; got {value}.")
    if noise_floor > threshold:
        raise InputError(
            f"noise_floor ({noise_floor}) must not exceed threshold ({threshold})."
        )
    if by_segment and customers is None:
        raise InputError("Corridor roles by segment need the customers table.")
    goal_names = () if goal is None else goal_touchpoints(goal)
    settings = _Settings(goal_names, threshold, noise_floor, exclusivity)
    steps = as_steps(source)
    overall = _roles(steps, settings)
    if overall is None:
        where = f"reaches the goal {', '.join(goal_names)}" if goal_names else "exists"
        raise AnalysisError(f"No journey {where}, so there is no corridor to describe.")
    if not by_segment:
        return overall
    segments = []
    tagged = _with_segment(steps.events, customers)
    names = tagged.select("segment").distinct().filter(tagged.segment.notnull())
    for segment in sorted(str(s) for s in names.execute()["segment"]):
        chosen = tagged.filter(tagged.segment == segment).drop("segment")
        roles = _roles(case_steps(chosen), settings)
        if roles is not None:
            segments.append(SegmentRoles(segment, roles))
    return replace(overall, segments=tuple(segments))


@dataclass(frozen=True)
class _Settings:
    goal: tuple[str, ...]
    threshold: float
    noise_floor: float
    exclusivity: float


def _with_segment(events: ir.Table, customers: ir.Table) -> ir.Table:
    lookup = customers.group_by("customer_id").aggregate(segment=customers.segment.min())
    joined = events.left_join(lookup, "customer_id")
    return joined.select(*events.columns, "segment")


def _first_visits(steps: CaseSteps, goal: Sequence[str]) -> ir.Table:
    """One row per case and touchpoint it visits: case_id, touchpoint, first_step; only
    the cases that reach the goal when there is one."""
    t = steps.table
    if goal:
        codes = [c for c in map(steps.codes.code_of, goal) if c is not None]
        reaching = t.filter(t.code.isin(codes) if codes else ibis.literal(False))
        t = t.semi_join(reaching.select("case_id").distinct(), "case_id")
    first = t.group_by(["case_id", "code"]).aggregate(first_step=t.step.min())
    return first.join(steps.code_table, "code").select("case_id", "touchpoint", "first_step")


def _roles(steps: CaseSteps, settings: _Settings) -> CorridorRoles | None:
    # Every question below reads the first visits: they are computed once.
    steps.register_dictionary()
    with _first_visits(steps, settings.goal).cache() as visits:
        return _roles_from_visits(visits, settings)


def _roles_from_visits(visits: ir.Table, settings: _Settings) -> CorridorRoles | None:
    visited = visits.select("case_id", "touchpoint")
    total = as_int(visited.case_id.nunique().execute())
    if total == 0:
        return None
    stats = (
        visits.group_by("touchpoint")
        .aggregate(cases=visits.case_id.nunique(), typical=visits.first_step.median())
        .execute()
    )
    items = {
        str(r.touchpoint): RoleItem(
            str(r.touchpoint), as_int(r.cases) / total, as_int(r.cases), as_float(r.typical)
        )
        for r in stats.itertuples()
    }
    basic = [i for i in items.values() if i.coverage >= settings.threshold]
    candidates = sorted(
        (
            i
            for i in items.values()
            if settings.noise_floor <= i.coverage < settings.threshold
        ),
        key=lambda i: (-i.coverage, i.touchpoint),
    )
    overlaps = _pair_overlaps(visited, [c.touchpoint for c in candidates])
    groups = _alternative_groups(candidates, overlaps, total, settings)
    grouped = {t for g in groups for t in g}
    optional = tuple(c for c in candidates if c.touchpoint not in grouped)
    union = _union_cases(visited, groups)
    alternatives = [
        AlternativeGroup(
            doors=tuple(items[t] for t in group),
            coverage=union[k] / total,
            max_overlap=max(
                _overlap(a, b, items, overlaps) for a in group for b in group if a < b
            ),
        )
        for k, group in enumerate(groups)
    ]
    steps = [CorridorStep(Role.BASIC, (i.touchpoint,), i.coverage) for i in basic]
    steps += [CorridorStep(Role.ALTERNATIVE, g.touchpoints, g.coverage) for g in alternatives]
    order = _typical_order(visits, steps)
    by_name = {g.touchpoints: g for g in alternatives}
    corridor = tuple(steps[k] for k in order)
    return CorridorRoles(
        basic=tuple(items[s.touchpoints[0]] for s in corridor if s.role is Role.BASIC),
        alternatives=tuple(
            by_name[s.touchpoints] for s in corridor if s.role is Role.ALTERNATIVE
        ),
        optional=optional,
        corridor=corridor,
        cases=total,
        goal=settings.goal,
        threshold=settings.threshold,
        noise_floor=settings.noise_floor,
        exclusivity=settings.exclusivity,
    )


def _pair_overlaps(visited: ir.Table, names: list[str]) -> dict[tuple[str, str], int]:
    """Cases holding both touchpoints, for each pair (a < b) that ever meets."""
    if len(names) < 2:
        return {}
    some = visited.filter(visited.touchpoint.isin(names))
    left = some.rename(a="touchpoint")
    right = some.rename(b="touchpoint")
    pairs = left.join(right, "case_id").filter(lambda t: t.a < t.b)
    # each (case, touchpoint) is there once, so each case adds one row per pair
    frame = pairs.group_by(["a", "b"]).aggregate(cases=_.count()).execute()
    return {(str(r.a), str(r.b)): as_int(r.cases) for r in frame.itertuples()}


def _overlap(a: str, b: str, items: dict[str, RoleItem], overlaps) -> float:
    both = overlaps.get((min(a, b), max(a, b)), 0)
    return both / min(items[a].cases, items[b].cases)


def _alternative_groups(
    candidates: list[RoleItem],
    overlaps: dict[tuple[str, str], int],
    total: int,
    settings: _Settings,
) -> list[tuple[str, ...]]:
    items = {c.touchpoint: c for c in candidates}
    assigned: set[str] = set()
    groups = []
    for seed in candidates:
        if seed.touchpoint in assigned:
            continue
        group = [seed.touchpoint]
        for other in candidates:
            name = other.touchpoint
            if name in assigned or name in group:
                continue
            if all(_overlap(name, m, items, overlaps) <= settings.exclusivity for m in group):
                group.append(name)
        if len(group) < 2:
            continue
        shared = sum(
            overlaps.get((min(a, b), max(a, b)), 0) for a in group for b in group if a < b
        )
        union_lower_bound = (sum(items[t].cases for t in group) - shared) / total
        if union_lower_bound >= settings.threshold:
            groups.append(tuple(group))
            assigned.update(group)
    return groups


def _union_cases(visited: ir.Table, groups: list[tuple[str, ...]]) -> list[int]:
    """For each group, the cases visiting at least one of its touchpoints."""
    if not groups:
        return []
    labels = {t: str(k) for k, group in enumerate(groups) for t in group}
    chosen = visited.filter(visited.touchpoint.isin(list(labels)))
    chosen = chosen.mutate(group=chosen.touchpoint.substitute(labels))
    frame = chosen.group_by("group").aggregate(cases=chosen.case_id.nunique()).execute()
    found = {int(r.group): as_int(r.cases) for r in frame.itertuples()}
    return [found.get(k, 0) for k in range(len(groups))]


def _typical_order(visits: ir.Table, steps: list[CorridorStep]) -> list[int]:
    """Indexes of ``steps`` sorted by pairwise precedence (see the module docstring)."""
    if len(steps) < 2:
        return list(range(len(steps)))
    labels = {t: str(k) for k, s in enumerate(steps) for t in s.touchpoints}
    chosen = visits.filter(visits.touchpoint.isin(list(labels)))
    chosen = chosen.mutate(item=chosen.touchpoint.substitute(labels))
    per_case = chosen.group_by(["case_id", "item"]).aggregate(first=chosen.first_step.min())
    left = per_case.rename(a="item", a_first="first")
    right = per_case.rename(b="item", b_first="first")
    pairs = left.join(right, "case_id").filter(lambda t: t.a != t.b)
    before = (pairs.a_first < pairs.b_first).cast("int64")
    frame = pairs.group_by(["a", "b"]).aggregate(both=_.count(), before=before.sum()).execute()
    wins = [0] * len(steps)
    for r in frame.itertuples():
        if as_int(r.before) * 2 > as_int(r.both):
            wins[int(r.a)] += 1
    position = per_case.group_by("item").aggregate(typical=per_case.first.median()).execute()
    typical = {int(r.item): as_float(r.typical) or 0.0 for r in position.itertuples()}
    return sorted(range(len(steps)), key=lambda k: (-wins[k], typical.get(k, 0.0), k))
