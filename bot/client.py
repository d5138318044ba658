"""CohortBot: the discord.py client, its command tree and the one error path."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import gc_tuning
from bot.app import FEATURES, AppContext
from bot.gc_tuning import freeze_long_lived
from bot.outbox.sender import OutboxSender, SenderConfig
from bot.outbox.transport import DiscordTransport
from bot.reactions import ReactionQueue
from bot.settings import Settings
from bot.sharding import ShardPlan
from bot.store.guild_cache import AfterLoad
from bot.store.guilds import GuildConfig
from bot.ui import reply, report_error

log = logging.getLogger("bot.client")

#: Every feature, loaded in this order by setup_hook: its package's ``setup`` builds its
#: services and adds its cogs. One list (``bot.app.FEATURES``), so nothing loads by accident.
EXTENSIONS: tuple[str, ...] = tuple(f"{feature}.extension" for feature in FEATURES)

#: How long a shutdown waits for event handlers that are already running (their sends).
DRAIN_TIMEOUT = 5.0
#: discord.py names the tasks that run listeners and app commands like this.
_HANDLER_TASKS = ("discord.py: ", "CommandTree-invoker")

#: A 429 asking to wait longer than this raises ``discord.RateLimited`` instead of sleeping
#: inside the request (30 s is discord.py's minimum): the outbox puts the row back with a retry
#: time, and a send never holds a slot — or a shutdown — for minutes.
MAX_RATELIMIT_WAIT = 30.0

#: discord.py's own pause between two shards' IDENTIFYs (Discord allows one per 5 s per bucket).
IDENTIFY_PAUSE = 5.0

#: The longest the cyclic collector stays off while the guilds load (see
#: ``gc_tuning.pause_while_loading``); on_ready normally turns it back on long before.
STARTUP_COLLECTOR_PAUSE = 60.0

#: A feature's inline pre-filter of the messages people write in a server (see
#: ``CohortBot.add_message_filter``): the message and the server's cached settings (None when
#: /course setup has not run). It must not block or await; it starts a handler when the
#: message concerns its feature.
MessageFilter = Callable[[discord.Message, GuildConfig | None], None]

#: Commands that make sense in a direct message with the bot.
DM_COMMANDS = frozenset({"help"})


def build_intents() -> discord.Intents:
    intents = discord.Intents.default()
    # Privileged: member joins and rosters, and the text of intros and prompt replies.
    intents.members = True
    intents.message_content = True
    return intents


def sender_config(config: SenderConfig, settings: Settings, shards: ShardPlan) -> SenderConfig:
    """The outbox sender's settings for this process: its shards' share of the operator's
    OUTBOX_RATE (the whole bot's), OUTBOX_LEASE_SECONDS (where claims have a lease), and its
    member identity (the shards it runs and locks: a restart settles its own old claims)."""
    rate = config.rate_per_second
    if settings.outbox_rate is not None:
        rate = float(settings.outbox_rate)
    lease = config.lease
    if settings.outbox_lease_seconds is not None and lease is not None:
        lease = timedelta(seconds=settings.outbox_lease_seconds)
    share = min(shards.budget_share, 1.0)
    return dataclasses.replace(
        config,
        rate_per_second=rate * share,
        burst=config.burst if share >= 1.0 else max(1.0, config.burst * share),
        lease=lease,
        # Sorted: SHARD_IDS=1,0 names the same member (the same shard locks) as 0,1.
        member=f"{','.join(map(str, sorted(set(shards.runs))))}/{shards.count or 1}",
    )


def running_handlers() -> set[asyncio.Task[Any]]:
    """The event handlers and commands running now (discord.py's tasks and ``run_handler``'s),
    besides the caller's own task."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current and not task.done() and task.get_name().startswith(_HANDLER_TASKS)
    }


class CohortTree(app_commands.CommandTree["CohortBot"]):
    async def interaction_check(self, interaction: discord.Interaction[CohortBot]) -> bool:
        if interaction.guild_id is not None or interaction.type is not (
            discord.InteractionType.application_command
        ):
            return True
        data: Any = interaction.data or {}
        if data.get("name") in DM_COMMANDS:
            return True
        text = await interaction.client.app.templates.render(None, "dm_pointer")
        await reply(interaction, text)
        return False

    async def on_error(
        self, interaction: discord.Interaction[CohortBot], error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


class CohortBot(commands.Bot):
    def __init__(
        self,
        app: AppContext,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        guild_ready_timeout: float = 2.0,
        start_services: bool = True,
        **shard_options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CohortTree,
            help_command=None,
            # No message cache: every feature reads messages from their payloads and raw
            # events. discord.py's cache (1,000 messages by default) is not free at event
            # load: each cached message outlives the young collections, and every raw
            # reaction, edit and delete scans it.
            max_messages=None,
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            **shard_options,
        )
        self.app = app
        self._extensions = tuple(extensions)
        self.failed_extensions: list[str] = []
        # False for one-shot tools (cohortbot sync): load commands, run nothing.
        self._start_services = start_services
        self._draining = False
        self._inline_listeners: dict[str, list[Callable[..., None]]] = {}
        self._message_filters: list[MessageFilter] = []
        self.add_inline_listener("message", self._filter_message)
        self.sender: OutboxSender | None = None
        # The bot's own courtesy reactions (an intro's thanks), paced off the event path.
        self.reactions = ReactionQueue(self._add_reaction)
        # Where the features' pre-filters park a guild's events until one load of its
        # settings (``FeatureCog.config_or_park``): one load per guild for every feature.
        self.settings_loading = AfterLoad(
            self._load_guild_settings, partial(self.run_handler, "settings_loaded"), "settings"
        )

    async def setup_hook(self) -> None:
        # Runs once per process, unlike on_ready: load cogs, rebuild schedules, sync a dev guild.
        for name in self._extensions:
            try:
                await self.load_extension(name)
            except Exception:
                self.failed_extensions.append(name)
                log.exception("Could not load extension %s", name)
        if not self._start_services:
            return
        # The outbox sender delivers everything scheduled or bulk, for every feature.
        self.sender = OutboxSender(
            self.app.outbox,
            DiscordTransport(self),
            self.app.clock,
            sender_config(self.app.outbox.sender_config, self.app.settings, self.app.shards),
        )
        self.sender.start()
        self.reactions.start()
        self.app.activity_recorder.start()
        for hook in self.app.hooks.on_start:  # e.g. privacy re-applies tombstones
            await hook()
        self.app.scheduler.add_tick_hook("maintenance", self.app.maintenance.tick)
        await self.app.scheduler.rebuild()
        self.app.scheduler.start()
        # Nothing is served before the gateway connects: the one full collection is cheap here.
        freeze_long_lived("loading the features")
        # Then no collection until the guild caches are loaded and frozen (on_ready).
        gc_tuning.pause_while_loading(STARTUP_COLLECTOR_PAUSE)
        guild_id = self.app.settings.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), guild_id)

    async def add_feature(
        self,
        build: Callable[[AppContext], object],
        *add_cogs: Callable[[CohortBot], Coroutine[Any, Any, None]],
    ) -> None:
        """A feature package's extension ``setup``: build its services, then add its cog(s)
        (each module's ``setup``), in that order."""
        build(self.app)
        for add_cog in add_cogs:
            await add_cog(self)

    async def close(self) -> None:
        # Stop taking scheduled work and new events, let running handlers finish their sends
        # (else they fail on a closed HTTP session), write buffered activity, then disconnect.
        if self._start_services and not self._draining:
            self._draining = True
            await self.app.scheduler.shutdown()
            await self._drain_handlers(DRAIN_TIMEOUT)
            gc_tuning.resume_collection("stopping")
            await self.app.activity_recorder.stop()
            await self.reactions.stop()
            if self.sender is not None:
                await self.sender.stop()
                self.sender = None
        await super().close()

    async def _load_guild_settings(self, guild_id: int) -> None:
        await self.app.guild_settings.config(guild_id)

    async def _add_reaction(self, channel_id: int, message_id: int, emoji: str) -> None:
        message = self.get_partial_messageable(channel_id).get_partial_message(message_id)
        await message.add_reaction(emoji)

    def add_inline_listener(self, event_name: str, listener: Callable[..., None]) -> None:
        """Call ``listener(*args)`` synchronously when ``event_name`` is dispatched.

        For per-event hot paths (activity tracking): discord.py runs every ordinary listener
        in a task of its own, which costs more than the work itself at thousands of events a
        second. An inline listener must not block or await; an exception is logged."""
        self._inline_listeners.setdefault(event_name, []).append(listener)

    def remove_inline_listener(self, event_name: str, listener: Callable[..., None]) -> None:
        listeners = self._inline_listeners.get(event_name, [])
        if listener in listeners:
            listeners.remove(listener)

    def add_inline_listeners(self, listeners: Sequence[tuple[str, Callable[..., None]]]) -> None:
        """``add_inline_listener`` for each (event name, listener): for a cog's ``cog_load``."""
        for event_name, listener in listeners:
            self.add_inline_listener(event_name, listener)

    def remove_inline_listeners(self, listeners: Sequence[tuple[str, Callable[..., None]]]) -> None:
        for event_name, listener in listeners:
            self.remove_inline_listener(event_name, listener)

    def add_message_filter(self, message_filter: MessageFilter) -> None:
        """Call ``message_filter(message, config)`` inline for every message a person (not a
        bot or webhook) writes in a server, once that server's settings are cached.

        The features' per-message pre-filters share this one step, the hottest path in the
        bot: the checks every filter needs and the settings look-up are made once a message.
        While a server's settings load, its messages wait for that one load
        (``settings_loading``) and then come through here in the order they arrived."""
        self._message_filters.append(message_filter)

    def remove_message_filter(self, message_filter: MessageFilter) -> None:
        if message_filter in self._message_filters:
            self._message_filters.remove(message_filter)

    def config_or_park(
        self, guild_id: int, retry: Callable[[], None]
    ) -> tuple[bool, GuildConfig | None]:
        """For an inline pre-filter: (known, config) from memory, like
        ``GuildSettings.cached_config``. When the guild's settings are not cached yet,
        ``retry`` is parked until one load of them (``settings_loading``, shared by every
        feature) and (False, None) is returned."""
        known, config = self.app.guild_settings.cached_config(guild_id)
        if not known:
            self.settings_loading.park(guild_id, retry)
        return known, config

    def _filter_message(self, message: discord.Message) -> None:
        guild = message.guild
        if (
            guild is None
            or message.author.bot
            or message.webhook_id is not None
            or not self._message_filters
        ):
            return
        known, config = self.config_or_park(guild.id, partial(self._filter_message, message))
        if not known:
            return
        for message_filter in self._message_filters:
            try:
                message_filter(message, config)
            except Exception:
                log.exception("Message filter %r failed", message_filter)

    def run_handler(
        self,
        event_name: str,
        handler: Callable[..., Coroutine[Any, Any, Any]],
        /,
        *args: Any,
    ) -> None:
        """Run ``handler(*args)`` in a task exactly as discord.py runs a listener (same error
        path through ``on_error``, same task name, so a shutdown waits for it): for an inline
        pre-filter that found the event concerns its feature."""
        self._schedule_event(handler, f"on_{event_name}", *args)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        if self._draining:
            return  # shutting down: an event now is as if it came after the disconnect
        for listener in self._inline_listeners.get(event_name, ()):
            try:
                listener(*args, **kwargs)
            except Exception:
                log.exception("Inline listener for %s failed", event_name)
        if self._dispatch_needed(event_name):
            super().dispatch(event_name, *args, **kwargs)

    def _dispatch_needed(self, event_name: str) -> bool:
        """Whether discord.py's own dispatch has anything to do: a ``wait_for`` to resolve, a
        cog listener or an ``on_<event>`` method to run. Most messages have none of them once
        the features pre-filter inline, and skipping it saves a few µs on each."""
        method = "on_" + event_name
        if self._listeners.get(event_name) or self.extra_events.get(method):
            return True
        if event_name == "message":
            return bool(self.all_commands)  # see on_message below
        return hasattr(self, method)

    @property
    def on_message(self) -> Callable[[discord.Message], Coroutine[Any, Any, None]]:
        # commands.Bot parses every message for a prefix command in a task of its own.
        # CohortBot has slash commands only: with no prefix commands, discord.py finds no
        # on_message (it skips an AttributeError) and schedules nothing.
        if not self.all_commands:
            raise AttributeError("on_message")
        return self.process_commands

    async def _drain_handlers(self, within_seconds: float) -> None:
        running = running_handlers()
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=within_seconds)
        if pending:
            log.warning("Stopping with %d event handler(s) still running", len(pending))

    async def on_ready(self) -> None:
        # May fire more than once per process (reconnects); keep it idempotent.
        log.info(
            "Ready as %s in %d guild(s), %s",
            self.user,
            len(self.guilds),
            self.app.shards.describe(),
        )
        if self._start_services:
            # The guild and member caches are loaded: keep full collections off them. No
            # collection first: events and commands are already arriving, and a full
            # collection of the loaded caches would stall them for tens of ms.
            gc_tuning.loaded("start-up")


class ShardedCohortBot(CohortBot, commands.AutoShardedBot):
    """CohortBot on discord.py's sharded client, connecting exactly the configured shards.

    Each shard is its own gateway session; Discord sends a guild's events only to its shard
    and direct messages to shard 0. The REST and gateway overrides apply unchanged: the
    sharded client reads the same ``Route.BASE`` and ``DEFAULT_GATEWAY``.
    """

    def __init__(
        self,
        app: AppContext,
        *,
        identify_pause: float = IDENTIFY_PAUSE,
        **options: Any,
    ) -> None:
        plan = app.shards
        if plan.count is None:
            raise ValueError("ShardedCohortBot needs SHARD_COUNT")
        super().__init__(app, shard_count=plan.count, shard_ids=list(plan.runs), **options)
        self._identify_pause = identify_pause

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s between IDENTIFYs (one per bucket); the sandbox paces
        # IDENTIFYs itself (op 9 when too soon), so tests pass 0.
        if not initial and self._identify_pause > 0:
            await asyncio.sleep(self._identify_pause)


def build_bot(app: AppContext, **options: Any) -> CohortBot:
    """The client for ``app``'s settings: sharded when SHARD_COUNT is set, else as always."""
    if app.shards.sharded:
        return ShardedCohortBot(app, **options)
    options.pop("identify_pause", None)
    return CohortBot(app, **options)
