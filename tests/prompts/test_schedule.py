"""Prompts on the course clock: schedule, calendar breaks, missed-while-down, nudges, the
"no answer left alone" line, the bank commands and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cogs.nudges import NudgeEngine
from cogs.prompts import PromptService
from sandbox.world import FORUM
from tests.support.course import Course, app_of, modal_input_ids
from tests.support.prompts import (
    SUBSTANTIVE,
    bot_posts,
    participation,
    post_now,
    set_up_prompts,
    wait_until,
)

# 2026-09-14 is a Monday; 09:00 in New York is 13:00 UTC (EDT).
MONDAY_0900 = datetime(2026, 9, 14, 13, 0, tzinfo=UTC)


def leads_texts(course: Course) -> list[str]:
    leads = course.sandbox.find_channel(course.guild_id, "cohort-leads")
    assert leads is not None
    return [str(m["content"]) for m in course.sandbox.messages(leads)]


async def test_scheduled_post_on_the_calendar_skips_break_weeks(course: Course) -> None:
    channel = await set_up_prompts(course)
    app = app_of(course)
    await course.slash(
        course.world.instructor_id,
        "course calendar set",
        {"start": "2026-09-07", "weeks": 10, "breaks": "2026-09-21"},
    )
    course.clock.set(MONDAY_0900 - timedelta(minutes=1))
    assert [r for r in await app.scheduler.run_due() if r.kind == "prompt"] == []
    await app.outbox.drain()
    assert bot_posts(course, channel) == []
    course.clock.set(MONDAY_0900)
    runs = [r for r in await app.scheduler.run_due() if r.kind == "prompt"]
    await app.outbox.drain()
    assert len(runs) == 1 and not runs[0].late
    (post,) = bot_posts(course, channel)
    assert "Week 2 discussion" in post["content"]
    assert "Describe when and where you actually study" in post["content"]  # the week-2 prompt
    # Break week: the slot passes, nothing is posted.
    course.clock.set(MONDAY_0900 + timedelta(weeks=1))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, channel)) == 1
    # The week after the break is course week 3.
    course.clock.set(MONDAY_0900 + timedelta(weeks=2))
    await app.scheduler.run_due()
    await app.outbox.drain()
    posts = bot_posts(course, channel)
    assert len(posts) == 2 and "Week 3 discussion" in posts[1]["content"]
    # After the last course week: nothing.
    course.clock.set(MONDAY_0900 + timedelta(weeks=20))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, channel)) == 2


async def test_missed_while_down_late_within_grace_else_skipped_and_told(
    course: Course,
) -> None:
    channel = await set_up_prompts(course)
    app = app_of(course)
    # The bot was down at 09:00; back at 11:00 (inside the 6-hour grace): one late post.
    course.clock.set(MONDAY_0900 + timedelta(hours=2))
    await course.restart_bot()
    app = app_of(course)
    await app.scheduler.run_due()
    await app.outbox.drain()
    (post,) = bot_posts(course, channel)
    assert "posted late" in post["content"]
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, channel)) == 1
    # Next week it is back only at 20:00: skipped, and the instructor is told once.
    course.clock.set(MONDAY_0900 + timedelta(weeks=1, hours=11))
    await course.restart_bot()
    app = app_of(course)
    await app.scheduler.run_due()
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, channel)) == 1
    notices = [t for t in leads_texts(course) if "was not posted" in t]
    assert len(notices) == 1 and "/course prompt post-now" in notices[0]


async def test_no_answer_left_alone_line_links_unanswered_answers(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, app = course.sandbox, app_of(course)
    await post_now(course)
    amara, ben, chen = course.world.student_ids[:3]
    first = await s.send_message(channel, amara, "Amara's answer.")
    second = await s.send_message(channel, ben, "Ben's answer.")
    await s.wait_for(lambda: s.channel(int(second["id"])) is not None)
    await s.wait_for(lambda: s.channel(int(first["id"])) is not None)
    await s.send_message(int(first["id"]), chen, SUBSTANTIVE)

    async def received() -> int:
        rows = await participation(course)
        return rows[amara].replies_received if amara in rows else -1

    await wait_until(course, received, 1)
    # Saturday 00:00 in New York: two days before the week ends.
    course.clock.set(datetime(2026, 9, 12, 4, 0, tzinfo=UTC))
    runs = [r for r in await app.scheduler.run_due() if r.kind == "prompt_followup"]
    await app.outbox.drain()
    assert len(runs) == 1
    (post,) = bot_posts(course, channel)
    assert "still waiting for their first reply" in post["content"]
    assert f"/{second['id']}" in post["content"]  # Ben's answer has no reply
    assert f"/{first['id']}" not in post["content"].split("waiting")[1]
    assert course.world.names[chen] not in post["content"]  # names nobody
    assert post["mentions"] == []


async def test_nudges_go_to_opted_in_students_with_links_and_a_stem(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, w, app = course.sandbox, course.world, app_of(course)
    await course.slash(w.instructor_id, "course calendar set", {"start": "2026-09-07", "weeks": 10})
    await post_now(course)
    amara, ben, chen, dana = w.student_ids[:4]
    for student in (amara, ben, dana):
        record = await course.slash(student, "nudges on")
        assert record.ephemeral
    a = await s.send_message(channel, amara, "Amara's answer.")
    b = await s.send_message(channel, ben, "Ben's answer.")
    await s.wait_for(lambda: s.channel(int(a["id"])) is not None)
    await s.wait_for(lambda: s.channel(int(b["id"])) is not None)
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    guild = course.runner.bot.get_guild(course.guild_id)  # type: ignore[union-attr]
    assert guild is not None
    course.clock.set(datetime(2026, 9, 9, 15, 0, tzinfo=UTC))  # Wednesday 11:00
    no_replies = await app.services.get(NudgeEngine).send_now(guild, cohort, "prompt_noreply")
    unanswered = await app.services.get(NudgeEngine).send_now(guild, cohort, "prompt_unanswered")
    assert no_replies.queued == 2  # Amara and Ben answered, replied to nobody
    assert unanswered.queued == 1  # Dana; Chen did not opt in
    await app.outbox.drain()
    (amara_dm,) = s.dm_messages(amara)
    assert "still waiting for a first reply: 1." in amara_dm["content"]
    assert f"/{b['id']}" in amara_dm["content"] and f"/{a['id']}" not in amara_dm["content"]
    assert "What made you" in amara_dm["content"] or "How will you" in amara_dm["content"]
    (dana_dm,) = s.dm_messages(dana)
    assert "waiting for your answer" in dana_dm["content"]
    assert f"/{channel}/" in dana_dm["content"]
    assert s.dm_messages(chen) == []
    # Capped: at most one of each kind per week.
    again = await app.services.get(NudgeEngine).send_now(guild, cohort, "prompt_unanswered")
    assert again.queued == 0


async def test_bank_add_list_remove_and_the_length_limit(course: Course) -> None:
    await course.setup_course()
    s, w = course.sandbox, course.world
    opened = await s.invoke_slash(
        course.guild_id, w.general_channel_id, w.instructor_id, "course prompt add"
    )
    await opened.wait_response()
    text_id, week_id, theme_id, stems_id = modal_input_ids(opened)
    too_long = await s.submit_modal(opened, w.instructor_id, {text_id: "Why? " * 300})
    await too_long.wait_final()
    assert "the limit is 1200" in too_long.text() and "Nothing was saved" in too_long.text()
    opened = await s.invoke_slash(
        course.guild_id, w.general_channel_id, w.instructor_id, "course prompt add"
    )
    await opened.wait_response()
    added = await s.submit_modal(
        opened,
        w.instructor_id,
        {
            text_id: "What will you try first?",
            week_id: "4",
            theme_id: "strategy",
            stems_id: "Why that?\nThen what?",
        },
    )
    await added.wait_final()
    assert "Added prompt #" in added.text() and "(week 4)" in added.text()
    listing = await course.slash(w.instructor_id, "course prompt list", {"page": 3})
    assert "What will you try first?" in listing.text()  # after the 26 shipped prompts
    prompt_id = int(added.text().split("#")[1].split()[0])
    removed = await course.slash(w.instructor_id, "course prompt remove", {"prompt_id": prompt_id})
    assert "Removed" in removed.text()
    listing = await course.slash(w.instructor_id, "course prompt list", {"page": 3})
    assert "What will you try first?" not in listing.text()
    missing = await course.slash(w.instructor_id, "course prompt remove", {"prompt_id": 99999})
    assert "no prompt #99999" in missing.text()


async def test_import_keeps_good_rows_and_reports_bad_ones(course: Course) -> None:
    await course.setup_course()
    w = course.world
    csv = b"text,theme,week,follow_up_1\nA good question?,reflection,2,Why?\n,x,,\nOK?,,99,\n"
    record = await course.slash(w.instructor_id, "course prompt import", {"file": ("b.csv", csv)})
    text = record.text()
    assert "Imported 1 prompt(s)" in text, text
    assert "row 2: The prompt text is empty" in text and "row 3: The week must be 1–52" in text
    good = json.dumps([{"text": "From JSON?", "follow_ups": ["a", "b"]}]).encode()
    record = await course.slash(w.instructor_id, "course prompt import", {"file": ("b.json", good)})
    assert "Imported 1 prompt(s)" in record.text()
    for name, data, message in (
        ("notes.pdf", b"%PDF", "isn't a CSV or JSON"),
        ("empty.csv", b"", "is empty"),
        ("huge.csv", b"text\n" + b"x" * 300_000, "the limit is 256 KB"),
    ):
        record = await course.slash(w.instructor_id, "course prompt import", {"file": (name, data)})
        assert message in record.text() and "Nothing was imported" in record.text(), name
    bank = await app_of(course).services.get(PromptService).bank(course.guild_id, 1)
    assert [p.text for p in bank if p.source == "import"] == ["A good question?", "From JSON?"]


async def test_channel_checks_and_a_deleted_channel_is_reported_once(course: Course) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    locked = s.create_channel(
        gid,
        "locked",
        overwrites=[{"id": w.bot_role_id, "type": 0, "allow": "0", "deny": str(1 << 11)}],
    )
    record = await course.slash(
        w.instructor_id, "course prompt schedule", {"channel": locked, "day": 0, "time": "09:00"}
    )
    assert "I'm missing Send Messages" in record.text() and "nothing changed" in record.text()
    bad_time = await course.slash(
        w.instructor_id, "course prompt schedule", {"channel": locked, "day": 0, "time": "9pm?"}
    )
    assert "Nothing was changed" in bad_time.text()
    forum = s.create_channel(gid, "forum-talk", type=FORUM)
    channel = await set_up_prompts(course, channel=forum)
    # An admin deletes the discussion channel.
    payload = s.world.channel_payload(channel)
    s.world.channels[channel].deleted = True
    s.world.dispatch("CHANNEL_DELETE", payload)
    s.world.changed()
    await s.wait_for(lambda: any("was deleted" in t for t in leads_texts(course)))
    text = await post_now(course)
    assert "deleted" in text
    course.clock.set(MONDAY_0900)
    await app_of(course).scheduler.run_due()
    await app_of(course).outbox.drain()
    assert len([t for t in leads_texts(course) if "deleted" in t]) == 1
    answer = await course.slash(w.student_ids[0], "prompt mine")
    assert "no discussion prompt open" in answer.text()


async def test_stats_table_shows_answers_and_replies(course: Course) -> None:
    channel = await set_up_prompts(course)
    s, w = course.sandbox, course.world
    await post_now(course)
    amara, ben = w.student_ids[:2]
    a = await s.send_message(channel, amara, "Amara's answer.")
    await s.wait_for(lambda: s.channel(int(a["id"])) is not None)
    await s.send_message(int(a["id"]), ben, SUBSTANTIVE)
    await s.send_message(int(a["id"]), ben, "And thanks!")

    async def given() -> int:
        rows = await participation(course)
        return rows[ben].replies_given if ben in rows else -1

    await wait_until(course, given, 2)
    record = await course.slash(w.instructor_id, "course prompt stats")
    text = record.text()
    assert "1 of 6 students answered" in text, text
    amara_line = next(line for line in text.splitlines() if line.startswith("Amara"))
    ben_line = next(line for line in text.splitlines() if line.startswith("Ben"))
    assert amara_line.split()[-4:] == ["yes", "0", "0", "2"]
    assert ben_line.split()[-4:] == ["–", "1", "1", "0"]
    none = await course.slash(w.instructor_id, "course prompt stats", {"week": 9})
    assert "No prompt has been posted for that week" in none.text()


async def test_upcoming_lists_the_prompt_with_edit_and_skip(course: Course) -> None:
    channel = await set_up_prompts(course)
    app = app_of(course)
    now = course.clock.now()
    items = [
        i
        for i in await app.upcoming.items(course.guild_id, now, now + timedelta(days=15))
        if i.kind == "weekly prompt"
    ]
    assert [i.when for i in items] == [MONDAY_0900, MONDAY_0900 + timedelta(weeks=1)]
    assert "What brought you to this course" in items[0].preview
    assert items[0].edit is not None and items[1].skip is not None
    await items[0].edit("What is one thing you want to learn this week?", 1)
    await items[1].skip(1)
    course.clock.set(MONDAY_0900)
    await app.scheduler.run_due()
    await app.outbox.drain()
    (post,) = bot_posts(course, channel)
    assert "What is one thing you want to learn this week?" in post["content"]
    course.clock.set(MONDAY_0900 + timedelta(weeks=1))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, channel)) == 1
