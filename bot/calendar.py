"""The course calendar and quiet hours: pure functions of an instant (no Discord, no I/O).

A cohort's calendar is a start date, a number of teaching weeks and some break weeks, in the
course time zone. Any instant maps to exactly one of:

* ``week``        — "course week N" (N = 1 … weeks), Monday 00:00 to Sunday 24:00 local time;
  week 1 begins on the start date itself (which may be mid-week);
* ``break``       — a break week inside the course (it has no number and shifts the later
  weeks back by one);
* ``not_running`` — before the start date, after the last course week, or no calendar.

Everything that sends on the course's clock (prompts, matching rounds, nudges, digests)
asks :func:`week_of` first: nothing is sent in a break week or when the course is not running.

Quiet hours (default 21:00–08:00) are read in the *student's* own zone: a DM that falls due in
quiet hours waits until the quiet period ends (:func:`next_allowed_time`). DST is handled by
working on local wall-clock dates and converting with ``fold=0`` (a time in a gap is shifted
forward like :mod:`bot.schedule_math` does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from bot.text import quote_input

__all__ = [
    "DEFAULT_QUIET_HOURS",
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_COURSE_WEEKS",
    "CalendarError",
    "CalendarSpec",
    "QuietHours",
    "WeekState",
    "WeekStatus",
    "course_end",
    "describe_week",
    "in_quiet_hours",
    "monday_of",
    "next_allowed_time",
    "parse_date_list",
    "week_of",
    "week_starts",
]

WeekState = Literal["week", "break", "not_running"]
MAX_COURSE_WEEKS: Final = 52
#: Course dates live in this range: far from date.min/max, where week arithmetic and time-zone
#: conversions would overflow (9999-12-31 + one week is not a date).
EARLIEST_DATE: Final = date(2000, 1, 1)
LATEST_DATE: Final = date(2999, 12, 31)


class CalendarError(ValueError):
    """Calendar input that cannot be used; the message says why in plain words."""


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class CalendarSpec:
    """A cohort's calendar. ``break_weeks`` are the Mondays of break weeks (sorted, unique)."""

    start: date
    weeks: int
    timezone: str
    break_weeks: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.weeks <= MAX_COURSE_WEEKS:
            raise CalendarError(f"A course has 1–{MAX_COURSE_WEEKS} weeks, not {self.weeks}.")
        for day in (self.start, *self.break_weeks):
            if not EARLIEST_DATE <= day <= LATEST_DATE:
                raise CalendarError(
                    f"{day.isoformat()} is outside the dates a course can use "
                    f"({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})."
                )
        mondays = tuple(sorted({monday_of(d) for d in self.break_weeks}))
        first = monday_of(self.start)
        for monday in mondays:
            if monday <= first:
                raise CalendarError(
                    f"The break week of {monday.isoformat()} is not after the first course week."
                )
        object.__setattr__(self, "break_weeks", mondays)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class WeekStatus:
    state: WeekState
    number: int | None = None  # the course week number, for state == "week"
    week_start: date | None = None  # the local Monday of the week (week/break)
    reason: str = ""  # for not_running: "before the start", "after the end", "no calendar"

    @property
    def running(self) -> bool:
        return self.state == "week"

    @property
    def key(self) -> str:
        """A stable key for per-week dedupe ("2026-09-07"), or "" when not running."""
        return self.week_start.isoformat() if self.week_start else ""


NOT_CONFIGURED: Final = WeekStatus("not_running", reason="no calendar")


def _status_for_local_date(spec: CalendarSpec, day: date) -> WeekStatus:
    if day < spec.start:
        return WeekStatus("not_running", reason="before the start")
    monday = monday_of(day)
    first = monday_of(spec.start)
    index = (monday - first).days // 7  # 0-based calendar week
    taught_before = index - sum(1 for b in spec.break_weeks if b < monday)
    if taught_before >= spec.weeks:
        # Also a "break" listed after the last teaching week: the course has ended.
        return WeekStatus("not_running", reason="after the end")
    if monday in spec.break_weeks:
        return WeekStatus("break", week_start=monday)
    number = taught_before + 1
    return WeekStatus("week", number=number, week_start=monday)


def week_of(spec: CalendarSpec | None, instant: datetime) -> WeekStatus:
    """Course week N, break, or not running at ``instant`` (aware) in the course zone."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    if spec is None:
        return NOT_CONFIGURED
    return _status_for_local_date(spec, instant.astimezone(spec.zone).date())


def week_starts(spec: CalendarSpec) -> list[tuple[date, WeekStatus]]:
    """Every calendar week from the first to the last course week, with its status."""
    out: list[tuple[date, WeekStatus]] = []
    monday = monday_of(spec.start)
    while True:
        status = _status_for_local_date(spec, max(monday, spec.start))
        if status.state == "not_running":
            return out
        out.append((monday, status))
        monday += timedelta(weeks=1)


def course_end(spec: CalendarSpec) -> date:
    """The last day (a Sunday) of the last course week."""
    return week_starts(spec)[-1][0] + timedelta(days=6)


def describe_week(status: WeekStatus) -> str:
    if status.state == "week":
        return f"course week {status.number}"
    if status.state == "break":
        return "break week"
    return f"not running ({status.reason})" if status.reason else "not running"


_DATE_SPLIT = re.compile(r"[,\s;]+")


def parse_date_list(text: str | None) -> tuple[date, ...]:
    """ "2026-10-12, 2026-11-23" → dates. Raises CalendarError naming the bad part."""
    if text is None or not text.strip():
        return ()
    out: list[date] = []
    for part in _DATE_SPLIT.split(text.strip()):
        if not part:
            continue
        try:
            out.append(date.fromisoformat(part))
        except ValueError as exc:
            raise CalendarError(
                f"{quote_input(part)} isn't a date. Write dates as YYYY-MM-DD, separated by commas."
            ) from exc
    return tuple(out)


# ---------------------------------------------------------------------- quiet hours


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock window with no DMs; ``start == end`` means no quiet hours."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are naive wall-clock times")

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None, fold=0)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def label(self) -> str:
        if self.start == self.end:
            return "none"
        return f"{self.start.strftime('%H:%M')}–{self.end.strftime('%H:%M')}"


DEFAULT_QUIET_HOURS: Final = QuietHours()


def _local_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz)


def in_quiet_hours(instant: datetime, tz: ZoneInfo, quiet: QuietHours) -> bool:
    """True when ``instant`` falls inside the quiet window in ``tz``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return quiet.contains(_local_wall(instant, tz).time())


def _at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    # fold=0; a wall time in a DST gap is shifted forward by the gap (PEP 495 normalisation).
    return (
        datetime.combine(day, wall.replace(tzinfo=None, fold=0)).replace(tzinfo=tz).astimezone(UTC)
    )


def next_allowed_time(instant: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """``instant`` itself when it is outside quiet hours, else the end of this quiet period.

    Returned as an aware UTC datetime, never earlier than ``instant``.
    """
    if not in_quiet_hours(instant, tz, quiet):
        return instant.astimezone(UTC)
    local = _local_wall(instant, tz)
    day = local.date()
    # The quiet period ends at `end` today if we are before it, else tomorrow.
    candidates: Iterable[date] = (day, day + timedelta(days=1), day + timedelta(days=2))
    for candidate in candidates:
        end = _at(candidate, quiet.end, tz)
        if end > instant and not in_quiet_hours(end, tz, quiet):
            return end
    # Unreachable for a well-formed window; be safe rather than loop forever.
    return instant.astimezone(UTC) + timedelta(hours=12)
