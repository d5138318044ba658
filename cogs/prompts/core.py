"""The prompt service's shared state and wiring (:class:`PromptCore`); the parts
(bank, posting, tracking, alerts, stats) build on it and ``PromptService`` combines them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import discord

from bot.calendar import WeekStatus, monday_of
from bot.clock import Clock
from bot.guild_settings import GuildSettings
from bot.outbox.repository import OutboxRow
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.schedule_math import is_valid_timezone
from bot.store.guild_cache import GuildCache
from bot.store.guilds import Cohort
from bot.store.ledger import LedgerRepository
from bot.store.schedules import ScheduleRepository
from bot.templates import Templates
from bot.upcoming import UpcomingRegistry
from cogs.prompts.common import (
    NOTICE_KIND,
    OUTBOX_KEY_PREFIX,
    POST_KIND,
    MilestoneSink,
    WeekSource,
)
from cogs.prompts.repository import PromptRepository, PromptSettings
from cogs.prompts.rules import PromptSpec, assign_groups

__all__ = ["PromptCore"]

log = logging.getLogger(__name__)


@dataclass(eq=False, kw_only=True)
class PromptCore:
    """The state and wiring every part of the prompt service shares: the repository,
    the core services, the cached settings, the course week and the shared helpers."""

    # ------------------------------------------------------------------ wiring

    store: PromptRepository
    setup: GuildSettings
    roster: Roster
    templates: Templates
    clock: Clock
    schedules: ScheduleRepository
    ledger: LedgerRepository
    default_bank: Sequence[PromptSpec]
    # Set by the cog (``attach``).
    _client: discord.Client | None = field(init=False, default=None)
    _calendar: WeekSource | None = field(init=False, default=None)
    _milestones: MilestoneSink | None = field(init=False, default=None)
    _rebuild: Callable[[], Awaitable[None]] | None = field(init=False, default=None)
    _upcoming: UpcomingRegistry | None = field(init=False, default=None)
    _outbox: OutboxService | None = field(init=False, default=None)
    # Read on every message in the guild: kept in memory (one read for the messages that
    # miss together), forgotten whenever settings are saved.
    _settings: GuildCache[list[PromptSettings]] = field(init=False, default_factory=GuildCache)
    # Per guild, the threads and forum posts holding answers, with the id of the student
    # whose answer each holds, for ``may_handle_message`` (their own messages there change
    # nothing): loaded with the settings and only ever added to (an id no longer an answer
    # costs one read in ``handle_message``; a missing one would lose peer replies).
    _answer_places: dict[int, dict[int, int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.default_bank = list(self.default_bank)  # a copy: the caller's list may change

    def attach(
        self,
        client: discord.Client | None,
        *,
        calendar: WeekSource | None = None,
        milestones: MilestoneSink | None = None,
        rebuild_schedules: Callable[[], Awaitable[None]] | None = None,
        upcoming: UpcomingRegistry | None = None,
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

    async def _post_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
        """The outbox delivered a prompt post: answers can attach to it from now on."""
        if not row.dedupe_key.startswith(OUTBOX_KEY_PREFIX):
            return  # a "prompt" row some other code queued
        post_id = int(row.dedupe_key.removeprefix(OUTBOX_KEY_PREFIX))
        await self.store.set_post_message(row.guild_id, post_id, message_id)

    # ------------------------------------------------------------------ settings, week

    async def _timezone(self, guild_id: int) -> str:
        config = await self.setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        return zone if is_valid_timezone(zone) else "UTC"

    async def week(self, guild_id: int, cohort_id: int, now: datetime | None = None) -> WeekStatus:
        """The course week at ``now``; without a calendar an unnumbered week (local Monday)."""
        now = now or self.clock.now()
        if self._calendar is not None:
            status = await self._calendar.week_of(guild_id, cohort_id, now)
            if not (status.state == "not_running" and status.reason == "no calendar"):
                return status
        local = now.astimezone(ZoneInfo(await self._timezone(guild_id))).date()
        return WeekStatus("week", None, monday_of(local))

    async def guild_settings(self, guild_id: int) -> list[PromptSettings]:
        return await self._settings.get(guild_id, partial(self._load_settings, guild_id))

    async def _load_settings(self, guild_id: int) -> list[PromptSettings]:
        settings = await self.store.all_settings(guild_id)
        if settings:  # without prompt settings no message is handled: no places needed
            # A union: an answer recorded while this loaded is already known.
            places = await self.store.answer_places(guild_id)
            known = self._answer_places.setdefault(guild_id, {})
            for place_id, author_id in places.items():
                known.setdefault(place_id, author_id)
        return settings

    async def save_settings(self, settings: PromptSettings) -> None:
        try:
            await self.store.save_settings(settings, now=self.clock.now())
        finally:
            self._settings.forget(settings.guild_id)

    # ------------------------------------------------------------------ shared helpers

    async def ensure_bank(self, guild_id: int, cohort_id: int) -> None:
        settings = await self.store.settings(guild_id, cohort_id)
        if settings.bank_seeded:
            return
        await self.store.add_prompts(
            guild_id, cohort_id, self.default_bank, source="default", now=self.clock.now()
        )
        await self.save_settings(settings.with_changes(bank_seeded=True))

    async def refresh_groups(
        self, guild: discord.Guild, cohort: Cohort, settings: PromptSettings | None = None
    ) -> dict[int, int]:
        settings = settings or await self.store.settings(guild.id, cohort.cohort_id)
        students = await self.roster.students(guild, cohort)
        previous = await self.store.groups(guild.id, cohort.cohort_id)
        assignment = assign_groups(
            [m.id for m in students],
            previous,
            threshold=settings.group_threshold,
            max_size=settings.group_size,
        )
        await self.store.replace_groups(
            guild.id, cohort.cohort_id, assignment, now=self.clock.now()
        )
        return assignment

    async def alerts_role_id(self, guild_id: int, cohort_id: int) -> int | None:
        # One role per cohort, so a cohort's post pings only its own students.
        return (await self.store.settings(guild_id, cohort_id)).alerts_role_id

    def _guild(self, guild_id: int) -> discord.Guild | None:
        return self._client.get_guild(guild_id) if self._client is not None else None

    async def _cohort(self, guild_id: int, cohort_id: int) -> Cohort | None:
        for cohort in await self.setup.cohorts(guild_id):
            if cohort.cohort_id == cohort_id:
                return cohort
        return None

    async def tell_instructor_once(
        self, guild: discord.Guild, cohort_id: int, key: str, text: str
    ) -> bool:
        """Post a notice in the leads channel once per key (the ledger remembers)."""
        if not await self.ledger.claim(
            guild.id, cohort_id, NOTICE_KIND, key, now=self.clock.now(), state="done"
        ):
            return False
        config = await self.setup.config(guild.id)
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
