"""Coffee chats' use cases: weekly matching rounds by life circumstances.

:class:`MatchingService` is the one entry point the cog (cogs/coffee_chats/cog.py), other
features (the digest, through ``cogs.coffee_chats``), the demo and the tests use. It keeps
taking part (join, leave, pause, stay or pause), settings and schedules, status and history and
``/course upcoming``; the rest it hands to the parts, which share one :class:`MatchContext`
(cogs/coffee_chats/common.py):

* cogs/coffee_chats/proposals.py — who takes part, the matcher (cogs/coffee_chats/matcher/,
  wording in cogs/coffee_chats/texts.py), the instructor's preview, swaps and moves;
* cogs/coffee_chats/delivery.py — posting a round: threads, DM fallbacks, outbox rows,
  resuming an interrupted round, scheduled rounds;
* cogs/coffee_chats/followups.py — "Did you meet?", re-matches, the round's end, departures;
* cogs/coffee_chats/safety.py — avoids, blocks, reports to staff.

Its Discord side is the client and the persistent views the cog attaches with
:meth:`MatchingService.attach`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import discord

from bot.errors import UserFacingError
from bot.schedule_math import next_occurrence, slot_key
from bot.store.guilds import Cohort
from bot.text import discord_time
from bot.upcoming import UpcomingItem
from cogs.coffee_chats.common import (
    VIEW_AFTER,
    VIEW_FOLLOWUP,
    VIEW_REVIEW,
    VIEW_STAY,
    VIEW_THREAD,
    MatchContext,
    MatchPart,
    MatchViews,
    PartMethod,
    member_name,
    to_match_profile,
)
from cogs.coffee_chats.delivery import (
    UNMATCHED_WORDS,
    Delivery,
    PostOutcome,
)
from cogs.coffee_chats.followups import Followups
from cogs.coffee_chats.proposals import (
    STAFF_UNMATCHED_WORDS,
    Proposal,
    Proposals,
)
from cogs.coffee_chats.repository import (
    MatchSettings,
    Outcome,
    RoundRecord,
    WeekOutcomes,
)
from cogs.coffee_chats.safety import Safety

if TYPE_CHECKING:
    pass

__all__ = [
    "MATCH_KIND",
    "MAX_PAUSE_WEEKS",
    "STAFF_UNMATCHED_WORDS",
    "STAY_PAUSE_WEEKS",
    "UNMATCHED_WORDS",
    "MatchViews",
    "MatchingService",
    "PostOutcome",
    "Proposal",
    "to_match_profile",
]

MATCH_KIND = "match_round"
MAX_PAUSE_WEEKS = 12
STAY_PAUSE_WEEKS = (2, 4, 8)

OUTCOME_LABELS: dict[Outcome, str] = {
    "met": "Met",
    "not_yet": "Not yet",
    "no_connect": "Couldn't connect",
}


class MatchingService(MatchPart):
    """The coffee-chat use cases: taking part, settings, status and history here; a facade
    over proposals, delivery, follow-ups and safety for the rest."""

    def __init__(self, ctx: MatchContext) -> None:
        super().__init__(ctx)
        self._away = ctx.away
        self._calendar = ctx.calendar
        self._schedules = ctx.schedules
        self._proposals = Proposals(ctx)
        # Starting a round ends the cohort's previous one (a follow-up's job).
        self._delivery = Delivery(ctx, self._proposals, end_round=self.end_round)
        self._followups = Followups(ctx, self._proposals, self._delivery)
        self._safety = Safety(ctx, self._followups)

    @property
    def settle_seconds(self) -> float:
        """How long posting waits for its messages to go out (to name closed DMs)."""
        return self._delivery.settle_seconds

    @settle_seconds.setter
    def settle_seconds(self, seconds: float) -> None:
        self._delivery.settle_seconds = seconds

    # ----- for the digest

    async def week_outcomes(
        self, guild_id: int, cohort_id: int, start: datetime, end: datetime
    ) -> WeekOutcomes:
        """Who was matched in rounds posted in [start, end), each one's answer, who met."""
        return await self.store.week_outcomes(guild_id, cohort_id, start, end)

    async def matched_twice_without_meeting(
        self, guild_id: int, cohort_id: int, end: datetime
    ) -> set[int]:
        return await self.store.matched_twice_without_meeting(guild_id, cohort_id, end)

    async def reported_between(
        self, guild_id: int, cohort_id: int | None, start: datetime, end: datetime
    ) -> tuple[set[int], int]:
        return await self.store.reported_between(guild_id, cohort_id, start, end)

    def attach(self, client: discord.Client | None, views: MatchViews | None) -> None:
        """The client and the cog's persistent views; queued messages rebuild their buttons
        from the view keys registered here."""
        self._ctx.client = client
        self._ctx.views = views
        if views is None or self._outbox is None:
            return
        outbox = self._outbox
        outbox.register_view(VIEW_THREAD, lambda a: views.thread_view(int(a[0]), int(a[1])))
        outbox.register_view(VIEW_FOLLOWUP, lambda a: views.followup_view(int(a[0]), int(a[1])))
        outbox.register_view(VIEW_AFTER, lambda a: views.after_view(int(a[0]), int(a[1])))
        outbox.register_view(VIEW_STAY, lambda a: views.stay_view(int(a[0])))
        outbox.register_view(VIEW_REVIEW, lambda a: views.review_view(int(a[0]), int(a[1])))

    # ------------------------------------------------------------------ taking part

    async def join(self, guild_id: int, user_id: int) -> bool:
        return await self.store.join(guild_id, user_id, now=self._clock.now())

    async def leave(self, guild_id: int, user_id: int) -> bool:
        return await self.store.leave(guild_id, user_id, now=self._clock.now())

    async def pause(self, guild_id: int, user_id: int, weeks: int) -> datetime:
        if not 1 <= weeks <= MAX_PAUSE_WEEKS:
            raise UserFacingError(
                f"Pause for 1–{MAX_PAUSE_WEEKS} weeks. (To stop for good, use /match leave.)"
            )
        until = self._clock.now() + timedelta(weeks=weeks)
        if not await self.store.pause(guild_id, user_id, until, now=self._clock.now()):
            raise UserFacingError("You're not in the coffee-chat rounds. Join with /match join.")
        return until

    async def require_participant(self, guild_id: int, user_id: int) -> None:
        part = await self.store.participant(guild_id, user_id)
        if part is None or not part.joined:
            raise UserFacingError("You're not in the coffee-chat rounds. Join with /match join.")

    async def stay_or_pause(self, guild_id: int, user_id: int, choice: str, weeks: int = 4) -> str:
        """The answer to "stay in or pause?" (pause: 2, 4 or 8 weeks)."""
        await self.require_participant(guild_id, user_id)
        if choice == "pause":
            if weeks not in STAY_PAUSE_WEEKS:
                raise UserFacingError("Pause for 2, 4 or 8 weeks. Nothing was changed.")
            until = await self.pause(guild_id, user_id, weeks)
            return f"Paused until {discord_time(until, 'D')}. /match join brings you back early."
        await self.store.reset_ignored(guild_id, user_id, now=self._clock.now())
        return "Great — you stay in the rounds. ☕"

    # ------------------------------------------------------------------ settings

    async def settings(self, guild_id: int, cohort_id: int) -> MatchSettings:
        return await self.store.settings(guild_id, cohort_id)

    async def save_settings(self, settings: MatchSettings) -> None:
        if settings.group_size not in (2, 3):
            raise UserFacingError("Groups have 2 or 3 people.")
        if not 1 <= settings.half_life <= 52:
            raise UserFacingError("The half-life is 1–52 rounds (default 6).")
        await self.store.save_settings(settings, now=self._clock.now())

    async def set_schedule(
        self, guild_id: int, cohort: Cohort, cadence: str, weekday: int, at: time
    ) -> datetime:
        config = await self._setup.config(guild_id)
        if config is None:
            raise UserFacingError("Run /course setup first: the schedule needs the time zone.")
        if cadence not in ("weekly", "biweekly"):
            raise UserFacingError("Pick weekly or every two weeks.")
        now = self._clock.now()
        await self._schedules.save_weekly(
            guild_id, cohort.cohort_id, MATCH_KIND, weekday, at, config.timezone, now=now
        )
        settings = await self._ctx.settings(guild_id, cohort.cohort_id)
        await self.save_settings(replace(settings, cadence=cadence))  # type: ignore[arg-type]
        return next_occurrence(weekday, at, ZoneInfo(config.timezone), now)

    async def unschedule(self, guild_id: int, cohort: Cohort) -> bool:
        return await self._schedules.delete(guild_id, cohort.cohort_id, MATCH_KIND)

    # The use cases the parts implement (each one the part's method of the same name).

    # ------------------------------------------------------------------ proposals

    propose = PartMethod("_proposals", Proposals.propose)
    proposal = PartMethod("_proposals", Proposals.proposal)
    swap = PartMethod("_proposals", Proposals.swap)
    move = PartMethod("_proposals", Proposals.move)
    preview_pages = PartMethod("_proposals", Proposals.preview_pages)

    # ------------------------------------------------------------------ posting

    post = PartMethod("_delivery", Delivery.post)
    resume_deliveries = PartMethod("_delivery", Delivery.resume_deliveries)
    run_scheduled = PartMethod("_delivery", Delivery.run_scheduled)
    tell_leads = PartMethod("_ctx", MatchContext.tell_leads)

    async def tick(self, now: datetime | None = None) -> None:
        """Interrupted deliveries, follow-ups midway and round ends (every scheduler wake-up)."""
        now = now or self._clock.now()
        if self._ctx.client is None:
            return
        await self._delivery.resume_deliveries()
        await self._followups.run_due(now)

    # ------------------------------------------------------------------ follow-ups

    async def end_round(self, guild: discord.Guild, round_: RoundRecord) -> None:
        # A method, not a PartMethod: delivery gets it before the follow-ups part exists.
        return await self._followups.end_round(guild, round_)

    member_left = PartMethod("_followups", Followups.member_left)
    group_for_click = PartMethod("_followups", Followups.group_for_click)
    record_outcome = PartMethod("_followups", Followups.record_outcome)
    rematch = PartMethod("_followups", Followups.rematch)
    choose_priority = PartMethod("_followups", Followups.choose_priority)
    current_group = PartMethod("_followups", Followups.current_group)

    # ------------------------------------------------------------------ safety

    avoid = PartMethod("_safety", Safety.avoid)
    block = PartMethod("_safety", Safety.block)
    report = PartMethod("_safety", Safety.report)

    async def forbidden_pairs(self, guild_id: int) -> frozenset[frozenset[int]]:
        """Blocks and avoids as unordered pairs (alumni mentors respect them too)."""
        return await self.store.forbidden_pairs(guild_id)

    # ------------------------------------------------------------------ status and history

    async def status_lines(self, guild: discord.Guild, user_id: int) -> list[str]:
        part = await self.store.participant(guild.id, user_id)
        now = self._clock.now()
        if part is None or not part.joined:
            return ["You're not in the coffee-chat rounds. Join with /match join."]
        lines = ["You're in the coffee-chat rounds."]
        if part.paused(now) and part.paused_until:
            lines.append(f"Paused until {discord_time(part.paused_until, 'D')}.")
        if await self._away.is_away(guild.id, user_id, now):
            lines.append("You're away (/away), so you sit rounds out until you're back.")
        group = await self.current_group(guild.id, user_id)
        if group is not None:
            others = ", ".join(member_name(guild, u) for u in group.user_ids if u != user_id)
            where = f" in <#{group.thread_id}>" if group.thread_id else ""
            lines.append(f"Current group: {others}{where}.")
        nxt = await self._next_round_time(guild.id, user_id)
        lines.append(
            f"Next round: {discord_time(nxt)} ({discord_time(nxt, 'R')})."
            if nxt
            else "Next round: not scheduled yet (your instructor starts rounds)."
        )
        if part.priority:
            lines.append("You'll be placed first next round.")
        return lines

    async def _next_round_time(self, guild_id: int, user_id: int) -> datetime | None:
        now = self._clock.now()
        found: list[datetime] = []
        for schedule in await self._schedules.list_for_guild(guild_id):
            if schedule.kind == MATCH_KIND and schedule.enabled:
                found.append(
                    next_occurrence(
                        schedule.weekday, schedule.local_time, ZoneInfo(schedule.timezone), now
                    )
                )
        return min(found) if found else None

    async def history_lines(self, guild: discord.Guild, user_id: int) -> list[str]:
        lines: list[str] = []
        for round_, group in await self.store.groups_of_user(guild.id, user_id):
            others = ", ".join(member_name(guild, u) for u in group.user_ids if u != user_id)
            mine = group.member(user_id)
            outcome = (
                OUTCOME_LABELS.get(mine.outcome, "no answer")
                if mine and mine.outcome
                else ("no answer")
            )
            when = f"{discord_time(round_.posted_at, 'D')}" if round_.posted_at else "?"
            extra = " (re-match)" if group.rematch else ""
            lines.append(f"• {when} — {others}{extra} — {outcome}")
        return lines or ["No coffee chats yet."]

    # ------------------------------------------------------------------ /course upcoming

    async def upcoming_items(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[UpcomingItem]:
        items: list[UpcomingItem] = []
        cohorts = {c.cohort_id: c for c in await self._setup.cohorts(guild_id)}
        for schedule in await self._schedules.list_for_guild(guild_id):
            if schedule.kind != MATCH_KIND or not schedule.enabled:
                continue
            zone = ZoneInfo(schedule.timezone)
            settings = await self._ctx.settings(guild_id, schedule.cohort_id)
            when = next_occurrence(
                schedule.weekday, schedule.local_time, zone, start - timedelta(microseconds=1)
            )
            while when < end:
                week = await self._calendar.week_of(guild_id, schedule.cohort_id, when)
                runs = week.running or week.reason == "no calendar"
                if runs and settings.cadence == "biweekly" and week.number:
                    runs = week.number % 2 == 1
                if runs:
                    cohort = cohorts.get(schedule.cohort_id)
                    items.append(
                        UpcomingItem(
                            key=f"match:{schedule.cohort_id}:{slot_key(when, zone)}",
                            when=when,
                            kind="coffee-chat round",
                            preview=(
                                f"Coffee-chat round for {cohort.name if cohort else 'the cohort'}"
                                + (" (preview first)" if settings.preview_first else "")
                            ),
                            cohort_id=schedule.cohort_id,
                        )
                    )
                when = next_occurrence(schedule.weekday, schedule.local_time, zone, when)
        return items
