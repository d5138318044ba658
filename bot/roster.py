"""Who the students of a cohort are, from Discord's member cache and the cohort roles."""

from __future__ import annotations

import discord

from bot.guild_settings import GuildSettings
from bot.roles import is_staff, student_cohorts
from bot.store.guilds import Cohort


class Roster:
    def __init__(self, setup: GuildSettings) -> None:
        self._setup = setup

    async def is_staff(self, member: discord.Member) -> bool:
        config = await self._setup.config(member.guild.id)
        cohorts = await self._setup.cohorts(member.guild.id)
        return is_staff(
            role_ids={r.id for r in member.roles},
            manage_guild=member.guild_permissions.manage_guild,
            config=config,
            cohorts=cohorts,
        )

    async def cohorts_of(self, member: discord.Member) -> list[Cohort]:
        """The cohorts the member studies in; empty for staff, bots and non-students."""
        if member.bot:
            return []
        config = await self._setup.config(member.guild.id)
        cohorts = await self._setup.cohorts(member.guild.id)
        return student_cohorts(
            role_ids={r.id for r in member.roles},
            manage_guild=member.guild_permissions.manage_guild,
            config=config,
            cohorts=cohorts,
        )

    async def students(self, guild: discord.Guild, cohort: Cohort) -> list[discord.Member]:
        """Members holding the cohort's role, minus staff and bots, sorted by id."""
        role = guild.get_role(cohort.student_role_id)
        if role is None:
            return []
        config = await self._setup.config(guild.id)
        cohorts = await self._setup.cohorts(guild.id)
        result = []
        for member in role.members:
            if member.bot:
                continue
            if is_staff(
                role_ids={r.id for r in member.roles},
                manage_guild=member.guild_permissions.manage_guild,
                config=config,
                cohorts=cohorts,
            ):
                continue
            result.append(member)
        return sorted(result, key=lambda m: m.id)

    async def all_students(self, guild: discord.Guild) -> dict[int, list[Cohort]]:
        """Every student in the guild with their cohorts."""
        result: dict[int, list[Cohort]] = {}
        for cohort in await self._setup.cohorts(guild.id):
            for member in await self.students(guild, cohort):
                result.setdefault(member.id, []).append(cohort)
        return result
