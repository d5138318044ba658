"""Use cases for configuring a course server: setup, cohorts, and looking things up."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

from bot.clock import Clock
from bot.errors import NotConfiguredError, UserFacingError
from bot.schedule_math import is_valid_timezone
from bot.store.guilds import Cohort, CohortRepository, GuildConfig, GuildConfigRepository
from bot.store.schedules import ScheduleRepository
from bot.templates import Templates
from bot.text import quote_input

log = logging.getLogger(__name__)

MAX_COHORTS = 25  # one autocomplete page; far beyond any real course

LEADS_CHANNEL_MISSING = (
    "There is no leads channel. An instructor can pick a private staff channel with "
    "/course setup leads:#channel."
)
LEADS_CHANNEL_NOT_PRIVATE = (
    "Nothing was posted: the leads channel #{name} can be read by {who}, and what goes there "
    "names students. Make it private to staff (deny View Channel to @everyone and to the "
    "student roles), then try again; /course status shows what is wrong."
)


@dataclass(frozen=True)
class SetupRequest:
    """What the instructor chose; None keeps the current value."""

    student_role_id: int | None = None
    instructor_role_id: int | None = None
    lead_role_id: int | None = None
    intro_channel_id: int | None = None
    discussion_channel_id: int | None = None
    coffee_channel_id: int | None = None
    leads_channel_id: int | None = None
    timezone: str | None = None


def timezone_error(value: str) -> UserFacingError:
    return UserFacingError(
        f"{quote_input(value)} isn't a time zone I can use. Pick a place name such as "
        "America/New_York or Europe/Berlin from the suggestions (abbreviations like EST are "
        "ambiguous). Nothing was changed."
    )


class SetupService:
    def __init__(
        self,
        *,
        guild_configs: GuildConfigRepository,
        cohorts: CohortRepository,
        clock: Clock,
        templates: Templates,
        schedules: ScheduleRepository | None = None,
    ) -> None:
        self._configs = guild_configs
        self._cohorts = cohorts
        self._schedules = schedules
        self._clock = clock
        self._templates = templates
        # Read on every tracked message: cached, and replaced whenever it is saved here.
        self._config_cache: dict[int, GuildConfig | None] = {}
        self._cohort_cache: dict[int, list[Cohort]] = {}

    async def config(self, guild_id: int) -> GuildConfig | None:
        if guild_id not in self._config_cache:
            self._config_cache[guild_id] = await self._configs.get(guild_id)
        return self._config_cache[guild_id]

    def cached_config(self, guild_id: int) -> tuple[bool, GuildConfig | None]:
        """(known, config) without awaiting: for per-event hot paths; known is False until
        ``config`` has loaded this guild (again after ``forget``)."""
        if guild_id in self._config_cache:
            return True, self._config_cache[guild_id]
        return False, None

    def forget(self, guild_id: int) -> None:
        """Drop cached settings (after a guild's data is deleted)."""
        self._config_cache.pop(guild_id, None)
        self._cohort_cache.pop(guild_id, None)

    async def require_config(self, guild_id: int, guild_name: str) -> GuildConfig:
        config = await self._configs.get(guild_id)
        if config is None:
            raise NotConfiguredError(
                await self._templates.render(guild_id, "not_configured", course=guild_name)
            )
        return config

    async def cohorts(self, guild_id: int) -> list[Cohort]:
        if guild_id not in self._cohort_cache:
            self._cohort_cache[guild_id] = await self._cohorts.list(guild_id)
        return list(self._cohort_cache[guild_id])

    async def apply(self, guild_id: int, request: SetupRequest) -> GuildConfig:
        """Validate everything first, then save: bad input changes nothing."""
        if request.timezone is not None and not is_valid_timezone(request.timezone):
            raise timezone_error(request.timezone)
        current = await self._configs.get(guild_id) or GuildConfig(guild_id=guild_id)
        roles = {request.student_role_id, request.lead_role_id, request.instructor_role_id}
        roles.discard(None)
        if len(roles) < sum(
            r is not None
            for r in (request.student_role_id, request.lead_role_id, request.instructor_role_id)
        ):
            raise UserFacingError(
                "The student, instructor and lead roles must be different roles, so staff are "
                "never treated as students. Nothing was changed."
            )
        updated = current.with_changes(
            **{
                name: value
                for name, value in (
                    ("instructor_role_id", request.instructor_role_id),
                    ("intro_channel_id", request.intro_channel_id),
                    ("discussion_channel_id", request.discussion_channel_id),
                    ("coffee_channel_id", request.coffee_channel_id),
                    ("leads_channel_id", request.leads_channel_id),
                    ("timezone", request.timezone),
                )
                if value is not None
            }
        )
        existing = await self._cohorts.list(guild_id)
        if request.student_role_id is not None:
            clash = await self._cohorts.find_by_role(guild_id, request.student_role_id)
            if clash is not None and existing and clash.cohort_id != existing[0].cohort_id:
                raise UserFacingError(
                    f"That role already defines the cohort “{clash.name}”. Nothing was changed."
                )
        now = self._clock.now()
        try:
            await self._configs.save(updated, now=now)
            await self._save_primary_cohort(guild_id, existing, request)
        finally:
            self.forget(guild_id)
        return updated

    async def _save_primary_cohort(
        self, guild_id: int, existing: list[Cohort], request: SetupRequest
    ) -> None:
        # The first cohort is the one /course setup defines; more come from /course cohort add.
        if not existing:
            if request.student_role_id is None:
                return
            await self._cohorts.add(
                guild_id,
                "Cohort 1",
                request.student_role_id,
                request.lead_role_id,
                now=self._clock.now(),
            )
            return
        primary = existing[0]
        changed = Cohort(
            guild_id=guild_id,
            cohort_id=primary.cohort_id,
            name=primary.name,
            student_role_id=request.student_role_id or primary.student_role_id,
            lead_role_id=request.lead_role_id or primary.lead_role_id,
        )
        if changed != primary:
            await self._cohorts.update(changed)

    async def add_cohort(
        self, guild_id: int, name: str, student_role_id: int, lead_role_id: int | None
    ) -> Cohort:
        name = " ".join(name.split())
        if not name or len(name) > 50:
            raise UserFacingError("A cohort name needs 1–50 characters.")
        existing = await self._cohorts.list(guild_id)
        if len(existing) >= MAX_COHORTS:
            raise UserFacingError(f"A server can have at most {MAX_COHORTS} cohorts.")
        if any(c.name.casefold() == name.casefold() for c in existing):
            raise UserFacingError(f"There is already a cohort called {quote_input(name)}.")
        if any(c.student_role_id == student_role_id for c in existing):
            raise UserFacingError("That role already defines a cohort; pick another role.")
        config = await self._configs.get(guild_id)
        staff_roles = {c.lead_role_id for c in existing}
        if config:
            staff_roles.add(config.instructor_role_id)
        if student_role_id in staff_roles:
            raise UserFacingError("That is a staff role; staff are never students.")
        try:
            return await self._cohorts.add(
                guild_id, name, student_role_id, lead_role_id, now=self._clock.now()
            )
        finally:
            self.forget(guild_id)

    async def remove_cohort(self, guild_id: int, cohort: Cohort) -> None:
        """Remove the cohort and its schedules (call ``scheduler.rebuild()`` after)."""
        existing = await self._cohorts.list(guild_id)
        if len(existing) <= 1:
            raise UserFacingError(
                "This is the server's only cohort; change its role with /course setup instead."
            )
        await self._cohorts.remove(guild_id, cohort.cohort_id)
        self.forget(guild_id)
        # Its digests, prompts, rounds… must stop: the caller rebuilds the scheduler.
        if self._schedules is not None:
            for schedule in await self._schedules.list_for_guild(guild_id):
                if schedule.cohort_id == cohort.cohort_id:
                    await self._schedules.delete(guild_id, schedule.cohort_id, schedule.kind)

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
