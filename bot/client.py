"""CohortBot: the discord.py client, its command tree and the one error path."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AppContext
from bot.ui import reply, report_error

log = logging.getLogger("bot.client")

#: Every cog, loaded in this order by setup_hook. One list, so nothing loads by accident.
EXTENSIONS: tuple[str, ...] = (
    "cogs.course",
    "cogs.help",
    "cogs.activity",
    "cogs.privacy",
)

#: Commands that make sense in a direct message with the bot.
DM_COMMANDS = frozenset({"help"})


def build_intents() -> discord.Intents:
    intents = discord.Intents.default()
    # Privileged: member joins and rosters, and the text of intros and prompt replies.
    intents.members = True
    intents.message_content = True
    return intents


class CohortTree(app_commands.CommandTree["CohortBot"]):
    async def interaction_check(self, interaction: discord.Interaction[CohortBot]) -> bool:
        if interaction.guild_id is not None or interaction.type is not (
            discord.InteractionType.application_command
        ):
            return True
        data: Any = interaction.data or {}
        if data.get("name") in DM_COMMANDS:
            return True
        text = await interaction.client.app.templates.render(None, "dm_pointer")
        await reply(interaction, text)
        return False

    async def on_error(
        self, interaction: discord.Interaction[CohortBot], error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


class CohortBot(commands.Bot):
    def __init__(
        self,
        app: AppContext,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        guild_ready_timeout: float = 2.0,
        start_services: bool = True,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CohortTree,
            help_command=None,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.app = app
        self._extensions = tuple(extensions)
        self.failed_extensions: list[str] = []
        # False for one-shot tools (cohortbot sync): load commands, run nothing.
        self._start_services = start_services

    async def setup_hook(self) -> None:
        # Runs once per process, unlike on_ready: load cogs, rebuild schedules, sync a dev guild.
        for name in self._extensions:
            try:
                await self.load_extension(name)
            except Exception:
                self.failed_extensions.append(name)
                log.exception("Could not load extension %s", name)
        if not self._start_services:
            return
        self.app.activity_recorder.start()
        # A restored older backup may hold rows a student deleted: delete them again.
        await self.app.privacy.reapply_tombstones()
        self.app.scheduler.add_tick_hook("maintenance", self.app.maintenance.tick)
        await self.app.scheduler.rebuild()
        self.app.scheduler.start()
        guild_id = self.app.settings.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), guild_id)

    async def close(self) -> None:
        # Stop taking scheduled work, write buffered activity, then disconnect.
        if self._start_services:
            await self.app.scheduler.shutdown()
            await self.app.activity_recorder.stop()
        await super().close()

    async def on_ready(self) -> None:
        # May fire more than once per process (reconnects); keep it idempotent.
        log.info("Ready as %s in %d guild(s)", self.user, len(self.guilds))
