"""Faults while the bot sends: long and global 429s, a paused guild next to a healthy one, 500s on
a student's post, the active-thread limit on a circle join. Each: a clear message, nothing lost,
nothing sent twice. (The outbox's other failure codes are in test_nudges_delivery.py.)"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import discord

from sandbox.harness import BOT_ROLE_PERMISSIONS, build_course_world
from tests.support.course import Course, app_of
from tests.support.logs import ErrorLogWatcher


def dm_texts(course: Course, prefix: str) -> list[str]:
    return sorted(
        str(m["content"])
        for student in course.world.student_ids
        for m in course.sandbox.dm_messages(student)
        if str(m["content"]).startswith(prefix)
    )


async def queue_dms(course: Course, prefix: str, count: int) -> None:
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
    assert None not in await app.outbox.enqueue_rows(rows)


async def test_a_long_retry_after_on_a_scheduled_dm_waits_on_the_clock(course: Course) -> None:
    """Discord says "retry in 10 minutes" for one DM: that row waits (on the course clock, not
    in a sleeping request), the other students' DMs go out, and it is sent once later."""
    await course.setup_course()
    app = app_of(course)
    first = course.world.student_ids[0]
    channel = course.sandbox.dm_channel_of(first)
    await app.outbox.dm_channels.save_dm_channel(course.guild_id, first, channel)
    course.sandbox.inject_fault(
        "POST", rf"^/channels/{channel}/messages$", 429, retry_after=600, count=1
    )
    started = time.monotonic()
    await queue_dms(course, "long", 6)
    await app.outbox.drain(timeout=10)
    assert time.monotonic() - started < 5, "a send slept through Discord's retry_after"
    assert dm_texts(course, "long") == [f"long {i}" for i in range(1, 6)]
    row = await app.outbox.lookup(course.guild_id, "test:dm", "long:0")
    assert row is not None and row.state == "pending" and row.attempts == 0
    assert row.not_before >= app.clock.now() + timedelta(minutes=9)
    await app.outbox.drain()
    assert "long 0" not in dm_texts(course, "long")  # not before its time
    course.clock.advance(timedelta(minutes=11))
    await app.outbox.drain()
    assert dm_texts(course, "long") == [f"long {i}" for i in range(6)]  # each exactly once


async def test_a_global_429_slows_sends_but_interactions_are_still_answered(
    course: Course,
) -> None:
    """Interaction callbacks are exempt from the global limit (as on Discord): while the bot's
    REST calls are globally limited, a student's command is answered at once."""
    await course.setup_course()
    app = app_of(course)
    s = course.sandbox
    for student in course.world.student_ids:
        await app.outbox.dm_channels.save_dm_channel(
            course.guild_id, student, s.dm_channel_of(student)
        )
    s.inject_fault("*", r".", 429, retry_after=1.5, global_=True, count=3)
    await queue_dms(course, "global", 6)
    drained = asyncio.create_task(app.outbox.drain(timeout=15))
    await s.wait_for(lambda: any(r[0] == "POST" and "/messages" in r[1] for r in s.requests))
    started = time.monotonic()
    record = await course.slash(course.world.student_ids[1], "nudges status")
    assert time.monotonic() - started < 1.0, "the interaction waited for the global limit"
    assert record.text() and record.ephemeral
    await drained
    assert dm_texts(course, "global") == [f"global {i}" for i in range(6)]


async def test_missing_permission_pauses_only_that_guild(course: Course) -> None:
    """50013 in one server pauses that server's sending; another server's posts go out."""
    await course.setup_course()
    app = app_of(course)
    s = course.sandbox
    other = await build_course_world(s, students=1, guild_name="Another Course")
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(lambda: bot.get_guild(other.guild_id) is not None)
    general = course.world.general_channel_id
    s.inject_fault("POST", rf"^/channels/{general}/messages$", 403, code=50013, count=3)
    for i in range(3):
        await app.outbox.enqueue(
            guild_id=course.guild_id,
            kind="test:post",
            dedupe_key=f"a{i}",
            content=f"here {i}",
            channel_id=general,
        )
        await app.outbox.enqueue(
            guild_id=other.guild_id,
            kind="test:post",
            dedupe_key=f"b{i}",
            content=f"there {i}",
            channel_id=other.general_channel_id,
        )
    await app.outbox.drain()
    assert await app.outbox.paused(course.guild_id)
    assert not await app.outbox.paused(other.guild_id)
    there = [str(m["content"]) for m in s.messages(other.general_channel_id)]
    assert sorted(there) == ["there 0", "there 1", "there 2"]
    here = [str(m["content"]) for m in s.messages(general) if str(m["content"]).startswith("here")]
    assert here == []
    pending = await app.outbox.repository.counts(course.guild_id)
    assert pending.get("pending") == 3 and "failed" not in pending  # waiting, not lost


async def test_a_500_on_a_students_kudos_is_retried_and_posted_once(course: Course) -> None:
    """discord.py retries a 500 itself; the kudos appears once and is recorded once."""
    await course.setup_course()
    s = course.sandbox
    coffee = s.find_channel(course.guild_id, "coffee-shop")
    assert coffee is not None
    s.inject_fault("POST", rf"^/channels/{coffee}/messages$", 500, count=1)
    amara, ben = course.world.student_ids[:2]
    record = await course.sandbox.invoke_slash(
        course.guild_id,
        course.world.general_channel_id,
        amara,
        "kudos",
        {"member": ben, "reason": "explaining recursion so clearly"},
    )
    await record.wait_final(10)
    posts = [m for m in s.messages(coffee) if "explaining recursion" in str(m)]
    assert len(posts) == 1, record.text()
    app = app_of(course)
    stored = await app.db.fetchall(
        "SELECT * FROM coffee_kudos WHERE guild_id = ? AND giver_id = ?", (course.guild_id, amara)
    )
    assert len(stored) == 1


async def test_thread_limit_on_a_circle_join_is_a_clear_message_and_changes_nothing(
    course: Course, error_logs: ErrorLogWatcher
) -> None:
    await course.setup_course()
    s, w = course.sandbox, course.world
    app = app_of(course)
    added = await course.slash(w.instructor_id, "course circle add", {"name": "Working parents"})
    assert "Working parents" in added.text()
    s.inject_fault("POST", r"^/channels/\d+/threads$", 400, code=160006, count=1)
    amara = w.student_ids[0]
    refused = await course.slash(amara, "circle join", {"name": "Working parents"})
    assert "limit" in refused.text() and "Nothing was changed" in refused.text(), refused.text()
    assert refused.ephemeral
    assert s.threads_in(course.guild_id) == []
    assert await app.db.fetchall("SELECT * FROM coffee_circle_members") == []
    # Once a thread can open again, the same command works.
    joined = await course.slash(amara, "circle join", {"name": "Working parents"})
    assert "You joined" in joined.text(), joined.text()
    assert len(s.threads_in(course.guild_id)) == 1


async def test_missing_thread_permission_keeps_other_guilds_sending(course: Course) -> None:
    """BOT_ROLE_PERMISSIONS is what the invite grants; a second server invited with it works
    while the first has lost Send Messages in a channel (checked before sending)."""
    await course.setup_course()
    s = course.sandbox
    app = app_of(course)
    other = await build_course_world(s, students=1, guild_name="Third Course")
    bot = course.runner.bot
    assert bot is not None
    await s.wait_for(lambda: bot.get_guild(other.guild_id) is not None)
    general = course.world.general_channel_id
    s.set_overwrites(
        general,
        [
            {
                "id": course.world.bot_role_id,
                "type": 0,
                "allow": 0,
                "deny": discord.Permissions(send_messages=True).value,
            }
        ],
    )
    await s.wait_for(
        lambda: (
            (g := bot.get_guild(course.guild_id)) is not None
            and (ch := g.get_channel(general)) is not None
            and not ch.permissions_for(g.me).send_messages
        )
    )
    assert BOT_ROLE_PERMISSIONS.send_messages
    await app.outbox.enqueue(
        guild_id=course.guild_id, kind="test:post", dedupe_key="x", content="x", channel_id=general
    )
    await app.outbox.enqueue(
        guild_id=other.guild_id,
        kind="test:post",
        dedupe_key="y",
        content="y",
        channel_id=other.general_channel_id,
    )
    await app.outbox.drain()
    assert await app.outbox.paused(course.guild_id)
    assert [m["content"] for m in s.messages(other.general_channel_id)] == ["y"]
    # No request was even tried where the bot can't post (checked first, no 403 storm).
    assert not any(r[0] == "POST" and r[1] == f"/channels/{general}/messages" for r in s.requests)
