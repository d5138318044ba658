"""The bot's foundation through the real client: login and command sync, /help, commands in
a DM or an unconfigured server, and an unexpected error."""

from __future__ import annotations

from bot.client import EXTENSIONS
from sandbox.harness import BotRunner
from tests.support.course import Course
from tests.support.logs import ErrorLogWatcher


async def test_bot_logs_in_and_syncs_commands_to_the_dev_guild(course: Course) -> None:
    bot = course.runner.bot
    assert bot is not None and bot.is_ready()
    guild = bot.get_guild(course.guild_id)
    assert guild is not None
    # Every member is cached, not only the bot itself.
    assert guild.member_count == len(guild.members)
    names = {c["name"] for c in course.sandbox.commands(course.guild_id)}
    assert {"course", "help"} <= names
    # Never a global sync on start.
    assert course.sandbox.commands(None) == []


async def test_help_lists_only_what_the_caller_may_use(course: Course) -> None:
    await course.setup_course()
    student_help = (await course.slash(course.world.student_ids[0], "help")).text()
    instructor_help = (await course.slash(course.world.instructor_id, "help")).text()
    assert "/help" in student_help
    assert "/course" not in student_help
    assert "/course setup" in instructor_help


async def test_help_works_in_a_dm(course: Course) -> None:
    assert course.runner.bot is not None
    await course.runner.bot.tree.sync()  # as after `cohortbot sync --global`
    student = course.world.student_ids[0]
    dm = course.sandbox.dm_channel_of(student)
    record = await course.sandbox.invoke_slash(None, dm, student, "help")
    await record.wait_final()
    assert "inside your course server" in record.text()
    assert "/course" not in record.text()


async def test_course_commands_in_a_dm_get_a_pointer(course: Course) -> None:
    await course.runner.stop()
    course.runner = BotRunner(
        course.sandbox,
        course.db_path,
        clock=course.clock,
        extensions=(*EXTENSIONS, "tests.support.dm_probe_ext"),
    )
    bot = await course.runner.start()
    await bot.tree.sync()
    student = course.world.student_ids[0]
    dm = course.sandbox.dm_channel_of(student)
    record = await course.sandbox.invoke_slash(None, dm, student, "probe")
    await record.wait_final()
    assert "works inside your course server" in record.text()
    assert "probe ran" not in record.text()
    # /course is guild-only: Discord does not even offer it in DMs.
    assert any(
        c["name"] == "course" and c.get("contexts") == [0] for c in course.sandbox.commands(None)
    )


async def test_command_in_unconfigured_guild_points_to_setup(course: Course) -> None:
    record = await course.slash(course.world.instructor_id, "course cohort list")
    assert "/course setup" in record.text()


async def test_unexpected_error_gets_a_short_private_reply_and_a_log_line(
    course: Course, error_logs: ErrorLogWatcher
) -> None:
    error_logs.expect(r"Unhandled error in boom \(guild=\d+ user=\d+\)")
    await course.runner.stop()
    course.runner = BotRunner(
        course.sandbox,
        course.db_path,
        clock=course.clock,
        dev_guild_id=course.guild_id,
        extensions=(*EXTENSIONS, "tests.support.dm_probe_ext"),
    )
    await course.runner.start()
    record = await course.slash(course.world.student_ids[0], "boom")
    assert "something went wrong on our side" in record.text()
    assert "Traceback" not in record.text() and "RuntimeError" not in record.text()
    assert all(r["ephemeral"] for r in record.responses)
    assert any("boom" in r.getMessage() for r in error_logs.records)
