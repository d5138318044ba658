"""The outbox sender against the sandbox: at most once across restarts, and each failure code."""

from __future__ import annotations

from datetime import timedelta

from bot.outbox.sender import OutboxSender, SenderConfig
from bot.outbox.transport import DiscordTransport
from tests.support.course import Course, app_of
from tests.support.logs import ErrorLogWatcher

MESSAGES = r"^/channels/\d+/messages$"


async def queue_dms(course: Course, count: int, prefix: str = "hello") -> list[int]:
    app = app_of(course)
    students = course.world.student_ids
    rows = [
        app.outbox.new_row(
            guild_id=course.guild_id,
            kind="test:dm",
            dedupe_key=f"{prefix}:{i}",
            content=f"{prefix} {i}",
            user_id=students[i % len(students)],
        )
        for i in range(count)
    ]
    ids = await app.outbox.enqueue_rows(rows)
    return [i for i in ids if i is not None]


def delivered(course: Course, prefix: str = "hello") -> list[str]:
    out = []
    for student in course.world.student_ids:
        out.extend(
            str(m["content"])
            for m in course.sandbox.dm_messages(student)
            if str(m["content"]).startswith(prefix)
        )
    return sorted(out)


async def test_restart_in_the_middle_of_a_drain_loses_and_repeats_nothing(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    assert app.outbox.sender is not None and course.runner.bot is not None
    await app.outbox.sender.stop()
    # A slower sender, so that stopping really happens in the middle of the drain.
    slow = OutboxSender(
        app.outbox,
        DiscordTransport(course.runner.bot),
        app.clock,
        SenderConfig(rate_per_second=20, burst=1, concurrency=2),
    )
    slow.start()
    await queue_dms(course, 12)
    await course.sandbox.wait_for(lambda: len(delivered(course)) >= 3)
    await slow.stop()  # what closing the bot does: in-flight sends finish, the rest wait
    assert 3 <= len(delivered(course)) < 12
    counts = await app.outbox.repository.counts(course.guild_id)
    assert "sending" not in counts
    await course.restart_bot()
    await app_of(course).outbox.drain()
    assert delivered(course) == sorted(f"hello {i}" for i in range(12))
    counts = await app_of(course).outbox.repository.counts(course.guild_id)
    assert counts == {"sent": 12}


async def test_a_crash_between_claim_and_mark_is_reconciled_from_history(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    sent_ids = await queue_dms(course, 2, "crash")
    await app.outbox.drain()
    assert len(delivered(course, "crash")) == 2
    # The process "dies": the sender stops, and the database is left as a crash leaves it.
    assert app.outbox.sender is not None
    await app.outbox.sender.stop()
    # Crash A: the message went out but the process died before recording it.
    # Crash B: the process died after claiming, before the request.
    unsent = await queue_dms(course, 3, "later")
    (claimed,) = await app.outbox.repository.claim_due(app.clock.now(), 1)
    assert claimed.state == "sending"
    await app.db.execute_write(
        "UPDATE outbox SET state = 'sending', message_id = NULL WHERE id = ?", (sent_ids[0],)
    )
    await course.expire_claims()
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    assert delivered(course, "crash") == ["crash 0", "crash 1"]  # not resent
    assert delivered(course, "later") == ["later 0", "later 1", "later 2"]  # nothing lost
    row = await app.outbox.get(course.guild_id, sent_ids[0])
    assert row is not None and row.state == "sent" and row.message_id is not None
    for row_id in unsent:
        later = await app.outbox.get(course.guild_id, row_id)
        assert later is not None and later.state == "sent"


async def test_dm_channel_ids_are_kept(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    await queue_dms(course, 6, "first")
    await app.outbox.drain()
    opens = [r for r in course.sandbox.requests if r[1] == "/users/@me/channels"]
    await queue_dms(course, 6, "second")
    await app.outbox.drain()
    again = [r for r in course.sandbox.requests if r[1] == "/users/@me/channels"]
    assert len(opens) == len(course.world.student_ids) and again == opens


async def test_rate_limited_row_waits_and_others_continue(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    first = course.world.student_ids[0]
    channel = course.sandbox.dm_channel_of(first)
    # discord.py retries a 429 itself; five in a row and it gives up: the row must wait.
    course.sandbox.inject_fault(
        "POST", rf"^/channels/{channel}/messages$", 429, retry_after=0.01, count=5
    )
    await app.outbox.dm_channels.save_dm_channel(course.guild_id, first, channel)
    await queue_dms(course, 6)
    await app.outbox.drain()
    assert "hello 0" not in delivered(course) and len(delivered(course)) == 5
    row = await app.outbox.lookup(course.guild_id, "test:dm", "hello:0")
    assert row is not None and row.state == "pending" and row.attempts == 0
    course.clock.advance(timedelta(seconds=30))
    await app.outbox.drain()
    assert delivered(course) == sorted(f"hello {i}" for i in range(6))


async def test_server_errors_are_retried_with_backoff_then_failed(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    s = course.sandbox
    # 503 is not retried inside discord.py (500/502/504 are, with long sleeps).
    s.inject_fault("POST", MESSAGES, 503, count=100)
    (row_id,) = await app.outbox.enqueue_rows(
        [
            app.outbox.new_row(
                guild_id=course.guild_id,
                kind="test:post",
                dedupe_key="p",
                content="a post",
                channel_id=course.world.general_channel_id,
            )
        ]
    )
    assert row_id is not None
    for _ in range(6):
        await app.outbox.drain()
        course.clock.advance(timedelta(hours=1))
    row = await app.outbox.get(course.guild_id, row_id)
    assert row is not None and row.state == "failed" and row.attempts == 5
    s.clear_faults()
    status = await course.slash(course.world.instructor_id, "course status")
    assert "Not delivered: test:post" in status.text()


async def test_missing_permission_pauses_the_guild_and_tells_the_instructor_once(
    course: Course,
) -> None:
    await course.setup_course()
    app = app_of(course)
    s, w = course.sandbox, course.world
    general = w.general_channel_id
    s.inject_fault("POST", rf"^/channels/{general}/messages$", 403, code=50013, count=2)
    for i in range(2):
        await app.outbox.enqueue(
            guild_id=course.guild_id,
            kind="test:post",
            dedupe_key=str(i),
            content=f"post {i}",
            channel_id=general,
        )
    await app.outbox.drain()
    assert await app.outbox.paused(course.guild_id)
    leads = s.find_channel(course.guild_id, "cohort-leads")
    assert leads is not None
    notices = [m for m in s.messages(leads) if "paused" in str(m["content"])]
    assert len(notices) == 1
    assert [m for m in s.messages(general) if str(m["content"]).startswith("post")] == []
    status = await course.slash(w.instructor_id, "course status")
    assert "Sending is paused" in status.text()
    resumed = await course.slash(w.instructor_id, "course nudge resume")
    assert "resumed" in resumed.text()
    await app.outbox.drain()
    posts = sorted(
        str(m["content"]) for m in s.messages(general) if str(m["content"]).startswith("post")
    )
    assert posts == ["post 0", "post 1"]


async def test_other_refusals_fail_at_once(course: Course, error_logs: ErrorLogWatcher) -> None:
    await course.setup_course()
    app = app_of(course)
    general = course.world.general_channel_id
    course.sandbox.inject_fault("POST", rf"^/channels/{general}/messages$", 400, code=160006)
    row_id = await app.outbox.enqueue(
        guild_id=course.guild_id, kind="test:post", dedupe_key="x", content="x", channel_id=general
    )
    await app.outbox.drain()
    row = await app.outbox.get(course.guild_id, row_id or 0)
    assert row is not None and row.state == "failed" and "160006" in (row.last_error or "")
