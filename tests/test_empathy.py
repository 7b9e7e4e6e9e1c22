"""Empathy maps: says, does, thinks and feels, pains and gains, for texts in English,
Arabic and Russian alike; on hand-made groups whose themes are known, and on the demo
company's segments and personas."""

from __future__ import annotations

import json

import ibis
import pandas as pd
import pytest

from corridor import store
from corridor.demo import DemoConfig, generate
from corridor.empathy import empathy_maps, segment_groups
from corridor.errors import AnalysisError, InputError
from corridor.personas import PainKind, PersonaModel
from corridor.texts import distinctive_terms, fold, key_of, terms, words

from helpers import START, canonical_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

# customer, group, metric, score, text, language
FEEDBACK = [
    ("r1", "ru", "nps", 2, "Долго ждал мастера.", "ru"),
    ("r2", "ru", "nps", 4, "Мастер пришёл поздно.", "ru"),
    ("r3", "ru", "ces", 2, "Мастера ждали три дня!", "ru"),
    ("r1", "ru", "nps", 10, "Быстро подключили, спасибо.", "ru"),
    ("r4", "ru", "csat", 5, "Подключили быстро.", "ru-RU"),
    ("a1", "ar", "csat", 1, "انتظرت وقتًا طويلًا للتركيب.", "ar"),
    ("a2", "ar", "nps", 3, "الانتظار كان طويلًا جدًا.", "ar"),
    ("a3", "ar", "nps", 10, "التركيب ممتاز وسريع.", "ar"),
    ("a4", "ar", "csat", 5, "تركيب سريع ومرتب.", "ar"),
    ("e1", "en", "nps", 2, "Waited too long for the technician.", "en"),
    ("e2", "en", "nps", 1, "The technician never came.", "en"),
    ("e3", "en", "nps", 10, "Great and fast installation.", "en"),
    ("e4", "en", "csat", 5, "Fast installation, thanks.", "en"),
]
GROUPS = {row[0]: row[1] for row in FEEDBACK}


def feedback_frame() -> pd.DataFrame:
    frame = pd.DataFrame(FEEDBACK, columns=["customer_id", "group", "metric", "score", "text", "language"])
    frame["timestamp"] = [START + pd.Timedelta(hours=i) for i in range(len(frame))]
    frame["score"] = frame["score"].astype("float64")
    return frame.drop(columns="group").astype(
        {c: "string" for c in ("customer_id", "metric", "text", "language")}
    )


def events_frame() -> pd.DataFrame:
    """Each customer visits the site; the Russian group calls the hotline and fails once."""
    rows = []
    for i, customer in enumerate(sorted(GROUPS)):
        rows.append((customer, "site", i, "web", "ok"))
        if GROUPS[customer] == "ru":
            rows.append((customer, "hotline", i + 1, "phone", "failed"))
            rows.append((customer, "hotline", i + 2, "phone", "ok"))
    frame = pd.DataFrame(rows, columns=["case_id", "touchpoint", "hour", "channel", "outcome"])
    frame["timestamp"] = START + pd.to_timedelta(frame.pop("hour"), unit="h")
    return canonical_events(frame)


def themes_of(card, language):
    return [t for t in card.thinks_feels.themes if t.term.language == language]


def test_arabic_russian_and_english_texts_all_give_themes_in_their_own_words(put):
    maps = empathy_maps(put(events_frame()), GROUPS, feedback=put(feedback_frame()))
    texts = {row[4] for row in FEEDBACK}
    ru, ar, en = maps.map("ru"), maps.map("ar"), maps.map("en")
    for card, language in ((ru, "ru"), (ar, "ar"), (en, "en")):
        found = themes_of(card, language)
        assert found, f"no themes in {language}"
        for theme in found:  # every label is a word as written in some text
            assert any(theme.term.label in t.casefold() for t in texts)
    # мастера, мастер, Мастера: one word; Мастер... texts are scored 2, 4, 2: all negative
    master = next(t for t in themes_of(ru, "ru") if t.term.key == "мастер")
    assert (master.term.label, master.term.texts, master.sentiment) == ("мастера", 3, -1.0)
    assert "мастер" in [t.term.key for t in ru.pains.themes]
    assert {"подклю", "быстро"} <= {t.term.key for t in ru.gains.themes}
    # طويلًا keeps its tanween; للتركيب, التركيب and تركيب are one word
    assert "طويلًا" in [t.term.label for t in ar.pains.themes]
    install = next(t for t in themes_of(ar, "ar") if t.term.key == "تركيب")
    assert install.term.texts == 3
    assert {q.language for q in ru.says} == {"ru"} and {q.language for q in ar.says} == {"ar"}
    # does: the Russian group called the hotline and met failures the others did not
    assert ru.does.contacts == 12 and ru.does.contacts_per_customer == 3.0
    assert [(p.kind, p.touchpoint, p.share) for p in ru.pains.journey] == [
        (PainKind.FAILURE, "hotline", 1.0)
    ]
    assert ru.thinks_feels.satisfaction.nps.responses == 3
    assert ru.thinks_feels.satisfaction.nps_score == pytest.approx(100 * (1 / 3 - 2 / 3))


@duckdb_only
def test_texts_come_back_exactly_as_written(put):
    maps = empathy_maps(put(events_frame()), GROUPS, feedback=put(feedback_frame()), quotes=10)
    written = {row[4] for row in FEEDBACK}
    said = [q.text for m in maps.maps for q in m.says]
    assert set(said) == written  # every text, byte for byte
    again = json.loads(json.dumps(maps.to_dict(), ensure_ascii=False))
    assert again == maps.to_dict()
    assert words("انتظرت وقتًا طويلًا للتركيب.") == ["انتظرت", "وقتًا", "طويلًا", "للتركيب"]
    assert words("Надёжная связь, 24/7!") == ["Надёжная", "связь", "24", "7"]
    assert key_of("Надёжная") == "надежн" and fold("أحمد") == "احمد"
    assert terms("The wait was long", "en") == [("wait", "wait"), ("long", "long")]
    assert terms("Это было очень долго", "ru") == [("очень", "очень"), ("долго", "долго")]
    assert terms("لا أحد يساعد في هذا", "ar") == [("احد", "أحد"), ("يساعد", "يساعد")]


@duckdb_only
def test_sentiment_comes_from_the_score_not_from_the_words(put):
    rows = [("x1", "nps", 10.0, "Terrible wait"), ("x2", "nps", 9.0, "terrible wait"),
            ("y1", "nps", 0.0, "Wonderful service"), ("y2", "ces", 1.0, "wonderful service")]
    frame = pd.DataFrame(rows, columns=["customer_id", "metric", "score", "text"])
    frame["timestamp"] = START
    frame["language"] = None
    frame = frame.astype({c: "string" for c in ("customer_id", "metric", "text", "language")})
    events = canonical_events(pd.DataFrame({"case_id": ["x1", "x2", "y1", "y2"], "touchpoint": "site",
                                            "timestamp": START}))
    maps = empathy_maps(put(events), {"x1": "x", "x2": "x", "y1": "y", "y2": "y"}, feedback=put(frame))
    terrible = next(t for t in maps.map("x").thinks_feels.themes if t.term.key == "terrib")
    wonderful = next(t for t in maps.map("y").thinks_feels.themes if t.term.key == "wonder")
    assert (terrible.sentiment, terrible.term.language) == (1.0, "und")
    assert wonderful.sentiment == -1.0
    assert {t.term.key for t in maps.map("y").pains.themes} == {"wonder", "servic"}
    assert maps.map("y").gains.themes == ()


def test_distinctive_terms_weigh_words_one_group_uses_above_words_all_use():
    found = distinctive_terms(
        {"a": ["slow hotline", "slow hotline again"], "b": ["hotline fine", "hotline ok"]}, "en"
    )
    assert [t.key for t in found["a"]] == ["slow", "hotlin"]  # "again" is in one text only
    slow = found["a"][0]
    assert (slow.share, slow.share_elsewhere) == (1.0, 0.0)


# ---- the demo company ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("empathy"), DemoConfig(customers=3000, seed=7))
    con = ibis.duckdb.connect()
    tables = {
        "events": pd.concat([pd.read_parquet(p) for p in files.events], ignore_index=True),
        "transactions": pd.concat([pd.read_parquet(p) for p in files.transactions], ignore_index=True),
        "feedback": pd.read_csv(files.feedback, dtype={"text": "string", "language": "string"}),
        "touchpoints": pd.read_csv(files.touchpoints, dtype=str),
        "customers": pd.read_csv(files.customers, dtype=str)[["customer_id", "segment"]],
    }
    yield {name: store.put_table(con, name, frame) for name, frame in tables.items()}
    con.disconnect()


def test_every_segment_is_heard_in_english_arabic_and_russian(demo):
    maps = empathy_maps(demo["events"], segment_groups(demo["customers"]), feedback=demo["feedback"],
                        touchpoints=demo["touchpoints"])
    assert [m.group for m in maps.maps] == ["consumer", "enterprise", "retail_partner", "small_business"]
    for group in ("consumer", "enterprise", "small_business"):
        card = maps.map(group)
        assert {q.language for q in card.says} == {"en", "ar", "ru"}
        assert {t.term.language for t in card.thinks_feels.themes} == {"en", "ar", "ru"}
        assert card.gains.themes and card.does.touchpoints and card.does.channels
    # partners have no events and no feedback of their own: an empty but honest map
    partners = maps.map("retail_partner")
    assert partners.does.customers == 0 and partners.says == () and partners.customers == 5


def test_persona_maps_show_the_planted_hotline_pain_in_every_language(demo):
    model = PersonaModel().fit(demo["events"], touchpoints=demo["touchpoints"],
                               transactions=demo["transactions"], feedback=demo["feedback"])
    maps = empathy_maps(demo["events"], model.groups(), feedback=demo["feedback"],
                        touchpoints=demo["touchpoints"])
    support = next(m for m in maps.maps if "high-support" in m.group.lower())
    top = support.pains.journey[0]
    assert (top.kind, top.touchpoint) == (PainKind.FAILURE, "support_hotline")
    assert top.share > 3 * top.share_others
    assert {t.term.language for t in support.pains.themes} == {"en", "ar", "ru"}
    assert support.thinks_feels.satisfaction.nps_score == min(
        m.thinks_feels.satisfaction.nps_score for m in maps.maps
        if m.thinks_feels.satisfaction.nps.responses
    )
    busiest = max(maps.maps, key=lambda m: m.does.contacts_per_month or 0.0)
    assert busiest.does.channels[0].channel == "app"


# ---- errors: one sentence each ---------------------------------------------------------------


@duckdb_only
def test_bad_arguments_are_one_sentence(put):
    events = put(events_frame())
    with pytest.raises(InputError, match=r"^quotes must be a whole number of at least 0; got -1\.$"):
        empathy_maps(events, GROUPS, quotes=-1)
    with pytest.raises(InputError, match=r"^min_visitors must be a share between 0 and 1; got 2\.$"):
        empathy_maps(events, GROUPS, min_visitors=2)
    with pytest.raises(AnalysisError, match=r"^No customer belongs to any group"):
        empathy_maps(events, {})
    with pytest.raises(InputError, match=r"^The customers table needs the column segment"):
        segment_groups(events)
    maps = empathy_maps(events, GROUPS)
    with pytest.raises(InputError, match=r"^There is no empathy map for the group 'de'; "
                                         r"the groups are ar, en, ru\.$"):
        maps.map("de")
