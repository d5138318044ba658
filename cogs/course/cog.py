"""/course …: the instructor's commands for setting a course server up and steering it.

Thin adapter: it turns Discord objects into ids and snapshots, calls the setup service, and
renders the answer. Permission is checked at run time for every subcommand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.command_kit import chosen_cohort, reply_lines
from bot.commands import (
    TimezoneTransformer,
    cohort_option,
    instructor_check,
    member_of,
    require_instructor,
)
from bot.errors import UserFacingError
from bot.schedule_math import is_valid_timezone
from bot.store.guilds import GuildConfig
from bot.text import TextError, quote_input, render, shorten, validate_template
from bot.ui import CohortModal, reply
from cogs.course.checklist import (
    ChannelSnapshot,
    GuildSnapshot,
    RoleSnapshot,
    all_ok,
    build_checklist,
    render_checklist,
)
from cogs.course.setup import SetupRequest, SetupService
from cogs.nudges import NudgeEngine

log = logging.getLogger("cogs.course.cog")

DEFAULT_NAMES = {
    "student": "Student",
    "instructor": "Instructor",
    "lead": "Cohort Lead",
    "introductions": "introductions",
    "discussion": "discussion",
    "coffee shop": "coffee-shop",
    "leads": "cohort-leads",
}

SAMPLE_VALUES = {
    "member": "@New Student",
    "course": "Your Course",
    "role": "Manage Server",
}


def permission_names(permissions: discord.Permissions) -> frozenset[str]:
    names = {name for name, value in permissions if value}
    # Iteration yields canonical names only; the checklist speaks of View Channel.
    if permissions.read_messages:
        names.add("view_channel")
    return frozenset(names)


def snapshot_guild(
    guild: discord.Guild,
    config: GuildConfig,
    cohort_names: list[str],
    student_role_id: int | None,
    lead_role_id: int | None,
    all_student_role_ids: Sequence[int] = (),
) -> GuildSnapshot:
    def role(slot: str, role_id: int | None) -> RoleSnapshot:
        found = guild.get_role(role_id) if role_id else None
        return RoleSnapshot(slot, role_id, found.name if found else None)

    def channel(slot: str, channel_id: int | None) -> ChannelSnapshot:
        found = guild.get_channel(channel_id) if channel_id else None
        if channel_id is None or not isinstance(found, discord.abc.GuildChannel):
            return ChannelSnapshot(slot, channel_id, None)
        return ChannelSnapshot(
            slot,
            channel_id,
            found.name,
            permission_names(found.permissions_for(guild.me)),
            found.permissions_for(guild.default_role).view_channel,
            tuple(
                role.name
                for role in (guild.get_role(role_id) for role_id in all_student_role_ids)
                if role is not None and found.permissions_for(role).view_channel
            ),
        )

    return GuildSnapshot(
        roles=(
            role("student", student_role_id),
            role("instructor", config.instructor_role_id),
            role("lead", lead_role_id),
        ),
        channels=(
            channel("introductions", config.intro_channel_id),
            channel("discussion", config.discussion_channel_id),
            channel("coffee shop", config.coffee_channel_id),
            channel("leads", config.leads_channel_id),
        ),
        timezone=config.timezone,
        timezone_valid=is_valid_timezone(config.timezone),
        bot_guild_permissions=permission_names(guild.me.guild_permissions),
        cohort_names=tuple(cohort_names),
    )


class TemplateEditModal(CohortModal):
    def __init__(self, cog: CourseCog, key: str, current: str) -> None:
        super().__init__(title=shorten(f"Edit text: {key}", 45))
        self.cog = cog
        self.key = key
        self.body: discord.ui.TextInput[TemplateEditModal] = discord.ui.TextInput(
            label="Text",
            style=discord.TextStyle.paragraph,
            default=current,
            max_length=1800,
        )
        self.add_item(self.body)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.cog.save_template(interaction, self.key, self.body.value)


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class CourseCog(commands.GroupCog, group_name="course", group_description="Instructor tools"):
    text = app_commands.Group(name="text", description="Student-facing texts")
    cohort = app_commands.Group(name="cohort", description="Cohorts (sections) in this server")

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.app = bot.app
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        # Runs before every /course subcommand: the default permission alone is not enough.
        await instructor_check(interaction)
        return True

    # ----- setup and status -------------------------------------------------------------

    @app_commands.command(name="setup", description="Set up CohortBot for this course server")
    async def setup_command(
        self,
        interaction: discord.Interaction[CohortBot],
        student_role: discord.Role | None = None,
        instructor_role: discord.Role | None = None,
        lead_role: discord.Role | None = None,
        introductions: discord.TextChannel | None = None,
        discussion: discord.TextChannel | discord.ForumChannel | None = None,
        coffee_shop: discord.TextChannel | None = None,
        leads: discord.TextChannel | None = None,
        timezone: app_commands.Transform[str, TimezoneTransformer] | None = None,
        create_missing: bool = False,
    ) -> None:
        """
        Args:
            student_role: The role every student has (defines the first cohort)
            instructor_role: Role of instructors (may use /course)
            lead_role: Role of cohort leads / TAs (get the weekly digest)
            introductions: Where students introduce themselves
            discussion: Where the weekly discussion prompts go (text or forum channel)
            coffee_shop: The social channel: celebrations, support, circles
            leads: Private staff channel for the weekly digest
            timezone: The course's time zone, e.g. America/New_York
            create_missing: Create the roles and channels that are not set yet
        """
        guild = member_of(interaction).guild
        await interaction.response.defer(ephemeral=True, thinking=True)
        current = await self.app.guild_settings.config(guild.id) or GuildConfig(guild_id=guild.id)
        cohorts = await self.app.guild_settings.cohorts(guild.id)
        primary = cohorts[0] if cohorts else None
        for role in (student_role, instructor_role, lead_role):
            if role is not None and (role.is_default() or role.managed):
                raise UserFacingError(
                    f"@{role.name} can't be used: pick a normal role, not @everyone or a "
                    "bot's own role. Nothing was changed."
                )

        notes: list[str] = []
        chosen: dict[str, int | None] = {
            "student": student_role.id if student_role else None,
            "instructor": instructor_role.id if instructor_role else None,
            "lead": lead_role.id if lead_role else None,
            "introductions": introductions.id if introductions else None,
            "discussion": discussion.id if discussion else None,
            "coffee shop": coffee_shop.id if coffee_shop else None,
            "leads": leads.id if leads else None,
        }
        existing: dict[str, int | None] = {
            "student": primary.student_role_id if primary else None,
            "instructor": current.instructor_role_id,
            "lead": primary.lead_role_id if primary else None,
            "introductions": current.intro_channel_id,
            "discussion": current.discussion_channel_id,
            "coffee shop": current.coffee_channel_id,
            "leads": current.leads_channel_id,
        }
        if create_missing:
            # Validate the cheap things before creating anything on Discord.
            if timezone is None and not is_valid_timezone(current.timezone):
                raise UserFacingError("Pick a course time zone. Nothing was changed.")
            await self._create_missing(guild, chosen, existing, notes)

        request = SetupRequest(
            student_role_id=chosen["student"],
            instructor_role_id=chosen["instructor"],
            lead_role_id=chosen["lead"],
            intro_channel_id=chosen["introductions"],
            discussion_channel_id=chosen["discussion"],
            coffee_channel_id=chosen["coffee shop"],
            leads_channel_id=chosen["leads"],
            timezone=timezone,
        )
        await self.app.services.get(SetupService).apply(guild.id, request)
        log.info("Guild %s configured by %s", guild.id, interaction.user.id)
        await self._send_checklist(interaction, guild, heading="Setup saved.", notes=notes)

    async def _create_missing(
        self,
        guild: discord.Guild,
        chosen: dict[str, int | None],
        existing: dict[str, int | None],
        notes: list[str],
    ) -> None:
        def missing(slot: str, exists: Any) -> bool:
            return chosen[slot] is None and (
                existing[slot] is None or exists(existing[slot]) is None
            )

        for slot in ("student", "instructor", "lead"):
            if not missing(slot, guild.get_role):
                continue
            found = discord.utils.get(guild.roles, name=DEFAULT_NAMES[slot])
            if found is not None and not found.managed and not found.is_default():
                chosen[slot] = found.id
                continue
            try:
                created = await guild.create_role(
                    name=DEFAULT_NAMES[slot], reason="CohortBot setup (create_missing)"
                )
            except discord.Forbidden:
                notes.append(f"I couldn't create the {slot} role: I need Manage Roles.")
                continue
            chosen[slot] = created.id
            notes.append(f"Created role @{created.name}.")

        staff_role_ids = [
            rid
            for rid in (
                chosen["instructor"] or existing["instructor"],
                chosen["lead"] or existing["lead"],
            )
            if rid
        ]
        for slot in ("introductions", "discussion", "coffee shop", "leads"):
            if not missing(slot, guild.get_channel):
                continue
            overwrites: dict[discord.Role | discord.Member, discord.PermissionOverwrite] = {}
            if slot == "leads":
                # The digest names students: only staff and the bot may read it.
                overwrites[guild.default_role] = discord.PermissionOverwrite(view_channel=False)
                for role_id in staff_role_ids:
                    role = guild.get_role(role_id)
                    if role is not None:
                        overwrites[role] = discord.PermissionOverwrite(view_channel=True)
                overwrites[guild.me] = discord.PermissionOverwrite(
                    view_channel=True,
                    send_messages=True,
                    embed_links=True,
                    attach_files=True,
                    read_message_history=True,
                )
            try:
                channel = await guild.create_text_channel(
                    DEFAULT_NAMES[slot],
                    overwrites=overwrites,  # type: ignore[arg-type]
                    reason="CohortBot setup (create_missing)",
                )
            except discord.Forbidden:
                notes.append(f"I couldn't create the {slot} channel: I need Manage Channels.")
                continue
            chosen[slot] = channel.id
            notes.append(f"Created channel #{channel.name}.")

    async def _send_checklist(
        self,
        interaction: discord.Interaction[CohortBot],
        guild: discord.Guild,
        *,
        heading: str,
        notes: list[str] | None = None,
    ) -> None:
        config = await self.app.guild_settings.config(guild.id)
        if config is None:
            await reply(
                interaction,
                "This server isn't set up yet. Run /course setup (add create_missing:True to "
                "create the channels and roles for you).",
            )
            return
        cohorts = await self.app.guild_settings.cohorts(guild.id)
        primary = cohorts[0] if cohorts else None
        items = build_checklist(
            snapshot_guild(
                guild,
                config,
                [c.name for c in cohorts],
                primary.student_role_id if primary else None,
                primary.lead_role_id if primary else None,
                [c.student_role_id for c in cohorts],
            )
        )
        summary = (
            "Everything is ready."
            if all_ok(items)
            else "Some items need attention (marked ❌ Needs attention)."
        )
        # Sending state (outbox, paused guild, DMs closed) from the nudge engine, if loaded.
        sending = await self.app.services.get(NudgeEngine).status_lines(guild.id)
        for provider in self.app.services.get(SetupService).status_providers:
            sending.extend(await provider(guild))  # e.g. the roster's link rate per cohort
        description = "\n".join([*(notes or []), render_checklist(items), *sending])
        embed = discord.Embed(
            title=f"CohortBot checklist — {shorten(guild.name, 200)}",
            description=shorten(description, 4096),
            colour=discord.Colour.green() if all_ok(items) else discord.Colour.orange(),
        )
        await reply(interaction, f"{heading} {summary}", embed=embed)

    @app_commands.command(name="status", description="Show the setup checklist")
    async def status_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        await self._send_checklist(interaction, guild, heading="Status.")

    # ----- cohorts ------------------------------------------------------------------------

    @cohort.command(name="add", description="Add a cohort (section) defined by a role")
    async def cohort_add(
        self,
        interaction: discord.Interaction[CohortBot],
        name: app_commands.Range[str, 1, 50],
        role: discord.Role,
        lead_role: discord.Role | None = None,
    ) -> None:
        """
        Args:
            name: A short name, e.g. Section B
            role: The cohort's student role
            lead_role: The cohort's leads / TAs
        """
        guild = member_of(interaction).guild
        await self.app.guild_settings.require_config(guild.id, guild.name)
        if role.is_default() or role.managed:
            raise UserFacingError("Pick a normal role, not @everyone or a bot's own role.")
        cohort = await self.app.services.get(SetupService).add_cohort(
            guild.id, name, role.id, lead_role.id if lead_role else None
        )
        leads = f", leads @{lead_role.name}" if lead_role else ""
        await reply(interaction, f"Added cohort **{cohort.name}** (students @{role.name}{leads}).")

    @cohort.command(name="list", description="List this server's cohorts")
    async def cohort_list(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        await self.app.guild_settings.require_config(guild.id, guild.name)
        cohorts = await self.app.guild_settings.cohorts(guild.id)
        if not cohorts:
            await reply(interaction, "No cohorts yet: run /course setup with a student role.")
            return
        lines = []
        for c in cohorts:
            role = guild.get_role(c.student_role_id)
            lead = guild.get_role(c.lead_role_id) if c.lead_role_id else None
            # The roster's count: staff and bots with the role are not students.
            students = len(await self.app.roster.students(guild, c))
            lines.append(
                f"**{c.name}** — students @{role.name if role else 'deleted role'} "
                f"({students} student{'s' if students != 1 else ''}), "
                f"leads {('@' + lead.name) if lead else 'not set'}"
            )
        await reply_lines(interaction, lines)

    @cohort.command(name="remove", description="Remove a cohort (its students' data stays)")
    @cohort_option()
    async def cohort_remove(self, interaction: discord.Interaction[CohortBot], cohort: str) -> None:
        guild, found = await chosen_cohort(interaction, cohort)
        await self.app.services.get(SetupService).remove_cohort(guild.id, found)
        await self.app.scheduler.rebuild()  # its schedules were deleted with it
        await reply(
            interaction, f"Removed cohort **{found.name}** and stopped its scheduled posts."
        )

    # ----- texts --------------------------------------------------------------------------

    async def _key_autocomplete(
        self, interaction: discord.Interaction[CohortBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=key, value=key)
            for key in sorted(self.app.templates.specs)
            if current.casefold() in key.casefold()
        ][:25]

    def _spec_or_error(self, key: str) -> Any:
        if key not in self.app.templates.specs:
            raise UserFacingError(
                f"There is no text called {quote_input(key)}. See /course text list."
            )
        return self.app.templates.spec(key)

    @text.command(name="list", description="List the texts students see, and which you edited")
    async def text_list(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        overrides = await self.app.template_overrides.overrides(guild.id)
        lines = []
        for key, spec in sorted(self.app.templates.specs.items()):
            state = "edited" if key in overrides else "default"
            lines.append(f"**{key}** ({state}) — {spec.description}")
        # Every text is listed: long lists continue in further private messages.
        await reply_lines(interaction, lines)

    @text.command(name="edit", description="Edit one of the texts students see")
    async def text_edit(self, interaction: discord.Interaction[CohortBot], key: str) -> None:
        guild = member_of(interaction).guild
        self._spec_or_error(key)
        current = await self.app.templates.body(guild.id, key)
        await interaction.response.send_modal(TemplateEditModal(self, key, current))

    async def save_template(
        self, interaction: discord.Interaction[Any], key: str, body: str
    ) -> None:
        member = member_of(interaction)
        await require_instructor(interaction)  # the modal is a new interaction: check again
        spec = self._spec_or_error(key)
        try:
            cleaned = validate_template(spec, body)
        except TextError as error:
            raise UserFacingError(f"{error} Your text was not saved.") from error
        await self.app.template_overrides.set(
            member.guild.id, key, cleaned, updated_by=member.id, now=self.app.clock.now()
        )
        await reply(interaction, f"Saved **{key}**. Preview:\n\n{render(cleaned, SAMPLE_VALUES)}")

    @text.command(name="preview", description="Preview a text with sample values")
    async def text_preview(self, interaction: discord.Interaction[CohortBot], key: str) -> None:
        guild = member_of(interaction).guild
        self._spec_or_error(key)
        body = await self.app.templates.body(guild.id, key)
        await reply(interaction, shorten(render(body, SAMPLE_VALUES), 2000))

    @text.command(name="reset", description="Go back to the default text")
    async def text_reset(self, interaction: discord.Interaction[CohortBot], key: str) -> None:
        guild = member_of(interaction).guild
        self._spec_or_error(key)
        removed = await self.app.template_overrides.reset(guild.id, key)
        await reply(
            interaction,
            f"**{key}** is back to the default text." if removed else f"**{key}** was not edited.",
        )

    text_edit.autocomplete("key")(_key_autocomplete)
    text_preview.autocomplete("key")(_key_autocomplete)
    text_reset.autocomplete("key")(_key_autocomplete)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(CourseCog(bot))
