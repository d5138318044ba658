"""/nudges on|off|status and /away start|end for students; the nudge
engine's tick run here (started in cog_load, stopped cleanly when the bot closes).

Persistent buttons (custom ids are only lookup keys; the clicker is always checked):
``cohortbot:nudges:offer:yes|no:<guild>`` (the one-time opt-in offer),
``cohortbot:nudges:stop:<guild>`` (under a nudge DM) and ``cohortbot:term:kit:<cohort>``
("Keep in touch" under the close-term thank-you).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import discord
from discord import app_commands

from bot.backoff import FailureBackoff
from bot.client import CohortBot
from bot.command_kit import FeatureCog, persistent_view
from bot.commands import member_of
from bot.errors import UserFacingError
from bot.text import TextError, clean_user_text, quote_input
from bot.ui import ButtonFace, ButtonFaces, CohortButton, CohortModal, reply
from cogs.course import TermService
from cogs.nudges.service import NudgeEngine

log = logging.getLogger("cogs.nudges.cog")

ENGINE_TICK_SECONDS = 60.0
MAX_AWAY_DAYS = 180


def _guild_member(interaction: discord.Interaction[CohortBot], guild_id: int) -> discord.Member:
    """The clicker as a member of ``guild_id`` (buttons in DMs carry no guild)."""
    if interaction.guild_id is not None and interaction.guild_id != guild_id:
        raise UserFacingError("That button belongs to another server.")
    guild = interaction.client.get_guild(guild_id)
    member = guild.get_member(interaction.user.id) if guild else None
    if member is None:
        raise UserFacingError("You're not a member of that course server any more.")
    return member


# ---------------------------------------------------------------------- buttons


class OptInOfferButton(
    CohortButton, template=r"cohortbot:nudges:offer:(?P<choice>yes|no):(?P<guild_id>[0-9]+)"
):
    """The one-time offer after an intro: "Yes, remind me" / "No thanks"."""

    where = "button nudges:offer"
    faces: ClassVar[ButtonFaces] = {
        "yes": ButtonFace("Yes, remind me", discord.ButtonStyle.success),
        "no": ButtonFace("No thanks", discord.ButtonStyle.secondary),
    }

    def __init__(self, choice: str, guild_id: int) -> None:
        self.choice = choice
        self.guild_id = guild_id
        super().__init__(face=choice)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        member = _guild_member(interaction, self.guild_id)
        app = interaction.client.app
        on = self.choice == "yes"
        await app.services.get(NudgeEngine).set_opt_in(member.guild.id, member.id, on)
        settings = await app.services.get(NudgeEngine).settings(member.guild.id)
        text = await app.templates.render(
            member.guild.id,
            "nudges_on" if on else "nudges_off",
            cap=str(settings.weekly_cap),
            quiet=settings.quiet.label(),
        )
        await interaction.response.edit_message(content=text, view=None)


def offer_view(guild_id: int) -> discord.ui.View:
    return persistent_view(OptInOfferButton("yes", guild_id), OptInOfferButton("no", guild_id))


class StopRemindersButton(CohortButton, template=r"cohortbot:nudges:stop:(?P<guild_id>[0-9]+)"):
    """Under every nudge DM: turns the clicker's reminders off for that server."""

    where = "button nudges:stop"

    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        super().__init__(
            label="Stop these reminders",
            style=discord.ButtonStyle.secondary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        member = _guild_member(interaction, self.guild_id)
        app = interaction.client.app
        await app.services.get(NudgeEngine).set_opt_in(member.guild.id, member.id, False)
        text = await app.templates.render(member.guild.id, "nudges_off")
        await reply(interaction, text)


def stop_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(StopRemindersButton(int(args[0])))


class KeepInTouchModal(CohortModal):
    def __init__(self, cohort_id: int) -> None:
        super().__init__(title="Keep in touch")
        self.cohort_id = cohort_id
        self.contact: discord.ui.TextInput[KeepInTouchModal] = discord.ui.TextInput(
            label="How classmates can reach you",
            placeholder="e.g. amara@example.com, or LinkedIn: /in/amara",
            max_length=200,
        )
        self.add_item(self.contact)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        app = interaction.client.app
        await _require_cohort_student(interaction, member, self.cohort_id)
        try:
            line = clean_user_text(self.contact.value, field="Your contact line", limit=200)
        except TextError as error:
            raise UserFacingError(f"{error} Nothing was saved.") from error
        connected = await app.services.get(TermService).keep_in_touch_opt_in(
            member.guild, self.cohort_id, member.id, line
        )
        more = (
            f" You're now connected with {connected} classmate(s): check your DMs."
            if connected
            else " You'll get a DM when a classmate opts in too."
        )
        await reply(interaction, "Saved — only classmates who also opt in will see it." + more)


async def _require_cohort_student(
    interaction: discord.Interaction[Any], member: discord.Member, cohort_id: int
) -> None:
    cohorts = await interaction.client.app.roster.cohorts_of(member)
    if not any(c.cohort_id == cohort_id for c in cohorts):
        raise UserFacingError("This is for the students of that cohort.")


class KeepInTouchButton(CohortButton, template=r"cohortbot:term:kit:(?P<cohort_id>[0-9]+)"):
    where = "button term:kit"

    def __init__(self, cohort_id: int) -> None:
        self.cohort_id = cohort_id
        super().__init__(
            label="Keep in touch",
            style=discord.ButtonStyle.primary,
        )

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        await _require_cohort_student(interaction, member, self.cohort_id)
        await interaction.response.send_modal(KeepInTouchModal(self.cohort_id))


def keep_in_touch_view(args: tuple[str, ...]) -> discord.ui.View:
    return persistent_view(KeepInTouchButton(int(args[0])))


# ---------------------------------------------------------------------- the cog


async def _kind_autocomplete(
    interaction: discord.Interaction[CohortBot], current: str
) -> list[app_commands.Choice[str]]:
    kinds = interaction.client.app.services.get(NudgeEngine).kinds
    return [
        app_commands.Choice(name=f"{k.name} — {k.description}"[:100], value=k.name)
        for k in kinds.values()
        if current.casefold() in k.name.casefold()
    ][:25]


def parse_future_date(text: str, today: date) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UserFacingError(
            f"{quote_input(text)} isn't a date. Write it as YYYY-MM-DD, e.g. "
            f"{(today + timedelta(days=7)).isoformat()}. Nothing was changed."
        ) from exc
    if day < today:
        raise UserFacingError("That date has already passed. Nothing was changed.")
    if day > today + timedelta(days=MAX_AWAY_DAYS):
        raise UserFacingError(
            f"Pick a date within {MAX_AWAY_DAYS} days; you can always extend it later."
        )
    return day


class NudgesCog(FeatureCog):
    nudges = app_commands.Group(
        name="nudges",
        description="Gentle reminders by DM (off unless you turn them on)",
        guild_only=True,
    )
    away = app_commands.Group(
        name="away", description="Pause reminders and matching while you're away", guild_only=True
    )

    buttons = (OptInOfferButton, StopRemindersButton, KeepInTouchButton)
    outbox_views = (("nudges:stop", stop_view),)

    def __init__(self, bot: CohortBot) -> None:
        super().__init__(bot)
        self._tick: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        await super().cog_load()
        # A bound method: registered here, not in outbox_views.
        self.app.outbox.register_view("term:keep-in-touch", self._thanks_view)
        self.app.outbox.on_pause(self._tell_instructor_paused)
        self.app.services.get(NudgeEngine).attach(self.bot.get_guild, offer_view)
        if not getattr(self.bot, "_start_services", True):
            return
        self._tick = asyncio.create_task(self._engine_tick(), name="nudge-engine-tick")

    def _thanks_view(self, args: tuple[str, ...]) -> discord.ui.View:
        # The close-term thank-you: keep in touch, plus what other features offer there.
        view = keep_in_touch_view(args)
        term = self.app.services.find(TermService)
        for _, item in term.thanks_offers if term is not None else ():
            view.add_item(item(int(args[0])))
        return view

    async def cog_unload(self) -> None:
        await super().cog_unload()
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick
            self._tick = None

    async def _engine_tick(self) -> None:
        await self.bot.wait_until_ready()
        # A lasting failure (a full disk) is logged once, not every minute.
        errors = FailureBackoff(
            log, "Nudge engine tick", base=ENGINE_TICK_SECONDS, cap=ENGINE_TICK_SECONDS
        )
        while True:
            try:
                await self.app.services.get(NudgeEngine).run_due()
            except Exception:
                errors.failed()
            else:
                errors.succeeded()
            await asyncio.sleep(ENGINE_TICK_SECONDS)

    async def _tell_instructor_paused(
        self, guild_id: int, channel_id: int | None, reason: str
    ) -> None:
        config = await self.app.guild_settings.config(guild_id)
        if config is None or config.leads_channel_id is None:
            return
        channel = self.bot.get_channel(config.leads_channel_id)
        if not isinstance(channel, discord.TextChannel):
            return
        text = await self.app.templates.render(
            guild_id,
            "outbox_paused_notice",
            reason=reason,
            channel=f"<#{channel_id}>" if channel_id else "a channel",
        )
        try:
            await channel.send(text)
        except discord.HTTPException as exc:
            # /course status still shows the pause.
            log.warning("Could not tell guild %s about the paused sending: %s", guild_id, exc)

    # ----- /nudges

    @nudges.command(name="on", description="Turn on gentle reminders by DM (all kinds, or one)")
    @app_commands.autocomplete(kind=_kind_autocomplete)
    async def nudges_on(
        self, interaction: discord.Interaction[CohortBot], kind: str | None = None
    ) -> None:
        """
        Args:
            kind: Only this kind of reminder (all kinds if empty)
        """
        await self._set(interaction, True, kind)

    @nudges.command(name="off", description="Turn reminders off (all kinds, or one)")
    @app_commands.autocomplete(kind=_kind_autocomplete)
    async def nudges_off(
        self, interaction: discord.Interaction[CohortBot], kind: str | None = None
    ) -> None:
        """
        Args:
            kind: Only this kind of reminder (all kinds if empty)
        """
        await self._set(interaction, False, kind)

    async def _set(
        self, interaction: discord.Interaction[CohortBot], on: bool, kind: str | None
    ) -> None:
        member = member_of(interaction)
        await self.app.guild_settings.require_config(member.guild.id, member.guild.name)
        kinds = None
        if kind is not None:
            if kind not in self.app.services.get(NudgeEngine).kinds:
                raise UserFacingError(f"There's no reminder called {quote_input(kind)}. Pick one.")
            kinds = [kind]
        await self.app.services.get(NudgeEngine).set_opt_in(member.guild.id, member.id, on, kinds)
        settings = await self.app.services.get(NudgeEngine).settings(member.guild.id)
        text = await self.app.templates.render(
            member.guild.id,
            "nudges_on" if on else "nudges_off",
            cap=str(settings.weekly_cap),
            quiet=settings.quiet.label(),
        )
        if kind is not None:
            text = f"({kind}) {text}"
        await reply(interaction, text)

    @nudges.command(name="status", description="Which reminders you get")
    async def nudges_status(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        opt = await self.app.services.get(NudgeEngine).opt_ins(member.guild.id, member.id)
        kinds = self.app.services.get(NudgeEngine).kinds
        lines = [
            f"{'✅ on ' if opt.get(name) else '⬜ off'} — **{name}**: {kind.description}"
            for name, kind in kinds.items()
        ]
        settings = await self.app.services.get(NudgeEngine).settings(member.guild.id)
        lines.append(
            f"At most {settings.weekly_cap} a week, never during quiet hours "
            f"({settings.quiet.label()} your time)."
        )
        if member.id in await self.app.services.get(NudgeEngine).dm_closed_users(member.guild.id):
            lines.append(
                "I couldn't DM you last time (your DMs from server members are closed). "
                "/nudges on again after opening them."
            )
        if await self.app.away.is_away(member.guild.id, member.id, self.app.clock.now()):
            lines.append("You're marked away: no reminders until you're back.")
        await reply(interaction, "\n".join(lines))

    # ----- /away

    @away.command(name="start", description="Pause reminders and matching until a date")
    async def away_start(
        self,
        interaction: discord.Interaction[CohortBot],
        until: app_commands.Range[str, 1, 30],
        note: app_commands.Range[str, 0, 200] | None = None,
    ) -> None:
        """
        Args:
            until: The last day you're away, YYYY-MM-DD
            note: Optional, only for you and your leads (e.g. 'family matters')
        """
        member = member_of(interaction)
        guild = member.guild
        await self.app.guild_settings.require_config(guild.id, guild.name)
        zone = ZoneInfo(await self.app.calendar.timezone(guild.id))
        today = self.app.clock.now().astimezone(zone).date()
        day = parse_future_date(until, today)
        cleaned = None
        if note is not None and note.strip():
            try:
                cleaned = clean_user_text(note, field="The note", limit=200)
            except TextError as error:
                raise UserFacingError(f"{error} Nothing was changed.") from error
        await self.app.services.get(NudgeEngine).start_away(guild.id, member.id, day, cleaned)
        text = await self.app.templates.render(
            guild.id, "away_confirm", until=day.strftime("%A %d %B %Y"), name=member.display_name
        )
        await reply(interaction, text)

    @away.command(name="end", description="You're back: reminders and matching resume")
    async def away_end(self, interaction: discord.Interaction[CohortBot]) -> None:
        member = member_of(interaction)
        record = await self.app.away.repository.end(member.guild.id, member.id)
        if record is None:
            await reply(interaction, "You weren't marked away — nothing to change.")
            return
        text = await self.app.templates.render(
            member.guild.id,
            "away_welcome_back",
            name=member.display_name,
            course=member.guild.name,
        )
        await reply(interaction, text)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(NudgesCog(bot))
