"""The nudge engine (``NudgeEngine``); it asks the core's calendar and away (``app.calendar``,
``app.away``, ``bot/course_calendar.py``).

Nudge kinds — a feature registers its kind once (from its cog's ``cog_load``)::

    async def eligible(ctx: NudgeContext) -> list[NudgeCandidate]:
        return [NudgeCandidate(m.id, reason="joined 3 days ago, no intro yet",
                               values={"name": m.display_name}, dedupe_suffix="first")
                for m in ctx.students if ...]

    app.services.get(NudgeEngine).register_kind(NudgeKind(
        name="intro", description="Introduce yourself", template_key="intro_nudge",
        eligible=eligible, days="daily", per_week_cap=1))

The feature decides who is *eligible*; the engine applies everything else: students only
(staff never), the calendar (no break weeks, nothing after the end), the kind's switch,
opt-in (off by default), away, DMs closed, dedupe (kind + student + course week + suffix),
the weekly cap across kinds and the cap per kind, quiet hours in the student's own zone
(``set_timezone_source``), and one-off skips/edits from /course upcoming. DMs go out through
the outbox. ``days``: "checkin" (the server's check-in day, default), "daily", or a weekday
number (0 = Monday).

Opt-in — ``/nudges on|off|status`` and, once after a student's intro,
``await NudgeEngine.offer_opt_in(guild_id, user_id)`` → a :class:`discord.ui.View` with
"Yes, remind me" / "No thanks" (or None when it was offered before); attach it to the
ephemeral intro confirmation. The buttons are persistent (``cohortbot:nudges:…``).

DM-closed — ``await NudgeEngine.dm_closed_users(guild_id)`` for /course status and the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import discord

from bot.calendar import (
    WeekStatus,
    next_allowed_time,
)
from bot.clock import Clock
from bot.course_calendar import AwayService, CalendarService
from bot.guild_settings import GuildSettings
from bot.outbox.repository import NewOutboxRow
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.schedule_math import is_valid_timezone
from bot.store.activity import ActivityRepository
from bot.store.guilds import Cohort
from bot.store.ledger import LedgerRepository
from bot.templates import Templates
from bot.text import render, shorten
from bot.upcoming import UpcomingItem, UpcomingRegistry
from cogs.nudges.repository import NudgeRepository, NudgeSettings
from cogs.nudges.rules import Caps, NudgeFacts, Reason, decide, dedupe_key

__all__ = [
    "CHECKIN_KIND",
    "BatchResult",
    "NudgeCandidate",
    "NudgeContext",
    "NudgeEngine",
    "NudgeKind",
    "PreviewLine",
]

log = logging.getLogger(__name__)

CHECKIN_KIND = "checkin"
NUDGE_KIND_PREFIX = "nudge:"
WELCOME_BACK_KIND = "away:welcome-back"


# ---------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class NudgeCandidate:
    user_id: int
    reason: str  # for the instructor's preview, e.g. "no activity for 12 days"
    values: dict[str, str] = field(default_factory=dict)  # template placeholders
    dedupe_suffix: str | None = None


@dataclass(frozen=True)
class NudgeContext:
    guild: discord.Guild
    cohort: Cohort
    week: WeekStatus
    now: datetime
    students: list[discord.Member]
    settings: NudgeSettings
    timezone: str


Eligibility = Callable[[NudgeContext], Awaitable[list[NudgeCandidate]]]


@dataclass(frozen=True)
class NudgeKind:
    name: str
    description: str
    template_key: str
    eligible: Eligibility
    days: Literal["checkin", "daily"] | int = "checkin"
    per_week_cap: int = 1
    view_key: str | None = None
    #: On in a server whose instructors have not switched it (/course nudge settings).
    default_enabled: bool = True

    def runs_on(self, weekday: int, settings: NudgeSettings) -> bool:
        if self.days == "daily":
            return True
        if self.days == "checkin":
            return weekday == settings.checkin_day
        return weekday == self.days


@dataclass(frozen=True)
class PreviewLine:
    user_id: int
    name: str
    decision: Reason
    reason: str


@dataclass
class BatchResult:
    kind: str
    cohort: Cohort
    week: WeekStatus
    lines: list[PreviewLine] = field(default_factory=list)
    queued: int = 0

    def count(self, decision: Reason) -> int:
        return sum(1 for line in self.lines if line.decision == decision)


@dataclass(frozen=True)
class _BatchFacts:
    """What a batch decides from, read once for all its candidates."""

    #: the cohort's students (only they are nudged), by id
    names: dict[int, str]
    enabled: bool
    opted: set[int]
    away: set[int]
    closed: set[int]
    #: nudges logged this course week, per student and kind
    counts: dict[int, dict[str, int]]
    caps: Caps
    #: the students' own time zones, where they set one
    zones: dict[int, str]


TimezoneSource = Callable[[int, Sequence[int]], Awaitable[dict[int, str]]]


async def _no_profile_zones(guild_id: int, user_ids: Sequence[int]) -> dict[int, str]:
    return {}


# ---------------------------------------------------------------------- the engine


@dataclass(eq=False, kw_only=True)
class NudgeEngine:
    store: NudgeRepository
    outbox: OutboxService
    calendar: CalendarService
    away: AwayService
    setup: GuildSettings
    roster: Roster
    ledger: LedgerRepository
    templates: Templates
    upcoming: UpcomingRegistry
    activity: ActivityRepository
    clock: Clock
    # Buffered activity is written first: a student who just posted is not "quiet".
    flush_activity: Callable[[], Awaitable[object]] | None = None
    _kinds: dict[str, NudgeKind] = field(init=False, default_factory=dict)
    # Functions, so set per instance (a function as a class default would bind to self).
    _timezones: TimezoneSource = field(init=False)
    _guild_lookup: Callable[[int], discord.Guild | None] = field(init=False)
    _offer_view: Callable[[int], discord.ui.View] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._timezones = _no_profile_zones
        self._guild_lookup = lambda _gid: None
        self.register_kind(
            NudgeKind(
                name=CHECKIN_KIND,
                description="A gentle weekly check-in when you have been quiet for a while",
                template_key="nudge_checkin",
                eligible=self._checkin_eligible,
                view_key="nudges:stop",
            )
        )
        self.upcoming.register("nudges", self.upcoming_items)

    # ----- wiring

    def register_kind(self, kind: NudgeKind) -> None:
        if not kind.name or ":" in kind.name or len(kind.name) > 30:
            raise ValueError("a nudge kind name has 1–30 characters and no ':'")
        self._kinds[kind.name] = kind

    @property
    def kinds(self) -> dict[str, NudgeKind]:
        return dict(self._kinds)

    def set_timezone_source(self, source: TimezoneSource) -> None:
        """``source(guild_id, user_ids) -> {user_id: IANA zone}`` (profiles); others: course."""
        self._timezones = source

    def attach(
        self,
        guild_lookup: Callable[[int], discord.Guild | None],
        offer_view: Callable[[int], discord.ui.View] | None = None,
    ) -> None:
        """Called by the cog: how to find a guild, and how to build the opt-in offer view."""
        self._guild_lookup = guild_lookup
        self._offer_view = offer_view

    # ----- settings and opt-in

    async def settings(self, guild_id: int) -> NudgeSettings:
        return await self.store.settings(guild_id)

    async def save_settings(self, settings: NudgeSettings) -> None:
        await self.store.save_settings(settings, now=self.clock.now())

    async def enabled_kinds(self, guild_id: int) -> dict[str, bool]:
        switches = await self.store.kind_switches(guild_id)
        return {name: switches.get(name, k.default_enabled) for name, k in self._kinds.items()}

    async def set_opt_in(
        self, guild_id: int, user_id: int, on: bool, kinds: Iterable[str] | None = None
    ) -> list[str]:
        names = list(kinds) if kinds is not None else list(self._kinds)
        unknown = [n for n in names if n not in self._kinds]
        if unknown:
            raise ValueError(f"unknown nudge kinds {unknown}")
        await self.store.set_opt_in(guild_id, user_id, names, on, now=self.clock.now())
        await self.store.mark_offered(guild_id, user_id, now=self.clock.now())
        if on:
            # Re-opening reminders is a sign DMs may be open again.
            await self.outbox.dm_channels.clear_dm_closed(guild_id, user_id)
        else:
            await self._cancel_pending_for(guild_id, user_id, "opted out")
        return names

    async def _cancel_pending_for(self, guild_id: int, user_id: int, reason: str) -> int:
        rows = await self.outbox.repository.pending_before(
            guild_id, self.clock.now() + timedelta(days=400)
        )
        ids = [r.id for r in rows if r.user_id == user_id and r.kind.startswith(NUDGE_KIND_PREFIX)]
        return await self.outbox.cancel(guild_id, ids, reason)

    async def opt_ins(self, guild_id: int, user_id: int) -> dict[str, bool]:
        stored = await self.store.opt_ins(guild_id, user_id)
        return {name: stored.get(name, False) for name in self._kinds}

    async def offer_opt_in(self, guild_id: int, user_id: int) -> discord.ui.View | None:
        """The one-time offer (a view with "Yes, remind me" / "No thanks"), or None if it was
        offered before. Call right after a student's intro; attach it to your reply."""
        if self._offer_view is None:
            raise RuntimeError("cogs.nudges.cog is not loaded")
        if not await self.store.mark_offered(guild_id, user_id, now=self.clock.now()):
            return None
        return self._offer_view(guild_id)

    async def offer_text(self, guild_id: int) -> str:
        settings = await self.settings(guild_id)
        return await self.templates.render(
            guild_id, "nudges_offer", cap=str(settings.weekly_cap), quiet=settings.quiet.label()
        )

    async def dm_closed_users(self, guild_id: int) -> dict[int, datetime]:
        return await self.outbox.dm_channels.dm_closed_users(guild_id)

    async def status_lines(self, guild_id: int) -> list[str]:
        """Lines for /course status: the outbox, a paused guild, students with DMs closed."""
        lines = await self.outbox.status_lines(guild_id)
        closed = await self.outbox.dm_channels.dm_closed_users(guild_id)
        if closed:
            lines.append(
                f"DMs closed: {len(closed)} student(s) can't get reminders by DM "
                "(/course nudge preview names them)."
            )
        return lines

    # ----- the built-in kind

    async def _checkin_eligible(self, ctx: NudgeContext) -> list[NudgeCandidate]:
        days = ctx.settings.inactive_days
        cutoff = ctx.now - timedelta(days=days)
        spec = await self.calendar.spec(ctx.guild.id, ctx.cohort.cohort_id)
        started = (
            datetime.combine(spec.start, time(0)).replace(tzinfo=ZoneInfo(ctx.timezone))
            if spec
            else ctx.now
        )
        if self.flush_activity is not None:
            await self.flush_activity()
        last = await self.activity.last_active(ctx.guild.id, [m.id for m in ctx.students])
        out = []
        for member in ctx.students:
            since = max(last.get(member.id, started), started)
            if since > cutoff:
                continue
            quiet_days = (ctx.now - since).days
            out.append(
                NudgeCandidate(
                    member.id,
                    reason=f"no activity for {quiet_days} days",
                    values={"name": member.display_name, "days": str(quiet_days)},
                )
            )
        return out

    # ----- batches

    async def _context(self, guild: discord.Guild, cohort: Cohort, now: datetime) -> NudgeContext:
        return NudgeContext(
            guild=guild,
            cohort=cohort,
            week=await self.calendar.week_of(guild.id, cohort.cohort_id, now),
            now=now,
            students=await self.roster.students(guild, cohort),
            settings=await self.settings(guild.id),
            timezone=await self.calendar.timezone(guild.id),
        )

    async def evaluate(
        self,
        guild: discord.Guild,
        cohort: Cohort,
        kind_name: str,
        now: datetime,
        *,
        queue: bool,
        body: str | None = None,
    ) -> BatchResult:
        """Run a kind's batch for a cohort: decide for every eligible student, and (``queue``)
        put the DMs in the outbox. ``queue=False`` is the instructor's preview."""
        kind = self._kinds[kind_name]
        ctx = await self._context(guild, cohort, now)
        result = BatchResult(kind_name, cohort, ctx.week)
        if not ctx.students:
            return result
        candidates = await kind.eligible(ctx) if ctx.week.running else []
        batch = await self._batch_facts(ctx, kind, [c.user_id for c in candidates])
        template = (
            body if body is not None else await self.templates.body(guild.id, kind.template_key)
        )
        rows: list[NewOutboxRow] = []
        planned: list[tuple[int, str]] = []
        seen: set[int] = set()
        for candidate in candidates:
            if candidate.user_id in seen:
                continue
            seen.add(candidate.user_id)
            key = dedupe_key(kind_name, candidate.user_id, ctx.week.key, candidate.dedupe_suffix)
            facts = await self._facts(ctx, kind, batch, candidate.user_id, key, planned)
            decision = decide(facts, batch.caps)
            name = batch.names.get(candidate.user_id, str(candidate.user_id))
            result.lines.append(PreviewLine(candidate.user_id, name, decision, candidate.reason))
            if decision != "send" or not queue:
                continue
            rows.append(self._nudge_row(ctx, kind, candidate, key, name, template, batch.zones))
            planned.append((candidate.user_id, kind_name))
        if rows:
            result.queued = await self._queue_batch(ctx, rows, planned)
        return result

    async def _batch_facts(
        self, ctx: NudgeContext, kind: NudgeKind, candidate_ids: list[int]
    ) -> _BatchFacts:
        guild_id = ctx.guild.id
        return _BatchFacts(
            names={m.id: m.display_name for m in ctx.students},
            enabled=(await self.enabled_kinds(guild_id)).get(kind.name, False),
            opted=await self.store.opted_in_users(guild_id, kind.name),
            away=set(await self.away.away_users(guild_id, ctx.now)),
            closed=set(await self.outbox.dm_channels.dm_closed_users(guild_id)),
            counts=await self.store.week_counts(guild_id, ctx.week.key, candidate_ids),
            caps=Caps(per_week=ctx.settings.weekly_cap, per_kind=kind.per_week_cap),
            zones=await self._timezones(guild_id, candidate_ids),
        )

    async def _facts(
        self,
        ctx: NudgeContext,
        kind: NudgeKind,
        batch: _BatchFacts,
        user_id: int,
        key: str,
        planned: list[tuple[int, str]],
    ) -> NudgeFacts:
        """What :func:`decide` needs about one candidate; ``planned`` are the nudges this
        batch has already decided to send (they count towards the week's cap)."""
        user_counts = batch.counts.get(user_id, {})
        return NudgeFacts(
            is_student=user_id in batch.names,
            week_running=ctx.week.running,
            kind_enabled=batch.enabled,
            opted_in=user_id in batch.opted,
            away=user_id in batch.away,
            dm_closed=user_id in batch.closed,
            already_queued=await self.outbox.repository.exists(
                ctx.guild.id, NUDGE_KIND_PREFIX + kind.name, key
            ),
            sent_this_week=sum(user_counts.values())
            + sum(1 for uid, _ in planned if uid == user_id),
            sent_this_week_kind=user_counts.get(kind.name, 0),
        )

    def _nudge_row(
        self,
        ctx: NudgeContext,
        kind: NudgeKind,
        candidate: NudgeCandidate,
        key: str,
        name: str,
        template: str,
        zones: dict[int, str],
    ) -> NewOutboxRow:
        """The DM to one candidate, held back to the end of their quiet hours (in their own
        time zone when they set a valid one) and expiring with the course week."""
        zone_name = zones.get(candidate.user_id)
        zone = ZoneInfo(zone_name if zone_name and is_valid_timezone(zone_name) else ctx.timezone)
        values = {"course": ctx.guild.name, "name": name, **candidate.values}
        return self.outbox.new_row(
            guild_id=ctx.guild.id,
            cohort_id=ctx.cohort.cohort_id,
            kind=NUDGE_KIND_PREFIX + kind.name,
            dedupe_key=key,
            content=shorten(render(template, values), 2000),
            user_id=candidate.user_id,
            view_key=kind.view_key,
            view_args=(str(ctx.guild.id),) if kind.view_key else (),
            not_before=next_allowed_time(ctx.now, zone, ctx.settings.quiet),
            expires_at=self._week_end(ctx.week, ctx.timezone),
        )

    async def _queue_batch(
        self, ctx: NudgeContext, rows: list[NewOutboxRow], planned: list[tuple[int, str]]
    ) -> int:
        """Queue the batch's DMs and log the ones the outbox took; how many it took."""
        ids_queued = await self.outbox.enqueue_rows(rows)
        entries = [
            (uid, kname, ctx.week.key, row_id)
            for (uid, kname), row_id in zip(planned, ids_queued, strict=True)
            if row_id is not None
        ]
        await self.store.log_queued(ctx.guild.id, ctx.cohort.cohort_id, entries, now=ctx.now)
        return len(entries)

    @staticmethod
    def _week_end(week: WeekStatus, timezone: str) -> datetime | None:
        if week.week_start is None:
            return None
        end = datetime.combine(week.week_start + timedelta(days=7), time(0))
        return end.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)

    def batch_key(self, cohort_id: int, kind: str, day: date) -> str:
        """The /course upcoming key (and occasion-override key) of one batch."""
        return f"nudge:{cohort_id}:{kind}:{day.isoformat()}"

    async def _batch_time(self, guild_id: int, day: date, settings: NudgeSettings) -> datetime:
        zone = ZoneInfo(await self.calendar.timezone(guild_id))
        return datetime.combine(day, settings.batch_time).replace(tzinfo=zone).astimezone(UTC)

    async def run_due(self, now: datetime | None = None) -> list[BatchResult]:
        """Queue today's batches that are due (called every minute and by tests).

        A batch runs on its day at or after the batch time; the ledger makes it run once. A
        day that passed while the bot was down is never backfilled.
        """
        now = now or self.clock.now()
        results: list[BatchResult] = []
        for guild_id in await self.calendar.repository.guild_ids():
            guild = self._guild_lookup(guild_id)
            if guild is None:
                continue
            try:
                results.extend(await self._run_guild(guild, now))
                await self._welcome_back(guild, now)
            except Exception:
                log.exception("Nudge batches failed for guild %s", guild_id)
        return results

    async def _run_guild(self, guild: discord.Guild, now: datetime) -> list[BatchResult]:
        results = []
        settings = await self.settings(guild.id)
        zone = ZoneInfo(await self.calendar.timezone(guild.id))
        local = now.astimezone(zone)
        enabled = await self.enabled_kinds(guild.id)
        for cohort in await self.setup.cohorts(guild.id):
            week = await self.calendar.week_of(guild.id, cohort.cohort_id, now)
            if not week.running:
                continue
            if local.time() < settings.batch_time:
                continue
            for name, kind in self._kinds.items():
                if not enabled.get(name) or not kind.runs_on(local.weekday(), settings):
                    continue
                slot = local.date().isoformat()
                key = self.batch_key(cohort.cohort_id, name, local.date())
                override = await self.upcoming.override(guild.id, key)
                ledger_kind = NUDGE_KIND_PREFIX + name
                if override is not None and override.action == "skip":
                    await self.ledger.claim(
                        guild.id,
                        cohort.cohort_id,
                        ledger_kind,
                        slot,
                        now=now,
                        state="skipped",
                        detail="skipped from /course upcoming",
                    )
                    continue
                if not await self.ledger.claim(
                    guild.id, cohort.cohort_id, ledger_kind, slot, now=now
                ):
                    continue
                body = override.body if override is not None and override.action == "edit" else None
                try:
                    result = await self.evaluate(guild, cohort, name, now, queue=True, body=body)
                except Exception as exc:
                    await self.ledger.mark(
                        guild.id,
                        cohort.cohort_id,
                        ledger_kind,
                        slot,
                        "failed",
                        f"{type(exc).__name__}",
                    )
                    raise
                await self.ledger.mark(guild.id, cohort.cohort_id, ledger_kind, slot, "done")
                results.append(result)
        return results

    async def send_now(self, guild: discord.Guild, cohort: Cohort, kind: str) -> BatchResult:
        """/course nudge send-now: this week's batch of a kind, now (dedupe still applies)."""
        return await self.evaluate(guild, cohort, kind, self.clock.now(), queue=True)

    async def _welcome_back(self, guild: discord.Guild, now: datetime) -> None:
        for record in await self.away.expired(guild.id, now):
            await self.away.repository.end(guild.id, record.user_id)
            if not any((await self.store.opt_ins(guild.id, record.user_id)).values()):
                continue  # DMs only to students who opted in
            member = guild.get_member(record.user_id)
            text = await self.templates.render(
                guild.id,
                "away_welcome_back",
                name=member.display_name if member else "there",
                course=guild.name,
            )
            await self.outbox.enqueue(
                guild_id=guild.id,
                kind=WELCOME_BACK_KIND,
                dedupe_key=f"{record.user_id}:{record.until.isoformat()}",
                content=text,
                user_id=record.user_id,
                not_before=next_allowed_time(
                    now,
                    ZoneInfo(await self.calendar.timezone(guild.id)),
                    (await self.settings(guild.id)).quiet,
                ),
            )

    async def start_away(self, guild_id: int, user_id: int, until: date, note: str | None) -> int:
        """Record away and cancel the student's queued nudges; returns how many were cancelled."""
        await self.away.repository.start(guild_id, user_id, until, note, now=self.clock.now())
        return await self._cancel_pending_for(guild_id, user_id, "away")

    # ----- /course upcoming

    async def upcoming_items(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[UpcomingItem]:
        guild = self._guild_lookup(guild_id)
        settings = await self.settings(guild_id)
        zone = ZoneInfo(await self.calendar.timezone(guild_id))
        enabled = await self.enabled_kinds(guild_id)
        items: list[UpcomingItem] = []
        cohorts = await self.setup.cohorts(guild_id)
        day = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        while day <= last:
            when = await self._batch_time(guild_id, day, settings)
            for cohort in cohorts:
                if when < start or when > end:
                    continue
                week = await self.calendar.week_of(guild_id, cohort.cohort_id, when)
                if not week.running:
                    continue
                for name, kind in self._kinds.items():
                    if not enabled.get(name) or not kind.runs_on(day.weekday(), settings):
                        continue
                    if await self.ledger.get(
                        guild_id, cohort.cohort_id, NUDGE_KIND_PREFIX + name, day.isoformat()
                    ):
                        continue
                    items.append(await self._batch_item(guild_id, guild, cohort, kind, day, when))
            day += timedelta(days=1)
        return items

    async def _batch_item(
        self,
        guild_id: int,
        guild: discord.Guild | None,
        cohort: Cohort,
        kind: NudgeKind,
        day: date,
        when: datetime,
    ) -> UpcomingItem:
        key = self.batch_key(cohort.cohort_id, kind.name, day)
        override = await self.upcoming.override(guild_id, key)
        body = await self.templates.body(guild_id, kind.template_key)
        if override is not None and override.action == "edit" and override.body:
            body = override.body
        opted = len(await self.store.opted_in_users(guild_id, kind.name))
        detail = f"{kind.description}: DMs to eligible students who opted in ({opted} did)"
        if override is not None and override.action == "skip":
            detail = "SKIPPED this time"

        async def skip(actor_id: int) -> None:
            await self.upcoming.set_override(guild_id, key, "skip", None, actor_id=actor_id)

        async def edit(text: str, actor_id: int) -> None:
            await self.upcoming.set_override(guild_id, key, "edit", text, actor_id=actor_id)

        return UpcomingItem(
            key=key,
            when=when,
            kind=f"{kind.name} nudges",
            preview=body,
            cohort_id=cohort.cohort_id,
            detail=detail,
            skip=skip,
            edit=edit,
            current_text=body,
        )

    # ----- calendar hook

    async def cancel_cohort(self, guild_id: int, cohort_id: int, reason: str) -> int:
        return await self.outbox.repository.cancel_where(
            guild_id, cohort_id=cohort_id, kind_prefix=NUDGE_KIND_PREFIX, reason=reason
        )
