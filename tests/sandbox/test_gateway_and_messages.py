"""Gateway, cache and message traffic between people, the sandbox and a bare discord.py bot."""

from __future__ import annotations

import asyncio

import discord
import pytest

from sandbox.server import SandboxServer
from tests.support.sandbox_bot import SandboxTestBot, World


async def test_login_ready_guild_cache_and_member_chunk(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    assert guild.name == "Test Course"
    assert guild.owner_id == world.owner_id
    assert {m.id for m in guild.members} == {world.owner_id, world.alice, world.bob, bot.user.id}  # type: ignore[union-attr]
    alice = guild.get_member(world.alice)
    assert alice is not None and alice.display_name == "Alice"
    assert [r.name for r in alice.roles] == ["@everyone", "Student"]
    assert guild.get_channel(world.general_id).name == "general"  # type: ignore[union-attr]
    assert guild.me.guild_permissions.manage_roles
    members = await guild.query_members("ali")
    assert [m.id for m in members] == [world.alice]
    assert await guild.chunk() is not None
    methods = {(m, p) for m, p, _ in sandbox.requests}
    assert ("GET", "/users/@me") in methods
    assert ("PUT", f"/applications/{sandbox.application_id}/commands") in methods


async def test_member_join_update_and_leave_reach_the_bot(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    carol = sandbox.create_user("carol")
    joined = asyncio.create_task(bot.wait_for("member_join", timeout=5))
    await sandbox.add_member(world.guild_id, carol, nick="Caz")
    member = await joined
    assert (member.id, member.display_name) == (carol, "Caz")

    updated = asyncio.create_task(bot.wait_for("member_update", timeout=5))
    await sandbox.add_member_role(world.guild_id, carol, world.student_role)
    _before, after = await updated
    assert world.student_role in [r.id for r in after.roles]

    left = asyncio.create_task(bot.wait_for("raw_member_remove", timeout=5))
    await sandbox.remove_member(world.guild_id, carol)
    payload = await left
    assert payload.user.id == carol
    assert bot.get_guild(world.guild_id).get_member(carol) is None  # type: ignore[union-attr]


async def test_people_post_edit_delete_and_react(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    got = asyncio.create_task(bot.wait_for("message", timeout=5))
    sent = await sandbox.send_message(world.general_id, world.alice, f"hello <@{world.bob}>")
    message = await got
    assert message.content.startswith("hello")
    assert message.author.id == world.alice
    assert isinstance(message.author, discord.Member)
    assert [u.id for u in message.mentions] == [world.bob]

    reply = asyncio.create_task(bot.wait_for("message", timeout=5))
    await sandbox.send_message(world.general_id, world.bob, "hi back", reply_to=int(sent["id"]))
    answered = await reply
    assert answered.reference is not None and answered.reference.message_id == int(sent["id"])

    edited = asyncio.create_task(bot.wait_for("raw_message_edit", timeout=5))
    await sandbox.edit_message(world.general_id, int(sent["id"]), "hello, edited")
    raw_edit = await edited
    assert raw_edit.message.content == "hello, edited"

    reacted = asyncio.create_task(bot.wait_for("raw_reaction_add", timeout=5))
    await sandbox.add_reaction(world.general_id, int(sent["id"]), world.bob, "👍")
    reaction = await reacted
    assert (reaction.user_id, str(reaction.emoji)) == (world.bob, "👍")

    deleted = asyncio.create_task(bot.wait_for("raw_message_delete", timeout=5))
    await sandbox.delete_message(world.general_id, int(sent["id"]))
    assert (await deleted).message_id == int(sent["id"])


async def test_bot_sends_edits_reacts_reads_history_and_deletes(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    channel = bot.get_channel(world.general_id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send(
        f"hi <@{world.alice}>",
        allowed_mentions=discord.AllowedMentions.none(),
        embed=discord.Embed(title="T", description="D"),
    )
    assert first.mentions == []
    second = await channel.send("two", file=discord.File(__file__, filename="test.py"))
    assert second.attachments[0].filename == "test.py"
    assert sandbox.attachment_bytes(second.attachments[0].id).startswith(b'"""Gateway')
    await first.edit(content="one")
    await first.add_reaction("✅")
    stored = sandbox.messages(world.general_id)
    assert [m["content"] for m in stored] == ["one", "two"]
    assert stored[0]["reactions"][0]["me"] is True
    history = [m.content async for m in channel.history(limit=10)]
    assert history == ["two", "one"]
    after = [m.content async for m in channel.history(after=first, limit=10)]
    assert after == ["two"]
    await second.delete()
    assert [m["content"] for m in sandbox.messages(world.general_id)] == ["one"]


async def test_nonce_makes_a_resend_idempotent(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    channel = bot.get_channel(world.general_id)
    assert isinstance(channel, discord.TextChannel)
    a = await channel.send("once", nonce=42)
    b = await channel.send("once", nonce=42)
    assert a.id == b.id
    assert len(sandbox.messages(world.general_id)) == 1
    # Discord does not store the nonce: history and a fetch return none.
    assert str(a.nonce) == "42"
    assert [m.nonce async for m in channel.history(limit=5)] == [None]
    assert (await channel.fetch_message(a.id)).nonce is None


async def test_bot_creates_role_channel_threads_and_forum_post(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    role = await guild.create_role(
        name="Lead", permissions=discord.Permissions(manage_threads=True)
    )
    assert sandbox.find_role(world.guild_id, "Lead") == role.id
    alice = guild.get_member(world.alice)
    assert alice is not None
    await alice.add_roles(role)
    await sandbox.wait_for(lambda: role.id in sandbox.member_role_ids(world.guild_id, world.alice))

    category = await guild.create_category("Course")
    private = await guild.create_text_channel(
        "staff",
        category=category,
        overwrites={
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            role: discord.PermissionOverwrite(view_channel=True),
        },
    )
    assert sandbox.find_channel(world.guild_id, "staff") == private.id
    assert sandbox.channel_permissions(private.id, world.bob) == 0
    assert sandbox.channel_permissions(private.id, world.alice) != 0

    general = guild.get_channel(world.general_id)
    assert isinstance(general, discord.TextChannel)
    thread = await general.create_thread(name="pair-1")
    assert thread.type is discord.ChannelType.private_thread
    await thread.add_user(discord.Object(world.bob))
    assert set(sandbox.thread_members(thread.id)) == {bot.user.id, world.bob}  # type: ignore[union-attr]
    await thread.send("welcome, pair")
    assert sandbox.messages(thread.id)[0]["content"] == "welcome, pair"
    await sandbox.wait_for(lambda: guild.get_thread(thread.id) is not None)
    await thread.edit(archived=True)
    await sandbox.wait_for(lambda: guild.get_thread(thread.id) is None)

    forum = await guild.create_forum(
        "answers", available_tags=[discord.ForumTag(name="week-1", emoji="📘")]
    )
    tag = forum.available_tags[0]
    post = await forum.create_thread(name="My answer", content="Here it is", applied_tags=[tag])
    assert post.message.id == post.thread.id
    assert post.thread.applied_tags[0].name == "week-1"
    assert sandbox.messages(post.thread.id)[0]["content"] == "Here it is"


async def test_people_threads_and_forum_posts_reach_the_bot(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    forum_id = sandbox.create_channel(world.guild_id, "prompts", type=15, tags=["week-1"])
    created = asyncio.create_task(bot.wait_for("thread_create", timeout=5))
    post_id = sandbox.create_forum_post(
        forum_id, world.alice, "Alice's answer", "words", tags=["week-1"]
    )
    thread = await created
    assert thread.id == post_id and thread.owner_id == world.alice
    got = asyncio.create_task(bot.wait_for("message", timeout=5))
    await sandbox.send_message(post_id, world.bob, "nice answer")
    message = await got
    assert message.channel.id == post_id


async def test_dms_and_closed_dms(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    alice = bot.get_user(world.alice)
    assert alice is not None
    await alice.send("hello in private")
    assert [m["content"] for m in sandbox.dm_messages(world.alice)] == ["hello in private"]

    got = asyncio.create_task(bot.wait_for("message", timeout=5))
    await sandbox.send_message(sandbox.dm_channel_of(world.alice), world.alice, "hi bot")
    message = await got
    assert isinstance(message.channel, discord.DMChannel)

    sandbox.close_dms(world.bob)
    bob = bot.get_user(world.bob)
    assert bob is not None
    try:
        await bob.send("you will not get this")
    except discord.Forbidden as exc:
        assert exc.code == 50007
    else:
        raise AssertionError("closed DMs must answer 50007")
    assert [p for m, p, _ in sandbox.requests if m == "POST"].count("/users/@me/channels") == 2


async def test_gateway_disconnect_resumes_and_replays(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    resumed = asyncio.create_task(bot.wait_for("resumed", timeout=5))
    await sandbox.disconnect_gateway()
    await sandbox.send_message(world.general_id, world.alice, "while you were away")
    await resumed
    await sandbox.wait_for(
        lambda: (
            bot._connection._get_message(int(sandbox.messages(world.general_id)[-1]["id"]))
            is not None
        )
    )
    got = asyncio.create_task(bot.wait_for("message", timeout=5))
    await sandbox.send_message(world.general_id, world.alice, "after resume")
    assert (await got).content == "after resume"


async def test_bot_edits_and_deletes_guild_objects(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    channel = await guild.create_text_channel("scratch", topic="t")
    await channel.edit(name="renamed", topic="new topic")
    assert sandbox.find_channel(world.guild_id, "renamed") == channel.id
    student = guild.get_role(world.student_role)
    assert student is not None
    await channel.set_permissions(student, send_messages=False)
    assert sandbox.channel_permissions(channel.id, world.alice) & (1 << 11) == 0
    await channel.set_permissions(student, overwrite=None)
    assert sandbox.channel_permissions(channel.id, world.alice) & (1 << 11)

    role = await guild.create_role(name="Temp")
    await role.edit(name="Temp 2", hoist=True)
    assert sandbox.find_role(world.guild_id, "Temp 2") == role.id
    await role.delete()
    assert sandbox.find_role(world.guild_id, "Temp 2") is None

    member = await guild.fetch_member(world.alice)
    await member.edit(roles=[])
    assert sandbox.member_role_ids(world.guild_id, world.alice) == []

    message = await channel.send("pin me")
    await message.pin()
    assert [m.content async for m in channel.pins()] == ["pin me"]
    fetched = await channel.fetch_message(message.id)
    assert fetched.pinned

    thread = await message.create_thread(name="from message")
    assert thread.id == message.id
    await thread.edit(archived=True, locked=True)
    archived = [t.id async for t in channel.archived_threads()]
    assert archived == [thread.id]
    with pytest.raises(discord.HTTPException):
        await thread.add_user(discord.Object(world.bob))

    fetched_channel = await bot.fetch_channel(channel.id)
    assert isinstance(fetched_channel, discord.TextChannel)
    await channel.delete()
    assert sandbox.find_channel(world.guild_id, "renamed") is None
    await sandbox.wait_for(lambda: guild.get_channel(channel.id) is None)
