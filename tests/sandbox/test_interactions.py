"""Slash commands, components, modals, autocomplete and context menus through discord.py."""

from __future__ import annotations

import discord
import pytest

from sandbox.interactions import InteractionError
from sandbox.server import SandboxError, SandboxServer
from tests.support.sandbox_bot import SandboxTestBot, World


async def test_commands_are_synced_with_ids_and_permissions(
    bot: SandboxTestBot, sandbox: SandboxServer
) -> None:
    synced = {c["name"]: c for c in sandbox.commands(None)}
    assert set(synced) == {"course", "ping", "slow", "buttons", "secret", "fruit", "Wave", "Quote"}
    assert all(c["id"] for c in synced.values())
    assert synced["course"]["default_member_permissions"] == str(1 << 5)
    assert synced["Wave"]["type"] == 2 and synced["Wave"]["description"] == ""


async def test_slash_with_subcommand_group_and_resolved_options(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    options: dict[str, object] = {
        "key": "welcome",
        "member": world.alice,
        "channel": world.general_id,
        "role": world.student_role,
        "count": 3,
        "flag": True,
    }
    record = await sandbox.invoke_slash(
        world.guild_id, world.general_id, world.owner_id, "course text edit", options
    )
    final = await record.wait_final()
    assert final["kind"] == "message" and final["ephemeral"]
    assert record.text() == (
        "key=welcome member=Alice:Member channel=general:TextChannel role=Student count=3 flag=True"
    )
    assert sandbox.messages(world.general_id) == []
    assert sandbox.ephemeral_messages(world.owner_id)[0]["content"].startswith("key=welcome")


async def test_default_member_permissions_hide_the_command_until_an_admin_allows_it(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    options: dict[str, object] = {
        "key": "k",
        "member": world.bob,
        "channel": world.general_id,
        "role": world.student_role,
    }
    with pytest.raises(InteractionError, match="cannot see /course"):
        await sandbox.invoke_slash(
            world.guild_id, world.general_id, world.alice, "course text edit", options
        )
    sandbox.allow_command_for_everyone(world.guild_id, "course")
    record = await sandbox.invoke_slash(
        world.guild_id, world.general_id, world.alice, "course text edit", options
    )
    assert "member=bob" in (await record.wait_final())["content"]


async def test_driver_refuses_bad_invocations(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    with pytest.raises(InteractionError, match="needs option"):
        await sandbox.invoke_slash(
            world.guild_id, world.general_id, world.owner_id, "course text edit", {}
        )
    with pytest.raises(InteractionError, match="no option"):
        await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "ping", {"x": 1})
    with pytest.raises(InteractionError, match="not registered"):
        await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "nope")
    with pytest.raises(InteractionError, match="group"):
        await sandbox.invoke_slash(world.guild_id, world.general_id, world.owner_id, "course text")


async def test_public_reply_and_command_in_dm(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "ping")
    assert (await record.wait_final())["content"] == "pong"
    assert [m["content"] for m in sandbox.messages(world.general_id)] == ["pong"]
    dm = sandbox.dm_channel_of(world.alice)
    in_dm = await sandbox.invoke_slash(None, dm, world.alice, "ping")
    assert (await in_dm.wait_final())["content"] == "pong"
    with pytest.raises(InteractionError, match="DMs"):
        await sandbox.invoke_slash(None, dm, world.alice, "course text edit", {})


async def test_defer_then_followup_then_edit_original(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "slow")
    first = await record.wait_response()
    assert first["kind"] == "deferred" and first["ephemeral"]
    final = await record.wait_final()
    assert final["kind"] == "followup" and final["content"] == "done slowly"
    responses = await record.wait_responses(3)
    assert [r["kind"] for r in responses] == ["deferred", "followup", "edit_original"]
    assert all(r["ephemeral"] for r in responses)
    assert responses[2]["content"] == "done slowly (edited)"
    assert sandbox.messages(world.general_id) == []


async def test_button_click_updates_the_message(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "buttons")
    message_id = (await record.wait_final())["message_id"]
    click = await sandbox.click_button(world.general_id, message_id, world.bob, "t:hi")
    update = await click.wait_final()
    assert update["kind"] == "update" and update["content"] == "hi bob"
    assert sandbox.message(message_id)["content"] == "hi bob"  # type: ignore[index]
    with pytest.raises(SandboxError, match="no component"):
        await sandbox.click_button(world.general_id, message_id, world.bob, "t:missing")


async def test_button_on_ephemeral_message_opens_modal_and_submit(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "secret")
    message_id = (await record.wait_final())["message_id"]
    with pytest.raises(SandboxError, match="ephemeral"):
        await sandbox.click_button(world.general_id, message_id, world.bob, "t:modal")
    opened = await sandbox.click_button(world.general_id, message_id, world.alice, "t:modal")
    assert (await opened.wait_response())["kind"] == "modal"
    assert opened.modal is not None and opened.modal["title"] == "Write a note"
    with pytest.raises(SandboxError, match="required"):
        await sandbox.submit_modal(opened, world.alice, {})
    submitted = await sandbox.submit_modal(opened, world.alice, {"t:note": "remember"})
    final = await submitted.wait_final()
    assert final["content"] == f"noted: remember (from {message_id})"


async def test_select_menu(bot: SandboxTestBot, world: World, sandbox: SandboxServer) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "buttons")
    message_id = (await record.wait_final())["message_id"]
    picked = await sandbox.select(
        world.general_id, message_id, world.alice, "t:pick", ["red", "blue"]
    )
    assert (await picked.wait_final())["content"] == "picked red,blue"
    with pytest.raises(SandboxError, match="no option"):
        await sandbox.select(world.general_id, message_id, world.alice, "t:pick", ["pink"])


async def test_autocomplete(bot: SandboxTestBot, world: World, sandbox: SandboxServer) -> None:
    choices = await sandbox.autocomplete(
        world.guild_id, world.general_id, world.alice, "fruit", {"name": "ap"}, focused="name"
    )
    assert [c["value"] for c in choices] == ["apple", "apricot"]


async def test_context_menus(bot: SandboxTestBot, world: World, sandbox: SandboxServer) -> None:
    wave = await sandbox.invoke_user_command(
        world.guild_id, world.general_id, world.bob, "Wave", world.alice
    )
    assert (await wave.wait_final())["content"] == "waves at Alice"
    said = await sandbox.send_message(world.general_id, world.alice, "quotable")
    quote = await sandbox.invoke_message_command(
        world.guild_id, world.general_id, world.bob, "Quote", int(said["id"])
    )
    await quote.wait_final()
    assert "quoted: quotable" in quote.text()


async def test_interaction_cannot_be_answered_twice(
    bot: SandboxTestBot, world: World, sandbox: SandboxServer
) -> None:
    record = await sandbox.invoke_slash(world.guild_id, world.general_id, world.alice, "ping")
    await record.wait_final()
    route = f"/interactions/{record.id}/{record.token}/callback"
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(
            discord.http.Route("POST", route), json={"type": 4, "data": {"content": "again"}}
        )
    assert info.value.code == 40060
