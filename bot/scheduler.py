"""The course-calendar scheduler: APScheduler wakes the bot up, the database says what is due.

APScheduler 3.11 (``AsyncIOScheduler``, in-memory job store) holds one ``CronTrigger`` job per
enabled schedule plus a safety tick every minute. Every job only calls :meth:`run_due`, which
decides from the ``schedules`` table, the ledger and the injected clock:

* the most recent occurrence of each enabled schedule (:func:`latest_occurrence`);
* :func:`decide`: ``on_time`` / ``late`` → claim the slot in the ledger, *then* call the
  kind's handler (so a slot can never run twice — restarts, two ``on_ready`` events, or
  APScheduler firing twice in a DST fold all hit the same ledger row);
  ``missed`` (beyond the grace window) → claim the slot as ``skipped`` and call ``on_missed``
  once; only the latest occurrence is ever considered, so weeks are never backfilled;
  ``before_schedule_existed`` / ``not_yet`` → nothing.

A rebuilt in-memory job store never knows what was missed while the bot was down; the ledger
and the safety tick do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.schedule_math import (
    DEFAULT_GRACE,
    DEFAULT_ON_TIME,
    decide,
    latest_occurrence,
    slot_key,
)
from bot.store.db import StoreError
from bot.store.ledger import LedgerRepository, LedgerState
from bot.store.schedules import Schedule, ScheduleRepository
from bot.tasks import finish_or_cancel

__all__ = ["TICK_JOB_ID", "CohortScheduler", "Handler", "ScheduledRun", "schedule_job_id"]

log = logging.getLogger(__name__)

TICK_JOB_ID: Final = "cohortbot:tick"
_JOB_PREFIX: Final = "cohortbot:schedule:"
_DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DETAIL_MAX: Final = 500


@dataclass(frozen=True)
class ScheduledRun:
    """One run of a schedule's slot, handed to the kind's handler (or to ``on_missed``).

    ``late`` is True for a run inside the grace window and for every ``on_missed`` call.
    """

    guild_id: int
    cohort_id: int
    kind: str
    slot: str  # the local date of the occurrence, "2026-11-01"
    occurrence: datetime  # aware UTC
    late: bool


Handler = Callable[[ScheduledRun], Awaitable[None]]


def schedule_job_id(guild_id: int, cohort_id: int, kind: str) -> str:
    """The APScheduler job id of one schedule."""
    return f"{_JOB_PREFIX}{guild_id}:{cohort_id}:{kind}"


@dataclass(eq=False, kw_only=True)
class CohortScheduler:
    """Runs each enabled schedule's handler at most once per slot."""

    schedules: ScheduleRepository
    ledger: LedgerRepository
    clock: Clock
    on_time: timedelta = DEFAULT_ON_TIME
    grace: timedelta = DEFAULT_GRACE
    on_missed: Callable[[ScheduledRun], Awaitable[None]] | None = None
    tick: timedelta = timedelta(seconds=60)
    # In a shard cluster each process runs the schedules of its own shards' guilds only.
    owns_guild: Callable[[int], bool] = lambda guild_id: True
    _handlers: dict[str, Handler] = field(init=False, default_factory=dict)
    _missed_handlers: dict[str, Handler] = field(init=False, default_factory=dict)
    _tick_hooks: dict[str, Callable[[datetime], Awaitable[None]]] = field(
        init=False, default_factory=dict
    )
    _warned: set[str] = field(init=False, default_factory=set)
    _inflight: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    _scheduler: AsyncIOScheduler = field(init=False)

    def __post_init__(self) -> None:
        if self.on_time < timedelta(0) or self.grace < self.on_time:
            raise ValueError("need 0 <= on_time <= grace")
        if self.tick <= timedelta(0):
            raise ValueError("tick must be positive")
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(int(self.grace.total_seconds()), 60),
            },
        )

    # ------------------------------------------------------------------ setup

    def register_kind(
        self, kind: str, handler: Handler, *, on_missed: Handler | None = None
    ) -> None:
        """Set the coroutine that runs a slot of ``kind`` (a later call replaces it), and
        optionally the kind's own ``on_missed`` (called instead of the scheduler-wide one)."""
        if not kind:
            raise ValueError("kind must not be empty")
        self._handlers[kind] = handler
        if on_missed is not None:
            self._missed_handlers[kind] = on_missed
        self._warned.discard(f"kind:{kind}")

    @property
    def apscheduler(self) -> AsyncIOScheduler:
        """The wrapped APScheduler instance (for inspection in tests and diagnostics)."""
        return self._scheduler

    def jobs(self) -> list[Job]:
        """The wake-up jobs (pending ones before :meth:`start`)."""
        return list(self._scheduler.get_jobs())

    async def rebuild(self) -> None:
        """(Re)create one cron job per enabled schedule plus the safety tick; idempotent.

        Jobs of schedules that were disabled or deleted are removed.
        """
        wanted: dict[str, tuple[CronTrigger, str]] = {}
        for schedule in await self._owned_schedules():
            zone = self._zone(schedule)
            if zone is None:
                continue
            trigger = CronTrigger(
                day_of_week=_DAY_NAMES[schedule.weekday],
                hour=schedule.local_time.hour,
                minute=schedule.local_time.minute,
                timezone=zone,
            )
            job_id = schedule_job_id(schedule.guild_id, schedule.cohort_id, schedule.kind)
            name = f"{schedule.kind} guild={schedule.guild_id} cohort={schedule.cohort_id}"
            wanted[job_id] = (trigger, name)

        existing = {job.id for job in self._scheduler.get_jobs()}
        for job_id in existing:
            if job_id.startswith(_JOB_PREFIX) and job_id not in wanted:
                self._scheduler.remove_job(job_id)
        for job_id, (trigger, name) in wanted.items():
            self._replace_job(job_id, trigger, name)
        self._replace_job(
            TICK_JOB_ID, IntervalTrigger(seconds=self.tick.total_seconds(), timezone=UTC), "tick"
        )

    def _replace_job(self, job_id: str, trigger: Any, name: str) -> None:
        # remove + add rather than replace_existing: before start() APScheduler keeps pending
        # jobs in a list, where replace_existing would leave duplicates until start().
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)
        self._scheduler.add_job(self._wake, trigger, id=job_id, name=name)

    def start(self) -> None:
        """Start waking up (call from inside the running event loop, after :meth:`rebuild`)."""
        if not self._scheduler.running:
            self._scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    async def shutdown(self, *, wait_seconds: float = 30.0) -> None:
        """Stop waking up and wait (up to ``wait_seconds``) for runs in progress to finish;
        runs still going after that are cancelled."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down via call_soon_threadsafe
        await finish_or_cancel(self._inflight, wait_seconds)

    async def _wake(self) -> None:
        """Every APScheduler job calls this. The run is shielded from the executor's
        cancellation at shutdown; :meth:`shutdown` waits for it instead."""
        task = asyncio.create_task(self._run_due_logged())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.shield(task)

    async def _run_due_logged(self) -> None:
        try:
            await self.run_due()
        except Exception:
            log.exception("scheduled wake-up failed")
        await self.run_tick_hooks()

    def add_tick_hook(self, name: str, hook: Callable[[datetime], Awaitable[None]]) -> None:
        """Run ``hook(now)`` on every wake-up (at least once a minute).

        For work not tied to a guild's calendar (backups, retention, the outbox's retries).
        A hook decides itself whether anything is due, typically with a ledger claim.
        """
        self._tick_hooks[name] = hook

    async def run_tick_hooks(self) -> None:
        now = self.clock.now()
        for name, hook in list(self._tick_hooks.items()):
            try:
                await hook(now)
            except StoreError as exc:
                log.warning("tick hook %s could not run: %s", name, exc)
            except Exception:
                log.exception("tick hook %s failed", name)

    # ------------------------------------------------------------------ the due-logic

    async def run_due(self) -> list[ScheduledRun]:
        """Run every slot that is due now; return the runs whose handler was called
        (successfully or not). Skipped (missed) slots are not returned."""
        now = self.clock.now()
        ran: list[ScheduledRun] = []
        for schedule in await self._owned_schedules():
            try:
                run = await self._run_one(schedule, now)
            except StoreError as exc:
                # e.g. DatabaseBusyError on the claim: nothing was written, the next tick retries
                log.warning(
                    "could not process schedule %s for guild %s cohort %s: %s",
                    schedule.kind,
                    schedule.guild_id,
                    schedule.cohort_id,
                    exc,
                )
                continue
            except Exception:
                log.exception(
                    "schedule %s for guild %s cohort %s failed",
                    schedule.kind,
                    schedule.guild_id,
                    schedule.cohort_id,
                )
                continue
            if run is not None:
                ran.append(run)
        return ran

    async def _owned_schedules(self) -> list[Schedule]:
        return [s for s in await self.schedules.list_enabled() if self.owns_guild(s.guild_id)]

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _zone(self, schedule: Schedule) -> ZoneInfo | None:
        try:
            return ZoneInfo(schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._warn_once(
                f"tz:{schedule.timezone}",
                "schedule %s for guild %s has an unknown time zone %r; it will not run",
                schedule.kind,
                schedule.guild_id,
                schedule.timezone,
            )
            return None

    async def _run_one(self, schedule: Schedule, now: datetime) -> ScheduledRun | None:
        zone = self._zone(schedule)
        if zone is None:
            return None
        occurrence = latest_occurrence(schedule.weekday, schedule.local_time, zone, now)
        decision = decide(
            occurrence,
            now,
            created_at=schedule.created_at,
            on_time=self.on_time,
            grace=self.grace,
        )
        if decision in ("not_yet", "before_schedule_existed"):
            return None
        handler = self._handlers.get(schedule.kind)
        if handler is None:
            self._warn_once(
                f"kind:{schedule.kind}",
                "no handler registered for scheduled kind %r (guild %s); its slots are not run",
                schedule.kind,
                schedule.guild_id,
            )
            return None

        slot = slot_key(occurrence, zone)
        key = (schedule.guild_id, schedule.cohort_id, schedule.kind, slot)
        # Cheap read first so the minute tick does not open a write transaction for a slot
        # that is already settled. The claim below is what guarantees at-most-once.
        if await self.ledger.get(*key) is not None:
            return None
        run = ScheduledRun(
            guild_id=schedule.guild_id,
            cohort_id=schedule.cohort_id,
            kind=schedule.kind,
            slot=slot,
            occurrence=occurrence,
            late=decision != "on_time",
        )

        if decision == "missed":
            detail = f"missed: {now - occurrence} after the occurrence, beyond the grace window"
            if not await self.ledger.claim(*key, now=now, state="skipped", detail=detail):
                return None
            log.warning(
                "skipped %s for guild %s cohort %s slot %s (%s)",
                run.kind,
                run.guild_id,
                run.cohort_id,
                slot,
                detail,
            )
            on_missed = self._missed_handlers.get(run.kind, self.on_missed)
            if on_missed is not None:
                try:
                    await on_missed(run)
                except Exception:
                    log.exception("on_missed failed for %s slot %s", run.kind, slot)
            return None

        if not await self.ledger.claim(*key, now=now, state="claimed"):
            return None
        try:
            await handler(run)
        except Exception as exc:
            log.exception(
                "handler for %s failed (guild %s cohort %s slot %s)",
                run.kind,
                run.guild_id,
                run.cohort_id,
                slot,
            )
            await self._mark(key, "failed", f"{type(exc).__name__}: {exc}"[:_DETAIL_MAX])
            return run
        await self._mark(key, "late" if run.late else "done", None)
        return run

    async def _mark(
        self, key: tuple[int, int, str, str], state: LedgerState, detail: str | None
    ) -> None:
        # The slot is already claimed, so it will not run again whatever happens here.
        try:
            await self.ledger.mark(*key, state, detail)
        except StoreError as exc:
            log.warning("could not record %s for slot %s: %s", state, key, exc)
