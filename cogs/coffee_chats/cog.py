"""Coffee-chat matching: /match …, /course match …, the "Report to staff" context menu and the
persistent buttons of match threads. Thin: the use cases are in cogs/coffee_chats/service.py.

Every persistent button's custom_id is only a lookup key (``cohortbot:match:<action>:<guild>:
<id>…``): on click the group is reloaded by (id, guild) and the clicker checked against it.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AppContext
from bot.client import CohortBot
from bot.command_kit import FeatureCog, button_guild, chosen_cohort, persistent_view
from bot.commands import (
    DAY_CHOICES,
    InstructorGroup,
    TimeOfDay,
    cohort_option,
    member_of,
    require_instructor,
)
from bot.errors import UserFacingError
from bot.text import EMBED_LIMITS, discord_time, shorten
from bot.ui import ButtonFace, ButtonFaces, CohortButton, CohortView, reply, report_error
from cogs.coffee_chats.records import GroupRecord
from cogs.coffee_chats.repository import MatchSettings, Outcome
from cogs.coffee_chats.service import MATCH_KIND, STAY_PAUSE_WEEKS, MatchingService, Proposal
from cogs.profiles import ProfileService

log = logging.getLogger("cogs.coffee_chats.cog")

PREFERENCE_CHOICES = [
    app_commands.Choice(name="someone similar", value="similar"),
    app_commands.Choice(name="someone different", value="different"),
    app_commands.Choice(name="I don't mind (default)", value="dont_mind"),
]
CADENCE_CHOICES = [
    app_commands.Choice(name="every week", value="weekly"),
    app_commands.Choice(name="every two weeks", value="biweekly"),
]


def _app(interaction: discord.Interaction[Any]) -> Any:
    return interaction.client.app


def _matching(interaction: discord.Interaction[Any]) -> MatchingService:
    app: AppContext = interaction.client.app
    return app.services.get(MatchingService)


async def _clicked_group(
    interaction: discord.Interaction[Any], guild_id: int, group_id: int
) -> GroupRecord:
    """The match group a button or report names, reloaded, the clicker checked to be in it."""
    return await _matching(interaction).group_for_click(
        interaction.guild_id, guild_id, group_id, interaction.user.id
    )


# ---------------------------------------------------------------------- persistent buttons


class ReportButton(
    CohortButton, template=r"cohortbot:match:report:(?P<guild_id>\d+):(?P<group_id>\d+)"
):
    where = "button match report"

    def __init__(self, guild_id: int, group_id: int) -> None:
        self.guild_id, self.group_id = guild_id, group_id
        super().__init__(
            label="Report to staff",
            emoji="🚩",
            style=discord.ButtonStyle.secondary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        group = await _clicked_group(interaction, self.guild_id, self.group_id)
        guild = button_guild(interaction, self.guild_id)
        others = [u for u in group.user_ids if u != interaction.user.id]
        link = (
            f"https://discord.com/channels/{guild.id}/{group.thread_id}"
            if group.thread_id
            else None
        )
        names = {u: m.display_name for u in others if (m := guild.get_member(u)) is not None}
        view = ReportChoiceView(guild.id, interaction.user.id, others, group.group_id, link, names)
        await reply(interaction, REPORT_PROMPT, view=view)


class OutcomeButton(
    CohortButton,
    template=r"cohortbot:match:out:(?P<guild_id>\d+):(?P<group_id>\d+):(?P<outcome>met|not_yet|no_connect)",
):
    where = "button match outcome"
    faces: ClassVar[ButtonFaces] = {
        "met": ButtonFace("Met", discord.ButtonStyle.success),
        "not_yet": ButtonFace("Not yet", discord.ButtonStyle.secondary),
        "no_connect": ButtonFace("Couldn't connect", discord.ButtonStyle.secondary),
    }

    def __init__(self, guild_id: int, group_id: int, outcome: str) -> None:
        self.guild_id, self.group_id, self.outcome = guild_id, group_id, outcome
        super().__init__(face=outcome)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        app = _app(interaction)
        group = await _clicked_group(interaction, self.guild_id, self.group_id)
        outcome: Outcome = self.outcome  # type: ignore[assignment]  # the template's choices
        text = await app.services.get(MatchingService).record_outcome(
            self.guild_id, group, interaction.user.id, outcome
        )
        view = None
        if outcome == "no_connect":
            view = DiscordMatchViews().after_view(self.guild_id, self.group_id)
        await reply(interaction, text, view=view)


class AfterButton(
    CohortButton,
    template=r"cohortbot:match:after:(?P<guild_id>\d+):(?P<group_id>\d+):(?P<choice>rematch|priority)",
):
    where = "button match after"
    faces: ClassVar[ButtonFaces] = {
        "rematch": ButtonFace("Find me a new partner", discord.ButtonStyle.primary),
        "priority": ButtonFace("Priority next round", discord.ButtonStyle.primary),
    }

    def __init__(self, guild_id: int, group_id: int, choice: str) -> None:
        self.guild_id, self.group_id, self.choice = guild_id, group_id, choice
        super().__init__(face=choice)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        app = _app(interaction)
        group = await _clicked_group(interaction, self.guild_id, self.group_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if self.choice == "rematch":
            guild = button_guild(interaction, self.guild_id)
            text = await app.services.get(MatchingService).rematch(
                guild, group, interaction.user.id
            )
        else:
            text = await app.services.get(MatchingService).choose_priority(
                self.guild_id, group, interaction.user.id
            )
        await reply(interaction, text)


class StayButton(
    CohortButton,
    # "pause" without weeks: buttons sent before 2/4/8 existed (4 weeks).
    template=r"cohortbot:match:stay:(?P<guild_id>\d+):(?P<choice>stay|pause)(?::(?P<weeks>\d{1,2}))?",
):
    where = "button match stay"

    def __init__(self, guild_id: int, choice: str, weeks: int | None = None) -> None:
        self.guild_id, self.choice, self.weeks = guild_id, choice, weeks
        suffix = f":{weeks}" if choice == "pause" and weeks is not None else ""
        super().__init__(
            f"cohortbot:match:stay:{guild_id}:{choice}{suffix}",
            label="Stay in" if choice == "stay" else f"Pause {weeks or 4} weeks",
            style=discord.ButtonStyle.secondary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.guild_id is not None and interaction.guild_id != self.guild_id:
            raise UserFacingError("That button doesn't belong to this server.")
        text = await _matching(interaction).stay_or_pause(
            self.guild_id, interaction.user.id, self.choice, self.weeks or 4
        )
        await reply(interaction, text)


class ReviewButton(
    CohortButton, template=r"cohortbot:match:review:(?P<guild_id>\d+):(?P<round_id>\d+)"
):
    where = "button match review"

    def __init__(self, guild_id: int, round_id: int) -> None:
        self.guild_id, self.round_id = guild_id, round_id
        super().__init__(
            label="Review the proposal",
            style=discord.ButtonStyle.primary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.guild_id != self.guild_id:
            raise UserFacingError("That button doesn't belong to this server.")
        await require_instructor(interaction)
        guild = member_of(interaction).guild
        proposal = await _matching(interaction).proposal(guild.id, self.round_id)
        await send_preview(interaction, guild, proposal)


class DiscordMatchViews:
    """:class:`cogs.coffee_chats.service.MatchViews` for the service."""

    def thread_view(self, guild_id: int, group_id: int) -> discord.ui.View:
        return persistent_view(ReportButton(guild_id, group_id))

    def followup_view(self, guild_id: int, group_id: int) -> discord.ui.View:
        return persistent_view(
            *(OutcomeButton(guild_id, group_id, outcome) for outcome in OutcomeButton.faces)
        )

    def after_view(self, guild_id: int, group_id: int) -> discord.ui.View:
        return persistent_view(
            AfterButton(guild_id, group_id, "rematch"), AfterButton(guild_id, group_id, "priority")
        )

    def stay_view(self, guild_id: int) -> discord.ui.View:
        return persistent_view(
            StayButton(guild_id, "stay"),
            *(StayButton(guild_id, "pause", weeks) for weeks in STAY_PAUSE_WEEKS),
        )

    def review_view(self, guild_id: int, round_id: int) -> discord.ui.View:
        return persistent_view(ReviewButton(guild_id, round_id))


# ---------------------------------------------------------------------- reporting


REPORT_PROMPT = (
    "🚩 **Report to staff.** Your report goes privately to the course staff with a link; the "
    "person is not told who reported. Choose what should happen:"
)


class ReportChoiceView(CohortView):
    """Ephemeral: whom (in a trio) and what the reporter wants. Re-checked on click."""

    def __init__(
        self,
        guild_id: int,
        reporter_id: int,
        candidates: list[int],
        group_id: int | None,
        link: str | None,
        names: dict[int, str] | None = None,
    ) -> None:
        super().__init__(timeout=900)
        self.guild_id = guild_id
        self.reporter_id = reporter_id
        self.candidates = candidates
        self.group_id = group_id
        self.link = link
        self.target: int | None = candidates[0] if len(candidates) == 1 else None
        if len(candidates) > 1:
            select: discord.ui.Select[ReportChoiceView] = discord.ui.Select(
                placeholder="Who is this about?",
                options=[
                    discord.SelectOption(
                        label=shorten((names or {}).get(u) or f"Member {i + 1}", 100),
                        value=str(u),
                    )
                    for i, u in enumerate(candidates[:25])
                ],
            )
            select.callback = self._picked  # type: ignore[method-assign]
            self.picker = select
            self.add_item(select)

    async def _picked(self, interaction: discord.Interaction[Any]) -> None:
        self.target = int(self.picker.values[0])
        await interaction.response.defer()

    async def _send(
        self, interaction: discord.Interaction[Any], *, avoid: bool, rematch: bool
    ) -> None:
        if interaction.user.id != self.reporter_id:
            raise UserFacingError("Only the person reporting can use these buttons.")
        app = _app(interaction)
        guild = button_guild(interaction, self.guild_id)
        group = None
        if self.group_id is not None:
            group = await _clicked_group(interaction, self.guild_id, self.group_id)
        if avoid and self.target is None and len(self.candidates) > 1:
            raise UserFacingError("Pick who this is about first.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await app.services.get(MatchingService).report(
            guild,
            reporter_id=self.reporter_id,
            reported_id=self.target,
            group=group,
            link=self.link,
            rematch=rematch,
            avoid=avoid,
        )
        self.stop()
        await reply(interaction, text)

    @discord.ui.button(label="Report only", style=discord.ButtonStyle.secondary, row=1)
    async def report_only(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await self._send(interaction, avoid=False, rematch=False)

    @discord.ui.button(label="Report and never match us", style=discord.ButtonStyle.danger, row=1)
    async def report_avoid(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await self._send(interaction, avoid=True, rematch=False)

    @discord.ui.button(
        label="Report, never match us, re-match me", style=discord.ButtonStyle.danger, row=1
    )
    async def report_rematch(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await self._send(interaction, avoid=True, rematch=True)


# ---------------------------------------------------------------------- the preview


def pack_embeds(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Split embeds, in order, into messages that each fit Discord's limits (none dropped)."""
    batches: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if (
            not batches
            or len(batches[-1]) >= EMBED_LIMITS.per_message
            or size + len(embed) > EMBED_LIMITS.total
        ):
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += len(embed)
    return batches


async def send_preview(
    interaction: discord.Interaction[Any],
    guild: discord.Guild,
    proposal: Proposal,
    *,
    notes: list[str] | None = None,
) -> None:
    app = _app(interaction)
    pages = await app.services.get(MatchingService).preview_pages(guild, proposal)
    if proposal.dry_run or proposal.round_id is None:
        # Every page, packed into as few messages as Discord's embed limits allow.
        for number, batch in enumerate(pack_embeds(pages)):
            content = "Dry run: nothing was saved or posted." if number == 0 else None
            await reply(interaction, content, embeds=batch)
        return
    view = PreviewView(guild.id, proposal.round_id, len(pages), proposal)
    content = "\n".join(notes) if notes else None
    await reply(interaction, content, embed=pages[0], view=view)


class PreviewView(CohortView):
    """The instructor's ephemeral, paginated preview: swap, move, post. Every action reloads
    the saved proposal by (round id, guild) and checks the instructor again."""

    def __init__(self, guild_id: int, round_id: int, pages: int, proposal: Proposal) -> None:
        super().__init__(timeout=840)  # the interaction token lasts 15 minutes
        self.guild_id = guild_id
        self.round_id = round_id
        self.page = 0
        self.pages = pages
        self.move_user: int | None = None
        self._set_targets(proposal)

    def _set_targets(self, proposal: Proposal) -> None:
        first = self.page * 8
        groups = proposal.groups[first : first + 8]
        self.move_to.options = [
            discord.SelectOption(label=f"Group {first + i + 1}", value=str(first + i))
            for i in range(len(groups))
        ] or [discord.SelectOption(label="No groups", value="-1")]

    async def _check(self, interaction: discord.Interaction[Any]) -> discord.Guild:
        await require_instructor(interaction)
        guild = member_of(interaction).guild
        if guild.id != self.guild_id:
            raise UserFacingError("That preview belongs to another server.")
        return guild

    async def _redraw(
        self, interaction: discord.Interaction[Any], guild: discord.Guild, note: str | None
    ) -> None:
        app = _app(interaction)
        proposal = await app.services.get(MatchingService).proposal(guild.id, self.round_id)
        pages = await app.services.get(MatchingService).preview_pages(guild, proposal)
        self.pages = len(pages)
        self.page = min(self.page, self.pages - 1)
        self._set_targets(proposal)
        await interaction.response.edit_message(content=note, embed=pages[self.page], view=self)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary, row=0)
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild = await self._check(interaction)
        self.page = max(0, self.page - 1)
        await self._redraw(interaction, guild, None)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary, row=0)
    async def next_page(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild = await self._check(interaction)
        self.page = min(self.pages - 1, self.page + 1)
        await self._redraw(interaction, guild, None)

    @discord.ui.button(label="Post these", style=discord.ButtonStyle.success, row=0)
    async def post(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild = await self._check(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await _matching(interaction).post(guild, self.round_id)
        if outcome.posted:
            await reply(interaction, "\n".join(outcome.lines)[:2000])
            return
        proposal = await _matching(interaction).proposal(guild.id, self.round_id)
        await send_preview(interaction, guild, proposal, notes=outcome.lines)

    @discord.ui.select(
        cls=discord.ui.UserSelect,
        placeholder="Swap two people…",
        min_values=2,
        max_values=2,
        row=1,
    )
    async def swap(
        self, interaction: discord.Interaction[Any], select: discord.ui.UserSelect[Any]
    ) -> None:
        guild = await self._check(interaction)
        a, b = (u.id for u in select.values)
        note = await _matching(interaction).swap(guild.id, self.round_id, a, b)
        await self._redraw(interaction, guild, note)

    @discord.ui.select(
        cls=discord.ui.UserSelect, placeholder="Move one person…", min_values=1, max_values=1, row=2
    )
    async def move_who(
        self, interaction: discord.Interaction[Any], select: discord.ui.UserSelect[Any]
    ) -> None:
        await self._check(interaction)
        self.move_user = select.values[0].id
        await interaction.response.defer()

    @discord.ui.select(
        cls=discord.ui.Select,
        placeholder="…into group",
        row=3,
        options=[discord.SelectOption(label="Group 1", value="0")],
    )
    async def move_to(
        self, interaction: discord.Interaction[Any], select: discord.ui.Select[Any]
    ) -> None:
        guild = await self._check(interaction)
        if self.move_user is None:
            raise UserFacingError("Pick the person to move first.")
        note = await _matching(interaction).move(
            guild.id, self.round_id, self.move_user, int(select.values[0])
        )
        await self._redraw(interaction, guild, note)


# ---------------------------------------------------------------------- /course match


class CourseMatchGroup(
    InstructorGroup, name="match", description="Coffee-chat rounds: schedule, settings, runs"
):
    """/course match …: schedule, settings, block, run."""

    @app_commands.command(name="schedule", description="When coffee-chat rounds start")
    @app_commands.choices(cadence=CADENCE_CHOICES)
    @app_commands.choices(day=DAY_CHOICES)
    @cohort_option("Which cohort (default: the only one)")
    async def schedule_command(
        self,
        interaction: discord.Interaction[CohortBot],
        cadence: app_commands.Choice[str],
        day: app_commands.Choice[int],
        time: TimeOfDay,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            cadence: Every week or every two weeks (course weeks; none in breaks)
            day: Day the round starts (course time zone)
            time: Time, 24-hour HH:MM
        """
        guild, target = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        at = time
        first = await app.services.get(MatchingService).set_schedule(
            guild.id, target, cadence.value, day.value, at
        )
        await app.scheduler.rebuild()
        await reply(
            interaction,
            f"Coffee-chat rounds for {target.name}: {cadence.name}, {day.name} {at:%H:%M} "
            f"(course time zone), on course weeks only. Next: {discord_time(first)}.",
        )

    @app_commands.command(name="unschedule", description="Stop scheduled coffee-chat rounds")
    @cohort_option("Which cohort (default: the only one)")
    async def unschedule_command(
        self, interaction: discord.Interaction[CohortBot], cohort: str | None = None
    ) -> None:
        guild, target = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        removed = await app.services.get(MatchingService).unschedule(guild.id, target)
        await app.scheduler.rebuild()
        await reply(
            interaction,
            (
                f"Scheduled coffee-chat rounds for {target.name} are off. The current round "
                "(if any) runs to its end; /course match run still works."
            )
            if removed
            else f"{target.name} had no scheduled coffee-chat rounds. Nothing was changed.",
        )

    @app_commands.command(name="settings", description="Group size, repeat half-life, preview")
    @cohort_option("Which cohort (default: the only one)")
    async def settings_command(
        self,
        interaction: discord.Interaction[CohortBot],
        group_size: app_commands.Range[int, 2, 3] | None = None,
        half_life: app_commands.Range[float, 1, 52] | None = None,
        preview_first: bool | None = None,
        channel: discord.TextChannel | None = None,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            group_size: 2 (pairs; one trio when the count is odd) or 3
            half_life: Rounds after which a repeat's penalty halves (default 6)
            preview_first: Scheduled rounds wait for you to review and post them
            channel: Where match threads open (default: the coffee shop)
        """
        guild, target = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        current: MatchSettings = await app.services.get(MatchingService).settings(
            guild.id, target.cohort_id
        )
        changed = MatchSettings(
            guild.id,
            target.cohort_id,
            cadence=current.cadence,
            group_size=group_size if group_size is not None else current.group_size,
            half_life=float(half_life) if half_life is not None else current.half_life,
            preview_first=preview_first if preview_first is not None else current.preview_first,
            channel_id=channel.id if channel is not None else current.channel_id,
        )
        await app.services.get(MatchingService).save_settings(changed)
        where = f"<#{changed.channel_id}>" if changed.channel_id else "the coffee shop"
        await reply(
            interaction,
            f"Matching for {target.name}: groups of {changed.group_size}, repeat half-life "
            f"{changed.half_life:g} rounds, scheduled rounds "
            f"{'wait for your review' if changed.preview_first else 'post automatically'}, "
            f"threads in {where}.",
        )

    @app_commands.command(name="block", description="Never match these two students")
    async def block_command(
        self, interaction: discord.Interaction[CohortBot], a: discord.User, b: discord.User
    ) -> None:
        guild = member_of(interaction).guild
        added = await interaction.client.app.services.get(MatchingService).block(guild, a.id, b.id)
        await reply(
            interaction,
            f"{a.mention} and {b.mention} will never be matched"
            + ("." if added else " (they already were blocked).")
            + " Neither is told.",
        )

    @app_commands.command(name="run", description="Propose a round now and preview it")
    @cohort_option("Which cohort")
    async def run_command(
        self,
        interaction: discord.Interaction[CohortBot],
        dry_run: bool = False,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            dry_run: Only preview: nothing is saved or posted
        """
        guild, target = await chosen_cohort(interaction, cohort, configured=True)
        app = interaction.client.app
        await interaction.response.defer(ephemeral=True, thinking=True)
        proposal = await app.services.get(MatchingService).propose(guild, target, dry_run=dry_run)
        await send_preview(interaction, guild, proposal)


# ---------------------------------------------------------------------- the cog


class MatchingCog(FeatureCog):
    match = app_commands.Group(
        name="match", description="Coffee chats with classmates like you", guild_only=True
    )

    buttons = (ReportButton, OutcomeButton, AfterButton, StayButton, ReviewButton)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = CourseMatchGroup()
        self.report_menu = app_commands.ContextMenu(
            name="Report to staff", callback=self.report_message
        )
        self.report_menu.guild_only = True

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.tree.add_command(self.report_menu)
        self.app.services.get(MatchingService).attach(self.bot, DiscordMatchViews())
        self.app.scheduler.register_kind(
            MATCH_KIND, self.app.services.get(MatchingService).run_scheduled
        )
        self.app.scheduler.add_tick_hook("matching", self.app.services.get(MatchingService).tick)
        self.app.upcoming.register(
            "matching", self.app.services.get(MatchingService).upcoming_items
        )

    async def cog_unload(self) -> None:
        await super().cog_unload()
        self.bot.tree.remove_command(self.report_menu.name, type=self.report_menu.type)
        self.app.services.get(MatchingService).attach(None, None)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A student who leaves mid-round leaves their match thread; their partner is told."""
        try:
            await self.app.services.get(MatchingService).member_left(
                payload.guild_id, payload.user.id
            )
        except Exception:
            log.exception("Match clean-up failed for a departure in guild %s", payload.guild_id)

    async def _student(self, interaction: discord.Interaction[CohortBot]) -> discord.Member:
        member = member_of(interaction)
        await self.app.guild_settings.require_config(member.guild.id, member.guild.name)
        if await self.app.roster.is_staff(member) or not await self.app.roster.cohorts_of(member):
            raise UserFacingError(
                "Coffee chats are for the course's students (staff are never matched)."
            )
        return member

    @match.command(name="join", description="Join the coffee-chat rounds (and allow match DMs)")
    async def join_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = await self._student(interaction)
        new = await self.app.services.get(MatchingService).join(member.guild.id, member.id)
        await reply(
            interaction,
            ("You're in! " if new else "You're already in. ")
            + "Each round you'll get a private thread with one or two classmates whose lives "
            "look like yours, and I may DM you about your matches (that's what joining allows). "
            "Matches see only the profile items you chose to show them (/profile show); server "
            "moderators can read private threads. /match prefs, /match pause, /match leave.",
        )

    @match.command(name="leave", description="Stop taking part in coffee-chat rounds")
    async def leave_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        left = await self.app.services.get(MatchingService).leave(member.guild.id, member.id)
        await reply(
            interaction,
            "You've left the coffee-chat rounds; no more match DMs. /match join to come back."
            if left
            else "You weren't in the coffee-chat rounds.",
        )

    @match.command(name="pause", description="Sit out rounds for a few weeks")
    async def pause_command(self, interaction: discord.Interaction[CohortBot], weeks: int) -> None:
        """
        Args:
            weeks: How many weeks (1–12); you come back by yourself
        """
        member = member_of(interaction)
        until = await self.app.services.get(MatchingService).pause(
            member.guild.id, member.id, weeks
        )
        await reply(
            interaction,
            f"Paused until {discord_time(until, 'D')}; you'll be back in the rounds after "
            "that by yourself. (/match join resumes now.)",
        )

    @match.command(name="status", description="Your next round, current group and pause")
    async def status_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        lines = await self.app.services.get(MatchingService).status_lines(member.guild, member.id)
        await reply(interaction, "\n".join(lines)[:2000])

    @match.command(name="history", description="Your past coffee chats")
    async def history_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        lines = await self.app.services.get(MatchingService).history_lines(member.guild, member.id)
        await reply(interaction, "\n".join(["Your coffee chats:", *lines])[:2000])

    @match.command(name="avoid", description="Never be matched with someone (private)")
    async def avoid_command(
        self, interaction: discord.Interaction[CohortBot], member: discord.User
    ) -> None:
        """
        Args:
            member: Who (they are never told)
        """
        me = member_of(interaction)
        added = await self.app.services.get(MatchingService).avoid(me.guild, me.id, member.id)
        await reply(
            interaction,
            ("Done. " if added else "Already set. ")
            + "You won't be matched with them; nobody is told.",
        )

    @match.command(name="prefs", description="Similar or different classmates (optional)")
    @app_commands.choices(
        timezone=PREFERENCE_CHOICES, work=PREFERENCE_CHOICES, caregiving=PREFERENCE_CHOICES
    )
    async def prefs_command(
        self,
        interaction: discord.Interaction[CohortBot],
        timezone: str | None = None,
        work: str | None = None,
        caregiving: str | None = None,
    ) -> None:
        """
        Args:
            timezone: Time zone: similar, different or don't mind
            work: Work situation: similar, different or don't mind
            caregiving: Caregiving: similar, different or don't mind
        """
        member = member_of(interaction)
        given = {"timezone": timezone, "work": work, "caregiving": caregiving}
        chosen = {k: v for k, v in given.items() if v is not None}
        if not chosen:
            raise UserFacingError("Pick at least one of timezone, work or caregiving.")
        for preference in chosen.values():
            if preference not in ("similar", "different", "dont_mind"):
                raise UserFacingError("Pick similar, different or don't mind. Nothing was changed.")
        for attribute, preference in chosen.items():
            await self.app.services.get(ProfileService).set_preference(
                member.guild.id,
                member.id,
                attribute,  # type: ignore[arg-type]  # one of the three above
                preference,  # type: ignore[arg-type]  # checked above
            )
        words = {"similar": "similar", "different": "different", "dont_mind": "don't mind"}
        summary = ", ".join(f"{k}: {words[v]}" for k, v in chosen.items())
        await reply(
            interaction,
            f"Saved ({summary}). Preferences are private and only steer matching; they use the "
            "profile items you set with /profile set.",
        )

    async def report_message(
        self, interaction: discord.Interaction[CohortBot], message: discord.Message
    ) -> None:
        """The "Report to staff" message context menu: anywhere in the server."""
        try:
            member = member_of(interaction)
            author = message.author
            target = [author.id] if not author.bot and author.id != member.id else []
            view = ReportChoiceView(member.guild.id, member.id, target, None, message.jump_url)
            await reply(interaction, REPORT_PROMPT, view=view)
        except Exception as error:
            await report_error(interaction, error, where="context menu report")


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(MatchingCog(bot))
