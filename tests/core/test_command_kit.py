"""The steps feature cogs share (bot/command_kit.py): a persistent view, the server a button
names, a long answer in chunks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.command_kit import button_guild, persistent_view, reply_lines
from bot.errors import UserFacingError


class FakeResponse:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


class FakeFollowup:
    def __init__(self, response: FakeResponse) -> None:
        self.response = response

    async def send(self, **kwargs: Any) -> None:
        self.response.sent.append(kwargs)


def fake_interaction(guilds: dict[int, object] | None = None) -> discord.Interaction[Any]:
    response = FakeResponse()
    client = SimpleNamespace(get_guild=(guilds or {}).get)
    fake = SimpleNamespace(response=response, followup=FakeFollowup(response), client=client)
    return cast("discord.Interaction[Any]", fake)


async def test_a_persistent_view_never_times_out_and_keeps_the_items_in_order() -> None:
    first = discord.ui.Button[Any](label="one", custom_id="kit:1")
    second = discord.ui.Button[Any](label="two", custom_id="kit:2")
    view = persistent_view(first, second)
    assert view.timeout is None
    assert view.children == [first, second]


def test_a_button_names_a_server_the_bot_is_in_or_is_refused() -> None:
    guild = object()
    assert button_guild(fake_interaction({5: guild}), 5) is guild
    with pytest.raises(UserFacingError, match="doesn't belong to a server I'm in"):
        button_guild(fake_interaction({5: guild}), 6)


async def test_a_long_answer_goes_in_chunks_within_the_limit_and_loses_nothing() -> None:
    interaction = fake_interaction()
    lines = [f"line {i:03} " + "x" * 40 for i in range(100)]
    await reply_lines(interaction, lines, 1000)
    sent = cast("FakeResponse", interaction.response).sent
    assert len(sent) > 1
    assert all(len(m["content"]) <= 1000 and m["ephemeral"] for m in sent)
    assert "\n".join(m["content"] for m in sent).split("\n") == lines
