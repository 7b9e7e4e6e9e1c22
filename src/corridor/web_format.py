"""Formatting shared by the web pages beyond what :class:`corridor.i18n.Translator`
does: durations in seconds with translated units (the ``duration.*`` messages), either
as the two largest units a person reads ("3 h 20 min", :func:`duration`) or, where space
is short (map labels, table cells), as one unit ("2.5 h", :func:`short_duration`)."""

from __future__ import annotations

import math

from .i18n import Translator

# (unit, seconds in it, shown in it below this many seconds) for short durations
SHORT_UNITS = (("seconds", 1, 90), ("minutes", 60, 90 * 60), ("hours", 3600, 48 * 3600),
               ("days", 86400, math.inf))
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


def duration_parts(seconds: float | None) -> tuple[float, str, int] | None:
    """A duration as (value, unit, digits) in the largest unit that reads well:
    seconds, minutes, hours or days; one decimal below 10 of a unit larger than seconds."""
    if seconds is None or not math.isfinite(seconds):
        return None
    for unit, size, up_to in SHORT_UNITS:
        if seconds < up_to:
            value = seconds / size
            return value, unit, (1 if 0 < value < 10 and unit != "seconds" else 0)
    raise AssertionError("unreachable: the last unit takes every duration")


def short_duration(t: Translator, seconds: float | None) -> str:
    """``seconds`` in one unit ("45 s", "2.5 h", "12 d"); a dash for no duration."""
    parts = duration_parts(seconds)
    if parts is None:
        return "—"
    value, unit, digits = parts
    return t(f"duration.{unit}", n=t.number(value, digits))
