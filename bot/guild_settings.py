"""The server settings every feature looks up: a guild's configuration and cohorts (cached,
read on every tracked message), the "not set up yet" answer, cohort options and the leads
channel. ``/course setup`` itself (saving them) is the course feature's."""

from __future__ import annotations

import logging
from functools import partial

import discord

from bot.errors import NotConfiguredError, UserFacingError
from bot.guild_model import Cohort, GuildConfig
from bot.store.guild_cache import GuildCache
from bot.store.guilds import CohortRepository, GuildConfigRepository
from bot.templates import Templates
from bot.text import quote_input

log = logging.getLogger(__name__)

LEADS_CHANNEL_MISSING = (
    "There is no leads channel. An instructor can pick a private staff channel with "
    "/course setup leads:#channel."
)
LEADS_CHANNEL_NOT_PRIVATE = (
    "Nothing was posted: the leads channel #{name} can be read by {who}, and what goes there "
    "names students. Make it private to staff (deny View Channel to @everyone and to the "
    "student roles), then try again; /course status shows what is wrong."
)


def timezone_error(value: str) -> UserFacingError:
    return UserFacingError(
        f"{quote_input(value)} isn't a time zone I can use. Pick a place name such as "
        "America/New_York or Europe/Berlin from the suggestions (abbreviations like EST are "
        "ambiguous). Nothing was changed."
    )


class GuildSettings:
    def __init__(
        self,
        *,
        guild_configs: GuildConfigRepository,
        cohorts: CohortRepository,
        templates: Templates,
    ) -> None:
        self._configs = guild_configs
        self._cohorts = cohorts
        self._templates = templates
        # Read on every tracked message: cached, dropped whenever they are saved (``forget``),
        # and read once for all the callers that miss together (the first burst after a start).
        self._config_cache: GuildCache[GuildConfig | None] = GuildCache()
        self._cohort_cache: GuildCache[list[Cohort]] = GuildCache()

    async def config(self, guild_id: int) -> GuildConfig | None:
        return await self._config_cache.get(guild_id, partial(self._configs.get, guild_id))

    def cached_config(self, guild_id: int) -> tuple[bool, GuildConfig | None]:
        """(known, config) without awaiting: for per-event hot paths; known is False until
        ``config`` has loaded this guild (again after ``forget``)."""
        return self._config_cache.lookup(guild_id)

    def forget(self, guild_id: int) -> None:
        """Drop cached settings (after they are saved, or a guild's data is deleted); a read
        under way meanwhile does not keep what it read."""
        self._config_cache.forget(guild_id)
        self._cohort_cache.forget(guild_id)

    async def require_config(self, guild_id: int, guild_name: str) -> GuildConfig:
        config = await self._configs.get(guild_id)
        if config is None:
            raise NotConfiguredError(
                await self._templates.render(guild_id, "not_configured", course=guild_name)
            )
        return config

    async def cohorts(self, guild_id: int) -> list[Cohort]:
        return list(await self._cohort_cache.get(guild_id, partial(self._cohorts.list, guild_id)))

    # ------------------------------------------------------------------ the leads channel

    async def leads_channel(self, guild: discord.Guild) -> discord.TextChannel | None:
        """The configured leads channel, private or not (for /course status)."""
        config = await self.config(guild.id)
        channel = guild.get_channel(config.leads_channel_id or 0) if config else None
        return channel if isinstance(channel, discord.TextChannel) else None

    async def leads_channel_readers(
        self, guild: discord.Guild, channel: discord.abc.GuildChannel
    ) -> list[str]:
        """Who must not but can read the channel: "@everyone" and student roles, by name."""
        readers = []
        if channel.permissions_for(guild.default_role).view_channel:
            readers.append("@everyone")
        for cohort in await self.cohorts(guild.id):
            role = guild.get_role(cohort.student_role_id)
            if role is not None and channel.permissions_for(role).view_channel:
                readers.append(f"@{role.name}")
        return readers

    async def leads_channel_private(self, guild: discord.Guild) -> bool:
        """True when a leads channel is set and neither @everyone nor any cohort's student
        role can view it. Check before every send there: digests and notes name students."""
        channel = await self.leads_channel(guild)
        return channel is not None and not await self.leads_channel_readers(guild, channel)

    async def private_leads_channel(self, guild: discord.Guild) -> discord.TextChannel:
        """The leads channel to send to, or UserFacingError (missing, or students can read
        it: then nothing may be sent there)."""
        channel = await self.leads_channel(guild)
        if channel is None:
            raise UserFacingError(LEADS_CHANNEL_MISSING)
        readers = await self.leads_channel_readers(guild, channel)
        if readers:
            raise UserFacingError(
                LEADS_CHANNEL_NOT_PRIVATE.format(name=channel.name, who=" and ".join(readers))
            )
        return channel

    async def leads_channel_or_warn(
        self, guild: discord.Guild, what: str
    ) -> discord.TextChannel | None:
        """For automatic sends: the private leads channel, else None after a warning."""
        try:
            return await self.private_leads_channel(guild)
        except UserFacingError as error:
            log.warning(
                "%s not sent to the leads channel of guild %s: %s", what, guild.id, error.message
            )
            return None

    async def resolve_cohort(self, guild_id: int, value: str | None) -> Cohort:
        """The cohort named by an option; may be omitted when there is only one."""
        cohorts = await self._cohorts.list(guild_id)
        if not cohorts:
            raise UserFacingError(
                "There are no cohorts yet: run /course setup with a student role."
            )
        if value is None or not value.strip():
            if len(cohorts) == 1:
                return cohorts[0]
            names = ", ".join(c.name for c in cohorts)
            raise UserFacingError(f"This server has several cohorts ({names}); pick one.")
        wanted = value.strip()
        for cohort in cohorts:
            if str(cohort.cohort_id) == wanted or cohort.name.casefold() == wanted.casefold():
                return cohort
        raise UserFacingError(f"There is no cohort called {quote_input(wanted)}.")
