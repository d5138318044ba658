"""A shard cluster for real: two bot processes (``python -m bot run``, shards 0 and 1 of 2) on
one PostgreSQL database, against the sandbox with four course servers over both shards.

Every slash command that needs no option (61, subcommands included) is answered exactly once in
each guild (one callback per interaction, by the process of the guild's shard: the sandbox
sends the interaction to that shard's session only); a third
process asking for a shard that runs already is refused; a fan-out of 2,000 DMs queued across
the guilds of both shards is delivered exactly once while both processes drain it, although
one of them is SIGKILLed in the middle and restarted (the other keeps delivering meanwhile);
and the sandbox's global rate limit per token, counted across both processes, never answered
a 429. The fan-out and the kill run at OUTBOX_RATE 250/s against a sandbox limit of 250/s,
with the default 5-minute outbox lease: the restarted process settles the rows it had claimed
before it was killed at once (they carry its name), not after the lease. And a coffee
question scheduled in a guild of each shard for the next whole minute is posted once (a real
process's scheduler wakes at whole minutes, so the test waits for the slot: the commands run
meanwhile, the rest after it).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.cluster import Cluster
from bench.common import spawn
from bot.clock import FakeClock
from sandbox.harness import BotRunner, CourseWorld, build_course_world
from sandbox.server import SandboxServer

GLOBAL_RATE = 250
STUDENTS_PER_GUILD = 500  # four guilds: 2,000 DMs
#: The default: a row of the killed process that waited for it would outlast the test.
LEASE_SECONDS = 300
_CALLBACK = re.compile(r"^/interactions/(\d+)/[^/]+/callback$")
_NEXT = re.compile(r"Next: <t:(\d+):f>")
QUESTION = "question of the week"


def callbacks(sandbox: SandboxServer) -> Counter[int]:
    """How many callback requests each interaction got (a second one would be a bug)."""
    return Counter(
        int(found.group(1))
        for method, path, _ in sandbox.requests
        if method == "POST" and (found := _CALLBACK.match(path))
    )


def runnable_commands(sandbox: SandboxServer) -> list[str]:
    """Every registered slash command (subcommands by their full name) without a required
    option, as a person would type it."""
    found: list[str] = []

    def walk(prefix: str, options: list[dict[str, Any]]) -> None:
        nested = [o for o in options if int(o["type"]) in (1, 2)]
        if not nested:
            if not any(o.get("required") for o in options):
                found.append(prefix)
            return
        for option in nested:
            walk(f"{prefix} {option['name']}", list(option.get("options") or []))

    for command in sandbox.rest.commands.get(None, []):
        if int(command.get("type", 1)) == 1:
            walk(str(command["name"]), list(command.get("options") or []))
    return sorted(found)


async def schedule_question_next_minute(sandbox: SandboxServer, world: CourseWorld) -> datetime:
    """Set the guild up (its coffee shop created, UTC) and schedule its coffee question for
    the next whole minute a few seconds away, through the owning process; returns the slot."""
    record = await sandbox.invoke_slash(
        world.guild_id,
        world.general_channel_id,
        world.instructor_id,
        "course setup",
        {"create_missing": True, "timezone": "UTC"},
    )
    await record.wait_final(timeout=30)
    while True:
        soon = datetime.now(UTC) + timedelta(seconds=3)
        slot = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
        record = await sandbox.invoke_slash(
            world.guild_id,
            world.general_channel_id,
            world.instructor_id,
            "course coffee schedule",
            {"what": "question", "day": slot.weekday(), "time": slot.strftime("%H:%M")},
        )
        await record.wait_final(timeout=30)
        found = _NEXT.search(record.text())
        assert found, record.text()
        if int(found.group(1)) == int(slot.timestamp()):
            return slot
        # The command took so long that the slot passed first (then next week's is next).


def questions(sandbox: SandboxServer, world: CourseWorld) -> list[dict[str, Any]]:
    coffee = sandbox.find_channel(world.guild_id, "coffee-shop")
    assert coffee is not None
    return [m for m in sandbox.messages(coffee) if QUESTION in m["content"]]


async def test_two_processes_share_the_work_exactly_once(
    sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    cluster = Cluster(sandbox, postgres_url, tmp_path, GLOBAL_RATE, lease_seconds=LEASE_SECONDS)
    await cluster.build(STUDENTS_PER_GUILD)
    guild_shards = [sandbox.shard_of(world.guild_id) for world in cluster.worlds]
    assert sorted(guild_shards) == [0, 0, 1, 1]
    sandbox.set_global_rate_limit(GLOBAL_RATE)
    try:
        for shard in (0, 1):
            await cluster.start_member(shard)
        for shard in (0, 1):
            await cluster.wait_ready(shard)

        # A coffee question in a guild of each shard, scheduled by its own process for the
        # next whole minute (a real scheduler wakes at whole minutes): awaited after the
        # commands below, which run meanwhile.
        scheduled = cluster.worlds[:2]
        assert [sandbox.shard_of(world.guild_id) for world in scheduled] == [0, 1]
        slots = [await schedule_question_next_minute(sandbox, world) for world in scheduled]

        # A third process for a shard that runs already: one line naming SHARD_IDS, exit 2.
        intruder = await spawn(
            "bot", sandbox, tmp_path, label="-intruder", env=cluster.member_env(1)
        )

        # Every command (that needs no option) in every guild, by its instructor, and /help
        # by a student: one callback each, from the guild's own process.
        commands = runnable_commands(sandbox)
        assert {"help", "course status", "classmates"} <= set(commands)
        assert len(commands) > 40, commands
        records = []
        for world in cluster.worlds:
            records.append(
                await sandbox.invoke_slash(
                    world.guild_id, world.general_channel_id, world.student_ids[0], "help"
                )
            )
            for command in commands:
                records.append(
                    await sandbox.invoke_slash(
                        world.guild_id, world.general_channel_id, world.instructor_id, command
                    )
                )
        student = cluster.worlds[1].student_ids[0]  # a DM arrives on shard 0 only
        records.append(
            await sandbox.invoke_slash(None, sandbox.dm_channel_of(student), student, "help")
        )
        for record in records:
            await record.wait_final(timeout=30)
            assert record.text()
        await asyncio.sleep(0.2)  # a second answer, if any, would arrive by now
        answered = callbacks(sandbox)
        assert {record.id: answered[record.id] for record in records} == {
            record.id: 1 for record in records
        }

        assert await asyncio.wait_for(intruder.process.wait(), 60) == 2
        said = intruder.log_path.read_text().strip().splitlines()
        assert said[-1].startswith("cohortbot: SHARD_IDS=1: shard 1 already runs in another")

        # The scheduled questions, once each at their slot. Awaited before the kill below: a
        # slot falling while a member is down would wait for its first wake-up after its
        # restart (a minute).
        deadline = max(slots) + timedelta(seconds=30)
        while not all(questions(sandbox, world) for world in scheduled):
            assert datetime.now(UTC) < deadline, "a scheduled question was not posted"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a second post, if any, would arrive by now
        assert [len(questions(sandbox, world)) for world in scheduled] == [1, 1]

        # The fan-out: both processes drain it; one is killed in the middle and restarted. The
        # rows it had claimed are settled from history by its restart at once: they carry its
        # name (shard 1 of 2), and nobody else may send them before their 5-minute lease.
        rows = await cluster.queue_fanout()
        assert len(rows) == 4 * STUDENTS_PER_GUILD
        await cluster.wait_delivered(rows, len(rows) // 4, timeout=60)
        victim = cluster.members[1]
        victim.process.kill()
        await victim.process.wait()
        at_kill = len(cluster.delivered(rows))
        await asyncio.sleep(1.0)
        meanwhile = len(cluster.delivered(rows)) - at_kill
        assert meanwhile > 0, "the surviving process stopped delivering"
        await cluster.start_member(1, label="-restarted")
        await cluster.wait_ready(1)
        started = time.monotonic()
        await cluster.wait_delivered(rows, len(rows), timeout=90)
        assert time.monotonic() - started < 90

        delivered = cluster.delivered(rows)
        assert set(delivered) == set(rows), "lost"
        assert max(delivered.values()) == 1, "sent twice"
        # Not even a second attempt: a dead process's rows were settled from history first.
        posted = cluster.posted(rows)
        assert max(posted.values()) == 1 and len(posted) <= len(rows)
        # Every row sent: the fan-out's, and those of the two guilds' set-up and questions.
        states = await cluster.outbox_states(world.guild_id for world in cluster.worlds)
        assert set(states) == {"sent"} and states["sent"] >= len(rows)
        assert sandbox.global_429s == 0

        # Still once each at the end (the killed member's slot was settled before it died).
        assert [len(questions(sandbox, world)) for world in scheduled] == [1, 1]
    finally:
        problems = await cluster.stop()
    assert problems == []


# 2026-09-15 is a Tuesday; 09:00 in New York is 13:00 UTC (EDT).
TUESDAY_0900 = datetime(2026, 9, 15, 13, 0, tzinfo=UTC)


async def test_a_scheduled_post_appears_once_with_two_members_on_one_database(
    sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> None:
    """The scheduled half of the cluster, on the course clock (a real member would wait for
    the wall clock): two members in this process, each with its own pool and scheduler, both
    woken at the slot; each guild's coffee question is posted once, by its owner."""
    sandbox.shards = 2
    sandbox.max_concurrency = 2
    worlds = [
        await build_course_world(sandbox, students=2, guild_name=f"Course {shard}", shard=shard)
        for shard in (0, 1)
    ]
    clock = FakeClock(datetime(2026, 9, 7, 14, 0, tzinfo=UTC))
    runners = [
        BotRunner(
            sandbox,
            tmp_path / f"m{shard}.db",
            clock=clock,
            shard_count=2,
            shard_ids=(shard,),
            database_url=postgres_url,
        )
        for shard in (0, 1)
    ]
    try:
        for runner in runners:
            await runner.start()
        assert runners[0].bot is not None
        await runners[0].bot.tree.sync()
        for world in worlds:
            for command, options in (
                ("course setup", {"create_missing": True, "timezone": "America/New_York"}),
                ("course coffee schedule", {"what": "question", "day": 1, "time": "09:00"}),
            ):
                record = await sandbox.invoke_slash(
                    world.guild_id, world.general_channel_id, world.instructor_id, command, options
                )
                await record.wait_final()
        clock.set(TUESDAY_0900)
        ran: list[list[int]] = []
        for _ in range(2):  # twice: the ledger keeps the second wake-up from posting again
            for runner in runners:
                assert runner.app is not None
                runs = await runner.app.scheduler.run_due()
                ran.append(sorted(run.guild_id for run in runs))
        for runner in runners:
            assert runner.app is not None
            await runner.app.outbox.drain()
        # Each member ran only its own guild's slot, once.
        assert ran == [[worlds[0].guild_id], [worlds[1].guild_id], [], []]
        for world in worlds:
            coffee = sandbox.find_channel(world.guild_id, "coffee-shop")
            assert coffee is not None
            posts = [m for m in sandbox.messages(coffee) if "question of the week" in m["content"]]
            assert len(posts) == 1, posts
    finally:
        for runner in runners:
            await runner.stop()
