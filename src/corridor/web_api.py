"""The JSON API (``/api/v1``): every analytic the web app shows, and incidents, whys and
actions to read and write, described by the OpenAPI document at ``/api/v1/openapi.json``.

Scripts sign in with a token (``corridor token create``) sent as ``Authorization: Bearer
<token>``; the API takes no cookies, so a browser session cannot be ridden by another
site (no CSRF), and it acts with the token's account role and department as they are at
each request. The answers are the same typed results the pages draw, computed once and
kept in the same page cache; the permissions are the pages' permissions, and customers'
own words (quotes) are left out for roles without personal-data access.
"""


import contextlib
import dataclasses
import datetime as dt
import functools
import re
import secrets
import shutil
import threading
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter
from starlette.datastructures import QueryParams

from .accounts import Permission, Role
from .audit import AuditEntry
from .dfg import DirectlyFollowsGraph
from .errors import AnalysisError, CorridorError, DiskFull, InputError, ProjectError
from .experience import ExperienceReport
from .schema import Kind
from .incidents import MAX_NAME, MAX_TEXT, Action, ActionKind, ActionStatus, Incident, Why
from .userflow import Direction, UserFlow
from .web import (
    AUDIT_PAGE_SIZE,
    INCIDENT_PAGES,
    Overview,
    compute_customers,
    compute_experience,
    compute_overview,
    read_actions,
)
from .web_departments import DepartmentsPage, compute_departments
from .schema import LEVELS
from .web_filters import FIRST_DAY, LAST_DAY, MAX_VALUE_LENGTH, MAX_VALUES, TEXT_PATTERN, PageFilters
from .web_flow import compute_flow, parse_depth, parse_direction, parse_touchpoint, project_touchpoints
from .web_funnel import (
    BREAKDOWNS,
    MAX_STEPS,
    MIN_STEPS,
    MAX_WITHIN_HOURS,
    FunnelPage,
    compute_funnel,
    funnel_choices,
    parse_params,
)
from .web_journey import JourneyPage, journey_types, chosen_journey, compute_journey
from .web_map import compute_map_base
from .web_personas import GroupChoice, compute_personas
from .web_site import Principal, Site

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"

# What the document says of the query parameters, matching what the server accepts: days
# in the filters' range (its years by pattern, the calendar by format), fixed sets as
# enums, and text without control characters.
DAY_PATTERN = (rf"^({FIRST_DAY.year // 100}[0-9]{{2}}|2[01][0-9]{{2}}|{LAST_DAY.year})"
               r"-[0-9]{2}-[0-9]{2}$")
assert (FIRST_DAY.year, LAST_DAY.year) == (1900, 2200), "DAY_PATTERN spells these years out"
Text = Annotated[str, Field(pattern=TEXT_PATTERN, max_length=MAX_VALUE_LENGTH)]
Level = Annotated[str, Field(json_schema_extra={"enum": list(LEVELS)})]
# a funnel step names a touchpoint: not blank
Step = Annotated[str, Field(max_length=MAX_VALUE_LENGTH, pattern=(
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F]"
    r"[^\u0000-\u001F\u007F-\u009F]*$"))]


def _day(name: str, description: str):
    return Query(alias=name, pattern=DAY_PATTERN, description=(
        f"{description} A day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()};"
        " `to` may not be before `from`."), json_schema_extra={"format": "date"})


class ApiError(BaseModel):
    """A refusal: one sentence saying what is wrong (for a malformed request, the list
    of the fields at fault)."""

    detail: str | list[dict[str, Any]]


class Refused(Exception):
    """A request the API answers with ``status`` and one sentence."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


ERRORS = {400: {"model": ApiError, "description": "A bad parameter or body."},
          401: {"model": ApiError, "description": "No valid token."},
          403: {"model": ApiError, "description": "The token's role may not do this."},
          404: {"model": ApiError, "description": "No such incident, why or action."},
          422: {"model": ApiError, "description": "The data cannot give this answer."},
          500: {"model": ApiError, "description": "The server failed; nothing of why is sent."},
          503: {"model": ApiError, "description": "The project is busy."},
          507: {"model": ApiError, "description": "The disk holding the project is full;"
                " nothing was changed."}}


# ---- answers -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _adapter(model) -> TypeAdapter:
    return TypeAdapter(model)


def _utc(value: Any) -> Any:
    """``value`` with every naive timestamp marked as the UTC it is stored in."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _utc(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utc(v) for v in value]
    return value


def answer(model: Any, value: Any, status: int = 200) -> JSONResponse:
    """``value`` as ``model`` (the type its route documents) in JSON, timestamps in UTC
    with their offset, as the document's ``date-time`` says."""
    data = _adapter(model).dump_python(value, mode="python")
    return JSONResponse(jsonable_encoder(_utc(data)), status_code=status)


# ---- who is calling ---------------------------------------------------------------------


class TokenAuth:
    """Finds the account behind a bearer token; the answer is kept until the project
    changes (a revoked token or a disabled account is refused after the next write)."""

    def __init__(self, site: Site):
        self.site = site
        self.lock = threading.Lock()
        self.known: dict[str, Principal | None] = {}
        self.version: tuple = ()

    def principal(self, token: str) -> Principal | None:
        from .tokens import token_user

        if self.site.run_token is not None and secrets.compare_digest(
                token.encode(), self.site.run_token.encode()):
            from .audit import cli_actor

            return Principal(cli_actor(), Role.ADMIN, None, None)
        version = self.site.project_version()
        with self.lock:
            if version != self.version:
                self.known.clear()
                self.version = version
            if token in self.known:
                return self.known[token]
        user = self.site.read(lambda p: token_user(p, token))
        found = (None if user is None else
                 Principal(user.user_name, user.role, user.department_id, None))
        with self.lock:
            self.known[token] = found
            while len(self.known) > 1000:
                self.known.pop(next(iter(self.known)))
        return found


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# ---- answers that differ from the pages' -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CustomersAnswer:
    """Customer levels and relations, and value: lifetime value, RFM, profitability,
    targets, service tiers, underwater customers, service payback, revenue at risk."""

    summary: dict[str, Any]
    value: dict[str, Any]
    fitted_until: dt.date | None  # the CLV was fitted up to this day; None: no holdout
    customer_ids_included: bool = True  # False: every customer id is null (the role's rule)


@dataclasses.dataclass(frozen=True)
class ExperienceAnswer:
    report: ExperienceReport | None  # None: the feedback holds no scores


@dataclasses.dataclass(frozen=True)
class MapAnswer:
    graph: DirectlyFollowsGraph
    journeys: tuple[tuple[str, int], ...]  # (touchpoint, journeys visiting it)
    roles: tuple[tuple[str, str], ...]  # (touchpoint, corridor role)
    main_path: tuple[str, ...]
    goal: tuple[str, ...]
    cases: int


@dataclasses.dataclass(frozen=True)
class FlowAnswer:
    touchpoint: str | None
    direction: Direction
    depth: int
    flow: UserFlow | None


@dataclasses.dataclass(frozen=True)
class PersonasAnswer:
    personas: Any  # corridor.personas.Personas; None when there are none
    maps: dict[str, Any]  # group -> corridor.empathy.EmpathyMap
    groups: tuple[GroupChoice, ...]
    quotes_included: bool


def _without_quotes(value: Any) -> Any:
    """``value`` with every customer quote (a customer's own words) left out."""
    from .personas import Quote

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            if isinstance(current, tuple) and current and isinstance(current[0], Quote):
                changes[f.name] = ()
            else:
                changes[f.name] = _without_quotes(current)
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_without_quotes(v) for v in value)
    if isinstance(value, dict):
        return {k: _without_quotes(v) for k, v in value.items()}
    return value


# ---- bodies ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MaturityEvidence:
    indicator: str
    value: float | None  # None: no data
    supports: int | None  # the stage the value supports; None: no data


@dataclasses.dataclass(frozen=True)
class MaturityAnswer:
    stage: int  # 1 developing service quality, 2 professional service, 3 service centre
    score: float  # 0-100
    evidence: tuple[MaturityEvidence, ...]
    kept: bool  # True: the latest assessment kept; False: one from the data alone


@dataclasses.dataclass(frozen=True)
class LoadAnswer:
    """What one load did (as ``corridor ingest --json`` prints it)."""

    kind: str
    source: str
    format: str
    read: int
    accepted: int
    rejected: int
    already_loaded: bool
    unknown_customers: int
    new_touchpoints: int
    load_id: int | None
    replaced: int = 0


class IncidentIn(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TEXT)
    touchpoint: str | None = Field(default=None, max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_TEXT)


class WhyIn(BaseModel):
    statement: str = Field(min_length=1, max_length=MAX_TEXT)
    parent_id: int | None = Field(default=None, ge=1, le=2**62)
    root_cause: bool = False


class ActionIn(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TEXT)
    kind: ActionKind
    owner_department_id: str = Field(min_length=1, max_length=MAX_NAME)
    due: dt.date
    why_id: int | None = Field(default=None, ge=1, le=2**62)
    effect: str | None = Field(default=None, max_length=MAX_TEXT)


class ActionChange(BaseModel):
    status: ActionStatus


# ---- the routes --------------------------------------------------------------------------


def register(app: FastAPI, site: Site) -> None:
    auth = TokenAuth(site)

    def route(method: str, path: str, model: Any, status: int = 200):
        """Add ``endpoint`` as ``method path``, documented and answered as ``model``."""
        def add(endpoint):
            @functools.wraps(endpoint)
            def respond(*args, **kwargs):
                return answer(model, endpoint(*args, **kwargs), status)

            app.api_route(PREFIX + path, methods=[method], response_model=model,
                          status_code=status, responses=ERRORS)(respond)
            return endpoint
        return add

    def caller(permission: Permission):
        def check(request: Request) -> Principal:
            token = _bearer(request)
            if token is None:
                raise Refused(401, "Send an API token: Authorization: Bearer <token>.")
            principal = auth.principal(token)
            if principal is None:
                raise Refused(401, "The API token is unknown, revoked, or its account is"
                                   " disabled.")
            if not principal.may(permission):
                raise Refused(403, f"The role {principal.role.value} may not do this.")
            return principal
        return check

    Reader = Annotated[Principal, Depends(caller(Permission.AGGREGATES))]
    CourseReader = Annotated[Principal, Depends(caller(Permission.COURSE))]
    Editor = Annotated[Principal, Depends(caller(Permission.EDIT_OWN_DEPARTMENT))]
    Auditor = Annotated[Principal, Depends(caller(Permission.AUDIT))]
    Loader = Annotated[Principal, Depends(caller(Permission.LOAD_DATA))]

    def filters(
        request: Request,
        start: Annotated[str | None, _day("from", "The first day.")] = None,
        end: Annotated[str | None, _day("to", "The last day, included.")] = None,
        segment: Annotated[list[Text], Query(max_length=MAX_VALUES)] = [],
        level: Annotated[list[Level], Query(max_length=MAX_VALUES)] = [],
        channel: Annotated[list[Text], Query(max_length=MAX_VALUES)] = [],
        department: Annotated[list[Text], Query(max_length=MAX_VALUES)] = [],
    ) -> PageFilters:
        """The shared filters, parsed exactly as the pages parse them."""
        return PageFilters.from_query(request.query_params)

    Filters = Annotated[PageFilters, Depends(filters)]

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # A bad query or path parameter is a bad parameter (400, one sentence, as the
        # page filters answer it); a malformed body stays 422 with the fields at fault.
        if request.url.path.startswith(PREFIX + "/"):
            for error in exc.errors():
                where = tuple(error.get("loc") or ())
                if where and where[0] in ("query", "path"):
                    try:  # a bad filter: the sentence the pages give
                        PageFilters.from_query(request.query_params)
                    except InputError as bad:
                        return JSONResponse({"detail": str(bad)}, status_code=400)
                    name = where[1] if len(where) > 1 else where[0]
                    reason = str(error.get("msg", "is not valid")).rstrip(".")
                    return JSONResponse({"detail": f"The parameter {name!r} is not valid:"
                                                   f" {reason[:200]}."}, status_code=400)
        return await request_validation_exception_handler(request, exc)

    @route("GET", "/overview", Overview)
    def overview(_: Reader, f: Filters):
        """The corridor's health: journeys, the corridor, scores, open incidents and what
        changed since the last period."""
        return site.cached("overview", compute_overview, f)

    @route("GET", "/map", MapAnswer)
    def corridor_map(_: Reader, f: Filters):
        """The corridor map's data: the directly-follows graph, visits per touchpoint and
        each touchpoint's corridor role."""
        base = site.cached("map_base", compute_map_base, f)
        return MapAnswer(base.graph, base.journeys, base.roles, base.main_path, base.goal,
                         base.cases)

    @route("GET", "/flow", FlowAnswer)
    def flow(request: Request, _: Reader, f: Filters,
             touchpoint: Annotated[str | None, Query(max_length=200,
                                                     pattern=TEXT_PATTERN)] = None,
             direction: Annotated[Direction, Query()] = Direction.AFTER,
             depth: Annotated[int | None, Query(ge=1, le=8)] = None):
        """The user flow from (after) or to (before) a touchpoint, level by level."""
        query = request.query_params
        known = site.cached("flow_touchpoints", project_touchpoints)
        _known_or_404("touchpoint", [(touchpoint or "").strip()], known)
        page = site.cached("flow", compute_flow, f,
                           touchpoint=parse_touchpoint(query.get("touchpoint"), known),
                           direction=parse_direction(query.get("direction")),
                           depth=parse_depth(None if depth is None else str(depth)))
        return FlowAnswer(page.touchpoint, page.direction, page.depth, page.flow)

    @route("GET", "/funnel", FunnelPage)
    def funnel(request: Request, _: Reader, f: Filters,
               step: Annotated[list[Step], Query(min_length=MIN_STEPS,
                                                 max_length=MAX_STEPS)] = [],
               within: Annotated[int | None, Query(ge=1, le=MAX_WITHIN_HOURS)] = None,
               by: Annotated[str | None, Query(json_schema_extra={
                   "enum": list(BREAKDOWNS)})] = None):
        """A funnel over 2–8 steps (the corridor's basic steps when none are given),
        optionally within a number of hours and broken down by segment or channel."""
        choices = site.cached("funnel_choices", funnel_choices)
        _known_or_404("touchpoint", [s.strip() for s in step], choices.touchpoints)
        params = parse_params(_typed(request, within=within), choices)
        return site.cached("funnel", compute_funnel, f, steps=params.steps,
                           within=params.within_hours, by=params.by)

    @route("GET", "/journey", JourneyPage)
    def journey(request: Request, _: Reader, f: Filters,
                journey: Annotated[str | None, Query(max_length=100,
                                                     pattern=TEXT_PATTERN)] = None):
        """The journey map of one journey type of the company model (default: its first
        purchase journey): stages × touchpoints, the emotion curve, pains and
        opportunities with their evidence."""
        known = site.cached("journey_types", journey_types)
        _known_or_404("journey type", [(journey or "").strip()], known)
        try:
            kind = chosen_journey(request, known)
        except InputError as error:
            raise Refused(400, str(error)) from None
        return site.cached("journey", compute_journey, f, journey=kind)

    @route("GET", "/customers", CustomersAnswer)
    def customers(who: Reader):
        """Customer levels and relations, and their value; customer ids only for roles
        allowed personal data (null for the others)."""
        from .disclosure import without_customer_ids

        page = site.cached("customers", compute_customers)
        summary = page.summary.to_dict()
        value = page.value.to_dict() if page.value is not None else {}
        if who.may(Permission.CUSTOMER_PII):
            return CustomersAnswer(summary, value, page.until)
        return CustomersAnswer(without_customer_ids(summary), without_customer_ids(value),
                               page.until, customer_ids_included=False)

    @route("GET", "/experience", ExperienceAnswer)
    def experience(_: Reader):
        """NPS, CSAT and CES by segment, with intervals and their drivers."""
        return ExperienceAnswer(site.cached("experience", compute_experience).report)

    @route("GET", "/personas", PersonasAnswer)
    def personas(who: Reader, f: Filters):
        """Personas and empathy maps; customers' own words only for roles allowed
        personal data."""
        page = site.cached("personas", compute_personas, f)
        answer = PersonasAnswer(page.personas, page.maps, page.groups, True)
        if not who.may(Permission.CUSTOMER_PII):
            answer = dataclasses.replace(_without_quotes(answer), quotes_included=False)
        return answer

    @route("GET", "/departments", DepartmentsPage)
    def departments(_: Reader, f: Filters):
        """Every department's scorecard: where its work goes."""
        return site.cached("departments", compute_departments, f)

    Assessor = Annotated[Principal, Depends(caller(Permission.ASSESS_MATURITY))]

    @route("GET", "/maturity", MaturityAnswer)
    def maturity_answer(request: Request, _: Assessor):
        """The customer-focus maturity stage with its evidence, as the maturity page shows
        it (the latest assessment kept, else one from the data alone)."""
        from .web_academy import current_assessment

        root = getattr(request.app.state, "course_root", None)
        assessment, kept = current_assessment(site, None if root is None else Path(root))
        return MaturityAnswer(
            int(assessment.stage), assessment.score,
            tuple(MaturityEvidence(e.indicator.value, e.value,
                                   None if e.supports is None else int(e.supports))
                  for e in assessment.evidence),
            kept)

    # ---- incidents, whys and actions ---------------------------------------------------

    def incident_of(incident_id: int) -> Incident:
        incidents, _ = site.cached("actions", read_actions)
        found = next((i for i in incidents if i.incident_id == incident_id), None)
        if found is None:
            raise Refused(404, f"There is no incident {incident_id}.")
        return found

    def editable(who: Principal, incident: Incident) -> None:
        if not site.may_edit(who, incident.touchpoint, incident.department_id):
            raise Refused(403, f"{who.user_name} may not edit incident"
                               f" {incident.incident_id}.")

    def write(who: Principal, change) -> Any:
        from .audit import record

        done: list = []

        def run(p) -> None:
            result, action, target, detail = change(p)
            record(p, who.user_name, action, target, {**detail, "via": "api"})
            done.append(result)

        try:
            site.write(run, forget=INCIDENT_PAGES)
        except InputError as error:
            raise Refused(400, str(error)) from None
        return done[0]

    @route("GET", "/incidents", list[Incident])
    def incidents(_: CourseReader):
        """Every incident with its 5-Whys tree and actions, open first."""
        return list(site.cached("actions", read_actions)[0])

    @route("GET", "/incidents/{incident_id}", Incident)
    def incident(_: CourseReader, incident_id: int):
        return incident_of(incident_id)

    @route("POST", "/incidents", Incident, 201)
    def new_incident(who: Editor, body: IncidentIn):
        """Open an incident (department heads: on their department's touchpoints)."""
        from .incidents import get_incident, open_incident

        _known_or_404("touchpoint", [body.touchpoint or ""],
                      site.cached("flow_touchpoints", project_touchpoints))
        if not site.may_edit(who, body.touchpoint):
            raise Refused(403, f"{who.user_name} may not open an incident on"
                               f" {body.touchpoint or 'no touchpoint'}.")

        def change(p):
            made = open_incident(p, body.title, touchpoint=body.touchpoint,
                                 description=body.description)
            return (get_incident(p, made.incident_id), "incident.open",
                    f"incident {made.incident_id}",
                    {"title": body.title, "touchpoint": body.touchpoint})

        return write(who, change)

    @route("POST", "/incidents/{incident_id}/whys", Why, 201)
    def new_why(who: Editor, incident_id: int, body: WhyIn):
        """Add a why: an answer to ``parent_id``, or a first why."""
        from .incidents import add_why

        editable(who, incident_of(incident_id))

        def change(p):
            why = add_why(p, incident_id, body.statement, parent_id=body.parent_id,
                          is_root_cause=body.root_cause)
            return (why, "why.add", f"incident {incident_id}",
                    {"why_id": why.why_id, "statement": body.statement,
                     "parent_id": body.parent_id, "root_cause": body.root_cause})

        return write(who, change)

    @route("POST", "/incidents/{incident_id}/actions", Action, 201)
    def new_action(who: Editor, incident_id: int, body: ActionIn):
        """Add a corrective or preventive action to an incident."""
        from .incidents import add_action

        editable(who, incident_of(incident_id))

        def change(p):
            action = add_action(p, incident_id, body.title, kind=body.kind,
                                owner_department_id=body.owner_department_id, due=body.due,
                                why_id=body.why_id, effect=body.effect)
            return (action, "action.add", f"incident {incident_id}",
                    {"action_id": action.action_id, "title": body.title})

        return write(who, change)

    @route("PATCH", "/actions/{action_id}", Action)
    def change_action(who: Editor, action_id: int, body: ActionChange):
        """Move an action to open, in progress or done (done: completed now)."""
        from .incidents import update_action

        incidents, _ = site.cached("actions", read_actions)
        owner = next((i for i in incidents for a in i.actions if a.action_id == action_id),
                     None)
        if owner is None:
            raise Refused(404, f"There is no action {action_id}.")
        editable(who, owner)

        def change(p):
            action = update_action(p, action_id, status=body.status)
            return (action, "action.update", f"action {action_id}",
                    {"status": body.status.value})

        return write(who, change)

    # ---- loads while serving ----------------------------------------------------------

    loading = threading.Lock()  # one load at a time; pages never wait for it

    @route("POST", "/loads", LoadAnswer, 201)
    def load(who: Loader, kind: Annotated[Kind, Form()], file: UploadFile,
             max_reject_rate: Annotated[float, Form(ge=0, le=1)] = 1.0,
             mapping: Annotated[str | None, Form(max_length=100_000)] = None,
             replace: Annotated[bool, Form()] = False):
        """Load one file (CSV, Parquet, JSON Lines or XES) while the app serves: pages
        keep answering from the last commit, and the load appears whole or not at all.
        ``corridor ingest`` sends its files here while a server runs on the project."""
        from .audit import record
        from .ingest import ingest_file
        from .mapping import Mapping
        from .serving import uploads_path
        from .store import disk_full

        # the sender's file name, reduced to a plain name that stays inside the folder
        name = re.sub(r"[^\w.-]", "_", Path(file.filename or "").name).lstrip(".") or "upload"
        folder = uploads_path(site.project_path) / uuid.uuid4().hex
        result = None
        try:
            folder.mkdir(parents=True, mode=0o700)
            path = folder / name
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out, 1 << 20)
            rules = None
            if mapping is not None:
                (folder / "mapping.toml").write_text(mapping, "utf-8")
                rules = Mapping.from_toml(folder / "mapping.toml")
            with loading, site.held() as p:
                result = ingest_file(p, kind, path, mapping=rules,
                                     max_reject_rate=max_reject_rate, replace=replace)
                record(p, who.user_name, "data.load", name,
                       {**result.to_dict(), "source": name, "via": "api"})
        except InputError as bad:
            raise Refused(400, str(bad)) from None
        except Exception as failed:  # noqa: BLE001 - a full disk is the one answered here
            # the load is all or nothing; only its audit entry can fail after it
            full = disk_full(failed, site.project_path, unchanged=result is None)
            if full is None:
                raise
            raise Refused(507, str(full)) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # another upload may be using it
                folder.parent.rmdir()
        site.forget_all()
        return LoadAnswer(**{**result.to_dict(), "source": name})

    @route("GET", "/audit", list[AuditEntry])
    def audit(_: Auditor, limit: Annotated[int, Query(ge=1, le=10_000)] = AUDIT_PAGE_SIZE):
        """The newest audit entries, newest first (admins only)."""
        from .audit import latest

        return site.read(lambda p: latest(p, limit))

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document():
        """The API's OpenAPI document (public: it describes, it holds no data)."""
        return JSONResponse(api_openapi(app))



def _known_or_404(what: str, values, known) -> None:
    """A well-formed name the project does not have is a resource that does not exist:
    404 with one sentence (blank values are no choice)."""
    for value in values:
        if value and value not in known:
            raise Refused(404, f"There is no {what} called {value[:80]!r} in this project.")


def _typed(request: Request, **values: Any) -> QueryParams:
    """The request's query with ``values`` (as the route parsed them: ``4.0`` is 4) in
    place of the text sent."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in values]
    return QueryParams(pairs + [(k, str(v)) for k, v in values.items() if v is not None])


def api_openapi(app: FastAPI) -> dict:
    """The OpenAPI document of the /api/v1 routes alone, with the bearer scheme."""
    from fastapi.openapi.utils import get_openapi

    if getattr(app.state, "api_openapi", None) is None:
        routes = [r for r in app.routes if getattr(r, "path", "").startswith(PREFIX + "/")
                  and r.path != OPENAPI_PATH]
        document = get_openapi(
            title="corridor API", version="1", routes=routes,
            description="Every corridor analytic, and incidents, whys and actions. Sign in"
                        " with a token from `corridor token create` sent as"
                        " `Authorization: Bearer <token>`.")
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
        app.state.api_openapi = document
    return app.state.api_openapi


def api_error_status(error: CorridorError) -> int:
    """The status an error from the library answers an API call with."""
    if isinstance(error, InputError):
        return 400
    if isinstance(error, AnalysisError):
        return 422
    if isinstance(error, DiskFull):
        return 507  # Insufficient Storage
    if isinstance(error, ProjectError):
        return 503
    return 500
