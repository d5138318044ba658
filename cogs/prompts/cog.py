"""Weekly discussion prompts: /prompt for students, /course prompt for instructors, and the
listeners that see answers and peer replies (including raw edits and deletes).

Thin adapter: the rules live in cogs/prompts/rules.py, the use cases in cogs/prompts/service.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.command_kit import FeatureCog, chosen_cohort, reply_lines
from bot.commands import (
    DAY_CHOICES,
    InstructorGroup,
    TimeOfDay,
    cohort_option,
    member_of,
    require_instructor,
)
from bot.errors import UserFacingError
from bot.store.guilds import Cohort, GuildConfig
from bot.text import MODAL_INPUT_LIMIT, chunk_lines, quote_input, shorten
from bot.ui import CohortModal, CohortView, reply
from bot.upcoming import UpcomingItem
from cogs.coffee_shop import MilestoneService
from cogs.nudges import NudgeCandidate, NudgeContext, NudgeEngine, NudgeKind
from cogs.prompts.common import (
    ANSWER_TEXT_LIMIT,
    FOLLOWUP_KIND,
    NUDGE_NO_REPLIES,
    NUDGE_NOT_ANSWERED,
    POST_KIND,
    describe_result,
)
from cogs.prompts.rules import MAX_IMPORT_BYTES
from cogs.prompts.service import PromptService

log = logging.getLogger("cogs.prompts.cog")

PAGE_SIZE = 10


class AnswerModal(CohortModal):
    def __init__(self, cog: PromptCog, current: str | None) -> None:
        super().__init__(
            title="Your answer to this week's prompt", custom_id="cohortbot:prompt:answer"
        )
        self.cog = cog
        self.body: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            label="Your answer",
            custom_id="cohortbot:prompt:answer:text",
            style=discord.TextStyle.paragraph,
            default=current,
            max_length=ANSWER_TEXT_LIMIT,
            placeholder="A few honest sentences are plenty.",
        )
        self.add_item(self.body)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        link, edited = await self.cog.app.services.get(PromptService).submit_answer(
            member, self.body.value
        )
        key = "prompt_answer_edited" if edited else "prompt_answer_posted"
        await reply(
            interaction, await self.cog.app.templates.render(member.guild.id, key, link=link)
        )


class AddPromptModal(CohortModal):
    def __init__(self, cog: PromptCog, cohort: Cohort) -> None:
        super().__init__(title="Add a discussion prompt", custom_id="cohortbot:prompt:add")
        self.cog = cog
        self.cohort = cohort
        self.text: discord.ui.TextInput[AddPromptModal] = discord.ui.TextInput(
            label="The prompt",
            custom_id="cohortbot:prompt:add:text",
            style=discord.TextStyle.paragraph,
            max_length=MODAL_INPUT_LIMIT,
        )
        self.week: discord.ui.TextInput[AddPromptModal] = discord.ui.TextInput(
            label="Course week (optional)",
            custom_id="cohortbot:prompt:add:week",
            required=False,
            max_length=3,
            placeholder="e.g. 3",
        )
        self.theme: discord.ui.TextInput[AddPromptModal] = discord.ui.TextInput(
            label="Theme (optional)",
            custom_id="cohortbot:prompt:add:theme",
            required=False,
            max_length=40,
            placeholder="reflection",
        )
        self.follow_ups: discord.ui.TextInput[AddPromptModal] = discord.ui.TextInput(
            label="Follow-up questions, one per line (≤ 3)",
            custom_id="cohortbot:prompt:add:follow_ups",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=600,
            placeholder="What made you…?\nHow would that look if…?",
        )
        for item in (self.text, self.week, self.theme, self.follow_ups):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        await require_instructor(interaction)
        prompt = await self.cog.app.services.get(PromptService).add_prompt(
            member.guild.id,
            self.cohort.cohort_id,
            self.text.value,
            theme=self.theme.value,
            week=self.week.value,
            follow_ups=self.follow_ups.value,
        )
        week = f" (week {prompt.week})" if prompt.week else ""
        await reply(
            interaction,
            f"Added prompt #{prompt.prompt_id}{week} to {self.cohort.name}'s bank: "
            f"{shorten(prompt.text, 200)}",
        )


class SecondPromptView(CohortView):
    """Post-now in a week that already has a prompt: the instructor confirms a second one."""

    def __init__(self, cog: PromptCog, cohort: Cohort) -> None:
        super().__init__(timeout=600)
        self.cog = cog
        self.cohort = cohort

    @discord.ui.button(label="Post a second prompt this week", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await require_instructor(interaction)  # checked again on click
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        prompts = self.cog.app.services.get(PromptService)
        result = await prompts.post_week(member.guild, self.cohort, second=True)
        result = await prompts.settle(member.guild.id, result)  # answer with the links
        self.stop()
        await reply(interaction, describe_result(result, member.guild.id))


class PromptCourseGroup(InstructorGroup, name="prompt", description="Weekly discussion prompts"):
    def __init__(self, cog: PromptCog) -> None:
        super().__init__()
        self.cog = cog

    @app_commands.command(name="add", description="Add a prompt to the cohort's bank")
    @cohort_option()
    async def add(self, interaction: discord.Interaction[Any], cohort: str | None = None) -> None:
        _, found = await chosen_cohort(interaction, cohort, configured=True)
        await interaction.response.send_modal(AddPromptModal(self.cog, found))

    @app_commands.command(name="list", description="The cohort's prompt bank, page by page")
    @cohort_option()
    async def list_prompts(
        self,
        interaction: discord.Interaction[Any],
        page: app_commands.Range[int, 1, 100] = 1,
        cohort: str | None = None,
    ) -> None:
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        bank = await self.cog.app.services.get(PromptService).bank(guild.id, found.cohort_id)
        pages = max(1, -(-len(bank) // PAGE_SIZE))
        page = min(page, pages)
        lines = [f"**Prompt bank — {found.name}** ({len(bank)} prompts, page {page} of {pages})"]
        for prompt in bank[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
            week = f"week {prompt.week}" if prompt.week else "any week"
            theme = f" · {prompt.theme}" if prompt.theme else ""
            lines.append(f"**#{prompt.prompt_id}** ({week}{theme}) {shorten(prompt.text, 140)}")
        if not bank:
            lines.append("The bank is empty: add prompts with /course prompt add or import.")
        if page < pages:
            lines.append(f"More: /course prompt list page:{page + 1}")
        await reply(interaction, chunk_lines(lines)[0])

    @app_commands.command(name="remove", description="Remove a prompt from the bank")
    @cohort_option()
    async def remove(
        self,
        interaction: discord.Interaction[Any],
        prompt_id: app_commands.Range[int, 1],
        cohort: str | None = None,
    ) -> None:
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        await self.cog.app.services.get(PromptService).remove_prompt(
            guild.id, found.cohort_id, prompt_id
        )
        await reply(interaction, f"Removed prompt #{prompt_id} from {found.name}'s bank.")

    @app_commands.command(name="import", description="Import prompts from a CSV or JSON file")
    @cohort_option()
    async def import_file(
        self,
        interaction: discord.Interaction[Any],
        file: discord.Attachment,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            file: A CSV or JSON file like data/prompt_import_template.csv/.json
        """
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        if file.size > MAX_IMPORT_BYTES:
            raise UserFacingError(
                f"{quote_input(file.filename)} is {file.size // 1024} KB; the limit is "
                f"{MAX_IMPORT_BYTES // 1024} KB. Nothing was imported."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await file.read()
        added, errors = await self.cog.app.services.get(PromptService).import_prompts(
            guild.id, found.cohort_id, file.filename, data
        )
        lines = [f"Imported {added} prompt(s) into {found.name}'s bank."]
        if errors:
            lines.append(f"{len(errors)} row(s) were skipped:")
            lines.extend(f"• row {e.row}: {e.message}" for e in errors[:20])
            if len(errors) > 20:
                lines.append(f"… and {len(errors) - 20} more.")
        await reply_lines(interaction, lines)

    @app_commands.command(name="schedule", description="Post a prompt every week in a channel")
    @app_commands.choices(day=DAY_CHOICES)
    @cohort_option()
    async def schedule(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel | discord.ForumChannel,
        day: app_commands.Choice[int],
        time: TimeOfDay,
        cohort: str | None = None,
        group_threshold: app_commands.Range[int, 2, 500] | None = None,
        group_size: app_commands.Range[int, 3, 30] | None = None,
        substantive_words: app_commands.Range[int, 1, 200] | None = None,
    ) -> None:
        """
        Args:
            channel: A text or forum channel for the discussion
            day: Day of the week (course time zone)
            time: Local time, e.g. 09:00
            group_threshold: Split the cohort into groups above this many students (default 16)
            group_size: Largest discussion group (default 12)
            substantive_words: Words for a reply to count as substantive (default 15)
        """
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        local_time = time
        resolved = guild.get_channel(channel.id)
        if resolved is None:
            raise UserFacingError("I can't see that channel. Nothing was changed.")
        settings = await self.cog.app.services.get(PromptService).configure(
            guild,
            found,
            resolved,
            weekday=day.value,
            local_time=local_time,
            group_threshold=group_threshold,
            group_size=group_size,
            substantive_words=substantive_words,
        )
        config = await self.cog.app.guild_settings.config(guild.id)
        zone = config.timezone if config else "UTC"
        await reply(
            interaction,
            f"Discussion prompts for {found.name} will post in {resolved.mention} every "
            f"{day.name} at {local_time.strftime('%H:%M')} ({zone}), in course weeks only. "
            f"Groups form above {settings.group_threshold} students (at most "
            f"{settings.group_size} each); replies of {settings.substantive_words}+ words count "
            "as substantive. Two days before each week ends, answers still without replies "
            "are linked on the prompt post.",
        )

    @app_commands.command(name="post-now", description="Post this week's prompt now")
    @cohort_option()
    async def post_now(
        self, interaction: discord.Interaction[Any], cohort: str | None = None
    ) -> None:
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.cog.app.services.get(PromptService).post_week(guild, found)
        result = await self.cog.app.services.get(PromptService).settle(
            guild.id, result
        )  # answer with the links
        if result.status == "already_posted":
            await reply(
                interaction,
                "This week's prompt is already posted. Post a second prompt this week? "
                "(Students will see two questions.)",
                view=SecondPromptView(self.cog, found),
            )
            return
        await reply(interaction, describe_result(result, guild.id))

    @app_commands.command(name="stats", description="Answers and replies per student")
    @cohort_option()
    async def stats(
        self,
        interaction: discord.Interaction[Any],
        week: app_commands.Range[int, 1, 52] | None = None,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            week: Course week number (default: the latest prompt)
        """
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        await interaction.response.defer(ephemeral=True, thinking=True)
        for message in await self.cog.app.services.get(PromptService).stats_messages(
            guild, found, week
        ):
            await reply(interaction, message)


class PromptCog(
    FeatureCog, commands.GroupCog, group_name="prompt", group_description="Weekly discussion"
):
    alerts = app_commands.Group(name="alerts", description="Get pinged when a prompt posts")

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = PromptCourseGroup(self)
        self._message_filters = (self.filter_message,)
        self._settings_loading = self.after_load(self._load_prompt_settings, "prompt settings")

    async def _load_prompt_settings(self, guild_id: int) -> None:
        await self.app.services.get(PromptService).guild_settings(guild_id)

    async def cog_load(self) -> None:
        await super().cog_load()
        prompts = self.app.services.get(PromptService)
        upcoming = self.app.upcoming
        prompts.attach(
            self.bot,
            calendar=self.app.calendar,
            milestones=self.app.services.get(MilestoneService),
            rebuild_schedules=self.app.scheduler.rebuild,
            upcoming=upcoming,
            outbox=self.app.outbox,
        )
        for kind in (POST_KIND, FOLLOWUP_KIND):
            self.app.scheduler.register_kind(
                kind, prompts.run_scheduled, on_missed=prompts.run_missed
            )
        self._register_nudges()
        upcoming.register("prompts", self.upcoming_items)

    def _register_nudges(self) -> None:
        engine = self.app.services.get(NudgeEngine)

        def eligible_for(kind: str) -> Any:
            async def eligible(ctx: NudgeContext) -> list[NudgeCandidate]:
                found = await self.app.services.get(PromptService).nudge_candidates(
                    ctx.guild, ctx.cohort, ctx.week, kind, ctx.students
                )
                return [NudgeCandidate(uid, reason, values) for uid, reason, values in found]

            return eligible

        engine.register_kind(
            NudgeKind(
                name=NUDGE_NO_REPLIES,
                description="Mid-week: classmates' answers that are waiting for a reply",
                template_key="prompt_nudge_no_replies",
                eligible=eligible_for(NUDGE_NO_REPLIES),
            )
        )
        engine.register_kind(
            NudgeKind(
                name=NUDGE_NOT_ANSWERED,
                description="Mid-week: a reminder when you haven't answered the prompt",
                template_key="prompt_nudge_not_answered",
                eligible=eligible_for(NUDGE_NOT_ANSWERED),
            )
        )

    async def upcoming_items(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[UpcomingItem]:
        items = []
        for key, when, cohort_id, text in await self.app.services.get(PromptService).upcoming(
            guild_id, start, end
        ):

            async def skip(actor_id: int, key: str = key) -> None:
                await self.app.services.get(PromptService).skip_week(guild_id, key, actor_id)

            async def edit(new_text: str, actor_id: int, key: str = key) -> None:
                await self.app.services.get(PromptService).edit_week(
                    guild_id, key, new_text, actor_id
                )

            items.append(
                UpcomingItem(
                    key=key,
                    when=when,
                    kind="weekly prompt",
                    preview=shorten(text, 300),
                    cohort_id=cohort_id,
                    skip=skip,
                    edit=edit,
                    current_text=text,
                )
            )
        return items

    # ----- students

    @app_commands.command(name="answer", description="Answer this week's discussion prompt")
    @app_commands.guild_only()
    async def answer(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        current = await self.app.services.get(PromptService).current_answer_text(member)
        await interaction.response.send_modal(AnswerModal(self, current))

    @app_commands.command(name="mine", description="Your discussion this week")
    @app_commands.guild_only()
    async def mine(self, interaction: discord.Interaction[Any]) -> None:
        await reply(
            interaction, await self.app.services.get(PromptService).my_week(member_of(interaction))
        )

    @app_commands.command(name="group", description="Your discussion group")
    @app_commands.guild_only()
    async def group(self, interaction: discord.Interaction[Any]) -> None:
        await reply(
            interaction,
            await self.app.services.get(PromptService).group_text(member_of(interaction)),
        )

    @alerts.command(name="on", description="Get pinged when a new prompt posts")
    @app_commands.guild_only()
    async def alerts_on(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(
            interaction,
            await self.app.services.get(PromptService).set_alerts(member_of(interaction), True),
        )

    @alerts.command(name="off", description="Stop the prompt pings")
    @app_commands.guild_only()
    async def alerts_off(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(
            interaction,
            await self.app.services.get(PromptService).set_alerts(member_of(interaction), False),
        )

    # ----- listeners

    def filter_message(self, message: discord.Message, config: GuildConfig | None = None) -> None:
        # A message filter (CohortBot.add_message_filter, no task per message): most
        # messages are in no prompt channel or answer. The prompts' own settings decide, not
        # the server's (``config``).
        prompts = self.app.services.get(PromptService)
        verdict = prompts.may_handle_message(message)
        if verdict is None and message.guild is not None:
            # The guild's prompt settings are loading: one load, then through here again.
            self._settings_loading.park(message.guild.id, partial(self.filter_message, message))
        elif verdict:
            self.bot.run_handler("message", prompts.handle_message, message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is None:
            return
        content = payload.data.get("content")
        await self.app.services.get(PromptService).handle_edit(
            payload.guild_id, payload.message_id, content if isinstance(content, str) else None
        )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.app.services.get(PromptService).handle_delete(
                payload.guild_id, payload.message_id
            )

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            for message_id in payload.message_ids:
                await self.app.services.get(PromptService).handle_delete(
                    payload.guild_id, message_id
                )

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        await self.app.services.get(PromptService).handle_thread_delete(
            payload.guild_id, payload.thread_id
        )

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self.app.services.get(PromptService).handle_channel_delete(channel.guild, channel.id)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(PromptCog(bot))
