"""Permissions, limits and injected faults, seen from an unmodified discord.py client."""

from __future__ import annotations

import time

import discord
import pytest

from sandbox import perms as P
from sandbox.server import SandboxServer
from tests.support.sandbox_bot import SandboxTestBot, World


def text_channel(bot: SandboxTestBot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_message_and_embed_limits_answer_50035(bot: SandboxTestBot, world: World) -> None:
    channel = text_channel(bot, world.general_id)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x" * 2001)
    assert info.value.code == 50035 and info.value.status == 400
    assert "2000" in str(info.value)
    await channel.send("x" * 2000)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert info.value.code == 50035
    too_many = discord.Embed(title="fields")
    for i in range(26):
        too_many.add_field(name=str(i), value="v")
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(embed=too_many)
    assert info.value.code == 50035
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.send_message(channel.id, params=discord.http.handle_message_parameters())
    assert info.value.code == 50006


async def test_custom_id_and_modal_limits(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    channel = text_channel(bot, world.general_id)
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="b", custom_id="c" * 101))
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("x", view=view)
    assert info.value.code == 50035
    # a button no view handles: the bot never answers the click, so we can answer it by hand
    components = [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "x", "custom_id": "raw:x"}]}
    ]
    sent = await bot.http.request(
        discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id),
        json={"content": "raw", "components": components},
    )
    record = await sandbox.click_button(channel.id, int(sent["id"]), world.alice, "raw:x")
    callback = discord.http.Route("POST", f"/interactions/{record.id}/{record.token}/callback")
    text_input = {"type": 4, "custom_id": "a", "label": "A", "style": 1}
    for modal in (
        {
            "custom_id": "m",
            "title": "t" * 46,
            "components": [{"type": 1, "components": [text_input]}],
        },
        {"custom_id": "m", "title": "t", "components": []},
        {
            "custom_id": "m",
            "title": "t",
            "components": [{"type": 1, "components": [text_input]}] * 6,
        },
        {
            "custom_id": "m",
            "title": "t",
            "components": [
                {"type": 18, "label": "A", "component": {**text_input, "max_length": 4001}}
            ],
        },
    ):
        with pytest.raises(discord.HTTPException) as info:
            await bot.http.request(callback, json={"type": 9, "data": modal})
        assert info.value.code == 50035, modal
    ok = {"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [text_input]}]}
    await bot.http.request(callback, json={"type": 9, "data": ok})
    assert record.modal is not None and record.modal["title"] == "t"


async def test_missing_permissions_answer_50013_and_50001(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    sandbox.set_bot_permissions(world.guild_id, P.VIEW_CHANNEL | P.SEND_MESSAGES)
    await sandbox.wait_for(lambda: not guild.me.guild_permissions.manage_roles)
    with pytest.raises(discord.Forbidden) as info:
        await guild.create_role(name="nope")
    assert info.value.code == 50013
    with pytest.raises(discord.Forbidden) as info:
        await guild.create_text_channel("nope")
    assert info.value.code == 50013

    muted = sandbox.create_channel(
        world.guild_id,
        "announcements",
        overwrites=[{"id": world.guild_id, "type": 0, "deny": P.SEND_MESSAGES}],
    )
    hidden = sandbox.create_channel(
        world.guild_id,
        "staff",
        overwrites=[{"id": world.guild_id, "type": 0, "deny": P.VIEW_CHANNEL}],
    )
    await sandbox.wait_for(lambda: guild.get_channel(hidden) is not None)
    with pytest.raises(discord.Forbidden) as info:
        await text_channel(bot, muted).send("hi")
    assert info.value.code == 50013
    with pytest.raises(discord.Forbidden) as info:
        await text_channel(bot, hidden).send("hi")
    assert info.value.code == 50001
    assert sandbox.messages(muted) == sandbox.messages(hidden) == []


async def test_overwrite_cannot_grant_what_the_bot_lacks(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    student = guild.get_role(world.student_role)
    assert student is not None
    with pytest.raises(discord.Forbidden):
        await guild.create_text_channel(
            "mods", overwrites={student: discord.PermissionOverwrite(ban_members=True)}
        )


async def test_role_hierarchy(bot: SandboxTestBot, world: World, sandbox: SandboxServer) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    above = sandbox.create_role(world.guild_id, "Admin")
    sandbox.world.guild(world.guild_id).roles[above].position = 99
    alice = guild.get_member(world.alice)
    assert alice is not None
    with pytest.raises(discord.Forbidden):
        await alice.add_roles(discord.Object(above))
    await alice.add_roles(discord.Object(world.student_role))  # below the bot: fine


async def test_injected_429_is_retried_by_discord_py(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    sandbox.inject_fault("POST", r"^/channels/\d+/messages$", 429, retry_after=0.01, count=2)
    message = await text_channel(bot, world.general_id).send("eventually")
    assert message.content == "eventually"
    posts = [p for m, p, _ in sandbox.requests if m == "POST" and p.endswith("/messages")]
    assert len(posts) == 3
    assert len(sandbox.messages(world.general_id)) == 1


async def test_global_rate_limit_spares_interaction_callbacks(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    sandbox.inject_fault("*", ".", 429, retry_after=0.01, global_=True, count=1)
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "ping")
    assert (await record.wait_final())["content"] == "pong"
    await text_channel(bot, world.general_id).send("after the global limit")
    sandbox.set_global_rate_limit(20)
    started = time.monotonic()
    channel = text_channel(bot, world.general_id)
    for i in range(25):
        await channel.send(str(i))
    assert time.monotonic() - started >= 0.2
    posts = [p for m, p, _ in sandbox.requests if m == "POST" and p.endswith("/messages")]
    assert len(posts) > 27  # some were answered 429 and retried
    sandbox.set_global_rate_limit(None)
    assert len(sandbox.messages(world.general_id)) == 27


async def test_injected_error_codes(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    channel = text_channel(bot, world.general_id)
    sandbox.inject_fault("POST", r"/channels/\d+/threads$", 400, code=160006)
    with pytest.raises(discord.HTTPException) as info:
        await channel.create_thread(name="too many")
    assert info.value.code == 160006
    await channel.create_thread(name="fine now")
    sandbox.inject_fault("POST", r"/messages$", 403, code=50013)
    with pytest.raises(discord.Forbidden):
        await channel.send("nope")


async def test_unknown_routes_are_404_and_recorded(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/guilds/{guild_id}/bans", guild_id=1))
    assert sandbox.unknown_routes == [("GET", "/guilds/1/bans")]
    sandbox.unknown_routes.clear()
