"""Pure digest rules: windows, trend, needs-attention boundaries, and Discord's limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest import (
    REASONS,
    AttentionRow,
    DigestSettings,
    FollowUp,
    StudentFacts,
    WeekTotals,
    attention_user_ids,
    headline,
    needs_attention,
    paginate,
    split_text,
    trend,
    week_windows,
)

NY = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # the Monday after the DST change
DAY = timedelta(days=1)


def facts(**changes: object) -> StudentFacts:
    base: dict[str, object] = {
        "user_id": 1,
        "name": "Ada",
        "joined_at": AS_OF - 60 * DAY,
        "last_active": AS_OF - DAY,
        "introduced": True,
        "answers_total": 0,
        "replies_given_total": 0,
        "unanswered_answers": 0,
        "dm_closed": False,
        "reach_out": False,
    }
    base.update(changes)
    return StudentFacts(**base)  # type: ignore[arg-type]


def codes(student: StudentFacts, **kw: int) -> tuple[str, ...]:
    rows = needs_attention([student], AS_OF, DigestSettings(**kw))
    return rows[0].codes if rows else ()


def test_windows_follow_the_local_wall_clock_across_dst() -> None:
    windows = week_windows(AS_OF, NY, 3)
    assert windows[0][1] == AS_OF
    # The week containing the fall-back change is 169 hours long in UTC.
    assert windows[0][1] - windows[0][0] == timedelta(hours=169)
    assert windows[1][1] == windows[0][0] and windows[2][1] == windows[1][0]
    for start, end in windows:
        assert (
            start.astimezone(NY).time() == end.astimezone(NY).time() == AS_OF.astimezone(NY).time()
        )


def test_trend_needs_a_real_change() -> None:
    assert trend(0, 0) == "quiet"
    assert trend(2, 0) == "up" and trend(1, 0) == "steady"
    assert trend(10, 8) == "up" and trend(9, 8) == "steady"
    assert trend(6, 8) == "down" and trend(7, 8) == "steady"
    assert trend(12, 16) == "down" and trend(13, 16) == "steady"


def test_drifting_boundary_and_unknown_join() -> None:
    assert codes(facts(last_active=AS_OF - 14 * DAY)) == ("drifting",)
    assert codes(facts(last_active=AS_OF - 14 * DAY + timedelta(seconds=1))) == ()
    assert codes(facts(last_active=None, joined_at=AS_OF - 14 * DAY)) == ("drifting",)
    assert codes(facts(last_active=None, joined_at=AS_OF - 13 * DAY)) == ()
    # Joined "in the future" (clock skew): counts as now.
    assert codes(facts(last_active=None, joined_at=AS_OF + DAY)) == ()
    assert codes(facts(last_active=None, joined_at=None)) == ("drifting",)
    assert codes(facts(last_active=AS_OF - 5 * DAY), drift_days=5) == ("drifting",)


def test_away_replaces_engagement_rules_but_not_urgent_ones() -> None:
    away = date(2026, 11, 20)
    student = facts(last_active=AS_OF - 30 * DAY, introduced=False, away_until=away)
    assert codes(student) == ("away",)
    student = facts(last_active=AS_OF - 30 * DAY, reach_out=True, dm_closed=True, away_until=away)
    assert codes(student) == ("reach_out", "dm_closed", "away")
    assert codes(facts(away_until=away)) == ()  # away but active: not listed


def test_not_available_data_is_never_a_reason() -> None:
    student = StudentFacts(1, "Ada", AS_OF - 60 * DAY, AS_OF - DAY)
    assert codes(student) == ()
    assert codes(facts(answers_total=2, replies_given_total=0)) == ("not_replying",)
    assert codes(facts(answers_total=2, replies_given_total=1)) == ()
    assert codes(facts(answers_total=1, replies_given_total=0)) == ()
    assert codes(facts(introduced=False, joined_at=AS_OF - 7 * DAY)) == ("never_introduced",)
    assert codes(facts(introduced=False, joined_at=AS_OF - 7 * DAY + timedelta(seconds=1))) == ()


def test_matching_reasons_only_when_known() -> None:
    assert codes(facts(matched_twice_without_meeting=True)) == ("no_meeting",)
    assert codes(facts(matched_twice_without_meeting=False, reported=False)) == ()
    assert codes(facts(reported=True, introduced=False)) == ("reported", "never_introduced")


def test_rows_are_sorted_by_urgency_then_reasons_then_idle_then_name() -> None:
    students = [
        facts(user_id=1, name="Zed", introduced=False),
        facts(user_id=2, name="Bea", dm_closed=True, introduced=False),
        facts(user_id=3, name="Cal", reach_out=True),
        facts(user_id=4, name="Abe", last_active=AS_OF - 20 * DAY),
        facts(user_id=5, name="Dee", last_active=AS_OF - 30 * DAY),
    ]
    order = [r.user_id for r in needs_attention(students, AS_OF, DigestSettings())]
    assert order == [3, 5, 4, 2, 1]


def test_headline_marks_not_available_and_empty_ratios() -> None:
    this = WeekTotals(active=3, students=5, answers=0, replies_substantive=0, replies_short=0)
    last = WeekTotals(active=4, students=5)
    lines = {line.label: line for line in headline(this, last)}
    assert lines["Students active"].value() == "**3 of 5** ↓ (last week 4 of 5)"
    assert lines["Replies per answer"].value() == "**no answers** (last week not available)"
    assert lines["Kudos"].value() == "not available"


# ---------------------------------------------------------------------- limits (hypothesis)

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120)
reason_lists = st.lists(
    st.tuples(st.sampled_from(REASONS), st.text(min_size=1, max_size=600)),
    min_size=1,
    max_size=len(REASONS),
)


@st.composite
def attention_rows(draw: st.DrawFn) -> list[AttentionRow]:
    count = draw(st.integers(min_value=0, max_value=40))
    rows = []
    for index in range(count):
        follow = draw(
            st.none()
            | st.builds(
                FollowUp,
                st.sampled_from(["reaching_out", "contacted", "excused"]),
                st.integers(1, 10**18),
                names,
                st.just(AS_OF),
            )
        )
        rows.append(
            AttentionRow(
                user_id=10**17 + index,
                name=draw(names),
                reasons=tuple(draw(reason_lists)),
                days_inactive=draw(st.integers(0, 400)),
                follow_up=follow,
            )
        )
    return rows


@settings(max_examples=60, deadline=None)
@given(
    rows=attention_rows(),
    highlights=st.lists(st.text(max_size=3000), max_size=6),
    description=st.text(max_size=9000),
    title=st.text(max_size=400),
)
def test_every_message_fits_and_every_row_appears_once(
    rows: list[AttentionRow], highlights: list[str], description: str, title: str
) -> None:
    totals = WeekTotals(active=1, students=2)
    messages = paginate(
        title=title or "Digest",
        headline_lines=headline(totals, totals),
        pulse_lines=["Fewer than 5 students answered"],
        highlights=highlights,
        chart_description=description,
        attention=rows,
        cohort_name="Cohort 1",
    )
    for message in messages:
        assert message.within_limits(), message
    assert attention_user_ids(messages) == [r.user_id for r in rows]
    # Nothing silently cut: every reason text and highlight is somewhere in full.
    shown = "\n".join(
        "\n".join([e.title, e.description, *(f.name + "\n" + f.value for f in e.fields)])
        for m in messages
        for e in m.embeds
    )
    for row in rows:
        assert f"<@{row.user_id}>" in shown
    for text in highlights:
        for piece in text.split("\n"):
            assert piece[:1000] in shown
    # The chart description is split, never cut.
    chart = "\n".join(
        e.description
        for m in messages
        for e in m.embeds
        if e.title.startswith("Participation per week")
    )
    assert chart == description


@given(text=st.text(max_size=20000), limit=st.integers(min_value=1, max_value=5000))
def test_split_text_round_trips(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces) == text
    assert all(pieces) or pieces == [""]
