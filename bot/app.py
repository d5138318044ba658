"""The application's dependencies, built once by the entry point and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.clock import Clock, SystemClock
from bot.scheduler import CohortScheduler
from bot.services.maintenance import Maintenance
from bot.services.privacy import PrivacyService
from bot.services.roster import Roster
from bot.services.setup import SetupService
from bot.services.tombstones import TombstoneFile
from bot.settings import Settings
from bot.store.activity import ActivityRecorder, ActivityRepository
from bot.store.contract import PersonalDataRepository
from bot.store.db import Database
from bot.store.guilds import CohortRepository, GuildConfigRepository, TemplateRepository
from bot.store.ledger import LedgerRepository
from bot.store.privacy import PrivacyRepository
from bot.store.schedules import ScheduleRepository
from bot.templates import Templates, load_template_specs


@dataclass
class AppContext:
    settings: Settings
    clock: Clock
    db: Database
    guild_configs: GuildConfigRepository
    cohorts: CohortRepository
    template_overrides: TemplateRepository
    templates: Templates
    ledger: LedgerRepository
    schedules: ScheduleRepository
    scheduler: CohortScheduler
    setup: SetupService
    roster: Roster
    activity: ActivityRepository
    activity_recorder: ActivityRecorder
    privacy_store: PrivacyRepository
    privacy: PrivacyService
    maintenance: Maintenance
    extra_repositories: list[object] = field(default_factory=list)

    def repositories(self) -> list[object]:
        """Every repository, for the data contract and guild purges."""
        return [
            self.guild_configs,
            self.cohorts,
            self.template_overrides,
            self.ledger,
            self.schedules,
            self.activity,
            self.privacy_store,
            *self.extra_repositories,
        ]

    def personal_data_repositories(self) -> list[PersonalDataRepository]:
        return [
            repo
            for repo in self.repositories()
            if isinstance(repo, PersonalDataRepository) and repo.personal_tables
        ]


async def open_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_path: Path | None = None,
    busy_timeout_ms: int = 5000,
) -> AppContext:
    """Open the database (migrating it) and wire every service."""
    clock = clock or SystemClock()
    db = await Database.open(
        database_path or settings.database_path, busy_timeout_ms=busy_timeout_ms
    )
    try:
        guild_configs = GuildConfigRepository(db)
        cohorts = CohortRepository(db)
        template_overrides = TemplateRepository(db)
        ledger = LedgerRepository(db)
        schedules = ScheduleRepository(db)
        scheduler = CohortScheduler(schedules=schedules, ledger=ledger, clock=clock)
        templates = Templates(load_template_specs(), template_overrides)
        setup = SetupService(
            guild_configs=guild_configs, cohorts=cohorts, clock=clock, templates=templates
        )
        activity = ActivityRepository(db)
        activity_recorder = ActivityRecorder(activity)
        privacy_store = PrivacyRepository(db)
    except BaseException:
        await db.close()
        raise
    app = AppContext(
        settings=settings,
        clock=clock,
        db=db,
        guild_configs=guild_configs,
        cohorts=cohorts,
        template_overrides=template_overrides,
        templates=templates,
        ledger=ledger,
        schedules=schedules,
        scheduler=scheduler,
        setup=setup,
        roster=Roster(setup),
        activity=activity,
        activity_recorder=activity_recorder,
        privacy_store=privacy_store,
        privacy=None,  # type: ignore[arg-type]  # wired below: it needs app.repositories
        maintenance=None,  # type: ignore[arg-type]
    )
    app.privacy = PrivacyService(
        repositories=app.repositories,
        privacy=privacy_store,
        tombstones=TombstoneFile.beside(Path(db.path)),
        clock=clock,
        retention_days=settings.retention_days,
        guild_grace_days=settings.guild_grace_days,
    )
    app.privacy.on_guild_purged.append(setup.forget)
    app.privacy.before_erase.append(activity_recorder.flush)
    app.maintenance = Maintenance(
        db=db,
        ledger=ledger,
        privacy=app.privacy,
        backup_folder=settings.backups_folder,
        backup_keep=settings.backup_keep,
    )
    return app


async def close_app(app: AppContext) -> None:
    await app.scheduler.shutdown()
    await app.activity_recorder.stop()
    await app.db.close()
