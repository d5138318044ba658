"""The weekly digest: /digest now|export|follow-up|dm (leads and instructors), /course digest …,
the persistent follow-up buttons (I'll reach out, Contacted, Excused, Clear), and the scheduled
run.

Thin adapter: the numbers and rules live in cogs/digest/rules.py, the use cases in
cogs/digest/service.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import discord
from discord import app_commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, answer_saved_schedule, chosen_cohort
from bot.commands import (
    DAY_CHOICES,
    InstructorGroup,
    TimeOfDay,
    caller_is_staff,
    cohort_option,
    member_of,
    require_cohort_staff,
)
from bot.errors import StaffOnlyError, UserFacingError
from bot.schedule_math import WEEKDAY_NAMES
from bot.store.guilds import Cohort
from bot.text import discord_time
from bot.ui import CohortButton, reply
from cogs.course import TermService
from cogs.digest.rules import (
    FOLLOW_UP_CARRY_DAYS,
    FOLLOW_UP_LABELS,
    DigestSettings,
    FollowUp,
    FollowUpState,
)
from cogs.digest.service import DIGEST_KIND, VIEW_KEY, DigestService, parse_follow_up_args

log = logging.getLogger("cogs.digest.cog")

WEEKDAYS = WEEKDAY_NAMES
FOLLOW_UP_TEMPLATE: Final = (
    r"cohortbot:digest:(?P<action>reach|contacted|excused|clear):"
    r"(?P<cohort_id>[0-9]{1,19}):(?P<user_id>[0-9]{1,19})"
)
#: action -> (state, label, style); "clear" (state None) forgets the follow-up.
ACTIONS: Final[dict[str, tuple[FollowUpState | None, str, discord.ButtonStyle]]] = {
    "reach": ("reaching_out", "I'll reach out", discord.ButtonStyle.primary),
    "contacted": ("contacted", "Contacted", discord.ButtonStyle.success),
    "excused": ("excused", "Excused", discord.ButtonStyle.secondary),
    "clear": (None, "Clear", discord.ButtonStyle.secondary),
}
STAFF_ONLY = "Only cohort leads and instructors can use the digest."
NOT_YOUR_COHORT = "Only {cohort}'s leads and the instructors can use its digest."


async def require_staff(interaction: discord.Interaction[CohortBot]) -> discord.Member:
    """Leads and instructors only, checked at run time (defaults can be changed by admins)."""
    member = member_of(interaction)
    if not await caller_is_staff(interaction):
        raise StaffOnlyError(STAFF_ONLY)
    return member


# ---------------------------------------------------------------------- buttons


class FollowUpButton(CohortButton, template=FOLLOW_UP_TEMPLATE):
    """One follow-up action on one needs-attention row. The custom_id is only a lookup key:
    the cohort and the student are checked against the database, the clicker's roles too."""

    where = "button digest follow-up"

    def __init__(self, action: str, cohort_id: int, user_id: int, position: int = 0) -> None:
        self.action = action
        self.cohort_id = cohort_id
        self.user_id = user_id
        _, label, style = ACTIONS[action]
        super().__init__(
            label=f"{position}. {label}" if position else label,
            style=style,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await follow_up_clicked(interaction, self.action, self.cohort_id, self.user_id)


def follow_up_view(cohort_id: int, rows: Sequence[tuple[int, int]]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for line, (position, user_id) in enumerate(rows):
        for action in ACTIONS:
            button = FollowUpButton(action, cohort_id, user_id, position)
            button.item.row = line
            view.add_item(button)
    return view


def follow_up_view_from_args(args: tuple[str, ...]) -> discord.ui.View:
    """The outbox's factory for ``digest:follow-up`` rows (see ``follow_up_args``)."""
    cohort_id, rows = parse_follow_up_args(args)
    return follow_up_view(cohort_id, rows)


def _updated_embeds(
    message: discord.Message | None, user_id: int, follow_line: str
) -> list[discord.Embed] | None:
    """The message's embeds with this student's "Follow-up:" line replaced."""
    if message is None or not message.embeds:
        return None
    marker = f"<@{user_id}>"
    changed = False
    embeds = []
    for embed in message.embeds:
        copy = embed.copy()
        for index, fld in enumerate(copy.fields):
            value = fld.value or ""
            if not value.startswith(marker):
                continue
            lines = [
                f"Follow-up: {follow_line}" if line.startswith("Follow-up:") else line
                for line in value.split("\n")
            ]
            copy.set_field_at(index, name=fld.name or "—", value="\n".join(lines)[:1024])
            changed = True
        embeds.append(copy)
    return embeds if changed else None


async def apply_follow_up(
    interaction: discord.Interaction[CohortBot],
    lead: discord.Member,
    cohort_id: int,
    user_id: int,
    action: str,
) -> tuple[str, str]:
    """Record (or clear) a follow-up; returns (the row's new "Follow-up:" text, the answer
    to the lead). The ids are checked by the service (they may come from a custom_id)."""
    app = interaction.client.app
    guild = lead.guild
    student = guild.get_member(user_id)
    name = student.display_name if student else "that student"
    state = ACTIONS[action][0]
    if state is None:
        cleared = await app.services.get(DigestService).clear_follow_up(guild, cohort_id, user_id)
        stamp = f"{discord_time(app.clock.now(), 'R')}"
        line = f"nobody yet (cleared by {lead.display_name} {stamp})"
        if cleared is None:
            return line, f"Nothing was recorded for {name}; nothing to clear."
        return line, f"Cleared: nobody is marked as following up with {name} now."
    record = await app.services.get(DigestService).set_follow_up(
        guild, cohort_id, user_id, state, lead.id
    )
    follow = FollowUp(record.state, lead.id, lead.display_name, record.updated_at)
    text = {
        "reaching_out": f"Noted: you're reaching out to {name}. The other leads see it.",
        "contacted": f"Noted: {name} was contacted by you.",
        "excused": f"Noted: {name} is excused (by you).",
    }[state]
    days = FOLLOW_UP_CARRY_DAYS[state]
    return follow.line(), f"{text} It shows in the digests of the next {days} days."


async def follow_up_clicked(
    interaction: discord.Interaction[CohortBot], action: str, cohort_id: int, user_id: int
) -> None:
    member = member_of(interaction)
    if not await caller_is_staff(interaction):
        raise StaffOnlyError("Only cohort leads and instructors can take a follow-up.")
    # The cohort comes from the custom_id: reload it, and check the clicker leads it.
    cohorts = await interaction.client.app.guild_settings.cohorts(member.guild.id)
    cohort = next((c for c in cohorts if c.cohort_id == cohort_id), None)
    if cohort is None:
        raise UserFacingError("That digest belongs to a cohort that no longer exists.")
    await require_cohort_staff(
        interaction, cohort, "Only this cohort's leads and the instructors can take a follow-up."
    )
    line, text = await apply_follow_up(interaction, member, cohort_id, user_id, action)
    embeds = _updated_embeds(interaction.message, user_id, line)
    if embeds is not None:
        await interaction.response.edit_message(embeds=embeds)
    await reply(interaction, text)


# ---------------------------------------------------------------------- /course digest


class CourseDigestGroup(
    InstructorGroup, name="digest", description="The weekly digest for cohort leads"
):
    """/course digest …: when the weekly digest goes out and its thresholds."""

    @app_commands.command(name="schedule", description="When a cohort's weekly digest goes out")
    @app_commands.choices(day=DAY_CHOICES)
    @cohort_option("Which cohort (optional when there is one)")
    async def schedule_command(
        self,
        interaction: discord.Interaction[CohortBot],
        day: app_commands.Choice[int],
        time: TimeOfDay,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            day: Day of the week
            time: Time in the course time zone, HH:MM
        """
        guild, chosen = await chosen_cohort(interaction, cohort)
        schedule = await interaction.client.app.services.get(DigestService).set_schedule(
            guild.id, chosen, day.value, time
        )
        await answer_saved_schedule(
            interaction,
            schedule,
            f"The digest for {chosen.name} goes to the leads channel",
            note=", not in break weeks",
        )

    @app_commands.command(name="settings", description="Needs-attention thresholds")
    @cohort_option("Which cohort (optional when there is one)")
    async def settings_command(
        self,
        interaction: discord.Interaction[CohortBot],
        drift_days: app_commands.Range[int, 1, 90] | None = None,
        intro_days: app_commands.Range[int, 0, 90] | None = None,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            drift_days: Days without activity before a student is listed as drifting (1–90)
            intro_days: Days after joining before 'never introduced' is listed (0–90)
        """
        guild, chosen = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        current = await app.services.get(DigestService).repository.settings(
            guild.id, chosen.cohort_id
        )
        updated = DigestSettings(
            drift_days=drift_days if drift_days is not None else current.drift_days,
            intro_grace_days=intro_days if intro_days is not None else current.intro_grace_days,
        )
        await app.services.get(DigestService).save_settings(guild.id, chosen, updated)
        await reply(
            interaction,
            f"{chosen.name}: a student is listed as drifting after {updated.drift_days} days "
            f"without activity, and as never introduced {updated.intro_grace_days} days after "
            "joining.",
        )


# ---------------------------------------------------------------------- the cog


class DigestCog(FeatureCog):
    digest = app_commands.Group(
        name="digest",
        description="The weekly digest (cohort leads and instructors)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    buttons = (FollowUpButton,)
    outbox_views = ((VIEW_KEY, follow_up_view_from_args),)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = CourseDigestGroup()

    async def cog_load(self) -> None:
        await super().cog_load()
        self.app.services.get(DigestService).attach(self.bot, follow_up_view, self.app.outbox)
        self.app.scheduler.register_kind(
            DIGEST_KIND, self.app.services.get(DigestService).run_scheduled
        )
        self.app.services.get(TermService).register_step("digest", self.final_digest)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        self.app.services.get(DigestService).attach(None, None)

    async def final_digest(self, guild: discord.Guild, cohort: Cohort, now: datetime) -> str:
        return await self.app.services.get(DigestService).send_final(guild, cohort)

    @digest.command(name="now", description="Post the digest in the leads channel now")
    @cohort_option("Which cohort (optional when there is one)")
    async def now_command(
        self, interaction: discord.Interaction[CohortBot], cohort: str | None = None
    ) -> None:
        guild = (await require_staff(interaction)).guild
        chosen = await self.app.guild_settings.resolve_cohort(guild.id, cohort)
        await require_cohort_staff(interaction, chosen, NOT_YOUR_COHORT.format(cohort=chosen.name))
        await interaction.response.defer(ephemeral=True, thinking=True)
        delivery = await self.app.services.get(DigestService).send_now(guild, chosen)
        if delivery.jump_url is None:
            await reply(
                interaction,
                f"The digest for {chosen.name} is queued for the leads channel; it goes out as "
                "soon as Discord lets me (see /course status).",
            )
            return
        await reply(interaction, f"Posted the digest for {chosen.name}: {delivery.jump_url}")

    @digest.command(name="export", description="The per-student table as a CSV file")
    @cohort_option("Which cohort (optional when there is one)")
    async def export_command(
        self,
        interaction: discord.Interaction[CohortBot],
        cohort: str | None = None,
        weeks: app_commands.Range[int, 1, 12] = 1,
    ) -> None:
        """
        Args:
            weeks: How many weeks, one table per week (1–12, default 1)
        """
        guild = (await require_staff(interaction)).guild
        chosen = await self.app.guild_settings.resolve_cohort(guild.id, cohort)
        await require_cohort_staff(interaction, chosen, NOT_YOUR_COHORT.format(cohort=chosen.name))
        await interaction.response.defer(ephemeral=True, thinking=True)
        name, data = await self.app.services.get(DigestService).export(guild, chosen, weeks)
        await reply(
            interaction,
            f"The per-student table for {chosen.name} ({weeks} week{'s' if weeks != 1 else ''}). "
            "Based on Discord activity only; please keep it within the course team.",
            files=[discord.File(io.BytesIO(data), filename=name)],
        )

    @digest.command(
        name="follow-up", description="Mark who is following up with a student on the digest"
    )
    @app_commands.choices(
        state=[
            app_commands.Choice(name=label, value=action)
            for action, (_, label, _) in ACTIONS.items()
        ]
    )
    @cohort_option("Which cohort (optional: the student's own)")
    async def follow_up_command(
        self,
        interaction: discord.Interaction[CohortBot],
        student: discord.Member,
        state: app_commands.Choice[str],
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            student: The student (anyone on the list, with or without buttons)
            state: I'll reach out, Contacted, Excused, or Clear (forget it)
        """
        lead = await require_staff(interaction)
        guild = lead.guild
        chosen = await self.app.services.get(DigestService).follow_up_cohort_of(
            guild, student, cohort
        )
        await require_cohort_staff(interaction, chosen, NOT_YOUR_COHORT.format(cohort=chosen.name))
        _, text = await apply_follow_up(
            interaction, lead, chosen.cohort_id, student.id, state.value
        )
        await reply(interaction, text)
        # The posted digest's rows don't change: tell the other leads where they look.
        follow_state = ACTIONS[state.value][0]
        what = "follow-up cleared" if follow_state is None else FOLLOW_UP_LABELS[follow_state]
        await self._note(
            guild,
            f"📝 {student.display_name} ({student.mention}, {chosen.name}): "
            + what.format(lead=lead.display_name)
            + " — via /digest follow-up",
        )

    async def _note(self, guild: discord.Guild, text: str) -> None:
        channel = await self.app.services.get(DigestService).leads_channel(guild)
        if channel is None:
            return
        try:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning("Follow-up note not posted in guild %s: %s", guild.id, error)

    @digest.command(name="dm", description="Also get the weekly digest by direct message")
    @app_commands.choices(
        state=[
            app_commands.Choice(name="on", value="on"),
            app_commands.Choice(name="off", value="off"),
        ]
    )
    async def dm_command(
        self, interaction: discord.Interaction[CohortBot], state: app_commands.Choice[str]
    ) -> None:
        """
        Args:
            state: on or off
        """
        member = await require_staff(interaction)
        enabled = state.value == "on"
        await self.app.services.get(DigestService).set_dm(member.guild.id, member.id, enabled)
        await reply(
            interaction,
            "You'll also get each digest of your cohorts by DM (without the buttons: act on "
            "it in the leads channel). Turn it off with /digest dm off."
            if enabled
            else "You won't get the digest by DM any more; it stays in the leads channel.",
        )


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(DigestCog(bot))
