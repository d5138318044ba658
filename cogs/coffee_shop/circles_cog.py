"""Circles: /circle list|join|leave for students, /course circle add|rename|remove for
instructors, and keeping circle threads open (they are unarchived when they idle out).

Each circle is a private thread (``invitable=False``) in the coffee shop; the decisions live
in cogs/coffee_shop/circles.py, this cog only does the Discord part (:class:`DiscordCircleThreads`).
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, configured_channel
from bot.commands import InstructorGroup, member_of
from bot.errors import UserFacingError
from bot.ui import reply
from cogs.coffee_shop.circles import CircleService
from cogs.coffee_shop.service import CoffeeService

log = logging.getLogger("cogs.coffee_shop.circles_cog")

#: Discord's "Maximum number of active threads reached" (1,000 per server).
THREAD_LIMIT_CODE = 160006


class DiscordCircleThreads:
    """:class:`cogs.coffee_shop.circles.CircleThreads` on Discord."""

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    def _guild(self, guild_id: int) -> discord.Guild:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            raise UserFacingError("I can't see this server right now; try again in a moment.")
        return guild

    async def thread(self, guild_id: int, thread_id: int) -> discord.Thread:
        guild = self._guild(guild_id)
        thread = guild.get_thread(thread_id)
        if thread is None:
            # Archived threads drop out of the cache: ask Discord.
            try:
                fetched = await guild.fetch_channel(thread_id)
            except discord.NotFound as error:
                raise UserFacingError(
                    "This circle's thread was deleted. Ask an instructor to remove and re-add "
                    "the circle."
                ) from error
            if not isinstance(fetched, discord.Thread):
                raise UserFacingError("This circle's thread is missing.")
            thread = fetched
        return thread

    async def open_thread(self, guild_id: int, thread_id: int) -> discord.Thread:
        """The thread, unarchived (members can only be added to an unarchived thread)."""
        thread = await self.thread(guild_id, thread_id)
        if thread.archived:
            thread = await thread.edit(archived=False)
        return thread

    async def create(self, guild_id: int, name: str) -> int:
        guild = self._guild(guild_id)
        channel = await configured_channel(
            self.bot.app.guild_settings,
            guild,
            lambda config: config.coffee_channel_id,
            "The coffee-shop channel isn't set up, so circles can't open. Ask an instructor.",
        )
        try:
            thread = await channel.create_thread(
                name=name,
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=10080,  # the longest Discord allows
                reason="CohortBot circle",
            )
        except discord.Forbidden as error:
            raise UserFacingError(
                "I can't open a private thread in the coffee shop: I need Create Private "
                "Threads and Manage Threads there. Ask an instructor to check /course status."
            ) from error
        except discord.HTTPException as error:
            if error.code != THREAD_LIMIT_CODE:
                raise
            raise UserFacingError(
                "This server has reached Discord's limit of active threads, so the circle's "
                "thread can't open right now. Nothing was changed: try again later (an "
                "instructor can free room by archiving old threads)."
            ) from error
        return thread.id

    async def add_member(self, guild_id: int, thread_id: int, user_id: int) -> None:
        thread = await self.open_thread(guild_id, thread_id)
        await thread.add_user(discord.Object(id=user_id))

    async def remove_member(self, guild_id: int, thread_id: int, user_id: int) -> None:
        thread = await self.open_thread(guild_id, thread_id)
        await thread.remove_user(discord.Object(id=user_id))

    async def rename(self, guild_id: int, thread_id: int, name: str) -> None:
        thread = await self.thread(guild_id, thread_id)
        await thread.edit(name=name, archived=False)


async def circle_autocomplete(
    interaction: discord.Interaction[CohortBot], current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    needle = current.casefold()
    circles = await interaction.client.app.services.get(CircleService).all(interaction.guild_id)
    return [
        app_commands.Choice(name=c.name, value=c.name)
        for c in circles
        if needle in c.name.casefold()
    ][:25]


class CourseCircleGroup(
    InstructorGroup, name="circle", description="Circles of classmates with similar lives"
):
    """/course circle …: add, rename and remove circles."""

    def __init__(self, cog: CirclesCog) -> None:
        super().__init__()
        self.cog = cog

    @app_commands.command(name="add", description="Add a circle students can join")
    async def add_circle_command(
        self, interaction: discord.Interaction[CohortBot], name: str
    ) -> None:
        """
        Args:
            name: e.g. Working parents, Caregivers, First-generation students
        """
        guild = member_of(interaction).guild
        app = interaction.client.app
        await app.guild_settings.require_config(guild.id, guild.name)
        circle = await app.services.get(CircleService).add(guild.id, name)
        await reply(
            interaction,
            f"Added the circle **{circle.name}**. Its private thread opens when the first "
            "student joins with /circle join.",
        )

    @app_commands.command(name="rename", description="Rename a circle (and its threads)")
    @app_commands.autocomplete(name=circle_autocomplete)
    async def rename_circle_command(
        self, interaction: discord.Interaction[CohortBot], name: str, new_name: str
    ) -> None:
        guild = member_of(interaction).guild
        await interaction.response.defer(ephemeral=True, thinking=True)
        circle = await interaction.client.app.services.get(CircleService).rename(
            guild.id, name, new_name, self.cog.threads
        )
        await reply(interaction, f"Renamed the circle to **{circle.name}**.")

    @app_commands.command(name="remove", description="Remove a circle (its threads stay)")
    @app_commands.autocomplete(name=circle_autocomplete)
    async def remove_circle_command(
        self, interaction: discord.Interaction[CohortBot], name: str
    ) -> None:
        guild = member_of(interaction).guild
        circle, thread_ids = await interaction.client.app.services.get(CircleService).remove(
            guild.id, name
        )
        threads = ", ".join(f"<#{t}>" for t in thread_ids)
        note = (
            f" Its threads ({threads}) stay for their members; archive or delete them in "
            "Discord if you wish."
            if thread_ids
            else ""
        )
        await reply(interaction, f"Removed the circle **{circle.name}**.{note}")


class CirclesCog(FeatureCog):
    circle = app_commands.Group(
        name="circle",
        description="Circles of classmates who share your circumstances",
        guild_only=True,
    )

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.threads = DiscordCircleThreads(bot)
        self.course_group = CourseCircleGroup(self)
        self._inline = (("raw_thread_update", self.filter_thread_update),)

    @circle.command(name="list", description="The circles you can join")
    async def list_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        guild_id = member.guild.id
        circles = await self.app.services.get(CircleService).all(guild_id)
        mine = set(await self.app.services.get(CircleService).circles_of(guild_id, member.id))
        lines = [await self.app.templates.render(guild_id, "coffee_circles_intro"), ""]
        if not circles:
            lines.append("There are no circles yet — an instructor can add them.")
        for circle in circles:
            people = f"{circle.members} {'member' if circle.members == 1 else 'members'}"
            joined = " — you're in it" if circle.name in mine else ""
            lines.append(f"• **{circle.name}** ({people}){joined}")
        await reply(interaction, "\n".join(lines)[:2000])

    @circle.command(name="join", description="Join a circle (a private thread in the coffee shop)")
    @app_commands.autocomplete(name=circle_autocomplete)
    async def join_command(self, interaction: discord.Interaction[CohortBot], name: str) -> None:
        member = member_of(interaction)
        guild_id = member.guild.id
        await self.app.guild_settings.require_config(guild_id, member.guild.name)
        await interaction.response.defer(ephemeral=True, thinking=True)
        cap = (await self.app.services.get(CoffeeService).config(guild_id)).circle_size
        result = await self.app.services.get(CircleService).join(
            guild_id, name, member.id, self.threads, cap=cap
        )
        await reply(
            interaction,
            f"You joined **{result.circle.name}**: <#{result.thread_id}>. Only its members see "
            "it — and server moderators can read private threads. Leave any time with "
            "/circle leave.",
        )

    @circle.command(name="leave", description="Leave a circle")
    @app_commands.autocomplete(name=circle_autocomplete)
    async def leave_command(self, interaction: discord.Interaction[CohortBot], name: str) -> None:
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        circle = await self.app.services.get(CircleService).leave(
            member.guild.id, name, member.id, self.threads
        )
        await reply(interaction, f"You left **{circle.name}**. You can join again any time.")

    def filter_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        """Keep circle threads open: unarchive one that idled out (not one a moderator
        locked). Inline: most thread updates are no archiving, and need no task."""
        metadata = payload.data.get("thread_metadata") or {}
        if metadata.get("archived") and not metadata.get("locked"):
            self.bot.run_handler("raw_thread_update", self.reopen_if_circle, payload)

    async def reopen_if_circle(self, payload: discord.RawThreadUpdateEvent) -> None:
        if not await self.app.services.get(CircleService).is_circle_thread(
            payload.guild_id, payload.thread_id
        ):
            return
        try:
            await self.threads.open_thread(payload.guild_id, payload.thread_id)
        except (discord.HTTPException, UserFacingError) as error:
            log.warning(
                "Could not unarchive circle thread %s (guild %s): %s",
                payload.thread_id,
                payload.guild_id,
                error,
            )


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(CirclesCog(bot))
