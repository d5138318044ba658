"""Introductions: the welcome on join, /intro write|show, plain-message intros, welcomes,
deleted posts, and /course intro list|settings. Thin: the use cases live in
cogs/introductions/service.py."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, persistent_view, reply_lines
from bot.commands import InstructorGroup, member_of
from bot.errors import UserFacingError
from bot.store.guilds import GuildConfig
from bot.text import discord_time
from bot.ui import CohortButton, CohortModal, reply
from cogs.coffee_shop import MilestoneService
from cogs.introductions.repository import Intro, IntroSettings, ReminderKind
from cogs.introductions.service import (
    INTRO_QUESTIONS,
    THANKS_EMOJI,
    IntroService,
    build_intro_embed,
)
from cogs.nudges import NUDGE_KIND_PREFIX, NudgeContext, NudgeEngine, NudgeKind
from cogs.nudges import NudgeCandidate as EngineCandidate


class IntroModal(CohortModal):
    """The intro form: five inputs, prefilled with the person's current answers."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__(title="Introduce yourself", custom_id="cohortbot:intro:form")
        self.inputs: dict[str, discord.ui.TextInput[IntroModal]] = {}
        for question in INTRO_QUESTIONS:
            text_input: discord.ui.TextInput[IntroModal] = discord.ui.TextInput(
                label=question.label,
                custom_id=question.field,
                style=(
                    discord.TextStyle.short
                    if question.max_length <= 100
                    else discord.TextStyle.paragraph
                ),
                placeholder=question.placeholder or None,
                default=answers.get(question.field),
                required=question.required,
                max_length=question.max_length,
            )
            self.inputs[question.field] = text_input
            self.add_item(text_input)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)  # always the submitter's own intro
        await interaction.response.defer(ephemeral=True, thinking=True)
        app = interaction.client.app
        result = await app.services.get(IntroService).publish(
            member, {field: text_input.value for field, text_input in self.inputs.items()}
        )
        text = await app.templates.render(
            member.guild.id, "intro_posted", link=result.intro.jump_url or ""
        )
        await reply(interaction, text)
        # Offered once, right after the intro: gentle reminders by DM are opt-in.
        offer = await app.services.get(NudgeEngine).offer_opt_in(member.guild.id, member.id)
        if offer is not None:
            await reply(
                interaction,
                await app.services.get(NudgeEngine).offer_text(member.guild.id),
                view=offer,
            )


async def open_intro_form(interaction: discord.Interaction[CohortBot]) -> None:
    member = member_of(interaction)
    app = interaction.client.app
    await app.services.get(IntroService).intro_channel(
        member.guild
    )  # a clear message before the form
    existing = await app.services.get(IntroService).get(member.guild.id, member.id)
    await interaction.response.send_modal(IntroModal(existing.answers if existing else {}))


class WriteIntroButton(CohortButton, template=r"cohortbot:intro:write:(?P<user_id>[0-9]+)"):
    """ "Write my introduction" under a welcome. Persistent (survives restarts). Anyone may
    press it — it always opens the presser's OWN intro form, never the greeted person's."""

    where = "button intro:write"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(
            label="Write my introduction",
            style=discord.ButtonStyle.primary,
            emoji="✍️",
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await open_intro_form(interaction)


def welcome_view(user_id: int) -> discord.ui.View:
    return persistent_view(WriteIntroButton(user_id))


def intro_embed_for(member: discord.Member | None, intro: Intro) -> discord.Embed | None:
    if member is None or intro.source != "modal" or "call_me" not in intro.answers:
        return None
    return build_intro_embed(member, intro.answers)


class CourseIntroGroup(
    InstructorGroup, name="intro", description="Introductions: who introduced, settings"
):
    """/course intro …: instructors see who introduced and set the intro options."""

    @app_commands.command(name="list", description="Who has and hasn't introduced, with dates")
    async def list_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        app = interaction.client.app
        await app.guild_settings.require_config(guild.id, guild.name)
        await interaction.response.defer(ephemeral=True, thinking=True)
        students = await app.roster.all_students(guild)
        introduced = await app.services.get(IntroService).introduced(guild.id)
        welcomed_by: dict[int, set[int]] = {}
        for welcome in await app.services.get(IntroService).welcomes(guild.id):
            welcomed_by.setdefault(welcome.newcomer_id, set()).add(welcome.welcomer_id)
        members = sorted(
            (m for m in (guild.get_member(uid) for uid in students) if m is not None),
            key=lambda m: (m.id not in introduced, m.display_name.casefold()),
        )
        lines = [
            f"**Introductions** — {len(set(students) & set(introduced))} of "
            f"{len(students)} students have introduced themselves."
        ]
        for member in members:
            when = introduced.get(member.id)
            if when is None:
                lines.append(f"▫️ {member.display_name} — not yet")
                continue
            count = len(welcomed_by.get(member.id, set()))
            welcomed = f"welcomed by {count}" if count else "no welcome yet"
            lines.append(f"✅ {member.display_name} — {discord_time(when, 'd')} · {welcomed}")
        await reply_lines(interaction, lines)

    @app_commands.command(name="settings", description="Introduced role and intro options")
    async def settings_command(
        self,
        interaction: discord.Interaction[CohortBot],
        introduced_role: discord.Role | None = None,
        remove_introduced_role: bool = False,
        min_length: app_commands.Range[int, 20, 1000] | None = None,
        nudge_after_days: app_commands.Range[int, 1, 14] | None = None,
    ) -> None:
        """
        Args:
            introduced_role: Given to students once their intro is posted (removed if deleted)
            remove_introduced_role: Stop giving an Introduced role
            min_length: Characters a plain message in the intro channel needs to count (20–1000)
            nudge_after_days: Days after joining before the 'introduce yourself' reminder (1–14)
        """
        guild = member_of(interaction).guild
        app = interaction.client.app
        await app.guild_settings.require_config(guild.id, guild.name)
        current = await app.services.get(IntroService).settings(guild.id)
        notes: list[str] = []
        role_id = current.introduced_role_id
        if introduced_role is not None:
            if introduced_role.is_default() or introduced_role.managed:
                raise UserFacingError(
                    "Pick a normal role, not @everyone or a bot's role. Nothing was changed."
                )
            cohort_roles = {c.student_role_id for c in await app.guild_settings.cohorts(guild.id)}
            if introduced_role.id in cohort_roles:
                raise UserFacingError(
                    "That is a cohort's student role; pick a separate role. Nothing was changed."
                )
            me = guild.me
            if not me.guild_permissions.manage_roles or introduced_role >= me.top_role:
                notes.append(
                    f"⚠️ I can't give @{introduced_role.name} yet: I need Manage Roles and my "
                    "role must be above it (Server Settings → Roles)."
                )
            role_id = introduced_role.id
        if remove_introduced_role:
            role_id = None
        updated = IntroSettings(
            guild.id,
            role_id,
            min_length if min_length is not None else current.min_message_length,
            nudge_after_days if nudge_after_days is not None else current.nudge_after_days,
        )
        await app.services.get(IntroService).save_settings(updated)
        role = guild.get_role(updated.introduced_role_id or 0)
        lines = [
            "Intro settings saved.",
            f"• Introduced role: {('@' + role.name) if role else 'none'}",
            f"• A plain message counts as an intro from {updated.min_message_length} characters",
            f"• 'Introduce yourself' reminder after {updated.nudge_after_days} day(s) "
            "(only to students who opted in to reminders)",
            *notes,
        ]
        await reply(interaction, "\n".join(lines))


class IntrosCog(FeatureCog):
    intro = app_commands.Group(
        name="intro", description="Introduce yourself to your classmates", guild_only=True
    )

    buttons = (WriteIntroButton,)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = CourseIntroGroup()
        self._message_filters = (self.filter_message,)

    async def cog_load(self) -> None:
        await super().cog_load()
        self._register_nudges()
        # Reaching "introduced" is a milestone (private note only if the student wants one).
        self.app.services.get(IntroService).on_introduced.append(self._intro_milestone)

    async def _intro_milestone(self, guild_id: int, user_id: int) -> None:
        await self.app.services.get(MilestoneService).reached(guild_id, user_id, "intro_posted")

    def _register_nudges(self) -> None:
        """The "introduce yourself" reminder and the private classmate suggestions go out
        through the nudge engine, which applies opt-in, away, caps and quiet hours."""
        intros = self.app.services.get(IntroService)

        async def introduce(ctx: NudgeContext) -> list[EngineCandidate]:
            sent = await self.app.services.get(IntroService).repository.reminders(
                ctx.guild.id, "introduce"
            )
            found = await intros.introduce_nudge_candidates(ctx.guild, ctx.cohort, ctx.now)
            return [
                EngineCandidate(
                    c.user_id,
                    c.reason,
                    dict(c.values),
                    dedupe_suffix=f"reminder-{len(sent.get(c.user_id, [])) + 1}",
                )
                for c in found
            ]

        async def suggestions(ctx: NudgeContext) -> list[EngineCandidate]:
            found = await intros.suggestion_candidates(ctx.guild, ctx.cohort, ctx.now)
            return [EngineCandidate(c.user_id, c.reason, dict(c.values)) for c in found]

        nudges = self.app.services.get(NudgeEngine)
        nudges.register_kind(
            NudgeKind(
                name="intro",
                description="A reminder to introduce yourself (at most two)",
                template_key="intro_nudge",
                eligible=introduce,
                days="daily",
            )
        )
        nudges.register_kind(
            NudgeKind(
                name="intro_suggestions",
                description="Classmates who share your circumstances, if nobody welcomed you",
                template_key="intro_suggestions",
                eligible=suggestions,
                days="daily",
            )
        )

        def recorder(kind: ReminderKind) -> Any:
            async def record(row: Any, message_id: int, channel_id: int) -> None:
                if row.user_id is not None:
                    await intros.record_nudge_sent(row.guild_id, row.user_id, kind)

            return record

        self.app.outbox.on_sent(NUDGE_KIND_PREFIX + "intro", recorder("introduce"))
        self.app.outbox.on_sent(NUDGE_KIND_PREFIX + "intro_suggestions", recorder("suggestions"))

    # ----- commands --------------------------------------------------------------------

    @intro.command(name="write", description="Write (or edit) your introduction")
    async def write_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        await open_intro_form(interaction)

    @intro.command(name="show", description="Show someone's introduction (only you see this)")
    async def show_command(
        self, interaction: discord.Interaction[CohortBot], member: discord.Member | None = None
    ) -> None:
        """
        Args:
            member: Whose introduction (yours if empty)
        """
        caller = member_of(interaction)
        target = member or caller
        intro = await self.app.services.get(IntroService).get(caller.guild.id, target.id)
        yours = target.id == caller.id
        if intro is None or not intro.is_posted:
            text = (
                "You haven't introduced yourself yet. Run /intro write — it takes two minutes."
                if yours
                else f"{target.display_name} hasn't introduced themselves yet."
            )
            await reply(interaction, text)
            return
        embed = intro_embed_for(target, intro)
        if embed is not None:
            await reply(interaction, f"Introduction: {intro.jump_url}", embed=embed)
            return
        if yours:
            text = await self.app.templates.render(
                caller.guild.id, "intro_thanks_note", link=intro.jump_url or ""
            )
        else:
            text = f"{target.display_name} introduced themselves here: {intro.jump_url}"
        await reply(interaction, text)

    # ----- events ----------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        intros = self.app.services.get(IntroService)
        view = welcome_view(member.id)
        for extra in intros.welcome_extras:  # e.g. the roster's "Join with a code"
            for item in await extra(member):
                view.add_item(item)
        await intros.member_joined(member, view)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        await self.app.services.get(IntroService).member_left(payload.guild_id, payload.user.id)

    def filter_message(self, message: discord.Message, config: GuildConfig | None) -> None:
        """Message filter (``CohortBot.add_message_filter``, no task per message): only
        messages in the intro channel or its threads reach ``handle_message``."""
        intro_channel_id = config.intro_channel_id if config is not None else None
        if intro_channel_id is None:
            return
        channel = message.channel
        if channel.id != intro_channel_id and (
            not isinstance(channel, discord.Thread) or channel.parent_id != intro_channel_id
        ):
            return
        self.bot.run_handler("message", self.handle_message, message)

    async def handle_message(self, message: discord.Message) -> None:
        config = await self.app.guild_settings.config(message.guild.id) if message.guild else None
        if config is None or config.intro_channel_id is None:
            return
        channel = message.channel
        in_channel = channel.id == config.intro_channel_id
        in_thread = (
            isinstance(channel, discord.Thread) and channel.parent_id == config.intro_channel_id
        )
        if not (in_channel or in_thread):
            return
        if await self.app.services.get(IntroService).record_welcome(message) is not None:
            return
        if (
            in_channel
            and message.reference is None
            and await self.app.services.get(IntroService).message_intro(message)
        ):
            # Queued, not awaited: a burst of intros must not wait on (or spend) REST calls.
            self.bot.reactions.add(channel.id, message.id, THANKS_EMOJI)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        # Uncached messages (e.g. posted before a restart) only arrive as raw events.
        if payload.guild_id is not None:
            await self.app.services.get(IntroService).posts_deleted(
                self.bot.get_guild(payload.guild_id), payload.guild_id, [payload.message_id]
            )

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.app.services.get(IntroService).posts_deleted(
                self.bot.get_guild(payload.guild_id), payload.guild_id, sorted(payload.message_ids)
            )


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(IntrosCog(bot))
