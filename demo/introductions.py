"""Demo scenes for introductions and profiles, appended to demo.run.SCENES."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from cogs.introductions import IntroService
from sandbox.server import InteractionRecord

if TYPE_CHECKING:
    from bot.app import AppContext
    from demo.run import Transcript


def _running(t: Transcript) -> tuple[AppContext, discord.Guild]:
    runner = t.runner
    if runner is None or runner.app is None or runner.bot is None:
        raise RuntimeError("the demo transcript has no running bot")
    guild = runner.bot.get_guild(t.world.guild_id)
    assert guild is not None
    return runner.app, guild


async def _intro_channel(t: Transcript) -> int:
    channel = t.sandbox.find_channel(t.world.guild_id, "introductions")
    assert channel is not None, "run the setup scene first"
    return channel


async def _slash(
    t: Transcript, user: int, command: str, options: dict[str, object] | None = None
) -> InteractionRecord:
    w = t.world
    record = await t.sandbox.invoke_slash(w.guild_id, w.general_channel_id, user, command, options)
    await record.wait_final()
    return record


def _newest(t: Transcript, channel: int) -> dict[str, Any]:
    return t.sandbox.messages(channel)[-1]


async def scene_newcomers_join(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("Two new students join: the bot welcomes each in #introductions")
    channel = await _intro_channel(t)
    for name in ("Nora Newman", "Omar Quiet"):
        user = s.create_user(name)
        w.names[user] = name
        before = len(s.messages(channel))
        t.action(user, "joins the server (with the Student role)")
        await s.add_member(w.guild_id, user, roles=[w.student_role_id])
        await s.wait_for(lambda: len(s.messages(channel)) > before)  # noqa: B023
        t.channel_post("introductions", _newest(t, channel))
    t.out("  (each welcome pings only its newcomer; bots and staff who join are not welcomed)")


def _newcomer(t: Transcript, name: str) -> int:
    return next(uid for uid, n in t.world.names.items() if n == name)


async def scene_intro_by_form(t: Transcript) -> None:
    s = t.sandbox
    t.scene("Nora presses “Write my introduction” and fills in the form")
    channel = await _intro_channel(t)
    nora = _newcomer(t, "Nora Newman")
    welcome = next(m for m in s.messages(channel) if f"<@{nora}>" in (m["content"] or ""))
    t.action(nora, "presses [Write my introduction] under her welcome")
    opened = await s.click_button(
        channel, int(welcome["id"]), nora, f"cohortbot:intro:write:{nora}"
    )
    await opened.wait_final()
    t.answer(opened)
    t.action(nora, "submits the form (5 questions; mentions in it never ping anyone)")
    answers = {
        "call_me": "Nora (she/her)",
        "location": "Leeds, UK",
        "balancing": "A full-time job at a library and a toddler",
        "hopes": "To finally understand regression — and a study buddy!",
        "fun_fact": "I sing in a choir on Tuesdays",
    }
    submitted = await s.submit_modal(opened, nora, answers)
    await submitted.wait_final()
    t.answer(submitted)
    t.channel_post("introductions", _newest(t, channel))


async def scene_intro_by_message(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("An intro as a plain message counts too; a short “welcome!” does not")
    channel = await _intro_channel(t)
    writer, greeter = w.student_ids[3], w.student_ids[4]
    text = (
        "Hi everyone! I'm Dana, a nurse working nights in Toronto. First time studying "
        "online since my kids were born — happy to be here."
    )
    t.action(writer, f"posts in #introductions: “{text}”")
    posted = await s.send_message(channel, writer, text)
    await s.wait_for(lambda: bool((s.message(int(posted["id"])) or {}).get("reactions")))
    reactions = [r["emoji"]["name"] for r in (s.message(int(posted["id"])) or {})["reactions"]]
    t.out(f"◀ CohortBot reacts {' '.join(reactions)} (counted as Dana's introduction)")
    t.action(greeter, "posts “welcome!” (too short to count as an introduction)")
    await s.send_message(channel, greeter, "welcome!")


async def scene_profile(t: Transcript) -> None:
    w = t.world
    t.scene("A profile with mixed visibility, and exactly who sees what")
    student = w.student_ids[3]
    t.action(student, "runs /profile set work:working full-time visibility:findable by classmates")
    t.answer(
        await _slash(t, student, "profile set", {"work": "full_time", "visibility": "classmates"})
    )
    t.action(student, "runs /profile set caregiving:caring for young children (private)")
    t.answer(await _slash(t, student, "profile set", {"caregiving": "young_children"}))
    t.action(student, "runs /profile set timezone:America/Toronto visibility:shown to my matches")
    t.answer(
        await _slash(
            t, student, "profile set", {"timezone": "America/Toronto", "visibility": "matches"}
        )
    )
    t.action(student, "runs /profile show")
    t.answer(await _slash(t, student, "profile show"))


async def _welcome_recorded(t: Transcript, newcomer: int) -> None:
    """The reply is handled in its own task: wait until it is stored (else, on a busy machine,
    the list below could be asked for first and the transcript would differ between runs)."""
    intros = t.app.services.get(IntroService)
    for _ in range(200):
        if (await intros.welcome_counts(t.world.guild_id)).get(newcomer):
            return
        await asyncio.sleep(0.025)


async def scene_classmate_welcomes(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("A classmate welcomes Nora by replying to her introduction")
    channel = await _intro_channel(t)
    nora = _newcomer(t, "Nora Newman")
    post = next(
        m
        for m in s.messages(channel)
        if m["embeds"] and m["embeds"][0].get("title", "").startswith("👋 Nora")
    )
    greeter = w.student_ids[5]
    t.action(greeter, "replies: “Welcome Nora! I'm in a choir too — let's study together.”")
    await s.send_message(
        channel,
        greeter,
        "Welcome Nora! I'm in a choir too — let's study together.",
        reply_to=int(post["id"]),
    )
    await _welcome_recorded(t, nora)
    t.out(f"  (recorded: {t.name(nora)} was welcomed by {t.name(greeter)})")
    t.action(w.instructor_id, "runs /course intro list")
    record = await _slash(t, w.instructor_id, "course intro list")
    t.answer(record)


async def scene_private_suggestions(t: Transcript) -> None:
    w, s = t.world, t.sandbox
    t.scene("A day later nobody has said hi to Omar: private suggestions, and /classmates")
    omar = _newcomer(t, "Omar Quiet")
    for student in w.student_ids[6:9]:
        await _slash(t, student, "profile set", {"work": "full_time", "visibility": "classmates"})
    await _slash(t, w.student_ids[9], "profile set", {"work": "full_time"})
    t.out(
        f"  ({', '.join(t.name(u) for u in w.student_ids[6:9])} made “working full-time” "
        f"findable; {t.name(w.student_ids[9])} keeps it private)"
    )
    t.action(omar, "runs /profile set work:working full-time (private)")
    t.answer(await _slash(t, omar, "profile set", {"work": "full_time"}))
    t.action(omar, "posts a short introduction with /intro write")
    opened = await _slash(t, omar, "intro write")
    done = await s.submit_modal(opened, omar, {"call_me": "Omar", "hopes": "Get through it!"})
    await done.wait_final()

    app, bot_guild = _running(t)
    cohort = await app.guild_settings.resolve_cohort(w.guild_id, None)
    a_day_later = app.clock.now() + timedelta(hours=25)
    line = await app.services.get(IntroService).newest_unwelcomed_line(w.guild_id, a_day_later)
    if line:
        t.out("  (the next coffee-shop question gets a mention-free line:)")
        t.out(f"    {line}")
    candidates = await app.services.get(IntroService).suggestion_candidates(
        bot_guild, cohort, a_day_later
    )
    for candidate in candidates:
        if candidate.user_id != omar:
            continue
        text = await app.templates.render(w.guild_id, "intro_suggestions", **candidate.values)
        t.out(f"◀ Private suggestions for {t.name(omar)} (a DM when he opts in to reminders):")
        for text_line in text.splitlines():
            t.out(f"    {text_line}")
    t.action(omar, "runs /classmates")
    t.answer(await _slash(t, omar, "classmates"))
    t.action(omar, "runs /classmates circumstance:working full-time")
    t.answer(await _slash(t, omar, "classmates", {"circumstance": "work:full_time"}))


SCENES = [
    scene_newcomers_join,
    scene_intro_by_form,
    scene_intro_by_message,
    scene_profile,
    scene_classmate_welcomes,
    scene_private_suggestions,
]
