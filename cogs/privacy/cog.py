"""/privacy info|export|delete, and noticing when the bot joins or leaves a server."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.command_kit import reply_lines
from bot.errors import UserFacingError
from bot.store.contract import Redaction
from bot.store.db import StoreError
from bot.ui import CohortView, reply
from cogs.privacy.service import PrivacyService

log = logging.getLogger("cogs.privacy.cog")


class ConfirmDeleteView(CohortView):
    """Asked once, privately; only the person who asked can confirm."""

    def __init__(self, cog: PrivacyCog, user_id: int) -> None:
        super().__init__(timeout=300)
        self.cog = cog
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id != self.user_id:
            raise UserFacingError("Only the person who asked can confirm this.")
        return True

    @discord.ui.button(label="Yes, delete my data", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Deleting your data…", view=None)
        await self.cog.delete_data(interaction)

    @discord.ui.button(label="No, keep it", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


@app_commands.guild_only()
class PrivacyCog(commands.GroupCog, group_name="privacy", group_description="Your data"):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.app = bot.app
        super().__init__()

    @app_commands.command(name="info", description="What CohortBot stores about you and why")
    async def info(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = interaction.guild
        assert guild is not None
        text = await self.app.templates.render(
            guild.id,
            "privacy_info",
            course=guild.name,
            retention_days=str(self.app.settings.retention_days),
        )
        # Longer than one message once the course name (or an edited text) is long: send it
        # all, in as few messages as fit, rather than cut it.
        await reply_lines(interaction, text.split("\n"))

    @app_commands.command(name="export", description="Get everything stored about you as a file")
    async def export(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = interaction.guild
        assert guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.app.services.get(PrivacyService).export_user(
            guild.id, interaction.user.id
        )
        payload = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
        rows = sum(len(v) for v in data["tables"].values())
        await reply(
            interaction,
            f"Here is everything CohortBot stores about you in {guild.name}: {rows} records.",
            files=[discord.File(io.BytesIO(payload), filename="cohortbot-my-data.json")],
        )

    @app_commands.command(name="delete", description="Erase your data in this server")
    async def delete(self, interaction: discord.Interaction[CohortBot]) -> None:
        await reply(
            interaction,
            "This erases everything CohortBot stores about you in this server — your intro, "
            "profile, coffee-chat history and participation records — and deletes or edits the "
            "bot's posts with your words or name (see /privacy info). Records that other "
            "students need are kept without your name. This can't be undone.",
            view=ConfirmDeleteView(self, interaction.user.id),
        )

    async def delete_data(self, interaction: discord.Interaction[Any]) -> None:
        guild = interaction.guild
        assert guild is not None

        async def delete_post(channel_id: int, message_id: int) -> None:
            await self.bot.http.delete_message(channel_id, message_id, reason="Data deletion")

        async def redact_post(redaction: Redaction) -> None:
            if redaction.thread_name is not None:
                await self.bot.http.edit_channel(
                    redaction.channel_id, reason="Data deletion", name=redaction.thread_name
                )
            if redaction.message_id is not None:
                message = self.bot.get_partial_messageable(
                    redaction.channel_id
                ).get_partial_message(redaction.message_id)
                embed = discord.Embed.from_dict(redaction.embed) if redaction.embed else None
                await message.edit(
                    content=redaction.content,
                    embed=embed,
                    allowed_mentions=discord.AllowedMentions.none(),
                )

        await self.app.services.get(PrivacyService).delete_user(
            guild.id, interaction.user.id, delete_post=delete_post, redact_post=redact_post
        )
        log.info("Deleted a student's data in guild %s on request", guild.id)
        await reply(interaction, await self.app.templates.render(guild.id, "privacy_deleted"))

    async def _present(self, guild_id: int) -> None:
        try:
            await self.app.services.get(PrivacyService).guild_joined(guild_id)
        except StoreError as error:
            # Retried on the next READY or GUILD_CREATE; nothing depends on it right now.
            log.warning("Could not record that guild %s is present: %s", guild_id, error)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        for guild in self.bot.guilds:
            await self._present(guild.id)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._present(guild.id)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self._present(guild.id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # Data stays for the grace period in case the bot is added back.
        try:
            await self.app.services.get(PrivacyService).guild_removed(guild.id)
        except StoreError:
            log.exception("Could not record that the bot left guild %s", guild.id)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(PrivacyCog(bot))
