"""The academy pages: ``/academy`` (my track and progress; a department head's team and
the whole company's for managers), ``/academy/<n>`` (a module's lessons with live views of
the learner's own company, the exercise and the quiz with feedback on every answer) and
``/maturity`` (the customer-focus maturity assessment: stage, evidence, next steps, the
managers' questionnaire and the history).

Every live view a lesson may embed (:data:`corridor.course.LIVE_VIEWS`) has a renderer in
:data:`LIVE_VIEW_RENDERERS`: a small typed result drawn by ``_academy_view.html``, computed
once and kept with ``Site.cached`` (the views that an existing page computes reuse that
page's computation, so they share its cache). Customer personal data (ids in the risk
queue, customers' own words) shows only to roles with ``Permission.CUSTOMER_PII``.

The course is read from ``app.state.course_root`` when set (tests put a small course
there), else the packaged course.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from . import academy, maturity
from .accounts import Permission, User
from .course import COURSE_DIR, LIVE_VIEWS, Course, ExerciseKind, Module, load_course
from .errors import CorridorError, InputError
from .web_filters import PageFilters
from .web_format import short_duration
from .web_personas import persona_title
from .web_site import Principal, Site

SHOWN = 6  # rows a live view shows; the full page has the rest
EXERCISE_ANSWERS_SHOWN = 3


# ---- the course -------------------------------------------------------------------------


def course_of(request: Request) -> Course:
    """The course the app teaches: ``app.state.course_root`` or the packaged one."""
    from .course import course as packaged

    root = getattr(request.app.state, "course_root", None)
    if root is None or Path(root) == COURSE_DIR:
        return packaged()
    loaded = getattr(request.app.state, "course_loaded", None)
    if loaded is None or loaded[0] != Path(root):
        loaded = (Path(root), load_course(Path(root)))
        request.app.state.course_loaded = loaded
    return loaded[1]


def learner(principal: Principal) -> User:
    epoch = dt.datetime(1970, 1, 1)
    return User(principal.user_name, principal.role, principal.department_id, False,
                epoch, epoch)


# ---- live views -------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveView:
    name: str
    data: object  # what the fragment draws; None: the project has nothing to show
    link: str  # the page with the whole picture
    choices: tuple[str, ...] = ()  # what a choice exercise on this view offers
    unavailable: object = None  # web_states.Unavailable: why the data cannot give the view


@dataclass(frozen=True)
class ViewContext:
    site: Site
    principal: Principal
    course_root: Path | None


@dataclass(frozen=True)
class LevelRow:
    level: str
    customers: int
    direct: int
    end: int


@dataclass(frozen=True)
class CustomerLevels:
    customers: int
    direct: int
    end: int
    levels: tuple[LevelRow, ...]
    internal: tuple[tuple[str, str, int], ...]  # supplier dept, customer dept, hand-offs


def compute_customer_levels(project_path: Path) -> CustomerLevels:
    """The customer levels; the internal customers are filled in from the hand-offs
    view (:func:`_customer_levels`), which computes the hand-offs once for both."""
    from .customers import customer_summary
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        summary = customer_summary(p.table("customers"))
    return CustomerLevels(
        summary.customers, summary.direct_customers, summary.end_customers,
        tuple(LevelRow(x.level, x.customers, x.direct, x.end) for x in summary.levels), ())


@dataclass(frozen=True)
class RiskRow:
    rank: int
    customer_id: str
    risk: float
    value: float
    rule: str | None  # the feature family of the suggested action; None: the default


@dataclass(frozen=True)
class RiskQueue:
    as_of: dt.date
    horizon_days: int
    scored: int
    rows: tuple[RiskRow, ...]


def compute_risk_queue(project_path: Path) -> RiskQueue | None:
    from .risk import RiskModel, data_end, proactive_queue, reference_dates, risk_tables
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        try:
            tables = risk_tables(p)
            model = RiskModel()
            model.fit(tables, as_of=reference_dates(tables, horizon_days=model.horizon_days))
            queue = proactive_queue(model, tables, data_end(tables), size=SHOWN)
        except CorridorError:  # too little history to learn from
            return None
    return RiskQueue(queue.as_of, queue.horizon_days, queue.customers_scored, tuple(
        RiskRow(i.rank, i.customer_id, i.risk, i.value, i.action.rule_feature)
        for i in queue.items))


@dataclass(frozen=True)
class Efficiency:
    touchpoint: str
    contacts: int
    mean_cost: float | None
    satisfied: float | None  # CSAT: share of answers 4-5
    answers: int


def compute_efficiency(project_path: Path) -> tuple[Efficiency, ...]:
    """The busiest touchpoints with their mean cost per contact and CSAT."""
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        ev = p.table("events")
        work = ev.group_by("touchpoint").aggregate(
            contacts=ev.count(), mean_cost=ev.cost.cast("float64").mean()).to_pandas()
        fb = p.table("feedback")
        fb = fb.filter(fb.touchpoint.notnull() & (fb.metric == "csat"))
        sat = fb.group_by("touchpoint").aggregate(
            answers=fb.count(), satisfied=(fb.score >= 4).cast("float64").mean()).to_pandas()
    scores = {r.touchpoint: (r.satisfied, int(r.answers)) for r in sat.itertuples()}
    work = work.sort_values(["contacts", "touchpoint"], ascending=[False, True]).head(SHOWN + 2)
    return tuple(Efficiency(r.touchpoint, int(r.contacts), _number(r.mean_cost),
                            _number(scores.get(r.touchpoint, (None, 0))[0]),
                            scores.get(r.touchpoint, (None, 0))[1])
                 for r in work.itertuples())


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value else value


@dataclass(frozen=True)
class Segments:
    by_segment: tuple[tuple[str | None, int], ...]  # segment, customers; largest first
    by_usage: tuple[tuple[str, int], ...]  # band of contacts, customers


USAGE_BANDS = ((1, 1, "1"), (2, 4, "2-4"), (5, 9, "5-9"), (10, None, "10+"))


def compute_segments(project_path: Path) -> Segments:
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        c = p.table("customers")
        seg = c.group_by("segment").aggregate(n=c.count()).to_pandas()
        ev = p.table("events")
        per = ev.group_by("customer_id").aggregate(contacts=ev.count())
        counts = per.group_by("contacts").aggregate(n=per.count()).to_pandas()
    seg = seg.sort_values("n", ascending=False).head(SHOWN)
    bands = []
    for low, high, label in USAGE_BANDS:
        inside = counts[(counts.contacts >= low) & ((counts.contacts <= high) if high else True)]
        bands.append((label, int(inside.n.sum())))
    return Segments(tuple((None if s != s else s, int(n)) for s, n in
                          zip(seg.segment, seg.n)), tuple(bands))


def compute_accessibility(project_path: Path):
    from .access import accessibility
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        return accessibility(p.table("events"), touchpoints=p.table("touchpoints"))


@dataclass(frozen=True)
class HandoffView:
    rate: float | None
    cases: int
    pairs: tuple  # corridor.handoffs.HandOff, the most frequent first
    names: dict[str, str]  # department id -> name


def department_names(p) -> dict[str, str]:
    return {d: n for d, n in p.con.execute(
        "SELECT department_id, any_value(name) FROM departments GROUP BY 1").fetchall() if n}


def compute_handoffs(project_path: Path) -> HandoffView:
    from .handoffs import handoffs
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        found = handoffs(p.table("events"), touchpoints=p.table("touchpoints"))
        names = department_names(p)
    return HandoffView(found.handoff_rate, found.cases_with_handoffs, found.pairs[:SHOWN],
                       names)


@dataclass(frozen=True)
class Priorities:
    actions: tuple  # open actions (corridor.incidents.Action), the earliest due first
    bottlenecks: tuple  # corridor.bottlenecks.Bottleneck, the largest load first


def compute_priorities(project_path: Path) -> Priorities:
    from .bottlenecks import bottlenecks
    from .incidents import ActionStatus, list_incidents
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        actions = sorted((a for i in list_incidents(p) for a in i.actions
                          if a.status != ActionStatus.DONE),
                         key=lambda a: (a.due, a.action_id))
        try:
            ranked = bottlenecks(p.table("events"), top=SHOWN).overall
        except CorridorError:
            ranked = ()
    return Priorities(tuple(actions[:SHOWN]), tuple(ranked))


def compute_measures(project_path: Path, course_root: Path | None = None) -> maturity.Measures:
    from .store import Project

    course = load_course(course_root) if course_root is not None else None
    with Project.open(project_path, read_only=True) as p:
        return maturity.measure(p, course)


def current_assessment(site: Site, course_root: Path | None) -> tuple[maturity.Assessment, bool]:
    """The latest assessment kept (True), else one from the data alone (False)."""
    kept = site.read(maturity.latest)
    if kept is not None:
        return kept, True
    measures = site.cached("maturity.measures", partial(compute_measures,
                                                        course_root=course_root))
    return maturity.assess(measures), False


def _overview(ctx: ViewContext):
    from .web import compute_overview

    return ctx.site.cached("overview", compute_overview, PageFilters())


def _latest_incident(ctx: ViewContext) -> LiveView:
    from .web import read_actions

    incidents, _ = ctx.site.cached("actions", read_actions)
    latest = max(incidents, key=lambda i: (i.opened_at, i.incident_id), default=None)
    return LiveView("latest_incident", latest, f"/actions#incident-{latest.incident_id}"
                    if latest else "/actions")


def _kpis(ctx: ViewContext) -> LiveView:
    o = _overview(ctx)
    return LiveView("kpis", o, "/")


def _corridor_roles(ctx: ViewContext) -> LiveView:
    o = _overview(ctx)
    doors = [d for group in o.alternatives for d in group.split(" / ")]
    return LiveView("corridor_roles", o if (o.basic or o.optional) else None, "/map",
                    tuple(dict.fromkeys([*o.basic, *doors, *o.optional])))


@dataclass(frozen=True)
class DepartmentCorridor:
    department_id: str | None
    steps: tuple[tuple[str, str, bool], ...]  # touchpoint, role, of the learner's department


def _department_corridor(ctx: ViewContext) -> LiveView:
    o = _overview(ctx)
    owners = ctx.site.touchpoint_departments()
    mine = ctx.principal.department_id
    steps = [(tp, "basic") for tp in o.basic]
    steps += [(d, "alternative") for group in o.alternatives for d in group.split(" / ")]
    steps += [(tp, "optional") for tp in o.optional]
    view = DepartmentCorridor(mine, tuple(
        (tp, role, mine is not None and owners.get(tp) == mine) for tp, role in steps))
    return LiveView("department_corridor", view if steps else None, "/map",
                    tuple(tp for tp, _ in steps))


def _personas_page(ctx: ViewContext):
    from .web_personas import compute_personas

    return ctx.site.cached("personas", compute_personas, PageFilters())


def _personas(ctx: ViewContext) -> LiveView:
    page = _personas_page(ctx)
    cards = page.personas.cards if page.personas is not None else ()
    return LiveView("personas", cards or None, "/personas")


def _empathy_map(ctx: ViewContext) -> LiveView:
    page = _personas_page(ctx)
    group = page.default_group
    chosen = page.maps.get(group) if group else None
    return LiveView("empathy_map", chosen, f"/personas?group={group}" if group else "/personas")


@dataclass(frozen=True)
class DepartmentScorecard:
    card: object  # corridor.scorecard.Scorecard
    yours: bool  # False: the learner has no department (or it has no card); the first shown


def _department_scorecard(ctx: ViewContext) -> LiveView:
    from .web_departments import compute_departments

    page = ctx.site.cached("departments", compute_departments, PageFilters())
    cards = page.scorecards.cards
    mine = ctx.principal.department_id
    card = next((c for c in cards if c.department_id == mine), None)
    yours = card is not None
    card = card or (cards[0] if cards else None)
    return LiveView("department_scorecard", DepartmentScorecard(card, yours) if card else None,
                    f"/departments?dept={card.department_id}" if card else "/departments")


def _value_at_risk(ctx: ViewContext) -> LiveView:
    from .web import compute_customers

    page = ctx.site.cached("customers", compute_customers)
    at_risk = page.value.revenue_at_risk if page.value is not None else None
    # a figure the data cannot give (a CLV fit that did not converge, ...) says why
    return LiveView("value_at_risk", at_risk, "/customers",
                    unavailable=page.gaps.revenue_at_risk if at_risk is None else None)


def _maturity(ctx: ViewContext) -> LiveView:
    assessment, kept = current_assessment(ctx.site, ctx.course_root)
    return LiveView("maturity", assessment, "/maturity")


def _customer_levels(ctx: ViewContext) -> LiveView:
    levels = ctx.site.cached("academy.customer_levels", compute_customer_levels)
    passed = ctx.site.cached("academy.handoffs", compute_handoffs)
    internal = tuple((h.from_department, h.to_department, h.count) for h in passed.pairs)
    return LiveView("customer_levels", dataclasses.replace(levels, internal=internal),
                    "/customers")


def _plain(name: str, compute: Callable, link: str,
           choices: Callable[[object], tuple[str, ...]] = lambda data: ()):
    def render(ctx: ViewContext) -> LiveView:
        data = ctx.site.cached(f"academy.{name}", compute)
        return LiveView(name, data, link, choices(data) if data is not None else ())
    return render


LIVE_VIEW_RENDERERS: dict[str, Callable[[ViewContext], LiveView]] = {
    "customer_levels": _customer_levels,
    "risk_queue": _plain("risk_queue", compute_risk_queue, "/customers"),
    "latest_incident": _latest_incident,
    "department_corridor": _department_corridor,
    "kpis": _kpis,
    "personas": _personas,
    "empathy_map": _empathy_map,
    "efficiency_satisfaction": _plain(
        "efficiency_satisfaction", compute_efficiency, "/departments",
        lambda rows: tuple(r.touchpoint for r in rows)),
    "department_scorecard": _department_scorecard,
    "segments": _plain("segments", compute_segments, "/customers",
                       lambda s: tuple(x for x, _ in s.by_segment if x)),
    "corridor_roles": _corridor_roles,
    "accessibility": _plain("accessibility", compute_accessibility, "/flow",
                            lambda a: tuple(g.channel for g in a.groups if g.channel)),
    "handoffs": _plain("handoffs", compute_handoffs, "/departments",
                       lambda h: tuple(f"{p.from_department} → {p.to_department}"
                                       for p in h.pairs)),
    "action_priorities": _plain("action_priorities", compute_priorities, "/actions",
                                lambda pr: tuple(b.touchpoint for b in pr.bottlenecks)),
    "maturity": _maturity,
    "value_at_risk": _value_at_risk,
}
assert set(LIVE_VIEW_RENDERERS) == set(LIVE_VIEWS)  # tests/test_web_academy.py too


def live_view(ctx: ViewContext, name: str) -> LiveView:
    return LIVE_VIEW_RENDERERS[name](ctx)


# ---- pages --------------------------------------------------------------------------------

ACADEMY_WRITES = ("maturity.measures",)  # course answers change the completion indicator


def register(app: FastAPI, site: Site) -> None:
    def course_root(request: Request) -> Path | None:
        root = getattr(request.app.state, "course_root", None)
        return None if root is None else Path(root)

    def module_or_404(request: Request, number: int, lang: str) -> Module | None:
        course = course_of(request)
        principal = site.current(request)
        if not academy.takes(principal.role, number):
            return None
        return course.module(number, lang)

    def not_found(t) -> Response:
        return HTMLResponse(f"<!doctype html><p>{t('academy.not_in_track')}</p>",
                            status_code=404)

    @app.get("/academy", response_class=HTMLResponse)
    def academy_page(request: Request):
        t = site.translator(request)
        if (redirect := site.allow(request, Permission.COURSE)):
            return redirect
        course = course_of(request)
        me = learner(site.current(request))
        mine, team, names = site.read(lambda p: (academy.learner_progress(p, me, course),
                                                 academy.team_progress(p, me, course),
                                                 department_names(p)))
        return site.render(request, "academy.html", t, progress=mine, team=team,
                           modules={n: course.module(n, t.lang) for n in range(1, 9)},
                           department_names=names)

    def module_page(request: Request, t, module: Module, status: int = 200,
                    error: str | None = None, form: dict | None = None) -> Response:
        principal = site.current(request)
        me = learner(principal)
        track = academy.track_for(me.role)
        ctx = ViewContext(site, principal, course_root(request))
        lessons = module.lessons_for(track)
        views = {name: live_view(ctx, name) for name in
                 {lesson.live_view for lesson in lessons if lesson.live_view}
                 | ({module.exercise.live_view} if module.exercise.live_view else set())}
        incident = None
        if module.exercise.kind is ExerciseKind.FIVE_WHYS:
            incident = views.get("latest_incident") or live_view(ctx, "latest_incident")
        read_ids, tried, answers = site.read(lambda p: (
            academy.read_lessons(p, me.user_name, module.number),
            academy.attempts(p, me.user_name, module.number),
            academy.exercise_answers(p, me.user_name, module.number)))
        return site.render(
            request, "academy_module.html", t, status=status, module=module, track=track,
            lessons=lessons, views=views, read_ids=read_ids, attempts=tried,
            last=tried[-1] if tried else None, answers=answers[:EXERCISE_ANSWERS_SHOWN],
            incident=incident, error=error, form=form or {}, kinds=ExerciseKind,
            duration=short_duration, may_pii=principal.may(Permission.CUSTOMER_PII),
            persona_title=persona_title, indicator_value=indicator_value)

    @app.get("/academy/{number}", response_class=HTMLResponse)
    def module_get(request: Request, number: int):
        t = site.translator(request)
        if (redirect := site.allow(request, Permission.COURSE)):
            return redirect
        module = module_or_404(request, number, t.lang)
        if module is None:
            return not_found(t)
        return module_page(request, t, module)

    async def posted(request: Request, number: int):
        """The checks every academy POST makes: (t, module, form) or a response."""
        t = site.translator(request)
        form = await site.checked_form(request, Permission.COURSE)
        if isinstance(form, Response):
            return form
        module = module_or_404(request, number, t.lang)
        if module is None:
            return not_found(t)
        return t, module, form

    def save(request: Request, t, module: Module, form: dict, change, error_key: str,
             anchor: str) -> Response:
        me = learner(site.current(request))
        try:
            site.write(lambda p: change(p, me), forget=ACADEMY_WRITES)
        except InputError:
            return module_page(request, t, module, status=400, error=t(error_key), form=form)
        return RedirectResponse(f"/academy/{module.number}#{anchor}", status_code=303)

    @app.post("/academy/{number}/read")
    async def read_lesson(request: Request, number: int):
        checked = await posted(request, number)
        if isinstance(checked, Response):
            return checked
        t, module, form = checked
        lesson = str(form.get("lesson_id", ""))
        return save(request, t, module, form,
                    lambda p, me: academy.mark_read(p, me, module, lesson),
                    "academy.invalid", f"lesson-{lesson}" if lesson else "lessons")

    @app.post("/academy/{number}/exercise")
    async def exercise(request: Request, number: int):
        checked = await posted(request, number)
        if isinstance(checked, Response):
            return checked
        t, module, form = checked
        parts = []
        if module.exercise.kind is ExerciseKind.CHOICE and str(form.get("choice", "")).strip():
            parts.append(t("academy.chosen", choice=str(form["choice"]).strip()))
        if module.exercise.kind is ExerciseKind.FIVE_WHYS:
            parts += [t("academy.why_n", n=i) + " " + str(form.get(f"why{i}", "")).strip()
                      for i in range(1, 6) if str(form.get(f"why{i}", "")).strip()]
        if str(form.get("answer", "")).strip():
            parts.append(str(form["answer"]).strip())
        answer = "\n".join(parts)
        return save(request, t, module, form,
                    lambda p, me: academy.answer_exercise(p, me, module, answer),
                    "academy.exercise_empty", "exercise")

    @app.post("/academy/{number}/quiz")
    async def quiz(request: Request, number: int):
        checked = await posted(request, number)
        if isinstance(checked, Response):
            return checked
        t, module, form = checked
        choices = {q.question_id: str(form.get(f"q:{q.question_id}", "")) for q in module.quiz}
        return save(request, t, module, form,
                    lambda p, me: academy.answer_quiz(p, me, module, choices),
                    "academy.quiz_incomplete", "quiz")

    # ---- the maturity assessment ----------------------------------------------------------

    def maturity_page(request: Request, t, status: int = 200, error: str | None = None,
                      form: dict | None = None) -> Response:
        assessment, kept = current_assessment(site, course_root(request))
        entries = site.read(maturity.history)
        return site.render(request, "maturity.html", t, status=status, a=assessment,
                           kept=kept, history=entries, statements=maturity.STATEMENTS,
                           stages=list(maturity.Stage), thresholds=maturity.THRESHOLDS,
                           error=error, form=form or {}, indicator_value=indicator_value)

    @app.get("/maturity", response_class=HTMLResponse)
    def maturity_get(request: Request):
        t = site.translator(request)
        if (redirect := site.allow(request, Permission.ASSESS_MATURITY)):
            return redirect
        return maturity_page(request, t)

    @app.post("/maturity")
    async def maturity_post(request: Request):
        t = site.translator(request)
        form = await site.checked_form(request, Permission.ASSESS_MATURITY)
        if isinstance(form, Response):
            return form
        ratings = {s: form.get(f"rating:{s}", "") for s in maturity.STATEMENTS}
        measures = site.cached("maturity.measures", partial(
            compute_measures, course_root=course_root(request)))
        try:
            result = maturity.assess(measures, ratings)
        except InputError:
            return maturity_page(request, t, status=400, error=t("maturity.rate_all"),
                                 form=form)
        actor = site.current(request).user_name
        site.write(lambda p: maturity.record(p, result, actor))
        return RedirectResponse("/maturity#result", status_code=303)

    site.registered.update({"/academy", "/maturity"})


def indicator_value(t, item: maturity.Evidence | maturity.Indicator,
                    value: float | None = None) -> str:
    """An indicator's value (evidence), or ``value`` of an indicator (a threshold),
    written for the reader."""
    indicator = item
    if isinstance(item, maturity.Evidence):
        indicator, value = item.indicator, item.value
    if value is None:
        return "—"
    if indicator is maturity.Indicator.SATISFACTION_TREND:
        return ("+" if value > 0 else "") + t.number(value)
    if indicator is maturity.Indicator.QUESTIONNAIRE:
        return t.number(value, 1)
    return t.percent(value)
