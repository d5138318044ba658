"""The features' message filters (``CohortBot.add_message_filter``): one inline step per
message for every feature — a person's messages in a server only, with the server's cached
settings, in arrival order also when they waited for those settings to load, and a failing
filter stops no other."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from bot.store.guilds import GuildConfig
from tests.support.course import Course, channel
from tests.support.logs import ErrorLogWatcher
from tests.support.waiting import eventually_equal


async def test_only_peoples_server_messages_reach_the_filters_with_the_settings(
    course: Course, error_logs: ErrorLogWatcher
) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    bot = course.runner.bot
    assert bot is not None
    seen: list[tuple[int, GuildConfig | None]] = []

    def failing(message: discord.Message, config: GuildConfig | None) -> None:
        raise RuntimeError("a broken feature filter")

    def recording(message: discord.Message, config: GuildConfig | None) -> None:
        seen.append((message.author.id, config))

    error_logs.expect("Message filter .* failed")
    bot.add_message_filter(failing)
    bot.add_message_filter(recording)
    try:
        student = course.world.student_ids[0]
        other_bot = s.create_user("Another bot", bot=True)
        await s.add_member(gid, other_bot)
        general = course.world.general_channel_id
        await s.send_message(general, other_bot, "beep")  # a bot: not a person
        await s.send_message(s.dm_channel_of(student), student, "hi bot")  # not in a server
        await s.send_message(general, student, "Morning, everyone!")

        async def reached() -> int:
            return len(seen)

        await eventually_equal(reached, 1)
        await asyncio.sleep(0.1)  # the others, had they come through, would have by now
        assert error_logs.seen("Message filter .* failed")  # and the next filter still ran
        [(author, config)] = seen
        assert author == student
        assert config is not None and config.guild_id == gid
        assert config.intro_channel_id == channel(course, "introductions")
    finally:
        bot.remove_message_filter(failing)
        bot.remove_message_filter(recording)


async def test_messages_before_the_settings_load_wait_once_and_keep_their_order(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    bot, app = course.runner.bot, course.runner.app
    assert bot is not None and app is not None
    seen: list[str] = []

    def recording(message: discord.Message, config: GuildConfig | None) -> None:
        assert config is not None
        seen.append(message.content)

    release = asyncio.Event()
    real_get = app.guild_configs.get

    async def slow_get(guild_id: int) -> Any:
        await release.wait()
        return await real_get(guild_id)

    monkeypatch.setattr(app.guild_configs, "get", slow_get)
    app.guild_settings.forget(gid)
    bot.add_message_filter(recording)
    try:
        general = course.world.general_channel_id
        sent = [f"message {n}" for n in range(20)]
        for n, text in enumerate(sent):
            await s.send_message(general, course.world.student_ids[n % 3], text)

        async def parked() -> int:
            return bot.settings_loading.parked(gid)

        await eventually_equal(parked, len(sent))  # once each, not once per feature
        assert seen == []
        release.set()

        async def reached() -> list[str]:
            return list(seen)

        await eventually_equal(reached, sent)
    finally:
        bot.remove_message_filter(recording)
