"""Alumni mentors on Discord: /mentor offer|find|requests|pause|stop, /course mentors
list|settings|round, the offer form, and the persistent buttons (Be a mentor, Ask, Accept,
Decline, Report to staff). Thin: the service decides."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CohortBot
from bot.command_kit import (
    FeatureCog,
    button_guild,
    chosen_cohort,
    configured_guild,
    persistent_view,
)
from bot.commands import (
    InstructorGroup,
    cohort_option,
    member_of,
)
from bot.errors import UserFacingError
from bot.store.guilds import Cohort
from bot.ui import ButtonFace, ButtonFaces, CohortButton, CohortModal, CohortView, reply
from cogs.coffee_chats import MatchingService
from cogs.course import TermService
from cogs.mentors import rules, texts
from cogs.mentors.assign import Assignment
from cogs.mentors.repository import MentorGuildSettings
from cogs.mentors.service import (
    VIEW_REQUEST,
    VIEW_SUGGEST,
    VIEW_THREAD,
    FindResult,
    MentorFullError,
    MentorService,
    Suggestion,
)
from cogs.profiles import ATTRIBUTE_LABELS, value_label

log = logging.getLogger(__name__)


def _service(interaction: discord.Interaction[Any]) -> MentorService:
    return interaction.client.app.services.get(MentorService)


def _member(guild: discord.Guild, user_id: int) -> discord.Member:
    member = guild.get_member(user_id)
    if member is None:
        raise UserFacingError("You aren't a member of that course server any more.")
    return member


# ---------------------------------------------------------------------- the offer form


class OfferForm(CohortModal):
    """What they can help with, a note (≤ 200), how many mentees, what mentees may see."""

    def __init__(self, guild_id: int, items: dict[str, str]) -> None:
        super().__init__(title="Be a mentor for the next cohort", timeout=900)
        self.guild_id = guild_id
        self.areas: discord.ui.Select[OfferForm] = discord.ui.Select(
            custom_id="mentor_areas",
            min_values=0,
            max_values=len(rules.HELP_AREAS),
            required=False,
            options=[discord.SelectOption(label=v, value=k) for k, v in rules.HELP_AREAS.items()],
        )
        self.add_item(discord.ui.Label(text="What can you help with?", component=self.areas))
        self.note: discord.ui.TextInput[OfferForm] = discord.ui.TextInput(
            label="Anything else (optional)",
            custom_id="mentor_note",
            required=False,
            max_length=rules.NOTE_LIMIT,
            style=discord.TextStyle.short,
        )
        self.add_item(self.note)
        self.capacity: discord.ui.Select[OfferForm] = discord.ui.Select(
            custom_id="mentor_capacity",
            options=[discord.SelectOption(label=str(n), value=str(n)) for n in (1, 2, 3)],
        )
        self.add_item(discord.ui.Label(text="How many mentees at once?", component=self.capacity))
        self.items: discord.ui.Select[OfferForm] | None = None
        if items:
            self.items = discord.ui.Select(
                custom_id="mentor_items",
                min_values=0,
                max_values=len(items),
                required=False,
                options=[
                    discord.SelectOption(
                        label=f"{ATTRIBUTE_LABELS[a]}: {value_label(a, v)}"[:100],  # type: ignore[index, arg-type]
                        value=a,
                    )
                    for a, v in items.items()
                ],
            )
            self.add_item(
                discord.ui.Label(
                    text="Profile items mentees may see",
                    description="Only these are used to suggest you; the rest stay private.",
                    component=self.items,
                )
            )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        guild = button_guild(interaction, self.guild_id)
        member = _member(guild, interaction.user.id)
        offer = await _service(interaction).save_offer(
            member,
            areas=list(self.areas.values),
            note=self.note.value,
            capacity=self.capacity.values[0] if self.capacity.values else "",
            items=list(self.items.values) if self.items is not None else [],
        )
        shown = ", ".join(ATTRIBUTE_LABELS[a] for a in offer.shown_items) or "none"  # type: ignore[index]
        await reply(
            interaction,
            "Thank you for offering to mentor! 🎓 You'll get a DM when a student asks "
            f"(at most {offer.capacity} at once). Mentees may see: {shown}. "
            "/mentor pause or /mentor stop at any time.",
        )


async def open_offer_form(interaction: discord.Interaction[Any]) -> None:
    member = member_of(interaction)
    service = _service(interaction)
    await service.require_alumni(member)
    items = await service.settable_items(member.guild.id, member.id)
    await interaction.response.send_modal(OfferForm(member.guild.id, items))


# ---------------------------------------------------------------------- persistent buttons


class BecomeMentorButton(CohortButton, template=r"cohortbot:mentors:offer:(?P<cohort_id>\d+)"):
    where = "button mentors offer"

    def __init__(self, cohort_id: int) -> None:
        self.cohort_id = cohort_id
        super().__init__(
            label=texts.OFFER_BUTTON,
            emoji="🎓",
            style=discord.ButtonStyle.primary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await open_offer_form(interaction)


class AskButton(
    CohortButton, template=r"cohortbot:mentors:ask:(?P<guild_id>\d+):(?P<mentor_id>\d+)"
):
    where = "button mentors ask"

    def __init__(self, guild_id: int, mentor_id: int, label: str = "Ask") -> None:
        self.guild_id, self.mentor_id = guild_id, mentor_id
        super().__init__(
            label=label[:80],
            style=discord.ButtonStyle.primary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        guild = button_guild(interaction, self.guild_id)
        student = _member(guild, interaction.user.id)
        try:
            text = await _service(interaction).ask(guild, student, self.mentor_id)
        except MentorFullError as full:
            await reply(interaction, str(full), view=_ask_view(guild.id, full.suggestions))
            return
        await reply(interaction, text)


def _ask_view(guild_id: int, suggestions: Sequence[Suggestion]) -> discord.ui.View | None:
    if not suggestions:
        return None
    view = discord.ui.View(timeout=600)
    for index, suggestion in enumerate(suggestions, start=1):
        view.add_item(AskButton(guild_id, suggestion.mentor_id, f"Ask {index}"))
    return view


class AnswerButton(
    CohortButton,
    template=r"cohortbot:mentors:(?P<answer>accept|decline):(?P<guild_id>\d+):(?P<request_id>\d+)",
):
    where = "button mentors answer"
    faces: ClassVar[ButtonFaces] = {
        "accept": ButtonFace("Accept", discord.ButtonStyle.success),
        "decline": ButtonFace("Decline", discord.ButtonStyle.secondary),
    }

    def __init__(self, answer: str, guild_id: int, request_id: int) -> None:
        self.answer, self.guild_id, self.request_id = answer, guild_id, request_id
        super().__init__(face=answer)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        guild = button_guild(interaction, self.guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await _service(interaction).answer(
            guild, self.request_id, interaction.user.id, self.answer == "accept"
        )
        await reply(interaction, text)


class PairReportButton(
    CohortButton, template=r"cohortbot:mentors:report:(?P<guild_id>\d+):(?P<request_id>\d+)"
):
    """Report to staff from a mentor thread: the coffee chats' report path (leads told)."""

    where = "button mentors report"

    def __init__(self, guild_id: int, request_id: int) -> None:
        self.guild_id, self.request_id = guild_id, request_id
        super().__init__(
            label="Report to staff",
            emoji="🚩",
            style=discord.ButtonStyle.secondary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        guild = button_guild(interaction, self.guild_id)
        pair = await _service(interaction).pair_for_click(
            guild.id, self.request_id, interaction.user.id
        )
        other = pair.mentor_id if interaction.user.id == pair.student_id else pair.student_id
        link = (
            f"https://discord.com/channels/{guild.id}/{pair.thread_id}" if pair.thread_id else None
        )
        answer = await interaction.client.app.services.get(MatchingService).report(
            guild,
            reporter_id=interaction.user.id,
            reported_id=other,
            group=None,
            link=link,
            rematch=False,
            avoid=False,
        )
        await reply(interaction, answer)


def request_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(
        AnswerButton("accept", int(args[0]), int(args[1])),
        AnswerButton("decline", int(args[0]), int(args[1])),
    )


def suggest_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(
        *(
            AskButton(int(args[0]), int(mentor), f"Ask {index}")
            for index, mentor in enumerate(args[1:], start=1)
        )
    )


def thread_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(PairReportButton(int(args[0]), int(args[1])))


# ---------------------------------------------------------------------- ephemeral views


class ChangeMentorView(CohortView):
    def __init__(self, guild_id: int, user_id: int) -> None:
        super().__init__(timeout=600)
        self.guild_id, self.user_id = guild_id, user_id

    @discord.ui.button(label="Find another mentor", style=discord.ButtonStyle.secondary)
    async def change(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild = button_guild(interaction, self.guild_id)
        member = _member(guild, interaction.user.id)
        result = await _service(interaction).change_mentor(guild, member)
        await send_find(interaction, guild, result, prefix="Your mentor pairing was closed. ")


async def send_find(
    interaction: discord.Interaction[Any],
    guild: discord.Guild,
    result: FindResult,
    prefix: str = "",
) -> None:
    service = _service(interaction)
    if result.note:
        prefix = f"{prefix}{result.note}\n"
    if result.current is not None:
        name = guild.get_member(result.current.mentor_id or 0)
        who = name.display_name if name else "your mentor"
        await reply(
            interaction,
            f"You already have a mentor: **{who}** 🎓. If it isn't working out, that's okay — "
            "you can find another one (they'll get a kind, private note that you've moved on).",
            view=ChangeMentorView(guild.id, interaction.user.id),
        )
        return
    if result.pending is not None:
        await reply(
            interaction,
            prefix + "You've asked a mentor and are waiting for their answer (at most 7 days).",
        )
        return
    text = prefix + (
        "🎓 **Alumni who could mentor you** (based only on what they chose to share):\n"
        if result.suggestions
        else ""
    )
    text += service.suggestion_text(result.suggestions)
    await reply(interaction, text, view=_ask_view(guild.id, result.suggestions))


class RoundPreview(CohortView):
    def __init__(self, cohort: Cohort, proposal: Assignment) -> None:
        super().__init__(timeout=900)
        self.cohort, self.proposal = cohort, proposal

    @discord.ui.button(label="Post these", style=discord.ButtonStyle.success)
    async def post(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild = member_of(interaction).guild
        await interaction.response.defer(ephemeral=True, thinking=True)
        made, skipped = await _service(interaction).post_round(
            guild, self.cohort, self.proposal.pairs
        )
        extra = f" {skipped} changed meanwhile and were skipped." if skipped else ""
        await reply(interaction, f"Posted {made} mentor pairs, each with a private thread.{extra}")
        self.stop()


# ---------------------------------------------------------------------- /course mentors


class CourseMentorsGroup(
    InstructorGroup, name="mentors", description="Alumni mentors: list, settings, rounds"
):
    @app_commands.command(name="list", description="Who mentors, their capacity, open pairs")
    async def list_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        lines = await _service(interaction).list_lines(guild)
        if len(lines) == 1:
            lines.insert(0, "No alumni have offered to mentor yet.")
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="settings", description="Mentors on/off, Alumni role, weekly cap")
    @cohort_option("Which cohort (default: the only one)")
    async def settings_command(
        self,
        interaction: discord.Interaction[CohortBot],
        enabled: bool | None = None,
        cohort: str | None = None,
        alumni_role: discord.Role | None = None,
        requests_per_week: app_commands.Range[int, 1, 20] | None = None,
    ) -> None:
        """
        Args:
            enabled: May this cohort's students find mentors
            alumni_role: Role given to alumni who offer to mentor
            requests_per_week: Most requests a mentor gets a week (1-20)
        """
        guild = await configured_guild(interaction)
        app = interaction.client.app
        service = _service(interaction)
        if alumni_role is not None and (alumni_role.is_default() or alumni_role.managed):
            raise UserFacingError("Pick a normal role, not @everyone or a bot's own role.")
        current = await service.settings(guild.id)
        await service.save_settings(
            MentorGuildSettings(
                guild.id,
                alumni_role.id if alumni_role else current.alumni_role_id,
                requests_per_week or current.requests_per_week,
            )
        )
        lines = []
        if enabled is not None:
            target = await app.guild_settings.resolve_cohort(guild.id, cohort)
            await service.store.set_cohort_enabled(guild.id, target.cohort_id, enabled)
            lines.append(f"Mentors for **{target.name}**: {'on' if enabled else 'off'}.")
        saved = await service.settings(guild.id)
        role = f"<@&{saved.alumni_role_id}>" if saved.alumni_role_id else "none"
        lines.append(f"Alumni role: {role}. Requests per mentor a week: {saved.requests_per_week}.")
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="round", description="Pair every waiting student with a mentor")
    @cohort_option("Which cohort (default: the only one)")
    async def round_command(
        self, interaction: discord.Interaction[CohortBot], cohort: str | None = None
    ) -> None:
        guild, target = await chosen_cohort(interaction, cohort, configured=True)
        await interaction.response.defer(ephemeral=True, thinking=True)
        proposal = await _service(interaction).propose_round(guild, target)
        if not proposal.pairs:
            left = len(proposal.unassigned)
            await reply(
                interaction,
                f"Nobody to pair: {left} students waiting and no mentor places they can take."
                if left
                else "No students of this cohort are waiting for a mentor.",
            )
            return

        def name(user_id: int) -> str:
            member = guild.get_member(user_id)
            return member.display_name if member else str(user_id)

        lines = [f"**Mentor round preview — {target.name}**"]
        lines += [f"• {name(s)} → {name(m)}" for s, m in proposal.pairs]
        if proposal.unassigned:
            lines.append(
                "No place for: "
                + ", ".join(name(u) for u in proposal.unassigned)
                + " (capacities, avoids or blocks)."
            )
        await reply(interaction, "\n".join(lines), view=RoundPreview(target, proposal))


# ---------------------------------------------------------------------- the cog


class MentorsCog(FeatureCog):
    mentor = app_commands.Group(
        name="mentor", description="Alumni mentors for new students", guild_only=True
    )

    buttons = (BecomeMentorButton, AskButton, AnswerButton, PairReportButton)
    outbox_views = (
        (VIEW_REQUEST, request_view),
        (VIEW_SUGGEST, suggest_view),
        (VIEW_THREAD, thread_view),
    )

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self.course_group = CourseMentorsGroup()

    async def cog_load(self) -> None:
        await super().cog_load()
        service = self.app.services.get(MentorService)
        service.attach(self.bot)
        self.app.scheduler.add_tick_hook("mentors", service.tick)
        term = self.app.services.get(TermService)
        if not any(line == texts.THANKS_OFFER_LINE for line, _ in term.thanks_offers):
            term.register_thanks_offer(texts.THANKS_OFFER_LINE, BecomeMentorButton)

    async def cog_unload(self) -> None:
        await super().cog_unload()
        self.app.services.get(MentorService).attach(None)

    @mentor.command(name="offer", description="Offer to mentor a student of the next cohort")
    async def offer_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        await open_offer_form(interaction)

    @mentor.command(name="find", description="Find an alumna or alumnus to mentor you (private)")
    async def find_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await _service(interaction).find(member.guild, member)
        await send_find(interaction, member.guild, result)

    @mentor.command(name="requests", description="Requests waiting for your answer (mentors)")
    async def requests_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        service = _service(interaction)
        pending = await service.pending_for_mentor(member.guild.id, member.id)
        if not pending:
            await reply(interaction, "No requests are waiting for your answer.")
            return
        for request in pending[:5]:
            student = member.guild.get_member(request.student_id or 0)
            name = student.display_name if student else "A student"
            await reply(
                interaction,
                f"🎓 **{name}** would like you as their mentor.",
                view=request_view((str(member.guild.id), str(request.request_id))),
            )

    @mentor.command(name="pause", description="Pause: no new requests until you offer again")
    async def pause_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        changed = await _service(interaction).pause(member.guild.id, member.id)
        await reply(
            interaction,
            "Paused: you won't be suggested to new students. Your current mentees stay. "
            "Run /mentor offer to start again."
            if changed
            else "You're already paused. Run /mentor offer to start again.",
        )

    @mentor.command(name="stop", description="Stop mentoring (open requests are closed)")
    async def stop_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        closed = await _service(interaction).stop(member.guild, member.id)
        await reply(
            interaction,
            "You've stopped mentoring — thank you for your help! 💛 Your offer and the profile "
            f"items you chose to show were deleted. {closed} open requests or pairs were closed "
            "(students are only told you're busy this term).",
        )

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        guild = self.bot.get_guild(payload.guild_id)
        if guild is None:
            return
        try:
            await self.app.services.get(MentorService).member_left(guild, payload.user.id)
        except Exception:
            log.exception("mentors: departure of a member failed (guild %s)", payload.guild_id)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(MentorsCog(bot))
