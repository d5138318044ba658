"""Closing the term (the course feature's ``TermService``).

``/course close-term`` (after a confirm step) runs :meth:`TermService.close`:

1. the cohort's calendar is closed: ``app.calendar.week_of`` says "not running (term
   closed)" from now on, so matching, prompts, digests and nudges stop for it;
2. its queued nudges are cancelled;
3. a thank-you is posted in the coffee shop (through the outbox; it mentions no one) with a
   "Keep in touch" button: students who opt in leave a contact line, and every pair of
   students who both opted in get each other's line by DM;
4. steps other features register run (``TermService.register_step(name, fn)``, e.g. the final
   digest; ``fn(guild, cohort, now)`` returns a line for the instructor's summary);
5. a CSV of the cohort's participation is returned for the instructor;
6. the threads in the course channels are archived (only when no other cohort's term is
   still running, since cohorts share channels).

Settings, channels, roles and texts are kept for the next cohort: ``/course calendar set``
starts a new term. Student data is then subject to the retention rules.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import discord

from bot.calendar import CalendarSpec
from bot.clock import Clock
from bot.course_calendar import AwayService, CalendarService
from bot.guild_settings import GuildSettings
from bot.outbox.repository import NewOutboxRow
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.store.activity import ActivityRepository
from bot.store.guilds import Cohort
from bot.templates import Templates
from bot.text import chunk_lines, csv_cell
from cogs.course.repository import KeepInTouchRepository
from cogs.nudges import NudgeEngine

__all__ = ["CloseReport", "TermService"]

log = logging.getLogger(__name__)

TermStep = Callable[[discord.Guild, Cohort, datetime], Awaitable[str | None]]
#: A button another feature adds to the thank-you, built from the cohort id.
ThanksItem = Callable[[int], "discord.ui.Item[Any]"]
THANKS_KIND = "term:thanks"
KEEP_IN_TOUCH_KIND = "term:keep-in-touch"
MAX_ARCHIVED = 500


@dataclass
class CloseReport:
    lines: list[str] = field(default_factory=list)
    csv_name: str = "participation.csv"
    csv_bytes: bytes = b""


@dataclass(eq=False, kw_only=True)
class TermService:
    calendar: CalendarService
    outbox: OutboxService
    nudges: NudgeEngine
    away: AwayService
    keep_in_touch: KeepInTouchRepository
    setup: GuildSettings
    roster: Roster
    activity: ActivityRepository
    templates: Templates
    clock: Clock
    _steps: dict[str, TermStep] = field(init=False, default_factory=dict)
    #: (line, button) pairs other features add to the thank-you (e.g. mentoring)
    thanks_offers: list[tuple[str, ThanksItem]] = field(init=False, default_factory=list)

    def register_step(self, name: str, step: TermStep) -> None:
        """A feature's part of closing a term (final digest, stop matching …)."""
        self._steps[name] = step

    def register_thanks_offer(self, line: str, item: ThanksItem) -> None:
        """A line and a button another feature adds to the close-term thank-you."""
        self.thanks_offers.append((line, item))

    async def close(self, guild: discord.Guild, cohort: Cohort) -> CloseReport:
        now = self.clock.now()
        report = CloseReport(csv_name=f"participation-{_slug(cohort.name)}.csv")
        record = await self.calendar.record(guild.id, cohort.cohort_id)
        if record is None:
            report.lines.append("No calendar was set; the cohort is now marked closed.")
            start = None
        else:
            start = record.start
        closed = await self.calendar.repository.close(guild.id, cohort.cohort_id, now=now)
        if record is None:
            # Closing still has to stop everything: record a closed one-week calendar.
            spec = CalendarSpec(now.date(), 1, "UTC")
            await self.calendar.save(guild.id, cohort.cohort_id, spec, now)
            await self.calendar.repository.close(guild.id, cohort.cohort_id, now=now)
            closed = True
        report.lines.append(
            "✅ Term closed: matching, prompts, digests and nudges stop for this cohort."
            if closed
            else "The term was already closed."
        )
        cancelled = await self.nudges.cancel_cohort(guild.id, cohort.cohort_id, "term closed")
        report.lines.append(f"✅ Queued nudges cancelled: {cancelled}.")

        config = await self.setup.config(guild.id)
        if config is not None and config.coffee_channel_id:
            text = await self.templates.render(
                guild.id, "term_thanks", cohort=cohort.name, course=guild.name
            )
            for offer_line, _ in self.thanks_offers:
                text = f"{text}\n\n{offer_line}"
            queued = await self.outbox.enqueue(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                kind=THANKS_KIND,
                dedupe_key=f"{cohort.cohort_id}:{now.date().isoformat()}",
                content=text,
                channel_id=config.coffee_channel_id,
                view_key="term:keep-in-touch",
                view_args=(str(cohort.cohort_id),),
            )
            report.lines.append(
                "✅ Thank-you with a “Keep in touch” button queued for "
                f"<#{config.coffee_channel_id}>."
                if queued
                else "The thank-you was already posted today."
            )
        else:
            report.lines.append("❌ No coffee-shop channel is set, so no thank-you was posted.")

        for name, step in self._steps.items():
            try:
                line = await step(guild, cohort, now)
            except Exception:
                log.exception("close-term step %s failed (guild %s)", name, guild.id)
                line = f"❌ {name}: failed (see the logs); the rest went ahead."
            if line:
                report.lines.append(line)
        if "digest" not in self._steps:
            report.lines.append("ℹ️ Final digest: the digest feature is not installed yet.")

        report.csv_bytes = await self._participation_csv(guild, cohort, start, now)
        report.lines.append("✅ Participation CSV attached.")
        report.lines.append(await self._archive_threads(guild, cohort, now))
        report.lines.append(
            "Settings, channels, roles and texts are kept: run /course calendar set to start the "
            "next cohort."
        )
        return report

    async def _participation_csv(
        self, guild: discord.Guild, cohort: Cohort, start: date | None, now: datetime
    ) -> bytes:
        students = await self.roster.students(guild, cohort)
        ids = [m.id for m in students]
        zone = ZoneInfo(await self.calendar.timezone(guild.id))
        since = (
            datetime.combine(start, time(0)).replace(tzinfo=zone)
            if start is not None
            else datetime(1970, 1, 1, tzinfo=zone)
        )
        last = await self.activity.last_active(guild.id, ids)
        away = await self.away.away_users(guild.id, now)
        closed = await self.nudges.dm_closed_users(guild.id)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            ["name", "user_id", "activity_since_start", "last_active", "away", "dms_closed"]
        )
        for member in students:
            count = await self.activity.count_since(guild.id, member.id, since)
            seen = last.get(member.id)
            writer.writerow(
                [
                    csv_cell(member.display_name),
                    member.id,
                    count,
                    seen.isoformat() if seen else "",
                    "yes" if member.id in away else "no",
                    "yes" if member.id in closed else "no",
                ]
            )
        return buffer.getvalue().encode("utf-8")

    async def _archive_threads(self, guild: discord.Guild, cohort: Cohort, now: datetime) -> str:
        others_running = []
        for other in await self.setup.cohorts(guild.id):
            if other.cohort_id == cohort.cohort_id:
                continue
            if (await self.calendar.week_of(guild.id, other.cohort_id, now)).state != (
                "not_running"
            ):
                others_running.append(other.name)
        if others_running:
            return (
                "ℹ️ Threads kept open: " + ", ".join(others_running) + " still running in the "
                "same channels."
            )
        config = await self.setup.config(guild.id)
        parents = {
            cid
            for cid in (
                (config.intro_channel_id, config.discussion_channel_id, config.coffee_channel_id)
                if config
                else ()
            )
            if cid
        }
        archived = 0
        failed = 0
        for thread in list(guild.threads):
            if thread.parent_id not in parents or thread.archived or archived >= MAX_ARCHIVED:
                continue
            try:
                await thread.edit(archived=True, reason="CohortBot close-term")
                archived += 1
            except discord.HTTPException:
                failed += 1
        line = f"✅ Threads archived: {archived}."
        if failed:
            line += f" ❌ {failed} could not be archived (Manage Threads missing?)."
        return line

    async def keep_in_touch_opt_in(
        self, guild: discord.Guild, cohort_id: int, user_id: int, contact_line: str
    ) -> int:
        """Store the line; DM it to everyone who opted in before, and theirs to this student.
        Returns how many classmates the student is now connected with."""
        now = self.clock.now()
        before = await self.keep_in_touch.members(guild.id, cohort_id)
        await self.keep_in_touch.opt_in(guild.id, cohort_id, user_id, contact_line, now=now)
        others = {uid: line for uid, line in before.items() if uid != user_id}
        if not others:
            return 0

        def name(uid: int) -> str:
            member = guild.get_member(uid)
            return member.display_name if member else "A classmate"

        def dm(to: int, dedupe_key: str, content: str) -> NewOutboxRow:
            return self.outbox.new_row(
                guild_id=guild.id,
                cohort_id=cohort_id,
                kind=KEEP_IN_TOUCH_KIND,
                dedupe_key=f"{cohort_id}:{dedupe_key}",
                content=content,
                user_id=to,
            )

        new_name = name(user_id)
        rows = []
        for uid in others:
            text = await self.templates.render(
                guild.id, "term_keep_in_touch_new", name=new_name, contact=contact_line
            )
            rows.append(dm(uid, f"{uid}:{user_id}", text[:2000]))
        lines = [f"• {name(uid)}: {line}" for uid, line in others.items()]
        intro = await self.templates.render(guild.id, "term_keep_in_touch_list")
        for index, chunk in enumerate(chunk_lines([intro, *lines], 1900)):
            rows.append(dm(user_id, f"{user_id}:list:{len(before)}:{index}", chunk))
        await self.outbox.enqueue_rows(rows)
        return len(others)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "cohort"
