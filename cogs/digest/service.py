"""The weekly digest (``DigestService``): collect → compute → render → deliver.

* :meth:`DigestService.compute` — the numbers, the needs-attention list, the per-student
  table, the CSV and the chart for a cohort and a list of students (no Discord: the tests and
  the benchmark call it directly).
* :meth:`DigestService.build` — the same for a Discord guild (students from the roster).
* :meth:`DigestService.deliver` — queues it in the outbox: the leads-channel messages (kind
  ``digest``; chart + CSV attached to the first, follow-up buttons on the needs-attention
  pages, rebuilt by the view factory ``digest:follow-up`` from the row's view args) and a copy
  without buttons or files for every lead or instructor who turned on ``/digest dm`` (kind
  ``digest:dm``; its first message points to the leads channel).
* Scheduled per cohort with ``/course digest schedule`` (scheduler kind ``"digest"``; the
  ledger makes it at most once per week per cohort, across restarts). A break week or a
  term that is not running sends nothing; a cohort with no calendar still gets its digest.
* :meth:`DigestService.send_final` — the final digest at close-term (registered as the
  ``"digest"`` step of ``TermService`` by ``cogs.digest.cog``; at most once a day per cohort).

Every digest message is an outbox row (dedupe key ``<cohort>:<occasion>:<part>``, the
occasion being the scheduler's slot, ``final:<local date>`` or ``now:<unix time>``), so a
restart between queueing and sending neither loses nor repeats one; the scheduler's ledger
makes the weekly digest at most once per slot. ``/digest now`` and the final digest wait for
the first message to be delivered to answer with its link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import InitVar, dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import discord

from bot.calendar import describe_week
from bot.clock import Clock
from bot.course_calendar import AwayService, CalendarService
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.outbox.repository import NewOutboxRow, OutboxAttachment
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.schedule_math import is_valid_timezone
from bot.scheduler import ScheduledRun
from bot.store.guilds import Cohort
from bot.store.ledger import LedgerRepository
from bot.store.schedules import Schedule, ScheduleRepository
from cogs.coffee_chats import MatchingService
from cogs.coffee_shop import CoffeeService
from cogs.digest.not_arrived import not_arrived_csv, not_arrived_dm_line, not_arrived_messages
from cogs.digest.render import chart_description, csv_bytes, render_chart, weekly_csv_bytes
from cogs.digest.repository import ActivityAggregate, DigestRepository, FollowUpRecord
from cogs.digest.rules import (
    DigestModel,
    DigestSettings,
    EmbedSpec,
    FollowUpState,
    MessageSpec,
    StudentRow,
    headline,
    needs_attention,
    paginate,
    student_rows,
    week_windows,
)
from cogs.digest.tally import (
    DigestInputs,
    IntroAggregate,
    StudentRef,
    chart_points,
    csv_name,
    digest_title,
    highlights,
    student_facts,
    week_totals,
)
from cogs.introductions import IntroService
from cogs.nudges import NudgeEngine
from cogs.prompts import PromptService
from cogs.roster import RosterService

__all__ = [
    "DIGEST_KIND",
    "DM_KIND",
    "FINAL_KIND",
    "VIEW_KEY",
    "BuiltDigest",
    "DigestService",
    "StudentRef",
    "follow_up_args",
    "parse_follow_up_args",
]

log = logging.getLogger(__name__)

DIGEST_KIND = "digest"
FINAL_KIND = "digest:final"
DM_KIND = "digest:dm"
#: the outbox view factory cogs.digest.cog registers (args: see :func:`follow_up_args`)
VIEW_KEY = "digest:follow-up"
CHART_FILE = "participation.png"
CHART_WEEKS = 12
ViewFactory = Callable[[int, Sequence[tuple[int, int]]], discord.ui.View]


def follow_up_args(cohort_id: int, rows: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    """An outbox row's view args for the follow-up buttons: the cohort, then one
    ``position:user id`` per needs-attention row."""
    return (str(cohort_id), *(f"{position}:{user_id}" for position, user_id in rows))


def parse_follow_up_args(args: Sequence[str]) -> tuple[int, list[tuple[int, int]]]:
    cohort_id, *rows = args
    pairs = [tuple(int(x) for x in row.split(":", 1)) for row in rows]
    return int(cohort_id), [(p[0], p[1]) for p in pairs]


@dataclass
class BuiltDigest:
    guild_id: int
    cohort: Cohort
    as_of: datetime
    model: DigestModel
    messages: list[MessageSpec]
    csv: bytes
    csv_name: str
    chart_png: bytes | None
    chart_alt: str
    timings: dict[str, float] = field(default_factory=dict)
    #: the roster's count line for the DM copies (the names stay in the leads channel)
    not_arrived_line: str | None = None
    #: how many of ``messages`` are the roster's list pages (not needs-attention pages)
    not_arrived_pages: int = 0


@dataclass
class Delivery:
    """What :meth:`DigestService.deliver` queued (and, once awaited, what was sent)."""

    row_ids: list[int] = field(default_factory=list)
    dm_row_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    jump_url: str | None = None


def to_embed(spec: EmbedSpec, *, with_image: bool = True) -> discord.Embed:
    embed = discord.Embed(
        title=spec.title or None, description=spec.description or None, colour=0x5865F2
    )
    for f in spec.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    if spec.image and with_image:
        embed.set_image(url=spec.image)
    return embed


#: Alumni mentors' numbers for a cohort and window (see ``DigestService.attach_mentors``).
MentorSource = Callable[[int, int, datetime, datetime], Awaitable[tuple[str, frozenset[int]]]]


def _mentor_field(line: str | None) -> list[tuple[str, str]]:
    if line is None:
        return []
    name, _, value = line.partition(": ")
    return [(name, value)]


@dataclass(eq=False, kw_only=True)
class DigestService:
    repository: DigestRepository
    setup: GuildSettings
    roster: Roster
    calendar: CalendarService
    away: AwayService
    nudges: NudgeEngine
    coffee: CoffeeService
    prompts: PromptService
    intros: IntroService
    # Coffee chats (``week_outcomes``, ``matched_twice_without_meeting``,
    # ``reported_between``); without them its numbers are "not available".
    matching: InitVar[MatchingService | None] = None
    ledger: LedgerRepository
    schedules: ScheduleRepository
    clock: Clock
    # Buffered activity is written first, so the digest counts everything up to as_of.
    before_compute: Callable[[], Awaitable[object]] | None = None
    # The course roster: who is enrolled but not on the server yet (leads only).
    enrolment: RosterService | None = None
    _matching: MatchingService | None = field(init=False, default=None)
    _client: discord.Client | None = field(init=False, default=None)
    _view_factory: ViewFactory | None = field(init=False, default=None)
    _outbox: OutboxService | None = field(init=False, default=None)
    #: alumni mentors' numbers (``attach_mentors``); None: "not available"
    _mentors: MentorSource | None = field(init=False, default=None)

    def __post_init__(self, matching: MatchingService | None) -> None:
        self._matching = matching  # private: a test takes it away

    def attach_mentors(self, source: MentorSource | None) -> None:
        """Alumni mentors attach ``source(guild_id, cohort_id, start, end)`` → (the line
        "Mentor pairs: …", the students with a mentor)."""
        self._mentors = source

    def attach(
        self,
        client: discord.Client | None,
        view_factory: ViewFactory | None,
        outbox: OutboxService | None = None,
    ) -> None:
        """Called by cogs.digest.cog: the client (to find guilds for scheduled runs), the
        builder of the persistent follow-up buttons, and the outbox that delivers."""
        self._client = client
        self._view_factory = view_factory
        self._outbox = outbox

    # ------------------------------------------------------------------ settings

    async def zone(self, guild_id: int) -> ZoneInfo:
        config = await self.setup.config(guild_id)
        name = config.timezone if config else "UTC"
        return ZoneInfo(name if is_valid_timezone(name) else "UTC")

    async def set_schedule(self, guild_id: int, cohort: Cohort, weekday: int, at: time) -> Schedule:
        zone = await self.zone(guild_id)
        at = at.replace(second=0, microsecond=0)
        return await self.schedules.save_weekly(
            guild_id, cohort.cohort_id, DIGEST_KIND, weekday, at, zone.key, now=self.clock.now()
        )

    async def save_settings(self, guild_id: int, cohort: Cohort, settings: DigestSettings) -> None:
        await self.repository.save_settings(
            guild_id, cohort.cohort_id, settings, now=self.clock.now()
        )

    async def set_dm(self, guild_id: int, user_id: int, enabled: bool) -> None:
        await self.repository.set_dm(guild_id, user_id, enabled, now=self.clock.now())

    # ------------------------------------------------------------------ follow-ups

    async def _follow_up_cohort(self, guild: discord.Guild, cohort_id: int, user_id: int) -> Cohort:
        """The cohort of a follow-up, after checking the ids (they may come from a button's
        custom_id): the cohort exists, and the student is on its roster (or already has a
        follow-up there, e.g. after leaving the cohort)."""
        cohort = await self._cohort(guild.id, cohort_id)
        if cohort is None:
            raise UserFacingError("That digest belongs to a cohort that no longer exists.")
        known = await self.repository.follow_up(guild.id, cohort_id, user_id)
        if known is None:
            students = {m.id for m in await self.roster.students(guild, cohort)}
            if user_id not in students:
                raise UserFacingError(
                    f"That person is not a student of {cohort.name}; nothing was recorded."
                )
        return cohort

    async def set_follow_up(
        self, guild: discord.Guild, cohort_id: int, user_id: int, state: FollowUpState, lead_id: int
    ) -> FollowUpRecord:
        """Record who on the team took a student (shown in this digest and later ones for
        FOLLOW_UP_CARRY_DAYS days)."""
        await self._follow_up_cohort(guild, cohort_id, user_id)
        return await self.repository.set_follow_up(
            guild.id, cohort_id, user_id, state, lead_id, now=self.clock.now()
        )

    async def clear_follow_up(
        self, guild: discord.Guild, cohort_id: int, user_id: int
    ) -> FollowUpRecord | None:
        """Forget who took a student (a mis-click, or "look again"); returns what was cleared,
        None when nothing was recorded."""
        await self._follow_up_cohort(guild, cohort_id, user_id)
        return await self.repository.clear_follow_up(guild.id, cohort_id, user_id)

    async def follow_up_cohort_of(
        self, guild: discord.Guild, student: discord.Member, cohort_name: str | None
    ) -> Cohort:
        """For /digest follow-up: the named cohort, else the one the student studies in."""
        if cohort_name is not None and cohort_name.strip():
            return await self.setup.resolve_cohort(guild.id, cohort_name)
        cohorts = await self.roster.cohorts_of(student)
        if len(cohorts) == 1:
            return cohorts[0]
        if cohorts:
            names = ", ".join(c.name for c in cohorts)
            raise UserFacingError(
                f"{student.display_name} is in several cohorts ({names}): add cohort:. "
                "Nothing was recorded."
            )
        everyone = await self.setup.cohorts(guild.id)
        if len(everyone) == 1:  # a former student may still have a follow-up there
            return everyone[0]
        raise UserFacingError(
            f"{student.display_name} is not a student of any cohort; nothing was recorded."
        )

    # ------------------------------------------------------------------ compute

    async def compute(
        self,
        guild_id: int,
        cohort: Cohort,
        students: Sequence[StudentRef],
        as_of: datetime,
        *,
        name_of: Callable[[int], str] | None = None,
        final: bool = False,
        chart: bool = True,
        weeks: int = CHART_WEEKS,
    ) -> BuiltDigest:
        """Everything the digest shows, from the database, for these students: the queries
        (:meth:`gather`), then the pure rules (:mod:`cogs.digest.tally`,
        :mod:`cogs.digest.rules`), then the chart (in a worker thread) and the CSV."""
        if self.before_compute is not None:
            await self.before_compute()
        clock = asyncio.get_running_loop().time
        started = clock()
        timings: dict[str, float] = {}
        zone = await self.zone(guild_id)
        settings = await self.repository.settings(guild_id, cohort.cohort_id)
        windows = week_windows(as_of, zone, max(2, weeks))
        ids = [s.user_id for s in students]
        data = await self.gather(guild_id, cohort.cohort_id, ids, windows, as_of, settings)
        roster = set(ids)
        timings["queries"] = clock() - started

        lookup = name_of or (lambda uid: str(uid))
        facts = student_facts(students, data, as_of, lookup)
        this_totals, last_totals = week_totals(data, roster)
        attention = needs_attention(facts, as_of, settings)
        rows = student_rows(facts, attention, zone)
        timings["compute"] = clock() - started - timings["queries"]

        week = await self.calendar.week_of(guild_id, cohort.cohort_id, as_of - timedelta(seconds=1))
        model = DigestModel(
            title=digest_title(cohort.name, describe_week(week), as_of, zone, final=final),
            this_week=this_totals,
            last_week=last_totals,
            headline=headline(this_totals, last_totals),
            attention=attention,
            rows=rows,
            highlights=highlights(guild_id, data.prompts, lookup, this_totals),
            pulse_lines=data.coffee_now.pulse.lines(),
        )
        points = chart_points(data, roster, zone)
        alt = chart_description(points, len(roster))
        mark = clock()
        # matplotlib takes ~100 ms: off the event loop (render_chart is thread-safe).
        chart_title = f"{cohort.name}: participation per week"
        png = await asyncio.to_thread(render_chart, points, chart_title) if chart else None
        timings["chart"] = clock() - mark
        mark = clock()
        data_csv = csv_bytes(rows)
        timings["csv"] = clock() - mark
        messages = paginate(
            model,
            chart_description=alt,
            cohort_name=cohort.name,
            extra_fields=_mentor_field(data.mentor_line),
        )
        timings["total"] = clock() - started
        return BuiltDigest(
            guild_id=guild_id,
            cohort=cohort,
            as_of=as_of,
            model=model,
            messages=messages,
            csv=data_csv,
            csv_name=csv_name(cohort.name, as_of, zone),
            chart_png=png,
            chart_alt=alt,
            timings=timings,
        )

    async def gather(
        self,
        guild_id: int,
        cohort_id: int,
        user_ids: Sequence[int],
        windows: Sequence[tuple[datetime, datetime]],
        as_of: datetime,
        settings: DigestSettings,
    ) -> DigestInputs:
        """Every number the digest reads, for these students: the digest's own aggregates and
        the other features' counts, each through its public service.

        The activity read, by far the largest, runs beside the others: on PostgreSQL it has
        connections of its own from the pool (on SQLite every read still takes its turn)."""
        activity_read = asyncio.create_task(self.repository.activity(guild_id, user_ids, windows))
        try:
            inputs = await self._gather_counts(guild_id, cohort_id, windows, as_of, settings)
        except BaseException:
            activity_read.cancel()
            await asyncio.gather(activity_read, return_exceptions=True)
            raise
        return replace(inputs, activity=await activity_read)

    async def _gather_counts(
        self,
        guild_id: int,
        cohort_id: int,
        windows: Sequence[tuple[datetime, datetime]],
        as_of: datetime,
        settings: DigestSettings,
    ) -> DigestInputs:
        """Every number of :meth:`gather` but the activity (left empty)."""
        (this_start, this_end), (last_start, last_end) = windows[0], windows[1]
        intros = IntroAggregate(
            introduced_at=await self.intros.first_posted_times(guild_id),
            arrived_at=await self.intros.arrival_times(guild_id),
            welcomed_by=await self.intros.welcome_counts(guild_id),
        )
        prompts = await self.prompts.window_counts(
            guild_id,
            cohort_id,
            windows,
            unanswered_from=as_of - timedelta(days=settings.unanswered_window_days),
            unanswered_until=as_of - timedelta(hours=settings.unanswered_after_hours),
        )
        coffee_now = await self.coffee.week_stats(guild_id, this_start, this_end, cohort_id)
        coffee_then = await self.coffee.week_stats(guild_id, last_start, last_end, cohort_id)
        away = await self.away.away_users(guild_id, as_of)
        dm_closed = await self.nudges.dm_closed_users(guild_id)
        follow_ups = await self.repository.follow_ups(guild_id, cohort_id)
        match_now = match_then = None
        twice: set[int] = set()
        reported: set[int] = set()
        m = self._matching
        if m is not None:
            match_now = await m.week_outcomes(guild_id, cohort_id, this_start, this_end)
            match_then = await m.week_outcomes(guild_id, cohort_id, last_start, last_end)
            twice = await m.matched_twice_without_meeting(guild_id, cohort_id, as_of)
            reported, _ = await m.reported_between(guild_id, cohort_id, this_start, as_of)
        with_mentor: frozenset[int] | None = None
        mentor_line: str | None = None
        if self._mentors is not None:
            mentor_line, with_mentor = await self._mentors(guild_id, cohort_id, this_start, as_of)
        return DigestInputs(
            windows=windows,
            activity=ActivityAggregate(),
            intros=intros,
            prompts=prompts,
            coffee_now=coffee_now,
            coffee_then=coffee_then,
            away=away,
            dm_closed=dm_closed,
            follow_ups=follow_ups,
            match_now=match_now,
            match_then=match_then,
            matched_twice=twice,
            reported=reported,
            with_mentor=with_mentor,
            mentor_line=mentor_line,
        )

    async def build(
        self, guild: discord.Guild, cohort: Cohort, as_of: datetime, *, final: bool = False
    ) -> BuiltDigest:
        members = await self.roster.students(guild, cohort)
        refs = [StudentRef(m.id, m.display_name, m.joined_at) for m in members]

        def name_of(user_id: int) -> str:
            member = guild.get_member(user_id)
            return member.display_name if member else "a former member"

        built = await self.compute(guild.id, cohort, refs, as_of, name_of=name_of, final=final)
        return await self._with_not_arrived(guild, built)

    async def _with_not_arrived(self, guild: discord.Guild, built: BuiltDigest) -> BuiltDigest:
        """Adds the roster's students who never arrived, when the server has a roster."""
        if self.enrolment is None:
            return built
        found = await self.enrolment.not_arrived(
            guild, built.cohort.cohort_id, built.as_of - timedelta(days=7)
        )
        if not found.students:
            return built
        people = [(s.name, s.lms_id) for s in found.students]
        pages = not_arrived_messages(len(people), found.new_this_week, people)
        built.messages.extend(pages)
        built.not_arrived_pages = len(pages)
        built.not_arrived_line = not_arrived_dm_line(len(people), found.new_this_week)
        built.csv = not_arrived_csv(built.csv, people)
        return built

    # ------------------------------------------------------------------ deliver

    async def leads_channel(self, guild: discord.Guild) -> discord.TextChannel | None:
        """The leads channel only while it is private to staff (the digest names students)."""
        return await self.setup.leads_channel_or_warn(guild, "A digest note")

    @staticmethod
    def _files(built: BuiltDigest) -> list[OutboxAttachment]:
        files = [OutboxAttachment(built.csv_name, built.csv)]
        if built.chart_png is not None:
            files.insert(0, OutboxAttachment(CHART_FILE, built.chart_png, built.chart_alt[:1024]))
        return files

    async def deliver(
        self, guild: discord.Guild, built: BuiltDigest, *, occasion: str, dms: bool = True
    ) -> Delivery:
        """Queue the digest in the outbox; ``occasion`` makes its dedupe keys (queueing the
        same occasion twice is a no-op)."""
        if self._outbox is None:
            raise RuntimeError("the digest's outbox is not attached")
        # Raises (nothing queued) when it is missing or students could read it.
        channel = await self.setup.private_leads_channel(guild)
        cohort_id = built.cohort.cohort_id
        base = f"{cohort_id}:{occasion}"
        with_image = built.chart_png is not None
        rows: list[NewOutboxRow] = []
        for index, spec in enumerate(built.messages):
            buttons = bool(spec.buttons and self._view_factory is not None)
            rows.append(
                self._outbox.new_row(
                    guild_id=guild.id,
                    cohort_id=cohort_id,
                    kind=DIGEST_KIND,
                    dedupe_key=f"{base}:{index}",
                    channel_id=channel.id,
                    content=spec.content or None,
                    embeds=[to_embed(e, with_image=with_image) for e in spec.embeds],
                    attachments=self._files(built) if spec.attach_files else (),
                    view_key=VIEW_KEY if buttons else None,
                    view_args=follow_up_args(cohort_id, spec.buttons) if buttons else (),
                )
            )
        dm_rows = await self._dm_rows(guild, built, base, channel.id) if dms else []
        ids = await self._outbox.enqueue_rows([*rows, *dm_rows])
        return Delivery(
            row_ids=[i for i in ids[: len(rows)] if i is not None],
            dm_row_ids=[i for i in ids[len(rows) :] if i is not None],
        )

    async def _dm_rows(
        self, guild: discord.Guild, built: BuiltDigest, base: str, channel_id: int
    ) -> list[NewOutboxRow]:
        """A copy without buttons or files for each lead who turned on /digest dm."""
        assert self._outbox is not None
        subscribers = await self.repository.dm_subscribers(guild.id)
        if not subscribers:
            return []
        config = await self.setup.config(guild.id)
        # The compact list pages of a large cohort stay in the leads channel.
        list_pages = sum(1 for spec in built.messages if spec.list_page)
        list_pages -= built.not_arrived_pages
        rows = []
        for user_id in sorted(subscribers):
            member = guild.get_member(user_id)
            if member is None or not self._receives(member, built.cohort, config):
                continue
            for index, spec in enumerate(built.messages):
                if spec.list_page:
                    continue
                content = spec.content
                if index == 0:
                    if built.not_arrived_line is not None:
                        content = f"{content}\n{built.not_arrived_line}"
                    content = f"{content}\nAct on it in the leads channel: <#{channel_id}>"
                    if list_pages:
                        content += (
                            f" (the rest of the needs-attention list, {list_pages} more "
                            "page(s), is there too)"
                        )
                rows.append(
                    self._outbox.new_row(
                        guild_id=guild.id,
                        cohort_id=built.cohort.cohort_id,
                        kind=DM_KIND,
                        dedupe_key=f"{base}:{user_id}:{index}",
                        user_id=user_id,
                        content=content.strip() or None,
                        embeds=[to_embed(e, with_image=False) for e in spec.embeds],
                    )
                )
        return rows

    async def delivered(
        self,
        guild_id: int,
        delivery: Delivery,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Delivery:
        """Wait for the leads-channel messages to go out; fills ``message_ids`` and
        ``jump_url`` (None while they are still queued)."""
        if self._outbox is None or not delivery.row_ids:
            return delivery
        rows = await self._outbox.wait_settled(guild_id, delivery.row_ids, timeout)
        sent = [r for r in rows if r.state == "sent" and r.message_id is not None]
        delivery.message_ids = [r.message_id for r in sent if r.message_id is not None]
        if sent and sent[0].id == delivery.row_ids[0]:
            first = sent[0]
            delivery.jump_url = (
                f"https://discord.com/channels/{guild_id}/{first.channel_id}/{first.message_id}"
            )
        return delivery

    @staticmethod
    def _receives(member: discord.Member, cohort: Cohort, config: Any) -> bool:
        roles = {r.id for r in member.roles}
        if cohort.lead_role_id is not None and cohort.lead_role_id in roles:
            return True
        if member.guild_permissions.manage_guild:
            return True
        return bool(config and config.instructor_role_id and config.instructor_role_id in roles)

    # ------------------------------------------------------------------ runs

    async def _cohort(self, guild_id: int, cohort_id: int) -> Cohort | None:
        return next(
            (c for c in await self.setup.cohorts(guild_id) if c.cohort_id == cohort_id), None
        )

    async def run_scheduled(self, run: ScheduledRun) -> None:
        """The scheduler's handler for kind "digest" (the slot is already claimed)."""
        guild = self._client.get_guild(run.guild_id) if self._client else None
        cohort = await self._cohort(run.guild_id, run.cohort_id)
        if guild is None or cohort is None:
            log.warning(
                "Digest for guild %s cohort %s skipped: guild or cohort not found",
                run.guild_id,
                run.cohort_id,
            )
            return
        week = await self.calendar.week_of(guild.id, cohort.cohort_id, run.occurrence)
        if week.state == "break" or (week.state == "not_running" and week.reason != "no calendar"):
            log.info("Digest for %s skipped: %s", cohort.name, describe_week(week))
            return
        built = await self.build(guild, cohort, run.occurrence)
        try:
            await self.deliver(guild, built, occasion=run.slot)
        except UserFacingError as error:
            log.warning("Digest for guild %s not delivered: %s", guild.id, error.message)

    async def send_final(self, guild: discord.Guild, cohort: Cohort) -> str:
        """The final digest at close-term: at most once a day per cohort."""
        now = self.clock.now()
        zone = await self.zone(guild.id)
        slot = now.astimezone(zone).date().isoformat()
        claimed = await self.ledger.claim(guild.id, cohort.cohort_id, FINAL_KIND, slot, now=now)
        if not claimed:
            return "ℹ️ Final digest: already posted today."
        built = await self.build(guild, cohort, now, final=True)
        try:
            delivery = await self.deliver(guild, built, occasion=f"final:{slot}")
        except UserFacingError as error:
            await self.ledger.mark(guild.id, cohort.cohort_id, FINAL_KIND, slot, "failed")
            return f"❌ Final digest: {error.message}"
        await self.ledger.mark(guild.id, cohort.cohort_id, FINAL_KIND, slot, "done")
        delivery = await self.delivered(guild.id, delivery)
        if delivery.jump_url is None:
            return "✅ Final digest queued for the leads channel (see /course status)."
        return f"✅ Final digest posted for the leads: {delivery.jump_url}"

    async def send_now(self, guild: discord.Guild, cohort: Cohort) -> Delivery:
        now = self.clock.now()
        built = await self.build(guild, cohort, now)
        delivery = await self.deliver(
            guild, built, occasion=f"now:{int(now.timestamp())}", dms=False
        )
        return await self.delivered(guild.id, delivery)

    async def export(self, guild: discord.Guild, cohort: Cohort, weeks: int) -> tuple[str, bytes]:
        """The per-student CSV; counts cover the last ``weeks`` weeks (1–12)."""
        if not 1 <= weeks <= CHART_WEEKS:
            raise UserFacingError(f"weeks must be 1–{CHART_WEEKS}.")
        now = self.clock.now()
        built = await self.build(guild, cohort, now)
        if weeks == 1:
            return built.csv_name, built.csv
        return await self._export_weeks(guild, cohort, built, weeks)

    async def _export_weeks(
        self, guild: discord.Guild, cohort: Cohort, built: BuiltDigest, weeks: int
    ) -> tuple[str, bytes]:
        zone = await self.zone(guild.id)
        members = await self.roster.students(guild, cohort)
        refs = [StudentRef(m.id, m.display_name, m.joined_at) for m in members]
        parts: list[tuple[str, Sequence[StudentRow]]] = []
        for k in reversed(range(weeks)):  # oldest week first
            as_of = built.as_of - timedelta(days=7 * k)
            part = await self.compute(guild.id, cohort, refs, as_of, chart=False, weeks=2)
            start = (as_of - timedelta(days=7)).astimezone(zone).date().isoformat()
            parts.append((start, part.model.rows))
        name = built.csv_name.replace(".csv", f"-{weeks}-weeks.csv")
        return name, weekly_csv_bytes(parts)
