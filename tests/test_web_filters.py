"""The filters every page shares live in the URL: they parse strictly (one sentence for
a bad value), round-trip into links, follow the navigation, and change what a page
counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from starlette.datastructures import QueryParams

from corridor.errors import InputError
from corridor.web_filters import PageFilters


def parsed(query: str) -> PageFilters:
    return PageFilters.from_query(QueryParams(query))


def test_repeated_values_combine_and_duplicates_collapse():
    f = parsed("from=2024-01-01&to=2024-03-31&channel=web&channel=phone&channel=web"
               "&segment=retail")
    assert f.start == dt.date(2024, 1, 1) and f.end == dt.date(2024, 3, 31)
    assert f.channel == ("web", "phone")
    assert f.segment == ("retail",)
    assert parsed(f.query()) == f


def test_no_filters_is_the_empty_filter_and_an_empty_query():
    assert parsed("").is_empty
    assert parsed("").query() == ""
    assert parsed("channel=&from=").is_empty


@pytest.mark.parametrize("query, words", [
    ("from=yesterday", "'from' must be a day like 2024-01-31; got 'yesterday'"),
    ("from=2024-02-01&to=2024-01-01", "period is empty"),
    ("level=galaxy", "level"),
    ("segment=%00", "'segment' must not contain control characters"),
    ("channel=web%0D%0Aphone", "'channel' must not contain control characters"),
    ("journey=%7F", "'journey' must not contain control characters"),
    ("to=9999-12-31", "'to' must be a day from 1900-01-01 to 2200-12-31; got '9999-12-31'"),
    ("from=1899-12-31", "'from' must be a day from 1900-01-01 to 2200-12-31"),
    ("segment=" + "x" * 201, "more than 200 characters"),
])
def test_a_bad_filter_is_one_sentence(query, words):
    with pytest.raises(InputError, match=re.escape(words)):
        parsed(query)


def cases_on(page: str) -> int:
    text = re.search(r'data-metric="cases">([^<]+)<', page).group(1)
    return int(text.replace(",", ""))


def test_a_segment_filter_narrows_the_overview(client):
    everyone = cases_on(client.get("/", params={"lang": "en"}).text)
    segment = re.search(r'name="segment" value="([^"]+)"', client.get("/").text).group(1)
    some = client.get("/", params={"segment": segment})
    assert some.status_code == 200
    assert 0 < cases_on(some.text) < everyone
    # the filter is kept in the navigation links and the checkbox stays ticked
    assert f'href="/customers?segment={segment}"' in some.text
    assert re.search(rf'name="segment" value="{segment}" checked', some.text)


def test_a_bad_filter_in_the_url_is_a_clear_400(client):
    response = client.get("/", params={"from": "2024-13-40"})
    assert response.status_code == 400
    assert "must be a day like 2024-01-31" in response.text
    assert "Traceback" not in response.text


def test_the_ends_of_the_day_range_and_text_in_any_script_are_accepted():
    f = parsed("from=1900-01-01&to=2200-12-31&segment=%D8%B4%D8%B1%D9%83%D8%A7%D8%AA"
               "&channel=%D0%B2%D0%B5%D0%B1")
    assert (f.start, f.end) == (dt.date(1900, 1, 1), dt.date(2200, 12, 31))
    assert f.segment == ("شركات",) and f.channel == ("веб",)
