"""The "introduce yourself" reminder and the opt-in offer, through the nudge engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cogs.nudges import NudgeEngine
from tests.support.course import Course, app_of
from tests.support.intros import FULL_INTRO, join, write_intro
from tests.support.nudges import opt_in, start_course

#: A weekday morning in New York, outside quiet hours, inside the course.
MORNING = datetime(2026, 9, 10, 14, 0, tzinfo=UTC)


def intro_reminders(course: Course, student: int) -> list[str]:
    return [
        str(m.get("content"))
        for m in course.sandbox.dm_messages(student)
        if "/intro write" in str(m.get("content"))
    ]


async def test_opted_in_students_without_an_intro_get_at_most_two_reminders(
    course: Course,
) -> None:
    await start_course(course)
    app = app_of(course)
    course.clock.set(MORNING)
    # Newcomers: the bot records when they arrive (on the injected clock).
    quiet, opted, introduced = [await join(course, name) for name in ("Quinn", "Olu", "Ines")]
    await course.sandbox.wait_for(
        lambda: (
            len(
                course.sandbox.messages(
                    course.sandbox.find_channel(course.guild_id, "introductions") or 0
                )
            )
            >= 3
        )
    )
    await opt_in(course, opted)
    await opt_in(course, introduced)
    await write_intro(course, introduced, FULL_INTRO)
    # Three days after arriving, the reminder is due.
    course.clock.set(MORNING + timedelta(days=3))
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert len(intro_reminders(course, opted)) == 1
    assert intro_reminders(course, quiet) == []  # not opted in: never a DM
    assert intro_reminders(course, introduced) == []  # already introduced
    # The same day again: nothing new. Days later: the second and last reminder.
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert len(intro_reminders(course, opted)) == 1
    for days in (4, 8, 12, 16):
        course.clock.set(MORNING + timedelta(days=days))
        await app.services.get(NudgeEngine).run_due()
        await app.outbox.drain()
    assert len(intro_reminders(course, opted)) == 2


async def test_the_reminder_opt_in_is_offered_once_after_the_intro(course: Course) -> None:
    await course.setup_course()
    student = course.world.student_ids[0]
    first = await write_intro(course, student, FULL_INTRO)
    await course.sandbox.wait_for(lambda: "remind" in first.text().lower())
    labels = [
        c.get("label")
        for r in first.responses
        for row in r.get("components") or []
        for c in row.get("components", [])
    ]
    assert "Yes, remind me" in labels
    again = await write_intro(course, student, {**FULL_INTRO, "fun_fact": "I juggle"})
    assert not any(
        c.get("label") == "Yes, remind me"
        for r in again.responses
        for row in r.get("components") or []
        for c in row.get("components", [])
    )
