"""Coffee-chat rounds: who takes part, proposals, delivery, follow-ups and reports.

The :class:`MatchingService` is the use-case layer between cogs/coffee_chats/cog.py and
the pure matcher (cogs/coffee_chats/matcher.py) and wording (cogs/coffee_chats/texts.py). Its
Discord side is the
client and the persistent views the cog attaches with :meth:`MatchingService.attach`.

A round
=======
1. :meth:`propose` builds a :class:`cogs.coffee_chats.matcher.MatchRequest` from the database: the
cohort's
   students (app.roster: staff never) who joined with ``/match join`` and are not paused or
   away; blocks and avoids as forbidden pairs; history (earlier groups, trios, fairness
   shortfall, priority). The matcher runs in ``asyncio.to_thread``. The result is saved as a
   *proposal* (status ``proposed``) unless it is a dry run.
2. The instructor may :meth:`swap` two people or :meth:`move` one; every edit is checked
   against the forbidden pairs and saved.
3. :meth:`post` re-validates the saved proposal (someone left, paused, went away or was
   blocked since?). A stale proposal is repaired, saved and NOT posted: the instructor is told
   what changed and sees the new version before posting it. Otherwise the round is marked
   posted and exactly the saved groups are delivered, each on its own, its progress stored
   (pending → thread created, id stored → announced): one private thread
   (``invitable=False``) per group in the matches channel (default: the coffee shop). Only a
   group whose thread is refused with 50013/50001 gets DMs; after 160006 (the active-thread
   limit) every remaining group does; other errors leave the group pending for the next tick
   (DMs after ``MAX_THREAD_ATTEMPTS``). Every *message* — a thread's first message, DMs,
   follow-ups, notes — is an outbox row (``KIND_*``, dedupe keys per round/group/member), so
   :meth:`resume_deliveries` (on every tick) finishes an interrupted round exactly once. The
   previous round of the cohort ends first (its threads are archived, which keeps the guild
   under the 1,000 active threads). Fairness is saved once per round. Students the matcher
   could not place are told why, privately, and get priority next round.
4. Midway (:meth:`tick`), "Did you meet?" with Met / Not yet / Couldn't connect.
   "Couldn't connect" offers a re-match (:meth:`_rematch_partner` says with whom) or
   priority next round. At the round's end its threads are archived and a student who
   ignored three rounds in a row is asked once whether to stay in or pause (2/4/8 weeks).
   A student who leaves the server mid-round is taken out of the thread and their partner
   told privately (:meth:`member_left`).

DMs go only to students who joined (``/match join`` consents to match-related DMs). A closed
DM (50007) is recorded and shown to the instructor; nothing else stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

import aiohttp
import discord

from bot.calendar import monday_of
from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.roster import Roster
from bot.schedule_math import next_occurrence, slot_key
from bot.scheduler import ScheduledRun
from bot.store.guilds import Cohort
from bot.store.schedules import Schedule, ScheduleRepository
from bot.templates import Templates
from bot.upcoming import UpcomingItem
from cogs.coffee_chats.repository import (
    GroupRecord,
    MatchRepository,
    MatchSettings,
    NewGroup,
    Outcome,
    RoundRecord,
    WeekOutcomes,
)
from cogs.coffee_chats.texts import explain_match, staff_reason_labels
from cogs.profiles import Profile, visible_to

if TYPE_CHECKING:
    # The matcher pulls in numpy and rustworkx: imported where a round is built, not at start
    # (tests/core/test_lazy_imports.py), so the bot's memory stays near a bare client's.
    from bot.outbox.repository import OutboxRow
    from bot.outbox.service import OutboxService
    from cogs.coffee_chats.matcher import (
        Group,
        MatchHistory,
        MatchProfile,
        MatchRequest,
        Preference,
    )

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
MISSING_PERMISSION_CODES = frozenset({50001, 50013})
MAX_PAUSE_WEEKS = 12
STAY_PAUSE_WEEKS = (2, 4, 8)
PREVIEW_GROUPS_PER_PAGE = 8
#: A group's thread is tried this many times (over ticks) before the group gets DMs.
MAX_THREAD_ATTEMPTS = 3
#: After this many 50013/50001 refusals in one delivery, the rest of the round gets DMs.
MAX_PERMISSION_REFUSALS = 3

# Outbox kinds (dedupe keys start with the round id) and persistent view keys.
KIND_INTRO = "match_intro"  # a thread's first message: "{round}:{group}"
KIND_DM = "match_dm"  # the match by DM: "{round}:{group}:{user}"
KIND_FOLLOWUP = "match_followup"  # "Did you meet?": "{round}:{group}" or "…:{user}" by DM
KIND_UNMATCHED = "match_unmatched"  # "{round}:{user}"
KIND_STAY = "match_stay"  # "stay in or pause?": "{round}:{user}"
KIND_DEPARTED = "match_departed"  # a partner left: "{round}:{group}:{left}:{partner}"
KIND_LEADS = "match_leads"  # notes for the staff about scheduled rounds
VIEW_THREAD = "match:thread"
VIEW_FOLLOWUP = "match:followup"
VIEW_AFTER = "match:after"
VIEW_STAY = "match:stay"
VIEW_REVIEW = "match:review"

#: Profile value → the matcher's vocabulary (cogs/coffee_chats/matcher.py CIRCUMSTANCE_CHOICES).
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
    "no_allowed_trio": "the groups didn't work out evenly this time",
}
#: The same reasons for the instructor's preview only: which constraint left them out (the
#: student's note never says that blocks or avoids were involved).
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

OUTCOME_LABELS: dict[Outcome, str] = {
    "met": "Met",
    "not_yet": "Not yet",
    "no_connect": "Couldn't connect",
}


def to_match_profile(user_id: int, profile: Profile | None) -> MatchProfile:
    """What the matcher sees of a student: every set value (private ones too — they are used,
    never shown), in the matcher's vocabulary."""
    from cogs.coffee_chats.matcher import MatchProfile

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

    def after_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

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
class _Delivery:
    """What one delivery pass queued and learned (for the instructor's summary)."""

    notes: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # thread posts
    dm_rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # row → (group, user)
    unmatched_rows: dict[int, int] = field(default_factory=dict)  # row → user
    closed: list[int] = field(default_factory=list)
    unmatched_closed: list[int] = field(default_factory=list)
    queued: int = 0


@dataclass
class _Eligibility:
    eligible: list[int]
    why_not: dict[int, str]


class MatchingService:
    def __init__(
        self,
        *,
        store: MatchRepository,
        setup: GuildSettings,
        roster: Roster,
        profiles: Any,
        away: Any,
        calendar: Any,
        templates: Templates,
        clock: Clock,
        schedules: ScheduleRepository,
        milestones: Any,
        dm_marks: Any,
        outbox: OutboxService | None = None,
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
        self._outbox = outbox
        self._client: discord.Client | None = None
        self._views: MatchViews | None = None
        self._edit_lock = asyncio.Lock()
        self._delivering: set[int] = set()  # round ids being delivered in this process
        #: how long posting waits for its messages to go out (to name closed DMs)
        self.settle_seconds = 10.0
        if outbox is not None:
            outbox.on_sent(KIND_FOLLOWUP, self._followup_sent)

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
        self._client = client
        self._views = views
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
            edited[ga] = await self._rescore(guild_id, new_a, round_, before=groups)
            edited[gb] = await self._rescore(guild_id, new_b, round_, before=groups)
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
            edited[source] = await self._rescore(guild_id, new_source, round_, before=groups)
            edited[to_position] = await self._rescore(guild_id, new_target, round_, before=groups)
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
                    f"{self._name(guild, u)} ({STAFF_UNMATCHED_WORDS.get(why, why)})"
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
        if self._client is None:
            return
        for round_ in await self.store.rounds_undelivered():
            guild = self._client.get_guild(round_.guild_id)
            if guild is None or round_.round_id in self._delivering:
                continue
            self._delivering.add(round_.round_id)
            try:
                lines = await self._complete_delivery(guild, round_)
            finally:
                self._delivering.discard(round_.round_id)
            done = await self.store.get_round(guild.id, round_.round_id)
            if done is not None and done.delivered_at is not None:
                cohort = await self._cohort(guild.id, round_.cohort_id)
                await self._note_leads(
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
                await self.end_round(guild, earlier)
        groups = await self.store.groups_of_round(guild.id, round_.round_id)
        unmatched = await self.store.unmatched_of_round(guild.id, round_.round_id)
        await self._save_fairness(guild.id, round_, groups, unmatched)
        settings = await self.settings(guild.id, round_.cohort_id)
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
        """Shortfall and priority after a posted round — once per round (a claim in the same
        transaction), so resuming a delivery never counts a round twice. A member the
        instructor swapped or moved carries the quality adjusted in :meth:`_rescore`."""
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

    async def _explanation(
        self, guild_id: int, members: Sequence[int], reasons: Sequence[str], start: datetime
    ) -> tuple[str, list[datetime]]:
        from cogs.coffee_chats.matcher import MatchProfile, common_slots

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
        config = await self._setup.config(guild.id)
        channel_id = settings.channel_id or (config.coffee_channel_id if config else None)
        channel = guild.get_channel(channel_id or 0)
        threads_ok = isinstance(channel, discord.TextChannel)
        if isinstance(channel, discord.TextChannel):
            perms = channel.permissions_for(guild.me)
            if not (perms.create_private_threads and perms.send_messages_in_threads):
                threads_ok = False
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
        refusals = 0
        for group in groups:
            if group.delivery in ("dm", "failed"):
                await self._queue_dms(guild, round_, group, report)
                continue
            if group.delivery == "thread" and group.thread_id:
                await self._announce_thread(guild, round_, group, group.thread_id, report)
                continue
            if not threads_ok or not isinstance(channel, discord.TextChannel):
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
                    threads_ok = False
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
                        threads_ok = False
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

    @staticmethod
    def _thread_name(guild: discord.Guild, round_: RoundRecord, group: GroupRecord) -> str:
        names = ", ".join(MatchingService._name(guild, u) for u in group.user_ids)
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
                elif self._client is not None:
                    await self._client.http.add_user_to_thread(thread_id, user_id)
            except discord.HTTPException as error:
                log.warning("Could not add %s to match thread %s: %s", user_id, thread_id, error)
        content = await self._message_for(guild, round_, group, key="match_thread_intro")
        row_id = await self._queue(
            guild_id=guild.id,
            cohort_id=round_.cohort_id,
            kind=KIND_INTRO,
            dedupe_key=f"{round_.round_id}:{group.group_id}",
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
            row_id = await self._queue(
                guild_id=guild.id,
                cohort_id=round_.cohort_id,
                kind=KIND_DM,
                dedupe_key=f"{round_.round_id}:{group.group_id}:{user_id}",
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
            row_id = await self._queue(
                guild_id=guild.id,
                cohort_id=round_.cohort_id,
                kind=KIND_UNMATCHED,
                dedupe_key=f"{round_.round_id}:{user_id}",
                user_id=user_id,
                content=text,
            )
            if row_id is not None:
                report.unmatched_rows[row_id] = user_id

    async def _queue(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        kind: str,
        dedupe_key: str,
        content: str,
        channel_id: int | None = None,
        user_id: int | None = None,
        view: tuple[str, tuple[int, ...]] | None = None,
        mention_user_ids: Sequence[int] = (),
    ) -> int | None:
        """Queue one message; the row id (also when it was queued before, e.g. by an
        interrupted run), or None when there is no outbox."""
        if self._outbox is None:
            log.warning("No outbox for a %s message in guild %s", kind, guild_id)
            return None
        view_key = view[0] if view is not None and self._views is not None else None
        view_args = tuple(str(a) for a in view[1]) if view is not None and view_key else ()
        row_id = await self._outbox.enqueue(
            guild_id=guild_id,
            cohort_id=cohort_id,
            kind=kind,
            dedupe_key=dedupe_key,
            channel_id=channel_id,
            user_id=user_id,
            content=content[:2000],
            view_key=view_key,
            view_args=view_args,
            mention_user_ids=mention_user_ids,
        )
        if row_id is None:
            existing = await self._outbox.lookup(guild_id, kind, dedupe_key)
            row_id = existing.id if existing is not None else None
        return row_id

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
        base = f"{run.cohort_id}:{run.slot}"
        try:
            proposal = await self.propose(guild, cohort, slot=run.slot)
        except UserFacingError as error:
            await self._note_leads(
                guild,
                f"☕ No coffee-chat round for {cohort.name}: {error.message}",
                dedupe=f"{base}:none",
                cohort_id=run.cohort_id,
            )
            return
        except Exception:
            log.exception("Scheduled match round failed in guild %s cohort %s", guild.id, cohort)
            await self._note_leads(
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
            await self._note_leads(
                guild,
                f"☕ This week's coffee-chat proposal for {cohort.name} is ready "
                f"({len(proposal.groups)} groups). Review it, swap or move people, then post it.",
                dedupe=f"review:{proposal.round_id}",
                cohort_id=run.cohort_id,
                view=(VIEW_REVIEW, (guild.id, proposal.round_id)),
            )
            return
        outcome = await self.post(guild, proposal.round_id)
        await self._note_leads(
            guild,
            f"☕ Coffee-chat round posted for {cohort.name}.\n" + "\n".join(outcome.lines),
            dedupe=f"posted:{proposal.round_id}",
            cohort_id=run.cohort_id,
        )

    async def _note_leads(
        self,
        guild: discord.Guild,
        content: str,
        *,
        dedupe: str,
        cohort_id: int,
        view: tuple[str, tuple[int, ...]] | None = None,
    ) -> None:
        """A scheduled note for the staff, through the outbox (once per dedupe key)."""
        # Only while it is private to staff (shared check; it logs why not).
        channel = await self._setup.leads_channel_or_warn(guild, "A matching note")
        if channel is None:
            return
        await self._queue(
            guild_id=guild.id,
            cohort_id=cohort_id,
            kind=KIND_LEADS,
            dedupe_key=dedupe,
            channel_id=channel.id,
            content=content,
            view=view,
        )

    async def tell_leads(self, guild: discord.Guild, content: str) -> bool:
        """Right now, for a student waiting on the answer (a report to staff)."""
        channel = await self._setup.leads_channel_or_warn(guild, "A report to staff")
        if channel is None:
            return False
        await channel.send(content[:2000], allowed_mentions=discord.AllowedMentions.none())
        return True

    async def tick(self, now: datetime | None = None) -> None:
        """Interrupted deliveries, follow-ups midway and round ends (every scheduler wake-up)."""
        now = now or self._clock.now()
        if self._client is None:
            return
        await self.resume_deliveries()
        for round_ in await self.store.rounds_due_followup(now):
            guild = self._client.get_guild(round_.guild_id)
            if guild is None or not await self.store.claim_followup(guild.id, round_.round_id):
                continue
            if round_.ends_at is not None and round_.ends_at <= now:
                continue  # over already (the bot was down): asking now would be too late
            await self._send_followups(guild, round_)
        for round_ in await self.store.rounds_due_end(now):
            guild = self._client.get_guild(round_.guild_id)
            if guild is not None:
                await self.end_round(guild, round_)

    async def _send_followups(self, guild: discord.Guild, round_: RoundRecord) -> None:
        """ "Did you meet?" — in the thread, or by DM to DM groups (outbox rows)."""
        text = await self._templates.render(guild.id, "match_followup")
        for group in await self.store.groups_of_round(guild.id, round_.round_id):
            view = (VIEW_FOLLOWUP, (guild.id, group.group_id))
            if group.delivery == "thread" and group.thread_id:
                await self._queue(
                    guild_id=guild.id,
                    cohort_id=round_.cohort_id,
                    kind=KIND_FOLLOWUP,
                    dedupe_key=f"{round_.round_id}:{group.group_id}",
                    channel_id=group.thread_id,
                    content=text,
                    view=view,
                )
            elif group.delivery == "dm":
                for member in group.members:
                    if member.dm_failed or member.departed:
                        continue
                    await self._queue(
                        guild_id=guild.id,
                        cohort_id=round_.cohort_id,
                        kind=KIND_FOLLOWUP,
                        dedupe_key=f"{round_.round_id}:{group.group_id}:{member.user_id}",
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

    async def _followup_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
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
                await self._queue(
                    guild_id=guild.id,
                    cohort_id=round_.cohort_id,
                    kind=KIND_STAY,
                    dedupe_key=f"{round_.round_id}:{user_id}",
                    user_id=user_id,
                    content=text,
                    view=(VIEW_STAY, (guild.id,)),
                )

    # ------------------------------------------------------------------ departures

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
            if group.delivery == "thread" and group.thread_id and self._client is not None:
                try:
                    await self._client.http.remove_user_from_thread(group.thread_id, user_id)
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
                await self._queue(
                    guild_id=guild_id,
                    cohort_id=round_.cohort_id,
                    kind=KIND_DEPARTED,
                    dedupe_key=f"{round_.round_id}:{group.group_id}:{user_id}:{partner}",
                    channel_id=group.thread_id if in_thread else None,
                    user_id=None if in_thread else partner,
                    content=text,
                    view=view,
                )
            log.info(
                "Match group %s in guild %s: a member left the server", group.group_id, guild_id
            )

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
        rescored = await self._rescore(guild.id, (partner, user_id), round_)
        new_group = replace(rescored, rematch=True, quality=())
        group_id = await self.store.add_rematch_group(guild.id, round_.round_id, new_group)
        record = await self.store.group(guild.id, group_id)
        assert record is not None
        settings = await self.settings(guild.id, round_.cohort_id)
        report = await self._deliver(guild, round_, settings, [record])
        await self._settle(guild, report)
        delivered = await self.store.group(guild.id, group_id)
        if delivered is not None and not delivered.announced:
            await self.store.reopen_delivery(guild.id, round_.round_id)
            return (
                f"You're re-matched with {self._name(guild, partner)}. Discord had a hiccup "
                "opening your thread; it will appear shortly."
            )
        where = (
            f"<#{delivered.thread_id}>"
            if delivered is not None and delivered.delivery == "thread"
            else "your DMs"
        )
        return f"You're re-matched with {self._name(guild, partner)} — see {where}."

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

    async def stay_or_pause(self, guild_id: int, user_id: int, choice: str, weeks: int = 4) -> str:
        """The answer to "stay in or pause?" (pause: 2, 4 or 8 weeks)."""
        await self.require_participant(guild_id, user_id)
        if choice == "pause":
            if weeks not in STAY_PAUSE_WEEKS:
                raise UserFacingError("Pause for 2, 4 or 8 weeks. Nothing was changed.")
            until = await self.pause(guild_id, user_id, weeks)
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
