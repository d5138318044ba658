"""The real process (`python -m bot`) stopped in the middle of draining the outbox.

SIGTERM (systemd's stop) and SIGINT (Ctrl-C): it stops taking work, writes buffered activity,
finishes or releases the sends in flight and closes the database, exiting 0. SIGKILL: nothing
runs, yet after a restart against the same database and sandbox every DM arrives exactly once.
The drain is slowed by Discord's global rate limit (the sandbox answers real 429s), so the
signal lands while messages are still going out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.app import close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from sandbox.harness import BotRunner, CourseWorld, build_course_world
from sandbox.server import SandboxServer

TOKEN = "sandbox-token"
DMS = 20
#: requests a second the sandbox allows (interaction callbacks are exempt, as on Discord)
GLOBAL_RATE = 10.0


def bot_env(tmp_path: Path, sandbox: SandboxServer, world: CourseWorld) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "DEV_GUILD", "DATABASE_", "LOG_LEVEL", "BACKUP"))
    }
    env.update(
        DATABASE_PATH=str(tmp_path / "bot.db"),
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_BASE=sandbox.api_base,
        DISCORD_GATEWAY_URL=sandbox.gateway_url,
        DEV_GUILD_ID=str(world.guild_id),
        LOG_LEVEL="INFO",
    )
    return env


#: Each started bot process's log file, by pid.
LOGS: dict[int, Path] = {}


async def start_process(
    tmp_path: Path, sandbox: SandboxServer, world: CourseWorld
) -> asyncio.subprocess.Process:
    # Output goes to a file: a pipe read only at the end can fill and block the bot.
    log_path = tmp_path / f"bot-{len(LOGS)}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "run",
            cwd=tmp_path, env=bot_env(tmp_path, sandbox, world),
            stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    LOGS[process.pid] = log_path
    return process


async def stop_process(process: asyncio.subprocess.Process, how: signal.Signals) -> str:
    """Signal the bot, wait for it to exit, and return what it logged."""
    if process.returncode is None:
        process.send_signal(how)
    await asyncio.wait_for(process.wait(), 30)
    return LOGS.pop(process.pid).read_text(errors="replace")


async def prepared_course(tmp_path: Path, sandbox: SandboxServer) -> CourseWorld:
    """A course set up by an earlier run of the bot, then DMs queued while it was down."""
    world = await build_course_world(sandbox, students=4)
    runner = BotRunner(
        sandbox,
        tmp_path / "bot.db",
        clock=FakeClock(datetime.now(UTC)),
        dev_guild_id=world.guild_id,
    )
    await runner.start()
    try:
        record = await sandbox.invoke_slash(
            world.guild_id,
            world.general_channel_id,
            world.instructor_id,
            "course setup",
            {"create_missing": True, "timezone": "UTC", "student_role": world.student_role_id},
        )
        await record.wait_final(10)
        assert "Setup saved" in record.text(), record.text()
    finally:
        await runner.stop()
    app = await open_app(Settings(database_path=tmp_path / "bot.db"))
    try:
        rows = [
            app.outbox.new_row(
                guild_id=world.guild_id,
                kind="test:dm",
                dedupe_key=f"dm:{i}",
                content=f"queued {i}",
                user_id=world.student_ids[i % len(world.student_ids)],
            )
            for i in range(DMS)
        ]
        assert None not in await app.outbox.enqueue_rows(rows)
    finally:
        await close_app(app)
    return world


def delivered(sandbox: SandboxServer, world: CourseWorld) -> Counter[str]:
    return Counter(
        str(m["content"])
        for student in world.student_ids
        for m in sandbox.dm_messages(student)
        if str(m["content"]).startswith("queued ")
    )


def outbox_states(db_path: Path) -> Counter[str]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT state FROM outbox WHERE kind = 'test:dm'").fetchall()
    return Counter(state for (state,) in rows)


def message_activity(db_path: Path, guild_id: int) -> Counter[int]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT user_id, SUM(events) FROM activity WHERE guild_id = ? AND kind = 'message' "
            "GROUP BY user_id",
            (guild_id,),
        ).fetchall()
    return Counter({user: events for (user, events) in rows})


async def wait_until_delivering(
    sandbox: SandboxServer, world: CourseWorld, process: asyncio.subprocess.Process, at_least: int
) -> None:
    def started() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"the bot exited early with {process.returncode}")
        return sum(delivered(sandbox, world).values()) >= at_least

    await sandbox.wait_for(started, timeout=30)


async def finish_after_restart(tmp_path: Path, sandbox: SandboxServer, world: CourseWorld) -> None:
    """A fresh process drains the rest: every DM exactly once, every row sent."""
    process = await start_process(tmp_path, sandbox, world)
    try:
        await sandbox.wait_for(
            lambda: (
                sum(delivered(sandbox, world).values()) >= DMS or process.returncode is not None
            ),
            timeout=30,
        )
        # A little longer, so a duplicate sent late would be seen.
        await asyncio.sleep(0.3)
    finally:
        err = await stop_process(process, signal.SIGTERM)
    assert process.returncode == 0, err[-3000:]
    counts = delivered(sandbox, world)
    assert sorted(counts) == sorted(f"queued {i}" for i in range(DMS)), counts
    assert set(counts.values()) == {1}, f"sent twice: {[c for c, n in counts.items() if n > 1]}"
    assert outbox_states(tmp_path / "bot.db") == {"sent": DMS}


async def stop_mid_drain(
    tmp_path: Path, sandbox: SandboxServer, world: CourseWorld, how: signal.Signals
) -> None:
    """Start the bot, let it send a few DMs, have students talk, then signal it."""
    coffee = sandbox.find_channel(world.guild_id, "coffee-shop")
    assert coffee is not None
    db_path = tmp_path / "bot.db"
    talked_before = message_activity(db_path, world.guild_id)
    sent_before = sum(delivered(sandbox, world).values())
    process = await start_process(tmp_path, sandbox, world)
    try:
        await wait_until_delivering(sandbox, world, process, at_least=sent_before + 3)
        # The outbox starts sending before the gateway session is up; events sent to no
        # session are lost, so the students talk only once the bot is connected.
        await sandbox.wait_until_ready(timeout=30)
        # Students talk in a tracked channel just before the stop. A slash command answered
        # afterwards proves the bot has read those messages (one gateway stream, in order);
        # their activity is only buffered, not yet written.
        talkers = world.student_ids[:3]
        for student in talkers:
            await sandbox.send_message(coffee, student, "Just submitted the assignment!")
        record = await sandbox.invoke_slash(
            world.guild_id, world.general_channel_id, talkers[0], "help"
        )
        await record.wait_final(10)
    finally:
        err = await stop_process(process, how)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    sent = sum(delivered(sandbox, world).values())
    assert sent < DMS, "the drain finished before the signal: nothing was tested"
    # In-flight sends finished or went back to the queue: none is left half-done.
    states = outbox_states(db_path)
    assert "sending" not in states, states
    assert states["sent"] == sent
    # The buffered activity was written before the database closed.
    assert message_activity(db_path, world.guild_id) - talked_before == Counter(talkers)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


async def test_sigterm_and_sigint_mid_drain_flush_activity_and_lose_nothing(
    tmp_path: Path,
) -> None:
    async with SandboxServer() as sandbox:
        world = await prepared_course(tmp_path, sandbox)
        sandbox.set_global_rate_limit(GLOBAL_RATE)
        await stop_mid_drain(tmp_path, sandbox, world, signal.SIGTERM)  # systemd's stop
        await stop_mid_drain(tmp_path, sandbox, world, signal.SIGINT)  # Ctrl-C
        await finish_after_restart(tmp_path, sandbox, world)


async def test_sigkill_mid_drain_then_restart_sends_each_dm_exactly_once(tmp_path: Path) -> None:
    async with SandboxServer() as sandbox:
        world = await prepared_course(tmp_path, sandbox)
        sandbox.set_global_rate_limit(GLOBAL_RATE)
        process = await start_process(tmp_path, sandbox, world)
        try:
            await wait_until_delivering(sandbox, world, process, at_least=4)
        finally:
            await stop_process(process, signal.SIGKILL)
        assert process.returncode == -signal.SIGKILL
        assert sum(delivered(sandbox, world).values()) < DMS
        await finish_after_restart(tmp_path, sandbox, world)
