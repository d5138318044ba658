"""Use cases for introductions: welcome on join, post/edit an intro, count plain-message
intros, record welcomes, notice deleted posts, the Introduced role, and what other features
read (``IntroService``).

For other features:

* Digest: ``await IntroService.introduced(guild_id) -> dict[user_id, datetime]``
  (first time each current intro was posted), ``await IntroService.welcomes(guild_id)``
  (who welcomed whom, when), ``await IntroService.unwelcomed(guild_id, older_than)``
  (newcomers who arrived at or before ``older_than`` and nobody welcomed).
* Coffee shop: ``await IntroService.newest_unwelcomed_line(guild_id, now)`` — a
  mention-free "say hi to our newest classmates" line, or None.
* Milestones: append ``async def hook(guild_id, user_id)`` to
  ``IntroService.on_introduced``; it runs once each time a person goes from "not introduced" to
  "introduced" (a first intro, or one written again after the post was deleted), not on edits.
* Nudges: ``await IntroService.introduce_nudge_candidates(guild, cohort, now)`` and
  ``await IntroService.suggestion_candidates(guild, cohort, now)`` return
  ``NudgeCandidate(user_id, reason, values)``; the engine applies opt-in, away and caps, sends,
  then calls ``await IntroService.record_nudge_sent(guild_id, user_id, kind)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import discord

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_model import GuildConfig
from bot.guild_settings import GuildSettings
from bot.roster import Roster
from bot.store.guilds import Cohort
from bot.templates import Templates
from bot.text import TextError, clean_user_text, is_blank, shorten
from cogs.introductions.repository import (
    INTRO_FIELDS,
    Intro,
    IntroRepository,
    IntroSettings,
    IntroSource,
    Newcomer,
    ReminderKind,
    Welcome,
)
from cogs.profiles import ProfileService, shared_labels

log = logging.getLogger(__name__)

IntroducedHook = Callable[[int, int], Awaitable[None]]
WelcomeExtra = Callable[[discord.Member], Awaitable[list[discord.ui.Item[Any]]]]

#: A reaction on a plain-message intro: "thanks, that counts".
THANKS_EMOJI: Final = "🙌"
#: Reminders to introduce: at most this many, at least this far apart.
MAX_INTRODUCE_NUDGES: Final = 2
INTRODUCE_NUDGE_GAP: Final = timedelta(days=3)
#: A newcomer nobody welcomed within this long gets suggestions and shows up for the leads.
WELCOME_WINDOW: Final = timedelta(hours=24)
#: How far back the "newest classmates" line looks.
NEWEST_WINDOW: Final = timedelta(days=7)
NEWEST_LINKS: Final = 5


@dataclass(frozen=True)
class IntroQuestion:
    field: str
    label: str  # ≤ 45 characters (a modal input's label)
    heading: str  # the embed field name
    max_length: int
    required: bool
    placeholder: str


#: The intro form: five inputs (Discord's maximum). The lengths add up to far less than an
#: embed's 6000 characters, and each answer fits an embed field (1024).
INTRO_QUESTIONS: Final[tuple[IntroQuestion, ...]] = (
    IntroQuestion(
        "call_me", "What should we call you? Pronouns?", "", 80, True, "e.g. Sam (she/her)"
    ),
    IntroQuestion(
        "location",
        "Where are you joining from?",
        "Joining from",
        100,
        False,
        "a city, a country, or just a time zone",
    ),
    IntroQuestion(
        "balancing",
        "What are you balancing alongside the course?",
        "Balancing alongside the course",
        500,
        False,
        "work, family, another course… only what you want to share",
    ),
    IntroQuestion(
        "hopes",
        "What do you hope to get from the course?",
        "Hoping to get from the course",
        500,
        False,
        "",
    ),
    IntroQuestion("fun_fact", "A fun fact about you", "Fun fact", 300, False, ""),
)
assert tuple(q.field for q in INTRO_QUESTIONS) == INTRO_FIELDS


def clean_answers(raw: Mapping[str, str | None]) -> dict[str, str]:
    """Validate the form: the name is required; blank optional answers are dropped.

    Raises UserFacingError with a clear message (nothing is saved or posted).
    """
    answers: dict[str, str] = {}
    for question in INTRO_QUESTIONS:
        value = raw.get(question.field)
        if not question.required and (value is None or value == "" or is_blank(value)):
            continue
        try:
            answers[question.field] = clean_user_text(
                value, field=f"“{question.label}”", limit=question.max_length
            )
        except TextError as error:
            raise UserFacingError(
                f"{error} (Invisible characters don't count.) Nothing was posted."
            ) from error
    return answers


def build_intro_embed(member: discord.Member, answers: Mapping[str, str]) -> discord.Embed:
    embed = discord.Embed(
        title=shorten(f"👋 {answers['call_me']}", 256),
        colour=discord.Colour.blurple(),
    )
    embed.set_author(name=shorten(member.display_name, 256), icon_url=member.display_avatar.url)
    for question in INTRO_QUESTIONS[1:]:
        text = answers.get(question.field)
        if text:
            embed.add_field(name=question.heading, value=shorten(text, 1024), inline=False)
    embed.set_footer(text="Reply to this post (or in its thread) to say hello!")
    return embed


@dataclass(frozen=True)
class NudgeCandidate:
    user_id: int
    reason: str
    values: dict[str, str]


@dataclass(frozen=True)
class PublishResult:
    intro: Intro
    created: bool  # a new post (first, or after the old one was deleted); False = edited


@dataclass(eq=False, kw_only=True)
class IntroService:
    repository: IntroRepository
    profiles: ProfileService
    setup: GuildSettings
    roster: Roster
    templates: Templates
    clock: Clock
    #: Run after a person becomes introduced: ``await hook(guild_id, user_id)``.
    on_introduced: list[IntroducedHook] = field(init=False, default_factory=list)
    #: Other features' buttons under a welcome: ``await extra(member)`` returns items.
    welcome_extras: list[WelcomeExtra] = field(init=False, default_factory=list)
    # One intro write at a time per person, so a double submit cannot post twice.
    _locks: dict[tuple[int, int], asyncio.Lock] = field(init=False, default_factory=dict)

    # ----- reads for other features --------------------------------------------------------

    async def settings(self, guild_id: int) -> IntroSettings:
        return await self.repository.settings(guild_id)

    async def save_settings(self, settings: IntroSettings) -> None:
        await self.repository.save_settings(settings, now=self.clock.now())

    async def get(self, guild_id: int, user_id: int) -> Intro | None:
        """The person's intro, or None. ``intro.is_posted`` is False after a deletion."""
        return await self.repository.get(guild_id, user_id)

    async def introduced(self, guild_id: int) -> dict[int, datetime]:
        """Everyone whose intro post exists, with when they first introduced."""
        return {
            intro.user_id: intro.first_posted_at for intro in await self.repository.posted(guild_id)
        }

    async def welcomes(self, guild_id: int) -> list[Welcome]:
        return await self.repository.welcomes(guild_id)

    async def unwelcomed(
        self, guild_id: int, older_than: datetime, *, since: datetime | None = None
    ) -> list[Newcomer]:
        """Newcomers still in the server who arrived at or before ``older_than`` (and after
        ``since``, if given) and whom nobody has welcomed yet, newest first."""
        welcomed = {w.newcomer_id for w in await self.repository.welcomes(guild_id)}
        return [
            n
            for n in await self.repository.newcomers(guild_id, since=since)
            if n.arrived_at <= older_than and n.user_id not in welcomed
        ]

    async def newest_unwelcomed_line(self, guild_id: int, now: datetime) -> str | None:
        """A mention-free line for the coffee-shop question, or None.

        Only when someone has waited a day for a hello; it links the newest intros of the last
        week (welcomed or not), so nobody is singled out.
        """
        waiting = await self.unwelcomed(guild_id, now - WELCOME_WINDOW, since=now - NEWEST_WINDOW)
        if not waiting:
            return None
        recent = {
            n.user_id for n in await self.repository.newcomers(guild_id, since=now - NEWEST_WINDOW)
        }
        links = [
            intro.jump_url
            for intro in reversed(await self.repository.posted(guild_id))
            if intro.user_id in recent and intro.jump_url
        ][:NEWEST_LINKS]
        if not links:
            return None
        return await self.templates.render(
            guild_id, "intro_newest_classmates", links=" ".join(links)
        )

    async def first_posted_times(self, guild_id: int) -> dict[int, datetime]:
        """For the digest: when each student's intro was first posted."""
        return await self.repository.first_posted_times(guild_id)

    async def arrival_times(self, guild_id: int) -> dict[int, datetime]:
        return await self.repository.arrival_times(guild_id)

    async def welcome_counts(self, guild_id: int) -> dict[int, int]:
        """For the digest: how many classmates welcomed each newcomer."""
        return await self.repository.welcome_counts(guild_id)

    # ----- welcome on join -----------------------------------------------------------------

    async def member_joined(
        self, member: discord.Member, view: discord.ui.View | None
    ) -> discord.Message | None:
        """Record the arrival and post the welcome (pinging only the newcomer). Bots and
        staff are ignored; someone rejoining who already introduced gets no new welcome."""
        guild = member.guild
        config = await self.setup.config(guild.id)
        if config is None or member.bot or await self.roster.is_staff(member):
            return None
        await self.repository.record_arrival(guild.id, member.id, now=self.clock.now())
        intro = await self.repository.get(guild.id, member.id)
        if intro is not None and intro.is_posted:
            await self._sync_role(member, introduced=True)
            return None
        channel = _intro_channel_of(guild, config)
        if channel is None:
            return None
        text = await self.templates.render(
            guild.id, "welcome", member=member.mention, course=guild.name
        )
        try:
            message = await channel.send(
                shorten(text, 2000),
                allowed_mentions=discord.AllowedMentions(users=[member]),
                view=view or discord.utils.MISSING,
            )
        except discord.Forbidden:
            log.warning("Cannot post welcomes in channel %s of guild %s", channel.id, guild.id)
            return None
        await self.repository.set_welcome_post(guild.id, member.id, channel.id, message.id)
        return message

    async def member_left(self, guild_id: int, user_id: int) -> None:
        await self.repository.mark_left(guild_id, user_id, now=self.clock.now())

    # ----- writing an intro ----------------------------------------------------------------

    def _lock(self, guild_id: int, user_id: int) -> asyncio.Lock:
        return self._locks.setdefault((guild_id, user_id), asyncio.Lock())

    async def intro_channel(self, guild: discord.Guild) -> discord.TextChannel:
        config = await self.setup.require_config(guild.id, guild.name)
        channel = _intro_channel_of(guild, config)
        if channel is None:
            raise UserFacingError(
                "The introductions channel isn't set up yet. Please ask your instructor to "
                "run /course setup. Nothing was posted."
            )
        return channel

    async def publish(self, member: discord.Member, raw: Mapping[str, str | None]) -> PublishResult:
        """Post the member's intro, or edit their existing post: never a second post.

        Always the caller's own intro: nothing here takes another person's id.
        """
        answers = clean_answers(raw)
        guild = member.guild
        channel = await self.intro_channel(guild)
        embed = build_intro_embed(member, answers)
        async with self._lock(guild.id, member.id):
            existing = await self.repository.get(guild.id, member.id)
            message: discord.Message | discord.PartialMessage | None = None
            if existing is not None and existing.is_posted and existing.source == "modal":
                old_channel = guild.get_channel(existing.channel_id or 0)
                if isinstance(old_channel, discord.TextChannel):
                    try:
                        message = await old_channel.get_partial_message(
                            existing.message_id or 0
                        ).edit(embed=embed, allowed_mentions=discord.AllowedMentions.none())
                    except discord.NotFound:
                        message = None  # deleted while we were not looking: post again
            created = message is None
            if message is None:
                try:
                    message = await channel.send(
                        embed=embed, allowed_mentions=discord.AllowedMentions.none()
                    )
                except discord.Forbidden as error:
                    raise UserFacingError(
                        f"I can't post in {channel.mention}. Please tell your instructor. "
                        "Nothing was posted."
                    ) from error
            was_introduced = existing is not None and existing.is_posted
            await self.repository.save(
                guild.id,
                member.id,
                source="modal",
                channel_id=message.channel.id,
                message_id=message.id,
                answers=answers,
                now=self.clock.now(),
                reposted=created,
            )
            intro = await self.repository.get(guild.id, member.id)
            assert intro is not None
        await self._introduced(member, first=not was_introduced, at=intro.posted_at)
        return PublishResult(intro, created)

    async def message_intro(self, message: discord.Message) -> bool:
        """A top-level message in the intro channel: counts as an intro when long enough and
        the author has none yet. Returns True when it was counted (the cog thanks them)."""
        guild = message.guild
        if guild is None or not isinstance(message.author, discord.Member):
            return False
        member = message.author
        settings = await self.repository.settings(guild.id)
        if len(message.content.strip()) < settings.min_message_length or is_blank(message.content):
            return False
        if await self.roster.is_staff(member):
            return False
        async with self._lock(guild.id, member.id):
            if await self.repository.has_posted(guild.id, member.id):
                return False  # from memory once known: no database round trip
            now = self.clock.now()
            await self.repository.save(
                guild.id,
                member.id,
                source="message",
                channel_id=message.channel.id,
                message_id=message.id,
                answers={},
                now=now,
                reposted=True,
                arrival_at=now,  # one transaction for the intro and the arrival
            )
        await self._introduced(member, first=True, at=now, arrival_recorded=True)
        return True

    async def _introduced(
        self, member: discord.Member, *, first: bool, at: datetime, arrival_recorded: bool = False
    ) -> None:
        if not arrival_recorded:
            await self.repository.ensure_arrival(member.guild.id, member.id, at=at)
        await self._sync_role(member, introduced=True)
        if not first:
            return
        for hook in list(self.on_introduced):
            try:
                await hook(member.guild.id, member.id)
            except Exception:
                log.exception("on_introduced hook %r failed", hook)

    # ----- welcomes and deletions ----------------------------------------------------------

    async def record_welcome(self, message: discord.Message) -> int | None:
        """A reply to an intro (or to the bot's welcome of a newcomer), or a message in the
        intro's thread, welcomes its newcomer. Returns the newcomer's id when recorded."""
        guild = message.guild
        if guild is None or message.author.bot:
            return None
        target_ids: list[int] = []
        if message.reference is not None and message.reference.message_id is not None:
            target_ids.append(message.reference.message_id)
        if isinstance(message.channel, discord.Thread):
            target_ids.append(message.channel.id)  # a thread started from a message shares its id
        for target in target_ids:
            newcomer_id = await self.repository.newcomer_of_post(guild.id, target)
            if newcomer_id is None or newcomer_id == message.author.id:
                continue
            await self.repository.add_welcome(
                guild.id,
                newcomer_id,
                message.author.id,
                channel_id=message.channel.id,
                message_id=message.id,
                now=self.clock.now(),
            )
            return newcomer_id
        return None

    async def posts_deleted(
        self, guild: discord.Guild | None, guild_id: int, ids: list[int]
    ) -> list[int]:
        """Intro posts were deleted (by anyone): the authors may write again; their Introduced
        role is removed. Returns the affected user ids."""
        removed = await self.repository.mark_removed(guild_id, ids)
        for intro in removed:
            member = guild.get_member(intro.user_id) if guild else None
            if member is not None:
                await self._sync_role(member, introduced=False)
        return [intro.user_id for intro in removed]

    async def _sync_role(self, member: discord.Member, *, introduced: bool) -> None:
        settings = await self.repository.settings(member.guild.id)
        role = member.guild.get_role(settings.introduced_role_id or 0)
        if role is None:
            return
        has = any(r.id == role.id for r in member.roles)
        try:
            if introduced and not has:
                await member.add_roles(role, reason="CohortBot: introduced")
            elif not introduced and has:
                await member.remove_roles(role, reason="CohortBot: intro post deleted")
        except discord.HTTPException as error:
            # Missing Manage Roles or a role above the bot's: /course intro settings says so.
            log.warning(
                "Could not update the Introduced role in guild %s: %s", member.guild.id, error
            )

    # ----- nudges --------------------------------------------------------------------------

    async def record_nudge_sent(self, guild_id: int, user_id: int, kind: ReminderKind) -> None:
        """The nudge engine sent an intro reminder or the suggestions: remember it."""
        await self.repository.record_reminder(guild_id, user_id, kind, now=self.clock.now())

    async def _arrival_times(
        self, guild_id: int, members: list[discord.Member]
    ) -> dict[int, datetime]:
        recorded = {n.user_id: n.arrived_at for n in await self.repository.newcomers(guild_id)}
        return {m.id: recorded.get(m.id) or m.joined_at or self.clock.now() for m in members}

    async def introduce_nudge_candidates(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        now: datetime,
        *,
        opted_in: Collection[int] | None = None,
    ) -> list[NudgeCandidate]:
        """Students of ``cohort`` who arrived at least ``nudge_after_days`` ago and have not
        introduced: at most two reminders each, at least three days apart. ``opted_in``
        narrows it to those ids (None: the caller applies opt-in itself)."""
        settings = await self.repository.settings(guild.id)
        students = await self.roster.students(guild, cohort)
        introduced = await self.introduced(guild.id)
        sent = await self.repository.reminders(guild.id, "introduce")
        arrivals = await self._arrival_times(guild.id, students)
        config = await self.setup.config(guild.id)
        channel = (
            f"<#{config.intro_channel_id}>"
            if config and config.intro_channel_id
            else "#introductions"
        )
        wait = timedelta(days=settings.nudge_after_days)
        found: list[NudgeCandidate] = []
        for member in students:
            if opted_in is not None and member.id not in opted_in:
                continue
            if member.id in introduced or now - arrivals[member.id] < wait:
                continue
            previous = sent.get(member.id, [])
            if len(previous) >= MAX_INTRODUCE_NUDGES or (
                previous and now - previous[-1] < INTRODUCE_NUDGE_GAP
            ):
                continue
            days = (now - arrivals[member.id]).days
            found.append(
                NudgeCandidate(
                    member.id,
                    f"joined {days} days ago and has not introduced (reminder "
                    f"{len(previous) + 1} of {MAX_INTRODUCE_NUDGES})",
                    {"member": member.display_name, "course": guild.name, "channel": channel},
                )
            )
        return found

    async def suggestion_candidates(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        now: datetime,
        *,
        opted_in: Collection[int] | None = None,
    ) -> list[NudgeCandidate]:
        """Newcomers of ``cohort`` nobody welcomed within a day (arrived in the last week),
        with up to three classmates who share a circumstance and chose to be findable for it.
        Once per newcomer."""
        students = await self.roster.students(guild, cohort)
        student_ids = [m.id for m in students]
        by_id = {m.id: m for m in students}
        waiting = await self.unwelcomed(guild.id, now - WELCOME_WINDOW, since=now - NEWEST_WINDOW)
        sent = await self.repository.reminders(guild.id, "suggestions")
        found: list[NudgeCandidate] = []
        for newcomer in waiting:
            member = by_id.get(newcomer.user_id)
            if member is None or member.id in sent:
                continue
            if opted_in is not None and member.id not in opted_in:
                continue
            lines = await self.suggestion_lines(guild, member.id, student_ids)
            if not lines:
                continue
            found.append(
                NudgeCandidate(
                    member.id,
                    "no welcome after a day; classmates share a circumstance",
                    {
                        "member": member.display_name,
                        "course": guild.name,
                        "classmates": "\n".join(lines),
                    },
                )
            )
        return found

    async def suggestion_lines(
        self, guild: discord.Guild, user_id: int, student_ids: list[int]
    ) -> list[str]:
        """ "• Name — shares: working full-time · intro link" for up to three classmates."""
        suggestions = await self.profiles.suggestions(guild.id, user_id, student_ids)
        others = await self.profiles.for_users(guild.id, [s.user_id for s in suggestions])
        lines = []
        for suggestion in suggestions:
            member = guild.get_member(suggestion.user_id)
            profile = others.get(suggestion.user_id)
            if member is None or profile is None:
                continue
            intro = await self.repository.get(guild.id, suggestion.user_id)
            link = f" · [intro]({intro.jump_url})" if intro and intro.jump_url else ""
            shared = ", ".join(shared_labels(profile, suggestion.shared))
            lines.append(f"• {member.display_name} — {shared}{link}")
        return lines


def _intro_channel_of(guild: discord.Guild, config: GuildConfig) -> discord.TextChannel | None:
    """The server's introductions channel, when one is set and it is still a text channel."""
    channel = guild.get_channel(config.intro_channel_id or 0)
    return channel if isinstance(channel, discord.TextChannel) else None


__all__ = [
    "INTRO_QUESTIONS",
    "THANKS_EMOJI",
    "IntroQuestion",
    "IntroService",
    "IntroSource",
    "NudgeCandidate",
    "PublishResult",
    "build_intro_embed",
    "clean_answers",
]
