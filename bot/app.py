"""The composition root: ``open_app`` builds the core once; each feature builds itself.

``AppContext`` holds only core services and the registries the features fill when they load
(their package's ``build(app)``, called by its ``setup(bot)``): ``services`` (their public
services), ``personal_data`` (their repositories) and ``hooks``. The core imports no feature.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.clock import Clock, SystemClock
from bot.course_calendar import AwayService, CalendarService
from bot.guild_settings import GuildSettings
from bot.maintenance import Maintenance
from bot.outbox.repository import DmChannelRepository, OccasionRepository, OutboxRepository
from bot.outbox.service import OutboxService
from bot.registry import Hooks, PersonalDataRegistry, ServiceRegistry
from bot.roster import Roster
from bot.scheduler import CohortScheduler
from bot.settings import Settings
from bot.sharding import ShardPlan
from bot.store.activity import ActivityRecorder, ActivityRepository
from bot.store.calendar import AwayRepository, CalendarRepository
from bot.store.db import Database
from bot.store.engine import open_database
from bot.store.guilds import CohortRepository, GuildConfigRepository, TemplateRepository
from bot.store.ledger import LedgerRepository
from bot.store.schedules import ScheduleRepository
from bot.templates import Templates, load_template_specs
from bot.upcoming import UpcomingRegistry

#: The features, in dependency order (a feature's ``build`` also builds what it uses).
FEATURES: tuple[str, ...] = (
    "cogs.course",
    "cogs.help",
    "cogs.activity",
    "cogs.privacy",
    "cogs.introductions",
    "cogs.profiles",
    "cogs.coffee_shop",
    "cogs.nudges",
    "cogs.prompts",
    "cogs.digest",
    "cogs.coffee_chats",
    "cogs.roster",
    "cogs.mentors",
)

#: The parameter names by which the features' services take a core service, and the
#: ``AppContext`` field each one gets from ``AppContext.make``.
CORE_PARAMETERS: dict[str, str] = {
    "setup": "guild_settings",
    "guild_configs": "guild_configs",
    "cohorts": "cohorts",
    "templates": "templates",
    "roster": "roster",
    "calendar": "calendar",
    "away": "away",
    "outbox": "outbox",
    "ledger": "ledger",
    "schedules": "schedules",
    "upcoming": "upcoming",
    "activity": "activity",
    "clock": "clock",
}

T = TypeVar("T")


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    clock: Clock
    db: Database
    guild_configs: GuildConfigRepository
    cohorts: CohortRepository
    template_overrides: TemplateRepository
    templates: Templates
    guild_settings: GuildSettings
    ledger: LedgerRepository
    schedules: ScheduleRepository
    scheduler: CohortScheduler
    roster: Roster
    activity: ActivityRepository
    activity_recorder: ActivityRecorder
    outbox: OutboxService
    upcoming: UpcomingRegistry
    calendar: CalendarService
    away: AwayService
    maintenance: Maintenance
    #: The gateway shards this process runs; it owns (schedules for) their guilds only.
    shards: ShardPlan
    services: ServiceRegistry = field(default_factory=ServiceRegistry)
    personal_data: PersonalDataRegistry = field(default_factory=PersonalDataRegistry)
    hooks: Hooks = field(default_factory=Hooks)

    def make(self, kind: Callable[..., T], /, **given: object) -> T:
        """``kind(**given)`` plus the core: each other parameter of ``kind`` named in
        ``CORE_PARAMETERS`` gets that core service, so a feature's ``build`` names only what
        is its own (its repository, the features it uses, its settings)."""
        core = {
            name: getattr(self, CORE_PARAMETERS[name])
            for name in inspect.signature(kind).parameters
            if name in CORE_PARAMETERS and name not in given
        }
        return kind(**core, **given)


async def open_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_path: Path | None = None,
    busy_timeout_ms: int = 5000,
) -> AppContext:
    """Open the database (migrating it) and build the core services."""
    target: str | Path = database_path or settings.database_url or settings.database_path
    db = await open_database(
        target,
        busy_timeout_ms=busy_timeout_ms,
        files_beside=settings.database_path.with_name("postgresql"),
    )
    try:
        return _build_core(settings, clock or SystemClock(), db)
    except BaseException:
        await db.close()
        raise


def _build_core(settings: Settings, clock: Clock, db: Database) -> AppContext:
    guild_configs, cohorts = GuildConfigRepository(db), CohortRepository(db)
    template_overrides, ledger = TemplateRepository(db), LedgerRepository(db)
    schedules, activity = ScheduleRepository(db), ActivityRepository(db)
    outbox_rows, occasions = OutboxRepository(db), OccasionRepository(db)
    dm_channels, calendars, away = (
        DmChannelRepository(db),
        CalendarRepository(db),
        AwayRepository(db),
    )
    templates = Templates(load_template_specs(), template_overrides)
    guild_settings = GuildSettings(
        guild_configs=guild_configs, cohorts=cohorts, templates=templates
    )
    outbox = OutboxService(outbox_rows, dm_channels, clock)
    calendar = CalendarService(calendars, guild_settings)
    shards = ShardPlan(settings.shard_count, settings.shard_ids)
    app = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        guild_configs=guild_configs,
        cohorts=cohorts,
        template_overrides=template_overrides,
        templates=templates,
        guild_settings=guild_settings,
        ledger=ledger,
        schedules=schedules,
        scheduler=CohortScheduler(
            schedules=schedules, ledger=ledger, clock=clock, owns_guild=shards.owns
        ),
        roster=Roster(guild_settings),
        activity=activity,
        activity_recorder=ActivityRecorder(activity),
        outbox=outbox,
        upcoming=UpcomingRegistry(occasions, clock),
        calendar=calendar,
        away=AwayService(away, calendar),
        maintenance=Maintenance(
            db=db,
            ledger=ledger,
            backup_folder=settings.backups_folder,
            backup_keep=settings.backup_keep,
        ),
        shards=shards,
    )
    app.upcoming.register("outbox", outbox.upcoming_items)
    app.personal_data.register(
        guild_configs, cohorts, template_overrides, ledger, schedules, activity
    )
    app.personal_data.register(outbox_rows, occasions, dm_channels, calendars, away)
    app.hooks.before_erase.append(app.activity_recorder.flush)
    app.hooks.on_guild_purged.append(guild_settings.forget)
    app.hooks.on_guild_purged.append(template_overrides.forget)
    return app


def build_features(app: AppContext, names: Iterable[str] = FEATURES) -> None:
    """Build the features' services without a bot (tools and tests): each package's
    ``build(app)``; ``setup(bot)`` does the same when the bot loads it."""
    for name in names:
        build = getattr(importlib.import_module(name), "build", None)
        if build is not None:
            build(app)


async def close_app(app: AppContext) -> None:
    # The database is closed whatever happens before: an open connection at the end of the
    # event loop makes aiosqlite's thread print "Event loop is closed".
    try:
        await app.scheduler.shutdown()
        await app.activity_recorder.stop()
    finally:
        await app.db.close()
