"""The nudge engine end to end: calendar, opt-in, away, caps, DMs closed, preview and send-now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cogs.nudges import NudgeEngine
from cogs.nudges.service import NudgeCandidate, NudgeContext, NudgeKind
from tests.support.course import Course, app_of, channel
from tests.support.logs import ErrorLogWatcher
from tests.support.nudges import opt_in, start_course

# Wednesday 2026-09-23 10:05 in New York: the default check-in batch (Wednesdays 10:00).
CHECKIN_DAY = datetime(2026, 9, 23, 14, 5, tzinfo=UTC)


def public_texts(course: Course) -> str:
    """Everything the bot posted in the guild's channels and threads (not DMs)."""
    s = course.sandbox
    texts = []
    for place in s.channels_in(course.guild_id) + s.threads_in(course.guild_id):
        for message in s.messages(int(place["id"])):
            texts.append(str(message.get("content") or ""))
            texts.extend(str(e) for e in message.get("embeds") or [])
    return "\n".join(texts)


async def test_calendar_set_and_show(course: Course) -> None:
    await start_course(course, breaks="2026-10-14")
    shown = await course.slash(course.world.instructor_id, "course calendar show")
    text = shown.text()
    assert "2026-10-12 — break" in text
    assert "2026-10-19 — week 8" in text
    assert "Today: **course week 3**" in text  # the fixture's clock: Monday 2026-09-07
    app = app_of(course)
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    week = await app.calendar.week_of(course.guild_id, cohort.cohort_id, CHECKIN_DAY)
    assert (week.state, week.number) == ("week", 5)
    bad = await course.slash(
        course.world.instructor_id,
        "course calendar set",
        {"start": "2026-08-24", "weeks": 10, "breaks": "next tuesday"},
    )
    assert "isn't a date" in bad.text() and "Nothing was changed" in bad.text()
    assert (await app.calendar.record(course.guild_id, cohort.cohort_id)).break_weeks  # type: ignore[union-attr]


async def test_checkin_goes_only_to_opted_in_students_outside_quiet_hours(
    course: Course,
) -> None:
    await start_course(course)
    app = app_of(course)
    s, w = course.sandbox, course.world
    opted, silent, away, closed = w.student_ids[:4]
    for student in (opted, away, closed):
        await opt_in(course, student)
    record = await course.slash(away, "away start", {"until": "2026-10-01", "note": "surgery"})
    assert "away until" in record.text()
    s.close_dms(closed)
    await app.activity_recorder.flush()

    # Ten days of silence, the check-in day, but 06:00 in New York: quiet hours.
    course.clock.set(datetime(2026, 9, 23, 10, 0, tzinfo=UTC))
    assert await app.services.get(NudgeEngine).run_due() == []  # before the 10:00 batch time
    course.clock.set(CHECKIN_DAY)
    preview = await course.slash(w.instructor_id, "course nudge preview")
    assert w.names[opted] in preview.text()
    assert "has not opted in to reminders: 3" in preview.text()  # counted, never named
    assert w.names[silent] not in preview.text()

    results = await app.services.get(NudgeEngine).run_due()
    assert [r.queued for r in results if r.kind == "checkin"] == [
        2
    ]  # opted + closed (not yet known)
    await app.outbox.drain()
    dms = s.dm_messages(opted)
    assert len(dms) == 1 and "checking in" in dms[0]["content"]
    assert dms[0]["components"], "a stop button under the DM"
    assert s.dm_messages(silent) == [] and s.dm_messages(away) == []
    # DMs closed: recorded, nothing public, the instructor sees it.
    assert closed in await app.services.get(NudgeEngine).dm_closed_users(course.guild_id)
    status = await course.slash(w.instructor_id, "course status")
    assert "DMs closed: 1" in status.text()
    for student in (silent, closed, away):
        assert w.names[student] not in public_texts(course)
        assert str(student) not in public_texts(course)

    # Never twice: the batch is claimed, send-now dedupes.
    assert await app.services.get(NudgeEngine).run_due() == []
    again = await course.slash(w.instructor_id, "course nudge send-now", {"kind": "checkin"})
    assert "Queued 0" in again.text()
    await app.outbox.drain()
    assert len(s.dm_messages(opted)) == 1

    # The stop button turns reminders off.
    stop_id = dms[0]["components"][0]["components"][0]["custom_id"]
    click = await s.click_button(s.dm_channel_of(opted), int(dms[0]["id"]), opted, stop_id)
    await click.wait_final()
    assert "Reminders are off" in click.text()
    assert not any((await app.services.get(NudgeEngine).opt_ins(course.guild_id, opted)).values())


async def test_break_week_and_closed_calendar_send_nothing(course: Course) -> None:
    await start_course(course, breaks="2026-09-21")
    app = app_of(course)
    student = course.world.student_ids[0]
    await opt_in(course, student)
    course.clock.set(CHECKIN_DAY)
    assert await app.services.get(NudgeEngine).run_due() == []
    record = await course.slash(
        course.world.instructor_id, "course nudge send-now", {"kind": "checkin"}
    )
    assert "break week" in record.text()
    await app.outbox.drain()
    assert course.sandbox.dm_messages(student) == []


async def test_weekly_cap_applies_across_kinds_and_away_ends(course: Course) -> None:
    await start_course(course)
    app = app_of(course)
    w = course.world
    student = w.student_ids[0]

    async def everyone(ctx: NudgeContext) -> list[NudgeCandidate]:
        return [NudgeCandidate(m.id, "test kind") for m in ctx.students]

    app.services.get(NudgeEngine).register_kind(
        NudgeKind("extra", "A test kind", "nudge_checkin", everyone, days="daily")
    )
    await opt_in(course, student)
    settings = await course.slash(w.instructor_id, "course nudge settings", {"weekly_cap": 1})
    assert "Weekly cap per student: 1" in settings.text()
    await app.activity_recorder.flush()
    course.clock.set(CHECKIN_DAY)
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert len(course.sandbox.dm_messages(student)) == 1
    course.clock.advance(timedelta(days=1))
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert len(course.sandbox.dm_messages(student)) == 1  # the cap holds the next day too
    # Staff are never nudged, even by a kind that lists everyone.
    assert course.sandbox.dm_messages(w.instructor_id) == []

    record = await course.slash(student, "away start", {"until": "2026-13-01"})
    assert "isn't a date" in record.text()
    record = await course.slash(student, "away end")
    assert "weren't marked away" in record.text()


async def test_nudges_status_and_opt_in_offer(course: Course, error_logs: ErrorLogWatcher) -> None:
    await course.setup_course()
    app = app_of(course)
    s, w = course.sandbox, course.world
    student = w.student_ids[1]
    status = await course.slash(student, "nudges status")
    assert "⬜ off — **checkin**" in status.text()
    view = await app.services.get(NudgeEngine).offer_opt_in(course.guild_id, student)
    assert view is not None
    assert (
        await app.services.get(NudgeEngine).offer_opt_in(course.guild_id, student) is None
    )  # offered once
    bot = course.runner.bot
    assert bot is not None
    channel = bot.get_channel(w.general_channel_id)
    text = await app.services.get(NudgeEngine).offer_text(course.guild_id)
    sent = await channel.send(text, view=view)  # type: ignore[union-attr]
    yes = next(
        c["custom_id"]
        for row in s.message(sent.id)["components"]  # type: ignore[index]
        for c in row["components"]
        if "yes" in c["custom_id"]
    )
    click = await s.click_button(w.general_channel_id, sent.id, student, yes)
    await click.wait_final()
    assert "Reminders are on" in click.text()
    assert all((await app.services.get(NudgeEngine).opt_ins(course.guild_id, student)).values())


async def test_away_pauses_nudges_and_welcomes_back_by_dm(course: Course) -> None:
    await start_course(course)
    app = app_of(course)
    s = course.sandbox
    student, not_opted = course.world.student_ids[:2]
    await opt_in(course, student)
    for who in (student, not_opted):
        record = await course.slash(who, "away start", {"until": "2026-09-30"})
        assert "away until Wednesday 30 September 2026" in record.text()
    assert await app.away.is_away(course.guild_id, student, CHECKIN_DAY)
    course.clock.set(CHECKIN_DAY)
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert s.dm_messages(student) == []
    # The day after the away date: welcome back, by DM only to the one who opted in.
    course.clock.set(datetime(2026, 10, 1, 14, 0, tzinfo=UTC))
    assert not await app.away.is_away(course.guild_id, student, app.clock.now())
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert [m["content"].startswith("Welcome back") for m in s.dm_messages(student)] == [True]
    assert s.dm_messages(not_opted) == []


async def test_batch_time_is_configurable_and_bad_times_change_nothing(course: Course) -> None:
    await start_course(course)
    w = course.world
    app = app_of(course)
    record = await course.slash(w.instructor_id, "course nudge settings", {"batch_time": "16:30"})
    assert "at 16:30 course time" in record.text()
    assert (await app.services.get(NudgeEngine).settings(course.guild_id)).batch_time.strftime(
        "%H:%M"
    ) == "16:30"
    bad = await course.slash(
        w.instructor_id, "course nudge settings", {"batch_time": "25:00", "weekly_cap": 5}
    )
    assert "isn't a time" in bad.text() and "Nothing was changed" in bad.text()
    settings = await app.services.get(NudgeEngine).settings(course.guild_id)
    assert settings.batch_time.strftime("%H:%M") == "16:30" and settings.weekly_cap != 5


async def test_a_student_active_moments_ago_is_not_quiet(course: Course) -> None:
    """Activity still buffered in memory counts: the check-in reads it after a flush."""
    await start_course(course)
    app = app_of(course)
    s, w = course.sandbox, course.world
    student = w.student_ids[0]
    await opt_in(course, student)
    await app.activity_recorder.flush()
    course.clock.set(CHECKIN_DAY)
    before = await course.slash(w.instructor_id, "course nudge preview")
    assert w.names[student] in before.text()  # quiet since the term started

    await s.send_message(channel(course, "coffee-shop"), student, "back from a busy week!")
    await s.wait_for(lambda: app.activity_recorder.pending > 0)
    preview = await course.slash(w.instructor_id, "course nudge preview")
    assert w.names[student] not in preview.text()
