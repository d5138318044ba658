"""Coffee-chat rounds (issue 5): who takes part, proposals, delivery, follow-ups and reports.

``app.matching`` (:class:`MatchingService`) is the use-case layer between cogs/matching.py and
the pure matcher (bot/matching.py) and wording (bot/matching_text.py). Its Discord side is the
client and the persistent views the cog attaches with :meth:`MatchingService.attach`.

A round
=======
1. :meth:`propose` builds a :class:`bot.matching.MatchRequest` from the database: the cohort's
   students (app.roster: staff never) who joined with ``/match join`` and are not paused or
   away; blocks and avoids as forbidden pairs; history (earlier groups, trios, fairness
   shortfall, priority). The matcher runs in ``asyncio.to_thread``. The result is saved as a
   *proposal* (status ``proposed``) unless it is a dry run.
2. The instructor may :meth:`swap` two people or :meth:`move` one; every edit is checked
   against the forbidden pairs and saved.
3. :meth:`post` re-validates the saved proposal (someone left, paused, went away or was
   blocked since?). A stale proposal is repaired, saved and NOT posted: the instructor is told
   what changed and sees the new version before posting it. Otherwise exactly the saved groups
   are delivered: one private thread (``invitable=False``) per group in the matches channel
   (default: the coffee shop), or DMs when threads are not possible (missing permission,
   160006 active-thread limit). The previous round of the cohort ends first (its threads are
   archived, which keeps the guild under the 1,000 active threads). Students the matcher could
   not place are told why, privately, and get priority next round.
4. Midway (:meth:`tick`), "Did you meet?" with Met / Not yet / Couldn't connect.
   "Couldn't connect" offers a re-match with another student of the round whose partner did
   not respond, or priority next round. At the round's end its threads are archived and a
   student who ignored three rounds in a row is asked once whether to stay in or pause.

DMs go only to students who joined (``/match join`` consents to match-related DMs). A closed
DM (50007) is recorded and shown to the instructor; nothing else stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import discord

from bot.calendar import monday_of
from bot.clock import Clock
from bot.errors import UserFacingError
from bot.matching import (
    Group,
    MatchHistory,
    MatchProfile,
    MatchRequest,
    MatchResult,
    PastGroup,
    Preference,
    common_slots,
    explain,
    next_history,
    pair_score,
    run_matching,
)
from bot.matching_text import explain_match, staff_reason_labels
from bot.profiles import Profile, visible_to
from bot.schedule_math import next_occurrence, slot_key
from bot.scheduler import ScheduledRun
from bot.services.roster import Roster
from bot.services.setup import SetupService
from bot.services.upcoming import UpcomingItem
from bot.store.guilds import Cohort
from bot.store.matching import (
    GroupRecord,
    MatchRepository,
    MatchSettings,
    NewGroup,
    Outcome,
    RoundRecord,
)
from bot.store.schedules import Schedule, ScheduleRepository
from bot.templates import Templates

__all__ = [
    "MATCH_KIND",
    "MatchViews",
    "MatchingService",
    "PostOutcome",
    "Proposal",
    "to_match_profile",
]

log = logging.getLogger(__name__)

MATCH_KIND = "match_round"
THREAD_LIMIT_CODE = 160006
DM_CLOSED_CODE = 50007
MAX_PAUSE_WEEKS = 12
PREVIEW_GROUPS_PER_PAGE = 8

#: Profile value → the matcher's vocabulary (bot/matching.py CIRCUMSTANCE_CHOICES).
_AVAILABILITY = {
    "weekday_mornings": "weekday_mornings",
    "weekday_daytime": "weekday_afternoons",
    "weekday_evenings": "weekday_evenings",
    "weekends": "weekends",
}
_CAREGIVING = {
    "young_children": "young_children",
    "school_age_children": "school_children",
    "adult_family": "adult_care",
    "none": "none",
}
_PRIOR = {"first": "none", "a_few": "some", "many": "many"}
_PREFERENCE: dict[str, Preference] = {"similar": "similar", "different": "different"}

UNMATCHED_WORDS = {
    "no_other_students": "you were the only classmate available this round",
    "no_allowed_partner": "nobody available this round could be matched with you",
    "no_compatible_group": "the groups didn't work out evenly this time",
}

OUTCOME_LABELS: dict[Outcome, str] = {
    "met": "Met",
    "not_yet": "Not yet",
    "no_connect": "Couldn't connect",
}


def to_match_profile(user_id: int, profile: Profile | None) -> MatchProfile:
    """What the matcher sees of a student: every set value (private ones too — they are used,
    never shown), in the matcher's vocabulary."""
    if profile is None:
        return MatchProfile(user_id)
    circumstances: dict[str, str] = {}
    work = profile.matchable("work")
    if work:
        circumstances["work"] = work
    care = profile.matchable("caregiving")
    if care and care in _CAREGIVING:
        circumstances["caregiving"] = _CAREGIVING[care]
    first = profile.matchable("first_in_family")
    if first:
        circumstances["first_gen"] = first
    prior = profile.matchable("prior_courses")
    if prior and prior in _PRIOR:
        circumstances["prior_courses"] = _PRIOR[prior]
    wants = profile.matchable("wants")
    if wants:
        circumstances["goal"] = wants
    availability = profile.matchable("availability")
    preferences: dict[str, Preference] = {}
    for attribute in ("timezone", "work", "caregiving"):
        chosen = _PREFERENCE.get(profile.preference(attribute))
        if chosen:
            preferences[attribute] = chosen
    return MatchProfile(
        user_id=user_id,
        timezone=profile.matchable("timezone"),
        availability=frozenset({_AVAILABILITY[availability]})
        if availability in _AVAILABILITY
        else frozenset(),
        circumstances=circumstances,
        preferences=preferences,
    )


def _shown(profile: Profile | None, relation: Literal["match", "staff"]) -> frozenset[str]:
    if profile is None:
        return frozenset()
    return frozenset(
        attr
        for attr in profile.entries
        if profile.matchable(attr) is not None and visible_to(profile.visibility(attr), relation)
    )


def _round_seed(guild_id: int, cohort_id: int, round_index: int, attempt: int = 0) -> int:
    return (guild_id * 1_000_003 + cohort_id * 7_919 + round_index * 101 + attempt) % (2**31)


class MatchViews(Protocol):
    """The persistent views the cog provides (their buttons re-check everything on click)."""

    def thread_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

    def followup_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

    def stay_view(self, guild_id: int) -> discord.ui.View: ...

    def review_view(self, guild_id: int, round_id: int) -> discord.ui.View: ...


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
class PostOutcome:
    posted: bool
    lines: list[str] = field(default_factory=list)


@dataclass
class _Eligibility:
    eligible: list[int]
    why_not: dict[int, str]


class MatchingService:
    def __init__(
        self,
        *,
        store: MatchRepository,
        setup: SetupService,
        roster: Roster,
        profiles: Any,
        away: Any,
        calendar: Any,
        templates: Templates,
        clock: Clock,
        schedules: ScheduleRepository,
        milestones: Any,
        dm_marks: Any,
    ) -> None:
        self.store = store
        self._setup = setup
        self._roster = roster
        self._profiles = profiles
        self._away = away
        self._calendar = calendar
        self._templates = templates
        self._clock = clock
        self._schedules = schedules
        self._milestones = milestones
        self._dm_marks = dm_marks
        self._client: discord.Client | None = None
        self._views: MatchViews | None = None
        self._edit_lock = asyncio.Lock()

    def attach(self, client: discord.Client | None, views: MatchViews | None) -> None:
        self._client = client
        self._views = views

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
        schedule = Schedule(
            guild_id=guild_id,
            cohort_id=cohort.cohort_id,
            kind=MATCH_KIND,
            weekday=weekday,
            local_time=at,
            timezone=config.timezone,
            enabled=True,
            created_at=now,
        )
        await self._schedules.upsert(schedule)
        settings = await self.settings(guild_id, cohort.cohort_id)
        await self.save_settings(replace(settings, cadence=cadence))  # type: ignore[arg-type]
        return next_occurrence(weekday, at, ZoneInfo(config.timezone), now)

    async def unschedule(self, guild_id: int, cohort: Cohort) -> bool:
        return await self._schedules.delete(guild_id, cohort.cohort_id, MATCH_KIND)

    # ------------------------------------------------------------------ eligibility

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
        settings = await self.settings(guild.id, cohort.cohort_id)
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

    # ------------------------------------------------------------------ proposals

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
    def _new_group(group: Group, result: MatchResult) -> NewGroup:
        return NewGroup(
            members=tuple(group.members),
            score=round(group.score, 2),
            reasons=tuple(group.reasons),
            quality=tuple(
                (u, float(result.quality[u])) for u in group.members if u in result.quality
            ),
        )

    async def proposal(self, guild_id: int, round_id: int) -> Proposal:
        round_ = await self._proposed_round(guild_id, round_id)
        cohort = await self._cohort(guild_id, round_.cohort_id)
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

    async def _cohort(self, guild_id: int, cohort_id: int) -> Cohort:
        for cohort in await self._setup.cohorts(guild_id):
            if cohort.cohort_id == cohort_id:
                return cohort
        raise UserFacingError("That cohort no longer exists.")

    async def _proposed_round(self, guild_id: int, round_id: int) -> RoundRecord:
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

    async def _rescore(
        self, guild_id: int, members: Sequence[int], round_: RoundRecord
    ) -> NewGroup:
        profiles = await self._profiles.for_users(guild_id, list(members))
        match_profiles = [to_match_profile(u, profiles.get(u)) for u in members]
        config = await self._setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        score = 0.0
        for i in range(len(match_profiles)):
            for j in range(i + 1, len(match_profiles)):
                score += pair_score(
                    match_profiles[i], match_profiles[j], round_.week_start, default_timezone=zone
                )
        reasons = explain(match_profiles, round_.week_start, default_timezone=zone)
        return NewGroup(tuple(members), round(score, 2), reasons)

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
        async with self._edit_lock:
            round_ = await self._proposed_round(guild_id, round_id)
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
            edited = [self._as_new(g) for g in groups]
            edited[ga] = await self._rescore(guild_id, new_a, round_)
            edited[gb] = await self._rescore(guild_id, new_b, round_)
            unmatched = await self.store.unmatched_of_round(guild_id, round_id)
            if not await self.store.replace_proposal(guild_id, round_id, edited, unmatched):
                raise UserFacingError("That proposal was already posted or replaced.")
        return f"Swapped: groups {ga + 1} and {gb + 1} were updated."

    async def move(self, guild_id: int, round_id: int, user_id: int, to_position: int) -> str:
        async with self._edit_lock:
            round_ = await self._proposed_round(guild_id, round_id)
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
            edited = [self._as_new(g) for g in groups]
            edited[source] = await self._rescore(guild_id, new_source, round_)
            edited[to_position] = await self._rescore(guild_id, new_target, round_)
            unmatched = await self.store.unmatched_of_round(guild_id, round_id)
            if not await self.store.replace_proposal(guild_id, round_id, edited, unmatched):
                raise UserFacingError("That proposal was already posted or replaced.")
        return f"Moved: groups {source + 1} and {to_position + 1} were updated."

    async def preview_pages(self, guild: discord.Guild, proposal: Proposal) -> list[discord.Embed]:
        """The instructor's preview: every group with its score and the reasons staff may see
        (what classmates may see — a private circumstance is private from staff too)."""
        users = [u for g in proposal.groups for u in g.members]
        profiles = await self._profiles.for_users(guild.id, users)
        lines: list[str] = []
        for index, group in enumerate(proposal.groups, start=1):
            names = " · ".join(self._name(guild, u) for u in group.members)
            shown = [_shown(profiles.get(u), "staff") for u in group.members]
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
                    f"{self._name(guild, u)} ({UNMATCHED_WORDS.get(why, why)})"
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

    @staticmethod
    def _name(guild: discord.Guild, user_id: int) -> str:
        member = guild.get_member(user_id)
        return member.display_name if member else f"(left, {user_id})"

    # ------------------------------------------------------------------ posting

    async def post(self, guild: discord.Guild, round_id: int) -> PostOutcome:
        """Deliver exactly the saved proposal — after re-validating it."""
        async with self._edit_lock:
            round_ = await self._proposed_round(guild.id, round_id)
            cohort = await self._cohort(guild.id, round_.cohort_id)
            changes = await self._repair_if_stale(guild, cohort, round_)
            if changes:
                return PostOutcome(
                    False,
                    [
                        "⚠️ The proposal changed since you saw it, so nothing was posted:",
                        *(f"• {c}" for c in changes),
                        "Here is the updated proposal — press **Post these** again to post it.",
                    ],
                )
            settings = await self.settings(guild.id, cohort.cohort_id)
            now = self._clock.now()
            length = timedelta(weeks=2 if settings.cadence == "biweekly" else 1)
            previous = await self.store.latest_round(guild.id, cohort.cohort_id, ("posted",))
            if not await self.store.mark_posted(
                guild.id, round_id, now=now, followup_at=now + length / 2, ends_at=now + length
            ):
                raise UserFacingError("That proposal was already posted.")
        # The previous round ends now: its threads are archived (thread budget).
        if previous is not None:
            await self.end_round(guild, previous)
        groups = await self.store.groups_of_round(guild.id, round_id)
        unmatched = await self.store.unmatched_of_round(guild.id, round_id)
        await self._save_fairness(guild.id, round_, groups, unmatched)
        lines = await self._deliver(guild, round_, settings, groups)
        lines += await self._tell_unmatched(guild, unmatched)
        return PostOutcome(True, lines)

    async def _repair_if_stale(
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
                        f"{self._name(guild, user_id)} {why}: removed from group "
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
                            f"{self._name(guild, moved)} was taken out."
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
                    f"{self._name(guild, lone)} has no partner now: not matched, "
                    "priority next round."
                )
            else:
                home.append(lone)
                changes.append(f"{self._name(guild, lone)} joins another group.")
        for user_id in list(unmatched):
            if user_id not in ok:
                del unmatched[user_id]
        old = {g.user_ids: self._as_new(g) for g in groups}
        rebuilt = [old.get(tuple(m)) or await self._rescore(guild.id, m, round_) for m in final]
        await self.store.replace_proposal(
            guild.id, round_.round_id, rebuilt, sorted(unmatched.items())
        )
        return changes

    async def _save_fairness(
        self,
        guild_id: int,
        round_: RoundRecord,
        groups: Sequence[GroupRecord],
        unmatched: Sequence[tuple[int, str]],
    ) -> None:
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
            guild_id, dict(updated.shortfall), updated.priority, now=self._clock.now()
        )

    async def _explanation(
        self, guild_id: int, members: Sequence[int], reasons: Sequence[str], start: datetime
    ) -> tuple[str, list[datetime]]:
        profiles = await self._profiles.for_users(guild_id, list(members))
        shown = [_shown(profiles.get(u), "match") for u in members]
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
            + " · ".join(f"<t:{int(s.timestamp())}:f>" for s in slots)
            if slots
            else "Pick a time that works for you all."
        )
        footer = await self._templates.render(guild.id, "match_thread_footer")
        return "\n".join([names, intro, f"> {text}", times, footer])[:2000]

    async def _deliver(
        self,
        guild: discord.Guild,
        round_: RoundRecord,
        settings: MatchSettings,
        groups: Sequence[GroupRecord],
    ) -> list[str]:
        config = await self._setup.config(guild.id)
        channel_id = settings.channel_id or (config.coffee_channel_id if config else None)
        channel = guild.get_channel(channel_id or 0)
        threads_ok = isinstance(channel, discord.TextChannel)
        lines: list[str] = []
        if isinstance(channel, discord.TextChannel):
            perms = channel.permissions_for(guild.me)
            if not (perms.create_private_threads and perms.send_messages_in_threads):
                threads_ok = False
                lines.append(
                    f"I can't open private threads in <#{channel.id}> (I need Create Private "
                    "Threads and Send Messages in Threads), so groups got DMs instead."
                )
        elif channel_id is None:
            lines.append("No matches channel is set, so groups got DMs instead.")
        threads = dms = 0
        closed: list[int] = []
        for group in groups:
            if threads_ok and isinstance(channel, discord.TextChannel):
                try:
                    await self._deliver_thread(guild, channel, round_, group)
                    threads += 1
                    continue
                except discord.HTTPException as error:
                    threads_ok = False
                    reason = (
                        "the server reached Discord's limit of active threads"
                        if error.code == THREAD_LIMIT_CODE
                        else f"Discord refused a thread ({error.status}/{error.code})"
                    )
                    log.warning(
                        "Match threads unavailable in guild %s (%s); falling back to DMs",
                        guild.id,
                        error.code,
                    )
                    lines.append(f"From group {group.position + 1} on, {reason}: DMs instead.")
            closed += await self._deliver_dm(guild, round_, group)
            dms += 1
        lines.insert(0, f"Posted {len(groups)} group(s): {threads} thread(s), {dms} by DM.")
        if closed:
            lines.append(
                "These students have DMs closed, so they didn't get their match: "
                + ", ".join(f"<@{u}>" for u in closed)
                + ". Their partners were told; please reach out to them."
            )
        return lines

    async def _deliver_thread(
        self,
        guild: discord.Guild,
        channel: discord.TextChannel,
        round_: RoundRecord,
        group: GroupRecord,
    ) -> None:
        names = ", ".join(self._name(guild, u) for u in group.user_ids)
        thread = await channel.create_thread(
            name=f"Coffee chat {round_.round_index}: {names}"[:100],
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
            reason="CohortBot coffee chat",
        )
        await self.store.set_delivery(guild.id, group.group_id, "thread", thread.id)
        for user_id in group.user_ids:
            try:
                await thread.add_user(discord.Object(id=user_id))
            except discord.HTTPException as error:
                log.warning("Could not add %s to match thread %s: %s", user_id, thread.id, error)
        content = await self._message_for(guild, round_, group, key="match_thread_intro")
        view = self._views.thread_view(guild.id, group.group_id) if self._views else None
        kwargs: dict[str, Any] = {
            "allowed_mentions": discord.AllowedMentions(
                users=[discord.Object(id=u) for u in group.user_ids]
            )
        }
        if view is not None:
            kwargs["view"] = view
        await thread.send(content, **kwargs)

    async def _dm(
        self, guild_id: int, user_id: int, content: str, view: discord.ui.View | None
    ) -> bool:
        """One consented DM; False (recorded) when the student's DMs are closed."""
        if self._client is None:
            return False
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
            if view is not None:
                kwargs["view"] = view
            await user.send(content, **kwargs)
        except discord.Forbidden as error:
            if error.code != DM_CLOSED_CODE:
                raise
            if self._dm_marks is not None:
                await self._dm_marks.mark_dm_closed(guild_id, user_id, now=self._clock.now())
            return False
        except discord.NotFound:
            return False
        return True

    async def _deliver_dm(
        self, guild: discord.Guild, round_: RoundRecord, group: GroupRecord
    ) -> list[int]:
        await self.store.set_delivery(guild.id, group.group_id, "dm")
        content = await self._message_for(guild, round_, group, key="match_dm_fallback")
        closed: list[int] = []
        for user_id in group.user_ids:
            view = self._views.thread_view(guild.id, group.group_id) if self._views else None
            if not await self._dm(guild.id, user_id, content, view):
                await self.store.set_dm_failed(guild.id, group.group_id, user_id)
                closed.append(user_id)
        if len(closed) == len(group.user_ids):
            await self.store.set_delivery(guild.id, group.group_id, "failed")
        return closed

    async def _tell_unmatched(
        self, guild: discord.Guild, unmatched: Sequence[tuple[int, str]]
    ) -> list[str]:
        closed: list[int] = []
        for user_id, why in unmatched:
            text = await self._templates.render(
                guild.id, "match_unmatched", reason=UNMATCHED_WORDS.get(why, "it didn't work out")
            )
            if not await self._dm(guild.id, user_id, text, None):
                closed.append(user_id)
        if not unmatched:
            return []
        line = f"{len(unmatched)} student(s) couldn't be matched and were told privately."
        if closed:
            line += " DMs closed for: " + ", ".join(f"<@{u}>" for u in closed) + "."
        return [line]

    # ------------------------------------------------------------------ scheduled work

    async def run_scheduled(self, run: ScheduledRun) -> None:
        guild = self._client.get_guild(run.guild_id) if self._client else None
        if guild is None:
            return
        week = await self._calendar.week_of(run.guild_id, run.cohort_id, run.occurrence)
        if not week.running and week.reason != "no calendar":
            log.info(
                "No match round in guild %s cohort %s: %s", run.guild_id, run.cohort_id, week.state
            )
            return
        settings = await self.settings(run.guild_id, run.cohort_id)
        if settings.cadence == "biweekly" and week.number is not None and week.number % 2 == 0:
            return
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        try:
            proposal = await self.propose(guild, cohort, slot=run.slot)
        except UserFacingError as error:
            await self.tell_leads(
                guild, f"☕ No coffee-chat round for {cohort.name}: {error.message}"
            )
            return
        assert proposal.round_id is not None
        if settings.preview_first:
            view = self._views.review_view(guild.id, proposal.round_id) if self._views else None
            await self.tell_leads(
                guild,
                f"☕ This week's coffee-chat proposal for {cohort.name} is ready "
                f"({len(proposal.groups)} groups). Review it, swap or move people, then post it.",
                view=view,
            )
            return
        outcome = await self.post(guild, proposal.round_id)
        await self.tell_leads(guild, "☕ Coffee-chat round posted.\n" + "\n".join(outcome.lines))

    async def tell_leads(
        self, guild: discord.Guild, content: str, *, view: discord.ui.View | None = None
    ) -> bool:
        config = await self._setup.config(guild.id)
        channel = guild.get_channel(config.leads_channel_id or 0) if config else None
        if not isinstance(channel, discord.TextChannel):
            log.warning("No leads channel in guild %s for a matching note", guild.id)
            return False
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if view is not None:
            kwargs["view"] = view
        await channel.send(content[:2000], **kwargs)
        return True

    async def tick(self, now: datetime | None = None) -> None:
        """Follow-ups midway and round ends (called on every scheduler wake-up)."""
        now = now or self._clock.now()
        if self._client is None:
            return
        for round_ in await self.store.rounds_due_followup(now):
            guild = self._client.get_guild(round_.guild_id)
            if guild is None or not await self.store.claim_followup(guild.id, round_.round_id):
                continue
            await self._send_followups(guild, round_)
        for round_ in await self.store.rounds_due_end(now):
            guild = self._client.get_guild(round_.guild_id)
            if guild is not None:
                await self.end_round(guild, round_)

    async def _send_followups(self, guild: discord.Guild, round_: RoundRecord) -> None:
        text = await self._templates.render(guild.id, "match_followup")
        for group in await self.store.groups_of_round(guild.id, round_.round_id):
            view = self._views.followup_view(guild.id, group.group_id) if self._views else None
            try:
                if group.delivery == "thread" and group.thread_id:
                    thread = guild.get_thread(group.thread_id) or await guild.fetch_channel(
                        group.thread_id
                    )
                    if not isinstance(thread, discord.Thread):
                        continue
                    kwargs: dict[str, Any] = {}
                    if view is not None:
                        kwargs["view"] = view
                    message = await thread.send(text, **kwargs)
                    await self.store.set_followup_message(guild.id, group.group_id, message.id)
                elif group.delivery == "dm":
                    for member in group.members:
                        if not member.dm_failed:
                            await self._dm(guild.id, member.user_id, text, view)
            except discord.HTTPException as error:
                log.warning("Follow-up for match group %s failed: %s", group.group_id, error)

    async def end_round(self, guild: discord.Guild, round_: RoundRecord) -> None:
        """Archive the round's threads and count who ignored it; idempotent."""
        if not await self.store.mark_ended(guild.id, round_.round_id, now=self._clock.now()):
            return
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
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
        ignored = [m.user_id for g in groups for m in g.members if m.outcome is None]
        answered = [m.user_id for g in groups for m in g.members if m.outcome is not None]
        await self.store.record_ignored(guild.id, ignored, answered, now=self._clock.now())
        parts = await self.store.participants(guild.id)
        for user_id in ignored:
            part = parts.get(user_id)
            if part is None or part.ignored_rounds < 3 or part.stay_asked_at is not None:
                continue
            if await self.store.mark_stay_asked(guild.id, user_id, now=self._clock.now()):
                text = await self._templates.render(guild.id, "match_stay_or_pause")
                view = self._views.stay_view(guild.id) if self._views else None
                await self._dm(guild.id, user_id, text, view)

    # ------------------------------------------------------------------ clicks

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
        """Pair with another student of the round who is waiting, or wait (and get priority)."""
        round_ = await self.store.get_round(guild.id, group.round_id)
        if round_ is None or round_.status != "posted":
            await self.store.set_priority(guild.id, user_id, now=self._clock.now())
            return "This round is over, so you'll be placed first in the next one."
        forbidden = await self.store.forbidden_pairs(guild.id)
        waiting = [
            (gid, uid)
            for gid, uid in await self.store.waiting_for_rematch(guild.id, round_.round_id)
            if uid != user_id
            and gid != group.group_id
            and frozenset((uid, user_id)) not in forbidden
            and guild.get_member(uid) is not None
        ]
        if not waiting:
            await self.store.set_wants_rematch(guild.id, group.group_id, user_id, True)
            await self.store.set_priority(guild.id, user_id, now=self._clock.now())
            return (
                "Got it. As soon as another classmate whose partner didn't respond asks too, I'll "
                "pair you up; if nobody does this round, you'll be placed first next round."
            )
        _, partner = waiting[0]
        rescored = await self._rescore(guild.id, (partner, user_id), round_)
        new_group = replace(rescored, rematch=True)
        group_id = await self.store.add_rematch_group(guild.id, round_.round_id, new_group)
        record = await self.store.group(guild.id, group_id)
        assert record is not None
        settings = await self.settings(guild.id, round_.cohort_id)
        await self._deliver(guild, round_, settings, [record])
        delivered = await self.store.group(guild.id, group_id)
        where = (
            f"<#{delivered.thread_id}>"
            if delivered is not None and delivered.delivery == "thread"
            else "your DMs"
        )
        return f"You're re-matched with {self._name(guild, partner)} — see {where}."

    async def choose_priority(self, guild_id: int, group: GroupRecord, user_id: int) -> str:
        await self.store.set_wants_rematch(guild_id, group.group_id, user_id, False)
        await self.store.set_priority(guild_id, user_id, now=self._clock.now())
        return "Done — you'll be placed first in the next round."

    async def current_group(self, guild_id: int, user_id: int) -> GroupRecord | None:
        for round_, group in await self.store.groups_of_user(guild_id, user_id, limit=3):
            if round_.status == "posted":
                return group
        return None

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
        delivered = await self.tell_leads(guild, text)
        answer = (
            "Thank you — your report went privately to the course staff; they'll follow up."
            if delivered
            else "I couldn't reach the staff channel. Please message an instructor directly."
        )
        if avoid and reported_id and reported_id != reporter_id:
            await self.store.add_avoid(guild.id, reporter_id, reported_id, now=self._clock.now())
            answer += " You won't be matched with them again (they aren't told)."
        if rematch:
            mine = group or await self.current_group(guild.id, reporter_id)
            if mine is not None and reporter_id in mine.user_ids:
                answer += " " + await self.rematch(guild, mine, reporter_id)
            else:
                await self.store.set_priority(guild.id, reporter_id, now=self._clock.now())
                answer += " You'll be placed first in the next round."
        return answer

    async def stay_or_pause(self, guild_id: int, user_id: int, choice: str) -> str:
        await self.require_participant(guild_id, user_id)
        if choice == "pause":
            until = await self.pause(guild_id, user_id, 4)
            return (
                f"Paused until <t:{int(until.timestamp())}:D>. /match join brings you back early."
            )
        await self.store.reset_ignored(guild_id, user_id, now=self._clock.now())
        return "Great — you stay in the rounds. ☕"

    # ------------------------------------------------------------------ status and history

    async def status_lines(self, guild: discord.Guild, user_id: int) -> list[str]:
        part = await self.store.participant(guild.id, user_id)
        now = self._clock.now()
        if part is None or not part.joined:
            return ["You're not in the coffee-chat rounds. Join with /match join."]
        lines = ["You're in the coffee-chat rounds."]
        if part.paused(now) and part.paused_until:
            lines.append(f"Paused until <t:{int(part.paused_until.timestamp())}:D>.")
        if await self._away.is_away(guild.id, user_id, now):
            lines.append("You're away (/away), so you sit rounds out until you're back.")
        group = await self.current_group(guild.id, user_id)
        if group is not None:
            others = ", ".join(self._name(guild, u) for u in group.user_ids if u != user_id)
            where = f" in <#{group.thread_id}>" if group.thread_id else ""
            lines.append(f"Current group: {others}{where}.")
        nxt = await self._next_round_time(guild.id, user_id)
        lines.append(
            f"Next round: <t:{int(nxt.timestamp())}:f> (<t:{int(nxt.timestamp())}:R>)."
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
            others = ", ".join(self._name(guild, u) for u in group.user_ids if u != user_id)
            mine = group.member(user_id)
            outcome = (
                OUTCOME_LABELS.get(mine.outcome, "no answer")
                if mine and mine.outcome
                else ("no answer")
            )
            when = f"<t:{int(round_.posted_at.timestamp())}:D>" if round_.posted_at else "?"
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
            settings = await self.settings(guild_id, schedule.cohort_id)
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
