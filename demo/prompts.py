"""Demo scenes for weekly discussion prompts, appended to demo.run.SCENES: a prompt
posted to two discussion groups, answers and replies (substantive and short), the mid-week
nudge, "no answer left alone" and the stats table."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from cogs.nudges import NudgeEngine
from cogs.prompts import PromptService
from sandbox.server import InteractionRecord

if TYPE_CHECKING:
    from demo.run import Transcript

NEW_YORK = ZoneInfo("America/New_York")


async def _slash(
    t: Transcript, user: int, command: str, options: dict[str, object] | None = None
) -> InteractionRecord:
    w = t.world
    shown = " ".join(f"{k}:{v}" for k, v in (options or {}).items())
    t.action(user, f"runs /{command} {shown}".rstrip())
    record = await t.sandbox.invoke_slash(w.guild_id, w.general_channel_id, user, command, options)
    await record.wait_final()
    await _settle(t, _stable(record))  # long answers come as several followups
    t.answer(record)
    return record


def _stable(record: InteractionRecord) -> Any:
    seen = [-1]

    async def probe() -> bool:
        import asyncio

        await asyncio.sleep(0.05)
        count = len(record.responses)
        done = count == seen[0]
        seen[0] = count
        return done

    return probe


def _show(t: Transcript, where: str, message: dict[str, Any], *, limit: int = 12) -> None:
    from demo.run import render_payload  # demo.run imports this module

    lines = render_payload(message)
    t.out(f"◀ {where} — {t.name(int(message['author']['id']))}:")
    for line in lines[:limit]:
        t.out(textwrap.indent(line, "    "))
    if len(lines) > limit:
        t.out(f"    … ({len(lines) - limit} more lines)")


def _discussion(t: Transcript) -> int:
    found = t.sandbox.find_channel(t.world.guild_id, "discussion")
    assert found is not None, "the discussion channel is missing"
    return found


async def _settle(t: Transcript, probe: Any) -> None:
    import asyncio

    for _ in range(100):
        if await probe():
            return
        await asyncio.sleep(0.02)


async def scene_prompt_posted_to_two_groups(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    t.scene("The weekly discussion prompt, posted to two stable groups")
    clock = app.clock
    assert isinstance(clock, FakeClock)
    cohort = (await app.guild_settings.cohorts(w.guild_id))[0]
    # Next Monday 09:30 course time, skipping a break week.
    day = (clock.now() + timedelta(days=1)).astimezone(NEW_YORK).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    clock.set(datetime.combine(day, time(9, 30)).replace(tzinfo=NEW_YORK))
    if not (await app.services.get(PromptService).week(w.guild_id, cohort.cohort_id)).running:
        clock.set(clock.now() + timedelta(weeks=1))
    t.out(f"  (the clock moves to {clock.now().astimezone(NEW_YORK):%A %d %B, %H:%M} course time)")
    channel = _discussion(t)
    await _slash(
        t,
        w.instructor_id,
        "course prompt schedule",
        {
            "channel": channel,
            "day": 0,
            "time": "09:00",
            "group_threshold": 16,
            "group_size": 20,
        },
    )
    students = len(await app.roster.students(t.runner.bot.get_guild(w.guild_id), cohort))  # type: ignore[arg-type,union-attr]
    t.out(f"  ({students} students is above the threshold of 16: two groups of about half form)")
    seen = len(s.messages(channel))
    await _slash(t, w.instructor_id, "course prompt post-now")
    posts = s.messages(channel)[seen:]
    _show(t, "#discussion", posts[0], limit=16)
    for post in posts[1:]:
        _show(t, "#discussion", post, limit=1)


async def scene_answers_and_replies(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    t.scene("Students answer, and follow up on each other's answers")
    channel = _discussion(t)
    amara, ben, chen, dana = w.student_ids[:4]
    await _slash(t, amara, "prompt group")
    t.action(amara, "runs /prompt answer")
    opened = await s.invoke_slash(w.guild_id, w.general_channel_id, amara, "prompt answer")
    await opened.wait_response()
    t.answer(opened)
    answer_text = (
        "I'm here because I analyse sales data at work with spreadsheets and want to automate "
        "it. By the last week I'd like one real report running in Python."
    )
    t.out(f"  ({t.name(amara)} types: “{answer_text}”)")
    submitted = await s.submit_modal(opened, amara, {"cohortbot:prompt:answer:text": answer_text})
    await submitted.wait_final()
    t.answer(submitted)
    found = re.search(r"channels/\d+/(\d+)", submitted.text())
    assert found is not None, "no link to the answer"
    amara_place = int(found.group(1))

    t.action(ben, "writes his answer as a message in #discussion")
    ben_msg = await s.send_message(
        channel, ben, "Career change! I'm a nurse moving into health informatics."
    )
    await s.wait_for(lambda: s.channel(int(ben_msg["id"])) is not None)
    thread = s.channel(int(ben_msg["id"]))
    assert thread is not None
    t.out(f"◀ CohortBot opens a thread on it: “{thread['name']}”")

    reply = (
        "Automating a weekly report is such a good goal. What made you pick Python over "
        "the spreadsheet macros you already know?"
    )
    t.action(chen, f"replies in {t.name(amara)}'s answer thread: “{reply}” (substantive)")
    await s.send_message(amara_place, chen, reply)
    t.action(dana, f"replies in {t.name(ben)}'s thread: “Love this!” (short)")
    await s.send_message(int(ben_msg["id"]), dana, "Love this!")
    t.action(amara, "answers Chen in her own thread (conversation, not a new answer)")
    await s.send_message(amara_place, amara, "Macros break every time the sheet changes!")

    cohort = (await app.guild_settings.cohorts(w.guild_id))[0]

    async def counted() -> bool:
        week = await app.services.get(PromptService).week(w.guild_id, cohort.cohort_id)
        rows = await app.services.get(PromptService).store.week_participation(
            w.guild_id, cohort.cohort_id, week.key
        )
        return sum(r.replies_given for r in rows) == 2

    await _settle(t, counted)
    await _slash(t, ben, "prompt mine")


async def scene_midweek_nudge(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    t.scene("Mid-week: the prompt nudges (opted-in students only, by DM)")
    ben, eli, fatima = w.student_ids[1], w.student_ids[4], w.student_ids[5]
    t.action(fatima, "answers on Tuesday; nobody has replied to her yet")
    answer = await s.send_message(
        _discussion(t), fatima, "My kids are learning to code and I want to keep up with them."
    )
    await s.wait_for(lambda: s.channel(int(answer["id"])) is not None)
    for student in (ben, eli):
        await _slash(t, student, "nudges on")
    clock = app.clock
    assert isinstance(clock, FakeClock)
    local = clock.now().astimezone(NEW_YORK)
    wednesday = local.date() + timedelta(days=(2 - local.weekday()) % 7)
    clock.set(datetime.combine(wednesday, time(10, 5)).replace(tzinfo=NEW_YORK))
    t.out(f"  (the clock moves to {wednesday:%A %d %B}, 10:05 — the check-in day)")
    await app.services.get(NudgeEngine).run_due()
    await app.outbox.drain()
    from demo.run import render_payload

    for student, why, marker in (
        (ben, "answered but replied to nobody", "waiting for a first reply"),
        (eli, "hasn't answered yet", "waiting for your answer"),
    ):
        for message in [m for m in s.dm_messages(student) if marker in str(m.get("content"))]:
            t.out(f"◀ DM to {t.name(student)} ({why}) — CohortBot:")
            for line in render_payload(message):
                t.out(textwrap.indent(line, "    "))
    t.out("  (students who didn't opt in get nothing; the engine caps and dedupes each kind)")


async def scene_no_answer_left_alone_and_stats(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    t.scene("No answer left alone, and the instructor's stats table")
    clock = app.clock
    assert isinstance(clock, FakeClock)
    eli = w.student_ids[4]
    t.action(eli, "answers after the nudge")
    eli_msg = await s.send_message(
        _discussion(t), eli, "Honestly? To prove to myself I can finish something this year."
    )
    await s.wait_for(lambda: s.channel(int(eli_msg["id"])) is not None)
    local = clock.now().astimezone(NEW_YORK)
    saturday = local.date() + timedelta(days=(5 - local.weekday()) % 7)
    clock.set(datetime.combine(saturday, time(0, 1)).replace(tzinfo=NEW_YORK))
    t.out(f"  (Saturday {saturday:%d %B}, two days before the week ends)")
    cohort = (await app.guild_settings.cohorts(w.guild_id))[0]
    guild = t.runner.bot.get_guild(w.guild_id) if t.runner and t.runner.bot else None
    assert guild is not None
    await app.services.get(PromptService).note_unanswered(guild, cohort)
    for post in await app.services.get(PromptService).store.latest_posts(
        w.guild_id, cohort.cohort_id
    ):
        message = s.message(post.message_id or 0)
        if message and "waiting for their first reply" in str(message.get("content")):
            t.out(f"◀ #discussion — Group {post.group_no}'s prompt post now ends with:")
            t.out("    " + str(message["content"]).rsplit("\n", 1)[-1])
    await _slash(t, w.instructor_id, "course prompt stats")


SCENES = [
    scene_prompt_posted_to_two_groups,
    scene_answers_and_replies,
    scene_midweek_nudge,
    scene_no_answer_left_alone_and_stats,
]
