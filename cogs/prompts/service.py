"""Weekly discussion prompts: the use cases (``PromptService``).

* The bank: the shipped prompts (data/prompts.json) seed each cohort's bank the first time it
  is used; instructors add, remove and import their own.
* The week: ``/course prompt schedule`` stores a weekly schedule (kind ``prompt``) plus the
  "no answer left alone" check two days before the week ends (kind ``prompt_followup``,
  Saturday 00:00 local). Both ask the course calendar first (nothing in break weeks or when
  the course is not running; a cohort without a calendar gets unnumbered weeks).
* Posting: one post per discussion group (groups form above ``group_threshold`` students);
  ``prompt_posts`` has one row per (week, sequence, group), claimed before it is queued, so a
  week's prompt is posted at most once unless the instructor confirms a second one. "Build
  the post" (:meth:`PromptService.build_post`) is separate from "send it": each group's post
  is an outbox row (kind ``prompt``, dedupe key ``post:<prompt_posts id>``) — a message in a
  text channel, or a forum post (``thread_name`` = the title, the week's tag applied) in a
  forum. When the outbox reports it sent (also after a restart's reconciliation), the message
  id (a forum post's thread id) is stored on the ``prompt_posts`` row; answers attach to a post
  only from then on. ``/course prompt post-now`` waits for the delivery to answer with links.
* The Saturday "no answer left alone" line edits the group's own prompt post. It is not an
  outbox row (the outbox creates messages; this changes one that exists) but it is at most
  once all the same: the ledger slot (kind ``prompt_left_alone``, slot = the post id) is
  claimed before the edit, and the edit is skipped when the post already ends with the line.
* Answers and replies: :meth:`PromptService.handle_message` classifies a student's message
  (see :mod:`cogs.prompts.rules`); edits and deletes arrive as raw events.
* Nudges: two kinds registered with the nudge engine (which applies opt-in, caps, away,
  DMs-closed and quiet hours): ``prompt_noreply`` and ``prompt_unanswered``.

Other features: the digest reads :class:`cogs.prompts.repository.PromptRepository`
(``PromptService.store``) per cohort and week key; milestones ``first_answer`` and
``first_peer_reply`` are reported to ``MilestoneService``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo

import discord

from bot.calendar import WeekStatus, monday_of
from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.outbox.repository import NewOutboxRow, OutboxRow
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.schedule_math import is_valid_timezone, next_occurrence
from bot.scheduler import ScheduledRun
from bot.store.guilds import Cohort
from bot.store.ledger import LedgerRepository
from bot.store.schedules import Schedule, ScheduleRepository
from bot.templates import DATA_DIR, Templates
from bot.text import MESSAGE_LIMIT, chunk_lines, shorten
from cogs.prompts.repository import (
    Answer,
    BankPrompt,
    ParticipationRow,
    PromptPost,
    PromptRepository,
    PromptSettings,
    PromptWindowCounts,
)
from cogs.prompts.rules import (
    ImportFileError,
    PromptError,
    PromptSpec,
    RowError,
    assign_groups,
    choose_prompt,
    classify_message,
    parse_import,
    validate_prompt,
    word_count,
)

__all__ = [
    "ALERTS_ROLE_NAME",
    "FOLLOWUP_KIND",
    "NUDGE_NOT_ANSWERED",
    "NUDGE_NO_REPLIES",
    "POST_KIND",
    "PostResult",
    "PromptService",
    "load_default_bank",
]

log = logging.getLogger(__name__)

POST_KIND: Final = "prompt"
FOLLOWUP_KIND: Final = "prompt_followup"
NOTICE_KIND: Final = "prompt_notice"
LEFT_ALONE_KIND: Final = "prompt_left_alone"
OUTBOX_KEY_PREFIX: Final = "post:"
NUDGE_NO_REPLIES: Final = "prompt_noreply"
NUDGE_NOT_ANSWERED: Final = "prompt_unanswered"
ALERTS_ROLE_NAME: Final = "Prompt alerts"
ANSWER_TEXT_LIMIT: Final = 1800
FOLLOWUP_WEEKDAY: Final = 5  # Saturday 00:00: two days before the week ends (Sunday 24:00)
GENERIC_FOLLOW_UPS: Final = (
    "What made you think of that?",
    "How would that look if…?",
    "What would you try next?",
)
DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def load_default_bank(path: Path | None = None) -> list[PromptSpec]:
    raw = json.loads((path or DATA_DIR / "prompts.json").read_text(encoding="utf-8"))
    return [
        validate_prompt(
            item["text"],
            theme=item.get("theme"),
            week=item.get("week"),
            follow_ups=item.get("follow_ups"),
        )
        for item in raw["prompts"]
    ]


class WeekSource(Protocol):
    async def week_of(self, guild_id: int, cohort_id: int, instant: datetime) -> WeekStatus: ...


class MilestoneSink(Protocol):
    async def reached(self, guild_id: int, user_id: int, milestone: str) -> bool: ...


class OverrideLike(Protocol):
    @property
    def action(self) -> str: ...

    @property
    def body(self) -> str | None: ...


class OverrideStore(Protocol):
    """/course upcoming's per-occasion choices (``app.upcoming``)."""

    async def override(self, guild_id: int, key: str) -> OverrideLike | None: ...

    async def set_override(
        self,
        guild_id: int,
        key: str,
        action: Literal["skip", "edit"],
        body: str | None,
        *,
        actor_id: int,
    ) -> None: ...


def upcoming_key(cohort_id: int, week_key: str) -> str:
    return f"prompt:{cohort_id}:{week_key}"


PostStatus = Literal[
    "posted",
    "already_posted",
    "not_running",
    "break",
    "empty_bank",
    "no_channel",
    "channel_missing",
    "no_permission",
    "skipped",
    "failed",
]


@dataclass
class PostResult:
    status: PostStatus
    week: WeekStatus
    posts: list[PromptPost] = field(default_factory=list)
    detail: str = ""
    #: the outbox rows queued for ``posted`` (one per group)
    row_ids: list[int] = field(default_factory=list)


def week_label(week: WeekStatus) -> str:
    if week.number is not None:
        return f"Week {week.number}"
    if week.week_start is not None:
        return f"Week of {week.week_start.strftime('%b')} {week.week_start.day}"
    return "This week"


def post_link(guild_id: int, post: PromptPost) -> str:
    if post.is_forum:
        return f"https://discord.com/channels/{guild_id}/{post.message_id}"
    return f"https://discord.com/channels/{guild_id}/{post.channel_id}/{post.message_id}"


def answer_link(guild_id: int, answer: Answer) -> str:
    return f"https://discord.com/channels/{guild_id}/{answer.place_id}"


def channel_problem(channel: discord.abc.GuildChannel, me: discord.Member) -> str | None:
    """What the bot is missing to run prompts in ``channel`` (None when nothing)."""
    if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
        return "Prompts need a text channel or a forum channel."
    perms = channel.permissions_for(me)
    needed = [
        ("view_channel", "View Channel"),
        ("send_messages", "Send Messages"),
        ("send_messages_in_threads", "Send Messages in Threads"),
        ("read_message_history", "Read Message History"),
    ]
    if isinstance(channel, discord.TextChannel):
        needed.append(("create_public_threads", "Create Public Threads"))
    missing = [label for attr, label in needed if not getattr(perms, attr)]
    if missing:
        return f"I'm missing {', '.join(missing)} in {channel.mention}."
    return None


class PromptService:
    def __init__(
        self,
        *,
        store: PromptRepository,
        setup: GuildSettings,
        roster: Roster,
        templates: Templates,
        clock: Clock,
        schedules: ScheduleRepository,
        ledger: LedgerRepository,
        default_bank: Sequence[PromptSpec],
    ) -> None:
        self.store = store
        self._setup = setup
        self._roster = roster
        self._templates = templates
        self._clock = clock
        self._schedules = schedules
        self._ledger = ledger
        self._default_bank = list(default_bank)
        self._client: discord.Client | None = None
        self._calendar: WeekSource | None = None
        self._milestones: MilestoneSink | None = None
        self._rebuild: Callable[[], Awaitable[None]] | None = None
        self._upcoming: OverrideStore | None = None
        self._outbox: OutboxService | None = None
        # Read on every message in the guild: cached, dropped whenever settings are saved.
        self._settings_cache: dict[int, list[PromptSettings]] = {}
        # Per guild, the threads and forum posts holding answers, for ``may_handle_message``:
        # loaded with the settings and only ever added to (an id no longer an answer costs
        # one read in ``handle_message``; a missing one would lose peer replies).
        self._answer_places: dict[int, set[int]] = {}
        self._settings_loading: dict[int, asyncio.Future[list[PromptSettings]]] = {}
        self._settings_generation: dict[int, int] = {}

    async def window_counts(
        self,
        guild_id: int,
        cohort_id: int,
        windows: Sequence[tuple[datetime, datetime]],
        *,
        unanswered_from: datetime,
        unanswered_until: datetime,
    ) -> PromptWindowCounts:
        """For the digest: prompt numbers in 7-day windows (see the repository)."""
        return await self.store.window_counts(
            guild_id,
            cohort_id,
            windows,
            unanswered_from=unanswered_from,
            unanswered_until=unanswered_until,
        )

    def attach(
        self,
        client: discord.Client | None,
        *,
        calendar: WeekSource | None = None,
        milestones: MilestoneSink | None = None,
        rebuild_schedules: Callable[[], Awaitable[None]] | None = None,
        upcoming: OverrideStore | None = None,
        outbox: OutboxService | None = None,
    ) -> None:
        """Called by the cog: the client (to find guilds), the calendar, milestones, and the
        outbox every prompt post goes through."""
        self._client = client
        self._calendar = calendar
        self._milestones = milestones
        self._rebuild = rebuild_schedules
        self._upcoming = upcoming
        if outbox is not None and outbox is not self._outbox:
            outbox.on_sent(POST_KIND, self._post_sent)
        self._outbox = outbox

    # ------------------------------------------------------------------ settings, week

    async def _timezone(self, guild_id: int) -> str:
        config = await self._setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        return zone if is_valid_timezone(zone) else "UTC"

    async def week(self, guild_id: int, cohort_id: int, now: datetime | None = None) -> WeekStatus:
        """The course week at ``now``; without a calendar an unnumbered week (local Monday)."""
        now = now or self._clock.now()
        if self._calendar is not None:
            status = await self._calendar.week_of(guild_id, cohort_id, now)
            if not (status.state == "not_running" and status.reason == "no calendar"):
                return status
        local = now.astimezone(ZoneInfo(await self._timezone(guild_id))).date()
        return WeekStatus("week", None, monday_of(local))

    async def guild_settings(self, guild_id: int) -> list[PromptSettings]:
        cached = self._settings_cache.get(guild_id)
        if cached is not None:
            return cached
        # One load per guild at a time: the first burst of messages after a start (or after
        # settings were saved) would otherwise each read the same rows.
        loading = self._settings_loading.get(guild_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_settings(guild_id))
            self._settings_loading[guild_id] = loading
            loading.add_done_callback(lambda done: self._loaded(guild_id, done))
        return await asyncio.shield(loading)

    async def _load_settings(self, guild_id: int) -> list[PromptSettings]:
        generation = self._settings_generation.get(guild_id, 0)
        settings = await self.store.all_settings(guild_id)
        if settings:  # without prompt settings no message is handled: no places needed
            # A union: an answer recorded while this loaded is already in the set.
            places = await self.store.answer_places(guild_id)
            self._answer_places.setdefault(guild_id, set()).update(places)
        if self._settings_generation.get(guild_id, 0) == generation:  # not saved meanwhile
            self._settings_cache[guild_id] = settings
        return settings

    def _loaded(self, guild_id: int, done: asyncio.Future[list[PromptSettings]]) -> None:
        if self._settings_loading.get(guild_id) is done:
            del self._settings_loading[guild_id]

    def may_handle_message(self, message: discord.Message) -> bool:
        """False when ``handle_message`` would certainly do nothing, decided from cached state
        without awaiting (the cog's per-message pre-filter); True when it might, and when the
        guild's settings are not cached yet."""
        guild = message.guild
        if guild is None or message.author.bot or message.webhook_id is not None:
            return False
        if not isinstance(message.author, discord.Member):
            return False
        settings = self._settings_cache.get(guild.id)
        if settings is None:
            return True
        if not settings:
            return False
        channel = message.channel
        if isinstance(channel, discord.Thread):
            if channel.id in self._answer_places.get(guild.id, ()):
                return True
            return message.id == channel.id and isinstance(channel.parent, discord.ForumChannel)
        if isinstance(channel, discord.TextChannel):
            return any(s.channel_id == channel.id for s in settings)
        return False

    async def _add_answer(
        self,
        *,
        guild_id: int,
        post: PromptPost,
        user_id: int,
        place_id: int,
        message_id: int,
        by_bot: bool,
        words: int,
        now: datetime,
    ) -> Answer | None:
        # Noted before the insert, so a message in the new thread is never filtered out.
        self._answer_places.setdefault(guild_id, set()).add(place_id)
        return await self.store.add_answer(
            guild_id=guild_id,
            post=post,
            user_id=user_id,
            place_id=place_id,
            message_id=message_id,
            by_bot=by_bot,
            words=words,
            now=now,
        )

    async def save_settings(self, settings: PromptSettings) -> None:
        try:
            await self.store.save_settings(settings, now=self._clock.now())
        finally:
            self._settings_generation[settings.guild_id] = (
                self._settings_generation.get(settings.guild_id, 0) + 1
            )
            self._settings_cache.pop(settings.guild_id, None)
            self._settings_loading.pop(settings.guild_id, None)

    # ------------------------------------------------------------------ the bank

    async def ensure_bank(self, guild_id: int, cohort_id: int) -> None:
        settings = await self.store.settings(guild_id, cohort_id)
        if settings.bank_seeded:
            return
        await self.store.add_prompts(
            guild_id, cohort_id, self._default_bank, source="default", now=self._clock.now()
        )
        await self.save_settings(settings.with_changes(bank_seeded=True))

    async def bank(self, guild_id: int, cohort_id: int) -> list[BankPrompt]:
        await self.ensure_bank(guild_id, cohort_id)
        return await self.store.prompts(guild_id, cohort_id)

    async def add_prompt(
        self,
        guild_id: int,
        cohort_id: int,
        text: str,
        *,
        theme: str | None,
        week: str | None,
        follow_ups: str | None,
    ) -> BankPrompt:
        try:
            spec = validate_prompt(text, theme=theme, week=week, follow_ups=follow_ups)
        except PromptError as exc:
            raise UserFacingError(f"{exc} Nothing was saved.") from None
        await self.ensure_bank(guild_id, cohort_id)
        (prompt_id,) = await self.store.add_prompts(
            guild_id, cohort_id, [spec], source="custom", now=self._clock.now()
        )
        prompt = await self.store.prompt(guild_id, prompt_id)
        assert prompt is not None
        return prompt

    async def remove_prompt(self, guild_id: int, cohort_id: int, prompt_id: int) -> None:
        await self.ensure_bank(guild_id, cohort_id)
        if not await self.store.remove_prompt(guild_id, cohort_id, prompt_id):
            raise UserFacingError(
                f"There is no prompt #{prompt_id} in this cohort's bank. /course prompt list "
                "shows the numbers."
            )

    async def import_prompts(
        self, guild_id: int, cohort_id: int, filename: str, data: bytes
    ) -> tuple[int, tuple[RowError, ...]]:
        """Add the valid rows; return how many were added and the errors by row."""
        try:
            result = parse_import(filename, data)
        except ImportFileError as exc:
            raise UserFacingError(f"{exc} Nothing was imported.") from None
        await self.ensure_bank(guild_id, cohort_id)
        if result.prompts:
            await self.store.add_prompts(
                guild_id, cohort_id, result.prompts, source="import", now=self._clock.now()
            )
        return len(result.prompts), result.errors

    # ------------------------------------------------------------------ schedule

    async def configure(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        channel: discord.abc.GuildChannel,
        *,
        weekday: int,
        local_time: time,
        group_threshold: int | None = None,
        group_size: int | None = None,
        substantive_words: int | None = None,
    ) -> PromptSettings:
        """Check the channel up front, then save the settings and both weekly schedules."""
        problem = channel_problem(channel, guild.me)
        if problem is not None:
            raise UserFacingError(f"{problem} Fix that and run the command again; nothing changed.")
        current = await self.store.settings(guild.id, cohort.cohort_id)
        updated = current.with_changes(
            channel_id=channel.id,
            group_threshold=group_threshold or current.group_threshold,
            group_size=group_size or current.group_size,
            substantive_words=substantive_words or current.substantive_words,
        )
        await self.save_settings(updated)
        zone = await self._timezone(guild.id)
        now = self._clock.now()
        for kind, day, at in (
            (POST_KIND, weekday, local_time),
            (FOLLOWUP_KIND, FOLLOWUP_WEEKDAY, time(0, 0)),
        ):
            await self._schedules.upsert(
                Schedule(guild.id, cohort.cohort_id, kind, day, at, zone, True, now)
            )
        if self._rebuild is not None:
            await self._rebuild()
        return updated

    async def schedule_of(self, guild_id: int, cohort_id: int) -> Schedule | None:
        return await self._schedules.get(guild_id, cohort_id, POST_KIND)

    # ------------------------------------------------------------------ groups

    async def refresh_groups(
        self, guild: discord.Guild, cohort: Cohort, settings: PromptSettings | None = None
    ) -> dict[int, int]:
        settings = settings or await self.store.settings(guild.id, cohort.cohort_id)
        students = await self._roster.students(guild, cohort)
        previous = await self.store.groups(guild.id, cohort.cohort_id)
        assignment = assign_groups(
            [m.id for m in students],
            previous,
            threshold=settings.group_threshold,
            max_size=settings.group_size,
        )
        await self.store.replace_groups(
            guild.id, cohort.cohort_id, assignment, now=self._clock.now()
        )
        return assignment

    # ------------------------------------------------------------------ building a post

    async def build_post(
        self,
        guild_id: int,
        prompt_text: str,
        follow_ups: Sequence[str],
        *,
        title: str,
        is_forum: bool,
        tag_name: str,
        alerts_role_id: int | None,
    ) -> str:
        how = (
            await self._templates.render(guild_id, "prompt_how_forum", tag=tag_name)
            if is_forum
            else await self._templates.render(guild_id, "prompt_how_text")
        )
        stems = "\n".join(f"• {s}" for s in (follow_ups or GENERIC_FOLLOW_UPS))
        alerts = f"<@&{alerts_role_id}>" if alerts_role_id else ""
        text = await self._templates.render(
            guild_id,
            "prompt_post",
            title=title,
            prompt=prompt_text,
            follow_ups=stems,
            how_to_answer=how,
            alerts=alerts,
        )
        return shorten(text.strip(), MESSAGE_LIMIT)

    async def _prompt_week_number(self, guild_id: int, cohort_id: int, week: WeekStatus) -> int:
        """The course week number; without a calendar, the count of prompt weeks so far + 1."""
        if week.number is not None:
            return week.number
        return await self.store.weeks_posted_before(guild_id, cohort_id, week.key) + 1

    def _title(self, week: WeekStatus, group: int, groups: int, late: bool, sequence: int) -> str:
        title = f"{week_label(week)} discussion"
        if sequence > 1:
            title += f" (prompt {sequence})"
        if groups > 1:
            title += f" · Group {group}"
        if late:
            title += " · posted late"
        return title

    async def _week_tag(self, forum: discord.ForumChannel, name: str) -> discord.ForumTag | None:
        for tag in forum.available_tags:
            if tag.name == name:
                return tag
        if (
            len(forum.available_tags) >= 20
            or not forum.permissions_for(forum.guild.me).manage_channels
        ):
            return None
        try:
            edited = await forum.edit(
                available_tags=[*forum.available_tags, discord.ForumTag(name=name)]
            )
        except discord.HTTPException as exc:
            log.warning("could not add the tag to forum %s: %s", forum.id, exc)
            return None
        source = edited if isinstance(edited, discord.ForumChannel) else forum
        return next((t for t in source.available_tags if t.name == name), None)

    # ------------------------------------------------------------------ posting

    def _guild(self, guild_id: int) -> discord.Guild | None:
        return self._client.get_guild(guild_id) if self._client is not None else None

    async def _cohort(self, guild_id: int, cohort_id: int) -> Cohort | None:
        for cohort in await self._setup.cohorts(guild_id):
            if cohort.cohort_id == cohort_id:
                return cohort
        return None

    async def tell_instructor_once(
        self, guild: discord.Guild, cohort_id: int, key: str, text: str
    ) -> bool:
        """Post a notice in the leads channel once per key (the ledger remembers)."""
        if not await self._ledger.claim(
            guild.id, cohort_id, NOTICE_KIND, key, now=self._clock.now(), state="done"
        ):
            return False
        config = await self._setup.config(guild.id)
        channel = (
            guild.get_channel(config.leads_channel_id)
            if config and config.leads_channel_id
            else None
        )
        if not isinstance(channel, discord.TextChannel):
            log.warning("prompt notice for guild %s has no leads channel to go to", guild.id)
            return True
        try:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not post a prompt notice in guild %s: %s", guild.id, exc)
        return True

    async def post_week(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        *,
        late: bool = False,
        second: bool = False,
    ) -> PostResult:
        """Post this week's prompt to every discussion group of the cohort."""
        now = self._clock.now()
        week = await self.week(guild.id, cohort.cohort_id, now)
        if not week.running:
            return PostResult("break" if week.state == "break" else "not_running", week)
        settings = await self.store.settings(guild.id, cohort.cohort_id)
        if settings.channel_id is None:
            return PostResult("no_channel", week)
        channel = guild.get_channel(settings.channel_id)
        if channel is None:
            await self.tell_instructor_once(
                guild,
                cohort.cohort_id,
                f"channel-missing:{settings.channel_id}",
                f"I couldn't post the discussion prompt for {cohort.name}: its channel was "
                "deleted. Pick a new one with /course prompt schedule.",
            )
            return PostResult("channel_missing", week)
        problem = channel_problem(channel, guild.me)
        if problem is not None:
            await self.tell_instructor_once(
                guild,
                cohort.cohort_id,
                f"no-permission:{channel.id}:{week.key}",
                f"I couldn't post the discussion prompt for {cohort.name}: {problem}",
            )
            return PostResult("no_permission", week, detail=problem)
        existing = await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key)
        if existing and not second:
            return PostResult("already_posted", week, existing)
        override = None if second else await self._override(guild.id, cohort.cohort_id, week)
        if override is not None and override[0] == "skip":
            return PostResult("skipped", week)
        sequence = max((p.sequence for p in existing), default=0) + 1
        await self.ensure_bank(guild.id, cohort.cohort_id)
        prompt_id = choose_prompt(
            await self.store.bank_entries(guild.id, cohort.cohort_id),
            await self._prompt_week_number(guild.id, cohort.cohort_id, week),
            exclude=[p.prompt_id for p in existing],
        )
        if prompt_id is None:
            return PostResult("empty_bank", week)
        prompt = await self.store.prompt(guild.id, prompt_id)
        assert prompt is not None
        text = prompt.text
        if override is not None and override[0] == "edit" and override[1]:
            text = override[1]
        assignment = await self.refresh_groups(guild, cohort, settings)
        groups = sorted(set(assignment.values())) or [1]
        if self._outbox is None:
            raise RuntimeError("prompts need the outbox (PromptService.attach)")
        is_forum = isinstance(channel, discord.ForumChannel)
        tag_name = week_label(week)
        tag = (
            await self._week_tag(channel, tag_name)
            if isinstance(channel, discord.ForumChannel)
            else None
        )
        role_id = await self.alerts_role_id(guild.id, cohort.cohort_id)
        posted: list[PromptPost] = []
        rows: list[NewOutboxRow] = []
        for group in groups:
            post_id = await self.store.add_post(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                week_key=week.key,
                week_number=week.number,
                sequence=sequence,
                group_no=group,
                prompt_id=prompt.prompt_id,
                channel_id=channel.id,
                is_forum=is_forum,
                late=late,
                now=now,
            )
            if post_id is None:
                continue  # another run claimed this group's post
            title = self._title(week, group, len(groups), late, sequence)
            content = await self.build_post(
                guild.id,
                text,
                prompt.follow_ups,
                title=title,
                is_forum=is_forum,
                tag_name=tag_name,
                alerts_role_id=role_id,
            )
            rows.append(
                self._outbox.new_row(
                    guild_id=guild.id,
                    cohort_id=cohort.cohort_id,
                    kind=POST_KIND,
                    dedupe_key=f"{OUTBOX_KEY_PREFIX}{post_id}",
                    channel_id=channel.id,
                    content=content,
                    mention_role_ids=[role_id] if role_id else [],
                    thread_name=shorten(title, 100) if is_forum else None,
                    tag_ids=[tag.id] if tag is not None else [],
                )
            )
            stored = await self.store.post(guild.id, post_id)
            assert stored is not None
            posted.append(stored)
        row_ids = [i for i in await self._outbox.enqueue_rows(rows) if i is not None]
        return PostResult("posted", week, posted, row_ids=row_ids)

    async def _post_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
        """The outbox delivered a prompt post: answers can attach to it from now on."""
        if not row.dedupe_key.startswith(OUTBOX_KEY_PREFIX):
            return  # a "prompt" row some other code queued
        post_id = int(row.dedupe_key.removeprefix(OUTBOX_KEY_PREFIX))
        await self.store.set_post_message(row.guild_id, post_id, message_id)

    async def settle(
        self,
        guild_id: int,
        result: PostResult,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> PostResult:
        """Wait for the posts of ``result`` to be delivered (for post-now's answer with links).

        A post Discord refused is forgotten (so the instructor can try again) and the result
        becomes ``failed``; posts still queued (sending paused, Discord slow) stay listed."""
        if result.status != "posted" or not result.row_ids or self._outbox is None:
            return result
        rows = await self._outbox.wait_settled(guild_id, result.row_ids, timeout)
        failed = [r for r in rows if r.state in ("failed", "cancelled", "expired")]
        for row in failed:
            await self.store.drop_post(
                guild_id, int(row.dedupe_key.removeprefix(OUTBOX_KEY_PREFIX))
            )
        posts = [await self.store.post(guild_id, p.post_id) for p in result.posts]
        kept = [p for p in posts if p is not None]
        if failed:
            return PostResult("failed", result.week, kept, detail=str(failed[0].last_error))
        return PostResult("posted", result.week, kept, row_ids=result.row_ids)

    # ------------------------------------------------------------------ scheduled runs

    async def run_scheduled(self, run: ScheduledRun) -> None:
        guild = self._guild(run.guild_id)
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        if guild is None or cohort is None:
            return
        if run.kind == POST_KIND:
            await self.post_week(guild, cohort, late=run.late)
        elif run.kind == FOLLOWUP_KIND:
            await self.note_unanswered(guild, cohort)

    async def run_missed(self, run: ScheduledRun) -> None:
        """The bot was down beyond the grace window: skip the post, tell the instructor."""
        guild = self._guild(run.guild_id)
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        if guild is None or cohort is None or run.kind != POST_KIND:
            return
        when = int(run.occurrence.timestamp())
        await self.tell_instructor_once(
            guild,
            cohort.cohort_id,
            f"missed:{run.slot}",
            f"The discussion prompt for {cohort.name} due <t:{when}:f> was not posted: I was "
            "offline then and it is now too late to post it on schedule. Run "
            "/course prompt post-now if you'd still like this week's prompt.",
        )

    async def _override(
        self, guild_id: int, cohort_id: int, week: WeekStatus
    ) -> tuple[str, str | None] | None:
        if self._upcoming is None:
            return None
        found = await self._upcoming.override(guild_id, upcoming_key(cohort_id, week.key))
        return None if found is None else (found.action, found.body)

    async def upcoming(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[tuple[str, datetime, int, str]]:
        """(key, when, cohort id, preview text) of each prompt due between start and end."""
        items: list[tuple[str, datetime, int, str]] = []
        for settings in await self.guild_settings(guild_id):
            if settings.channel_id is None or settings.cohort_id == 0:
                continue
            schedule = await self.schedule_of(guild_id, settings.cohort_id)
            if schedule is None or not schedule.enabled:
                continue
            when = next_occurrence(schedule.weekday, schedule.local_time, schedule.zone, start)
            while when <= end:
                week = await self.week(guild_id, settings.cohort_id, when)
                done = await self.store.posts_for_week(guild_id, settings.cohort_id, week.key)
                if week.running and not done:
                    override = await self._override(guild_id, settings.cohort_id, week)
                    if override is None or override[0] != "skip":
                        text = override[1] if override and override[1] else None
                        if text is None:
                            await self.ensure_bank(guild_id, settings.cohort_id)
                            chosen = choose_prompt(
                                await self.store.bank_entries(guild_id, settings.cohort_id),
                                await self._prompt_week_number(guild_id, settings.cohort_id, week),
                            )
                            prompt = await self.store.prompt(guild_id, chosen) if chosen else None
                            text = prompt.text if prompt else "(the prompt bank is empty)"
                        items.append(
                            (
                                upcoming_key(settings.cohort_id, week.key),
                                when,
                                settings.cohort_id,
                                text,
                            )
                        )
                when = next_occurrence(schedule.weekday, schedule.local_time, schedule.zone, when)
        return items

    async def skip_week(self, guild_id: int, key: str, actor_id: int) -> None:
        if self._upcoming is not None:
            await self._upcoming.set_override(guild_id, key, "skip", None, actor_id=actor_id)

    async def edit_week(self, guild_id: int, key: str, text: str, actor_id: int) -> None:
        try:
            spec = validate_prompt(text)
        except PromptError as exc:
            raise UserFacingError(f"{exc} Nothing was changed.") from None
        if self._upcoming is not None:
            await self._upcoming.set_override(guild_id, key, "edit", spec.text, actor_id=actor_id)

    # ------------------------------------------------------------------ no answer left alone

    async def note_unanswered(self, guild: discord.Guild, cohort: Cohort) -> int:
        """Add one inviting line to each group's prompt post that links its answers without
        replies; returns how many posts got the line."""
        week = await self.week(guild.id, cohort.cohort_id)
        if not week.running:
            return 0
        noted = 0
        for post in await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key):
            if post.left_alone_noted or post.message_id is None:
                continue
            waiting = await self.store.answers_without_replies(
                guild.id, cohort.cohort_id, week.key, post_id=post.post_id
            )
            if not waiting:
                continue
            links = " ".join(answer_link(guild.id, a) for a in waiting[:10])
            line = await self._templates.render(guild.id, "prompt_left_alone", links=links)
            slot = str(post.post_id)
            key = (guild.id, cohort.cohort_id, LEFT_ALONE_KIND, slot)
            # Claimed before the edit: a restart between the edit and the mark never edits twice.
            if not await self._ledger.claim(*key, now=self._clock.now()):
                continue
            try:
                if await self._append_line(guild, post, line):
                    await self.store.mark_left_alone_noted(guild.id, post.post_id)
                    noted += 1
                await self._ledger.mark(*key, "done")
            except discord.HTTPException as exc:
                await self._ledger.mark(*key, "failed", f"{exc.status} {exc.code}")
                log.warning("could not add the follow-up line in guild %s: %s", guild.id, exc)
        return noted

    async def _append_line(self, guild: discord.Guild, post: PromptPost, line: str) -> bool:
        assert post.message_id is not None
        channel = await _text_place(guild, post.message_id if post.is_forum else post.channel_id)
        if channel is None:
            return False
        message = await channel.fetch_message(post.message_id)
        if message.content.endswith(line):
            return True  # already there (an edit that was not recorded)
        content = shorten(f"{message.content}\n\n{line}", MESSAGE_LIMIT)
        await message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())
        return True

    # ------------------------------------------------------------------ answers and replies

    async def _cohort_settings_for(
        self, member: discord.Member, channel_id: int
    ) -> PromptSettings | None:
        settings = [
            s for s in await self.guild_settings(member.guild.id) if s.channel_id == channel_id
        ]
        if not settings:
            return None
        mine = {c.cohort_id for c in await self._roster.cohorts_of(member)}
        return next((s for s in settings if s.cohort_id in mine), None)

    async def _group_post(
        self, guild: discord.Guild, cohort_id: int, user_id: int, week: WeekStatus
    ) -> PromptPost | None:
        """The student's group's post of the latest prompt this week."""
        posts = await self.store.posts_for_week(guild.id, cohort_id, week.key)
        if not posts:
            return None
        latest = max(p.sequence for p in posts)
        current = [p for p in posts if p.sequence == latest and p.message_id is not None]
        if not current:
            return None
        group = (await self.store.groups(guild.id, cohort_id)).get(user_id)
        return next((p for p in current if p.group_no == group), current[0])

    async def _answer_recorded(self, guild_id: int, user_id: int) -> None:
        if self._milestones is not None:
            await self._milestones.reached(guild_id, user_id, "first_answer")

    async def handle_message(self, message: discord.Message) -> None:
        """Classify a student's message in a prompt channel, forum post or answer thread."""
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        member = message.author
        if not isinstance(member, discord.Member):
            return
        guild = message.guild
        channel = message.channel
        if not await self.guild_settings(guild.id):
            return
        if isinstance(channel, discord.Thread):
            answer = await self.store.answer_in_place(guild.id, channel.id)
            if answer is not None:
                if message.id != answer.message_id:
                    await self._thread_message(member, message, answer)
                return
            if isinstance(channel.parent, discord.ForumChannel) and message.id == channel.id:
                await self._forum_answer(member, message, channel)
            return
        if isinstance(channel, discord.TextChannel):
            await self._text_answer(member, message, channel)

    async def _thread_message(
        self, member: discord.Member, message: discord.Message, answer: Answer
    ) -> None:
        role = classify_message(
            author_id=member.id, answer_author_id=answer.user_id, is_answer_start=False
        )
        if role != "peer_reply" or not await self._roster.cohorts_of(member):
            return  # conversation in one's own thread, or staff
        settings = await self.store.settings(member.guild.id, answer.cohort_id)
        words = word_count(message.content)
        first_ever = not await self.store.has_replied_before(member.guild.id, member.id)
        await self.store.save_reply(
            guild_id=member.guild.id,
            message_id=message.id,
            answer_id=answer.answer_id,
            user_id=member.id,
            words=words,
            substantive=words >= settings.substantive_words,
            now=self._clock.now(),
        )
        if first_ever and self._milestones is not None:
            await self._milestones.reached(member.guild.id, member.id, "first_peer_reply")

    async def _forum_answer(
        self, member: discord.Member, message: discord.Message, thread: discord.Thread
    ) -> None:
        forum = thread.parent
        assert isinstance(forum, discord.ForumChannel)
        settings = await self._cohort_settings_for(member, forum.id)
        if settings is None:
            return
        week = await self.week(member.guild.id, settings.cohort_id)
        post = await self._group_post(member.guild, settings.cohort_id, member.id, week)
        if post is None:
            return
        tag_name = week_label(week)
        week_tag = next((t for t in forum.available_tags if t.name == tag_name), None)
        if week_tag is not None and week_tag.id not in {t.id for t in thread.applied_tags}:
            return  # a post about something else
        answer = await self._add_answer(
            guild_id=member.guild.id,
            post=post,
            user_id=member.id,
            place_id=thread.id,
            message_id=message.id,
            by_bot=False,
            words=word_count(message.content),
            now=self._clock.now(),
        )
        if answer is not None:
            await self._answer_recorded(member.guild.id, member.id)

    async def _text_answer(
        self, member: discord.Member, message: discord.Message, channel: discord.TextChannel
    ) -> None:
        settings = await self._cohort_settings_for(member, channel.id)
        if settings is None:
            return
        week = await self.week(member.guild.id, settings.cohort_id)
        post = await self._group_post(member.guild, settings.cohort_id, member.id, week)
        if post is None:
            return
        if await self.store.answer_to_post(member.guild.id, post.post_id, member.id):
            return  # one answer per prompt; later top-level messages are conversation
        # Recorded before the thread opens (a thread started from a message has the
        # message's id), so replies typed the moment it appears are never lost.
        answer = await self._add_answer(
            guild_id=member.guild.id,
            post=post,
            user_id=member.id,
            place_id=message.id,
            message_id=message.id,
            by_bot=False,
            words=word_count(message.content),
            now=self._clock.now(),
        )
        if answer is None:
            return
        try:
            await message.create_thread(
                name=shorten(f"{member.display_name} · {week_label(week)}", 100),
                auto_archive_duration=10080,
            )
        except discord.HTTPException as exc:
            await self.store.delete_answer(member.guild.id, answer.answer_id)
            log.warning("could not open an answer thread in guild %s: %s", member.guild.id, exc)
            return
        await self._answer_recorded(member.guild.id, member.id)

    async def handle_edit(self, guild_id: int, message_id: int, content: str | None) -> None:
        """A message edit (also of uncached messages): recount the words."""
        if content is None:
            return
        words = word_count(content)
        cohort_id = await self.store.reply_cohort(guild_id, message_id)
        if cohort_id is not None:
            settings = await self.store.settings(guild_id, cohort_id)
            await self.store.update_reply_words(
                guild_id, message_id, words, words >= settings.substantive_words
            )
            return
        answer = await self.store.answer_by_message(guild_id, message_id)
        if answer is not None:
            await self.store.set_answer_words(
                guild_id, answer.answer_id, words, now=self._clock.now()
            )

    async def handle_delete(self, guild_id: int, message_id: int) -> None:
        """A deleted message (also uncached): a reply stops counting; an answer is gone."""
        if await self.store.delete_reply(guild_id, message_id):
            return
        answer = await self.store.answer_by_message(guild_id, message_id)
        if answer is not None:
            await self.store.delete_answer(guild_id, answer.answer_id)

    async def handle_thread_delete(self, guild_id: int, thread_id: int) -> None:
        answer = await self.store.answer_in_place(guild_id, thread_id)
        if answer is not None:
            await self.store.delete_answer(guild_id, answer.answer_id)

    async def handle_channel_delete(self, guild: discord.Guild, channel_id: int) -> None:
        for settings in await self.guild_settings(guild.id):
            if settings.channel_id != channel_id:
                continue
            cohort = await self._cohort(guild.id, settings.cohort_id)
            await self.tell_instructor_once(
                guild,
                settings.cohort_id,
                f"channel-missing:{channel_id}",
                f"The discussion channel of {cohort.name if cohort else 'a cohort'} was "
                "deleted, so no prompts can be posted. Pick a new channel with "
                "/course prompt schedule.",
            )

    # ------------------------------------------------------------------ /prompt answer

    async def _student_context(
        self, member: discord.Member
    ) -> tuple[Cohort, PromptSettings, WeekStatus, PromptPost]:
        cohorts = await self._roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Discussion prompts are for students of a cohort.")
        for cohort in cohorts:
            settings = await self.store.settings(member.guild.id, cohort.cohort_id)
            if settings.channel_id is None:
                continue
            week = await self.week(member.guild.id, cohort.cohort_id)
            if not week.running:
                continue
            await self.refresh_groups(member.guild, cohort, settings)
            post = await self._group_post(member.guild, cohort.cohort_id, member.id, week)
            if post is not None:
                return cohort, settings, week, post
        raise UserFacingError(
            "There's no discussion prompt open this week yet. You'll find it in the discussion "
            "channel when it's posted."
        )

    async def current_answer_text(self, member: discord.Member) -> str | None:
        """The student's answer this week, when the bot posted it (to prefill the edit)."""
        try:
            _, _, _, post = await self._student_context(member)
        except UserFacingError:
            return None
        answer = await self.store.answer_to_post(member.guild.id, post.post_id, member.id)
        if answer is None or not answer.by_bot:
            return None
        try:
            message = await self._answer_message(member.guild, post, answer)
        except discord.HTTPException:
            return None
        if message is None:
            return None
        return message.content.split("\n", 1)[1] if "\n" in message.content else None

    async def _answer_message(
        self, guild: discord.Guild, post: PromptPost, answer: Answer
    ) -> discord.Message | None:
        channel = await _text_place(guild, answer.place_id if post.is_forum else post.channel_id)
        if channel is None:
            return None
        try:
            return await channel.fetch_message(answer.message_id)
        except discord.NotFound:
            return None

    async def submit_answer(self, member: discord.Member, text: str) -> tuple[str, bool]:
        """Post (or edit) the student's answer; returns its link and whether it was an edit."""
        body = (text or "").strip()
        if not body:
            raise UserFacingError("Your answer is empty — please write something.")
        if len(body) > ANSWER_TEXT_LIMIT:
            raise UserFacingError(
                f"Your answer is {len(body)} characters; the limit is {ANSWER_TEXT_LIMIT}."
            )
        _, _, week, post = await self._student_context(member)
        guild = member.guild
        content = f"**{member.display_name}** answers:\n{body}"
        existing = await self.store.answer_to_post(guild.id, post.post_id, member.id)
        if existing is not None:
            if not existing.by_bot:
                raise UserFacingError(
                    "You answered with your own message — edit it there: "
                    f"{answer_link(guild.id, existing)}"
                )
            message = await self._answer_message(guild, post, existing)
            if message is None:
                await self.store.delete_answer(guild.id, existing.answer_id)
            else:
                await message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())
                await self.store.set_answer_words(
                    guild.id, existing.answer_id, word_count(body), now=self._clock.now()
                )
                return answer_link(guild.id, existing), True
        channel = guild.get_channel(post.channel_id)
        if channel is None:
            raise UserFacingError(
                "The discussion channel is gone; your instructor has been told. Nothing was posted."
            )
        title = shorten(f"{member.display_name} · {week_label(week)}", 100)
        if isinstance(channel, discord.ForumChannel):
            tag = await self._week_tag(channel, week_label(week))
            created = await channel.create_thread(
                name=title,
                content=content,
                applied_tags=[tag] if tag else [],
                allowed_mentions=discord.AllowedMentions.none(),
                auto_archive_duration=10080,
            )
            place_id, message_id = created.thread.id, created.message.id
        elif isinstance(channel, discord.TextChannel):
            message = await channel.send(content, allowed_mentions=discord.AllowedMentions.none())
            place_id = message_id = message.id  # the thread below gets the message's id
            answer = await self._add_answer(
                guild_id=guild.id,
                post=post,
                user_id=member.id,
                place_id=place_id,
                message_id=message_id,
                by_bot=True,
                words=word_count(body),
                now=self._clock.now(),
            )
            await message.create_thread(name=title, auto_archive_duration=10080)
            if answer is not None:
                await self._answer_recorded(guild.id, member.id)
            return f"https://discord.com/channels/{guild.id}/{place_id}", False
        else:
            raise UserFacingError(
                "The discussion channel can't take answers; tell your instructor."
            )
        answer = await self._add_answer(
            guild_id=guild.id,
            post=post,
            user_id=member.id,
            place_id=place_id,
            message_id=message_id,
            by_bot=True,
            words=word_count(body),
            now=self._clock.now(),
        )
        if answer is not None:
            await self._answer_recorded(guild.id, member.id)
        return f"https://discord.com/channels/{guild.id}/{place_id}", False

    # ------------------------------------------------------------------ /prompt mine, group

    async def my_week(self, member: discord.Member) -> str:
        cohort, settings, week, post = await self._student_context(member)
        rows = await self.store.week_participation(member.guild.id, cohort.cohort_id, week.key)
        row = next((r for r in rows if r.user_id == member.id), None) or ParticipationRow(
            member.id, False, 0, 0, 0
        )
        answer = await self.store.answer_to_post(member.guild.id, post.post_id, member.id)
        lines = [f"**{week_label(week)} — your discussion**"]
        if answer is not None:
            lines.append(f"✅ You answered: {answer_link(member.guild.id, answer)}")
        else:
            lines.append(f"⬜ Not answered yet — the prompt: {post_link(member.guild.id, post)}")
        lines.append(
            f"Replies you gave classmates: {row.replies_given} "
            f"({row.replies_substantive} substantive — at least {settings.substantive_words} "
            f"words — and {row.replies_short} short)"
        )
        lines.append(f"Replies you received: {row.replies_received}")
        return "\n".join(lines)

    async def group_text(self, member: discord.Member) -> str:
        cohorts = await self._roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Discussion groups are for students of a cohort.")
        lines = []
        for cohort in cohorts:
            assignment = await self.refresh_groups(member.guild, cohort)
            group = assignment.get(member.id)
            count = len(set(assignment.values()))
            if group is None:
                continue
            size = sum(1 for g in assignment.values() if g == group)
            prefix = f"{cohort.name}: " if len(cohorts) > 1 else ""
            if count <= 1:
                lines.append(
                    f"{prefix}Your cohort discusses together in one group ({size} students)."
                )
            else:
                lines.append(
                    f"{prefix}You're in discussion group {group} of {count} ({size} students). "
                    "Groups stay the same from week to week; each group gets its own prompt post."
                )
            week = await self.week(member.guild.id, cohort.cohort_id)
            post = await self._group_post(member.guild, cohort.cohort_id, member.id, week)
            if post is not None:
                lines.append(
                    f"This week's prompt for your group: {post_link(member.guild.id, post)}"
                )
        return "\n".join(lines) or "You're not in a discussion group yet."

    # ------------------------------------------------------------------ alerts role

    async def alerts_role_id(self, guild_id: int, cohort_id: int) -> int | None:
        # One role per cohort, so a cohort's post pings only its own students.
        return (await self.store.settings(guild_id, cohort_id)).alerts_role_id

    @staticmethod
    def alerts_role_name(cohort: Cohort) -> str:
        return shorten(f"{ALERTS_ROLE_NAME} — {cohort.name}", 100)

    async def set_alerts(self, member: discord.Member, on: bool) -> str:
        guild = member.guild
        cohorts = await self._roster.cohorts_of(member)
        if not cohorts:
            raise UserFacingError("Prompt alerts are for students of a cohort.")
        roles = [await self._alerts_role(guild, cohort, create=on) for cohort in cohorts]
        found = [role for role in roles if role is not None]
        if not found:
            return "You don't have prompt alerts on. Nothing changed."
        try:
            if on:
                await member.add_roles(*found, reason="/prompt alerts on")
            else:
                await member.remove_roles(*found, reason="/prompt alerts off")
        except discord.Forbidden:
            raise UserFacingError(
                "I can't give or take the prompt alerts role: it is above my own role. "
                "Ask an instructor to move my role higher."
            ) from None
        names = ", ".join(f"@{role.name}" for role in found)
        if on:
            return f"Prompt alerts are on: you'll be pinged ({names}) when a new prompt posts."
        return "Prompt alerts are off. You can still find the prompts in the discussion channel."

    async def _alerts_role(
        self, guild: discord.Guild, cohort: Cohort, *, create: bool
    ) -> discord.Role | None:
        """The cohort's alerts role: the saved one, else one with its name, else a new one.
        It must be mentionable: pinging a non-mentionable role needs Mention Everyone."""
        role_id = await self.alerts_role_id(guild.id, cohort.cohort_id)
        role = guild.get_role(role_id) if role_id else None
        if role is None:
            role = discord.utils.get(guild.roles, name=self.alerts_role_name(cohort))
        if role is None and not create:
            return None
        if not guild.me.guild_permissions.manage_roles:
            raise UserFacingError(
                "I need the Manage Roles permission to manage prompt alerts. Ask an instructor."
            )
        if role is None:
            role = await guild.create_role(
                name=self.alerts_role_name(cohort),
                mentionable=True,
                reason="Opt-in prompt alerts",
            )
        elif not role.mentionable and create:
            try:
                edited = await role.edit(mentionable=True, reason="Prompt alerts must ping")
                role = edited or role
            except discord.Forbidden:  # above the bot's role: the instructor can fix it
                log.warning("Could not make the prompt alerts role %s mentionable", role.id)
        if role.id != role_id:
            settings = await self.store.settings(guild.id, cohort.cohort_id)
            await self.save_settings(settings.with_changes(alerts_role_id=role.id))
        return role

    # ------------------------------------------------------------------ stats

    async def resolve_week_key(
        self, guild_id: int, cohort_id: int, number: int | None
    ) -> tuple[str, str] | None:
        """(week key, label) of course week ``number`` (or the latest posted week)."""
        posts = await self.store.latest_posts(guild_id, cohort_id)
        if number is None:
            if not posts:
                return None
            post = posts[0]
            return post.week_key, (
                f"Week {post.week_number}" if post.week_number else f"Week of {post.week_key}"
            )
        key = await self.store.week_key_of_number(guild_id, cohort_id, number)
        return None if key is None else (key, f"Week {number}")

    async def stats_messages(
        self, guild: discord.Guild, cohort: Cohort, number: int | None
    ) -> list[str]:
        """The week's table for instructors, split into messages that keep the code block."""
        resolved = await self.resolve_week_key(guild.id, cohort.cohort_id, number)
        if resolved is None:
            raise UserFacingError(
                "No prompt has been posted for that week yet."
                if number is not None
                else "No prompt has been posted yet. /course prompt post-now posts one."
            )
        week_key, label = resolved
        rows = {
            r.user_id: r
            for r in await self.store.week_participation(guild.id, cohort.cohort_id, week_key)
        }
        groups = await self.store.groups(guild.id, cohort.cohort_id)
        students = await self._roster.students(guild, cohort)
        answered = sum(1 for m in students if rows.get(m.id, _EMPTY).answered)
        head = (
            f"**Discussion — {label} — {cohort.name}**\n"
            f"{answered} of {len(students)} students answered. Replies given: substantive "
            "(at least the configured word count) / short; replies received."
        )
        header = f"{'student':<22}{'grp':>4} {'ans':>4} {'subst':>6} {'short':>6} {'recv':>5}"
        table: list[str] = []
        for member in sorted(students, key=lambda m: (groups.get(m.id, 1), m.display_name)):
            row = rows.get(member.id, _EMPTY)
            table.append(
                f"{shorten(member.display_name, 21):<22}{groups.get(member.id, 1):>4} "
                f"{'yes' if row.answered else '–':>4} {row.replies_substantive:>6} "
                f"{row.replies_short:>6} {row.replies_received:>5}"
            )
        chunks = [
            "\n".join(["```", header, part, "```"])
            for part in chunk_lines(table or ["(no students)"], MESSAGE_LIMIT - 400)
        ]
        chunks[0] = f"{head}\n{chunks[0]}"
        waiting = await self.store.answers_without_replies(guild.id, cohort.cohort_id, week_key)
        if waiting:
            chunks.append(
                f"{len(waiting)} answer(s) have no replies yet: "
                + " ".join(answer_link(guild.id, a) for a in waiting[:10])
            )
        return chunks

    # ------------------------------------------------------------------ nudges

    async def nudge_candidates(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        week: WeekStatus,
        kind: str,
        students: Sequence[discord.Member],
    ) -> list[tuple[int, str, dict[str, str]]]:
        """(user id, reason, template values) of students eligible for a prompt nudge."""
        if not week.running:
            return []
        posts = await self.store.posts_for_week(guild.id, cohort.cohort_id, week.key)
        posts = [p for p in posts if p.message_id is not None]
        if not posts:
            return []
        answers = await self.store.answers_for_week(guild.id, cohort.cohort_id, week.key)
        answered = {a.user_id for a in answers}
        groups = await self.store.groups(guild.id, cohort.cohort_id)
        out: list[tuple[int, str, dict[str, str]]] = []
        if kind == NUDGE_NOT_ANSWERED:
            latest = max(p.sequence for p in posts)
            current = [p for p in posts if p.sequence == latest]
            for member in students:
                if member.id in answered:
                    continue
                post = next((p for p in current if p.group_no == groups.get(member.id)), current[0])
                out.append(
                    (
                        member.id,
                        "hasn't answered this week's prompt",
                        {"link": post_link(guild.id, post)},
                    )
                )
            return out
        rows = {
            r.user_id: r
            for r in await self.store.week_participation(guild.id, cohort.cohort_id, week.key)
        }
        waiting = await self.store.answers_without_replies(guild.id, cohort.cohort_id, week.key)
        prompt = await self.store.prompt(guild.id, posts[0].prompt_id)
        stems = prompt.follow_ups if prompt and prompt.follow_ups else GENERIC_FOLLOW_UPS
        for index, member in enumerate(students):
            row = rows.get(member.id)
            if row is None or not row.answered or row.replies_given > 0:
                continue
            others = [a for a in waiting if a.user_id != member.id]
            if not others:
                continue
            # Classmates of the same group first: that is the discussion the student reads.
            others.sort(key=lambda a: (groups.get(a.user_id) != groups.get(member.id), a.answer_id))
            out.append(
                (
                    member.id,
                    "answered but hasn't replied to a classmate",
                    {
                        "count": str(len(others)),
                        "links": "\n".join(f"• {answer_link(guild.id, a)}" for a in others[:3]),
                        "stem": stems[index % len(stems)],
                    },
                )
            )
        return out


_EMPTY: Final = ParticipationRow(0, False, 0, 0, 0)


def describe_result(result: PostResult, guild_id: int) -> str:
    """The instructor's answer to post-now."""
    label = week_label(result.week)
    if result.status == "posted":
        groups = f" to {len(result.posts)} groups" if len(result.posts) > 1 else ""
        if any(p.message_id is None for p in result.posts):
            return (
                f"Queued the {label} prompt{groups}: it goes out as soon as Discord lets me "
                "(see /course status)."
            )
        links = " ".join(post_link(guild_id, p) for p in result.posts)
        return f"Posted the {label} prompt{groups}: {links}"
    texts: dict[str, str] = {
        "not_running": "The course isn't running this week (see the calendar), so nothing was "
        "posted.",
        "break": "This is a break week, so nothing was posted.",
        "empty_bank": "The prompt bank is empty. Add prompts with /course prompt add or import.",
        "no_channel": "Set a discussion channel first with /course prompt schedule.",
        "channel_missing": "The discussion channel was deleted. Pick a new one with "
        "/course prompt schedule.",
        "no_permission": f"I can't post there: {result.detail}",
        "skipped": "This week's prompt was skipped from /course upcoming.",
        "failed": f"Discord refused the post ({result.detail}). Nothing was left half-posted.",
    }
    return texts.get(result.status, result.status)


def day_name(weekday: int) -> str:
    return DAY_NAMES[weekday]


async def _text_place(
    guild: discord.Guild, channel_id: int
) -> discord.TextChannel | discord.Thread | None:
    """A text channel or thread (forum posts are threads) by id: the cache, else Discord."""
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        try:
            channel = await guild.fetch_channel(channel_id)
        except discord.NotFound:
            return None
    return channel if isinstance(channel, discord.TextChannel | discord.Thread) else None
