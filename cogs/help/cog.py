"""/help: the commands the caller may use, in plain words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.commands import role_ids
from bot.roles import is_instructor, is_staff
from bot.text import chunk_lines
from bot.ui import reply

#: Top-level groups that only some people may use (checked again when they run).
AUDIENCE = {"course": "instructor", "digest": "staff"}


def leaves(
    command: app_commands.Command[Any, ..., Any] | app_commands.Group,
) -> Iterator[app_commands.Command[Any, ..., Any]]:
    if isinstance(command, app_commands.Group):
        for child in command.commands:
            yield from leaves(child)
    else:
        yield command


class HelpCog(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What CohortBot can do for you")
    async def help_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        app = self.bot.app
        guild = interaction.guild
        instructor = staff = False
        if guild is not None and isinstance(interaction.user, discord.Member):
            member = interaction.user
            config = await app.guild_settings.config(guild.id)
            cohorts = await app.guild_settings.cohorts(guild.id)
            ids = role_ids(member)
            manage = member.guild_permissions.manage_guild
            instructor = is_instructor(role_ids=ids, manage_guild=manage, config=config)
            staff = is_staff(role_ids=ids, manage_guild=manage, config=config, cohorts=cohorts)
        allowed = {"instructor": instructor, "staff": staff}

        lines = [
            await app.templates.render(
                guild.id if guild else None,
                "help_intro",
                course=guild.name if guild else "your course",
            ),
            "",
        ]
        for top in sorted(self.bot.tree.get_commands(), key=lambda c: c.name):
            if isinstance(top, app_commands.ContextMenu):
                continue
            audience = AUDIENCE.get(top.name)
            if audience is not None and not allowed[audience]:
                continue
            for command in leaves(top):
                lines.append(f"`/{command.qualified_name}` — {command.description}")
        if guild is None:
            # Said first, so it is never lost below a long list.
            lines.insert(1, "Most commands work inside your course server; run them there.")
        chunks = chunk_lines(lines, 2000)
        for chunk in chunks:
            await reply(interaction, chunk)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(HelpCog(bot))
