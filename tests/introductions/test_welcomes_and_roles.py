"""Introductions over time: welcomes in threads, deleted posts, leaving and rejoining, the
Introduced role, the instructor's list, and what the digest, milestones and nudges read."""

from __future__ import annotations

from datetime import timedelta

from cogs.introductions import IntroService
from sandbox.world import PUBLIC_THREAD
from tests.support.course import Course, app_of
from tests.support.intros import (
    FULL_INTRO,
    intro_channel,
    join,
    posts_mentioning,
    stored_intro,
    wait_for_welcomes,
    write_intro,
)
from tests.support.waiting import eventually


async def test_a_message_in_the_intros_thread_is_a_welcome_but_not_from_oneself(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    writer, greeter = course.world.student_ids[:2]
    await write_intro(course, writer, FULL_INTRO)
    intro = await stored_intro(course, writer)
    assert intro is not None and intro.message_id is not None
    # "Create thread" on the intro post: the thread shares the post's id.
    thread = s.rest.add_thread(
        s.world.channel(channel),
        "Welcome Amara",
        PUBLIC_THREAD,
        greeter,
        thread_id=intro.message_id,
    ).id
    await s.send_message(thread, writer, "Thanks for reading my intro, everyone!")
    await s.send_message(thread, greeter, "Welcome! Lagos is my favourite city.")
    (welcome,) = await wait_for_welcomes(course, 1)
    assert (welcome.newcomer_id, welcome.welcomer_id) == (writer, greeter)


async def test_a_reply_to_the_bots_welcome_counts_as_a_welcome(course: Course) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    newcomer = await join(course, "Quiet Quinn")
    await s.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    (welcome_post,) = posts_mentioning(course, channel, newcomer)

    async def recorded() -> bool:
        # The bot stores its post's id just after sending it; a reply faster than that
        # (only a test is) would find no newcomer behind the post.
        arrival = (
            await app_of(course)
            .services.get(IntroService)
            .repository.newcomer(course.guild_id, newcomer)
        )
        return arrival is not None and arrival.welcome_message_id == int(welcome_post["id"])

    await eventually(recorded)
    greeter = course.world.student_ids[0]
    await s.send_message(channel, greeter, "Hi Quinn!", reply_to=int(welcome_post["id"]))
    (welcome,) = await wait_for_welcomes(course, 1)
    assert (welcome.newcomer_id, welcome.welcomer_id) == (newcomer, greeter)


async def test_deleted_post_is_noticed_after_a_restart_and_the_student_can_write_again(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    student = course.world.student_ids[0]
    await write_intro(course, student, FULL_INTRO)
    first = await stored_intro(course, student)
    assert first is not None and first.message_id is not None
    await course.restart_bot()  # the post is no longer in the bot's message cache
    await s.delete_message(channel, first.message_id)

    async def removed() -> bool:
        intro = await stored_intro(course, student)
        return intro is not None and not intro.is_posted

    await eventually(removed)
    assert student not in await app_of(course).services.get(IntroService).introduced(
        course.guild_id
    )
    shown = await course.slash(student, "intro show")
    assert "haven't introduced" in shown.text()
    # Writing again makes a new post (the form still has the old answers).
    reopened = await course.slash(student, "intro write")
    assert reopened.modal is not None and "Lagos" in str(reopened.modal)
    await write_intro(course, student, FULL_INTRO)
    second = await stored_intro(course, student)
    assert second is not None and second.is_posted and second.message_id != first.message_id
    assert [int(m["id"]) for m in s.messages(channel)] == [second.message_id]


async def test_member_who_left_and_rejoined_keeps_the_intro_and_is_not_welcomed_twice(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s = course.sandbox
    newcomer = await join(course, "Returning Rae")
    await s.wait_for(lambda: bool(posts_mentioning(course, channel, newcomer)))
    await write_intro(course, newcomer, {"call_me": "Rae"})
    await s.remove_member(course.guild_id, newcomer)

    async def left() -> bool:
        found = (
            await app_of(course)
            .services.get(IntroService)
            .repository.newcomer(course.guild_id, newcomer)
        )
        return found is not None and found.left_at is not None

    await eventually(left)
    await s.add_member(course.guild_id, newcomer, roles=[course.world.student_role_id])

    async def back() -> bool:
        found = (
            await app_of(course)
            .services.get(IntroService)
            .repository.newcomer(course.guild_id, newcomer)
        )
        return found is not None and found.left_at is None

    await eventually(back)
    intro = await stored_intro(course, newcomer)
    assert intro is not None and intro.is_posted and intro.answers["call_me"] == "Rae"
    assert len(posts_mentioning(course, channel, newcomer)) == 1
    assert newcomer in await app_of(course).services.get(IntroService).introduced(course.guild_id)


async def test_introduced_role_is_given_after_posting_and_removed_when_deleted(
    course: Course,
) -> None:
    await course.setup_course()
    channel = await intro_channel(course)
    s, gid = course.sandbox, course.guild_id
    role = s.create_role(gid, "Introduced")
    await s.wait_for(
        lambda: (
            (bot := course.runner.bot) is not None
            and (g := bot.get_guild(gid)) is not None
            and g.get_role(role) is not None
        )
    )
    student = course.world.student_ids[1]
    s.allow_command_for_everyone(gid, "course")  # an admin changed the default: still refused
    refused = await course.slash(student, "course intro settings", {"introduced_role": role})
    assert "for course staff" in refused.text() and refused.ephemeral
    assert (
        await app_of(course).services.get(IntroService).settings(gid)
    ).introduced_role_id is None
    saved = await course.slash(
        course.world.instructor_id,
        "course intro settings",
        {"introduced_role": role, "min_length": 40},
    )
    assert "Introduced role: @Introduced" in saved.text()
    assert "from 40 characters" in saved.text()

    await write_intro(course, student, {"call_me": "Ben"})
    await s.wait_for(lambda: role in s.member_role_ids(gid, student))
    writer = course.world.student_ids[2]
    long = await s.send_message(channel, writer, "Hello! I'm Chen, studying from Taipei at night.")
    await s.wait_for(lambda: role in s.member_role_ids(gid, writer))

    intro = await stored_intro(course, student)
    assert intro is not None and intro.message_id is not None
    await s.delete_message(channel, intro.message_id)
    await s.delete_message(channel, int(long["id"]))
    await s.wait_for(lambda: role not in s.member_role_ids(gid, student))
    await s.wait_for(lambda: role not in s.member_role_ids(gid, writer))


async def test_course_intro_list_shows_who_has_and_has_not_introduced(course: Course) -> None:
    await course.setup_course()
    students = course.world.student_ids
    await write_intro(course, students[0], {"call_me": "Amara"})
    course.clock.advance(timedelta(hours=1))
    record = await course.slash(course.world.instructor_id, "course intro list")
    text = record.text()
    assert record.ephemeral
    assert "1 of 6 students" in text
    when = int(course.clock.now().timestamp()) - 3600
    assert f"✅ {course.world.names[students[0]]} — <t:{when}:d>" in text
    assert f"▫️ {course.world.names[students[1]]} — not yet" in text
    assert course.world.names[course.world.lead_id] not in text  # staff are not students
    course.sandbox.allow_command_for_everyone(course.guild_id, "course")
    refused = await course.slash(students[1], "course intro list")
    assert "for course staff" in refused.text()


async def test_on_introduced_hook_runs_once_per_introduction_not_on_edits(course: Course) -> None:
    await course.setup_course()
    calls: list[tuple[int, int]] = []

    async def hook(guild_id: int, user_id: int) -> None:
        calls.append((guild_id, user_id))

    app_of(course).services.get(IntroService).on_introduced.append(hook)
    student = course.world.student_ids[0]
    await write_intro(course, student, {"call_me": "Amara"})
    await write_intro(course, student, {"call_me": "Amara (she/her)"})
    assert calls == [(course.guild_id, student)]


async def test_unwelcomed_newcomers_the_newest_line_and_nudge_candidates(course: Course) -> None:
    await course.setup_course()
    app = app_of(course)
    gid = course.guild_id
    s = course.sandbox
    channel = await intro_channel(course)
    start = course.clock.now()
    welcomed = await join(course, "Welcomed Wanda")
    lonely = await join(course, "Lonely Lou")
    silent = await join(course, "Silent Sid")
    await s.wait_for(lambda: bool(posts_mentioning(course, channel, silent)))
    await write_intro(course, welcomed, {"call_me": "Wanda"})
    await write_intro(course, lonely, {"call_me": "Lou"})
    wanda = await stored_intro(course, welcomed)
    assert wanda is not None and wanda.message_id is not None
    greeter = course.world.student_ids[0]
    await s.send_message(channel, greeter, "Hi Wanda!", reply_to=wanda.message_id)
    await wait_for_welcomes(course, 1)

    # Within the first day nobody is "unwelcomed" and there is no line.
    assert (
        await app.services.get(IntroService).newest_unwelcomed_line(gid, start + timedelta(hours=2))
        is None
    )
    later = start + timedelta(hours=25)
    waiting = await app.services.get(IntroService).unwelcomed(gid, later - timedelta(hours=24))
    assert {n.user_id for n in waiting} == {lonely, silent}
    line = await app.services.get(IntroService).newest_unwelcomed_line(gid, later)
    assert line is not None and line.startswith("Say hi to our newest classmates")
    # Mention-free, and it links the newest intros (welcomed or not): nobody is singled out.
    assert "<@" not in line and "@everyone" not in line
    assert str(wanda.message_id) in line
    introduced = await app.services.get(IntroService).introduced(gid)
    assert set(introduced) == {welcomed, lonely}

    # The "introduce yourself" reminder: only after two days, at most twice, days apart.
    bot = course.runner.bot
    assert bot is not None
    guild = bot.get_guild(gid)
    assert guild is not None
    cohort = await app.guild_settings.resolve_cohort(gid, None)
    day1 = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, start + timedelta(days=1)
    )
    assert silent not in {c.user_id for c in day1}
    day2 = start + timedelta(days=2, hours=1)
    candidates = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, day2
    )
    ids = {c.user_id for c in candidates}
    assert silent in ids and welcomed not in ids and lonely not in ids
    (sid,) = [c for c in candidates if c.user_id == silent]
    assert sid.values["member"] == "Silent Sid" and "1 of 2" in sid.reason
    only_opted = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, day2, opted_in=[]
    )
    assert only_opted == []
    course.clock.set(day2)
    await app.services.get(IntroService).record_nudge_sent(gid, silent, "introduce")
    soon = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, day2 + timedelta(days=1)
    )
    assert silent not in {c.user_id for c in soon}
    course.clock.set(day2 + timedelta(days=4))
    second = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, course.clock.now()
    )
    assert silent in {c.user_id for c in second}
    await app.services.get(IntroService).record_nudge_sent(gid, silent, "introduce")
    never = await app.services.get(IntroService).introduce_nudge_candidates(
        guild, cohort, course.clock.now() + timedelta(days=30)
    )
    assert silent not in {c.user_id for c in never}
