"""Posting a coffee-chat round: threads, DM fallbacks, outbox rows, resumable rounds.

:meth:`Delivery.post` re-validates the saved proposal (cogs/coffee_chats/proposals.py). A stale
proposal is repaired, saved and NOT posted: the instructor is told what changed and sees the
new version before posting it. Otherwise the round is marked posted and exactly the saved
groups are delivered, each on its own, its progress stored (pending → thread created, id stored
→ announced): one private thread (``invitable=False``) per group in the matches channel
(default: the coffee shop). Only a group whose thread is refused with 50013/50001 gets DMs;
after 160006 (the active-thread limit) every remaining group does; other errors leave the group
pending for the next tick (DMs after ``MAX_THREAD_ATTEMPTS``). Every *message* — a thread's
first message, DMs, follow-ups, notes — is an outbox row (``KIND_*``, dedupe keys per
round/group/member), so :meth:`Delivery.resume_deliveries` (on every tick) finishes an
interrupted round exactly once. The previous round of the cohort ends first (its threads are
archived, which keeps the guild under the 1,000 active threads). Fairness is saved once per
round. Students the matcher could not place are told why, privately, and get priority next
round.

DMs go only to students who joined (``/match join`` consents to match-related DMs). A closed
DM (50007) is recorded and shown to the instructor; nothing else stops.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
import discord

from bot.errors import UserFacingError
from bot.scheduler import ScheduledRun
from bot.text import discord_time
from cogs.coffee_chats.common import (
    KIND_DM,
    KIND_INTRO,
    KIND_UNMATCHED,
    VIEW_REVIEW,
    VIEW_THREAD,
    MatchContext,
    MatchPart,
    member_name,
    shown_attributes,
    to_match_profile,
)
from cogs.coffee_chats.proposals import Proposals
from cogs.coffee_chats.repository import GroupRecord, MatchSettings, RoundRecord
from cogs.coffee_chats.texts import explain_match

__all__ = [
    "MAX_PERMISSION_REFUSALS",
    "MAX_THREAD_ATTEMPTS",
    "UNMATCHED_WORDS",
    "Delivery",
    "PostOutcome",
]

log = logging.getLogger(__name__)

THREAD_LIMIT_CODE = 160006
MISSING_PERMISSION_CODES = frozenset({50001, 50013})
#: A group's thread is tried this many times (over ticks) before the group gets DMs.
MAX_THREAD_ATTEMPTS = 3
#: After this many 50013/50001 refusals in one delivery, the rest of the round gets DMs.
MAX_PERMISSION_REFUSALS = 3

UNMATCHED_WORDS = {
    "no_other_students": "you were the only classmate available this round",
    "no_allowed_partner": "nobody available this round could be matched with you",
    "no_compatible_group": "the groups didn't work out evenly this time",
    "no_allowed_trio": "the groups didn't work out evenly this time",
}


@dataclass
class PostOutcome:
    posted: bool
    lines: list[str] = field(default_factory=list)


@dataclass
class _Delivery:
    """What one delivery pass queued and learned (for the instructor's summary)."""

    notes: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # thread posts
    dm_rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # row → (group, user)
    unmatched_rows: dict[int, int] = field(default_factory=dict)  # row → user
    closed: list[int] = field(default_factory=list)
    unmatched_closed: list[int] = field(default_factory=list)
    queued: int = 0


class Delivery(MatchPart):
    """Posting rounds and delivering their groups (and running the scheduled rounds)."""

    def __init__(
        self,
        ctx: MatchContext,
        proposals: Proposals,
        *,
        end_round: Callable[[discord.Guild, RoundRecord], Awaitable[None]],
    ) -> None:
        super().__init__(ctx)
        self._proposals = proposals
        self._calendar = ctx.calendar
        #: ends the previous round of the cohort (cogs/coffee_chats/followups.py)
        self._end_round = end_round
        self._delivering: set[int] = set()  # round ids being delivered in this process
        #: how long posting waits for its messages to go out (to name closed DMs)
        self.settle_seconds = 10.0

    async def post(self, guild: discord.Guild, round_id: int) -> PostOutcome:
        """Deliver exactly the saved proposal — after re-validating it."""
        async with self._ctx.edit_lock:
            round_ = await self._proposals.proposed_round(guild.id, round_id)
            cohort = await self._ctx.cohort(guild.id, round_.cohort_id)
            changes = await self._proposals.repair_if_stale(guild, cohort, round_)
            if changes:
                return PostOutcome(
                    False,
                    [
                        "⚠️ The proposal changed since you saw it, so nothing was posted:",
                        *(f"• {c}" for c in changes),
                        "Here is the updated proposal — press **Post these** again to post it.",
                    ],
                )
            settings = await self._ctx.settings(guild.id, cohort.cohort_id)
            now = self._clock.now()
            length = timedelta(weeks=2 if settings.cadence == "biweekly" else 1)
            if not await self.store.mark_posted(
                guild.id, round_id, now=now, followup_at=now + length / 2, ends_at=now + length
            ):
                raise UserFacingError("That proposal was already posted.")
            # Claimed before the lock is released: a tick never delivers it at the same time.
            self._delivering.add(round_id)
        try:
            posted = await self.store.get_round(guild.id, round_id)
            assert posted is not None
            lines = await self._complete_delivery(guild, posted)
        finally:
            self._delivering.discard(round_id)
        return PostOutcome(True, lines)

    async def resume_deliveries(self) -> None:
        """Finish posted rounds whose delivery was interrupted (a restart, a Discord error):
        every group not yet announced is delivered, exactly once."""
        if self._ctx.client is None:
            return
        for round_ in await self.store.rounds_undelivered():
            guild = self._ctx.client.get_guild(round_.guild_id)
            if guild is None or round_.round_id in self._delivering:
                continue
            self._delivering.add(round_.round_id)
            try:
                lines = await self._complete_delivery(guild, round_)
            finally:
                self._delivering.discard(round_.round_id)
            done = await self.store.get_round(guild.id, round_.round_id)
            if done is not None and done.delivered_at is not None:
                cohort = await self._ctx.cohort(guild.id, round_.cohort_id)
                await self._ctx.note_leads(
                    guild,
                    f"☕ Coffee-chat round {round_.round_index} for {cohort.name} is now fully "
                    "delivered (it was interrupted).\n" + "\n".join(lines),
                    dedupe=f"delivered:{round_.round_id}",
                    cohort_id=round_.cohort_id,
                )

    async def _complete_delivery(self, guild: discord.Guild, round_: RoundRecord) -> list[str]:
        """Everything after "posted", idempotent: earlier rounds end, fairness is saved once,
        every group not yet announced is delivered, the unmatched are told."""
        for earlier in await self.store.posted_rounds(guild.id, round_.cohort_id):
            # The previous round ends now: its threads are archived (thread budget).
            if earlier.status == "posted" and earlier.round_id < round_.round_id:
                await self._end_round(guild, earlier)
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        unmatched = await self.store.unmatched_of_round(guild.id, round_.round_id)
        await self._proposals.save_fairness(guild.id, round_, groups, unmatched)
        settings = await self._ctx.settings(guild.id, round_.cohort_id)
        pending = [g for g in groups if not g.announced]
        report = await self._deliver(guild, round_, settings, pending)
        await self._queue_unmatched(guild, round_, unmatched, report)
        await self._settle(guild, report)
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        waiting = [g for g in groups if not g.announced]
        if not waiting:
            await self.store.mark_delivered(guild.id, round_.round_id, now=self._clock.now())
        return self._summary(groups, unmatched, report)

    @staticmethod
    def _summary(
        groups: Sequence[GroupRecord], unmatched: Sequence[tuple[int, str]], report: _Delivery
    ) -> list[str]:
        threads = sum(1 for g in groups if g.announced and g.delivery == "thread")
        dms = sum(1 for g in groups if g.announced and g.delivery in ("dm", "failed"))
        waiting = len(groups) - threads - dms
        lines = [f"Posted {len(groups)} group(s): {threads} thread(s), {dms} by DM."]
        if waiting:
            lines.append(
                f"{waiting} group(s) are still waiting for their thread (Discord had an error); "
                "I'll retry shortly and tell this channel when they're delivered."
            )
        lines += report.notes
        if report.closed:
            lines.append(
                "These students have DMs closed, so they didn't get their match by DM: "
                + ", ".join(f"<@{u}>" for u in sorted(set(report.closed)))
                + ". Please reach out to them."
            )
        if unmatched:
            line = f"{len(unmatched)} student(s) couldn't be matched and were told privately."
            if report.unmatched_closed:
                line += " DMs closed for: " + ", ".join(
                    f"<@{u}>" for u in sorted(report.unmatched_closed)
                )
                line += "."
            lines.append(line)
        if report.queued:
            lines.append(f"{report.queued} message(s) are still queued; they go out shortly.")
        return lines

    async def _explanation(
        self, guild_id: int, members: Sequence[int], reasons: Sequence[str], start: datetime
    ) -> tuple[str, list[datetime]]:
        from cogs.coffee_chats.matcher import MatchProfile, common_slots

        profiles = await self._profiles.for_users(guild_id, list(members))
        shown = [shown_attributes(profiles.get(u), "match") for u in members]
        text = explain_match(reasons, shown)
        # Suggested times only from what everyone shows (time zone and availability).
        config = await self._setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        slot_profiles = []
        for user_id, seen in zip(members, shown, strict=True):
            full = to_match_profile(user_id, profiles.get(user_id))
            if {"timezone", "availability"} <= seen:
                slot_profiles.append(full)
            else:
                slot_profiles.append(MatchProfile(user_id))
        slots = common_slots(
            slot_profiles[0],
            slot_profiles[1],
            start,
            others=slot_profiles[2:],
            default_timezone=zone,
        )
        return text, slots

    async def _message_for(
        self, guild: discord.Guild, round_: RoundRecord, group: GroupRecord, *, key: str
    ) -> str:
        start = self._clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        text, slots = await self._explanation(guild.id, group.user_ids, group.reasons, start)
        intro = await self._templates.render(guild.id, key, round=str(round_.round_index))
        names = ", ".join(f"<@{u}>" for u in group.user_ids)
        times = (
            "Suggested times (shown in your own time zone): "
            + " · ".join(f"{discord_time(s)}" for s in slots)
            if slots
            else "Pick a time that works for you all."
        )
        footer = await self._templates.render(guild.id, "match_thread_footer")
        parts = [names, intro, f"> {text}", times, footer]
        if group.rematch:
            parts.insert(2, await self._templates.render(guild.id, "match_rematch_note"))
        return "\n".join(parts)[:2000]

    async def _deliver(
        self,
        guild: discord.Guild,
        round_: RoundRecord,
        settings: MatchSettings,
        groups: Sequence[GroupRecord],
    ) -> _Delivery:
        """Deliver each group not yet announced; a group's progress is stored at every step.

        A thread per group; only a group whose thread Discord refuses with 50013/50001
        (missing permission) gets DMs, and after 160006 (the server's active-thread limit)
        every remaining group does. Any other error leaves the group pending for the next
        tick, and after ``MAX_THREAD_ATTEMPTS`` tries it gets DMs."""
        report = _Delivery()
        if not groups:
            return report
        channel = await self._thread_channel(guild, settings, report)
        refusals = 0
        for group in groups:
            if group.delivery in ("dm", "failed"):
                await self._queue_dms(guild, round_, group, report)
                continue
            if group.delivery == "thread" and group.thread_id:
                await self._announce_thread(guild, round_, group, group.thread_id, report)
                continue
            if channel is None:
                await self._queue_dms(guild, round_, group, report)
                continue
            try:
                thread_id = await self._open_thread(guild, channel, round_, group)
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError) as error:
                code = getattr(error, "code", None)
                status = getattr(error, "status", None)
                log.warning(
                    "Match thread for group %s in guild %s failed (%s/%s)",
                    group.group_id,
                    guild.id,
                    status,
                    code,
                )
                if code == THREAD_LIMIT_CODE:
                    channel = None
                    report.notes.append(
                        f"From group {group.position + 1} on, the server reached Discord's "
                        "limit of active threads: DMs instead."
                    )
                elif code in MISSING_PERMISSION_CODES:
                    refusals += 1
                    report.notes.append(
                        f"Discord refused the thread for group {group.position + 1} (missing "
                        "permission): that group got DMs."
                    )
                    if refusals >= MAX_PERMISSION_REFUSALS:
                        # Don't keep knocking: many 403s in a row get a bot rate-limited.
                        channel = None
                elif group.attempts + 1 < MAX_THREAD_ATTEMPTS:
                    await self.store.set_group_error(
                        guild.id, group.group_id, f"{type(error).__name__} {status}/{code}"
                    )
                    continue  # stays pending: the next tick retries it
                else:
                    report.notes.append(
                        f"Group {group.position + 1}'s thread failed {MAX_THREAD_ATTEMPTS} times "
                        f"(Discord error {status}): that group got DMs."
                    )
                await self._queue_dms(guild, round_, group, report)
                continue
            await self._announce_thread(guild, round_, group, thread_id, report)
        return report

    async def _thread_channel(
        self, guild: discord.Guild, settings: MatchSettings, report: _Delivery
    ) -> discord.TextChannel | None:
        """The matches channel when the bot can open private threads there; otherwise None,
        with a note for the instructor on why groups get DMs instead."""
        config = await self._setup.config(guild.id)
        channel_id = settings.channel_id or (config.coffee_channel_id if config else None)
        channel = guild.get_channel(channel_id or 0)
        if isinstance(channel, discord.TextChannel):
            perms = channel.permissions_for(guild.me)
            if perms.create_private_threads and perms.send_messages_in_threads:
                return channel
            report.notes.append(
                f"I can't open private threads in <#{channel.id}> (I need Create Private "
                "Threads and Send Messages in Threads), so groups got DMs instead."
            )
        elif channel_id is None:
            report.notes.append("No matches channel is set, so groups got DMs instead.")
        else:
            report.notes.append(
                f"The matches channel <#{channel_id}> is not a text channel I can see, so "
                "groups got DMs instead."
            )
        return None

    @staticmethod
    def _thread_name(guild: discord.Guild, round_: RoundRecord, group: GroupRecord) -> str:
        names = ", ".join(member_name(guild, u) for u in group.user_ids)
        return f"Coffee chat {round_.round_index}: {names}"[:100]

    async def _open_thread(
        self,
        guild: discord.Guild,
        channel: discord.TextChannel,
        round_: RoundRecord,
        group: GroupRecord,
    ) -> int:
        """The group's private thread; its id is stored as soon as Discord answers."""
        name = self._thread_name(guild, round_, group)
        if group.attempts > 0:
            # An earlier attempt may have created it just before a restart.
            found = await self._orphan_thread(guild, channel, name)
            if found is not None:
                await self.store.set_delivery(guild.id, group.group_id, "thread", found)
                return found
        await self.store.begin_thread_attempt(guild.id, group.group_id)
        thread = await channel.create_thread(
            name=name,
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
            reason="CohortBot coffee chat",
        )
        await self.store.set_delivery(guild.id, group.group_id, "thread", thread.id)
        return thread.id

    async def _orphan_thread(
        self, guild: discord.Guild, channel: discord.TextChannel, name: str
    ) -> int | None:
        me = guild.me.id if guild.me else None
        for thread in sorted(channel.threads, key=lambda t: t.id, reverse=True):
            if (
                thread.owner_id == me
                and thread.name == name
                and await self.store.group_by_thread(guild.id, thread.id) is None
            ):
                return thread.id
        return None

    async def _announce_thread(
        self,
        guild: discord.Guild,
        round_: RoundRecord,
        group: GroupRecord,
        thread_id: int,
        report: _Delivery,
    ) -> None:
        """Add the members (idempotent) and queue the thread's first message in the outbox."""
        thread = guild.get_thread(thread_id)
        for user_id in group.present_ids:
            try:
                if thread is not None:
                    await thread.add_user(discord.Object(id=user_id))
                elif self._ctx.client is not None:
                    await self._ctx.client.http.add_user_to_thread(thread_id, user_id)
            except discord.HTTPException as error:
                log.warning("Could not add %s to match thread %s: %s", user_id, thread_id, error)
        content = await self._message_for(guild, round_, group, key="match_thread_intro")
        row_id = await self._ctx.queue_for_round(
            guild.id,
            round_,
            KIND_INTRO,
            group.group_id,
            channel_id=thread_id,
            content=content,
            view=(VIEW_THREAD, (guild.id, group.group_id)),
            mention_user_ids=group.present_ids,
        )
        if row_id is not None:
            report.rows.append(row_id)
        await self.store.mark_announced(guild.id, group.group_id, now=self._clock.now())

    async def _queue_dms(
        self, guild: discord.Guild, round_: RoundRecord, group: GroupRecord, report: _Delivery
    ) -> None:
        """The group's match by DM (one outbox row per member; /match join consented)."""
        await self.store.set_delivery(guild.id, group.group_id, "dm")
        content = await self._message_for(guild, round_, group, key="match_dm_fallback")
        for user_id in group.present_ids:
            row_id = await self._ctx.queue_for_round(
                guild.id,
                round_,
                KIND_DM,
                group.group_id,
                user_id,
                user_id=user_id,
                content=content,
                view=(VIEW_THREAD, (guild.id, group.group_id)),
            )
            if row_id is not None:
                report.dm_rows[row_id] = (group.group_id, user_id)
        await self.store.mark_announced(guild.id, group.group_id, now=self._clock.now())

    async def _queue_unmatched(
        self,
        guild: discord.Guild,
        round_: RoundRecord,
        unmatched: Sequence[tuple[int, str]],
        report: _Delivery,
    ) -> None:
        for user_id, why in unmatched:
            text = await self._templates.render(
                guild.id, "match_unmatched", reason=UNMATCHED_WORDS.get(why, "it didn't work out")
            )
            row_id = await self._ctx.queue_for_round(
                guild.id, round_, KIND_UNMATCHED, user_id, user_id=user_id, content=text
            )
            if row_id is not None:
                report.unmatched_rows[row_id] = user_id

    async def _settle(self, guild: discord.Guild, report: _Delivery) -> None:
        """Wait (briefly) for this pass's messages; record closed DMs for the instructor."""
        ids = [*report.rows, *report.dm_rows, *report.unmatched_rows]
        if not ids or self._outbox is None:
            return
        rows = await self._outbox.wait_settled(guild.id, ids, timeout=self.settle_seconds)
        closed_groups: set[int] = set()
        for row in rows:
            if row.state in ("pending", "sending"):
                report.queued += 1
            elif row.state == "failed" and row.last_error == "dm_closed":
                if row.id in report.dm_rows:
                    group_id, user_id = report.dm_rows[row.id]
                    await self.store.set_dm_failed(guild.id, group_id, user_id)
                    report.closed.append(user_id)
                    closed_groups.add(group_id)
                elif row.id in report.unmatched_rows:
                    report.unmatched_closed.append(report.unmatched_rows[row.id])
            elif row.state == "failed":
                report.notes.append(f"A {row.kind} message could not be sent ({row.last_error}).")
        for group_id in closed_groups:
            group = await self.store.group(guild.id, group_id)
            if group is not None and all(m.dm_failed or m.departed for m in group.members):
                await self.store.set_delivery(guild.id, group_id, "failed")

    async def run_scheduled(self, run: ScheduledRun) -> None:
        guild = self._ctx.client.get_guild(run.guild_id) if self._ctx.client else None
        if guild is None:
            return
        week = await self._calendar.week_of(run.guild_id, run.cohort_id, run.occurrence)
        if not week.running and week.reason != "no calendar":
            log.info(
                "No match round in guild %s cohort %s: %s", run.guild_id, run.cohort_id, week.state
            )
            return
        settings = await self._ctx.settings(run.guild_id, run.cohort_id)
        if settings.cadence == "biweekly" and week.number is not None and week.number % 2 == 0:
            return
        cohort = await self._ctx.cohort(run.guild_id, run.cohort_id)
        base = f"{run.cohort_id}:{run.slot}"
        try:
            proposal = await self._proposals.propose(guild, cohort, slot=run.slot)
        except UserFacingError as error:
            await self._ctx.note_leads(
                guild,
                f"☕ No coffee-chat round for {cohort.name}: {error.message}",
                dedupe=f"{base}:none",
                cohort_id=run.cohort_id,
            )
            return
        except Exception:
            log.exception("Scheduled match round failed in guild %s cohort %s", guild.id, cohort)
            await self._ctx.note_leads(
                guild,
                f"☕ This week's coffee-chat round for {cohort.name} couldn't be prepared (an "
                "error was logged for the bot's operator). Nothing was posted; you can try "
                "again with /course match run.",
                dedupe=f"{base}:error",
                cohort_id=run.cohort_id,
            )
            return
        assert proposal.round_id is not None
        if settings.preview_first:
            await self._ctx.note_leads(
                guild,
                f"☕ This week's coffee-chat proposal for {cohort.name} is ready "
                f"({len(proposal.groups)} groups). Review it, swap or move people, then post it.",
                dedupe=f"review:{proposal.round_id}",
                cohort_id=run.cohort_id,
                view=(VIEW_REVIEW, (guild.id, proposal.round_id)),
            )
            return
        outcome = await self.post(guild, proposal.round_id)
        await self._ctx.note_leads(
            guild,
            f"☕ Coffee-chat round posted for {cohort.name}.\n" + "\n".join(outcome.lines),
            dedupe=f"posted:{proposal.round_id}",
            cohort_id=run.cohort_id,
        )

    async def deliver_group(
        self, guild: discord.Guild, round_: RoundRecord, group_id: int
    ) -> GroupRecord | None:
        """Deliver a group just added to a posted round (a re-match); the group as stored
        afterwards."""
        record = await self.store.group(guild.id, group_id)
        assert record is not None
        settings = await self._ctx.settings(guild.id, round_.cohort_id)
        report = await self._deliver(guild, round_, settings, [record])
        await self._settle(guild, report)
        return await self.store.group(guild.id, group_id)
