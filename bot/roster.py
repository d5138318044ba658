"""Who the students of a cohort are, from Discord's member cache and the cohort roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import discord

from bot.guild_settings import GuildSettings
from bot.roles import is_staff, student_cohorts
from bot.store.guilds import Cohort, GuildConfig

_T = TypeVar("_T")


class Roster:
    def __init__(self, setup: GuildSettings) -> None:
        self._setup = setup

    async def _roles(self, guild_id: int) -> tuple[GuildConfig | None, list[Cohort]]:
        """What decides who is who in the guild: its settings and its cohorts."""
        return await self._setup.config(guild_id), await self._setup.cohorts(guild_id)

    async def is_staff(self, member: discord.Member) -> bool:
        return _judged(is_staff, member, *await self._roles(member.guild.id))

    async def cohorts_of(self, member: discord.Member) -> list[Cohort]:
        """The cohorts the member studies in; empty for staff, bots and non-students."""
        if member.bot:
            return []
        return _judged(student_cohorts, member, *await self._roles(member.guild.id))

    async def students(self, guild: discord.Guild, cohort: Cohort) -> list[discord.Member]:
        """Members holding the cohort's role, minus staff and bots, sorted by id."""
        role = guild.get_role(cohort.student_role_id)
        if role is None:
            return []
        config, cohorts = await self._roles(guild.id)
        result = [
            member
            for member in role.members
            if not member.bot and not _judged(is_staff, member, config, cohorts)
        ]
        return sorted(result, key=lambda m: m.id)

    async def all_students(self, guild: discord.Guild) -> dict[int, list[Cohort]]:
        """Every student in the guild with their cohorts."""
        result: dict[int, list[Cohort]] = {}
        for cohort in await self._setup.cohorts(guild.id):
            for member in await self.students(guild, cohort):
                result.setdefault(member.id, []).append(cohort)
        return result


def _judged(
    judge: Callable[..., _T],
    member: discord.Member,
    config: GuildConfig | None,
    cohorts: list[Cohort],
) -> _T:
    """``judge`` (:func:`bot.roles.is_staff`, :func:`bot.roles.student_cohorts`) on the
    member's roles and permissions."""
    return judge(
        role_ids={r.id for r in member.roles},
        manage_guild=member.guild_permissions.manage_guild,
        config=config,
        cohorts=cohorts,
    )
