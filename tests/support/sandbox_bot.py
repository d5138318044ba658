"""A bare discord.py bot for the sandbox's own tests: its commands, views and its world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from sandbox import perms as P
from sandbox.server import SandboxServer

BOT_PERMISSIONS = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.SEND_MESSAGES_IN_THREADS
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.MANAGE_THREADS
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.MANAGE_ROLES
    | P.MANAGE_CHANNELS
    | P.MANAGE_MESSAGES
)


@dataclass
class World:
    sandbox: SandboxServer
    guild_id: int
    owner_id: int
    alice: int
    bob: int
    general_id: int
    student_role: int


class ButtonView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Hi", custom_id="t:hi")
    async def hi(
        self, interaction: discord.Interaction, button: discord.ui.Button[ButtonView]
    ) -> None:
        await interaction.response.edit_message(content=f"hi {interaction.user.display_name}")

    @discord.ui.button(label="Write", custom_id="t:modal")
    async def open_modal(
        self, interaction: discord.Interaction, button: discord.ui.Button[ButtonView]
    ) -> None:
        await interaction.response.send_modal(NoteModal())

    @discord.ui.select(
        custom_id="t:pick",
        options=[discord.SelectOption(label=x, value=x) for x in ("red", "green", "blue")],
        max_values=2,
    )
    async def pick(
        self, interaction: discord.Interaction, select: discord.ui.Select[ButtonView]
    ) -> None:
        await interaction.response.send_message("picked " + ",".join(select.values), ephemeral=True)


class NoteModal(discord.ui.Modal, title="Write a note"):
    note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
        label="Note", custom_id="t:note", max_length=200
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        origin = interaction.message.id if interaction.message else None
        await interaction.response.send_message(
            f"noted: {self.note.value} (from {origin})", ephemeral=True
        )


course = app_commands.Group(
    name="course",
    description="Instructor tools",
    default_permissions=discord.Permissions(manage_guild=True),
    guild_only=True,
)
text_group = app_commands.Group(name="text", description="Texts", parent=course)


@text_group.command(name="edit", description="Edit a text")
async def text_edit(
    interaction: discord.Interaction,
    key: str,
    member: discord.Member,
    channel: discord.TextChannel,
    role: discord.Role,
    count: int = 1,
    flag: bool = False,
) -> None:
    await interaction.response.send_message(
        f"key={key} member={member.display_name}:{type(member).__name__} "
        f"channel={channel.name}:{type(channel).__name__} role={role.name} "
        f"count={count} flag={flag}",
        ephemeral=True,
    )


@app_commands.command(name="ping", description="Pong")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pong")


@app_commands.command(name="slow", description="Deferred")
async def slow(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send("done slowly", ephemeral=True)
    await interaction.edit_original_response(content="done slowly (edited)")


@app_commands.command(name="buttons", description="Buttons")
async def buttons(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("press", view=ButtonView())


@app_commands.command(name="secret", description="Ephemeral buttons")
async def secret(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("only you", view=ButtonView(), ephemeral=True)


@app_commands.command(name="fruit", description="Autocomplete")
async def fruit(interaction: discord.Interaction, name: str) -> None:
    await interaction.response.send_message(f"fruit {name}")


@fruit.autocomplete("name")
async def fruit_complete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    names = ["apple", "apricot", "banana", "cherry"]
    return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]


@app_commands.context_menu(name="Wave")
async def wave(interaction: discord.Interaction, member: discord.Member) -> None:
    await interaction.response.send_message(f"waves at {member.display_name}")


@app_commands.context_menu(name="Quote")
async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
    await interaction.response.send_message(f"quoted: {message.content}")


class SandboxTestBot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = True
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.errors: list[BaseException] = []

    async def setup_hook(self) -> None:
        commands_: list[
            app_commands.Command[Any, Any, Any] | app_commands.Group | app_commands.ContextMenu
        ] = [course, ping, slow, buttons, secret, fruit, wave, quote]
        for command in commands_:
            self.tree.add_command(command)
        self.add_view(ButtonView())

        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            self.errors.append(error)

        self.tree.on_error = on_error  # type: ignore[method-assign]
        await self.tree.sync()
