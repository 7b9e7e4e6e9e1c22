"""The web app's languages: our own message catalogs (``locales/<lang>.json``) and
locale-aware numbers and dates through Babel.

A :class:`Translator` looks keys up in one catalog. In strict mode (the tests) a key
missing from the catalog raises :class:`MissingTranslation`, so untranslated text is a
test failure; otherwise it falls back to English, then to the key itself.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from .errors import CorridorError

LANGUAGES = ("en", "ar", "ru")
DEFAULT_LANGUAGE = "en"
RIGHT_TO_LEFT = frozenset({"ar"})
LOCALES_DIR = Path(__file__).parent / "locales"


class MissingTranslation(CorridorError, KeyError):
    """A message key is not in a language's catalog."""


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of ``lang`` (read once): ``locales/<lang>.json`` plus one file
    per page in ``locales/<lang>/``. A key defined twice is an error."""
    if lang not in LANGUAGES:
        raise CorridorError(f"The language must be one of {', '.join(LANGUAGES)}; got {lang!r}.")
    merged: dict[str, str] = {}
    for path in catalog_files(lang):
        with open(path, encoding="utf-8") as f:
            part = json.load(f)
        twice = sorted(set(part) & set(merged))
        if twice:
            raise CorridorError(f"{path} defines {', '.join(twice)} again.")
        merged.update(part)
    return merged


def catalog_files(lang: str) -> list[Path]:
    """The files that make up the catalog of ``lang``."""
    return [LOCALES_DIR / f"{lang}.json", *sorted((LOCALES_DIR / lang).glob("*.json"))]


def choose(requested: str | None, remembered: str | None = None) -> str:
    """The language to use: the requested one if we have it, else the remembered one,
    else English."""
    for lang in (requested, remembered):
        if lang in LANGUAGES:
            return lang
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    lang: str
    strict: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.lang in RIGHT_TO_LEFT else "ltr"

    def __call__(self, key: str, **values) -> str:
        text = catalog(self.lang).get(key)
        if text is None:
            if self.strict:
                raise MissingTranslation(f"The {self.lang} catalog has no message {key!r}.")
            text = catalog(DEFAULT_LANGUAGE).get(key, key)
        return text.format(**values) if values else text

    def label(self, prefix: str, name: str | None) -> str:
        """The translated name of a value the library names (a level, a tier, a driver),
        or the value itself when our catalogs do not know it (data, not our text)."""
        if name is None:
            return "—"
        key = f"{prefix}.{name}"
        return self(key) if key in catalog(DEFAULT_LANGUAGE) else name

    def interval(self, low: float | None, high: float | None, digits: int = 0,
                 percent: bool = False) -> str:
        """A confidence interval, its ends formatted for the language."""
        fmt = self.percent if percent else self.number
        return self("format.interval", low=fmt(low, digits), high=fmt(high, digits))

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def percent(self, share: float | None, digits: int = 0) -> str:
        if share is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(share, format=pattern, locale=self.lang)

    def date(self, value: dt.date | None) -> str:
        return "—" if value is None else format_date(value, "medium", locale=self.lang)

    def datetime(self, value: dt.datetime | None) -> str:
        return "—" if value is None else format_datetime(value, "medium", locale=self.lang)
