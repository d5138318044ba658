"""/course close-term from the confirm step to keep-in-touch DMs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from cogs.course import TermService
from cogs.privacy import PrivacyService
from tests.support.course import Course, app_of, modal_input_ids


def ids_of(message: dict[str, object]) -> list[str]:
    return [
        c["custom_id"]
        for row in message.get("components") or []  # type: ignore[attr-defined]
        for c in row["components"]
    ]


async def test_close_term_end_to_end(course: Course) -> None:
    await course.setup_course()
    s, w = course.sandbox, course.world
    app = app_of(course)
    gid = course.guild_id
    await course.slash(w.instructor_id, "course calendar set", {"start": "2026-08-24", "weeks": 10})
    a, b, c = w.student_ids[:3]
    await course.slash(a, "nudges on")
    coffee = s.find_channel(gid, "coffee-shop")
    discussion = s.find_channel(gid, "discussion")
    assert coffee is not None and discussion is not None
    thread = s.create_thread(discussion, "Week 3 answers", owner_id=a)
    await s.send_message(thread, a, "My answer")
    # A nudge waiting in the queue is cancelled by closing.
    cohort = (await app.guild_settings.cohorts(gid))[0]
    await app.outbox.enqueue(
        guild_id=gid,
        cohort_id=cohort.cohort_id,
        kind="nudge:checkin",
        dedupe_key="x",
        content="waiting",
        user_id=a,
        not_before=datetime(2026, 9, 30, tzinfo=UTC),
    )

    asked = await course.slash(w.instructor_id, "course close-term")
    assert "Close the term" in asked.text()
    confirm = last_with(course, "cohortbot:term:close:")
    done = await s.click_button(
        int(confirm["channel_id"]),
        int(confirm["id"]),
        w.instructor_id,
        f"cohortbot:term:close:{cohort.cohort_id}",
    )
    await done.wait_responses(2)
    await s.wait_for(lambda: any(r.get("files") for r in done.responses))
    summary = done.text()
    assert "Term closed" in summary and "Queued nudges cancelled: 1" in summary
    assert "Threads archived: 1" in summary
    assert "deleted after 180 days" in summary
    closures = await app.services.get(PrivacyService).repository.closures_due(
        datetime(2027, 12, 1, tzinfo=UTC)
    )
    assert [(c.guild_id, c.cohort_id) for c in closures] == [(gid, cohort.cohort_id)]
    attachment = next(f for r in done.responses for f in r.get("files") or [])
    assert attachment["filename"] == "participation-cohort-1.csv"
    rows = list(csv.DictReader(io.StringIO(attachment["data"].decode())))
    assert {int(r["user_id"]) for r in rows} == set(w.student_ids)
    assert next(r for r in rows if int(r["user_id"]) == a)["activity_since_start"] != "0"

    # Nothing runs any more for the cohort.
    week = await app.calendar.week_of(gid, cohort.cohort_id, app.clock.now())
    assert (week.state, week.reason) == ("not_running", "term closed")
    assert s.channel(thread)["thread_metadata"]["archived"]  # type: ignore[index]

    # The thank-you (mentioning nobody) with the keep-in-touch button.
    await app.outbox.drain()
    thanks = [m for m in s.messages(coffee) if "That's a wrap" in str(m["content"])]
    assert len(thanks) == 1 and thanks[0]["mentions"] == []
    button = ids_of(thanks[0])[0]
    for student, line in ((a, "amara@example.com"), (b, "ben on LinkedIn"), (c, "   ")):
        opened = await s.click_button(coffee, int(thanks[0]["id"]), student, button)
        await opened.wait_response()
        submitted = await s.submit_modal(opened, student, {modal_input_ids(opened)[0]: line})
        await submitted.wait_final()
        if student == c:
            assert "empty" in submitted.text()  # a blank line is refused, nothing saved
    await app.outbox.drain()
    assert any("amara@example.com" in str(m["content"]) for m in s.dm_messages(b))
    assert any("ben on LinkedIn" in str(m["content"]) for m in s.dm_messages(a))
    assert not any("example.com" in str(m["content"]) for m in s.dm_messages(c))
    assert set(
        await app.services.get(TermService).keep_in_touch.members(gid, cohort.cohort_id)
    ) == {a, b}
    # Staff can't opt in as students.
    opened = await s.click_button(coffee, int(thanks[0]["id"]), w.instructor_id, button)
    await opened.wait_final()
    assert "students of that cohort" in opened.text()


def last_with(course: Course, prefix: str) -> dict[str, object]:
    for message in reversed(course.sandbox.ephemeral_messages(course.world.instructor_id)):
        if any(i.startswith(prefix) for i in ids_of(message)):
            return message
    raise AssertionError(prefix)
