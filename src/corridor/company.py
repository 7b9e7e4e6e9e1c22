"""The company model: what the company says its journeys mean.

A project's event data says which contacts happened; only the company can say which of
them make a journey a purchase or a service case, what its goal is, when each channel
is open, how long a wait may be, what counts as a bad experience and what every code is
called in each language. The model is written as a TOML file, checked, and kept in the
project (``meta`` key ``company_model``, the file's text as given), so every shell reads
the same one (``corridor configure``, ``corridor info``). A project without a model still
works: :meth:`CompanyModel.defaults` says, in words, which defaults an analytic used.

A file::

    currency = "EUR"
    timezone = "Europe/London"      # of the service hours

    [[journeys]]
    name = "purchase"
    kind = "purchase"               # purchase: KPI conversion (goal reached)
    start_stages = ["need", "evaluation", "purchase"]
    goal = ["first_bill"]

    [[journeys]]
    name = "support"
    kind = "service"                # service: KPIs resolution and first-contact resolution
    start = ["support_hotline", "web_chat"]
    # no goal: a case is resolved when its last contact's outcome is ok

    [service_hours]
    phone = "08:00-22:00"           # every day
    store = { mon-fri = "09:00-20:00", sat = "10:00-16:00" }   # a day not named is closed

    [waits]                         # longer than this is a long wait ("15min", "2d", or seconds)
    default = "15min"
    installation_visit = "6d"

    [bad_experience]
    nps_below = 7
    csat_below = 3
    ces_below = 4
    failed_outcomes = ["failed"]
    long_wait = true

    [labels.touchpoints.ad_seen]
    en = "Saw an advertisement"
    ar = "رأى إعلانًا"
    ru = "Увидел рекламу"

A case belongs to the first journey type (in the file's order) whose ``start``
touchpoints hold the case's first touchpoint, or whose ``start_stages`` hold that
touchpoint's stage. A case no type recognises is *unclassified* and counted as such.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .access import WEEKDAYS, OpeningHours
from .errors import InputError
from .i18n import LANGUAGES
from .schema import METRICS, OUTCOMES, STAGES

META_KEY = "company_model"
LABEL_KINDS = ("touchpoints", "departments", "channels", "stages", "segments", "journeys")


class JourneyKind(str, enum.Enum):
    PURCHASE = "purchase"
    SERVICE = "service"


class Kpi(str, enum.Enum):
    CONVERSION = "conversion"
    RESOLUTION = "resolution"
    FIRST_CONTACT_RESOLUTION = "first_contact_resolution"


DEFAULT_KPIS = {
    JourneyKind.PURCHASE: (Kpi.CONVERSION,),
    JourneyKind.SERVICE: (Kpi.RESOLUTION, Kpi.FIRST_CONTACT_RESOLUTION),
}


@dataclass(frozen=True)
class JourneyType:
    name: str
    kind: JourneyKind
    start: tuple[str, ...] = ()  # touchpoints a case of this type starts at
    start_stages: tuple[str, ...] = ()  # or stages of its first touchpoint
    goal: tuple[str, ...] = ()  # reaching any of them reaches the goal
    kpis: tuple[Kpi, ...] = ()

    @property
    def resolved_by_outcome(self) -> bool:
        """A service journey with no goal touchpoint is resolved when its last contact
        succeeded."""
        return self.kind is JourneyKind.SERVICE and not self.goal

    def to_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind.value, "start": list(self.start),
            "start_stages": list(self.start_stages), "goal": list(self.goal),
            "kpis": [k.value for k in self.kpis],
        }


@dataclass(frozen=True)
class ServiceHours:
    """When a channel answers, in the model's time zone: a range per weekday (Monday
    first), None where it is closed all day."""

    channel: str
    days: tuple[OpeningHours | None, ...]

    def __str__(self) -> str:
        """The days in words, runs of equal days joined: ``mon-fri 09:00-20:00, sat …``."""
        parts, start = [], 0
        for end in range(1, 8):
            if end == 7 or self.days[end] != self.days[start]:
                span = WEEKDAYS[start] if end - 1 == start else f"{WEEKDAYS[start]}-{WEEKDAYS[end - 1]}"
                parts.append(f"{span} {self.days[start] or 'closed'}")
                start = end
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"channel": self.channel,
                "days": {d: None if r is None else str(r) for d, r in zip(WEEKDAYS, self.days)}}


@dataclass(frozen=True)
class BadExperienceRule:
    """What counts as a bad experience: a score strictly below its metric's limit, a
    contact with one of ``failed_outcomes``, and (``long_wait``) a wait over its limit."""

    score_below: tuple[tuple[str, float], ...] = (("nps", 7.0), ("csat", 3.0), ("ces", 4.0))
    failed_outcomes: tuple[str, ...] = ("failed",)
    long_wait: bool = True

    def to_dict(self) -> dict:
        return {"score_below": dict(self.score_below),
                "failed_outcomes": list(self.failed_outcomes), "long_wait": self.long_wait}


@dataclass(frozen=True)
class WaitLimits:
    """How long a wait may be before it is a long wait, in seconds. ``default`` applies
    to touchpoints not named; None means they have no limit."""

    default: float | None = 900.0
    per_touchpoint: tuple[tuple[str, float], ...] = ()

    def of(self, touchpoint: str) -> float | None:
        return dict(self.per_touchpoint).get(touchpoint, self.default)

    def to_dict(self) -> dict:
        return {"default_seconds": self.default, "per_touchpoint": dict(self.per_touchpoint)}


@dataclass(frozen=True)
class Labels:
    """Display names: kind (touchpoints, departments…) → code → language → name."""

    names: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    currency: str | None = None  # the company model's, shown beside amounts

    def name(self, kind: str, code: str | None, lang: str = "en") -> str | None:
        """The name of ``code`` in ``lang``, else in English, else None."""
        if code is None:
            return None
        by_lang = self.names.get(kind, {}).get(code)
        if not by_lang:
            return None
        return by_lang.get(lang) or by_lang.get("en")

    def to_dict(self) -> dict:
        return {k: {c: dict(v) for c, v in codes.items()} for k, codes in self.names.items()}


@dataclass(frozen=True)
class CompanyModel:
    journeys: tuple[JourneyType, ...] = ()
    timezone: str = "UTC"
    service_hours: tuple[ServiceHours, ...] = ()
    waits: WaitLimits = WaitLimits()
    bad_experience: BadExperienceRule = BadExperienceRule()
    labels: Labels = Labels()
    currency: str | None = None
    declared: bool = False  # False: nothing was configured, every value is a default
    source: str | None = None  # the TOML text it was read from

    # -- what analytics ask of it ---------------------------------------------------
    def journey(self, name: str) -> JourneyType:
        for j in self.journeys:
            if j.name == name:
                return j
        known = ", ".join(j.name for j in self.journeys) or "none are declared"
        raise InputError(f"Unknown journey type {name!r}; the company model has: {known}.")

    def of_kind(self, kind: JourneyKind) -> tuple[JourneyType, ...]:
        return tuple(j for j in self.journeys if j.kind is kind)

    @property
    def purchase_goal(self) -> tuple[str, ...]:
        """The goal touchpoints of the purchase journeys (what the corridor leads to)."""
        return tuple(dict.fromkeys(t for j in self.of_kind(JourneyKind.PURCHASE) for t in j.goal))

    def hours_of(self, channel: str) -> ServiceHours | None:
        for h in self.service_hours:
            if h.channel == channel:
                return h
        return None

    def defaults(self) -> tuple[str, ...]:
        """In words, every default an analytic of this project falls back on."""
        said = []
        if not self.journeys:
            said.append("No journey types are declared: every case is one journey of one"
                        " kind, with no goal unless one is given.")
        if not self.service_hours:
            said.append("No service hours are declared: every contact is judged against"
                        " Monday-Friday 08:00-20:00 and Saturday 09:00-14:00 UTC.")
        if not self.declared:
            said.append("No wait limits are declared: a wait over 15 minutes is a long"
                        " wait at every touchpoint.")
            said.append("No bad-experience rule is declared: NPS below 7, CSAT below 3,"
                        " CES below 4, a failed contact or a long wait is a bad experience.")
        if self.currency is None:
            said.append("No currency is declared: amounts are shown without one.")
        return tuple(said)

    def to_dict(self) -> dict:
        return {
            "declared": self.declared,
            "journeys": [j.to_dict() for j in self.journeys],
            "timezone": self.timezone,
            "service_hours": [h.to_dict() for h in self.service_hours],
            "waits": self.waits.to_dict(),
            "bad_experience": self.bad_experience.to_dict(),
            "labels": self.labels.to_dict(),
            "currency": self.currency,
            "defaults": list(self.defaults()),
        }


DEFAULT_MODEL = CompanyModel()


# ---- reading a TOML file -------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class _Reader:
    """Checks one model file, naming the file and the place in it in every error."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, place: str, message: str) -> InputError:
        return InputError(f"{self.where}: {place}: {message}")

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table ([" + key + "]).")
        return value

    def names(self, value, place: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(place, f"must be a name or a list of names; got {value!r}.")
        return tuple(value)

    def choices(self, value, place: str, allowed: Iterable[str]) -> tuple[str, ...]:
        allowed = tuple(allowed)
        names = self.names(value, place)
        for name in names:
            if name not in allowed:
                raise self.fail(place, f"{name!r} is not one of {', '.join(allowed)}.")
        return names

    def seconds(self, value, place: str) -> float | None:
        if value is False or value == "none":
            return None
        if isinstance(value, bool):
            raise self.fail(place, f"must be a duration such as \"15min\" or \"2d\"; got {value!r}.")
        if isinstance(value, (int, float)) and value >= 0:
            return float(value)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match:
            raise self.fail(place, f"must be a duration such as \"15min\", \"4h\", \"2d\" or a"
                                   f" number of seconds; got {value!r}.")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]

    def journey(self, raw, position: int) -> JourneyType:
        place = f"[[journeys]] number {position}"
        if not isinstance(raw, dict):
            raise self.fail(place, "must be a table.")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(place, "needs a name.")
        place = f"journey {name!r}"
        unknown = set(raw) - {"name", "kind", "start", "start_stages", "goal", "kpis"}
        if unknown:
            raise self.fail(place, f"unknown key {sorted(unknown)[0]!r}; expected name, kind,"
                                   " start, start_stages, goal, kpis.")
        kind_text = raw.get("kind", "purchase")
        try:
            kind = JourneyKind(kind_text)
        except ValueError:
            raise self.fail(place, f"kind {kind_text!r} is not one of purchase, service.") from None
        start = self.names(raw.get("start"), f"{place} start")
        stages = self.choices(raw.get("start_stages"), f"{place} start_stages", STAGES)
        if not start and not stages:
            raise self.fail(place, "says neither start touchpoints (start) nor start stages"
                                   " (start_stages), so no case could be recognised.")
        goal = self.names(raw.get("goal"), f"{place} goal")
        if kind is JourneyKind.PURCHASE and not goal:
            raise self.fail(place, "is a purchase journey without a goal touchpoint (goal).")
        kpis = self.choices(raw.get("kpis"), f"{place} kpis", [k.value for k in Kpi])
        return JourneyType(name, kind, start, stages, goal,
                           tuple(Kpi(k) for k in kpis) or DEFAULT_KPIS[kind])

    def hours(self, channel: str, value) -> ServiceHours:
        """``"08:00-22:00"`` (every day) or a table of days (``mon-fri``, ``sat``…, a day
        not named is closed; ``"closed"`` says so outright)."""
        place = f"[service_hours] {channel}"
        if isinstance(value, str):
            return ServiceHours(channel, (self.open_range(value, place),) * 7)
        if not isinstance(value, dict):
            raise self.fail(place, f"must be opening hours such as \"08:00-22:00\" or a table of"
                                   f" days such as {{ mon-fri = \"09:00-20:00\" }}; got {value!r}.")
        days: list[OpeningHours | None] = [None] * 7
        for key, text in value.items():
            first, _, last = key.partition("-")
            if first not in WEEKDAYS or (last and last not in WEEKDAYS):
                raise self.fail(place, f"{key!r} is not a day or a span of days such as mon-fri.")
            lo, hi = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            if hi < lo:
                raise self.fail(place, f"{key!r} runs backwards; write the days from Monday on.")
            chosen = None if text == "closed" else self.open_range(text, f"{place} {key}")
            for day in range(lo, hi + 1):
                days[day] = chosen
        return ServiceHours(channel, tuple(days))

    def open_range(self, value, place: str) -> OpeningHours:
        match = _HOURS.match(value) if isinstance(value, str) else None
        if not match:
            raise self.fail(place, f"must be opening hours such as \"08:00-22:00\"; got {value!r}.")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            opens = dt.time(h1, m1)
            closes = dt.time(0, 0) if (h2, m2) == (24, 0) else dt.time(h2, m2)
        except ValueError:
            raise self.fail(place, f"{value!r} is not a time of day range.") from None
        if closes != dt.time(0) and closes <= opens:
            raise self.fail(place, f"{value!r} closes before it opens.")
        return OpeningHours(opens, closes)

    def labels(self, raw: dict) -> Labels:
        names: dict[str, dict[str, dict[str, str]]] = {}
        for kind, codes in raw.items():
            if kind not in LABEL_KINDS:
                raise self.fail("[labels]", f"{kind!r} is not one of {', '.join(LABEL_KINDS)}.")
            if not isinstance(codes, dict):
                raise self.fail(f"[labels.{kind}]", "must be a table of codes.")
            for code, by_lang in codes.items():
                place = f"[labels.{kind}.{code}]"
                if isinstance(by_lang, str):
                    by_lang = {"en": by_lang}
                if not isinstance(by_lang, dict):
                    raise self.fail(place, "must be a name or a table of en, ar, ru names.")
                for lang, text in by_lang.items():
                    if lang not in LANGUAGES:
                        raise self.fail(place, f"{lang!r} is not one of {', '.join(LANGUAGES)}.")
                    if not isinstance(text, str) or not text.strip():
                        raise self.fail(place, f"the {lang} name must be text.")
                names.setdefault(kind, {})[str(code)] = {k: v.strip() for k, v in by_lang.items()}
        return Labels(names)

    def bad_experience(self, raw: dict) -> BadExperienceRule:
        place = "[bad_experience]"
        allowed = {f"{m}_below" for m in METRICS} | {"failed_outcomes", "long_wait"}
        unknown = set(raw) - allowed
        if unknown:
            raise self.fail(place, f"unknown key {sorted(unknown)[0]!r}; expected {', '.join(sorted(allowed))}.")
        default = dict(BadExperienceRule().score_below)
        limits = []
        for metric in METRICS:
            value = raw.get(f"{metric}_below", default[metric])
            if value is False:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(place, f"{metric}_below must be a number (or false); got {value!r}.")
            limits.append((metric, float(value)))
        outcomes = self.choices(raw.get("failed_outcomes", ["failed"]), f"{place} failed_outcomes", OUTCOMES)
        long_wait = raw.get("long_wait", True)
        if not isinstance(long_wait, bool):
            raise self.fail(place, f"long_wait must be true or false; got {long_wait!r}.")
        return BadExperienceRule(tuple(limits), outcomes, long_wait)


def parse_model(text: str, where: str = "the company model") -> CompanyModel:
    """A :class:`CompanyModel` from TOML text; one sentence naming ``where`` on error."""
    reader = _Reader(where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where} is not valid TOML: {exc}.") from None
    unknown = set(data) - {"currency", "timezone", "journeys", "service_hours", "waits",
                           "bad_experience", "labels"}
    if unknown:
        raise reader.fail("top level", f"unknown key {sorted(unknown)[0]!r}; expected currency,"
                          " timezone, journeys, service_hours, waits, bad_experience, labels.")
    raw_journeys = data.get("journeys", [])
    if not isinstance(raw_journeys, list):
        raise reader.fail("journeys", "must be an array of tables ([[journeys]]).")
    journeys = tuple(reader.journey(j, i) for i, j in enumerate(raw_journeys, start=1))
    seen = set()
    for j in journeys:
        if j.name in seen:
            raise reader.fail(f"journey {j.name!r}", "is declared twice.")
        seen.add(j.name)
    timezone = data.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise reader.fail("timezone", f"{timezone!r} is not a time zone such as \"Europe/Moscow\".") from None
    hours = tuple(reader.hours(c, v) for c, v in reader.table(data, "service_hours").items())
    raw_waits = dict(reader.table(data, "waits"))
    default_wait = reader.seconds(raw_waits.pop("default", 900), "[waits] default")
    per_tp = tuple((tp, reader.seconds(v, f"[waits] {tp}")) for tp, v in raw_waits.items())
    if any(s is None for _, s in per_tp):
        raise reader.fail("[waits]", "a touchpoint's limit must be a duration (only default may be false).")
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        raise reader.fail("currency", f"must be a three-letter ISO 4217 code such as \"EUR\"; got {currency!r}.")
    return CompanyModel(
        journeys=journeys, timezone=timezone, service_hours=hours,
        waits=WaitLimits(default_wait, per_tp),
        bad_experience=reader.bad_experience(reader.table(data, "bad_experience")),
        labels=reader.labels(reader.table(data, "labels")),
        currency=currency, declared=True, source=text,
    )


def read_model_file(path: str | Path) -> CompanyModel:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such model file.") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save the model as UTF-8.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    return parse_model(text, str(path))


# ---- the model in a project ---------------------------------------------------------


def known_touchpoints(project) -> set[str]:
    rows = project.con.execute(
        "SELECT touchpoint FROM touchpoints UNION SELECT DISTINCT touchpoint FROM events"
    ).fetchall()
    return {r[0] for r in rows}


def check_against(model: CompanyModel, touchpoints: set[str], where: str) -> None:
    """Every touchpoint the model names exists in the project (when it has any)."""
    if not touchpoints:
        return
    named = [(f"journey {j.name!r} {part}", tp) for j in model.journeys
             for part, tps in (("start", j.start), ("goal", j.goal)) for tp in tps]
    named += [("[waits]", tp) for tp, _ in model.waits.per_touchpoint]
    for place, tp in named:
        if tp not in touchpoints:
            raise InputError(f"{where}: {place}: touchpoint {tp!r} is not in the"
                             f" project{nearest_known(tp, touchpoints)}.")


def nearest_known(name: str, known) -> str:
    """``"; nearest known: a, b, c"``: the up to three names of ``known`` closest to
    ``name`` (difflib), to end a sentence refusing it; empty when none is close."""
    near = difflib.get_close_matches(name, sorted(known), n=3)
    return f"; nearest known: {', '.join(near)}" if near else ""


def configure(project, model: CompanyModel, *, where: str = "the company model",
              actor: str | None = None) -> None:
    """Keep ``model`` (its TOML text) in the project, replacing any earlier one, and, with
    ``actor``, the audit entry that says who did, in the same transaction."""
    if model.source is None:
        raise InputError("Only a model read from a TOML file can be kept in a project.")
    check_against(model, known_touchpoints(project), where)
    con = project.con
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM meta WHERE key = ?", [META_KEY])
        con.execute("INSERT INTO meta VALUES (?, ?)", [META_KEY, model.source])
        if actor is not None:
            from .audit import record

            record(project, actor, "model.configure", where)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def company_model(project) -> CompanyModel:
    """The project's model, or :data:`DEFAULT_MODEL` when none was configured."""
    row = project.con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row is None:
        return DEFAULT_MODEL
    return parse_model(row[0], f"{project.path} (its company model)")


def configure_from_file(project, path: str | Path, *, actor: str | None = None) -> CompanyModel:
    """Read, check and keep a model file in the project (``corridor configure``)."""
    model = read_model_file(path)
    configure(project, model, where=str(path), actor=actor)
    return model


def company_goal(project) -> tuple[str, ...] | None:
    """The goal touchpoints of the project's purchase journeys (None: none declared)."""
    return company_model(project).purchase_goal or None


# ---- names, as people read them -----------------------------------------------------

_FILE_NAME_COLUMNS = {"en": ("name", "description"), "ar": ("name_ar",), "ru": ("name_ru",)}


def _names_from_rows(rows) -> dict[str, dict[str, str]]:
    """Names a reference file gave (``name``, ``name_ar``, ``name_ru``, or a touchpoint's
    ``description``), from the canonical name column and the kept ``attributes``."""
    import json

    found: dict[str, dict[str, str]] = {}
    for code, name, attributes in rows:
        extra = {}
        if attributes:
            try:
                extra = json.loads(attributes) or {}
            except ValueError:
                extra = {}
        by_lang = {}
        for lang, columns in _FILE_NAME_COLUMNS.items():
            for column in columns:
                value = name if column == "name" and name else extra.get(column)
                if isinstance(value, str) and value.strip():
                    by_lang[lang] = value.strip()
                    break
        if by_lang:
            found[str(code)] = by_lang
    return found


def project_labels(project) -> Labels:
    """Every display name the project knows: the model's ``[labels]`` first, then the
    names its departments and touchpoints files gave, and the names of the customers that
    are organisations (intermediaries, companies, groups, departments: not personal data;
    persons' names are never among them)."""
    con = project.con
    organisations = con.execute(
        "SELECT c.customer_id, p.name FROM customers c JOIN customer_pii p USING (customer_id)"
        " WHERE c.level IS NOT NULL AND c.level <> 'person' AND p.name IS NOT NULL").fetchall()
    names: dict[str, dict[str, dict[str, str]]] = {
        "customers": {str(code): {"en": name} for code, name in organisations},
        "departments": _names_from_rows(
            con.execute("SELECT department_id, name, attributes FROM departments").fetchall()),
        "touchpoints": _names_from_rows(
            con.execute("SELECT touchpoint, NULL, attributes FROM touchpoints").fetchall()),
    }
    model = company_model(project)
    for kind, codes in model.labels.names.items():
        for code, by_lang in codes.items():
            names.setdefault(kind, {}).setdefault(code, {}).update(by_lang)
    return Labels(names, model.currency)


class Labeller:
    """Names in one language for templates and tables: the code itself where no name is
    known, so nothing is ever blank."""

    def __init__(self, labels: Labels, lang: str = "en"):
        self.labels, self.lang = labels, lang
        self.currency = labels.currency

    def _of(self, kind: str, code) -> str:
        if code is None:
            return ""
        return self.labels.name(kind, str(code), self.lang) or str(code)

    def tp(self, code) -> str:
        return self._of("touchpoints", code)

    def dept(self, code) -> str:
        return self._of("departments", code)

    def channel(self, code) -> str:
        return self._of("channels", code)

    def stage(self, code) -> str:
        return self._of("stages", code)

    def segment(self, code) -> str:
        return self._of("segments", code)

    def journey(self, code) -> str:
        return self._of("journeys", code)

    def customer(self, code) -> str:
        """An organisation's name (never a person's: see :func:`project_labels`)."""
        return self._of("customers", code)


def channel_hours(model: CompanyModel, when: dt.datetime | None = None):
    """The model's service hours per channel as :class:`corridor.access.ServiceHours`
    (None when it declares none), in local time at the time zone's UTC offset on ``when``
    (default: 1 January of this year). A fixed offset: daylight-saving changes are not
    followed, as in :mod:`corridor.access`."""
    from .access import ServiceHours as AccessHours

    if not model.service_hours:
        return None
    when = when or dt.datetime(dt.date.today().year, 1, 1)
    offset = ZoneInfo(model.timezone).utcoffset(when.replace(tzinfo=None))
    minutes = int(offset.total_seconds() // 60)
    return {h.channel: AccessHours(h.days, minutes) for h in model.service_hours}
