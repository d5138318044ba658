"""Pure schedule arithmetic: weekly local occurrences, slot keys, due decisions, time zones.

No Discord, no I/O, no clock reads: the current instant is always a parameter.

Daylight-saving semantics (weekly schedule = a local weekday + a local wall-clock time):

* **Fold** (the wall-clock hour that happens twice, e.g. 01:30 on 2026-11-01 in
  America/New_York): the occurrence is the FIRST one (``fold=0``, 05:30 UTC). The second
  01:30 (06:30 UTC) is not an occurrence.
* **Gap** (a wall-clock time that does not exist, e.g. 02:30 on 2026-03-08 in
  America/New_York): the time is read with the offset in force *before* the transition
  (``fold=0`` and normalisation, PEP 495), i.e. shifted forward by the length of the gap:
  02:30 EST → 07:30 UTC = 03:30 EDT. This is also the instant APScheduler 3.11's
  ``CronTrigger`` fires at, so the wake-up and the due-logic agree.

Slots are keyed by the local date of the occurrence (:func:`slot_key`), never by the UTC
instant, so a fold or a restart can never make one week's slot look like two.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, available_timezones

from bot.text import quote_input

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_ON_TIME",
    "TIMEZONE_AREAS",
    "Decision",
    "decide",
    "in_gap",
    "is_valid_timezone",
    "latest_occurrence",
    "next_occurrence",
    "occurrence_on",
    "search_timezones",
    "slot_key",
    "timezone_choices",
]

Decision = Literal["not_yet", "on_time", "late", "missed", "before_schedule_existed"]

DEFAULT_ON_TIME: Final = timedelta(minutes=15)
DEFAULT_GRACE: Final = timedelta(hours=6)

TIMEZONE_AREAS: Final[frozenset[str]] = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _check_weekday_time(weekday: int, local_time: time) -> time:
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) … 6 (Sunday), not {weekday}")
    if local_time.tzinfo is not None:
        raise ValueError("local_time must be a naive wall-clock time")
    return local_time.replace(fold=0)


def occurrence_on(day: date, local_time: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of ``local_time`` on the local date ``day`` (fold=0; gaps shift forward)."""
    wall = datetime.combine(day, local_time.replace(tzinfo=None, fold=0)).replace(tzinfo=tz, fold=0)
    return wall.astimezone(UTC)


def in_gap(day: date, local_time: time, tz: ZoneInfo) -> bool:
    """True when ``local_time`` does not exist on ``day`` in ``tz`` (a DST gap)."""
    naive = datetime.combine(day, local_time.replace(tzinfo=None, fold=0))
    back = occurrence_on(day, local_time, tz).astimezone(tz).replace(tzinfo=None)
    return back != naive


def latest_occurrence(weekday: int, local_time: time, tz: ZoneInfo, now: datetime) -> datetime:
    """The most recent occurrence at or before ``now``, as an aware UTC datetime.

    ``weekday`` is 0 for Monday … 6 for Sunday; ``local_time`` a naive wall-clock time in
    ``tz``. See the module docstring for folds and gaps.
    """
    _require_aware("now", now)
    local_time = _check_weekday_time(weekday, local_time)
    today = now.astimezone(tz).date()
    anchor = today - timedelta(days=(today.weekday() - weekday) % 7)
    candidates = (occurrence_on(anchor + timedelta(weeks=k), local_time, tz) for k in (-1, 0, 1))
    return max(c for c in candidates if c <= now)


def next_occurrence(weekday: int, local_time: time, tz: ZoneInfo, now: datetime) -> datetime:
    """The first occurrence strictly after ``now``, as an aware UTC datetime."""
    _require_aware("now", now)
    local_time = _check_weekday_time(weekday, local_time)
    today = now.astimezone(tz).date()
    anchor = today + timedelta(days=(weekday - today.weekday()) % 7)
    candidates = (occurrence_on(anchor + timedelta(weeks=k), local_time, tz) for k in (-1, 0, 1))
    return min(c for c in candidates if c > now)


def slot_key(occurrence_utc: datetime, tz: ZoneInfo) -> str:
    """The ledger slot of an occurrence: its local date in ``tz`` (``"2026-11-01"``)."""
    _require_aware("occurrence_utc", occurrence_utc)
    return occurrence_utc.astimezone(tz).date().isoformat()


def decide(
    occurrence: datetime,
    now: datetime,
    *,
    created_at: datetime,
    on_time: timedelta = DEFAULT_ON_TIME,
    grace: timedelta = DEFAULT_GRACE,
) -> Decision:
    """What to do about ``occurrence`` at ``now``.

    * ``before_schedule_existed`` — the occurrence is earlier than ``created_at``: ignore it.
    * ``not_yet`` — ``now`` is before the occurrence.
    * ``on_time`` — at most ``on_time`` after it.
    * ``late`` — later than that but at most ``grace`` after it: run once, marked late.
    * ``missed`` — more than ``grace`` after it: skip it and tell the instructor.
    """
    _require_aware("occurrence", occurrence)
    _require_aware("now", now)
    _require_aware("created_at", created_at)
    if on_time < timedelta(0) or grace < on_time:
        raise ValueError("need 0 <= on_time <= grace")
    if occurrence < created_at:
        return "before_schedule_existed"
    elapsed = now - occurrence
    if elapsed < timedelta(0):
        return "not_yet"
    if elapsed <= on_time:
        return "on_time"
    if elapsed <= grace:
        return "late"
    return "missed"


# ---------------------------------------------------------------------- time zones


@lru_cache(maxsize=1)
def _choices() -> tuple[str, ...]:
    names = {
        name
        for name in available_timezones()
        if name.count("/") >= 1 and name.split("/", 1)[0] in TIMEZONE_AREAS
    }
    names.add("UTC")
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _choice_set() -> frozenset[str]:
    return frozenset(_choices())


def timezone_choices() -> list[str]:
    """Allowed IANA ``Area/Location`` names (plus ``UTC``), sorted.

    Legacy names that ``ZoneInfo`` also accepts (``EST``, ``US/Eastern``, ``Etc/GMT+5``,
    ``GB`` …) are excluded on purpose: they are ambiguous or have surprising signs.
    """
    return list(_choices())


def is_valid_timezone(name: str) -> bool:
    """True when ``name`` is on the allowlist (exact, case-sensitive IANA spelling)."""
    return name in _choice_set()


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").split())


def search_timezones(query: str, limit: int = 25) -> list[str]:
    """Allowed zones matching ``query`` for autocomplete, at most ``limit``.

    Case-insensitive; spaces and underscores are interchangeable (``"new york"`` finds
    ``America/New_York``). Names whose full name or city starts with the query come first,
    then other substring matches, each group alphabetical. An empty query lists the first
    ``limit`` names.
    """
    if limit <= 0:
        return []
    needle = _norm(query)
    names = _choices()
    if not needle:
        return list(names[:limit])
    prefix: list[str] = []
    substring: list[str] = []
    for name in names:
        full = _norm(name)
        city = _norm(name.rsplit("/", 1)[-1])
        if full.startswith(needle) or city.startswith(needle):
            prefix.append(name)
        elif needle in full:
            substring.append(name)
    return (prefix + substring)[:limit]


# ---------------------------------------------------------------------- days and times typed in

WEEKDAY_NAMES: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

_TIME_OF_DAY = re.compile(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*")


class TimeOfDayError(ValueError):
    """Text that is not a 24-hour HH:MM time; the message says how to write it."""


def parse_time_of_day(text: str | None) -> time:
    """``"18:30"`` → ``time(18, 30)``; anything else raises :class:`TimeOfDayError`."""
    match = _TIME_OF_DAY.fullmatch(text or "")
    if match is None:
        raise TimeOfDayError(
            f"{quote_input(text or '')} isn't a time: use 24-hour HH:MM, e.g. 09:00 or 18:30."
        )
    return time(int(match.group(1)), int(match.group(2)))
