"""The last guard before an answer is sent: content and embeds fit Discord's limits."""

from __future__ import annotations

import discord

from bot.ui import fit_message
from cogs.coffee_shop.rules import parse_message_link
from sandbox import limits


def test_an_over_long_answer_is_cut_to_discords_limits() -> None:
    embed = discord.Embed(title="T" * 300, description="D" * 5000)
    for i in range(30):
        embed.add_field(name=f"n{i}" * 100, value="v" * 2000)
    embed.set_footer(text="f" * 3000)
    content, embeds = fit_message(
        "c" * 2500, [embed, *(discord.Embed(title="x") for _ in range(12))]
    )
    assert content is not None and len(content) == 2000 and content.endswith("…")
    assert embeds is not None
    payload = {"content": content, "embeds": [e.to_dict() for e in embeds]}
    assert limits.check_message(payload) == {}


def test_an_answer_within_the_limits_is_untouched() -> None:
    embed = discord.Embed(title="Week 3", description="All good")
    embed.add_field(name="a", value="b")
    content, embeds = fit_message("hello", [embed])
    assert content == "hello"
    assert embeds is not None and embeds[0].to_dict() == embed.to_dict()


def test_a_message_link_with_ids_beyond_64_bits_is_no_link() -> None:
    big = "98765432109876543210"
    assert parse_message_link(f"https://discord.com/channels/1/2/{big}") is None
    assert parse_message_link("https://discord.com/channels/1/2/3") == (1, 2, 3)
