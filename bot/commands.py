"""Helpers shared by cogs: typed option transformers and permission checks at run time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import StaffOnlyError, UserFacingError
from bot.guild_settings import timezone_error
from bot.roles import is_instructor, is_staff
from bot.schedule_math import (
    WEEKDAY_NAMES,
    TimeOfDayError,
    is_valid_timezone,
    parse_time_of_day,
    search_timezones,
)
from bot.store.guilds import Cohort, GuildConfig
from bot.ui import CheckRefused

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.client import CohortBot

T = TypeVar("T")


#: The days of the week as slash-command choices (value 0 = Monday).
DAY_CHOICES = [app_commands.Choice(name=day, value=i) for i, day in enumerate(WEEKDAY_NAMES)]


def member_of(interaction: discord.Interaction[Any]) -> discord.Member:
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        raise UserFacingError("That only works inside a course server.")
    return interaction.user


def role_ids(member: discord.Member) -> set[int]:
    return {role.id for role in member.roles}


async def require_instructor(interaction: discord.Interaction[CohortBot]) -> GuildConfig | None:
    """Checked at run time: admins can change a command's default permissions."""
    member = member_of(interaction)
    config = await interaction.client.app.guild_settings.config(member.guild.id)
    if not is_instructor(
        role_ids=role_ids(member),
        manage_guild=member.guild_permissions.manage_guild,
        config=config,
    ):
        role = (
            member.guild.get_role(config.instructor_role_id)
            if config and (config.instructor_role_id)
            else None
        )
        label = f"Manage Server or @{role.name}" if role else "Manage Server"
        raise StaffOnlyError(
            await interaction.client.app.templates.render(member.guild.id, "staff_only", role=label)
        )
    return config


async def caller_is_staff(interaction: discord.Interaction[CohortBot]) -> bool:
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        return False
    member = interaction.user
    config = await interaction.client.app.guild_settings.config(member.guild.id)
    cohorts = await interaction.client.app.guild_settings.cohorts(member.guild.id)
    return is_staff(
        role_ids=role_ids(member),
        manage_guild=member.guild_permissions.manage_guild,
        config=config,
        cohorts=cohorts,
    )


async def caller_leads_cohort(interaction: discord.Interaction[CohortBot], cohort: Cohort) -> bool:
    """An instructor, or a lead of this very cohort (a lead of another cohort is not)."""
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        return False
    member = interaction.user
    config = await interaction.client.app.guild_settings.config(member.guild.id)
    roles = role_ids(member)
    if is_instructor(
        role_ids=roles, manage_guild=member.guild_permissions.manage_guild, config=config
    ):
        return True
    return cohort.lead_role_id is not None and cohort.lead_role_id in roles


async def require_cohort_staff(
    interaction: discord.Interaction[CohortBot], cohort: Cohort, message: str
) -> discord.Member:
    """Checked at run time, for the chosen cohort: its leads or an instructor."""
    member = member_of(interaction)
    if not await caller_leads_cohort(interaction, cohort):
        raise StaffOnlyError(message)
    return member


class TimeOfDayTransformer(app_commands.Transformer):
    """A typed 24-hour HH:MM time; bad text is refused before the command changes anything."""

    async def transform(self, interaction: discord.Interaction[Any], value: str) -> dt.time:
        try:
            return parse_time_of_day(value)
        except TimeOfDayError as error:
            raise UserFacingError(f"{error} Nothing was changed.") from error


#: An option typed as HH:MM, parsed once for every command that takes a time of day.
TimeOfDay = app_commands.Transform[dt.time, TimeOfDayTransformer]


class TimezoneTransformer(app_commands.Transformer):
    """An IANA Area/Location name from the allowlist, with autocomplete."""

    async def transform(self, interaction: discord.Interaction[Any], value: str) -> str:
        value = value.strip()
        if not is_valid_timezone(value):
            raise timezone_error(value)
        return value

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=tz, value=tz) for tz in search_timezones(value, 25)]


async def cohort_autocomplete(
    interaction: discord.Interaction[CohortBot], current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    cohorts = await interaction.client.app.guild_settings.cohorts(interaction.guild_id)
    needle = current.casefold()
    return [
        app_commands.Choice(name=c.name, value=c.name)
        for c in cohorts
        if needle in c.name.casefold()
    ][:25]


def cohort_option(description: str | None = None) -> Callable[[T], T]:
    """The ``cohort`` option of a command: autocompleted from the server's cohorts, and given
    ``description`` (Discord shows "…" for an option without one)."""

    def decorator(command: T) -> T:
        command = app_commands.autocomplete(cohort=cohort_autocomplete)(command)
        if description is not None:
            command = app_commands.describe(cohort=description)(command)
        return command

    return decorator


class InstructorGroup(app_commands.Group):
    """A `/course <name>` subcommand group owned by a feature cog.

    Every command in it checks instructor permission when it runs (Discord's default
    permission on /course can be changed by admins, and is ignored on subcommands).
    """

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        await instructor_check(interaction)
        return True


async def instructor_check(interaction: discord.Interaction[Any]) -> None:
    """``require_instructor`` for a command check: discord.py passes only its own errors from
    a check to the tree's error handler, so the project's error travels in ``CheckRefused``."""
    try:
        await require_instructor(interaction)
    except StaffOnlyError as error:
        raise CheckRefused(error) from error


def attach_to_course(bot: CohortBot, group: app_commands.Group) -> None:
    """Add a feature's group under /course. Call from the feature cog's `cog_load`."""
    course = bot.get_cog("CourseCog")
    if not isinstance(course, commands.GroupCog) or course.app_command is None:
        raise RuntimeError("cogs.course.cog must be loaded before the feature cogs")
    course.app_command.add_command(group)


def detach_from_course(bot: CohortBot, group: app_commands.Group) -> None:
    course = bot.get_cog("CourseCog")
    if isinstance(course, commands.GroupCog) and course.app_command is not None:
        course.app_command.remove_command(group.name)
