"""A test-only extension: a student command that is registered for DMs too."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import reply


class Probe(commands.Cog):
    @app_commands.command(name="probe", description="A course command that exists in DMs")
    async def probe(self, interaction: discord.Interaction) -> None:
        await reply(interaction, "probe ran")

    @app_commands.command(name="boom", description="A command with a bug in it")
    async def boom(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("a bug the student must never see")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Probe())
