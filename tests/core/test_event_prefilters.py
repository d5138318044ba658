"""Per-event cost: features decide inline, from cached state, whether a message or reaction
concerns them, and start a handler (a task) only then — also after a restart, when the
caches are rebuilt from the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot.client import CohortBot
from cogs.coffee_shop import CoffeeService
from cogs.introductions import IntroService
from tests.support.coffee_shop import WEEK, submit_share
from tests.support.course import Course, channel
from tests.support.prompts import (
    SUBSTANTIVE,
    answer_thread,
    post_now,
    set_up_prompts,
    wait_for_replies_received,
)
from tests.support.waiting import eventually_equal

INTRO = (
    "Hi all, I'm Ben. I work nights in a warehouse and study in the mornings; "
    "I'm here to finally learn statistics properly."
)


def record_handlers(bot: CohortBot) -> list[str]:
    """Every task discord.py or an inline pre-filter starts, as "on_<event> Handler.name"."""
    started: list[str] = []
    original = bot._schedule_event

    def recording(
        coro: Callable[..., Coroutine[Any, Any, Any]], event_name: str, *args: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        started.append(f"{event_name} {getattr(coro, '__qualname__', coro)}")
        return original(coro, event_name, *args, **kwargs)

    bot._schedule_event = recording  # type: ignore[method-assign]
    return started


async def handlers_done() -> None:
    for _ in range(500):
        if not any(t.get_name().startswith("discord.py: on_") for t in asyncio.all_tasks()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("event handlers still running")


async def test_only_events_that_concern_a_feature_start_a_handler(course: Course) -> None:
    discussion = await set_up_prompts(course)
    await post_now(course)
    s, gid = course.sandbox, course.guild_id
    amara, ben, chen = course.world.student_ids[:3]
    thread = await answer_thread(course, discussion, amara, "I study on the bus and late at night.")
    await submit_share(course, amara, "celebrate", {"kind": "personal win"}, "I ran a 5k!")
    coffee, intro = channel(course, "coffee-shop"), channel(course, "introductions")
    [celebration] = s.messages(coffee)
    general = course.world.general_channel_id

    await course.restart_bot()  # every cache starts empty and is rebuilt from the database
    bot = course.runner.bot
    assert bot is not None and course.runner.app is not None
    app = course.runner.app
    started = record_handlers(bot)
    # The first message after a start finds nothing cached: the handlers load the settings.
    await s.send_message(general, chen, "Morning!")
    await s.wait_for(lambda: app.guild_settings.cached_config(gid)[0])
    await handlers_done()
    assert started, "an uncached guild's message goes to the handlers"
    started.clear()

    await s.send_message(general, chen, "Anyone up for a study session?")  # untracked
    chatter = await s.send_message(coffee, chen, "Coffee time.")  # no reply: nothing to count
    await s.send_message(coffee, ben, "Same!", reply_to=int(chatter["id"]))  # not a celebration
    await s.add_reaction(coffee, int(chatter["id"]), ben, "☕")  # not a celebration
    await s.send_message(thread, amara, "Thanks, good point!")  # own thread: nothing
    await s.send_message(thread, ben, SUBSTANTIVE)  # a peer reply to an answer
    await s.send_message(coffee, ben, "Congratulations!!", reply_to=int(celebration["id"]))
    await s.add_reaction(coffee, int(celebration["id"]), chen, "🎉")
    intro_post = await s.send_message(intro, ben, INTRO)

    async def engagement() -> tuple[int, int]:
        stats = await app.services.get(CoffeeService).week_stats(gid, *WEEK)
        return stats.celebration_reactions, stats.celebration_replies

    await wait_for_replies_received(course, amara, 1, tries=250)  # up to 5 s
    await eventually_equal(engagement, (1, 1))
    # The intro was counted and thanked.
    await s.wait_for(lambda: bool((s.message(int(intro_post["id"])) or {}).get("reactions")))
    await handlers_done()
    assert [h for h in started if h.startswith(("on_message", "on_raw_reaction"))] == [
        "on_message PromptTracking.handle_message",
        "on_message CoffeeCog.handle_message",
        "on_raw_reaction_add CoffeeCog.handle_reaction",
        "on_message IntrosCog.handle_message",
    ]


async def test_a_burst_before_the_settings_load_waits_for_one_read(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    intro, coffee = channel(course, "introductions"), channel(course, "coffee-shop")
    await course.restart_bot()
    bot, app = course.runner.bot, course.runner.app
    assert bot is not None and app is not None
    started = record_handlers(bot)
    reads: list[int] = []
    release = asyncio.Event()
    real_get = app.guild_configs.get

    async def slow_get(guild_id: int) -> Any:
        reads.append(guild_id)
        await release.wait()  # the database is busy: the whole burst arrives meanwhile
        return await real_get(guild_id)

    monkeypatch.setattr(app.guild_configs, "get", slow_get)
    app.guild_settings.forget(gid)  # as just after a start: nothing cached
    students = course.world.student_ids
    for student in students:
        await s.send_message(intro, student, INTRO)
        await s.send_message(coffee, student, "Good morning, coffee people.")

    async def parked() -> int:
        return bot.settings_loading.parked(gid)

    # Which channel is which is not known yet: each message waits once, for every feature.
    await eventually_equal(parked, 2 * len(students))
    release.set()
    await eventually_equal(parked, 0)
    await handlers_done()

    assert reads == [gid]  # one read for every message of the burst and every feature
    # One load of the guild's settings for every feature (and at most one of the prompt
    # settings), then one handler per intro and none per chat message.
    assert 1 <= sum(h.startswith("on_settings_loaded") for h in started) <= 2
    assert started.count("on_message IntrosCog.handle_message") == len(students)
    intros = app.services.get(IntroService)
    for student in students:
        assert await intros.repository.has_posted(gid, student)
    await app.activity_recorder.flush()
    counted = await app.activity.counts_by_place(gid)
    assert all(counted[(student, intro)] == counted[(student, coffee)] == 1 for student in students)
