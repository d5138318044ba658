"""The application's dependencies, built once by the entry point and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.clock import Clock, SystemClock
from bot.scheduler import CohortScheduler
from bot.services.circles import CircleService
from bot.services.coffee import CoffeeService, MilestoneService, load_questions
from bot.services.digest import DigestService
from bot.services.intros import IntroService
from bot.services.maintenance import Maintenance
from bot.services.matching import MatchingService
from bot.services.nudges import AwayService, CalendarService, NudgeEngine
from bot.services.outbox import OutboxService
from bot.services.privacy import PrivacyService
from bot.services.profiles import ProfileService
from bot.services.prompts import PromptService, load_default_bank
from bot.services.roster import Roster
from bot.services.setup import SetupService
from bot.services.term import TermService, wire_course_clock
from bot.services.tombstones import TombstoneFile
from bot.services.upcoming import UpcomingRegistry
from bot.settings import Settings
from bot.store.activity import ActivityRecorder, ActivityRepository
from bot.store.coffee import CoffeeStore
from bot.store.contract import PersonalDataRepository
from bot.store.db import Database
from bot.store.digest import DigestRepository
from bot.store.guilds import CohortRepository, GuildConfigRepository, TemplateRepository
from bot.store.intros import IntroRepository
from bot.store.ledger import LedgerRepository
from bot.store.matching import MatchRepository
from bot.store.privacy import PrivacyRepository
from bot.store.profiles import ProfileRepository
from bot.store.prompts import PromptRepository
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
    intro_store: IntroRepository
    intros: IntroService
    profile_store: ProfileRepository
    profiles: ProfileService
    coffee_store: CoffeeStore
    coffee: CoffeeService
    milestones: MilestoneService
    circles: CircleService
    extra_repositories: list[object] = field(default_factory=list)
    # Issue 3 (calendar, outbox, nudges, away, upcoming, close-term): wire_course_clock sets them.
    calendar: CalendarService = field(init=False)
    outbox: OutboxService = field(init=False)
    upcoming: UpcomingRegistry = field(init=False)
    away: AwayService = field(init=False)
    nudges: NudgeEngine = field(init=False)
    term: TermService = field(init=False)
    course_clock_repositories: list[object] = field(init=False, default_factory=list)
    # Issue 6 (weekly discussion prompts): set in open_app.
    prompt_store: PromptRepository = field(init=False)
    prompts: PromptService = field(init=False)
    # Issue 5 (coffee-chat matching): set in open_app.
    match_store: MatchRepository = field(init=False)
    matching: MatchingService = field(init=False)
    # Issue 8 (the weekly digest for cohort leads): set in open_app.
    digest_store: DigestRepository = field(init=False)
    digest: DigestService = field(init=False)

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
            self.intro_store,
            self.profile_store,
            *self.coffee_store.repositories(),
            *self.course_clock_repositories,
            self.prompt_store,
            self.match_store,
            self.digest_store,
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
            guild_configs=guild_configs,
            cohorts=cohorts,
            clock=clock,
            templates=templates,
            schedules=schedules,
        )
        activity = ActivityRepository(db)
        activity_recorder = ActivityRecorder(activity)
        privacy_store = PrivacyRepository(db)
        roster = Roster(setup)
        profile_store = ProfileRepository(db)
        profiles = ProfileService(profile_store, clock)
        intro_store = IntroRepository(db)
        intros = IntroService(
            repository=intro_store,
            profiles=profiles,
            setup=setup,
            roster=roster,
            templates=templates,
            clock=clock,
        )
        coffee_store = CoffeeStore.open(db)
        coffee = CoffeeService(
            store=coffee_store,
            setup=setup,
            templates=templates,
            clock=clock,
            schedules=schedules,
            questions=load_questions(),
        )
        milestones = MilestoneService(store=coffee_store, templates=templates, clock=clock)
        circles = CircleService(store=coffee_store, clock=clock)
    except BaseException:
        await db.close()
        raise
    app = AppContext(
        coffee_store=coffee_store,
        coffee=coffee,
        milestones=milestones,
        circles=circles,
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
        roster=roster,
        activity=activity,
        activity_recorder=activity_recorder,
        privacy_store=privacy_store,
        privacy=None,  # type: ignore[arg-type]  # wired below: it needs app.repositories
        maintenance=None,  # type: ignore[arg-type]
        intro_store=intro_store,
        intros=intros,
        profile_store=profile_store,
        profiles=profiles,
    )
    wire_course_clock(app)
    app.prompt_store = PromptRepository(db)
    app.prompts = PromptService(
        store=app.prompt_store,
        setup=setup,
        roster=roster,
        templates=templates,
        clock=clock,
        schedules=schedules,
        ledger=ledger,
        default_bank=load_default_bank(),
    )
    app.digest_store = DigestRepository(db)
    app.digest = DigestService(
        repository=app.digest_store,
        setup=setup,
        roster=roster,
        calendar=app.calendar,
        away=app.away,
        nudges=app.nudges,
        coffee=coffee,
        prompts=app.prompt_store,
        intros=intro_store,
        ledger=ledger,
        schedules=schedules,
        clock=clock,
        before_compute=activity_recorder.flush,
    )
    app.match_store = MatchRepository(db)
    app.matching = MatchingService(
        store=app.match_store,
        setup=setup,
        roster=roster,
        profiles=profiles,
        away=app.away,
        calendar=app.calendar,
        templates=templates,
        clock=clock,
        schedules=schedules,
        milestones=milestones,
        dm_marks=app.nudges.store,
        outbox=app.outbox,
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
    app.privacy.on_guild_purged.append(template_overrides.forget)
    app.privacy.on_guild_purged.append(intro_store.forget)
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
    # The database is closed whatever happens before: an open connection at the end of the
    # event loop makes aiosqlite's thread print "Event loop is closed".
    try:
        await app.scheduler.shutdown()
        await app.activity_recorder.stop()
    finally:
        await app.db.close()
