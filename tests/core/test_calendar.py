"""The course calendar and quiet hours: pure, property-tested."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import (
    CalendarError,
    CalendarSpec,
    QuietHours,
    course_end,
    in_quiet_hours,
    monday_of,
    next_allowed_time,
    parse_date_list,
    week_of,
    week_starts,
)
from bot.schedule_math import TimeOfDayError, parse_time_of_day

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "UTC",
]
NY = ZoneInfo("America/New_York")

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)
wall_times = st.times().map(lambda t: t.replace(microsecond=0, second=0))


def spec(
    start: date = date(2026, 9, 9), weeks: int = 10, breaks: tuple[date, ...] = ()
) -> CalendarSpec:
    return CalendarSpec(start, weeks, "America/New_York", breaks)


def at(local: datetime) -> datetime:
    return local.replace(tzinfo=NY).astimezone(UTC)


def test_week_one_starts_on_the_start_date_and_ends_on_sunday() -> None:
    s = spec()  # a Wednesday
    assert week_of(s, at(datetime(2026, 9, 8, 23, 59))).state == "not_running"
    first = week_of(s, at(datetime(2026, 9, 9, 0, 0)))
    assert (first.state, first.number, first.week_start) == ("week", 1, date(2026, 9, 7))
    assert week_of(s, at(datetime(2026, 9, 13, 23, 59))).number == 1
    assert week_of(s, at(datetime(2026, 9, 14, 0, 0))).number == 2


def test_a_break_week_has_no_number_and_shifts_later_weeks() -> None:
    s = spec(breaks=(date(2026, 10, 14),))  # any day in the week of Monday 12 October
    assert s.break_weeks == (date(2026, 10, 12),)
    assert week_of(s, at(datetime(2026, 10, 11, 12))).number == 5
    status = week_of(s, at(datetime(2026, 10, 12, 12)))
    assert (status.state, status.number) == ("break", None)
    assert week_of(s, at(datetime(2026, 10, 19, 12))).number == 6
    # 10 teaching weeks + 1 break: the course ends a week later.
    assert course_end(s) == date(2026, 11, 22)
    assert week_of(s, at(datetime(2026, 11, 22, 23))).number == 10
    assert week_of(s, at(datetime(2026, 11, 23, 0))).reason == "after the end"
    # A break listed after the last teaching week is just "after the end".
    short = spec(weeks=1, breaks=(date(2026, 9, 21),))
    assert week_of(short, at(datetime(2026, 9, 22, 12))).reason == "after the end"


def test_course_week_is_local_not_utc() -> None:
    s = spec()
    # Monday 03:30 UTC is still Sunday evening in New York: course week 1, not 2.
    sunday_evening_local = datetime(2026, 9, 14, 3, 30, tzinfo=UTC)
    assert week_of(s, sunday_evening_local).number == 1


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(CalendarError):
        spec(weeks=0)
    with pytest.raises(CalendarError):
        spec(breaks=(date(2026, 9, 1),))  # before the first week
    with pytest.raises(CalendarError):
        parse_date_list("2026-13-01")
    with pytest.raises(TimeOfDayError):
        parse_time_of_day("25:00")
    assert parse_date_list("2026-10-12, 2026-11-23") == (date(2026, 10, 12), date(2026, 11, 23))
    assert parse_time_of_day("7:05") == time(7, 5)


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    weeks=st.integers(1, 20),
    break_offsets=st.sets(st.integers(1, 25), max_size=4),
    zone=zones,
)
def test_every_course_week_appears_once_in_order(
    start: date, weeks: int, break_offsets: set[int], zone: str
) -> None:
    first = monday_of(start)
    breaks = tuple(first + timedelta(weeks=o) for o in break_offsets)
    s = CalendarSpec(start, weeks, zone, breaks)
    numbers = [status.number for _, status in week_starts(s) if status.state == "week"]
    assert numbers == list(range(1, weeks + 1))
    for monday, status in week_starts(s):
        assert (status.state == "break") == (monday in s.break_weeks)


@settings(max_examples=300, deadline=None)
@given(instant=instants, zone=zones, weeks=st.integers(1, 15))
def test_week_of_is_consistent_with_the_local_date(
    instant: datetime, zone: str, weeks: int
) -> None:
    s = CalendarSpec(date(2026, 3, 4), weeks, zone, (date(2026, 3, 30),))
    status = week_of(s, instant)
    local = instant.astimezone(ZoneInfo(zone)).date()
    if status.state == "not_running":
        assert local < s.start or local > course_end(s)
    else:
        assert status.week_start == monday_of(local)
        assert s.start <= local <= course_end(s)
    # A later instant never has a smaller week number.
    later = week_of(s, instant + timedelta(days=7))
    if status.number is not None and later.number is not None:
        assert later.number > status.number


# ---------------------------------------------------------------------- quiet hours


@settings(max_examples=400, deadline=None)
@given(instant=instants, zone=zones, start=wall_times, end=wall_times)
def test_next_allowed_time_is_the_first_moment_outside_quiet_hours(
    instant: datetime, zone: str, start: time, end: time
) -> None:
    tz = ZoneInfo(zone)
    quiet = QuietHours(start, end)
    result = next_allowed_time(instant, tz, quiet)
    assert result >= instant
    assert not in_quiet_hours(result, tz, quiet)
    if not in_quiet_hours(instant, tz, quiet):
        assert result == instant
    else:
        # Never more than one day (plus a DST hour) away.
        assert result - instant <= timedelta(hours=25)


def test_default_quiet_hours_wait_until_morning() -> None:
    quiet = QuietHours()
    late = at(datetime(2026, 9, 9, 22, 30))
    assert next_allowed_time(late, NY, quiet) == at(datetime(2026, 9, 10, 8, 0))
    early = at(datetime(2026, 9, 10, 6, 0))
    assert next_allowed_time(early, NY, quiet) == at(datetime(2026, 9, 10, 8, 0))
    noon = at(datetime(2026, 9, 10, 12, 0))
    assert next_allowed_time(noon, NY, quiet) == noon


def test_quiet_hours_across_dst_changes() -> None:
    # Fall back (2026-11-01, 01:00–02:00 happens twice): quiet from 21:00 ends at 08:00 EST.
    night = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)  # Oct 31, 21:30 EDT
    assert next_allowed_time(night, NY, QuietHours()) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    # Spring forward with a window ending inside the gap (02:30 does not exist on 2026-03-08).
    quiet = QuietHours(time(1, 0), time(2, 30))
    inside = datetime(2026, 3, 8, 6, 15, tzinfo=UTC)  # 01:15 EST
    allowed = next_allowed_time(inside, NY, quiet)
    assert allowed == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert not in_quiet_hours(allowed, NY, quiet)


def test_no_quiet_hours_when_start_equals_end() -> None:
    quiet = QuietHours(time(9), time(9))
    instant = at(datetime(2026, 9, 9, 3, 0))
    assert next_allowed_time(instant, NY, quiet) == instant


@pytest.mark.parametrize("start", [date(9999, 12, 31), date(1, 1, 1)])
def test_a_calendar_far_from_today_is_refused_clearly(start: date) -> None:
    with pytest.raises(CalendarError, match="outside the dates a course can use"):
        CalendarSpec(start, 1, "UTC")
