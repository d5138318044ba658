"""After a coffee-chat round is posted: "Did you meet?", re-matches, the round's end, departures.

Midway (:meth:`Followups.run_due`, on every tick), "Did you meet?" with Met / Not yet /
Couldn't connect. "Couldn't connect" offers a re-match (:meth:`Followups._rematch_partner` says
with whom) or priority next round. At the round's end its threads are archived and a student
who ignored three rounds in a row is asked once whether to stay in or pause (2/4/8 weeks; the
answer is :meth:`cogs.coffee_chats.service.MatchingService.stay_or_pause`). A student who leaves
the server mid-round is taken out of the thread and their partner told privately
(:meth:`Followups.member_left`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from bot.errors import UserFacingError
from cogs.coffee_chats.common import (
    KIND_DEPARTED,
    KIND_FOLLOWUP,
    KIND_STAY,
    VIEW_AFTER,
    VIEW_FOLLOWUP,
    VIEW_STAY,
    MatchContext,
    MatchPart,
    member_name,
)
from cogs.coffee_chats.delivery import Delivery
from cogs.coffee_chats.proposals import Proposals
from cogs.coffee_chats.repository import GroupRecord, Outcome, RoundRecord

if TYPE_CHECKING:
    from bot.outbox.repository import OutboxRow

__all__ = ["Followups"]

log = logging.getLogger(__name__)


class Followups(MatchPart):
    """Follow-ups, answers and re-matches of posted rounds, round ends and departures."""

    def __init__(self, ctx: MatchContext, proposals: Proposals, delivery: Delivery) -> None:
        super().__init__(ctx)
        self._proposals = proposals
        self._delivery = delivery
        self._milestones = ctx.milestones
        self._dm_marks = ctx.dm_marks
        if ctx.outbox is not None:
            ctx.outbox.on_sent(KIND_FOLLOWUP, self.followup_sent)

    async def run_due(self, now: datetime) -> None:
        """Follow-ups midway and round ends that are due (every tick, with a client)."""
        client = self._ctx.client
        if client is None:
            return
        for round_ in await self.store.rounds_due_followup(now):
            guild = client.get_guild(round_.guild_id)
            if guild is None or not await self.store.claim_followup(guild.id, round_.round_id):
                continue
            if round_.ends_at is not None and round_.ends_at <= now:
                continue  # over already (the bot was down): asking now would be too late
            await self._send_followups(guild, round_)
        for round_ in await self.store.rounds_due_end(now):
            guild = client.get_guild(round_.guild_id)
            if guild is not None:
                await self.end_round(guild, round_)

    async def _send_followups(self, guild: discord.Guild, round_: RoundRecord) -> None:
        """ "Did you meet?" — in the thread, or by DM to DM groups (outbox rows)."""
        text = await self._templates.render(guild.id, "match_followup")
        for group in await self.store.groups_of_round(guild.id, round_.round_id):
            view = (VIEW_FOLLOWUP, (guild.id, group.group_id))
            if group.delivery == "thread" and group.thread_id:
                await self._ctx.queue_for_round(
                    guild.id,
                    round_,
                    KIND_FOLLOWUP,
                    group.group_id,
                    channel_id=group.thread_id,
                    content=text,
                    view=view,
                )
            elif group.delivery == "dm":
                for member in group.members:
                    if member.dm_failed or member.departed:
                        continue
                    await self._ctx.queue_for_round(
                        guild.id,
                        round_,
                        KIND_FOLLOWUP,
                        group.group_id,
                        member.user_id,
                        user_id=member.user_id,
                        content=text,
                        view=view,
                    )

    async def _cancel_unsent_followups(
        self, guild_id: int, round_: RoundRecord, groups: Sequence[GroupRecord]
    ) -> None:
        """A follow-up still queued when its round ends is not sent (it would also reopen the
        archived thread)."""
        if self._outbox is None:
            return
        keys = [f"{round_.round_id}:{g.group_id}" for g in groups] + [
            f"{round_.round_id}:{g.group_id}:{u}" for g in groups for u in g.user_ids
        ]
        unsent: list[int] = []
        for key in keys:
            row = await self._outbox.lookup(guild_id, KIND_FOLLOWUP, key)
            if row is not None and row.state == "pending":
                unsent.append(row.id)
        if unsent:
            await self._outbox.cancel(guild_id, unsent, "the round ended")

    async def followup_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
        if row.channel_id is None:
            return
        _, _, group_id = row.dedupe_key.partition(":")
        if group_id.isdigit():
            await self.store.set_followup_message(row.guild_id, int(group_id), message_id)

    async def end_round(self, guild: discord.Guild, round_: RoundRecord) -> None:
        """Archive the round's threads and count who ignored it; idempotent.

        Ignoring a round means not answering "Did you meet?" when nobody in the group said
        they met: a silent member whose partner reported meeting took part (not counted).
        A member who left the server is not counted either way."""
        if not await self.store.mark_ended(guild.id, round_.round_id, now=self._clock.now()):
            return
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        await self._cancel_unsent_followups(guild.id, round_, groups)
        for group in groups:
            if group.delivery != "thread" or not group.thread_id or group.archived:
                continue
            try:
                thread = guild.get_thread(group.thread_id)
                if thread is not None:
                    await thread.edit(archived=True)
                await self.store.mark_archived(guild.id, group.group_id)
            except discord.HTTPException as error:
                log.warning("Could not archive match thread %s: %s", group.thread_id, error)
        ignored: list[int] = []
        answered: list[int] = []
        for group in groups:
            for member in group.members:
                if member.departed:
                    continue
                if member.outcome is not None or group.met:
                    answered.append(member.user_id)
                else:
                    ignored.append(member.user_id)
        await self.store.record_ignored(guild.id, ignored, answered, now=self._clock.now())
        parts = await self.store.participants(guild.id)
        for user_id in ignored:
            part = parts.get(user_id)
            if part is None or part.ignored_rounds < 3 or part.stay_asked_at is not None:
                continue
            if await self.store.mark_stay_asked(guild.id, user_id, now=self._clock.now()):
                text = await self._templates.render(guild.id, "match_stay_or_pause")
                await self._ctx.queue_for_round(
                    guild.id,
                    round_,
                    KIND_STAY,
                    user_id,
                    user_id=user_id,
                    content=text,
                    view=(VIEW_STAY, (guild.id,)),
                )

    async def member_left(self, guild_id: int, user_id: int) -> None:
        """A student left the server mid-round: out of their match thread, and their partner
        is told privately (a DM; in the thread when their DMs are known to be closed) with a
        re-match or priority offer when nobody is left to meet."""
        for round_, group in await self.store.groups_of_user(guild_id, user_id, limit=3):
            if round_.status != "posted":
                continue
            if not await self.store.set_departed(
                guild_id, group.group_id, user_id, now=self._clock.now()
            ):
                continue
            if group.delivery == "thread" and group.thread_id and self._ctx.client is not None:
                try:
                    await self._ctx.client.http.remove_user_from_thread(group.thread_id, user_id)
                except discord.HTTPException as error:
                    log.warning(
                        "Could not remove %s from match thread %s: %s",
                        user_id,
                        group.thread_id,
                        error,
                    )
            remaining = [u for u in group.present_ids if u != user_id]
            if not remaining:
                continue
            alone = len(remaining) == 1
            text = await self._templates.render(
                guild_id, "match_partner_left" if alone else "match_partner_left_group"
            )
            view = (VIEW_AFTER, (guild_id, group.group_id)) if alone else None
            for partner in remaining:
                closed = self._dm_marks is not None and await self._dm_marks.is_dm_closed(
                    guild_id, partner
                )
                in_thread = closed and group.delivery == "thread" and group.thread_id
                await self._ctx.queue_for_round(
                    guild_id,
                    round_,
                    KIND_DEPARTED,
                    group.group_id,
                    user_id,
                    partner,
                    channel_id=group.thread_id if in_thread else None,
                    user_id=None if in_thread else partner,
                    content=text,
                    view=view,
                )
            log.info(
                "Match group %s in guild %s: a member left the server", group.group_id, guild_id
            )

    async def group_for_click(
        self, interaction_guild_id: int | None, guild_id: int, group_id: int, user_id: int
    ) -> GroupRecord:
        """Reload the group by (id, guild) and check the clicker is in it."""
        if interaction_guild_id is not None and interaction_guild_id != guild_id:
            raise UserFacingError("That button doesn't belong to this server.")
        group = await self.store.group(guild_id, group_id)
        if group is None:
            raise UserFacingError("I can't find that coffee chat any more.")
        if user_id not in group.user_ids:
            raise UserFacingError("Only the members of this coffee chat can use its buttons.")
        return group

    async def record_outcome(
        self, guild_id: int, group: GroupRecord, user_id: int, outcome: Outcome
    ) -> str:
        await self.store.set_outcome(
            guild_id, group.group_id, user_id, outcome, now=self._clock.now()
        )
        await self.store.reset_ignored(guild_id, user_id, now=self._clock.now())
        updated = await self.store.group(guild_id, group.group_id)
        if updated is not None and updated.met and not group.met:
            for member in updated.user_ids:
                try:
                    await self._milestones.reached(guild_id, member, "first_chat_met")
                except Exception:
                    log.exception("milestone first_chat_met failed for guild %s", guild_id)
        if outcome == "met":
            return "Wonderful — thanks for letting me know! 🎉"
        if outcome == "not_yet":
            return "No worries — there's still time. I'll count it when you do meet."
        return (
            "Sorry it didn't work out. Would you like a new partner now (another classmate "
            "whose partner didn't respond), or priority in the next round?"
        )

    async def rematch(self, guild: discord.Guild, group: GroupRecord, user_id: int) -> str:
        """Pair with another student of the round whose partner didn't respond, or wait (and
        get priority). See :meth:`_rematch_partner` for who qualifies."""
        round_ = await self.store.get_round(guild.id, group.round_id)
        if round_ is None or round_.status != "posted":
            await self.store.set_priority(guild.id, user_id, now=self._clock.now())
            return "This round is over, so you'll be placed first in the next one."
        partner = await self._rematch_partner(guild, round_, group, user_id)
        if partner is None:
            await self.store.set_wants_rematch(guild.id, group.group_id, user_id, True)
            await self.store.set_priority(guild.id, user_id, now=self._clock.now())
            return (
                "Got it. As soon as another classmate whose partner didn't respond is free, I'll "
                "pair you up; if nobody is this round, you'll be placed first next round."
            )
        rescored = await self._proposals.rescore(guild.id, (partner, user_id), round_)
        new_group = replace(rescored, rematch=True, quality=())
        group_id = await self.store.add_rematch_group(guild.id, round_.round_id, new_group)
        delivered = await self._delivery.deliver_group(guild, round_, group_id)
        if delivered is not None and not delivered.announced:
            await self.store.reopen_delivery(guild.id, round_.round_id)
            return (
                f"You're re-matched with {member_name(guild, partner)}. Discord had a hiccup "
                "opening your thread; it will appear shortly."
            )
        where = (
            f"<#{delivered.thread_id}>"
            if delivered is not None and delivered.delivery == "thread"
            else "your DMs"
        )
        return f"You're re-matched with {member_name(guild, partner)} — see {where}."

    async def _rematch_partner(
        self, guild: discord.Guild, round_: RoundRecord, group: GroupRecord, user_id: int
    ) -> int | None:
        """Who can be re-matched with ``user_id`` now, best first:

        1. a student of the round who asked for a new partner and is still waiting;
        2. after the midpoint ("Did you meet?" was asked), a student whose partners all stayed
           silent — no click at all, or they left the server — and who answered themselves
           ("Couldn't connect" before "Not yet"), so they are around and haven't met.

        Never: someone in the caller's group, someone already re-matched this round, someone who
        chose "priority next round", who left the server, or a blocked/avoided pair."""
        forbidden = await self.store.forbidden_pairs(guild.id)
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        rematched = {u for g in groups if g.rematch for u in g.present_ids}
        asked: list[tuple[str, int]] = []
        silent: list[tuple[int, str, int]] = []
        for other in groups:
            if other.group_id == group.group_id or other.rematch or user_id in other.user_ids:
                continue
            for member in other.members:
                candidate = member.user_id
                if (
                    candidate == user_id
                    or candidate in rematched
                    or member.departed
                    or member.chose_priority
                    or frozenset((candidate, user_id)) in forbidden
                    or guild.get_member(candidate) is None
                ):
                    continue
                stamp = member.outcome_at.isoformat() if member.outcome_at else ""
                if member.wants_rematch:
                    asked.append((stamp, candidate))
                    continue
                partners_silent = all(
                    m.outcome is None or m.departed for m in other.members if m is not member
                )
                if (
                    round_.followup_done
                    and partners_silent
                    and member.outcome in ("no_connect", "not_yet")
                ):
                    rank = 0 if member.outcome == "no_connect" else 1
                    silent.append((rank, stamp, candidate))
        if asked:
            return min(asked)[1]
        if silent:
            return min(silent)[2]
        return None

    async def choose_priority(self, guild_id: int, group: GroupRecord, user_id: int) -> str:
        await self.store.set_chose_priority(guild_id, group.group_id, user_id)
        await self.store.set_priority(guild_id, user_id, now=self._clock.now())
        return "Done — you'll be placed first in the next round."

    async def current_group(self, guild_id: int, user_id: int) -> GroupRecord | None:
        for round_, group in await self.store.groups_of_user(guild_id, user_id, limit=3):
            if round_.status == "posted":
                return group
        return None
