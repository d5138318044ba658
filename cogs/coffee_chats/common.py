"""What the parts of coffee chats share: outbox kinds and view keys, the matcher's view of a
profile, and :class:`MatchContext` (the repository, the core services, the client and the cog's
views once attached, and sending through the outbox).

The use cases are split by responsibility: cogs/coffee_chats/proposals.py (who takes part in a
round, the matcher, the instructor's edits), cogs/coffee_chats/delivery.py (posting a round:
threads, DM fallbacks, outbox rows, resuming), cogs/coffee_chats/followups.py ("Did you meet?",
re-matches, round ends, departures) and cogs/coffee_chats/safety.py (avoids, blocks, reports);
cogs/coffee_chats/service.py's :class:`MatchingService` is the one entry point the cog and other
features use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    TypedDict,
    Unpack,
)

import discord

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.facade import PartMethod
from bot.guild_settings import GuildSettings
from bot.roster import Roster
from bot.store.guilds import Cohort
from bot.store.schedules import ScheduleRepository
from bot.templates import Templates
from cogs.coffee_chats.repository import MatchRepository, MatchSettings, RoundRecord
from cogs.profiles import Attribute, Profile, visible_to

if TYPE_CHECKING:
    # The matcher pulls in numpy and rustworkx: imported where a round is built, not at start
    # (tests/core/test_lazy_imports.py), so the bot's memory stays near a bare client's.
    from bot.outbox.service import OutboxService
    from cogs.coffee_chats.matcher import MatchProfile, Preference

__all__ = [
    "KIND_DEPARTED",
    "KIND_DM",
    "KIND_FOLLOWUP",
    "KIND_INTRO",
    "KIND_LEADS",
    "KIND_STAY",
    "KIND_UNMATCHED",
    "VIEW_AFTER",
    "VIEW_FOLLOWUP",
    "VIEW_REVIEW",
    "VIEW_STAY",
    "VIEW_THREAD",
    "MatchContext",
    "MatchPart",
    "MatchViews",
    "PartMethod",
    "member_name",
    "shown_attributes",
    "to_match_profile",
]

log = logging.getLogger(__name__)

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

#: Profile value → the matcher's vocabulary (CIRCUMSTANCE_CHOICES in cogs/coffee_chats/matcher/).
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
#: (profile attribute, the matcher's circumstance, its values by profile value; None: as is).
_CIRCUMSTANCES: tuple[tuple[Attribute, str, dict[str, str] | None], ...] = (
    ("work", "work", None),
    ("caregiving", "caregiving", _CAREGIVING),
    ("first_in_family", "first_gen", None),
    ("prior_courses", "prior_courses", _PRIOR),
    ("wants", "goal", None),
)
_PREFERENCE: dict[str, Preference] = {"similar": "similar", "different": "different"}


def to_match_profile(user_id: int, profile: Profile | None) -> MatchProfile:
    """What the matcher sees of a student: every set value (private ones too — they are used,
    never shown), in the matcher's vocabulary."""
    from cogs.coffee_chats.matcher import MatchProfile

    if profile is None:
        return MatchProfile(user_id)
    circumstances: dict[str, str] = {}
    for attribute, circumstance, values in _CIRCUMSTANCES:
        value = profile.matchable(attribute)
        if value and values is not None:
            value = values.get(value)  # a value the matcher has no word for is left out
        if value:
            circumstances[circumstance] = value
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


def shown_attributes(
    profile: Profile | None, relation: Literal["match", "staff"]
) -> frozenset[str]:
    """The set attributes ``relation`` may see of a profile (for explanations)."""
    if profile is None:
        return frozenset()
    return frozenset(
        attr
        for attr in profile.entries
        if profile.matchable(attr) is not None and visible_to(profile.visibility(attr), relation)
    )


def member_name(guild: discord.Guild, user_id: int) -> str:
    member = guild.get_member(user_id)
    return member.display_name if member else f"(left, {user_id})"


class MatchViews(Protocol):
    """The persistent views the cog provides (their buttons re-check everything on click)."""

    def thread_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

    def followup_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

    def after_view(self, guild_id: int, group_id: int) -> discord.ui.View: ...

    def stay_view(self, guild_id: int) -> discord.ui.View: ...

    def review_view(self, guild_id: int, round_id: int) -> discord.ui.View: ...


class Where(TypedDict, total=False):
    """Where a queued message goes (a channel or a person's DM) and its buttons and mentions."""

    channel_id: int | None
    user_id: int | None
    view: tuple[str, tuple[int, ...]] | None  # a registered view key and its arguments
    mention_user_ids: Sequence[int]


@dataclass(eq=False, kw_only=True)
class MatchContext:
    """The repository and core services every part uses, the client and the cog's views (set
    by :meth:`cogs.coffee_chats.service.MatchingService.attach`), and the lock that keeps an
    instructor's edits and posting one at a time."""

    store: MatchRepository
    setup: GuildSettings
    roster: Roster
    profiles: Any
    away: Any
    calendar: Any
    templates: Templates
    clock: Clock
    schedules: ScheduleRepository
    milestones: Any
    dm_marks: Any
    outbox: OutboxService | None
    client: discord.Client | None = field(default=None, init=False)
    views: MatchViews | None = field(default=None, init=False)
    edit_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def settings(self, guild_id: int, cohort_id: int) -> MatchSettings:
        return await self.store.settings(guild_id, cohort_id)

    async def cohort(self, guild_id: int, cohort_id: int) -> Cohort:
        for cohort in await self.setup.cohorts(guild_id):
            if cohort.cohort_id == cohort_id:
                return cohort
        raise UserFacingError("That cohort no longer exists.")

    async def queue(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        kind: str,
        dedupe_key: str,
        content: str,
        **where: Unpack[Where],
    ) -> int | None:
        """Queue one message; the row id (also when it was queued before, e.g. by an
        interrupted run), or None when there is no outbox."""
        if self.outbox is None:
            log.warning("No outbox for a %s message in guild %s", kind, guild_id)
            return None
        view = where.get("view")
        view_key = view[0] if view is not None and self.views is not None else None
        view_args = tuple(str(a) for a in view[1]) if view is not None and view_key else ()
        row_id = await self.outbox.enqueue(
            guild_id=guild_id,
            cohort_id=cohort_id,
            kind=kind,
            dedupe_key=dedupe_key,
            channel_id=where.get("channel_id"),
            user_id=where.get("user_id"),
            content=content[:2000],
            view_key=view_key,
            view_args=view_args,
            mention_user_ids=where.get("mention_user_ids", ()),
        )
        if row_id is None:
            existing = await self.outbox.lookup(guild_id, kind, dedupe_key)
            row_id = existing.id if existing is not None else None
        return row_id

    async def queue_for_round(
        self,
        guild_id: int,
        round_: RoundRecord,
        kind: str,
        *about: int,
        content: str,
        **where: Unpack[Where],
    ) -> int | None:
        """:meth:`queue` a message about a round, in the round's cohort, keyed by the round id
        and the ids it is ``about`` (a group, a member…), so a re-run queues it only once."""
        return await self.queue(
            guild_id=guild_id,
            cohort_id=round_.cohort_id,
            kind=kind,
            dedupe_key=":".join(str(i) for i in (round_.round_id, *about)),
            content=content,
            **where,
        )

    async def note_leads(
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
        channel = await self.setup.leads_channel_or_warn(guild, "A matching note")
        if channel is None:
            return
        await self.queue(
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
        channel = await self.setup.leads_channel_or_warn(guild, "A report to staff")
        if channel is None:
            return False
        await channel.send(content[:2000], allowed_mentions=discord.AllowedMentions.none())
        return True


class MatchPart:
    """A part of the use cases: the shared context, and its most used pieces by short names."""

    def __init__(self, ctx: MatchContext) -> None:
        self._ctx = ctx
        self.store = ctx.store
        self._setup = ctx.setup
        self._profiles = ctx.profiles
        self._templates = ctx.templates
        self._clock = ctx.clock
        self._outbox = ctx.outbox
