"""The personas page: signed-in only, every language with no untranslated text (persona
names included: their English comes back word for word from the template pieces, and
Arabic and Russian say them in their own words), the empathy map of the largest persona
by default and of any persona or segment on request, the filters change the result, a
bad group is a clear 400, and feedback text that looks like HTML is shown as text."""

from __future__ import annotations

import html
import re
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from corridor.i18n import Translator
from corridor.store import Project
from corridor.web_filters import PageFilters
from corridor.web_personas import name_parts, persona_title
from test_web import web_app, login

XSS_TEXT = "<script>alert('said')</script> & the wait was long"


@pytest.fixture(scope="module")
def computed(client, app):
    client.get("/personas")
    return app.state.site.computed("personas", PageFilters())


def test_the_page_needs_a_signed_in_user(app):
    with TestClient(app, base_url="http://testserver") as anonymous:
        response = anonymous.get("/personas", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


@pytest.mark.parametrize("lang, title, says, direction", [
    ("en", "Personas and empathy maps", "Says", "ltr"),
    ("ar", "الشخصيات وخرائط التعاطف", "يقول", "rtl"),
    ("ru", "Персоны и карты эмпатии", "Говорит", "ltr"),
])
def test_it_renders_in_every_language(client, computed, lang, title, says, direction):
    response = client.get("/personas", params={"lang": lang})
    assert response.status_code == 200
    page = response.text
    assert f'<html lang="{lang}" dir="{direction}">' in page
    assert f"<h1>{title}</h1>" in page
    assert f"<h4>{says}</h4>" in page
    assert page.count('class="card persona"') == computed.personas.k
    for quadrant in ("says", "thinks", "does", "experiences", "pains", "gains"):
        assert f'class="quadrant {quadrant}"' in page


def test_persona_names_are_said_in_every_language(computed):
    cards = computed.personas.cards
    assert all(name_parts(c) is not None for c in cards)
    english = Translator("en", strict=True)
    assert [persona_title(english, c) for c in cards] == [c.name for c in cards]
    for lang in ("ar", "ru"):
        t = Translator(lang, strict=True)
        for card in cards:
            title = persona_title(t, card)
            assert title and title != card.name
            assert not re.search(r"[A-Za-z]{4,}", title.replace("e-mail", "")), title


def test_the_largest_persona_is_the_default_and_a_segment_can_be_chosen(client, computed):
    page = client.get("/personas", params={"lang": "en"}).text
    assert 'class="group-title" data-group="persona:1"' in page
    assert computed.default_group == "persona:1"
    segment = next(g for g in computed.groups if g.kind == "segment")
    chosen = client.get("/personas", params={"group": segment.value}).text
    assert f'class="group-title" data-group="{segment.value}"' in chosen
    assert f'<input type="hidden" name="group" value="{segment.value}">' in chosen
    assert re.search(rf'data-group="{segment.value}"\s+aria-current="true"', chosen)


def test_a_filter_changes_the_personas_and_groups(client, computed):
    segment = next(g for g in computed.groups if g.kind == "segment").label
    page = client.get("/personas", params={"segment": segment}).text
    assert page.count('data-group="segment:') == 1  # only the chosen segment is left
    assert f'data-group="segment:{segment}"' in page
    everyone = int(re.search(r"among ([\d,]+) customers", client.get("/personas").text)
                   .group(1).replace(",", ""))
    some = int(re.search(r"among ([\d,]+) customers", page).group(1).replace(",", ""))
    assert 0 < some < everyone


@pytest.mark.parametrize("group, words", [
    ("persona:99", "There is no group 'persona:99'"),
    ("segment:nobody", "There is no group 'segment:nobody'"),
    ("p" * 300, "at most 200 characters"),
])
def test_a_bad_group_is_a_400_with_one_sentence(client, group, words):
    response = client.get("/personas", params={"group": group})
    assert response.status_code == 400
    assert words in html.unescape(response.text)
    assert "Traceback" not in response.text


def test_a_cached_page_answers_quickly(client, computed):
    took = []
    for _ in range(3):  # the best of three: the page's own cost, not a busy machine's
        start = time.perf_counter()
        response = client.get("/personas", params={"group": "persona:2"})
        took.append(time.perf_counter() - start)
        assert response.status_code == 200
    assert min(took) < 0.3


def test_feedback_text_that_looks_like_html_is_shown_as_text(web_demo, tmp_path):
    project = tmp_path / "company.duckdb"
    shutil.copy(web_demo, project)
    with Project.open(project) as p:
        p.con.execute("UPDATE feedback SET text = ? WHERE language = 'en' AND text IS NOT NULL",
                      [XSS_TEXT])
    app = web_app(project, strict_i18n=True)
    with TestClient(app, base_url="http://testserver") as c:
        login(c)
        page = c.get("/personas").text
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(&#39;said&#39;)&lt;/script&gt; &amp; the wait was long" in page
