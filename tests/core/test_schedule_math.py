"""Pure schedule arithmetic: occurrences across DST, slot keys, due decisions, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.schedule_math import (
    decide,
    in_gap,
    is_valid_timezone,
    latest_occurrence,
    next_occurrence,
    occurrence_on,
    search_timezones,
    slot_key,
    timezone_choices,
)

NY = ZoneInfo("America/New_York")
SUN = 6
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------------- DST, by hand


def test_fold_resolves_to_the_first_0130() -> None:
    t = time(1, 30)
    # 2026-11-01: 01:30 EDT = 05:30Z, then 01:30 EST = 06:30Z.
    assert occurrence_on(date(2026, 11, 1), t, NY) == utc(2026, 11, 1, 5, 30)
    assert latest_occurrence(SUN, t, NY, utc(2026, 11, 1, 5, 29)) == utc(2026, 10, 25, 5, 30)
    for minute in (0, 30, 59, 60, 61, 120):
        now = utc(2026, 11, 1, 5, 30) + timedelta(minutes=minute)
        assert latest_occurrence(SUN, t, NY, now) == utc(2026, 11, 1, 5, 30)
    assert next_occurrence(SUN, t, NY, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 8, 6, 30)
    assert next_occurrence(SUN, t, NY, utc(2026, 11, 1, 5, 29)) == utc(2026, 11, 1, 5, 30)
    assert slot_key(utc(2026, 11, 1, 5, 30), NY) == "2026-11-01"
    assert slot_key(utc(2026, 11, 1, 6, 30), NY) == "2026-11-01"  # the second 01:30: same slot


def test_gap_shifts_forward_by_the_gap_length() -> None:
    t = time(2, 30)
    assert in_gap(date(2026, 3, 8), t, NY)
    assert not in_gap(date(2026, 3, 15), t, NY)
    # 02:30 does not exist on 2026-03-08: read with the EST offset → 07:30Z = 03:30 EDT.
    occurrence = utc(2026, 3, 8, 7, 30)
    assert occurrence_on(date(2026, 3, 8), t, NY) == occurrence
    assert occurrence.astimezone(NY).time() == time(3, 30)
    assert latest_occurrence(SUN, t, NY, utc(2026, 3, 8, 7, 29)) == utc(2026, 3, 1, 7, 30)
    assert latest_occurrence(SUN, t, NY, occurrence) == occurrence
    assert next_occurrence(SUN, t, NY, occurrence) == utc(2026, 3, 15, 6, 30)
    assert slot_key(occurrence, NY) == "2026-03-08"


def test_gap_agrees_with_apscheduler_fire_time() -> None:
    trigger = CronTrigger(day_of_week="sun", hour=2, minute=30, timezone=NY)
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 7, tzinfo=NY))
    assert fire is not None
    assert fire.astimezone(UTC) == occurrence_on(date(2026, 3, 8), time(2, 30), NY)


def test_slot_is_the_local_date_not_the_utc_date() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    occurrence = latest_occurrence(0, time(8, 0), tokyo, utc(2026, 9, 7, 0, 0))
    assert occurrence == utc(2026, 9, 6, 23, 0)  # Monday 08:00 JST is Sunday in UTC
    assert slot_key(occurrence, tokyo) == "2026-09-07"


def test_occurrence_at_exactly_now_counts_as_latest() -> None:
    now = utc(2026, 9, 7, 9, 0)  # a Monday
    assert latest_occurrence(0, time(9, 0), ZoneInfo("UTC"), now) == now
    assert next_occurrence(0, time(9, 0), ZoneInfo("UTC"), now) == now + timedelta(weeks=1)


@pytest.mark.parametrize(
    ("weekday", "local_time", "now"),
    [(7, time(9), utc(2026, 1, 1)), (-1, time(9), utc(2026, 1, 1))],
)
def test_bad_arguments_are_rejected(weekday: int, local_time: time, now: datetime) -> None:
    with pytest.raises(ValueError):
        latest_occurrence(weekday, local_time, NY, now)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        latest_occurrence(0, time(9), NY, datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        next_occurrence(0, time(9, tzinfo=UTC), NY, utc(2026, 1, 1))


# ---------------------------------------------------------------------- properties

ZONES = timezone_choices()
zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(
    min_value=datetime(1975, 1, 1), max_value=datetime(2045, 12, 31), timezones=st.just(UTC)
)
weekdays = st.integers(min_value=0, max_value=6)
times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 29, 30, 45, 59]))
dst_zones = st.sampled_from(
    [
        "America/New_York",
        "Europe/London",
        "Europe/Berlin",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Beirut",
        "America/Havana",
        "Pacific/Chatham",
        "Antarctica/Troll",
        "Africa/Casablanca",
        "Pacific/Apia",
    ]
).map(ZoneInfo)
any_zone = st.one_of(zones, dst_zones)

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(weekday=weekdays, local_time=times, tz=any_zone, now=instants)
def test_latest_is_at_or_before_now_and_next_is_after(
    weekday: int, local_time: time, tz: ZoneInfo, now: datetime
) -> None:
    latest = latest_occurrence(weekday, local_time, tz, now)
    upcoming = next_occurrence(weekday, local_time, tz, now)
    assert latest.tzinfo is UTC and upcoming.tzinfo is UTC
    assert latest <= now < upcoming
    # consecutive weekly occurrences: nothing scheduled in between
    assert next_occurrence(weekday, local_time, tz, latest) == upcoming
    assert latest_occurrence(weekday, local_time, tz, upcoming) == upcoming
    assert latest_occurrence(weekday, local_time, tz, upcoming - timedelta(microseconds=1)) == (
        latest
    )
    # a week apart, give or take an offset change (at most a day: Pacific date-line moves)
    assert timedelta(days=6) <= upcoming - latest <= timedelta(days=8)
    assert slot_key(latest, tz) != slot_key(upcoming, tz)


@PROPS
@given(weekday=weekdays, local_time=times, tz=any_zone, now=instants)
def test_latest_has_the_requested_local_weekday_and_time_outside_gaps(
    weekday: int, local_time: time, tz: ZoneInfo, now: datetime
) -> None:
    latest = latest_occurrence(weekday, local_time, tz, now)
    local = latest.astimezone(tz)
    scheduled_day = local.date()
    if local.time() != local_time:
        # only a DST gap (or a skipped day) may move the wall clock, and only forward
        scheduled_day = next(
            d for d in (local.date(), local.date() - timedelta(days=1)) if d.weekday() == weekday
        )
        assert in_gap(scheduled_day, local_time, tz)
        naive_wall = datetime.combine(scheduled_day, local_time)
        assert local.replace(tzinfo=None) > naive_wall
    else:
        assert local.weekday() == weekday
        assert local.fold == 0 or _first_of_fold(local)


def _first_of_fold(local: datetime) -> bool:
    """In a fold, fold=0 must have been used: the earlier instant of the two."""
    earlier = local.replace(fold=0).astimezone(UTC)
    return local.astimezone(UTC) == earlier


@PROPS
@given(weekday=weekdays, local_time=times, tz=dst_zones, now=instants)
def test_apscheduler_never_wakes_us_for_a_slot_we_do_not_expect(
    weekday: int, local_time: time, tz: ZoneInfo, now: datetime
) -> None:
    """Every CronTrigger fire time maps (via latest_occurrence) to a slot whose occurrence is
    at most the fire time, and the first fire time after an occurrence is that occurrence or
    a repeat of it (the fold) — so a wake-up always finds its slot due."""
    trigger = CronTrigger(
        day_of_week=DAYS[weekday], hour=local_time.hour, minute=local_time.minute, timezone=tz
    )
    fire = trigger.get_next_fire_time(None, now)
    if fire is None:  # pragma: no cover - weekly triggers always fire again
        return
    fire_utc = fire.astimezone(UTC)
    occurrence = latest_occurrence(weekday, local_time, tz, fire_utc)
    assert occurrence <= fire_utc
    # the wake-up is at most a fold's repeat (or a day-skip) away from the occurrence
    assert fire_utc - occurrence <= timedelta(hours=3) or in_gap(
        occurrence.astimezone(tz).date(), local_time, tz
    )


# ---------------------------------------------------------------------- decide

OCC = utc(2026, 9, 7, 9, 0)
CREATED = utc(2026, 8, 1)
M15, H6 = timedelta(minutes=15), timedelta(hours=6)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (OCC - timedelta(seconds=1), "not_yet"),
        (OCC, "on_time"),
        (OCC + M15, "on_time"),
        (OCC + M15 + timedelta(seconds=1), "late"),
        (OCC + H6, "late"),
        (OCC + H6 + timedelta(seconds=1), "missed"),
        (OCC + timedelta(weeks=3), "missed"),
    ],
)
def test_decide_windows(now: datetime, expected: str) -> None:
    assert decide(OCC, now, created_at=CREATED, on_time=M15, grace=H6) == expected


def test_decide_ignores_occurrences_before_the_schedule_existed() -> None:
    created = OCC + timedelta(minutes=1)
    assert decide(OCC, OCC + timedelta(minutes=2), created_at=created) == (
        "before_schedule_existed"
    )
    assert decide(OCC, OCC + timedelta(minutes=2), created_at=OCC) == "on_time"


def test_decide_rejects_bad_windows_and_naive_times() -> None:
    with pytest.raises(ValueError):
        decide(OCC, OCC, created_at=CREATED, on_time=H6, grace=M15)
    with pytest.raises(ValueError):
        decide(OCC.replace(tzinfo=None), OCC, created_at=CREATED)


# ---------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "name",
    ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "UTC", "America/Argentina/Buenos_Aires"],
)
def test_valid_timezones(name: str) -> None:
    assert is_valid_timezone(name)
    ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [
        "EST",
        "US/Eastern",
        "Etc/GMT+5",
        "GB",
        "EST5EDT",
        "Etc/UTC",
        "Zulu",
        "",
        "america/new_york",
        "America/Nowhere",
        "../etc/passwd",
        "posixrules",
    ],
)
def test_legacy_and_bogus_timezones_are_rejected(name: str) -> None:
    assert not is_valid_timezone(name)


def test_choices_are_area_location_names_that_load() -> None:
    choices = timezone_choices()
    assert choices == sorted(choices)
    assert len(choices) > 300
    assert "UTC" in choices
    for name in choices:
        assert name == "UTC" or name.split("/", 1)[0] in {
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
        ZoneInfo(name)


def test_search_by_city_with_spaces_and_case() -> None:
    assert search_timezones("new york")[0] == "America/New_York"
    assert search_timezones("NEW_YORK")[0] == "America/New_York"
    assert "Europe/Berlin" in search_timezones("berl")


def test_search_puts_prefix_matches_first_and_respects_limit() -> None:
    results = search_timezones("to", limit=200)
    first_substring = next(
        i
        for i, name in enumerate(results)
        if not name.rsplit("/", 1)[-1].lower().startswith("to")
        and not name.lower().startswith("to")
    )
    assert all(
        name.rsplit("/", 1)[-1].lower().startswith("to") for name in results[:first_substring]
    )
    assert "Asia/Tokyo" in results[:first_substring]
    assert len(search_timezones("a", limit=25)) == 25
    assert search_timezones("", limit=3) == timezone_choices()[:3]
    assert search_timezones("zzzz-nothing") == []
    assert search_timezones("america", limit=0) == []
    assert all(is_valid_timezone(name) for name in search_timezones("e", limit=500))


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_time_of_day_reads_every_valid_time(hour: int, minute: int) -> None:
    from bot.schedule_math import parse_time_of_day

    assert parse_time_of_day(f" {hour}:{minute:02d} ") == time(hour, minute)


@pytest.mark.parametrize("text", ["", "24:00", "9", "9:5", "12:60", "noon", "9.30", None])
def test_parse_time_of_day_refuses_other_text(text: str | None) -> None:
    from bot.schedule_math import TimeOfDayError, parse_time_of_day

    with pytest.raises(TimeOfDayError, match="HH:MM"):
        parse_time_of_day(text)
