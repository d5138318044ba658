"""The digest's numbers from gathered data (cogs.digest.tally): pure, so checked on plain
values, with the real result types of the features that provide them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.store.calendar import AwayRecord
from cogs.coffee_chats.repository import WeekOutcomes
from cogs.coffee_shop.rules import WeekStats
from cogs.digest.repository import ActivityAggregate, FollowUpRecord
from cogs.digest.rules import WeekTotals, week_windows
from cogs.digest.tally import (
    DigestInputs,
    IntroAggregate,
    StudentRef,
    chart_points,
    csv_name,
    digest_title,
    highlights,
    student_facts,
    week_totals,
)
from cogs.prompts.repository import PromptWindowCounts

NY = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # the Monday after the DST change
DAY = timedelta(days=1)
IDS = [1, 2, 3, 4, 5]


def inputs(weeks: int = 2, **changes: Any) -> DigestInputs:
    values: dict[str, Any] = {
        "windows": week_windows(AS_OF, NY, weeks),
        "activity": ActivityAggregate(),
        "intros": IntroAggregate(),
        "prompts": PromptWindowCounts(),
        "coffee_now": WeekStats(),
        "coffee_then": WeekStats(),
        "away": {},
        "dm_closed": {},
        "follow_ups": {},
    }
    values.update(changes)
    return DigestInputs(**values)


def refs(*ids: int, joined: datetime | None = None) -> list[StudentRef]:
    return [StudentRef(uid, f"S{uid}", joined) for uid in ids]


def test_facts_keep_roster_order_and_say_not_available_without_the_feature() -> None:
    facts = student_facts(refs(3, 1, 2), inputs(), AS_OF, str)
    assert [f.user_id for f in facts] == [3, 1, 2]
    for f in facts:
        # prompts and coffee chats not installed: None, never 0 / False
        assert f.answers_this_week is None and f.replies_given_total is None
        assert f.matched is None and f.met is None and f.reported is None
        assert f.matched_twice_without_meeting is None
        # the digest's own and the always-present features: real values
        assert f.introduced is False and f.welcomed_by == 0 and f.dm_closed is False
        assert f.follow_up is None and f.away_until is None


def test_facts_from_every_source() -> None:
    arrived = AS_OF - 3 * DAY
    joined = AS_OF - 10 * DAY
    now, then = WeekOutcomes({1: "met", 2: None}, met={1}), WeekOutcomes()
    data = inputs(
        activity=ActivityAggregate(events={1: [4, 2]}, last_active={1: AS_OF - DAY}),
        intros=IntroAggregate(
            introduced_at={1: joined}, arrived_at={1: arrived}, welcomed_by={1: 3}
        ),
        prompts=PromptWindowCounts(
            available=True,
            answers={1: [2, 0]},
            replies_substantive={1: [1, 5]},
            replies_short={1: [2, 0]},
            replies_received={1: [7, 0]},
            answers_total={1: 9},
            replies_given_total={1: 4},
            unanswered={1: 1},
        ),
        coffee_now=WeekStats(reach_out_user_ids=(2,)),
        away={2: AwayRecord(900, 2, date(2026, 11, 9), None, AS_OF - DAY)},
        dm_closed={2: AS_OF},
        follow_ups={
            1: FollowUpRecord(900, 1, 1, "contacted", 77, AS_OF - 20 * DAY),
            2: FollowUpRecord(900, 1, 2, "reaching_out", None, AS_OF - DAY),
        },
        match_now=now,
        match_then=then,
        matched_twice={2},
        reported={1},
    )
    one, two = student_facts(refs(1, 2, joined=joined), data, AS_OF, lambda uid: f"lead {uid}")
    assert one.joined_at == joined  # the earlier of arriving and joining
    assert (one.events_this_week, one.events_last_week, one.last_active) == (4, 2, AS_OF - DAY)
    assert (one.introduced, one.welcomed_by) == (True, 3)
    assert (one.answers_this_week, one.replies_given_this_week) == (2, 3)
    assert (one.replies_received_this_week, one.answers_total) == (7, 9)
    assert (one.replies_given_total, one.unanswered_answers) == (4, 1)
    assert (one.matched, one.met, one.reported, one.matched_twice_without_meeting) == (
        True,
        True,
        True,
        False,
    )
    assert one.follow_up is not None and one.follow_up.lead_name == "lead 77"
    assert one.follow_up.expired  # contacted 20 days ago: carried for 14
    assert (two.answers_this_week, two.replies_given_total) == (0, 0)
    assert (two.away_until, two.dm_closed, two.reach_out) == (date(2026, 11, 9), True, True)
    assert (two.matched, two.met, two.matched_twice_without_meeting) == (True, False, True)
    assert two.follow_up is not None and two.follow_up.lead_name == "a former lead"
    assert not two.follow_up.expired


counts = st.dictionaries(
    st.integers(1, 8), st.lists(st.integers(0, 3), min_size=4, max_size=4), max_size=8
)
outcomes = st.dictionaries(
    st.integers(1, 8), st.sampled_from(["met", "not_yet", "no_connect", None])
)


@settings(max_examples=150, deadline=None)
@given(
    events=counts,
    answers=counts,
    substantive=counts,
    short=counts,
    roster=st.sets(st.integers(1, 8)),
    chats=st.none() | st.tuples(outcomes, st.sets(st.integers(1, 8))),
    away=st.sets(st.integers(1, 8)),
)
def test_week_totals_count_only_the_roster(
    events: dict[int, list[int]],
    answers: dict[int, list[int]],
    substantive: dict[int, list[int]],
    short: dict[int, list[int]],
    roster: set[int],
    chats: tuple[dict[int, Any], set[int]] | None,
    away: set[int],
) -> None:
    match = None if chats is None else WeekOutcomes(chats[0], met=chats[1] & set(chats[0]))
    data = inputs(
        weeks=4,
        activity=ActivityAggregate(events=events),
        prompts=PromptWindowCounts(
            available=True, answers=answers, replies_substantive=substantive, replies_short=short
        ),
        away={uid: AwayRecord(900, uid, date(2026, 11, 9), None, AS_OF) for uid in away},
        match_now=match,
        match_then=match,
    )
    this, last = week_totals(data, roster)
    for k, totals in enumerate((this, last)):
        assert totals.students == len(roster)
        assert totals.active == sum(1 for u in roster if events.get(u, [0] * 4)[k] > 0)
        # prompt totals cover the cohort's prompts (already filtered by the query)
        assert totals.answers == sum(v[k] for v in answers.values())
        assert totals.replies_short == sum(v[k] for v in short.values())
        if match is None:
            assert (totals.chats_met, totals.chats_not_yet, totals.chats_failed) == (None,) * 3
        else:
            parts = (totals.chats_met, totals.chats_not_yet, totals.chats_failed)
            assert all(p is not None and p >= 0 for p in parts)
            assert sum(p or 0 for p in parts) == len(match.matched & roster)
    assert this.away == len(away & roster)
    assert last.away is None  # away is a current state: not kept for last week

    points = chart_points(data, roster, NY)
    assert len(points) >= 2
    assert [p.week_start for p in points] == sorted(p.week_start for p in points)
    if len(points) > 2:  # leading empty weeks are dropped, never a week with something in it
        assert points[0].active or points[0].answers or points[0].replies
    newest = points[-1]
    assert (newest.active, newest.answers) == (this.active, this.answers)
    assert newest.replies == (this.replies_substantive or 0) + (this.replies_short or 0)


def test_chart_points_without_prompts_and_the_dropped_weeks() -> None:
    data = inputs(weeks=5, activity=ActivityAggregate(events={1: [1, 0, 2, 0, 0]}))
    points = chart_points(data, {1, 2}, NY)
    # windows newest first [1, 0, 2, 0, 0] -> oldest first, the two empty oldest dropped
    assert [(p.active, p.answers, p.replies) for p in points] == [
        (1, None, None),
        (0, None, None),
        (1, None, None),
    ]
    assert points[-1].week_start == date(2026, 10, 26)
    empty = chart_points(inputs(weeks=5), {1}, NY)
    assert len(empty) == 2  # at least two weeks stay


def test_highlights() -> None:
    this = WeekTotals(active=0, students=0, kudos=3, milestones=1)
    assert highlights(9, PromptWindowCounts(), str, this) == [
        "Most-replied answer: not available (prompts are not set up).",
        "New kudos: 3",
        "Milestones reached: 1",
    ]
    none = PromptWindowCounts(available=True)
    assert highlights(9, none, str, this)[0] == "Most-replied answer: no peer replies this week."
    one = PromptWindowCounts(available=True, most_replied=(5, 6, 7, 1))
    assert highlights(9, one, lambda uid: f"N{uid}", this)[0] == (
        "Most-replied answer: N5's — 1 reply → https://discord.com/channels/9/6/7"
    )
    two = PromptWindowCounts(available=True, most_replied=(5, 6, 7, 2))
    assert "— 2 replies →" in highlights(9, two, str, this)[0]


def test_title_and_csv_name_use_the_local_date() -> None:
    late = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)  # still Nov 2 in New York
    assert digest_title("Cohort 1", "Week 3", late, NY) == (
        "Weekly digest — Cohort 1 — Week 3, 7 days to Mon Nov 02 21:30"
    )
    assert digest_title("C", "Break", late, NY, final=True).startswith("Final digest — C — ")
    assert csv_name("Evening Cohort #2!", late, NY) == "digest-evening-cohort--2-2026-11-02.csv"
    assert csv_name("!!!", late, NY) == "digest-cohort-2026-11-02.csv"
