"""Durations and moments in words, for pages and emails, through Babel.

Hand-made plurals ("for 0 hours") are wrong as soon as a setting is not a
whole number of the unit someone had in mind, and cannot be translated;
Babel knows every unit's plural forms in every language. The language is
:func:`flask_rivo.i18n.locale`'s, as for every string of the page.
"""

from __future__ import annotations

import math
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from babel.dates import format_date
from babel.dates import format_time
from babel.dates import format_timedelta
from babel.units import format_unit

from ..i18n import gettext as _
from ..i18n import locale

#: Babel's duration units, largest first, with their length in seconds.
_UNITS = (
    ("duration-day", 86400),
    ("duration-hour", 3600),
    ("duration-minute", 60),
    ("duration-second", 1),
)


def duration(span: float | timedelta) -> str:
    """A configured length of time, exactly: ``"30 minutes"``, ``"3 days"``.

    It names a promise ("the link works for ..."), so it is never rounded:
    the largest unit that divides it evenly is used (36 hours stay "36
    hours", not "2 days"). One day reads "24 hours", as people say of links.
    """
    seconds = round(span.total_seconds() if isinstance(span, timedelta) else span)
    for unit, size in _UNITS:
        count, rest = divmod(seconds, size)
        if rest == 0 and count >= (2 if unit == "duration-day" else 1):
            return format_unit(count, unit, locale=locale())
    return format_unit(seconds, "duration-second", locale=locale())


def wait(seconds: float) -> str:
    """How long to wait before trying again, rounded up: ``"2 minutes"``.

    Rounded up, so that trying again after the time said is never early.
    """
    whole = max(1, math.ceil(seconds))
    for unit, size in _UNITS[1:]:
        if whole >= size or size == 1:
            return format_unit(math.ceil(whole / size), unit, locale=locale())
    raise AssertionError("unreachable")  # pragma: no cover


def ago(elapsed: timedelta) -> str:
    """How long ago, to the nearest large unit: ``"3 hours ago"``.

    Under a minute is ``"just now"``: seconds would change on every reload.
    """
    if elapsed.total_seconds() < 60:
        return _("just now")
    return format_timedelta(-elapsed, add_direction=True, locale=locale())


def moment(when: datetime) -> str:
    """A point in time in UTC: ``"May 1, 2024, 2:03 PM UTC"``.

    Stored times are UTC, and the site does not know the reader's zone, so
    the zone is named. A naive ``when`` is taken as UTC (SQLite drops zones).
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    lang = locale()
    time = format_time(when, "short", tzinfo=timezone.utc, locale=lang)
    date = format_date(when.astimezone(timezone.utc), "medium", locale=lang)
    return f"{lang.datetime_formats['medium'].format(time, date)} UTC"
