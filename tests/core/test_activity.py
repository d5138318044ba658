"""Activity tracking: what counts, what doesn't, and nothing lost when the bot stops."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from bot.client import EXTENSIONS
from sandbox.harness import BotRunner
from tests.support.course import Course


async def activity_rows(course: Course) -> list[tuple[int, str, int]]:
    app = course.runner.app
    assert app is not None
    await app.activity_recorder.flush()
    rows = await app.db.fetchall(
        # In no particular order: portable to PostgreSQL (no rowid there); callers compare sets.
        "SELECT user_id, kind, channel_id, events FROM activity WHERE guild_id = ?",
        (course.guild_id,),
    )
    # One entry per event (a row counts the events of one second).
    return [(r["user_id"], r["kind"], r["channel_id"]) for r in rows for _ in range(r["events"])]


async def test_messages_reactions_and_commands_in_tracked_places_count(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    intro = s.find_channel(gid, "introductions")
    coffee = s.find_channel(gid, "coffee-shop")
    assert intro and coffee
    student, other = course.world.student_ids[:2]
    baseline = await activity_rows(course)
    await s.send_message(intro, student, "Hi all, I'm a nurse working nights.")
    untracked = await s.send_message(course.world.general_channel_id, other, "not tracked")
    posted = await s.send_message(coffee, other, "Coffee time")
    await s.add_reaction(coffee, int(posted["id"]), student, "🎉")
    await s.add_reaction(course.world.general_channel_id, int(untracked["id"]), student, "👍")
    thread = s.create_thread(coffee, "chat", owner_id=other)
    await s.send_message(thread, student, "in a thread of a tracked channel")
    await course.slash(student, "help")
    await s.wait_for(
        lambda: course.runner.app is not None and course.runner.app.activity_recorder.pending >= 5
    )
    rows = list((Counter(await activity_rows(course)) - Counter(baseline)).elements())
    assert (student, "message", intro) in rows
    assert (other, "message", coffee) in rows
    assert (student, "reaction", coffee) in rows
    assert (student, "message", thread) in rows
    assert any(r[0] == student and r[1] == "command" for r in rows)
    # Untracked channel: neither the message nor the reaction counts.
    assert not any(r[2] == course.world.general_channel_id and r[1] != "command" for r in rows)
    # The bot's own messages never count.
    assert not any(r[0] == s.bot_user_id for r in rows)


async def test_buffered_activity_is_written_when_the_bot_stops(course: Course) -> None:
    await course.setup_course()
    s = course.sandbox
    coffee = s.find_channel(course.guild_id, "coffee-shop")
    assert coffee
    app = course.runner.app
    assert app is not None
    app.activity_recorder._flush_interval = 3600  # only the shutdown flush may write
    await app.activity_recorder.flush()
    for i in range(20):
        await s.send_message(coffee, course.world.student_ids[i % 3], f"message {i}")
    await s.wait_for(lambda: app.activity_recorder.pending >= 20)
    await course.restart_bot()
    rows = await activity_rows(course)
    assert sum(1 for r in rows if r[1] == "message") == 20


async def test_last_active_reads_back(course: Course) -> None:
    await course.setup_course()
    coffee = course.sandbox.find_channel(course.guild_id, "coffee-shop")
    assert coffee
    student = course.world.student_ids[0]
    await course.sandbox.send_message(coffee, student, "hello")
    app = course.runner.app
    assert app is not None
    await course.sandbox.wait_for(lambda: app.activity_recorder.pending >= 1)
    await app.activity_recorder.flush()
    last = await app.activity.last_active(course.guild_id, [student, 1])
    assert set(last) == {student}
    assert abs(last[student] - course.clock.now()) < timedelta(seconds=1)


async def test_feature_groups_under_course_check_the_instructor(course: Course) -> None:
    await course.setup_course()
    await course.runner.stop()
    course.runner = BotRunner(
        course.sandbox, course.db_path, clock=course.clock, dev_guild_id=course.guild_id,
        extensions=(*EXTENSIONS, "tests.support.dm_probe_ext"),
    )  # fmt: skip
    await course.runner.start()
    course.sandbox.allow_command_for_everyone(course.guild_id, "course")
    assert "pong" in (await course.slash(course.world.instructor_id, "course probe ping")).text()
    refused = await course.slash(course.world.student_ids[0], "course probe ping")
    assert "for course staff" in refused.text() and "pong" not in refused.text()


async def test_a_refused_command_is_no_participation(course: Course) -> None:
    """A student whose only action was a refused /digest now stays in the no-activity list."""
    await course.setup_course()
    student = course.world.student_ids[0]
    course.sandbox.allow_command_for_everyone(course.guild_id, "digest")
    refused = await course.slash(student, "digest now")
    assert "Only cohort leads and instructors" in refused.text()
    bad_value = await course.slash(student, "circle join", {"name": "No such circle"})
    assert "There is no circle called" in bad_value.text()
    await course.runner.settle()
    assert [r for r in await activity_rows(course) if r[0] == student] == []
    # A command the bot carried out still counts.
    await course.slash(student, "help")
    await course.runner.settle()
    assert [r[1] for r in await activity_rows(course) if r[0] == student] == ["command"]


async def test_a_refused_button_is_no_participation_and_a_used_one_is(course: Course) -> None:
    """Pressing a staff button as a student counts as nothing; pressing one's own welcome
    button (it opens the intro form) counts once, decided when the press was answered."""
    await course.setup_course()
    s, w = course.sandbox, course.world
    student = w.student_ids[0]
    payload = {
        "content": "staff buttons",
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": "x", "custom_id": custom_id}
                    for custom_id in (
                        "cohortbot:term:close:1",
                        f"cohortbot:intro:write:{student}",
                    )
                ],
            }
        ],
    }
    message = s.world.build_message(w.general_channel_id, s.bot_user_id, payload)
    s.world.store_message(message)
    message_id = int(message["id"])
    refused = await s.click_button(
        w.general_channel_id, message_id, student, "cohortbot:term:close:1"
    )
    await refused.wait_final()
    assert "course staff" in refused.text() or "Only" in refused.text(), refused.text()
    await course.runner.settle()
    assert [r for r in await activity_rows(course) if r[0] == student] == []
    used = await s.click_button(
        w.general_channel_id, message_id, student, f"cohortbot:intro:write:{student}"
    )
    await s.wait_for(lambda: used.modal is not None)
    await course.runner.settle()
    assert [r[1] for r in await activity_rows(course) if r[0] == student] == ["button"]
