"""CohortBot on discord.py's sharded client against the sandbox speaking sharding: guilds on
two shards both answered, a direct message on shard 0, and a process that runs one shard
sees and schedules only that shard's guilds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.client import ShardedCohortBot
from bot.clock import FakeClock
from sandbox.harness import BotRunner, CourseWorld, build_course_world
from sandbox.server import SandboxServer


@pytest.fixture
async def two_courses(sandbox: SandboxServer) -> AsyncIterator[tuple[CourseWorld, CourseWorld]]:
    sandbox.shards = 2
    sandbox.max_concurrency = 2
    first = await build_course_world(sandbox, students=2, guild_name="On shard 0", shard=0)
    second = await build_course_world(sandbox, students=2, guild_name="On shard 1", shard=1)
    assert (sandbox.shard_of(first.guild_id), sandbox.shard_of(second.guild_id)) == (0, 1)
    yield first, second


def runner_for(sandbox: SandboxServer, path: Path, ids: tuple[int, ...]) -> BotRunner:
    clock = FakeClock(datetime(2026, 9, 7, 14, 0, tzinfo=UTC))
    return BotRunner(sandbox, path, clock=clock, shard_count=2, shard_ids=ids)


async def test_one_process_with_both_shards_answers_every_guild_and_dms(
    sandbox: SandboxServer, two_courses: tuple[CourseWorld, CourseWorld], tmp_path: Path
) -> None:
    runner = runner_for(sandbox, tmp_path / "c.db", (0, 1))
    bot = await runner.start()
    try:
        assert isinstance(bot, ShardedCohortBot)
        await sandbox.wait_until_shards_ready()
        await bot.tree.sync()
        assert {g.id: g.shard_id for g in bot.guilds} == {
            world.guild_id: shard for shard, world in enumerate(two_courses)
        }
        for world in two_courses:
            record = await sandbox.invoke_slash(
                world.guild_id,
                world.general_channel_id,
                world.instructor_id,
                "course setup",
                {"create_missing": True, "timezone": "Europe/Berlin"},
            )
            await record.wait_final()
            assert record.text().startswith("Setup saved."), record.text()
            assert record.acknowledged
        student = two_courses[1].student_ids[0]
        dm = await sandbox.invoke_slash(None, sandbox.dm_channel_of(student), student, "help")
        await dm.wait_final()
        assert dm.text()
    finally:
        await runner.stop()


async def test_a_process_with_one_shard_sees_and_schedules_only_its_guilds(
    sandbox: SandboxServer, two_courses: tuple[CourseWorld, CourseWorld], tmp_path: Path
) -> None:
    runner = runner_for(sandbox, tmp_path / "c.db", (1,))
    bot = await runner.start()
    try:
        assert [g.id for g in bot.guilds] == [two_courses[1].guild_id]
        assert runner.app is not None
        assert runner.app.shards.owns(two_courses[1].guild_id)
        assert not runner.app.shards.owns(two_courses[0].guild_id)
        assert not runner.app.shards.receives_direct_messages
        assert {s.shard_id for s in sandbox.gateway.sessions.values() if s.ready_sent} == {1}
    finally:
        await runner.stop()
