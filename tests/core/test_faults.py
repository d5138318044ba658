"""Faults Discord and the machine throw at the bot: a clear message, nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import discord

from bot.client import EXTENSIONS
from sandbox.harness import BotRunner
from tests.support.course import Course
from tests.support.logs import ErrorLogWatcher


async def test_gateway_disconnect_resumes_and_keeps_working(course: Course) -> None:
    await course.setup_course()
    bot = course.runner.bot
    assert bot is not None
    await course.sandbox.disconnect_gateway()
    await course.sandbox.wait_until_ready(10)
    record = await course.slash(course.world.instructor_id, "course status")
    assert "Everything is ready" in record.text()


async def test_a_second_ready_changes_nothing(course: Course) -> None:
    await course.setup_course()
    bot = course.runner.bot
    assert bot is not None
    first_session = bot.ws.session_id
    await course.sandbox.invalidate_sessions()
    # discord.py waits 5 s before identifying again, as Discord asks.
    await course.sandbox.wait_for(
        lambda: bot.ws is not None and bot.ws.session_id not in (None, first_session),
        timeout=15,
    )
    await course.sandbox.wait_until_ready(10)
    await bot.wait_until_ready()
    record = await course.slash(course.world.instructor_id, "course status")
    assert "Everything is ready" in record.text()
    # Commands are not synced again and no channel was created twice.
    names = [c["name"] for c in course.sandbox.channels_in(course.guild_id)]
    assert len(names) == len(set(names))


async def test_slow_database_work_is_acknowledged_first(course: Course) -> None:
    """/course setup defers before touching the database, so a slow write can't miss 3 s."""
    app = course.runner.app
    assert app is not None
    hold = asyncio.Event()

    async def hold_writer() -> None:
        async with app.db.transaction():
            await hold.wait()

    holder = asyncio.create_task(hold_writer())
    await asyncio.sleep(0)
    record = await course.sandbox.invoke_slash(
        course.guild_id,
        course.world.general_channel_id,
        course.world.instructor_id,
        "course setup",
        {"timezone": "Europe/Berlin", "student_role": course.world.student_role_id},
    )
    first = await record.wait_response(5)
    assert first["kind"] == "deferred"
    assert first["at"] - record.dispatched_at < 3
    hold.set()
    await holder
    await record.wait_final(10)
    assert "Setup saved" in record.text()


async def test_answer_after_token_expiry_goes_to_the_student_by_dm(course: Course) -> None:
    await course.setup_course()
    app = course.runner.app
    assert app is not None
    hold = asyncio.Event()

    async def hold_writer() -> None:
        async with app.db.transaction():
            await hold.wait()

    holder = asyncio.create_task(hold_writer())
    await asyncio.sleep(0)
    record = await course.sandbox.invoke_slash(
        course.guild_id,
        course.world.general_channel_id,
        course.world.instructor_id,
        "course setup",
        {"timezone": "Europe/Berlin"},
    )
    await record.wait_response(5)
    course.sandbox.expire_interaction(record)  # the slow work took more than 15 minutes
    hold.set()
    await holder
    await course.sandbox.wait_for(
        lambda: any(
            "Setup saved" in (m.get("content") or "")
            for m in course.sandbox.dm_messages(course.world.instructor_id)
        )
    )


async def test_database_locked_beyond_busy_timeout_is_a_retryable_message(
    sandbox: object, tmp_path: Path, error_logs: ErrorLogWatcher
) -> None:
    from sandbox.harness import build_course_world

    world = await build_course_world(sandbox, students=2)  # type: ignore[arg-type]
    db_path = tmp_path / "c.db"
    runner = BotRunner(
        sandbox,  # type: ignore[arg-type]
        db_path,
        dev_guild_id=world.guild_id,
        busy_timeout_ms=50,
    )
    await runner.start()
    try:
        # Another process holds the write lock. Run it in a thread: a blocking call on the
        # event loop would stall the bot mid-transaction.
        other = sqlite3.connect(db_path, isolation_level=None, timeout=10, check_same_thread=False)
        await asyncio.to_thread(other.execute, "BEGIN EXCLUSIVE")
        try:
            record = await sandbox.invoke_slash(  # type: ignore[attr-defined]
                world.guild_id,
                world.general_channel_id,
                world.instructor_id,
                "course setup",
                {"timezone": "Europe/Berlin", "student_role": world.student_role_id},
            )
            await record.wait_final(10)
            assert "database is busy" in record.text()
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert runner.app is not None
        assert await runner.app.guild_configs.get(world.guild_id) is None  # no partial write
    finally:
        await runner.stop()


async def test_a_500_is_retried_and_setup_still_completes(course: Course) -> None:
    course.sandbox.inject_fault("POST", r"/guilds/\d+/channels$", 500, count=1)
    record = await course.setup_course()
    assert "Setup saved" in record.text()
    assert course.sandbox.find_channel(course.guild_id, "introductions") is not None
    names = [c["name"] for c in course.sandbox.channels_in(course.guild_id)]
    assert len(names) == len(set(names))  # the retry did not create a duplicate


async def test_missing_permission_during_setup_is_red_not_a_crash(course: Course) -> None:
    course.sandbox.set_bot_permissions(
        course.guild_id,
        int(
            discord.Permissions(
                view_channel=True, send_messages=True, embed_links=True, manage_roles=True
            ).value
        ),
    )
    await course.sandbox.wait_for(
        lambda: (
            course.runner.bot is not None
            and (g := course.runner.bot.get_guild(course.guild_id)) is not None
            and not g.me.guild_permissions.manage_channels
        )
    )
    record = await course.setup_course()
    text = record.text()
    assert "couldn't create the introductions channel" in text
    assert "Needs attention" in text


async def test_failed_migration_refuses_to_start_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with sqlite3.connect(db) as conn:
        # A database at version 1 with a table that migration 2 is about to create.
        conn.execute("CREATE TABLE activity (x INTEGER)")
        conn.execute("PRAGMA user_version = 1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "check",
        env={"DATABASE_PATH": str(db), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "0002" in err.decode() and "Traceback" not in err.decode()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"activity"}


async def test_extension_that_fails_to_load_is_logged_and_others_work(
    course: Course, error_logs: ErrorLogWatcher
) -> None:
    error_logs.expect(r"Could not load extension cogs\.does_not_exist")
    await course.runner.stop()
    course.runner = BotRunner(
        course.sandbox,
        course.db_path,
        clock=course.clock,
        dev_guild_id=course.guild_id,
        extensions=(*EXTENSIONS, "cogs.does_not_exist"),
    )
    bot = await course.runner.start()
    assert bot.failed_extensions == ["cogs.does_not_exist"]
    assert "/help" in (await course.slash(course.world.student_ids[0], "help")).text()


async def test_a_long_429_inside_a_command_asks_to_try_again_later(course: Course) -> None:
    course.sandbox.inject_fault("POST", r"/guilds/\d+/channels$", 429, retry_after=120, count=1)
    record = await course.setup_course()
    assert "try again in about 120 seconds" in record.text()
    assert "something went wrong" not in record.text()
    # Nothing half-saved: setup had not stored anything yet.
    assert course.runner.app is not None
    assert await course.runner.app.guild_configs.get(course.guild_id) is None
