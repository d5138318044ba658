"""Records course activity: messages, reactions, commands and button uses in tracked places.

Tracked places are the configured introductions, discussion and coffee-shop channels and
their threads. Nothing is awaited per event except cached look-ups; rows are batched.
"""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

from bot.client import CohortBot
from bot.store.activity import ActivityEvent, ActivityKind
from bot.store.guilds import GuildConfig


def tracked_channel_ids(config: GuildConfig) -> set[int]:
    return {
        cid
        for cid in (
            config.intro_channel_id,
            config.discussion_channel_id,
            config.coffee_channel_id,
        )
        if cid is not None
    }


def is_tracked(channel: Any, tracked: set[int]) -> bool:
    if channel is None:
        return False
    if channel.id in tracked:
        return True
    parent_id = getattr(channel, "parent_id", None)
    return isinstance(channel, discord.Thread) and parent_id in tracked


class ActivityCog(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.app = bot.app

    async def _record(
        self, guild_id: int, user_id: int, kind: ActivityKind, channel_id: int | None
    ) -> None:
        self.app.activity_recorder.record(
            ActivityEvent(guild_id, user_id, kind, channel_id, self.app.clock.now())
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        config = await self.app.setup.config(message.guild.id)
        if config is None or not is_tracked(message.channel, tracked_channel_ids(config)):
            return
        await self._record(message.guild.id, message.author.id, "message", message.channel.id)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or payload.user_id == getattr(self.bot.user, "id", None):
            return
        if payload.member is not None and payload.member.bot:
            return
        config = await self.app.setup.config(payload.guild_id)
        if config is None:
            return
        guild = self.bot.get_guild(payload.guild_id)
        channel = guild.get_channel_or_thread(payload.channel_id) if guild else None
        if not is_tracked(channel, tracked_channel_ids(config)):
            return
        await self._record(payload.guild_id, payload.user_id, "reaction", payload.channel_id)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.guild_id is None or interaction.user.bot:
            return
        if interaction.type is discord.InteractionType.application_command:
            kind: ActivityKind = "command"
        elif interaction.type in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        ):
            kind = "button"
        else:
            return
        if await self.app.setup.config(interaction.guild_id) is None:
            return
        await self._record(interaction.guild_id, interaction.user.id, kind, interaction.channel_id)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(ActivityCog(bot))
