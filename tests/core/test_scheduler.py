"""The scheduler: APScheduler wakes us up, the ledger makes every slot run at most once.

The DST tests are done for real: APScheduler's own CronTrigger fire times across the
weekend plus a one-minute sweep with a FakeClock, against an SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.clock import FakeClock
from bot.scheduler import TICK_JOB_ID, CohortScheduler, ScheduledRun, schedule_job_id
from bot.store.db import Database
from bot.store.ledger import LedgerRepository
from bot.store.schedules import Schedule, ScheduleRepository
from bot.store.times import to_db_time
from tests.support.logs import ErrorLogWatcher

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CREATED = datetime(2026, 8, 1, tzinfo=UTC)
SUN, MON = 6, 0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Recorder:
    runs: list[ScheduledRun] = field(default_factory=list)

    async def __call__(self, run: ScheduledRun) -> None:
        self.runs.append(run)


@dataclass
class Env:
    path: Path
    clock: FakeClock
    handler: Recorder
    missed: Recorder
    db: Database
    schedules: ScheduleRepository
    ledger: LedgerRepository
    scheduler: CohortScheduler

    async def restart(self) -> None:
        """A new process: new Database and new CohortScheduler on the same file."""
        await self.scheduler.shutdown()
        await self.db.close()
        fresh = await open_env(self.path, self.clock, self.handler, self.missed)
        self.db, self.schedules, self.ledger = fresh.db, fresh.schedules, fresh.ledger
        self.scheduler = fresh.scheduler

    async def sweep(self, instants: list[datetime]) -> list[ScheduledRun]:
        ran: list[ScheduledRun] = []
        for instant in instants:
            self.clock.set(instant)
            ran += await self.scheduler.run_due()
        return ran


async def open_env(
    path: Path,
    clock: FakeClock,
    handler: Recorder | None = None,
    missed: Recorder | None = None,
) -> Env:
    handler = handler or Recorder()
    missed = missed or Recorder()
    db = await Database.open(path)
    schedules, ledger = ScheduleRepository(db), LedgerRepository(db)
    scheduler = CohortScheduler(schedules=schedules, ledger=ledger, clock=clock, on_missed=missed)
    for kind in ("prompt", "digest", "nudge"):
        scheduler.register_kind(kind, handler)
    await scheduler.rebuild()
    return Env(path, clock, handler, missed, db, schedules, ledger, scheduler)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(2026, 9, 1))


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Env]:
    environment = await open_env(tmp_path / "cohortbot.db", clock)
    try:
        yield environment
    finally:
        await environment.scheduler.shutdown()
        await environment.db.close()


def weekly(
    kind: str,
    weekday: int,
    at: time,
    zone: str,
    *,
    guild: int = 1,
    cohort: int = 0,
    created: datetime = CREATED,
    enabled: bool = True,
) -> Schedule:
    return Schedule(guild, cohort, kind, weekday, at, zone, enabled, created)


def minutes(
    start: datetime, end: datetime, step: timedelta = timedelta(minutes=1)
) -> Iterator[datetime]:
    instant = start.astimezone(UTC)
    while instant <= end:
        yield instant
        instant += step


def fire_times(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """APScheduler's own fire times in [start, end], chained the way its scheduler does."""
    times: list[datetime] = []
    previous = None
    now = start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire > end:
            return times
        times.append(fire.astimezone(UTC))
        previous = now = fire


def job_trigger(env: Env, schedule: Schedule) -> CronTrigger:
    job = env.scheduler.apscheduler.get_job(
        schedule_job_id(schedule.guild_id, schedule.cohort_id, schedule.kind)
    )
    assert job is not None
    assert isinstance(job.trigger, CronTrigger)
    return job.trigger


# ---------------------------------------------------------------------- DST


async def test_fold_weekly_0130_runs_exactly_once(env: Env) -> None:
    start = datetime(2026, 10, 31, 0, 0, tzinfo=NY)  # Saturday
    end = datetime(2026, 11, 2, 0, 0, tzinfo=NY)  # Monday
    # created when the sweep starts, so last week's slot is not reported as missed
    schedule = weekly("prompt", SUN, time(1, 30), "America/New_York", created=start)
    await env.schedules.upsert(schedule)
    await env.scheduler.rebuild()

    fires = fire_times(job_trigger(env, schedule), start, end)
    # APScheduler 3.11 wakes us twice on the fold: 01:30 EDT and 01:30 EST.
    assert fires == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)]

    instants = sorted(set(fires) | set(minutes(start, end)))
    ran = await env.sweep(instants)

    assert [(r.slot, r.occurrence, r.late) for r in env.handler.runs] == [
        ("2026-11-01", utc(2026, 11, 1, 5, 30), False)
    ]
    assert ran == env.handler.runs
    assert env.missed.runs == []
    entries = await env.ledger.list_for_guild(1)
    assert [(e.slot, e.state) for e in entries] == [("2026-11-01", "done")]


async def test_gap_weekly_0230_runs_exactly_once(env: Env) -> None:
    start = datetime(2026, 3, 7, 0, 0, tzinfo=NY)  # Saturday
    end = datetime(2026, 3, 9, 0, 0, tzinfo=NY)  # Monday
    schedule = weekly("prompt", SUN, time(2, 30), "America/New_York", created=start)
    await env.schedules.upsert(schedule)
    await env.scheduler.rebuild()

    fires = fire_times(job_trigger(env, schedule), start, end)
    # 02:30 does not exist: APScheduler fires once, at 07:30Z (= 03:30 EDT).
    assert fires == [utc(2026, 3, 8, 7, 30)]

    instants = sorted(set(fires) | set(minutes(start, end)))
    await env.sweep(instants)

    assert [(r.slot, r.occurrence, r.late) for r in env.handler.runs] == [
        ("2026-03-08", utc(2026, 3, 8, 7, 30), False)
    ]
    assert env.missed.runs == []
    entries = await env.ledger.list_for_guild(1)
    assert [(e.slot, e.state) for e in entries] == [("2026-03-08", "done")]


@pytest.mark.parametrize(
    "restart_at",
    [
        utc(2026, 11, 1, 5, 30),  # right after the on-time run
        utc(2026, 11, 1, 6, 0),  # between APScheduler's two fold wake-ups
        utc(2026, 11, 1, 6, 30),  # at the second (EST) 01:30
    ],
)
async def test_restart_in_the_middle_of_the_fold_does_not_repeat(
    env: Env, restart_at: datetime
) -> None:
    start = datetime(2026, 10, 31, 23, 0, tzinfo=NY)
    end = datetime(2026, 11, 1, 9, 0, tzinfo=NY)
    schedule = weekly("prompt", SUN, time(1, 30), "America/New_York", created=start)
    await env.schedules.upsert(schedule)
    await env.scheduler.rebuild()
    fires = fire_times(job_trigger(env, schedule), start, end)
    instants = sorted(set(fires) | set(minutes(start, end)))

    await env.sweep([t for t in instants if t <= restart_at])
    await env.restart()
    assert env.scheduler.jobs()  # the new process rebuilt its wake-ups
    await env.sweep([t for t in instants if t > restart_at])

    assert [r.slot for r in env.handler.runs] == ["2026-11-01"]
    assert env.missed.runs == []


async def test_claimed_but_unfinished_slot_is_not_run_again(env: Env) -> None:
    """A crash between the claim and the handler loses that slot rather than repeating it."""
    await env.schedules.upsert(weekly("prompt", SUN, time(1, 30), "America/New_York"))
    await env.ledger.claim(1, 0, "prompt", "2026-11-01", now=utc(2026, 11, 1, 5, 30))
    await env.sweep(list(minutes(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 12, 0))))
    assert env.handler.runs == []


async def test_two_schedulers_on_one_file_run_a_slot_once(env: Env) -> None:
    """Two on_ready events or two processes: both wake up, one runs."""
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "Europe/Berlin"))
    other = await open_env(env.path, env.clock, env.handler, env.missed)
    try:
        env.clock.set(datetime(2026, 9, 7, 9, 0, tzinfo=BERLIN))
        results = await asyncio.gather(
            env.scheduler.run_due(),
            other.scheduler.run_due(),
            env.scheduler.run_due(),
            other.scheduler.run_due(),
        )
        assert sum(len(r) for r in results) == 1
        assert len(env.handler.runs) == 1
    finally:
        await other.db.close()


# ---------------------------------------------------------------------- missed while down


async def test_missed_within_grace_runs_once_marked_late(env: Env) -> None:
    await env.schedules.upsert(weekly("digest", MON, time(9, 0), "Europe/Berlin"))
    occurrence = datetime(2026, 9, 7, 9, 0, tzinfo=BERLIN).astimezone(UTC)
    back_up = occurrence + timedelta(hours=2)  # the bot was down at 09:00
    await env.sweep(list(minutes(back_up, back_up + timedelta(hours=10), timedelta(minutes=7))))

    assert [(r.slot, r.late, r.occurrence) for r in env.handler.runs] == [
        ("2026-09-07", True, occurrence)
    ]
    entry = await env.ledger.get(1, 0, "digest", "2026-09-07")
    assert entry is not None and entry.state == "late"
    assert env.missed.runs == []

    # next week is on time again
    env.clock.set(occurrence + timedelta(weeks=1, seconds=30))
    ran = await env.scheduler.run_due()
    assert [(r.slot, r.late) for r in ran] == [("2026-09-14", False)]


async def test_missed_beyond_grace_is_skipped_once_and_never_backfilled(env: Env) -> None:
    await env.schedules.upsert(weekly("digest", MON, time(9, 0), "Europe/Berlin"))
    # Down from 2026-09-02 to Wednesday 2026-09-30: four Mondays went by.
    back_up = utc(2026, 9, 30, 12, 0)
    await env.sweep(list(minutes(back_up, back_up + timedelta(days=4), timedelta(minutes=13))))

    assert env.handler.runs == []
    assert [(r.slot, r.late) for r in env.missed.runs] == [("2026-09-28", True)]
    entries = await env.ledger.list_for_guild(1)
    assert [(e.slot, e.state) for e in entries] == [("2026-09-28", "skipped")]
    assert entries[0].detail is not None and "grace" in entries[0].detail

    # the following Monday runs normally
    env.clock.set(datetime(2026, 10, 5, 9, 1, tzinfo=BERLIN))
    assert [r.slot for r in await env.scheduler.run_due()] == ["2026-10-05"]


async def test_on_missed_failure_is_logged_and_not_repeated(
    tmp_path: Path, clock: FakeClock, error_logs: ErrorLogWatcher
) -> None:
    error_logs.expect("on_missed failed")
    calls: list[ScheduledRun] = []

    async def broken(run: ScheduledRun) -> None:
        calls.append(run)
        raise RuntimeError("cannot reach the instructor")

    db = await Database.open(tmp_path / "c.db")
    try:
        schedules, ledger = ScheduleRepository(db), LedgerRepository(db)
        scheduler = CohortScheduler(
            schedules=schedules, ledger=ledger, clock=clock, on_missed=broken
        )
        scheduler.register_kind("digest", Recorder())
        await schedules.upsert(weekly("digest", MON, time(9, 0), "UTC"))
        clock.set(utc(2026, 9, 9))
        await scheduler.run_due()
        await scheduler.run_due()
        assert len(calls) == 1
        assert len(error_logs.seen("on_missed failed")) == 1
        entry = await ledger.get(1, 0, "digest", "2026-09-07")
        assert entry is not None and entry.state == "skipped"
    finally:
        await db.close()


async def test_schedule_created_after_this_weeks_occurrence_waits_for_next_week(
    env: Env,
) -> None:
    monday_0900 = utc(2026, 9, 7, 9, 0)
    created = monday_0900 + timedelta(minutes=5)
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "UTC", created=created))
    sweep = minutes(created, monday_0900 + timedelta(days=8), timedelta(minutes=17))
    ran = await env.sweep(sorted({*sweep, monday_0900 + timedelta(weeks=1)}))
    assert [(r.slot, r.late) for r in ran] == [("2026-09-14", False)]
    assert env.missed.runs == []
    assert [e.slot for e in await env.ledger.list_for_guild(1)] == ["2026-09-14"]


# ---------------------------------------------------------------------- handlers


async def test_failing_handler_is_marked_failed_and_others_still_run(
    env: Env, error_logs: ErrorLogWatcher
) -> None:
    error_logs.expect("handler for prompt failed")
    attempts: list[ScheduledRun] = []

    async def boom(run: ScheduledRun) -> None:
        attempts.append(run)
        raise RuntimeError("Missing Permissions")

    env.scheduler.register_kind("prompt", boom)
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "UTC"))
    await env.schedules.upsert(weekly("digest", MON, time(9, 0), "UTC"))
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "UTC", guild=2))
    env.clock.set(utc(2026, 9, 7, 9, 0))

    ran = await env.scheduler.run_due()
    assert sorted((r.guild_id, r.kind) for r in ran) == [
        (1, "digest"),
        (1, "prompt"),
        (2, "prompt"),
    ]
    assert [r.kind for r in env.handler.runs] == ["digest"]
    failed = await env.ledger.get(1, 0, "prompt", "2026-09-07")
    assert failed is not None and failed.state == "failed"
    assert failed.detail == "RuntimeError: Missing Permissions"
    assert len(error_logs.seen("handler for prompt failed")) == 2  # one per guild
    done = await env.ledger.get(1, 0, "digest", "2026-09-07")
    assert done is not None and done.state == "done"

    env.clock.advance(timedelta(minutes=1))  # the failed slot is not retried
    assert await env.scheduler.run_due() == []
    assert len(attempts) == 2


async def test_unknown_kind_warns_once_and_claims_nothing(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.schedules.upsert(weekly("mystery", MON, time(9, 0), "UTC"))
    env.clock.set(utc(2026, 9, 7, 9, 0))
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        assert await env.scheduler.run_due() == []
        env.clock.advance(timedelta(minutes=1))
        assert await env.scheduler.run_due() == []
    warnings = [r for r in caplog.records if "mystery" in r.getMessage()]
    assert len(warnings) == 1
    assert await env.ledger.list_for_guild(1) == []

    seen = Recorder()
    env.scheduler.register_kind("mystery", seen)
    assert [r.kind for r in await env.scheduler.run_due()] == ["mystery"]
    assert len(seen.runs) == 1


async def test_unknown_time_zone_in_the_table_is_skipped(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.db.execute_write(
        "INSERT INTO schedules (guild_id, cohort_id, kind, weekday, local_time, timezone, "
        "enabled, created_at) VALUES (1, 0, 'prompt', 0, '09:00', 'Mars/Olympus', 1, ?)",
        (to_db_time(CREATED),),
    )
    await env.schedules.upsert(weekly("digest", MON, time(9, 0), "UTC"))
    env.clock.set(utc(2026, 9, 7, 9, 0))
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        await env.scheduler.rebuild()
        ran = await env.scheduler.run_due()
    assert [r.kind for r in ran] == ["digest"]
    assert any("Mars/Olympus" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- APScheduler wiring


async def test_rebuild_makes_one_cron_job_per_enabled_schedule_plus_a_tick(env: Env) -> None:
    await env.schedules.upsert(weekly("prompt", SUN, time(1, 30), "America/New_York"))
    await env.schedules.upsert(weekly("digest", MON, time(9, 5), "Europe/Berlin", cohort=3))
    await env.schedules.upsert(weekly("nudge", MON, time(9, 0), "UTC", enabled=False))
    await env.scheduler.rebuild()
    await env.scheduler.rebuild()  # idempotent

    ids = sorted(job.id for job in env.scheduler.jobs())
    assert ids == sorted(
        [TICK_JOB_ID, schedule_job_id(1, 0, "prompt"), schedule_job_id(1, 3, "digest")]
    )
    trigger = job_trigger(env, weekly("digest", MON, time(9, 5), "Europe/Berlin", cohort=3))
    fields = {f.name: str(f) for f in trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "9", "5")
    assert trigger.timezone == BERLIN
    for job in env.scheduler.jobs():
        assert job.func == env.scheduler._wake

    await env.schedules.disable(1, 0, "prompt")
    await env.scheduler.rebuild()
    assert sorted(job.id for job in env.scheduler.jobs()) == sorted(
        [TICK_JOB_ID, schedule_job_id(1, 3, "digest")]
    )


async def test_start_and_shutdown_with_a_running_scheduler(env: Env) -> None:
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "UTC"))
    await env.scheduler.rebuild()
    env.scheduler.start()
    env.scheduler.start()  # harmless twice
    assert env.scheduler.running
    await env.scheduler.rebuild()  # while running: replaced, not duplicated
    assert len(env.scheduler.jobs()) == 2
    assert env.scheduler.apscheduler.get_job(TICK_JOB_ID) is not None
    await env.scheduler.shutdown()
    assert not env.scheduler.running
    await env.scheduler.shutdown()  # idempotent


async def test_shutdown_waits_for_a_run_in_progress(env: Env) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(run: ScheduledRun) -> None:
        started.set()
        await release.wait()
        finished.append(run.slot)

    env.scheduler.register_kind("prompt", slow)
    await env.schedules.upsert(weekly("prompt", MON, time(9, 0), "UTC"))
    env.clock.set(utc(2026, 9, 7, 9, 0))
    env.scheduler.start()
    wake = asyncio.create_task(env.scheduler._wake())  # what every APScheduler job calls
    await started.wait()
    stopping = asyncio.create_task(env.scheduler.shutdown())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    await wake
    assert finished == ["2026-09-07"]
    entry = await env.ledger.get(1, 0, "prompt", "2026-09-07")
    assert entry is not None and entry.state == "done"


async def test_wake_logs_and_swallows_errors(env: Env, error_logs: ErrorLogWatcher) -> None:
    error_logs.expect("scheduled wake-up failed")
    await env.db.close()
    await env.scheduler._wake()  # must not raise into APScheduler
    # Swallowed, not lost: the failure is logged once, with its traceback.
    [record] = error_logs.seen("scheduled wake-up failed")
    assert record.exc_info is not None


def test_constructor_validates_windows(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        CohortScheduler(
            schedules=None,  # type: ignore[arg-type]
            ledger=None,  # type: ignore[arg-type]
            clock=clock,
            on_time=timedelta(hours=7),
        )


# ---------------------------------------------------------------------- the schedules table


async def test_schedule_repository_round_trip(env: Env) -> None:
    repo = env.schedules
    first = weekly("prompt", MON, time(9, 0), "America/New_York")
    await repo.upsert(first)
    assert await repo.get(1, 0, "prompt") == first
    moved = weekly("prompt", 2, time(18, 45), "Europe/Berlin", created=utc(2026, 9, 3))
    await repo.upsert(moved)
    assert await repo.get(1, 0, "prompt") == moved
    await repo.upsert(weekly("digest", 4, time(8, 0), "UTC", guild=2))
    await repo.upsert(weekly("nudge", 4, time(8, 0), "UTC", guild=2, enabled=False))

    assert [(s.guild_id, s.kind) for s in await repo.list_enabled()] == [
        (1, "prompt"),
        (2, "digest"),
    ]
    assert [s.kind for s in await repo.list_for_guild(2)] == ["digest", "nudge"]
    assert await repo.disable(1, 0, "prompt") is True
    assert await repo.disable(1, 0, "absent") is False
    got = await repo.get(1, 0, "prompt")
    assert got is not None and got.enabled is False
    assert await repo.delete(2, 0, "nudge") is True
    assert await repo.delete_guild(2) == 1
    assert await repo.list_for_guild(2) == []
    assert await repo.get(1, 0, "prompt") is not None
    assert ScheduleRepository.personal_tables == ()
    assert ScheduleRepository.non_personal_tables == ("schedules",)


async def test_a_saved_weekly_schedule_is_enabled_and_counts_from_now(env: Env) -> None:
    await env.schedules.upsert(weekly("digest", MON, time(9, 0), "UTC", enabled=False))
    now = utc(2026, 9, 3)
    saved = await env.schedules.save_weekly(
        1, 0, "digest", 2, time(18, 45), "Europe/Berlin", now=now
    )
    assert saved == weekly("digest", 2, time(18, 45), "Europe/Berlin", created=now)
    assert await env.schedules.get(1, 0, "digest") == saved


@pytest.mark.parametrize("zone", ["EST", "US/Eastern", "Etc/GMT+5", "GB", "Nowhere/City"])
async def test_schedule_repository_rejects_legacy_zones(env: Env, zone: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        await env.schedules.upsert(weekly("prompt", MON, time(9, 0), zone))
    assert await env.schedules.list_for_guild(1) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weekday": 7},
        {"local_time": time(9, 0, 30)},
        {"local_time": time(9, 0, tzinfo=UTC)},
        {"created_at": datetime(2026, 1, 1)},
        {"kind": ""},
    ],
)
def test_schedule_validation(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "guild_id": 1,
        "cohort_id": 0,
        "kind": "prompt",
        "weekday": 0,
        "local_time": time(9, 0),
        "timezone": "UTC",
        "enabled": True,
        "created_at": CREATED,
    }
    with pytest.raises(ValueError):
        Schedule(**{**base, **kwargs})  # type: ignore[arg-type]
