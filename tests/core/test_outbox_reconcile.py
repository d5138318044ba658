"""After a crash between claiming a row and sending it, the restart's reconciliation must not
take an older message with the same text (last week's check-in, the first of two identical
reminders) for the lost one: the row is sent, never marked sent with another message's id.

The sandbox, like Discord, returns no nonce in a channel's history, so the match is by content.
On both stores the restarted bot settles the crashed run's claims at once: on PostgreSQL
because they carry the name of an earlier run of the same member (its shards), whatever
their age, even a claim dated after now, which no lease would ever let expire.
"""

from __future__ import annotations

from bot.app import AppContext
from bot.outbox.repository import OutboxAttachment, OutboxRow
from sandbox.world import FORUM
from tests.support.course import Course

REMINDER = "👋 Don't forget to introduce yourself in #introductions!"


def app_of(course: Course) -> AppContext:
    assert course.runner.app is not None
    return course.runner.app


async def queue_and_crash(course: Course, **row: object) -> OutboxRow:
    """Queue a row and leave it as a crash after the claim leaves it: 'sending', never sent,
    claimed by the running bot's sender."""
    app = app_of(course)
    sender = app.outbox.sender
    assert sender is not None
    await sender.stop()
    row_id = await app.outbox.enqueue(guild_id=course.guild_id, **row)  # type: ignore[arg-type]
    assert row_id is not None
    claimed = await app.outbox.repository.claim_due(
        app.clock.now(), 10, claimed_by=sender.claimant.label
    )
    assert [r.id for r in claimed] == [row_id]
    return claimed[0]


async def claimed_later(course: Course, row_id: int, seconds: int = 600) -> None:
    """As if the row had been claimed well after the older message was sent (in a test both
    happen within a second, inside the allowance for clock skew)."""
    await app_of(course).db.execute_write(
        "UPDATE outbox SET claimed_at = claimed_at + ? WHERE id = ?",
        (seconds * 1_000_000, row_id),  # stored in microseconds
    )


def reminders(course: Course, student: int) -> list[dict[str, object]]:
    return [m for m in course.sandbox.dm_messages(student) if m["content"] == REMINDER]


async def test_a_dm_repeating_an_earlier_one_word_for_word_is_not_lost(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    student = course.world.student_ids[0]
    await app.outbox.enqueue(
        guild_id=course.guild_id, kind="test:remind", dedupe_key="1", content=REMINDER,
        user_id=student,
    )  # fmt: skip
    await app.outbox.drain()
    [first] = reminders(course, student)
    second = await queue_and_crash(
        course, kind="test:remind", dedupe_key="2", content=REMINDER, user_id=student
    )
    await course.restart_bot()
    await app_of(course).outbox.drain()
    sent = reminders(course, student)
    assert len(sent) == 2  # the second reminder reached the student
    row = await app_of(course).outbox.get(course.guild_id, second.id)
    assert row is not None and row.state == "sent"
    assert row.message_id == int(str(sent[1]["id"])) != int(str(first["id"]))


async def test_an_identical_dm_from_before_the_claim_is_not_taken_for_the_lost_one(
    course: Course,
) -> None:
    await course.setup_course()
    app = app_of(course)
    student = course.world.student_ids[1]
    await app.outbox.enqueue(
        guild_id=course.guild_id, kind="test:checkin", dedupe_key="week:1", content=REMINDER,
        user_id=student,
    )  # fmt: skip
    await app.outbox.drain()
    # No row accounts for last week's message any more (e.g. its row was cleaned up).
    await app.db.execute_write("DELETE FROM outbox WHERE dedupe_key = 'week:1'")
    this_week = await queue_and_crash(
        course, kind="test:checkin", dedupe_key="week:2", content=REMINDER, user_id=student
    )
    await claimed_later(course, this_week.id)
    await course.restart_bot()
    await app_of(course).outbox.drain()
    assert len(reminders(course, student)) == 2


async def test_a_channel_post_with_a_file_is_not_matched_to_last_weeks_post(
    course: Course,
) -> None:
    await course.setup_course()
    app = app_of(course)
    channel = course.world.general_channel_id
    post = {
        "kind": "test:report",
        "content": "📊 This week's report",
        "channel_id": channel,
        "attachments": [OutboxAttachment("report.csv", b"a,b\n1,2\n")],
    }
    await app.outbox.enqueue(guild_id=course.guild_id, dedupe_key="week:1", **post)  # type: ignore[arg-type]
    await app.outbox.drain()
    await queue_and_crash(course, dedupe_key="week:2", **post)
    await course.restart_bot()
    await app_of(course).outbox.drain()
    posts = [m for m in course.sandbox.messages(channel) if m["content"] == post["content"]]
    assert len(posts) == 2
    assert all(m["attachments"] for m in posts)


async def test_a_forum_post_is_not_matched_to_an_older_thread_of_the_same_name(
    course: Course,
) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    forum = s.create_channel(gid, "forum-talk", type=FORUM)
    app = app_of(course)
    post = {"kind": "test:prompt", "content": "What did you build?", "channel_id": forum,
            "thread_name": "Week 3 discussion"}  # fmt: skip
    await app.outbox.enqueue(guild_id=gid, dedupe_key="cohort-a", **post)  # type: ignore[arg-type]
    await app.outbox.drain()
    # The older thread is no row's any more; the new post was claimed after it.
    await app.db.execute_write("DELETE FROM outbox WHERE dedupe_key = 'cohort-a'")
    row = await queue_and_crash(course, dedupe_key="cohort-b", **post)
    await claimed_later(course, row.id)
    await course.restart_bot()
    await app_of(course).outbox.drain()
    threads = [t for t in s.threads_in(gid) if int(t["parent_id"]) == forum]
    assert len(threads) == 2
    settled = await app_of(course).outbox.get(gid, row.id)
    assert settled is not None and settled.state == "sent"
    assert settled.message_id == max(int(t["id"]) for t in threads)
