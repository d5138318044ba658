"""The coffee shop's pure rules, property-tested: kudos limits, the pulse, circles, questions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.schedule_math import TimeOfDayError, parse_time_of_day
from cogs.coffee_shop.rules import (
    CELEBRATION_REACTIONS,
    MILESTONES,
    PULSE_CHOICES,
    choose_thread,
    circle_thread_name,
    kudos_next_allowed,
    milestone_roundup_lines,
    next_question_index,
    parse_message_link,
    pulse_week,
    roundup_post,
    share_post,
    summarize_pulse,
)
from cogs.coffee_shop.service import load_questions

NOW = datetime(2026, 9, 9, 15, 0, tzinfo=UTC)  # a Wednesday

instants = st.integers(min_value=0, max_value=3 * 24 * 3600).map(
    lambda s: NOW - timedelta(seconds=s)
)

# ---------------------------------------------------------------------- kudos


@given(st.lists(instants, max_size=12), st.integers(min_value=1, max_value=5))
def test_kudos_limit_is_a_rolling_day(sent: list[datetime], per_day: int) -> None:
    allowed_at = kudos_next_allowed(sent, NOW, per_day)
    in_window = [t for t in sent if NOW - timedelta(days=1) < t <= NOW]
    if allowed_at is None:
        assert len(in_window) < per_day
    else:
        assert len(in_window) >= per_day
        assert allowed_at > NOW
        # At that instant there is room again, and not a second earlier.
        at = [t for t in sent if allowed_at - timedelta(days=1) < t <= allowed_at]
        assert len(at) < per_day
        assert kudos_next_allowed(sent, allowed_at - timedelta(seconds=1), per_day) is not None


def test_kudos_limit_examples() -> None:
    assert kudos_next_allowed([], NOW, 3) is None
    two = [NOW - timedelta(hours=2), NOW - timedelta(hours=1)]
    assert kudos_next_allowed(two, NOW, 3) is None
    three = [*two, NOW - timedelta(hours=5)]
    assert kudos_next_allowed(three, NOW, 3) == NOW - timedelta(hours=5) + timedelta(days=1)
    old = [NOW - timedelta(days=2)] * 5
    assert kudos_next_allowed(old, NOW, 1) is None


# ---------------------------------------------------------------------- pulse

tallies = st.fixed_dictionaries(
    {key: st.integers(min_value=0, max_value=8) for key, _ in PULSE_CHOICES}
)


@given(tallies, st.integers(min_value=1, max_value=10))
def test_pulse_is_hidden_below_the_minimum(counts: dict[str, int], minimum: int) -> None:
    summary = summarize_pulse(counts, minimum)
    total = sum(counts.values())
    if total < minimum:
        assert summary.hidden and summary.counts is None and summary.respondents is None
        # What is shown is the same whatever the hidden answers were.
        assert summary.lines() == summarize_pulse({}, minimum).lines()
    else:
        assert summary.counts == counts and summary.respondents == total
        assert len(summary.lines()) == len(PULSE_CHOICES)


def test_pulse_week_is_the_course_week() -> None:
    zone = ZoneInfo("America/New_York")
    monday, closes = pulse_week(NOW, zone)
    assert monday == date(2026, 9, 7)
    assert closes == datetime(2026, 9, 14, 4, 0, tzinfo=UTC)  # Monday 00:00 EDT
    # Sunday late evening local is still the same week.
    assert pulse_week(datetime(2026, 9, 14, 3, 59, tzinfo=UTC), zone)[0] == monday


# ---------------------------------------------------------------------- circles


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=12))
def test_circle_threads_never_exceed_the_cap(joins: int, cap: int) -> None:
    threads: list[list[int]] = []  # [thread_id, members]
    for _ in range(joins):
        chosen = choose_thread([(t, n) for t, n in threads], cap)
        if chosen is None:
            threads.append([len(threads) + 1, 1])
        else:
            for entry in threads:
                if entry[0] == chosen:
                    entry[1] += 1
    assert all(n <= cap for _, n in threads)
    assert len(threads) == -(-joins // cap)  # ceil: a new thread only when all are full


def test_leaving_frees_a_seat_in_the_first_thread() -> None:
    assert choose_thread([(1, 2), (2, 1)], 2) == 2
    assert choose_thread([(1, 1), (2, 2)], 2) == 1
    assert choose_thread([(1, 2), (2, 2)], 2) is None
    assert circle_thread_name("Caregivers", 1) == "Caregivers"
    assert circle_thread_name("Caregivers", 2) == "Caregivers 2"


# ---------------------------------------------------------------------- questions


@given(st.integers(min_value=1, max_value=40), st.integers())
def test_questions_never_repeat_until_the_bank_is_used_up(count: int, seed: int) -> None:
    asked: list[int] = []
    for _ in range(count):
        asked.append(next_question_index(count, asked, seed))
    assert sorted(asked) == list(range(count))
    # Then the least recently asked comes back first.
    assert next_question_index(count, asked, seed) == asked[0]


def test_the_shipped_question_bank() -> None:
    questions = load_questions()
    assert len(questions) >= 24
    assert len(set(questions)) == len(questions)
    assert all(10 < len(q) < 300 for q in questions)


# ---------------------------------------------------------------------- posts


def test_rough_week_gets_support_links_and_no_celebration() -> None:
    post = share_post(
        kind="rough_week",
        text="My mum is in hospital.",
        author_name=None,
        author_mention=None,
        support_links="Talk to us.",
    )
    assert post.reactions == ()
    assert "without a name" in post.plain_text()
    assert ("If you need support", "Talk to us.") in post.fields
    assert post.ping_user_ids == ()


def test_celebration_credits_the_student_and_reads_as_text() -> None:
    post = share_post(
        kind="course_win",
        text="I passed the midterm!",
        author_name="Amara",
        author_mention="<@1>",
        support_links=None,
    )
    assert post.reactions == CELEBRATION_REACTIONS
    assert "course win from Amara" in post.plain_text()
    assert post.ping_user_ids == ()  # crediting is not pinging


def test_roundup_counts_without_names() -> None:
    assert roundup_post({}) is None
    lines = milestone_roundup_lines({"intro_posted": 3, "first_answer": 1, "bogus": 9})
    assert lines == [
        "• 3 classmates posted their introduction",
        "• 1 classmate answered their first discussion prompt",
    ]
    post = roundup_post({"intro_posted": 3})
    assert post is not None and post.title == "3 milestones reached this week"
    assert set(MILESTONES) >= {"intro_posted", "first_answer", "first_peer_reply"}


# ---------------------------------------------------------------------- parsing


def test_parse_time_of_day() -> None:
    assert parse_time_of_day("9:05") == time(9, 5)
    assert parse_time_of_day(" 18:30 ") == time(18, 30)
    for bad in ("", "25:00", "12:60", "noon", "12"):
        with pytest.raises(TimeOfDayError, match="HH:MM"):
            parse_time_of_day(bad)


def test_parse_message_link() -> None:
    link = "https://discord.com/channels/123456789012345678/223456789012345678/323456789012345678"
    assert parse_message_link(link) == (123456789012345678, 223456789012345678, 323456789012345678)
    assert parse_message_link(f"<{link}>") is not None
    assert parse_message_link("https://example.com/channels/1/2/3") is None
    assert parse_message_link("hello") is None
