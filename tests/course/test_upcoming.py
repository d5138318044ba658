"""/course upcoming: every scheduled post and nudge batch, with skip and edit for one occasion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cogs.nudges import NudgeEngine
from tests.support.course import Course, app_of, modal_input_ids
from tests.support.upcoming import pick, press


async def test_upcoming_lists_batches_and_posts_with_skip_and_edit(course: Course) -> None:
    await course.setup_course()
    w, s = course.world, course.sandbox
    app = app_of(course)
    await course.slash(w.instructor_id, "course calendar set", {"start": "2026-08-24", "weeks": 10})
    await course.slash(w.instructor_id, "course nudge settings", {"inactive_days": 1})
    student = w.student_ids[0]
    await course.slash(student, "nudges on")
    await app.activity_recorder.flush()
    post_id = await app.outbox.enqueue(
        guild_id=course.guild_id,
        kind="prompt",
        dedupe_key="week-3",
        content="This week's prompt is open — here's the link",
        channel_id=w.general_channel_id,
        not_before=app.clock.now() + timedelta(days=2),
    )
    listing = await course.slash(w.instructor_id, "course upcoming")
    text = listing.text()
    assert "check-in" in text.lower() and "This week's prompt is open" in text
    assert "<t:" in text  # Discord timestamps

    # Skip Wednesday's check-in batch.
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    wednesday = f"nudge:{cohort.cohort_id}:checkin:2026-09-09"
    detail = await pick(course, wednesday)
    skipped = await press(course, detail, "skip")
    assert "Skipped" in skipped.text()
    course.clock.set(datetime(2026, 9, 9, 14, 5, tzinfo=UTC))
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    assert s.dm_messages(student) == []

    # Edit next Wednesday's text, for that occasion only.
    await course.slash(w.instructor_id, "course upcoming")
    detail = await pick(course, f"nudge:{cohort.cohort_id}:checkin:2026-09-16")
    opened = await press(course, detail, "edit")
    bad = await s.submit_modal(opened, w.instructor_id, {modal_input_ids(opened)[0]: "Hi {nobody}"})
    await bad.wait_final()
    assert "Unknown placeholder" in bad.text()
    good = await s.submit_modal(
        opened, w.instructor_id, {modal_input_ids(opened)[0]: "Hi {name}, a special week!"}
    )
    await good.wait_final()
    assert "Saved for this one occasion" in good.text()
    course.clock.set(datetime(2026, 9, 16, 14, 5, tzinfo=UTC))
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    dms = [m["content"] for m in s.dm_messages(student)]
    assert dms == [f"Hi {w.names[student]}, a special week!"]

    # The queued post was sent on its day with its original text; a skipped post never is.
    assert post_id is not None
    row = await app.outbox.get(course.guild_id, post_id)
    assert row is not None and row.state == "sent"
    skip_me = await app.outbox.enqueue(
        guild_id=course.guild_id,
        kind="prompt",
        dedupe_key="week-5",
        content="Skip me",
        channel_id=w.general_channel_id,
        not_before=app.clock.now() + timedelta(days=1),
    )
    await course.slash(w.instructor_id, "course upcoming")
    detail = await pick(course, f"outbox:{skip_me}")
    await press(course, detail, "skip")
    course.clock.advance(timedelta(days=2))
    await app.outbox.drain()
    assert all(m["content"] != "Skip me" for m in s.messages(w.general_channel_id))


async def test_upcoming_is_for_instructors(course: Course) -> None:
    await course.setup_course()
    course.sandbox.allow_command_for_everyone(course.guild_id, "course")
    record = await course.slash(course.world.student_ids[0], "course upcoming")
    assert "course staff" in record.text()
