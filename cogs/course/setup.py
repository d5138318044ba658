"""Use cases for configuring a course server: /course setup and cohorts. Looking the settings
up is the core's ``bot/guild_settings.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings, timezone_error
from bot.schedule_math import is_valid_timezone
from bot.store.guilds import Cohort, CohortRepository, GuildConfig, GuildConfigRepository
from bot.store.schedules import ScheduleRepository
from bot.text import quote_input

if TYPE_CHECKING:
    import discord

StatusProvider = Callable[["discord.Guild"], Awaitable[list[str]]]

MAX_COHORTS = 25  # one autocomplete page; far beyond any real course


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


@dataclass(eq=False, kw_only=True)
class SetupService:
    settings: GuildSettings
    guild_configs: GuildConfigRepository
    cohorts: CohortRepository
    clock: Clock
    schedules: ScheduleRepository | None = None
    #: Other features' lines for /course status: ``await provider(guild)``.
    status_providers: list[StatusProvider] = field(init=False, default_factory=list)

    def forget(self, guild_id: int) -> None:
        # The lookups cache what is saved here.
        self.settings.forget(guild_id)

    async def apply(self, guild_id: int, request: SetupRequest) -> GuildConfig:
        """Validate everything first, then save: bad input changes nothing."""
        if request.timezone is not None and not is_valid_timezone(request.timezone):
            raise timezone_error(request.timezone)
        current = await self.guild_configs.get(guild_id) or GuildConfig(guild_id=guild_id)
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
        existing = await self.cohorts.list(guild_id)
        if request.student_role_id is not None:
            clash = await self.cohorts.find_by_role(guild_id, request.student_role_id)
            if clash is not None and existing and clash.cohort_id != existing[0].cohort_id:
                raise UserFacingError(
                    f"That role already defines the cohort “{clash.name}”. Nothing was changed."
                )
        now = self.clock.now()
        try:
            await self.guild_configs.save(updated, now=now)
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
            await self.cohorts.add(
                guild_id,
                "Cohort 1",
                request.student_role_id,
                request.lead_role_id,
                now=self.clock.now(),
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
            await self.cohorts.update(changed)

    async def add_cohort(
        self, guild_id: int, name: str, student_role_id: int, lead_role_id: int | None
    ) -> Cohort:
        name = " ".join(name.split())
        if not name or len(name) > 50:
            raise UserFacingError("A cohort name needs 1–50 characters.")
        existing = await self.cohorts.list(guild_id)
        if len(existing) >= MAX_COHORTS:
            raise UserFacingError(f"A server can have at most {MAX_COHORTS} cohorts.")
        if any(c.name.casefold() == name.casefold() for c in existing):
            raise UserFacingError(f"There is already a cohort called {quote_input(name)}.")
        if any(c.student_role_id == student_role_id for c in existing):
            raise UserFacingError("That role already defines a cohort; pick another role.")
        config = await self.guild_configs.get(guild_id)
        staff_roles = {c.lead_role_id for c in existing}
        if config:
            staff_roles.add(config.instructor_role_id)
        if student_role_id in staff_roles:
            raise UserFacingError("That is a staff role; staff are never students.")
        try:
            return await self.cohorts.add(
                guild_id, name, student_role_id, lead_role_id, now=self.clock.now()
            )
        finally:
            self.forget(guild_id)

    async def remove_cohort(self, guild_id: int, cohort: Cohort) -> None:
        """Remove the cohort and its schedules (call ``scheduler.rebuild()`` after)."""
        existing = await self.cohorts.list(guild_id)
        if len(existing) <= 1:
            raise UserFacingError(
                "This is the server's only cohort; change its role with /course setup instead."
            )
        await self.cohorts.remove(guild_id, cohort.cohort_id)
        self.forget(guild_id)
        # Its digests, prompts, rounds… must stop: the caller rebuilds the scheduler.
        if self.schedules is not None:
            for schedule in await self.schedules.list_for_guild(guild_id):
                if schedule.cohort_id == cohort.cohort_id:
                    await self.schedules.delete(guild_id, schedule.cohort_id, schedule.kind)
