"""The roster: /course roster import|codes|link|unlink|export for instructors, /join and the
"Join with a code" button for students. Thin: the use cases live in service.py."""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, persistent_view
from bot.commands import (
    InstructorGroup,
    cohort_option,
    member_of,
    require_instructor,
    role_ids,
)
from bot.errors import UserFacingError
from bot.roles import is_instructor
from bot.store.guilds import Cohort
from bot.text import chunk_lines, quote_input
from bot.ui import CohortButton, CohortModal, reply
from cogs.course import SetupService, TermService
from cogs.introductions import IntroService
from cogs.roster import texts
from cogs.roster.csv_formats import MAX_FILE_BYTES
from cogs.roster.export import ParticipationExport
from cogs.roster.repository import Student
from cogs.roster.service import HASH_IN_ID, RosterService


class ApplyImportButton(
    CohortButton,
    template=r"cohortbot:roster:apply:(?P<import_id>[0-9]+):(?P<digest>[0-9a-f]{16})",
):
    """Apply under an import preview: names the held diff and its hash, so Apply stores what
    was shown; a forged, stale or repeated click stores nothing."""

    where = "button roster:apply"

    def __init__(self, import_id: int, digest: str) -> None:
        self.import_id = import_id
        self.digest = digest
        super().__init__(
            f"cohortbot:roster:apply:{import_id}:{digest[:HASH_IN_ID]}",
            label="Apply",
            style=discord.ButtonStyle.success,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await require_instructor(interaction)
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = interaction.client.app.services.get(RosterService)
        diff = await service.apply(member.guild.id, self.import_id, self.digest)
        await reply(
            interaction,
            f"✅ Roster updated: {len(diff.new)} new, {len(diff.changed)} changed, "
            f"{len(diff.withdrawn)} marked withdrawn. Next: /course roster codes gives you "
            "each student's join code.",
        )


class JoinModal(CohortModal):
    def __init__(self) -> None:
        super().__init__(title="Join with a code", custom_id="cohortbot:roster:join:form")
        self.code: discord.ui.TextInput[JoinModal] = discord.ui.TextInput(
            label="Your join code",
            custom_id="cohortbot:roster:join:code",
            max_length=40,
            placeholder="e.g. ACDE-FGHJ-KMNP (from your instructor's email)",
        )
        self.add_item(self.code)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await join_with(interaction, self.code.value)


class JoinCodeButton(CohortButton, template=r"cohortbot:roster:join"):
    """ "Join with a code" under a welcome: opens the one-field form for the presser."""

    where = "button roster:join"

    def __init__(self) -> None:
        super().__init__(label="Join with a code", style=discord.ButtonStyle.secondary, emoji="🔑")

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        member_of(interaction)
        await interaction.response.send_modal(JoinModal())


async def join_with(interaction: discord.Interaction[Any], typed: str) -> None:
    member = member_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    student, cohort = await interaction.client.app.services.get(RosterService).join(member, typed)
    where = f" for {cohort.name}" if cohort is not None else ""
    await reply(interaction, texts.JOINED.format(name=student.name, cohort=where))


async def student_autocomplete(
    interaction: discord.Interaction[CohortBot], current: str
) -> list[app_commands.Choice[str]]:
    """Roster names, for instructors only (a student never sees the roster)."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        return []
    config = await interaction.client.app.guild_settings.config(interaction.guild_id)
    manage = member.guild_permissions.manage_guild
    if not is_instructor(role_ids=role_ids(member), manage_guild=manage, config=config):
        return []  # leads and students alike
    found = await interaction.client.app.services.get(RosterService).search(
        interaction.guild_id, current.strip()
    )
    return [app_commands.Choice(name=_label(s)[:100], value=str(s.entry_id)) for s in found[:25]]


def _label(student: Student) -> str:
    linked = "linked" if student.user_id is not None else "not linked"
    withdrawn = ", withdrawn" if student.status != "enrolled" else ""
    return f"{student.name} ({linked}{withdrawn})"


def _entry_id(value: str) -> int:
    if not value.isdigit():
        raise UserFacingError("Pick a student from the list (start typing their name).")
    return int(value)


class RosterCourseGroup(
    InstructorGroup, name="roster", description="The course roster from the LMS"
):
    def __init__(self, cog: RosterCog) -> None:
        super().__init__()
        self.cog = cog

    @property
    def service(self) -> RosterService:
        return self.cog.app.services.get(RosterService)

    async def _cohort(self, guild: discord.Guild, name: str | None) -> Cohort | None:
        await self.cog.app.guild_settings.require_config(guild.id, guild.name)
        if name is None:
            return None
        return await self.cog.app.guild_settings.resolve_cohort(guild.id, name)

    @app_commands.command(name="import", description="Import the roster from an LMS CSV export")
    async def import_file(
        self, interaction: discord.Interaction[Any], file: discord.Attachment
    ) -> None:
        """
        Args:
            file: Canvas gradebook, Moodle participants, or data/roster_template.csv
        """
        guild = member_of(interaction).guild
        await self._cohort(guild, None)
        if file.size > MAX_FILE_BYTES:
            raise UserFacingError(
                f"{quote_input(file.filename)} is {file.size // 1024} KB; the limit is "
                f"{MAX_FILE_BYTES // 1024} KB. Nothing was imported."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await self.service.preview(guild.id, await file.read())
        chunks = chunk_lines(preview.lines)
        view = None
        if preview.import_id is not None:
            view = persistent_view(ApplyImportButton(preview.import_id, preview.diff_hash))
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            await reply(interaction, chunk, view=view if last else None)

    @app_commands.command(name="codes", description="Join codes for students not linked yet")
    @cohort_option()
    async def codes(self, interaction: discord.Interaction[Any], cohort: str | None = None) -> None:
        guild = member_of(interaction).guild
        found = await self._cohort(guild, cohort)
        await interaction.response.defer(ephemeral=True, thinking=True)
        count, data = await self.service.issue_codes(guild.id, found)
        await reply(
            interaction,
            texts.CODES_NOTE.format(count=count),
            files=[discord.File(io.BytesIO(data), filename="join-codes.csv")],
        )

    @app_commands.command(name="link", description="Link a member to a roster student by hand")
    @app_commands.autocomplete(student=student_autocomplete)
    async def link(
        self, interaction: discord.Interaction[Any], member: discord.Member, student: str
    ) -> None:
        await self._cohort(member_of(interaction).guild, None)
        if member.bot:
            raise UserFacingError("Bots can't be linked to the roster.")
        linked, cohort = await self.service.link(member, _entry_id(student))
        role = f" and given {cohort.name}'s role" if cohort is not None else ""
        await reply(interaction, f"✅ {member.mention} is now linked to {linked.name}{role}.")

    @app_commands.command(name="unlink", description="Undo a roster link")
    @app_commands.autocomplete(student=student_autocomplete)
    async def unlink(self, interaction: discord.Interaction[Any], student: str) -> None:
        guild = member_of(interaction).guild
        await self._cohort(guild, None)
        entry, user_id = await self.service.unlink(guild.id, _entry_id(student))
        if user_id is None:
            await reply(interaction, f"{entry.name} was not linked; nothing was changed.")
            return
        await reply(
            interaction,
            f"✅ {entry.name} is no longer linked to <@{user_id}> (roles are unchanged).",
        )

    @app_commands.command(name="export", description="Participation counts per week (CSV)")
    @cohort_option()
    async def export(
        self, interaction: discord.Interaction[Any], cohort: str | None = None
    ) -> None:
        guild = member_of(interaction).guild
        await self._cohort(guild, None)
        found = await self.cog.app.guild_settings.resolve_cohort(guild.id, cohort)
        await interaction.response.defer(ephemeral=True, thinking=True)
        students = [
            s
            for s in await self.service.repository.students(guild.id)
            if s.cohort_id == found.cohort_id
        ]
        if not students:
            raise UserFacingError(f"No roster students in {found.name}. " + texts.NO_ROSTER)
        data = await self.cog.app.services.get(ParticipationExport).csv(
            guild.id, found, students, self.cog.app.clock.now()
        )
        await reply(
            interaction,
            f"Participation of {len(students)} roster student(s) in {found.name}, per course "
            "week: counts only, keyed by LMS id.",
            files=[discord.File(io.BytesIO(data), filename=f"participation-{found.cohort_id}.csv")],
        )


class RosterCog(FeatureCog):
    buttons = (ApplyImportButton, JoinCodeButton)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = RosterCourseGroup(self)

    async def cog_load(self) -> None:
        await super().cog_load()
        service = self.app.services.get(RosterService)
        self.app.services.get(TermService).register_step("roster", service.term_closed)
        self.app.services.get(IntroService).welcome_extras.append(self.welcome_items)
        self.app.services.get(SetupService).status_providers.append(self.status_lines)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        extras = self.app.services.get(IntroService).welcome_extras
        if self.welcome_items in extras:
            extras.remove(self.welcome_items)
        providers = self.app.services.get(SetupService).status_providers
        if self.status_lines in providers:
            providers.remove(self.status_lines)

    async def welcome_items(self, member: discord.Member) -> list[discord.ui.Item[Any]]:
        """The "Join with a code" button, on servers whose roster has codes to use."""
        if await self.app.services.get(RosterService).has_unlinked(member.guild.id):
            return [JoinCodeButton()]
        return []

    async def status_lines(self, guild: discord.Guild) -> list[str]:
        rates = await self.app.services.get(RosterService).link_rates(guild.id)
        if not rates:
            return []
        names = {c.cohort_id: c.name for c in await self.app.guild_settings.cohorts(guild.id)}
        lines = ["**Roster links** (enrolled students linked to an account):"]
        for cohort_id, (linked, total) in sorted(
            rates.items(), key=lambda item: names.get(item[0] or 0, "~")
        ):
            name = names.get(cohort_id or 0, "no cohort")
            lines.append(f"{name}: {linked} of {total} ({round(100 * linked / total)}%)")
        return lines

    @app_commands.command(
        name="join", description="Link your account with the code from your course"
    )
    @app_commands.guild_only()
    async def join(
        self, interaction: discord.Interaction[Any], code: app_commands.Range[str, 1, 40]
    ) -> None:
        """
        Args:
            code: The join code from your instructor (spaces are fine)
        """
        await join_with(interaction, code)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(RosterCog(bot))
