"""Formatting shared by the web pages beyond what :class:`corridor.i18n.Translator`
does: a duration in seconds as the two largest units a person reads ("3 h 20 min"),
with translated units (the ``duration.*`` messages)."""

from __future__ import annotations

import math

from .i18n import Translator

# (seconds in the unit, message key), largest first
UNITS = ((86_400, "duration.days"), (3_600, "duration.hours"), (60, "duration.minutes"),
         (1, "duration.seconds"))


def duration(t: Translator, seconds: float | None) -> str:
    """``seconds`` in its largest unit and the next one, rounded to the smaller one
    ("1 d 4 h", "3 h 20 min", "12 min 5 s", "40 s"); a zero smaller part is left out.
    None (no duration) and values that are not finite are a dash."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(round(seconds), 0)  # whole seconds: 59.6 s reads as 1 min
    for i, (size, key) in enumerate(UNITS):
        if seconds < size and size > 1:
            continue
        if size == 1:
            return t(key, n=t.number(seconds))
        small_size, small_key = UNITS[i + 1]
        in_small = round(seconds / small_size)
        large, small = divmod(in_small, size // small_size)
        if i and large * size >= UNITS[i - 1][0]:
            # rounding carried into the next larger unit (59 min 59.6 s is 1 h)
            return duration(t, in_small * small_size)
        text = t(key, n=t.number(large))
        if small:
            text = t("duration.pair", large=text, small=t(small_key, n=t.number(small)))
        return text
    raise AssertionError("unreachable: the last unit takes every duration")
