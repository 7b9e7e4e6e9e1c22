"""Durations for people: the two largest units, rounded to the smaller one, with the
units translated."""

from __future__ import annotations

import math

import pytest

from corridor.i18n import Translator
from corridor.web_format import duration

EN = Translator("en", strict=True)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"),
    (0.4, "0 s"),
    (42, "42 s"),
    (59.6, "1 min"),  # rounded to whole seconds first
    (61, "1 min 1 s"),
    (12 * 60, "12 min"),
    (3599.6, "1 h"),
    (12_000, "3 h 20 min"),
    (86_399, "1 d"),  # 23 h 59 min 59 s rounds to 24 h: carried into a day
    (90_061, "1 d 1 h"),
    (30 * 86_400, "30 d"),
    (400 * 86_400 + 5 * 3_600, "400 d 5 h"),
])
def test_a_duration_reads_in_its_two_largest_units(seconds, text):
    assert duration(EN, seconds) == text


@pytest.mark.parametrize("seconds", [None, math.nan, math.inf])
def test_no_duration_is_a_dash(seconds):
    assert duration(EN, seconds) == "—"


def test_a_negative_duration_counts_as_none_elapsed():
    assert duration(EN, -5) == "0 s"


def test_large_numbers_are_grouped_for_the_language():
    assert duration(EN, 1234 * 86_400) == "1,234 d"
    assert duration(Translator("ru", strict=True), 1234 * 86_400) == "1\xa0234 д"


def test_the_units_are_translated():
    ar = Translator("ar", strict=True)
    ru = Translator("ru", strict=True)
    assert duration(ru, 12_000) == "3 ч 20 мин"
    assert duration(ru, 90_061) == "1 д 1 ч"
    assert duration(ar, 12_000) == "3 ساعة و20 دقيقة"
    assert duration(ar, 42) == "42 ثانية"
