"""Coffee chats' safety: a student's private avoids, an instructor's blocks, and reports to
staff (which may also avoid the person and ask for a new match). Avoids and blocks are the
forbidden pairs every proposal and re-match respects.
"""

from __future__ import annotations

import discord

from bot.errors import UserFacingError
from cogs.coffee_chats.common import MatchContext, MatchPart
from cogs.coffee_chats.followups import Followups
from cogs.coffee_chats.repository import GroupRecord

__all__ = ["Safety"]


class Safety(MatchPart):
    """Avoids, blocks and reports."""

    def __init__(self, ctx: MatchContext, followups: Followups) -> None:
        super().__init__(ctx)
        self._followups = followups

    async def avoid(self, guild: discord.Guild, user_id: int, target_id: int) -> bool:
        target = guild.get_member(target_id)
        if target_id == user_id:
            raise UserFacingError("You can't avoid yourself. Nothing was changed.")
        if target is None or target.bot:
            raise UserFacingError(
                "That person isn't a member of this server, so there's nothing to avoid. "
                "Nothing was changed."
            )
        return await self.store.add_avoid(guild.id, user_id, target_id, now=self._clock.now())

    async def block(self, guild: discord.Guild, a: int, b: int) -> bool:
        if a == b:
            raise UserFacingError("Pick two different people to block. Nothing was changed.")
        for user_id in (a, b):
            member = guild.get_member(user_id)
            if member is None or member.bot:
                raise UserFacingError(
                    f"<@{user_id}> isn't a member of this server. Nothing was changed."
                )
        return await self.store.add_block(guild.id, a, b, now=self._clock.now())

    async def report(
        self,
        guild: discord.Guild,
        *,
        reporter_id: int,
        reported_id: int | None,
        group: GroupRecord | None,
        link: str | None,
        rematch: bool,
        avoid: bool,
    ) -> str:
        cohort_id: int | None = None
        if group is not None:
            round_ = await self.store.get_round(guild.id, group.round_id)
            cohort_id = round_.cohort_id if round_ else None
        await self.store.add_report(
            guild_id=guild.id,
            cohort_id=cohort_id,
            reporter_id=reporter_id,
            reported_id=reported_id,
            group_id=group.group_id if group else None,
            channel_id=None,
            message_id=None,
            rematch=rematch,
            avoid=avoid,
            now=self._clock.now(),
        )
        about = f" about <@{reported_id}>" if reported_id else ""
        wishes = []
        if avoid and reported_id:
            wishes.append("never to be matched with them again (done)")
        if rematch:
            wishes.append("a new match")
        text = (
            f"🚩 **Report to staff** from <@{reporter_id}>{about}"
            + (f": {link}" if link else "")
            + (f"\nThey asked for {' and '.join(wishes)}." if wishes else "")
            + "\nPlease follow up privately."
        )
        delivered = await self._ctx.tell_leads(guild, text)
        answer = (
            "Thank you — your report went privately to the course staff; they'll follow up."
            if delivered
            else "I couldn't reach the staff channel. Please message an instructor directly."
        )
        if avoid and reported_id and reported_id != reporter_id:
            await self.store.add_avoid(guild.id, reporter_id, reported_id, now=self._clock.now())
            answer += " You won't be matched with them again (they aren't told)."
        if rematch:
            mine = group or await self._followups.current_group(guild.id, reporter_id)
            if mine is not None and reporter_id in mine.user_ids:
                answer += " " + await self._followups.rematch(guild, mine, reporter_id)
            else:
                await self.store.set_priority(guild.id, reporter_id, now=self._clock.now())
                answer += " You'll be placed first in the next round."
        return answer
