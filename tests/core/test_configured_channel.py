"""The channel /course setup chose for something (bot/command_kit.py ``configured_channel``):
setup's own refusal first, then the caller's refusal for a missing or wrong channel."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.command_kit import configured_channel
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings


class FakeSettings:
    def __init__(self, coffee_channel_id: int | None) -> None:
        self.coffee_channel_id = coffee_channel_id
        self.asked: list[tuple[int, str]] = []

    async def require_config(self, guild_id: int, guild_name: str) -> Any:
        self.asked.append((guild_id, guild_name))
        return SimpleNamespace(coffee_channel_id=self.coffee_channel_id)


def fake_guild(channels: dict[int, object]) -> discord.Guild:
    return cast("discord.Guild", SimpleNamespace(id=5, name="Course", get_channel=channels.get))


async def test_the_chosen_text_channel_is_returned_after_setup_was_checked() -> None:
    text_channel = discord.TextChannel.__new__(discord.TextChannel)
    settings = FakeSettings(coffee_channel_id=9)
    found = await configured_channel(
        cast("GuildSettings", settings),
        fake_guild({9: text_channel}),
        lambda config: config.coffee_channel_id,
        "refused",
    )
    assert found is text_channel
    assert settings.asked == [(5, "Course")]


@pytest.mark.parametrize(("chosen", "channels"), [(None, {}), (9, {}), (9, {9: object()})])
async def test_an_unset_missing_or_other_kind_of_channel_is_refused(
    chosen: int | None, channels: dict[int, object]
) -> None:
    with pytest.raises(UserFacingError, match="The coffee channel isn't set up"):
        await configured_channel(
            cast("GuildSettings", FakeSettings(chosen)),
            fake_guild(channels),
            lambda config: config.coffee_channel_id,
            "The coffee channel isn't set up.",
        )
