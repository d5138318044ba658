"""Pure digest rules: windows, trend, needs-attention boundaries, and Discord's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.digest.rules import (
    FOLLOW_UP_BUTTON_ROWS,
    FOLLOW_UP_CARRY_DAYS,
    REASONS,
    AttentionRow,
    DigestModel,
    DigestSettings,
    FollowUp,
    MessageSpec,
    StudentFacts,
    WeekTotals,
    attention_messages,
    attention_user_ids,
    follow_up_expired,
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
def attention_rows(draw: st.DrawFn, max_rows: int = 60) -> list[AttentionRow]:
    count = draw(st.integers(min_value=0, max_value=max_rows))
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
                expired=st.booleans(),
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


def message_text(message: MessageSpec) -> str:
    return "\n".join(
        "\n".join([e.title, e.description, *(f.name + "\n" + f.value for f in e.fields)])
        for e in message.embeds
    )


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
    model = DigestModel(
        title=title or "Digest",
        this_week=totals,
        last_week=totals,
        headline=headline(totals, totals),
        attention=rows,
        rows=[],
        highlights=highlights,
        pulse_lines=["Fewer than 5 students answered"],
    )
    messages = paginate(model, chart_description=description, cohort_name="Cohort 1")
    for message in messages:
        assert message.within_limits(), message
    # Buttons: the most urgent open rows, in list order, at most FOLLOW_UP_BUTTON_ROWS.
    open_rows = [r.user_id for r in rows if r.is_open]
    assert attention_user_ids(messages) == open_rows[:FOLLOW_UP_BUTTON_ROWS]
    # Each row's buttons sit on the message that shows the row.
    for message in messages:
        for _, user_id in message.buttons:
            assert f"<@{user_id}>" in message_text(message)
    # Every row exactly once, nothing silently cut.
    shown = "\n".join(message_text(m) for m in messages)
    for row in rows:
        assert shown.count(f"<@{row.user_id}>") == 1, row
        if sum(len(words) + 4 for _, words in row.reasons) + len(row.name) < 900:  # never split
            for _, words in row.reasons:
                assert all(part in shown for part in words.split("\n"))
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


def realistic_rows(count: int, followed: int = 0) -> list[AttentionRow]:
    reasons = (
        ("drifting", "no activity for 23 days"),
        ("never_introduced", "never introduced themselves"),
    )
    return [
        AttentionRow(
            user_id=10**17 + i,
            name=f"Student number {i} with a long display name",
            reasons=reasons,
            days_inactive=23,
            follow_up=FollowUp("contacted", 1, "Tomás (TA)", AS_OF) if i < followed else None,
        )
        for i in range(count)
    ]


def test_a_large_cohort_gets_few_messages_and_25_button_rows() -> None:
    rows = realistic_rows(1_205, followed=3)
    messages = attention_messages(rows, "Cohort 1")
    assert all(m.within_limits() for m in messages)
    buttons = attention_user_ids(messages)
    # The three contacted students are not open: the buttons go to rows 4–28.
    assert buttons == [r.user_id for r in rows[3:28]]
    with_buttons = [m for m in messages if m.buttons]
    assert len(with_buttons) == 5 and all(len(m.buttons) == 5 for m in with_buttons)
    lists = [m for m in messages if m.list_page]
    assert len(messages) == len(with_buttons) + len(lists) <= 40
    # The list pages hold the other 1,180 rows, one line each, in order with positions.
    lines = [line for m in lists for e in m.embeds for line in e.description.split("\n") if line]
    assert len(lines) == 1_180
    assert lines[0].startswith("1. Student number 0 ") and "✅ contacted by Tomás (TA)" in lines[0]
    assert lines[3].startswith("29. Student number 28 ")
    summary = messages[0].embeds[0].description
    assert "1,205 students in Cohort 1" in summary
    assert "1,205 drifting · 1,205 never introduced" in summary
    assert "/digest follow-up" in summary


def test_small_lists_keep_one_button_row_per_student_and_no_list_pages() -> None:
    rows = realistic_rows(7, followed=1)
    messages = attention_messages(rows, "Cohort 1")
    assert attention_user_ids(messages) == [r.user_id for r in rows[1:]]
    assert [len(m.buttons) for m in messages if m.buttons] == [5, 1]
    listed = [m for m in messages if m.list_page]
    assert len(listed) == 1 and "1. Student number 0" in listed[0].embeds[0].description


def test_follow_ups_expire_after_their_carry_days() -> None:
    set_at = AS_OF - 14 * DAY
    assert follow_up_expired("contacted", set_at, AS_OF)
    assert not follow_up_expired("contacted", set_at + timedelta(seconds=1), AS_OF)
    assert follow_up_expired("reaching_out", set_at, AS_OF)
    assert not follow_up_expired("excused", set_at, AS_OF)
    assert follow_up_expired("excused", AS_OF - 28 * DAY, AS_OF)
    assert FOLLOW_UP_CARRY_DAYS == {"reaching_out": 14, "contacted": 14, "excused": 28}
    old = FollowUp("contacted", 1, "Tomás", set_at, expired=True)
    assert (
        old.line() == f"nobody yet (earlier: ✅ contacted by Tomás <t:{int(set_at.timestamp())}:R>)"
    )
    row = AttentionRow(1, "Ada", (("drifting", "no activity for 20 days"),), 20, old)
    assert row.is_open
    assert not replace(row, follow_up=replace(old, expired=False)).is_open
    assert replace(row, follow_up=FollowUp("reaching_out", 1, "T", AS_OF)).is_open


@given(text=st.text(max_size=20000), limit=st.integers(min_value=1, max_value=5000))
def test_split_text_round_trips(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces) == text
    assert all(pieces) or pieces == [""]
