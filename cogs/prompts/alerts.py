"""Opt-in prompt alerts: one mentionable role per cohort that each new post pings."""

from __future__ import annotations

import logging

import discord

from bot.errors import UserFacingError
from bot.store.guilds import Cohort
from bot.text import shorten
from cogs.prompts.common import ALERTS_ROLE_NAME
from cogs.prompts.core import PromptCore

__all__ = ["PromptAlerts"]

log = logging.getLogger(__name__)


class PromptAlerts(PromptCore):
    """The cohort's alerts role and students opting in or out."""

    # ------------------------------------------------------------------ alerts role

    @staticmethod
    def alerts_role_name(cohort: Cohort) -> str:
        return shorten(f"{ALERTS_ROLE_NAME} — {cohort.name}", 100)

    async def set_alerts(self, member: discord.Member, on: bool) -> str:
        guild = member.guild
        cohorts = await self.roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Prompt alerts are for students of a cohort.")
        roles = [await self._alerts_role(guild, cohort, create=on) for cohort in cohorts]
        found = [role for role in roles if role is not None]
        if not found:
            return "You don't have prompt alerts on. Nothing changed."
        try:
            if on:
                await member.add_roles(*found, reason="/prompt alerts on")
            else:
                await member.remove_roles(*found, reason="/prompt alerts off")
        except discord.Forbidden:
            raise UserFacingError(
                "I can't give or take the prompt alerts role: it is above my own role. "
                "Ask an instructor to move my role higher."
            ) from None
        names = ", ".join(f"@{role.name}" for role in found)
        if on:
            return f"Prompt alerts are on: you'll be pinged ({names}) when a new prompt posts."
        return "Prompt alerts are off. You can still find the prompts in the discussion channel."

    async def _alerts_role(
        self, guild: discord.Guild, cohort: Cohort, *, create: bool
    ) -> discord.Role | None:
        """The cohort's alerts role: the saved one, else one with its name, else a new one.
        It must be mentionable: pinging a non-mentionable role needs Mention Everyone."""
        role_id = await self.alerts_role_id(guild.id, cohort.cohort_id)
        role = guild.get_role(role_id) if role_id else None
        if role is None:
            role = discord.utils.get(guild.roles, name=self.alerts_role_name(cohort))
        if role is None and not create:
            return None
        if not guild.me.guild_permissions.manage_roles:
            raise UserFacingError(
                "I need the Manage Roles permission to manage prompt alerts. Ask an instructor."
            )
        if role is None:
            role = await guild.create_role(
                name=self.alerts_role_name(cohort),
                mentionable=True,
                reason="Opt-in prompt alerts",
            )
        elif not role.mentionable and create:
            try:
                edited = await role.edit(mentionable=True, reason="Prompt alerts must ping")
                role = edited or role
            except discord.Forbidden:  # above the bot's role: the instructor can fix it
                log.warning("Could not make the prompt alerts role %s mentionable", role.id)
        if role.id != role_id:
            settings = await self.store.settings(guild.id, cohort.cohort_id)
            await self.save_settings(settings.with_changes(alerts_role_id=role.id))
        return role
