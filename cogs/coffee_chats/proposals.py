"""Coffee-chat proposals: who takes part in a round, the matcher, the instructor's edits.

1. :meth:`Proposals.propose` builds a :class:`cogs.coffee_chats.matcher.MatchRequest` from the
   database: the cohort's students (app.roster: staff never) who joined with ``/match join``
   and are not paused or away; blocks and avoids as forbidden pairs; history (earlier groups,
   trios, fairness shortfall, priority). The matcher runs in ``asyncio.to_thread``. The result
   is saved as a *proposal* (status ``proposed``) unless it is a dry run.
2. The instructor may :meth:`Proposals.swap` two people or :meth:`Proposals.move` one; every
   edit is checked against the forbidden pairs and saved.
3. Before posting, :meth:`Proposals.repair_if_stale` re-validates the saved proposal (someone
   left, paused, went away or was blocked since?) and saves a repaired version; posting
   (cogs/coffee_chats/delivery.py) then saves fairness once (:meth:`Proposals.save_fairness`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import discord

from bot.calendar import monday_of
from bot.errors import UserFacingError
from bot.store.guilds import Cohort
from cogs.coffee_chats.common import (
    MatchContext,
    MatchPart,
    member_name,
    shown_attributes,
    to_match_profile,
)
from cogs.coffee_chats.repository import GroupRecord, NewGroup, RoundRecord
from cogs.coffee_chats.texts import staff_reason_labels

if TYPE_CHECKING:
    # The matcher pulls in numpy and rustworkx: imported where a round is built, not at start.
    from cogs.coffee_chats.matcher import Group, MatchHistory, MatchRequest

__all__ = ["PREVIEW_GROUPS_PER_PAGE", "STAFF_UNMATCHED_WORDS", "Proposal", "Proposals"]

PREVIEW_GROUPS_PER_PAGE = 8

#: Why someone was not matched, for the instructor's preview only: which constraint left them
#: out (the student's note, delivery.py UNMATCHED_WORDS, never says blocks or avoids were involved).
STAFF_UNMATCHED_WORDS = {
    "no_other_students": "the only eligible student this round",
    "no_allowed_partner": "blocked or avoided with everyone else eligible this round",
    "no_compatible_group": (
        "blocks and avoids: each of their allowed partners is needed to place someone else"
    ),
    "no_allowed_trio": (
        "odd count, and no trio free of blocks and avoids leaves everyone else in pairs"
    ),
}


def _round_seed(guild_id: int, cohort_id: int, round_index: int, attempt: int = 0) -> int:
    return (guild_id * 1_000_003 + cohort_id * 7_919 + round_index * 101 + attempt) % (2**31)


@dataclass
class Proposal:
    """A proposal (saved unless ``dry_run``) with what the preview shows."""

    cohort: Cohort
    round_id: int | None
    groups: list[NewGroup]
    unmatched: list[tuple[int, str]]
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Eligibility:
    eligible: list[int]
    why_not: dict[int, str]


class Proposals(MatchPart):
    """Building, editing and checking a round's proposal."""

    def __init__(self, ctx: MatchContext) -> None:
        super().__init__(ctx)
        self._roster = ctx.roster
        self._away = ctx.away

    async def _eligibility(self, guild: discord.Guild, cohort: Cohort) -> _Eligibility:
        now = self._clock.now()
        students = {m.id for m in await self._roster.students(guild, cohort)}
        parts = await self.store.participants(guild.id)
        away = await self._away.away_users(guild.id, now)
        eligible: list[int] = []
        why_not: dict[int, str] = {}
        for user_id, part in parts.items():
            if not part.joined:
                why_not[user_id] = "left the coffee-chat rounds"
            elif guild.get_member(user_id) is None:
                why_not[user_id] = "left the server"
            elif user_id not in students:
                why_not[user_id] = "is no longer a student of this cohort"
            elif part.paused(now):
                why_not[user_id] = "paused matching"
            elif user_id in away:
                why_not[user_id] = "is away"
            else:
                eligible.append(user_id)
        return _Eligibility(sorted(eligible), why_not)

    async def _history(self, guild_id: int, cohort_id: int) -> MatchHistory:
        from cogs.coffee_chats.matcher import MatchHistory, PastGroup

        past: list[PastGroup] = []
        trios: dict[int, int] = {}
        for round_index, group in await self.store.history_groups(guild_id, cohort_id):
            members = frozenset(group.user_ids)
            if len(members) < 2:
                continue
            past.append(PastGroup(round_index, members))
            if len(members) == 3:
                for user_id in members:
                    trios[user_id] = trios.get(user_id, 0) + 1
        parts = await self.store.participants(guild_id)
        return MatchHistory(
            groups=tuple(past),
            trio_counts=trios,
            shortfall={u: p.shortfall for u, p in parts.items() if p.shortfall > 0},
            priority=frozenset(u for u, p in parts.items() if p.priority),
        )

    async def _week_start(self, guild_id: int) -> datetime:
        config = await self._setup.config(guild_id)
        zone = ZoneInfo(config.timezone if config else "UTC")
        local = self._clock.now().astimezone(zone)
        monday = monday_of(local.date())
        return datetime.combine(monday, time(0), zone).astimezone(UTC)

    async def _request(
        self, guild: discord.Guild, cohort: Cohort, eligible: Sequence[int]
    ) -> MatchRequest:
        from cogs.coffee_chats.matcher import MatchRequest

        settings = await self._ctx.settings(guild.id, cohort.cohort_id)
        profiles = await self._profiles.for_users(guild.id, list(eligible))
        round_index = await self.store.next_round_index(guild.id, cohort.cohort_id)
        config = await self._setup.config(guild.id)
        return MatchRequest(
            students=tuple(to_match_profile(u, profiles.get(u)) for u in eligible),
            forbidden_pairs=await self.store.forbidden_pairs(guild.id),
            history=await self._history(guild.id, cohort.cohort_id),
            round_index=round_index,
            week_start_utc=await self._week_start(guild.id),
            group_size=3 if settings.group_size == 3 else 2,
            seed=_round_seed(guild.id, cohort.cohort_id, round_index),
            half_life_rounds=settings.half_life,
            default_timezone=config.timezone if config else "UTC",
        )

    async def propose(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        *,
        dry_run: bool = False,
        slot: str | None = None,
    ) -> Proposal:
        eligibility = await self._eligibility(guild, cohort)
        if len(eligibility.eligible) < 2:
            raise UserFacingError(
                f"Only {len(eligibility.eligible)} student(s) in {cohort.name} can be matched "
                "right now (students join with /match join; paused or away students sit a round "
                "out), so there's nothing to propose. Nothing was posted."
            )
        from cogs.coffee_chats.matcher import run_matching

        request = await self._request(guild, cohort, eligibility.eligible)
        # The matcher is CPU-bound: off the event loop, so the bot keeps answering.
        result = await asyncio.to_thread(run_matching, request)
        groups = [self._new_group(g, result) for g in result.groups]
        proposal = Proposal(cohort, None, groups, list(result.unmatched), dry_run=dry_run)
        if not dry_run:
            proposal.round_id = await self.store.create_round(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                round_index=request.round_index,
                seed=request.seed,
                group_size=request.group_size,
                week_start=request.week_start_utc,
                slot=slot,
                groups=groups,
                unmatched=list(result.unmatched),
                now=self._clock.now(),
            )
        return proposal

    @staticmethod
    def _new_group(group: Group, result: Any) -> NewGroup:
        return NewGroup(
            members=tuple(group.members),
            score=round(group.score, 2),
            reasons=tuple(group.reasons),
            quality=tuple(
                (u, float(result.quality[u])) for u in group.members if u in result.quality
            ),
        )

    async def proposal(self, guild_id: int, round_id: int) -> Proposal:
        round_ = await self.proposed_round(guild_id, round_id)
        cohort = await self._ctx.cohort(guild_id, round_.cohort_id)
        groups = await self.store.groups_of_round(guild_id, round_id)
        return Proposal(
            cohort,
            round_id,
            [self._as_new(g) for g in groups],
            await self.store.unmatched_of_round(guild_id, round_id),
        )

    @staticmethod
    def _as_new(group: GroupRecord) -> NewGroup:
        return NewGroup(
            members=group.user_ids,
            score=group.score,
            reasons=group.reasons,
            rematch=group.rematch,
            quality=tuple((m.user_id, m.quality) for m in group.members if m.quality is not None),
        )

    async def proposed_round(self, guild_id: int, round_id: int) -> RoundRecord:
        round_ = await self.store.get_round(guild_id, round_id)
        if round_ is None:
            raise UserFacingError("I can't find that proposal in this server.")
        if round_.status == "posted" or round_.status == "ended":
            raise UserFacingError("That proposal was already posted.")
        if round_.status != "proposed":
            raise UserFacingError(
                "That proposal was replaced by a newer one. Run /course match run again."
            )
        return round_

    async def rescore(
        self,
        guild_id: int,
        members: Sequence[int],
        round_: RoundRecord,
        *,
        before: Sequence[GroupRecord] = (),
    ) -> NewGroup:
        """Score and reasons of an edited group. With ``before`` (the proposal before an
        instructor's swap or move), each member whose partners changed gets a fairness quality
        relative to what they had: quality x (mean score with the new partners / mean score
        with the old ones), starting from the matcher's own quality. A worse partner than the
        matcher proposed thus adds to the member's shortfall when the round is posted."""
        from cogs.coffee_chats.matcher import explain, pair_score

        old_partners = {u: [p for p in g.user_ids if p != u] for g in before for u in g.user_ids}
        old_quality = {m.user_id: m.quality for g in before for m in g.members}
        involved = set(members) | {p for u in members for p in old_partners.get(u, ())}
        profiles = await self._profiles.for_users(guild_id, sorted(involved))
        match_profiles = {u: to_match_profile(u, profiles.get(u)) for u in involved}
        config = await self._setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        cache: dict[frozenset[int], float] = {}

        def score_of(a: int, b: int) -> float:
            key = frozenset((a, b))
            if key not in cache:
                cache[key] = pair_score(
                    match_profiles[a], match_profiles[b], round_.week_start, default_timezone=zone
                )
            return cache[key]

        score = sum(
            score_of(members[i], members[j])
            for i in range(len(members))
            for j in range(i + 1, len(members))
        )
        reasons = explain(
            [match_profiles[u] for u in members], round_.week_start, default_timezone=zone
        )
        quality: list[tuple[int, float]] = []
        for user_id in members:
            had = old_quality.get(user_id)
            old = old_partners.get(user_id)
            new = [p for p in members if p != user_id]
            if old is None or sorted(old) == sorted(new):
                if had is not None:
                    quality.append((user_id, had))
                continue
            old_mean = sum(score_of(user_id, p) for p in old) / len(old) if old else 0.0
            new_mean = sum(score_of(user_id, p) for p in new) / len(new)
            base = 1.0 if had is None else had
            adjusted = base * new_mean / old_mean if old_mean > 0 else base
            quality.append((user_id, round(max(0.0, adjusted), 4)))
        return NewGroup(tuple(members), round(score, 2), reasons, quality=tuple(quality))

    async def _check_allowed(self, guild_id: int, members: Sequence[int]) -> None:
        forbidden = await self.store.forbidden_pairs(guild_id)
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                if frozenset((members[i], members[j])) in forbidden:
                    raise UserFacingError(
                        "That change would put two people together who must not be matched "
                        "(a block or a private avoid). Nothing was changed."
                    )

    async def swap(self, guild_id: int, round_id: int, a: int, b: int) -> str:
        async with self._ctx.edit_lock:
            round_ = await self.proposed_round(guild_id, round_id)
            groups = await self.store.groups_of_round(guild_id, round_id)
            where = {u: i for i, g in enumerate(groups) for u in g.user_ids}
            if a == b or a not in where or b not in where:
                raise UserFacingError(
                    "Pick two different people who are both in this proposal. Nothing was changed."
                )
            ga, gb = where[a], where[b]
            if ga == gb:
                raise UserFacingError("They are already in the same group. Nothing was changed.")
            new_a = tuple(b if u == a else u for u in groups[ga].user_ids)
            new_b = tuple(a if u == b else u for u in groups[gb].user_ids)
            await self._check_allowed(guild_id, new_a)
            await self._check_allowed(guild_id, new_b)
            await self._save_edit(guild_id, round_, groups, {ga: new_a, gb: new_b})
        return f"Swapped: groups {ga + 1} and {gb + 1} were updated."

    async def move(self, guild_id: int, round_id: int, user_id: int, to_position: int) -> str:
        async with self._ctx.edit_lock:
            round_ = await self.proposed_round(guild_id, round_id)
            groups = await self.store.groups_of_round(guild_id, round_id)
            where = {u: i for i, g in enumerate(groups) for u in g.user_ids}
            if user_id not in where:
                raise UserFacingError("That person isn't in this proposal. Nothing was changed.")
            if not 0 <= to_position < len(groups):
                raise UserFacingError("There is no such group. Nothing was changed.")
            source = where[user_id]
            if source == to_position:
                raise UserFacingError("They are already in that group. Nothing was changed.")
            if len(groups[source].members) < 3 or len(groups[to_position].members) >= 3:
                raise UserFacingError(
                    "A move takes someone out of a trio into a pair (nobody may be left alone, "
                    "and groups have at most 3). Use a swap instead. Nothing was changed."
                )
            new_source = tuple(u for u in groups[source].user_ids if u != user_id)
            new_target = (*groups[to_position].user_ids, user_id)
            await self._check_allowed(guild_id, new_target)
            await self._save_edit(
                guild_id, round_, groups, {source: new_source, to_position: new_target}
            )
        return f"Moved: groups {source + 1} and {to_position + 1} were updated."

    async def _save_edit(
        self,
        guild_id: int,
        round_: RoundRecord,
        groups: list[GroupRecord],
        changed: dict[int, tuple[int, ...]],
    ) -> None:
        """Save a swap or move: the groups at the ``changed`` positions get their new members
        (rescored), the others stay as they were."""
        edited = [self._as_new(g) for g in groups]
        for position, members in changed.items():
            edited[position] = await self.rescore(guild_id, members, round_, before=groups)
        unmatched = await self.store.unmatched_of_round(guild_id, round_.round_id)
        if not await self.store.replace_proposal(guild_id, round_.round_id, edited, unmatched):
            raise UserFacingError("That proposal was already posted or replaced.")

    async def preview_pages(self, guild: discord.Guild, proposal: Proposal) -> list[discord.Embed]:
        """The instructor's preview: every group with its score and the reasons staff may see
        (what classmates may see — a private circumstance is private from staff too)."""
        users = [u for g in proposal.groups for u in g.members]
        profiles = await self._profiles.for_users(guild.id, users)
        lines: list[str] = []
        for index, group in enumerate(proposal.groups, start=1):
            names = " · ".join(member_name(guild, u) for u in group.members)
            shown = [shown_attributes(profiles.get(u), "staff") for u in group.members]
            labels = staff_reason_labels(group.reasons, shown)
            reasons = "; ".join(labels) if labels else "no shared reasons"
            lines.append(f"**{index}.** {names} — score {group.score:.1f} — {reasons}")
        title = f"Coffee-chat preview — {proposal.cohort.name}" + (
            " (dry run, not saved)" if proposal.dry_run else ""
        )
        pages: list[discord.Embed] = []
        chunks = [
            lines[i : i + PREVIEW_GROUPS_PER_PAGE]
            for i in range(0, len(lines), PREVIEW_GROUPS_PER_PAGE)
        ] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            embed = discord.Embed(
                title=title[:256], description="\n".join(chunk)[:4096] or "No groups."
            )
            if proposal.unmatched and number == len(chunks):
                names = ", ".join(
                    f"{member_name(guild, u)} ({STAFF_UNMATCHED_WORDS.get(why, why)})"
                    for u, why in proposal.unmatched
                )
                embed.add_field(
                    name="Not matched (told privately, priority next round)", value=names[:1024]
                )
            for note in proposal.notes[:3]:
                embed.add_field(name="Changed since the preview", value=note[:1024], inline=False)
            total = sum(len(g.members) for g in proposal.groups)
            embed.set_footer(
                text=f"Page {number}/{len(chunks)} · {len(proposal.groups)} groups, "
                f"{total} students"
            )
            pages.append(embed)
        return pages

    async def repair_if_stale(
        self, guild: discord.Guild, cohort: Cohort, round_: RoundRecord
    ) -> list[str]:
        eligibility = await self._eligibility(guild, cohort)
        ok = set(eligibility.eligible)
        forbidden = await self.store.forbidden_pairs(guild.id)
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        changes: list[str] = []
        kept: list[list[int]] = []
        for group in groups:
            members = []
            for user_id in group.user_ids:
                if user_id in ok:
                    members.append(user_id)
                else:
                    why = eligibility.why_not.get(user_id, "can't be matched now")
                    changes.append(
                        f"{member_name(guild, user_id)} {why}: removed from group "
                        f"{group.position + 1}."
                    )
            kept.append(members)
        for index, members in enumerate(kept):
            for i in range(len(members)):
                for j in range(i + 1, len(members)):
                    if frozenset((members[i], members[j])) in forbidden:
                        moved = members.pop(j)
                        changes.append(
                            f"Group {index + 1} now holds a blocked pair: "
                            f"{member_name(guild, moved)} was taken out."
                        )
                        kept.append([moved])
                        break
                else:
                    continue
                break
        if not changes:
            return []
        unmatched = dict(await self.store.unmatched_of_round(guild.id, round_.round_id))
        final: list[list[int]] = [m for m in kept if len(m) >= 2]
        for members in kept:
            if len(members) != 1:
                continue
            lone = members[0]
            home = next(
                (
                    g
                    for g in sorted(final, key=len)
                    if len(g) < 3 and all(frozenset((lone, o)) not in forbidden for o in g)
                ),
                None,
            )
            if home is None:
                unmatched[lone] = "no_compatible_group"
                changes.append(
                    f"{member_name(guild, lone)} has no partner now: not matched, "
                    "priority next round."
                )
            else:
                home.append(lone)
                changes.append(f"{member_name(guild, lone)} joins another group.")
        for user_id in list(unmatched):
            if user_id not in ok:
                del unmatched[user_id]
        old = {g.user_ids: self._as_new(g) for g in groups}
        rebuilt = [old.get(tuple(m)) or await self.rescore(guild.id, m, round_) for m in final]
        await self.store.replace_proposal(
            guild.id, round_.round_id, rebuilt, sorted(unmatched.items())
        )
        return changes

    async def save_fairness(
        self,
        guild_id: int,
        round_: RoundRecord,
        groups: Sequence[GroupRecord],
        unmatched: Sequence[tuple[int, str]],
    ) -> None:
        """Shortfall and priority after a posted round — once per round (a claim in the same
        transaction), so resuming a delivery never counts a round twice. A member the
        instructor swapped or moved carries the quality adjusted in :meth:`rescore`."""
        if round_.fairness_saved:
            return
        from cogs.coffee_chats.matcher import Group, MatchRequest, MatchResult, next_history

        history = await self._history(guild_id, round_.cohort_id)
        quality = {m.user_id: m.quality for g in groups for m in g.members if m.quality is not None}
        result = MatchResult(
            groups=tuple(Group(g.user_ids, g.score, g.reasons) for g in groups),
            unmatched=tuple(unmatched),
            total_score=sum(g.score for g in groups),
            objective=0.0,
            repeats=0,
            quality=quality,
        )
        request = MatchRequest(
            students=(),
            forbidden_pairs=frozenset(),
            history=history,
            round_index=round_.round_index,
            week_start_utc=round_.week_start,
        )
        updated = next_history(replace(history, groups=()), request, result)
        await self.store.save_fairness(
            guild_id,
            dict(updated.shortfall),
            updated.priority,
            now=self._clock.now(),
            round_id=round_.round_id,
        )
