"""/course calendar set|show, /course nudge preview|settings|send-now|resume,
/course upcoming and /course close-term (instructors; checked at run time, again on clicks).

Persistent components: ``cohortbot:upcoming:pick`` (choose an item), and
``cohortbot:upcoming:skip|edit:<key>``, ``cohortbot:term:close:<cohort>``; each reloads what it
acts on and checks the clicker is an instructor.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import (
    CalendarError,
    CalendarSpec,
    QuietHours,
    describe_week,
    parse_date_list,
    week_starts,
)
from bot.client import CohortBot
from bot.command_kit import chosen_cohort, configured_guild, persistent_view, reply_lines
from bot.commands import (
    DAY_CHOICES,
    InstructorGroup,
    TimeOfDay,
    attach_to_course,
    cohort_autocomplete,
    cohort_option,
    detach_from_course,
    member_of,
    require_instructor,
)
from bot.errors import UserFacingError
from bot.schedule_math import WEEKDAY_NAMES
from bot.store.guilds import Cohort
from bot.text import (
    TextError,
    chunk_lines,
    clean_user_text,
    discord_time,
    quote_input,
    shorten,
    validate_template,
)
from bot.ui import ButtonFace, ButtonFaces, CohortButton, CohortModal, reply, report_error
from bot.upcoming import UpcomingItem
from cogs.course.term import TermService
from cogs.nudges import REASON_TEXT, NudgeEngine
from cogs.privacy import PrivacyService

log = logging.getLogger("cogs.course.calendar_cog")

WEEKDAYS = WEEKDAY_NAMES


# ---------------------------------------------------------------------- /course calendar


class CalendarGroup(
    InstructorGroup, name="calendar", description="The course calendar: weeks and breaks"
):
    @app_commands.command(name="set", description="Set a cohort's start date, weeks and breaks")
    @cohort_option("Which cohort (only needed when there are several)")
    async def set_command(
        self,
        interaction: discord.Interaction[CohortBot],
        start: app_commands.Range[str, 1, 20],
        weeks: app_commands.Range[int, 1, 52],
        breaks: app_commands.Range[str, 0, 300] | None = None,
        cohort: str | None = None,
    ) -> None:
        """
        Args:
            start: First day of course week 1, YYYY-MM-DD (course time zone)
            weeks: Number of teaching weeks (breaks not counted)
            breaks: Break weeks: any day in each, YYYY-MM-DD, separated by commas
        """
        guild, found = await chosen_cohort(interaction, cohort, configured=True)
        app = interaction.client.app
        try:
            (start_day,) = parse_date_list(start) or (None,)
            if start_day is None:
                raise CalendarError("Write the start date as YYYY-MM-DD.")
            spec = CalendarSpec(
                start_day, weeks, await app.calendar.timezone(guild.id), parse_date_list(breaks)
            )
        except ValueError as error:
            raise UserFacingError(f"{error} Nothing was changed.") from error
        await app.calendar.save(guild.id, found.cohort_id, spec, app.clock.now())
        await reply(interaction, await render_calendar(interaction, found.cohort_id, "Saved."))

    @app_commands.command(name="show", description="Show a cohort's calendar and today's week")
    @cohort_option()
    async def show_command(
        self, interaction: discord.Interaction[CohortBot], cohort: str | None = None
    ) -> None:
        _, found = await chosen_cohort(interaction, cohort)
        await reply(interaction, await render_calendar(interaction, found.cohort_id, ""))


async def render_calendar(
    interaction: discord.Interaction[CohortBot], cohort_id: int, heading: str
) -> str:
    app = interaction.client.app
    guild = member_of(interaction).guild
    record = await app.calendar.record(guild.id, cohort_id)
    if record is None:
        return "No calendar yet: /course calendar set start:YYYY-MM-DD weeks:N"
    zone = await app.calendar.timezone(guild.id)
    spec = record.spec(zone)
    now = app.clock.now()
    today = await app.calendar.week_of(guild.id, cohort_id, now)
    lines = [
        heading,
        f"Calendar ({zone}): {spec.weeks} course weeks from {spec.start.isoformat()}, "
        f"{len(spec.break_weeks)} break week(s). Today: **{describe_week(today)}**.",
    ]
    for monday, status in week_starts(spec):
        label = "break" if status.state == "break" else f"week {status.number}"
        lines.append(f"• {monday.isoformat()} — {label}")
    return shorten("\n".join(line for line in lines if line), 2000)


# ---------------------------------------------------------------------- /course nudge


async def kind_autocomplete(
    interaction: discord.Interaction[CohortBot], current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=f"{k.name} — {k.description}"[:100], value=k.name)
        for k in interaction.client.app.services.get(NudgeEngine).kinds.values()
        if current.casefold() in k.name.casefold()
    ][:25]


def _kind_or_error(interaction: discord.Interaction[CohortBot], kind: str) -> str:
    if kind not in interaction.client.app.services.get(NudgeEngine).kinds:
        names = ", ".join(interaction.client.app.services.get(NudgeEngine).kinds)
        raise UserFacingError(f"There's no nudge kind {quote_input(kind)}. Kinds: {names}.")
    return kind


class NudgeGroup(
    InstructorGroup, name="nudge", description="Reminders by DM: preview, settings, send"
):
    @app_commands.command(name="preview", description="Who would be nudged this week, and why")
    @app_commands.autocomplete(kind=kind_autocomplete)
    @cohort_option()
    async def preview_command(
        self,
        interaction: discord.Interaction[CohortBot],
        kind: str = "checkin",
        cohort: str | None = None,
    ) -> None:
        _kind_or_error(interaction, kind)
        guild, found = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await app.services.get(NudgeEngine).evaluate(
            guild, found, kind, app.clock.now(), queue=False
        )
        lines = [f"**{kind}** nudges for {found.name} — {describe_week(result.week)}."]
        sending = [line for line in result.lines if line.decision == "send"]
        if sending:
            lines.append(f"Would be nudged ({len(sending)}):")
            lines.extend(f"• {line.name} — {line.reason}" for line in sending)
        else:
            lines.append("Nobody would be nudged right now.")
        closed = [line for line in result.lines if line.decision == "dm_closed"]
        if closed:
            lines.append("DMs closed (no DM, nothing public; maybe reach out another way):")
            lines.extend(f"• {line.name} — {line.reason}" for line in closed)
        skipped: dict[str, int] = {}
        for line in result.lines:
            if line.decision not in ("send", "dm_closed"):
                skipped[line.decision] = skipped.get(line.decision, 0) + 1
        for decision, count in sorted(skipped.items()):
            lines.append(f"Not nudged — {REASON_TEXT[decision]}: {count}")
        await reply_lines(interaction, lines)

    @app_commands.command(name="settings", description="Nudge kinds, cap and quiet hours")
    @app_commands.choices(checkin_day=DAY_CHOICES)
    @app_commands.autocomplete(kind=kind_autocomplete)
    async def settings_command(
        self,
        interaction: discord.Interaction[CohortBot],
        kind: str | None = None,
        enabled: bool | None = None,
        weekly_cap: app_commands.Range[int, 0, 14] | None = None,
        quiet_start: TimeOfDay | None = None,
        quiet_end: TimeOfDay | None = None,
        inactive_days: app_commands.Range[int, 1, 60] | None = None,
        checkin_day: int | None = None,
        batch_time: TimeOfDay | None = None,
    ) -> None:
        """
        Args:
            kind: A kind to switch on or off (with enabled)
            enabled: Switch that kind on or off
            weekly_cap: At most this many nudges per student per course week (all kinds)
            quiet_start: Quiet hours start, HH:MM in each student's time zone
            quiet_end: Quiet hours end, HH:MM
            inactive_days: Check-in after this many days without activity
            checkin_day: The weekday of the check-in batch
            batch_time: When each day's nudges are queued, HH:MM course time
        """
        guild = await configured_guild(interaction)
        app = interaction.client.app
        if (kind is None) != (enabled is None):
            raise UserFacingError("Give both kind and enabled to switch a kind. Nothing changed.")
        current = await app.services.get(NudgeEngine).settings(guild.id)
        quiet = QuietHours(quiet_start or current.quiet.start, quiet_end or current.quiet.end)
        batch_at = batch_time or current.batch_time
        if kind is not None and enabled is not None:
            await app.services.get(NudgeEngine).store.set_kind_enabled(
                guild.id, _kind_or_error(interaction, kind), enabled
            )
        updated = type(current)(
            guild_id=guild.id,
            weekly_cap=current.weekly_cap if weekly_cap is None else weekly_cap,
            quiet=quiet,
            inactive_days=current.inactive_days if inactive_days is None else inactive_days,
            checkin_day=current.checkin_day if checkin_day is None else checkin_day,
            batch_time=batch_at,
        )
        if updated != current:
            await app.services.get(NudgeEngine).save_settings(updated)
        switches = await app.services.get(NudgeEngine).enabled_kinds(guild.id)
        lines = [
            "Nudge settings:",
            f"• Weekly cap per student: {updated.weekly_cap}",
            f"• Quiet hours (each student's time): {updated.quiet.label()}",
            f"• Check-in after {updated.inactive_days} days without activity, batch on "
            f"{WEEKDAYS[updated.checkin_day]}s at {updated.batch_time.strftime('%H:%M')} "
            "course time",
            *(f"• {name}: {'on' if on else 'off'}" for name, on in switches.items()),
            "Students only get nudges they opted in to (/nudges on).",
        ]
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="send-now", description="Queue this week's nudges of a kind now")
    @app_commands.autocomplete(kind=kind_autocomplete)
    @cohort_option()
    async def send_now_command(
        self, interaction: discord.Interaction[CohortBot], kind: str, cohort: str | None = None
    ) -> None:
        _kind_or_error(interaction, kind)
        guild, found = await chosen_cohort(interaction, cohort)
        app = interaction.client.app
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await app.services.get(NudgeEngine).send_now(guild, found, kind)
        if not result.week.running:
            await reply(
                interaction,
                f"Nothing queued: {found.name} is {describe_week(result.week)}.",
            )
            return
        await reply(
            interaction,
            f"Queued {result.queued} **{kind}** nudge(s) for {found.name} "
            f"({result.count('already_queued')} already had one this week). They go out "
            "outside each student's quiet hours.",
        )

    @app_commands.command(name="resume", description="Resume sending after fixing a permission")
    async def resume_command(self, interaction: discord.Interaction[CohortBot]) -> None:
        guild = member_of(interaction).guild
        app = interaction.client.app
        resumed = await app.outbox.resume(guild.id)
        await reply(
            interaction,
            "Sending resumed: queued messages go out now." if resumed else "Sending wasn't paused.",
        )


# ---------------------------------------------------------------------- /course upcoming


class UpcomingPick(discord.ui.Select["UpcomingPickView"]):
    def __init__(self, items: list[UpcomingItem]) -> None:
        options = [
            discord.SelectOption(
                label=shorten(f"{item.when:%a %d %b %H:%M} UTC — {item.kind}", 100),
                value=item.key,
                description=shorten(item.preview.replace("\n", " ") or "—", 100),
            )
            for item in items[:25]
        ]
        super().__init__(
            custom_id="cohortbot:upcoming:pick",
            placeholder="Pick one to skip or edit…",
            options=options or [discord.SelectOption(label="nothing", value="-")],
        )

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await require_instructor(interaction)
            guild = member_of(interaction).guild
            app = interaction.client.app
            item = await app.upcoming.find(guild.id, self.values[0])
            if item is None:
                raise UserFacingError("That item isn't upcoming any more. Run /course upcoming.")
            view = discord.ui.View(timeout=None)
            if item.skip is not None:
                view.add_item(UpcomingButton("skip", item.key))
            if item.edit is not None:
                view.add_item(UpcomingButton("edit", item.key))
            await reply(interaction, describe_item(item, full=True), view=view)
        except Exception as error:
            await report_error(interaction, error, where="select upcoming:pick")


class UpcomingPickView(discord.ui.View):
    """Persistent (registered once with an empty option list; Discord sends the value)."""

    def __init__(self, items: list[UpcomingItem] | None = None) -> None:
        super().__init__(timeout=None)
        self.add_item(UpcomingPick(items or []))


def describe_item(item: UpcomingItem, *, full: bool = False) -> str:
    preview = item.preview if full else shorten(item.preview.replace("\n", " "), 120)
    detail = f" — {item.detail}" if item.detail else ""
    when = f"{discord_time(item.when)} ({discord_time(item.when, 'R')})"
    return f"**{item.kind}** {when}{detail}\n> {shorten(preview, 1500)}"


class UpcomingEditModal(CohortModal):
    def __init__(self, key: str, current: str) -> None:
        super().__init__(title="Edit this occasion's text")
        self.key = key
        self.body: discord.ui.TextInput[UpcomingEditModal] = discord.ui.TextInput(
            label="Text (this one time only)",
            style=discord.TextStyle.paragraph,
            default=current[:1800],
            max_length=1800,
        )
        self.add_item(self.body)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        member = member_of(interaction)
        await require_instructor(interaction)
        app = interaction.client.app
        item = await app.upcoming.find(member.guild.id, self.key)
        if item is None or item.edit is None:
            raise UserFacingError("That item isn't upcoming any more. Your text was not saved.")
        text = self.body.value
        template_key = _template_key_of(app, item)
        try:
            if template_key is not None:
                text = validate_template(app.templates.spec(template_key), text)
            else:
                text = clean_user_text(text, field="The text", limit=1800)
        except TextError as error:
            raise UserFacingError(f"{error} Your text was not saved.") from error
        await item.edit(text, member.id)
        await reply(interaction, f"Saved for this one occasion:\n> {shorten(text, 1800)}")


def _template_key_of(app: Any, item: UpcomingItem) -> str | None:
    # Nudge batches are templates with placeholders; validate them like /course text edit.
    parts = item.key.split(":")
    if parts[0] == "nudge" and len(parts) >= 3 and parts[2] in app.services.get(NudgeEngine).kinds:
        return str(app.services.get(NudgeEngine).kinds[parts[2]].template_key)
    return None


class UpcomingButton(
    CohortButton, template=r"cohortbot:upcoming:(?P<action>skip|edit):(?P<key>.+)"
):
    where = "button upcoming"
    faces: ClassVar[ButtonFaces] = {
        "skip": ButtonFace("Skip this one", discord.ButtonStyle.danger),
        "edit": ButtonFace("Edit its text", discord.ButtonStyle.primary),
    }

    def __init__(self, action: str, key: str) -> None:
        self.action = action
        self.key = key
        super().__init__(face=action)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await require_instructor(interaction)
        member = member_of(interaction)
        app = interaction.client.app
        item = await app.upcoming.find(member.guild.id, self.key)
        if item is None:
            raise UserFacingError("That item isn't upcoming any more. Run /course upcoming.")
        if self.action == "skip":
            if item.skip is None:
                raise UserFacingError("That one can't be skipped.")
            await item.skip(member.id)
            log.info("Upcoming %s skipped in guild %s by %s", item.key, member.guild.id, member.id)
            await reply(interaction, f"Skipped: {item.kind} {discord_time(item.when)}.")
            return
        if item.edit is None:
            raise UserFacingError("That one's text can't be edited.")
        await interaction.response.send_modal(
            UpcomingEditModal(item.key, item.current_text or item.preview)
        )


async def upcoming_callback(
    interaction: discord.Interaction[CohortBot], days: app_commands.Range[int, 1, 30] = 7
) -> None:
    await require_instructor(interaction)
    guild = await configured_guild(interaction)
    app = interaction.client.app
    await interaction.response.defer(ephemeral=True, thinking=True)
    now = app.clock.now()
    items = await app.upcoming.items(guild.id, now, now + timedelta(days=days))
    if not items:
        await reply(interaction, f"Nothing is scheduled for the next {days} day(s).")
        return
    lines = [describe_item(item) for item in items]
    header = f"Coming up in the next {days} day(s) ({len(items)}):"
    # One embed per message keeps each under Discord's 6000-character total.
    chunks = chunk_lines([header, *lines], 4000)
    for chunk in chunks:
        await reply(interaction, embed=discord.Embed(description=chunk))
    # A select holds 25 options: every item gets one, across as many pickers as needed.
    for start in range(0, len(items), 25):
        batch = items[start : start + 25]
        label = f"Skip or edit one of items {start + 1}–{start + len(batch)}:"
        await reply(interaction, label, view=UpcomingPickView(batch))


# ---------------------------------------------------------------------- /course close-term


class CloseTermButton(
    CohortButton, template=r"cohortbot:term:(?P<action>close|keep):(?P<cohort_id>[0-9]+)"
):
    where = "button term:close"
    faces: ClassVar[ButtonFaces] = {
        "close": ButtonFace("Close the term", discord.ButtonStyle.danger),
        "keep": ButtonFace("Cancel", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, cohort_id: int) -> None:
        self.action = action
        self.cohort_id = cohort_id
        super().__init__(face=action)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await require_instructor(interaction)
        guild = member_of(interaction).guild
        app = interaction.client.app
        if self.action == "keep":
            await interaction.response.edit_message(content="Nothing was closed.", view=None)
            return
        cohort = await app.cohorts.get(guild.id, self.cohort_id)
        if cohort is None:
            raise UserFacingError("That cohort no longer exists.")
        await interaction.response.edit_message(
            content=f"Closing the term for {cohort.name}…", view=None
        )
        await app.activity_recorder.flush()  # the CSV counts the latest activity too
        report = await app.services.get(TermService).close(guild, cohort)
        log.info("Term closed for cohort %s in guild %s", cohort.cohort_id, guild.id)
        await reply(
            interaction,
            shorten("\n".join(report.lines), 2000),
            files=[discord.File(io.BytesIO(report.csv_bytes), filename=report.csv_name)],
        )


async def close_term_callback(
    interaction: discord.Interaction[CohortBot], cohort: str | None = None
) -> None:
    await require_instructor(interaction)
    _, found = await chosen_cohort(interaction, cohort)
    view = persistent_view(
        CloseTermButton("close", found.cohort_id), CloseTermButton("keep", found.cohort_id)
    )
    await reply(
        interaction,
        f"Close the term for **{found.name}**? This posts a thank-you in the coffee shop, sends "
        "the final digest, stops matching and nudges for the cohort, exports a participation "
        "CSV for you, offers students a “keep in touch” opt-in and archives the course threads. "
        "Settings are kept for the next cohort.",
        view=view,
    )


class CalendarCog(commands.Cog):
    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.calendar_group = CalendarGroup()
        self.nudge_group = NudgeGroup()
        self.upcoming_command: app_commands.Command[Any, Any, None] = app_commands.Command(
            name="upcoming",
            description="Every scheduled post and nudge batch for the next days",
            callback=upcoming_callback,
        )
        self.close_term_command: app_commands.Command[Any, Any, None] = app_commands.Command(
            name="close-term",
            description="End the term: thanks, final digest, CSV export, archive (asks first)",
            callback=close_term_callback,
        )
        self.close_term_command.autocomplete("cohort")(cohort_autocomplete)

    def _course_commands(self) -> tuple[Any, ...]:
        """What this cog adds under /course (and removes when it unloads)."""
        return (
            self.calendar_group,
            self.nudge_group,
            self.upcoming_command,
            self.close_term_command,
        )

    async def cog_load(self) -> None:
        for command in self._course_commands():
            attach_to_course(self.bot, command)
        self.bot.add_dynamic_items(UpcomingButton, CloseTermButton)
        self.bot.add_view(UpcomingPickView())
        self.bot.app.services.get(TermService).register_step("retention", self._retention_step)

    async def _retention_step(
        self, guild: discord.Guild, cohort: Cohort, now: datetime
    ) -> str | None:
        # The privacy feature purges this roster's personal data after the retention period.
        app = self.bot.app
        students = await app.roster.students(guild, cohort)
        await app.services.get(PrivacyService).term_closed(
            guild.id, cohort.cohort_id, [m.id for m in students]
        )
        return (
            f"✅ Students' personal data for this cohort will be deleted after "
            f"{app.settings.retention_days} days (retention)."
        )

    async def cog_unload(self) -> None:
        for command in self._course_commands():
            detach_from_course(self.bot, command)
        self.bot.remove_dynamic_items(UpcomingButton, CloseTermButton)


async def setup(bot: CohortBot) -> None:
    await bot.add_cog(CalendarCog(bot))
