"""Empathy maps: what the customers of a persona or segment say, do, think and feel, and
their pains and gains.

- *Says*: representative feedback texts, exactly as written and in their own language.
  Within each language the texts that use most of the group's themes (the sum of the
  themes' weights) come first; languages take turns, the one with most texts first, so
  every language the group writes in is heard before any is heard twice.
- *Does*: from the events: customers, contacts per customer and per month (all contacts
  over all months from each member's first contact to the end of the data, at least one
  month each), the touchpoints most members visit and the channel mix.
- *Thinks and feels*: satisfaction from the scores (NPS, CSAT, CES: responses, mean and
  the shares in the negative and positive bands of :data:`corridor.personas.SCALES`),
  and themes: the group's distinctive terms per language
  (:func:`corridor.texts.distinctive_terms`), each with the sentiment of the texts that
  use it — taken from the score the text came with (−1 negative band, 0 between, +1
  positive band), never from the words, so no language needs a sentiment lexicon.
- *Pains*: the themes of the group's texts in the negative band (its distinctive terms
  among the negative texts of all groups, per language), and problems on the journey
  (failures, long waits, loops; :func:`corridor.personas.journey_pains`) a larger share
  of the members meets than of the other customers. *Gains*: the themes of its texts in
  the positive band, and touchpoints that treat the members better: a problem met at a
  lower rate by the members who visit the touchpoint than by the others who visit it
  (only touchpoints at least ``min_visitors`` of the members visit, so that not using
  the app is not a gain of the app).

Groups are any table or frame of customer_id and group: :func:`segment_groups` makes one
from the customers' segments, :meth:`corridor.personas.PersonaModel.groups` from personas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _

from .customers import require_columns
from .errors import AnalysisError, InputError
from .flow import check_share, epoch_millis
from .personas import (
    DAY_MILLIS,
    EVENT_COLUMNS,
    MONTH_DAYS,
    SCALES,
    ChannelShare,
    Pain,
    Quote,
    Satisfaction,
    channel_mix,
    empty_satisfaction,
    group_frame,
    group_table,
    journey_pains,
    satisfaction_of,
)
from .texts import Term, distinctive_terms_of, language_code, terms


@dataclass(frozen=True)
class Theme:
    term: Term
    sentiment: float  # mean of −1/0/+1 over the texts using the term
    negative: float  # share of those texts in their metric's negative band
    positive: float

    def to_dict(self) -> dict:
        return {**self.term.to_dict(), "sentiment": self.sentiment, "negative": self.negative,
                "positive": self.positive}


@dataclass(frozen=True)
class TouchpointUse:
    touchpoint: str
    share: float  # of the members who visit it

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "share": self.share}


@dataclass(frozen=True)
class Does:
    customers: int  # members with events
    contacts: int
    contacts_per_customer: float | None
    contacts_per_month: float | None
    touchpoints: tuple[TouchpointUse, ...]  # most visited first
    channels: tuple[ChannelShare, ...]

    def to_dict(self) -> dict:
        return {
            "customers": self.customers,
            "contacts": self.contacts,
            "contacts_per_customer": self.contacts_per_customer,
            "contacts_per_month": self.contacts_per_month,
            "touchpoints": [t.to_dict() for t in self.touchpoints],
            "channels": [c.to_dict() for c in self.channels],
        }


@dataclass(frozen=True)
class ThinksFeels:
    satisfaction: Satisfaction
    themes: tuple[Theme, ...]  # per language (most texts first), strongest first
    texts: int  # feedback texts the themes come from

    def to_dict(self) -> dict:
        return {"satisfaction": self.satisfaction.to_dict(),
                "themes": [t.to_dict() for t in self.themes], "texts": self.texts}


@dataclass(frozen=True)
class Experiences:
    """Pains or gains: the themes of the negative (pains) or positive (gains) texts, and
    the journey problems the members meet more (pains) or less (gains) often than the
    other customers, largest difference first."""

    themes: tuple[Theme, ...]
    journey: tuple[Pain, ...]

    def to_dict(self) -> dict:
        return {"themes": [t.to_dict() for t in self.themes],
                "journey": [p.to_dict() for p in self.journey]}


@dataclass(frozen=True)
class EmpathyMap:
    group: str
    customers: int  # in the group
    says: tuple[Quote, ...]
    does: Does
    thinks_feels: ThinksFeels
    pains: Experiences
    gains: Experiences

    def to_dict(self) -> dict:
        return {
            "group": self.group,
            "customers": self.customers,
            "says": [q.to_dict() for q in self.says],
            "does": self.does.to_dict(),
            "thinks_feels": self.thinks_feels.to_dict(),
            "pains": self.pains.to_dict(),
            "gains": self.gains.to_dict(),
        }


@dataclass(frozen=True)
class EmpathyMaps:
    maps: tuple[EmpathyMap, ...]  # by group name

    def map(self, group: str) -> EmpathyMap:
        for m in self.maps:
            if m.group == group:
                return m
        known = ", ".join(m.group for m in self.maps)
        raise InputError(
            f"There is no empathy map for the group {group!r}; the groups are {known}."
        )

    def to_dict(self) -> dict:
        return {"maps": [m.to_dict() for m in self.maps]}


def segment_groups(customers: ir.Table, *, column: str = "segment") -> ir.Table:
    """customer_id and group (the customer's ``column``) for customers that have one."""
    require_columns(customers, ["customer_id", column], "customers")
    c = customers.filter(customers[column].notnull())
    c = c.select(customer_id=c.customer_id.cast("string"), group=c[column].cast("string"))
    return c.group_by("customer_id").aggregate(group=c.group.min())


def empathy_maps(
    events: ir.Table,
    groups: ir.Table | pd.DataFrame | Mapping[str, str],
    *,
    feedback: ir.Table | None = None,
    touchpoints: ir.Table | None = None,
    quotes: int = 4,
    themes: int = 6,
    touchpoints_shown: int = 6,
    problems: int = 5,
    min_texts: int = 2,
    min_visitors: float = 0.2,
) -> EmpathyMaps:
    """One empathy map per group (see the module docstring). ``themes`` is per language,
    ``problems`` per list of journey pains or gains; a theme needs ``min_texts`` texts."""
    for name, value, least in (("quotes", quotes, 0), ("themes", themes, 0),
                               ("touchpoints_shown", touchpoints_shown, 0),
                               ("problems", problems, 0), ("min_texts", min_texts, 1)):
        whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not whole or value < least:
            raise InputError(f"{name} must be a whole number of at least {least}; got {value!r}.")
    check_share("min_visitors", min_visitors)
    require_columns(events, EVENT_COLUMNS, "events")
    if isinstance(groups, ir.Table):
        table = group_table(groups)
        counted = table.group_by("group").aggregate(n=_.count()).to_pandas()
        size = dict(zip(counted["group"].astype(str), counted["n"].astype(int)))
    else:  # counted here: a query costs seconds on Spark
        frame = group_frame(groups)
        table = ibis.memtable(frame)
        size = {str(g): int(n) for g, n in frame["group"].value_counts().items()}
    if not size:
        raise AnalysisError("No customer belongs to any group, so there is nothing to map.")
    does = _does(events, table, touchpoints, touchpoints_shown)
    journey = journey_pains(events, table)
    satisfaction = satisfaction_of(feedback, table) if feedback is not None else {}
    texts = _texts(feedback, table) if feedback is not None else pd.DataFrame()
    group_themes, text_counts = _themes(texts, sorted(size), themes, min_texts)
    pain_themes = _themes(texts, sorted(size), themes, min_texts, sentiment=-1.0)[0]
    gain_themes = _themes(texts, sorted(size), themes, min_texts, sentiment=1.0)[0]
    said = _says(texts, group_themes, quotes)
    maps = []
    for group in sorted(size):
        found = group_themes.get(group, ())
        problems_met = journey.get(group, ())
        worse = [p for p in problems_met if p.excess > 0]
        better = sorted((p for p in problems_met if _better(p, size[group], min_visitors)),
                        key=lambda p: (p.rate - p.rate_others, p.kind.value, p.touchpoint))
        maps.append(EmpathyMap(
            group=group,
            customers=size[group],
            says=said.get(group, ()),
            does=does.get(group, Does(0, 0, None, None, (), ())),
            thinks_feels=ThinksFeels(satisfaction.get(group, empty_satisfaction()), found,
                                     text_counts.get(group, 0)),
            pains=Experiences(pain_themes.get(group, ()), tuple(worse[:problems])),
            gains=Experiences(gain_themes.get(group, ()), tuple(better[:problems])),
        ))
    return EmpathyMaps(tuple(maps))


def _better(problem: Pain, members: int, min_visitors: float) -> bool:
    """Members who visit the touchpoint meet the problem at a lower rate than others who do."""
    return (
        problem.visitors >= min_visitors * members
        and problem.rate_others is not None
        and problem.rate is not None
        and problem.rate < problem.rate_others
    )


# ---- does ---------------------------------------------------------------------------------


def _does(events, groups, touchpoints, shown) -> dict[str, Does]:
    ev = events.select(customer_id=events.customer_id.cast("string"), touchpoint=events.touchpoint,
                       millis=epoch_millis(events.timestamp))
    end = ev.aggregate(_end=ev.millis.max())
    per_customer = ev.group_by("customer_id").aggregate(contacts=_.count(), first=ev.millis.min())
    per_customer = per_customer.cross_join(end)
    months = ibis.greatest(
        (per_customer._end - per_customer["first"]).cast("float64") / (DAY_MILLIS * MONTH_DAYS), 1.0
    )
    per_customer = per_customer.mutate(months=months).join(groups, "customer_id")
    # the group totals and the touchpoints visited in one query (touchpoint null: totals)
    totals = per_customer.group_by("group").aggregate(
        touchpoint=ibis.null("string"), customers=_.count(),
        contacts=per_customer.contacts.sum().cast("int64"),
        months=per_customer.months.sum().cast("float64"),
    )
    visits = ev.select("customer_id", "touchpoint").distinct().join(groups, "customer_id")
    used = visits.group_by(["group", "touchpoint"]).aggregate(
        customers=_.count(), contacts=ibis.literal(0, "int64"), months=ibis.literal(0.0, "float64")
    )
    rows = ibis.union(
        totals.select("group", "touchpoint", "customers", "contacts", "months"),
        used.select("group", "touchpoint", "customers", "contacts", "months"),
    ).to_pandas()
    whole = rows[rows["touchpoint"].isna()]
    rows = rows[rows["touchpoint"].notna()]
    mix = channel_mix(events, groups, touchpoints=touchpoints)
    out = {}
    for r in whole.itertuples():
        group, n = str(r.group), int(r.customers)
        part = rows[rows["group"].astype(str) == group]
        uses = sorted(
            (TouchpointUse(str(t.touchpoint), int(t.customers) / n) for t in part.itertuples()),
            key=lambda u: (-u.share, u.touchpoint),
        )
        out[group] = Does(
            customers=n,
            contacts=int(r.contacts),
            contacts_per_customer=int(r.contacts) / n,
            contacts_per_month=float(r.contacts) / float(r.months),
            touchpoints=tuple(uses[:shown]),
            channels=mix.get(group, ()),
        )
    return out


# ---- texts: themes and quotes -------------------------------------------------------------


def _texts(feedback: ir.Table, groups: ir.Table) -> pd.DataFrame:
    """The members' feedback texts with their language, metric, score and sentiment."""
    require_columns(feedback, ["customer_id", "metric", "score"], "feedback")
    if "text" not in feedback.columns:
        return pd.DataFrame()
    f = feedback.filter(feedback.text.notnull())
    language = f.language.cast("string") if "language" in f.columns else ibis.null("string")
    order = f.timestamp if "timestamp" in f.columns else ibis.null("timestamp")
    f = f.select(customer_id=f.customer_id.cast("string"), timestamp=order, metric=f.metric,
                 score=f.score.cast("float64"), text=f.text.cast("string"), language=language)
    frame = f.join(groups, "customer_id").to_pandas()
    frame = frame[frame["text"].str.strip().str.len() > 0]
    frame = frame.sort_values(["group", "customer_id", "timestamp", "metric", "text"],
                              ignore_index=True)
    frame["language"] = [language_code(v) for v in frame["language"]]
    frame["sentiment"] = [_sentiment(m, s) for m, s in zip(frame["metric"], frame["score"])]
    frame["terms"] = [terms(t, lang) for t, lang in zip(frame["text"], frame["language"])]
    return frame


def _sentiment(metric: str, score: float) -> float:
    """−1, 0 or +1 from the score's band; NaN for a metric without a known scale."""
    scale = SCALES.get(str(metric))
    if scale is None or pd.isna(score):
        return float("nan")
    return -1.0 if score <= scale[2] else (1.0 if score >= scale[3] else 0.0)


def _themes(texts: pd.DataFrame, groups: Sequence[str], top: int, min_texts: int,
            sentiment: float | None = None):
    """Per group, its themes (languages with most texts first) and its number of texts;
    with ``sentiment`` (−1 or +1), only from the texts in that band."""
    if texts.empty:
        return {}, {}
    if sentiment is not None:
        texts = texts[texts["sentiment"] == sentiment]
    counts = texts.groupby("group").size()
    found: dict[str, list[Theme]] = {g: [] for g in groups}
    language_sizes = texts.groupby(["group", "language"]).size()
    for language, part in texts.groupby("language", sort=True):
        by_group = {g: p["terms"].tolist() for g, p in part.groupby("group", sort=True)}
        distinct = distinctive_terms_of(by_group, language, top=top, min_texts=min_texts)
        for group, chosen in distinct.items():
            if not chosen:
                continue
            mine = part[part["group"] == group]
            keys = [{k for k, _ in found} for found in mine["terms"]]
            sentiments = mine["sentiment"].to_numpy()
            for term in chosen:
                using = np.array([term.key in k for k in keys])
                values = sentiments[using]
                values = values[~np.isnan(values)]
                found[group].append(Theme(
                    term,
                    float(values.mean()) if values.size else 0.0,
                    float((values < 0).mean()) if values.size else 0.0,
                    float((values > 0).mean()) if values.size else 0.0,
                ))
    ordered = {}
    for group, themes in found.items():
        rank = {lang: (-int(language_sizes.get((group, lang), 0)), lang)
                for lang in {t.term.language for t in themes}}
        ordered[group] = tuple(sorted(
            themes, key=lambda t: (rank[t.term.language], -t.term.weight, t.term.key)
        ))
    return ordered, {str(g): int(n) for g, n in counts.items()}


def _says(texts: pd.DataFrame, themes: Mapping[str, tuple[Theme, ...]], wanted: int):
    """Per group, up to ``wanted`` distinct texts, languages taking turns."""
    if texts.empty or wanted == 0:
        return {}
    out = {}
    for group, part in texts.groupby("group", sort=True):
        weights = {(t.term.language, t.term.key): t.term.weight for t in themes.get(group, ())}
        queues = []
        for language, mine in part.groupby("language", sort=True):
            scored = []
            for position, r in enumerate(mine.itertuples()):
                keys = {k for k, _ in r.terms}
                score = sum(weights.get((language, k), 0.0) for k in keys)
                scored.append((-score, position, r))
            scored.sort(key=lambda s: (s[0], s[1]))
            queues.append((-len(mine), language, [s[2] for s in scored]))
        queues.sort(key=lambda q: (q[0], q[1]))
        chosen, seen = [], set()
        pointers = [0] * len(queues)
        while len(chosen) < wanted and any(p < len(q[2]) for p, q in zip(pointers, queues)):
            for i, (_size, language, rows) in enumerate(queues):
                while pointers[i] < len(rows) and rows[pointers[i]].text in seen:
                    pointers[i] += 1
                if pointers[i] < len(rows) and len(chosen) < wanted:
                    r = rows[pointers[i]]
                    seen.add(r.text)
                    chosen.append(Quote(str(r.customer_id), r.text, language, str(r.metric),
                                        float(r.score)))
                    pointers[i] += 1
        out[str(group)] = tuple(chosen)
    return out
