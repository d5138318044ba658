"""A test-only extension: a student command that is registered for DMs too."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import InstructorGroup, attach_to_course
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
    await bot.add_cog(ProbeFeature(bot))


class ProbeCourseCommands(InstructorGroup, name="probe", description="A feature's /course group"):
    @app_commands.command(name="ping", description="Instructor-only probe")
    async def ping(self, interaction: discord.Interaction) -> None:
        await reply(interaction, "pong")


class ProbeFeature(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.group = ProbeCourseCommands()

    async def cog_load(self) -> None:
        attach_to_course(self.bot, self.group)  # type: ignore[arg-type]
