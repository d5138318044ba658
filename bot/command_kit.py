"""What the feature cogs share: their base class (:class:`FeatureCog`), and small steps of
their commands and buttons: the caller's server and chosen cohort, the server a persistent
button belongs to, a channel /course setup chose, a persistent view, a long answer in
chunks, the answer to a saved weekly schedule.

Core: imports no feature. Each helper raises the project's errors, so a refusal goes through
the one error path like any other.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord.ext import commands

from bot.commands import attach_to_course, detach_from_course, member_of
from bot.errors import UserFacingError
from bot.schedule_math import WEEKDAY_NAMES
from bot.store.guild_cache import AfterLoad
from bot.text import MESSAGE_LIMIT, chunk_lines, discord_time
from bot.ui import CohortButton, reply

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from discord import app_commands

    from bot.client import CohortBot, MessageFilter
    from bot.guild_settings import GuildSettings
    from bot.outbox.service import ViewFactory
    from bot.store.guilds import Cohort, GuildConfig
    from bot.store.schedules import Schedule


class FeatureCog(commands.Cog):
    """A feature's cog: the bot, its app, and what the feature adds to the bot while loaded.

    Declared once and added in :meth:`cog_load`, removed in :meth:`cog_unload` (a subclass
    that overrides either calls ``super()`` first): its ``/course <feature>`` group
    (``course_group``, set in ``__init__``), its persistent buttons (``buttons``), the views
    the outbox builds for its queued messages (``outbox_views``: registered on load, kept on
    unload), its inline pre-filters (``_inline``: event name and filter) and those of the
    messages people write in a server (``_message_filters``, see
    ``CohortBot.add_message_filter``)."""

    #: The persistent buttons (dynamic items) on the feature's messages.
    buttons: ClassVar[tuple[type[CohortButton], ...]] = ()
    #: (view key, factory) for each view the outbox builds from a queued row's arguments.
    outbox_views: ClassVar[tuple[tuple[str, ViewFactory], ...]] = ()

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.app = bot.app
        self.course_group: app_commands.Group | None = None
        self._inline: tuple[tuple[str, Callable[..., None]], ...] = ()
        self._message_filters: tuple[MessageFilter, ...] = ()

    async def cog_load(self) -> None:
        if self.course_group is not None:
            attach_to_course(self.bot, self.course_group)
        self.bot.add_inline_listeners(self._inline)
        for message_filter in self._message_filters:
            self.bot.add_message_filter(message_filter)
        self.bot.add_dynamic_items(*self.buttons)
        for key, factory in self.outbox_views:
            self.app.outbox.register_view(key, factory)

    async def cog_unload(self) -> None:
        if self.course_group is not None:
            detach_from_course(self.bot, self.course_group)
        self.bot.remove_inline_listeners(self._inline)
        for message_filter in self._message_filters:
            self.bot.remove_message_filter(message_filter)
        self.bot.remove_dynamic_items(*self.buttons)

    def after_load(
        self, load: Callable[[int], Awaitable[object]], what: str = "settings"
    ) -> AfterLoad:
        """Where an inline pre-filter parks the events of a guild whose feature settings
        (``load`` reads and caches them) are not cached yet; the one load per guild runs as
        an event handler (errors logged as a handler's, awaited at shutdown). For the guild's
        own settings use ``CohortBot.config_or_park``."""
        return AfterLoad(load, partial(self.bot.run_handler, "settings_loaded"), what)


async def configured_guild(interaction: discord.Interaction[CohortBot]) -> discord.Guild:
    """The caller's server, refused with the pointer to /course setup until it has run."""
    guild = member_of(interaction).guild
    await interaction.client.app.guild_settings.require_config(guild.id, guild.name)
    return guild


async def configured_channel(
    settings: GuildSettings,
    guild: discord.Guild,
    channel_of: Callable[[GuildConfig], int | None],
    refusal: str,
) -> discord.TextChannel:
    """The text channel /course setup chose for something (``channel_of`` picks it from the
    server's settings): refused until setup has run, and with ``refusal`` when none is set
    or it is no longer a text channel."""
    config = await settings.require_config(guild.id, guild.name)
    channel = guild.get_channel(channel_of(config) or 0)
    if not isinstance(channel, discord.TextChannel):
        raise UserFacingError(refusal)
    return channel


async def chosen_cohort(
    interaction: discord.Interaction[CohortBot], name: str | None, *, configured: bool = False
) -> tuple[discord.Guild, Cohort]:
    """The caller's server and the cohort a ``cohort`` option names (may be omitted when
    there is only one); with ``configured``, refused first until /course setup has run."""
    guild = await configured_guild(interaction) if configured else member_of(interaction).guild
    return guild, await interaction.client.app.guild_settings.resolve_cohort(guild.id, name)


async def answer_saved_schedule(
    interaction: discord.Interaction[CohortBot], schedule: Schedule, what: str, note: str = ""
) -> None:
    """After a command saved a weekly ``schedule``: the scheduler takes it up at once, and the
    answer says ``what`` runs when (weekday, time, zone), then ``note``, then the next run."""
    app = interaction.client.app
    await app.scheduler.rebuild()
    when = schedule.next_run(app.clock.now())
    await reply(
        interaction,
        f"{what} every {WEEKDAY_NAMES[schedule.weekday]} at "
        f"{schedule.local_time.strftime('%H:%M')} ({schedule.timezone}){note}. "
        f"Next: {discord_time(when)}.",
    )


def button_guild(interaction: discord.Interaction[Any], guild_id: int) -> discord.Guild:
    """The server a persistent button's custom_id names (a button in a DM carries none)."""
    guild = interaction.client.get_guild(guild_id)
    if guild is None:
        raise UserFacingError("That button doesn't belong to a server I'm in.")
    return guild


def persistent_view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view that never times out, holding ``items`` (persistent buttons, in order)."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


async def reply_lines(
    interaction: discord.Interaction[Any], lines: Iterable[str], limit: int = MESSAGE_LIMIT
) -> None:
    """Answer with ``lines``, in as few messages of at most ``limit`` characters as fit."""
    for chunk in chunk_lines(lines, limit):
        await reply(interaction, chunk)
