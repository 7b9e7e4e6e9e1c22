"""The personas page (``/personas``): data-driven persona cards
(:func:`corridor.personas.PersonaModel`) and an empathy map per group of customers
(:func:`corridor.empathy.empathy_maps`) — says, thinks and feels, does, experiences,
pains and gains.

Parameter: ``group``, the group whose empathy map is shown: ``persona:<n>`` (a persona;
the default is persona 1, the largest) or ``segment:<name>`` (a customer segment). The
personas and the maps of every group are computed once per filter choice; choosing a
group only picks one.

Persona names come from the library as English made by templates
(:func:`corridor.personas.persona_name`). :func:`name_parts` finds which template
pieces a name is made of — by composing every combination the card allows and keeping
the one that gives exactly that name — so the page can say it in the reader's language;
a name no combination gives is shown as the library wrote it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from .errors import CorridorError, InputError
from .web_filters import PageFilters
from .web_site import Site
from .web_states import Unavailable, Why, holdings

MAX_GROUP = 200  # characters of the group parameter
PERSONA, SEGMENT = "persona", "segment"


# ---- the filters, for the feedback -------------------------------------------------------


# ---- persona names in every language -----------------------------------------------------

QUALITY_WORDS = {"high-value": "high_value", "low-value": "low_value",
                 "high-support": "high_support", "frequent": "frequent",
                 "occasional": "occasional"}
NOUNS = {"browsers who have not bought": "browsers", "digital self-servers": "self_servers",
         "customers": "customers"}
TAILS = {" with long waits": "long_waits", " with failed contacts": "failed_contacts",
         " who are less satisfied": "less_satisfied"}


@dataclass(frozen=True)
class NameParts:
    """The template pieces of a persona's name."""

    qualities: tuple[str, ...]  # keys of QUALITY_WORDS' values, in the name's order
    channel: str | None  # the channel's feature name (``share_<channel>`` without share_)
    channel_word: str | None  # the English word: a CHANNEL_WORDS value or "<channel>-first"
    noun: str  # browsers, self_servers, customers or segment
    segment: str | None  # with noun "segment"
    tail: str | None  # long_waits, failed_contacts or less_satisfied
    number: int | None  # the (2), (3)… that tells equal names apart


def name_parts(card) -> NameParts | None:
    """The pieces ``card.name`` is made of, or None when no template gives it."""
    from .personas import CHANNEL_WORDS

    name, number = card.name, None
    numbered = re.fullmatch(r"(.*) \((\d+)\)", name)
    if numbered:
        name, number = numbered.group(1), int(numbered.group(2))
    channels = {}
    for share in card.channels:
        feature = re.sub(r"\W", "_", share.channel)
        channels[feature] = CHANNEL_WORDS.get(feature, f"{feature.replace('_', ' ')}-first")
    for trait in card.traits:
        if trait.feature.startswith("share_"):
            feature = trait.feature[len("share_"):]
            channels[feature] = CHANNEL_WORDS.get(feature, f"{feature.replace('_', ' ')}-first")
    nouns = [(english, key, None) for english, key in NOUNS.items()]
    if card.segments and card.segments[0].segment != "(none)":
        segment = card.segments[0].segment
        nouns.insert(0, (f"{segment.replace('_', ' ')} customers", SEGMENT, segment))
    values = [None, "high-value", "low-value"]
    activities = [None, "high-support", "frequent", "occasional"]
    for value, activity, channel, (noun, noun_key, segment), tail in itertools.product(
            values, activities, [None, *sorted(channels)], nouns, [None, *TAILS]):
        words = [w for w in (value, activity, channels.get(channel)) if w]
        if len(words) > 2:
            continue
        text = " ".join([*words, noun]) + (tail or "")
        if text[0].upper() + text[1:] == name:
            return NameParts(
                qualities=tuple(QUALITY_WORDS[w] for w in (value, activity) if w),
                channel=channel, channel_word=channels.get(channel), noun=noun_key,
                segment=segment, tail=TAILS[tail] if tail else None, number=number,
            )
    return None


def persona_title(t, card) -> str:
    """The persona's name in the reader's language (the library's English name when its
    pieces are not known)."""
    from .personas import CHANNEL_WORDS

    parts = name_parts(card)
    if parts is None:
        return card.name
    qualities = " ".join(t(f"personas.word.{q}") for q in parts.qualities)
    channel = ""
    if parts.channel_word:
        if parts.channel_word in CHANNEL_WORDS.values():
            channel = t("personas.channel." + re.sub(r"\W", "_", parts.channel_word))
        else:
            channel = t("personas.channel.other", channel=parts.channel.replace("_", " "))
    noun = (t("personas.noun.segment", segment=parts.segment.replace("_", " "))
            if parts.noun == SEGMENT else t(f"personas.noun.{parts.noun}"))
    tail = t(f"personas.tail.{parts.tail}") if parts.tail else ""
    text = t("personas.name", qualities=qualities, channel=channel, noun=noun, tail=tail)
    text = re.sub(r"\s+,", ",", " ".join(text.split())).strip(" ,")
    text = text[0].upper() + text[1:] if text else card.name
    return t("personas.numbered", name=text, n=t.number(parts.number)) if parts.number else text


# ---- the page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupChoice:
    value: str  # persona:<n> or segment:<name>
    kind: str  # persona or segment
    label: str  # the persona's number or the segment's name (data)
    customers: int


@dataclass(frozen=True)
class PersonasPage:
    personas: object | None  # corridor.personas.Personas; None when there are none
    maps: dict  # group value → corridor.empathy.EmpathyMap
    groups: tuple[GroupChoice, ...]  # personas (largest first), then segments (largest first)
    computed_at: dt.datetime
    unavailable: Unavailable | None = None  # why there can be no persona (no events)

    @property
    def default_group(self) -> str | None:
        return self.groups[0].value if self.groups else None


def compute_personas(project_path: Path, filters: PageFilters) -> PersonasPage:
    """Persona cards and the empathy maps of every persona and segment, for the events
    that pass ``filters``, reading the project read-only. Too few customers for
    personas (or for any group) leaves that part empty rather than failing the page."""
    import ibis

    from .empathy import empathy_maps
    from .personas import PersonaModel
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        events, touchpoints = filters.events(p), p.table("touchpoints")
        feedback, customers = filters.feedback(p), p.table("customers")
        result, maps, groups = None, {}, []
        try:
            model = PersonaModel().fit(events, touchpoints=touchpoints,
                                       transactions=p.table("transactions"),
                                       feedback=feedback, customers=customers)
        except CorridorError:
            model = None
        if model is not None:
            result = model.personas_
            frame = pd.DataFrame({
                "customer_id": pd.array(model.customer_ids_, dtype="string"),
                "group": pd.array([f"{PERSONA}:{n}" for n in model.labels_], dtype="string"),
            })
            found = empathy_maps(events, frame, feedback=feedback, touchpoints=touchpoints)
            maps.update({m.group: m for m in found.maps})
            groups += [GroupChoice(f"{PERSONA}:{c.persona}", PERSONA, str(c.persona),
                                   c.customers) for c in result.cards]
        reached = events.select(customer_id=events.customer_id.cast("string")).distinct()
        c = customers.filter(customers.segment.notnull())
        c = c.select(customer_id=c.customer_id.cast("string"), segment=c.segment.cast("string"))
        c = c.group_by("customer_id").aggregate(segment=c.segment.min())
        c = c.semi_join(reached, "customer_id")
        by_segment = c.select("customer_id", group=ibis.literal(f"{SEGMENT}:") + c.segment)
        try:
            found = empathy_maps(events, by_segment, feedback=feedback, touchpoints=touchpoints)
        except CorridorError:
            found = None
        if found is not None:
            segments = sorted(found.maps, key=lambda m: (-m.customers, m.group))
            maps.update({m.group: m for m in segments})
            groups += [GroupChoice(m.group, SEGMENT, m.group[len(SEGMENT) + 1:], m.customers)
                       for m in segments]
        unavailable = None if holdings(p).events else Unavailable(Why.NO_EVENTS)
    return PersonasPage(result, maps, tuple(groups),
                        dt.datetime.now(dt.timezone.utc).replace(microsecond=0), unavailable)


def chosen_group(page: PersonasPage, group: str | None) -> str | None:
    """The group asked for (the default when none is); an unknown one is one
    :class:`InputError` sentence."""
    if group is None or not group.strip():
        return page.default_group
    group = group.strip()
    if len(group) > MAX_GROUP:
        raise InputError(f"The group must be at most {MAX_GROUP} characters long.")
    if group not in page.maps:
        raise InputError(
            f"There is no group {group!r}; choose persona:<number> for a persona or "
            "segment:<name> for a segment that has customers in this view."
        )
    return group


# traits shown as a share; the rest as numbers with one decimal (money without)
MONEY_FEATURES = ("margin", "spend")


def trait_label(t, feature: str) -> str:
    if feature.startswith("share_"):
        return t("personas.feature.share", channel=feature[len("share_"):])
    return t.label("personas.feature", feature)


def trait_value(t, feature: str, value: float | None) -> str:
    if feature.startswith("share_"):
        return t.percent(value, 0)
    return t.number(value, 0 if feature in MONEY_FEATURES else 1)


def register(app: FastAPI, site: Site) -> None:
    @app.get("/personas", response_class=HTMLResponse)
    def personas_page(request: Request, group: str | None = None):
        t = site.translator(request)
        if (redirect := site.login_redirect(request)):
            return redirect
        filters = site.filters(request)
        page = site.cached("personas", compute_personas, filters)
        chosen = chosen_group(page, group)
        return site.render(
            request, "personas.html", t, filters=filters,
            page_params=[("group", chosen)] if chosen else [], pg=page, chosen=chosen,
            empathy=page.maps.get(chosen) if chosen else None,
            choice={g.value: g for g in page.groups}.get(chosen),
            persona_title=persona_title, trait_label=trait_label, trait_value=trait_value,
        )

    site.registered.add("/personas")
