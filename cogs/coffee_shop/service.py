"""Coffee-shop use cases: posts, kudos, milestones, the weekly pulse, the social question,
the milestone roundup and the week's numbers for the digest.

Nothing here talks to Discord. Builders return :class:`cogs.coffee_shop.rules.Post` values; the cog
sends
the interactive ones (/celebrate, /share, /kudos) at once. The scheduled ones — the coffee-shop
question, the weekly pulse and the milestone roundup — go through the outbox
(:meth:`CoffeeService.queue_post`), on the course calendar:

* The coffee shop is server-wide while calendars are per cohort. A scheduled post goes out
  unless *every* cohort is in a break week or not running (before its start, after its end, or
  its term closed) at the occurrence; a cohort without a calendar counts as running, so a
  server that never set a calendar keeps its coffee shop. A post an instructor asks for with
  ``/course coffee post`` is not held back by the calendar.
* ``/course upcoming`` lists the coming occurrences (not those in break weeks) with skip (every
  kind) and edit (the question's text), stored as one-off overrides keyed
  ``coffee:<kind>:<local date>`` and read when the slot runs. An edited question does not use
  up a question of the bank.
* Outbox kinds equal the schedule kinds; dedupe keys are ``slot:<local date>`` for scheduled
  posts, ``pulse:<pulse id>`` for the pulse (one a week, scheduled or not) and
  ``manual:<unix time>`` for the others posted by hand. The pulse's message id is recorded
  when the outbox reports it sent (``on_sent``), also after a restart's reconciliation.

Milestone notes go through a notifier the coffee cog attaches at load time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Final, Literal, Protocol, Unpack
from zoneinfo import ZoneInfo

from bot.calendar import WeekStatus
from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.outbox.repository import OccasionOverride, OutboxRow
from bot.outbox.service import OutboxService
from bot.schedule_math import is_valid_timezone, next_occurrence, slot_key
from bot.store.schedules import Schedule, ScheduleRepository
from bot.templates import DATA_DIR, Templates
from bot.text import TextError, clean_user_text, discord_time
from bot.upcoming import UpcomingItem, UpcomingRegistry
from cogs.coffee_shop.posts_repository import NewKudos, NewPost
from cogs.coffee_shop.repository import CoffeeConfig, CoffeePost, CoffeeStore, Pulse
from cogs.coffee_shop.rules import (
    CELEBRATION_KINDS,
    KUDOS_REASON_LIMIT,
    MAX_CIRCLE_SIZE,
    MILESTONE_NOTES,
    MILESTONES,
    PULSE_LABELS,
    SHARE_TEXT_LIMIT,
    Post,
    PostKind,
    WeekStats,
    check_milestone,
    embed_dict,
    kudos_next_allowed,
    next_question_index,
    pulse_post,
    pulse_week,
    question_post,
    roundup_post,
    share_post,
    summarize_pulse,
)

log = logging.getLogger(__name__)

__all__ = [
    "COFFEE_KINDS",
    "KIND_PULSE",
    "KIND_QUESTION",
    "KIND_ROUNDUP",
    "PULSE_VIEW_KEY",
    "CoffeeService",
    "MilestoneNotifier",
    "MilestoneService",
    "NoteOutcome",
    "QueuedPost",
    "embed_dict",
    "load_questions",
]

KIND_QUESTION: Final = "coffee_question"
KIND_PULSE: Final = "coffee_pulse"
KIND_ROUNDUP: Final = "coffee_roundup"
#: what → schedule kind, for `/course coffee schedule what:…`
COFFEE_KINDS: Final[dict[str, str]] = {
    "question": KIND_QUESTION,
    "pulse": KIND_PULSE,
    "roundup": KIND_ROUNDUP,
}
COFFEE_KIND_LABELS: Final[dict[str, str]] = {
    KIND_QUESTION: "coffee-shop question",
    KIND_PULSE: "weekly pulse",
    KIND_ROUNDUP: "milestone roundup",
}

NoteOutcome = Literal["sent", "dm_closed", "failed"]
#: the outbox view factory the coffee cog registers: args (pulse id, week "YYYYMMDD")
PULSE_VIEW_KEY: Final = "coffee:pulse"
QUESTION_TEXT_LIMIT: Final = 1000
QueueStatus = Literal[
    "queued", "empty", "already_posted", "skipped", "break", "not_running", "no_channel"
]


class CourseWeeks(Protocol):
    """``app.calendar``: what a cohort's course week is at an instant."""

    async def week_of(self, guild_id: int, cohort_id: int, instant: datetime) -> WeekStatus: ...


@dataclass(frozen=True)
class QueuedPost:
    """What :meth:`CoffeeService.queue_post` did: ``row_id`` for ``queued``."""

    status: QueueStatus
    row_id: int | None = None
    detail: str = ""


def occasion_key(kind: str, slot: str) -> str:
    """The /course upcoming key of one scheduled coffee-shop post."""
    return f"coffee:{kind}:{slot}"


def load_questions(path: Path | None = None) -> tuple[str, ...]:
    """The shipped coffee-shop question bank (data/coffee_questions.json)."""
    source = path or DATA_DIR / "coffee_questions.json"
    raw = json.loads(source.read_text(encoding="utf-8"))
    questions = tuple(str(q).strip() for q in raw["questions"] if str(q).strip())
    if not questions:
        raise ValueError(f"{source} holds no questions")
    return questions


def _user_text(text: str | None, *, field: str, limit: int) -> str:
    try:
        return clean_user_text(text, field=field, limit=limit)
    except TextError as error:
        raise UserFacingError(f"{error} Nothing was posted.") from error


# ---------------------------------------------------------------------- milestones


#: outbox kind of a milestone note (a DM); dedupe key ``<user id>:<milestone>``
KIND_MILESTONE_NOTE: Final = "coffee:milestone-note"


class MilestoneNotifier(Protocol):
    """What the milestone service needs from Discord (the coffee cog implements it)."""

    async def cohort_of(self, guild_id: int, user_id: int) -> int:
        """The student's first cohort id, 0 if none."""
        ...


@dataclass(eq=False, kw_only=True)
class MilestoneService:
    """Other features report milestones here::

        await app.services.get(MilestoneService).reached(guild_id, user_id, "intro_posted")

    Milestones: ``intro_posted``, ``first_answer``, ``first_peer_reply``, ``first_chat_met``,
    ``course_completed`` (only from ``/course coffee completed``: an instructor marks it).
    Each is recorded at most once per student (later calls return False and do nothing). A
    student who turned milestone notes on (``/coffee settings``, off by default) gets a
    private DM, queued in the outbox (kind ``coffee:milestone-note``) so a button or command
    that reports a milestone answers its interaction first and never waits on a DM; a closed
    DM (50007) shows as ``dm_closed`` and is skipped. The weekly roundup in the coffee shop
    counts milestones without naming anyone.
    """

    store: CoffeeStore
    templates: Templates
    clock: Clock
    _notifier: MilestoneNotifier | None = field(init=False, default=None)
    _outbox: OutboxService | None = field(init=False, default=None)

    def attach_notifier(
        self, notifier: MilestoneNotifier | None, outbox: OutboxService | None = None
    ) -> None:
        self._notifier = notifier
        self._outbox = outbox

    async def reached(self, guild_id: int, user_id: int, milestone: str) -> bool:
        """Record a milestone; True when it is the student's first time. Never raises for a
        failed note (the milestone stays recorded)."""
        check_milestone(milestone)
        notifier = self._notifier
        cohort_id = await notifier.cohort_of(guild_id, user_id) if notifier else 0
        first = await self.store.milestones.record(
            guild_id, user_id, milestone, cohort_id=cohort_id, now=self.clock.now()
        )
        if not first or not await self.store.settings.milestones_on(guild_id, user_id):
            return first
        outcome: NoteOutcome = "failed"
        if self._outbox is not None:
            text = await self.templates.render(
                guild_id, "coffee_milestone_note", milestone=MILESTONE_NOTES[milestone]
            )
            await self._outbox.enqueue(
                guild_id=guild_id,
                cohort_id=cohort_id,
                kind=KIND_MILESTONE_NOTE,
                dedupe_key=f"{user_id}:{milestone}",
                user_id=user_id,
                content=text,
            )
            outcome = "sent"  # handed to the outbox; of_user shows how delivery went
        else:
            log.warning("milestone note not queued (guild %s): no outbox attached", guild_id)
        await self.store.milestones.set_note(guild_id, user_id, milestone, outcome)
        return first

    async def of_user(self, guild_id: int, user_id: int) -> dict[str, str]:
        """milestone → note state: 'off', 'queued', 'sent', 'dm_closed' or 'failed'."""
        notes = await self.store.milestones.of_user(guild_id, user_id)
        if self._outbox is None:
            return notes
        for milestone, note in notes.items():
            if note != "sent":
                continue
            row = await self._outbox.lookup(guild_id, KIND_MILESTONE_NOTE, f"{user_id}:{milestone}")
            if row is None or row.state == "sent":
                continue
            if row.state == "failed":
                notes[milestone] = "dm_closed" if row.last_error == "dm_closed" else "failed"
            else:
                notes[milestone] = "queued"
        return notes


# ---------------------------------------------------------------------- the coffee shop


@dataclass(frozen=True)
class PulseAnswer:
    """What happened when a student clicked a pulse button."""

    recorded: bool
    reach_out: bool
    pulse: Pulse


@dataclass(eq=False, kw_only=True)
class CoffeeService:
    """The coffee shop's use cases. Digest-facing read API: :meth:`week_stats`."""

    store: CoffeeStore
    setup: GuildSettings
    templates: Templates
    clock: Clock
    schedules: ScheduleRepository
    questions: Sequence[str]
    _outbox: OutboxService | None = field(init=False, default=None)
    _calendar: CourseWeeks | None = field(init=False, default=None)
    _overrides: UpcomingRegistry | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.questions = tuple(self.questions)  # a copy the caller cannot change

    def attach_course_clock(
        self,
        *,
        outbox: OutboxService | None,
        calendar: CourseWeeks | None,
        overrides: UpcomingRegistry | None,
    ) -> None:
        """Called by the coffee cog: scheduled posts go through ``outbox``, follow
        ``calendar`` and the instructor's one-off ``overrides`` (``/course upcoming``)."""
        self._outbox = outbox
        self._calendar = calendar
        self._overrides = overrides
        if outbox is not None:
            outbox.on_sent(KIND_PULSE, self._pulse_sent)

    # ----- posts -------------------------------------------------------------------------

    async def build_share(
        self,
        guild_id: int,
        *,
        kind: PostKind,
        text: str,
        author_name: str,
        author_mention: str,
        anonymous: bool,
    ) -> Post:
        """A celebration / life update / rough-week post, text validated (empty, invisible
        or over-long text raises UserFacingError)."""
        cleaned = _user_text(text, field="Your post", limit=SHARE_TEXT_LIMIT)
        if anonymous and kind in CELEBRATION_KINDS:
            anonymous = False  # a celebration credits the student
        support = (
            await self.templates.render(guild_id, "coffee_support_links")
            if kind == "rough_week"
            else None
        )
        return share_post(
            kind=kind,
            text=cleaned,
            author_name=None if anonymous else author_name,
            author_mention=None if anonymous else author_mention,
            support_links=support,
        )

    async def record_post(self, **post: Unpack[NewPost]) -> int:
        return await self.store.posts.add(**post, now=self.clock.now())

    async def author_of(self, guild_id: int, message_id: int) -> CoffeePost:
        post = await self.store.posts.by_message(guild_id, message_id)
        if post is None:
            raise UserFacingError(
                "That message isn't a /celebrate or /share post in this server. Use "
                "“Copy Message Link” on the post in the coffee shop."
            )
        return post

    async def count_response(
        self, guild_id: int, message_id: int, user_id: int, what: Literal["reactions", "replies"]
    ) -> bool:
        return await self.store.posts.count_response(guild_id, message_id, user_id, what)

    async def celebration_reaction(
        self, guild_id: int, message_id: int, user_id: int, emoji: str, *, added: bool
    ) -> bool:
        """A student's reaction added to or removed from a celebration (the caller checked
        that an added one is a student's); True when the count changed."""
        posts = self.store.posts
        if added:
            return await posts.add_reaction(
                guild_id, message_id, user_id, emoji, now=self.clock.now()
            )
        return await posts.remove_reaction(guild_id, message_id, user_id, emoji)

    # ----- kudos -------------------------------------------------------------------------

    async def config(self, guild_id: int) -> CoffeeConfig:
        return await self.store.config.get(guild_id)

    async def set_limits(
        self, guild_id: int, *, kudos_per_day: int | None, circle_size: int | None
    ) -> CoffeeConfig:
        current = await self.store.config.get(guild_id)
        if kudos_per_day is not None and not 1 <= kudos_per_day <= 50:
            raise UserFacingError("Kudos per day must be between 1 and 50. Nothing was changed.")
        if circle_size is not None and not 2 <= circle_size <= MAX_CIRCLE_SIZE:
            raise UserFacingError(
                f"A circle thread holds 2–{MAX_CIRCLE_SIZE} people. Nothing was changed."
            )
        updated = CoffeeConfig(
            guild_id,
            kudos_per_day if kudos_per_day is not None else current.kudos_per_day,
            circle_size if circle_size is not None else current.circle_size,
        )
        await self.store.config.save(updated)
        return updated

    async def check_kudos_allowed(self, guild_id: int, giver_id: int) -> None:
        """Raise UserFacingError when the giver reached the per-day limit."""
        now = self.clock.now()
        config = await self.store.config.get(guild_id)
        sent = await self.store.kudos.given_since(guild_id, giver_id, now - timedelta(days=1))
        allowed_at = kudos_next_allowed(sent, now, config.kudos_per_day)
        if allowed_at is not None:
            raise UserFacingError(
                f"You've given {config.kudos_per_day} kudos in the last 24 hours — that's the "
                f"daily limit. You can give the next one {discord_time(allowed_at, 'R')}. "
                "Nothing was posted."
            )

    @staticmethod
    def clean_kudos_reason(reason: str | None) -> str:
        return _user_text(reason, field="Your reason", limit=KUDOS_REASON_LIMIT)

    async def record_kudos(self, **kudos: Unpack[NewKudos]) -> int:
        return await self.store.kudos.add(**kudos, now=self.clock.now())

    # ----- student settings --------------------------------------------------------------

    async def milestones_on(self, guild_id: int, user_id: int) -> bool:
        return await self.store.settings.milestones_on(guild_id, user_id)

    async def set_milestones(self, guild_id: int, user_id: int, on: bool) -> None:
        await self.store.settings.set_milestones(guild_id, user_id, on, now=self.clock.now())

    # ----- schedules ---------------------------------------------------------------------

    async def _zone(self, guild_id: int) -> str:
        config = await self.setup.config(guild_id)
        if config is None:
            raise UserFacingError(
                "Run /course setup first: the schedule needs the course time zone."
            )
        if not is_valid_timezone(config.timezone):
            raise UserFacingError("Set a valid course time zone with /course setup first.")
        return config.timezone

    async def set_schedule(self, guild_id: int, kind: str, weekday: int, at: time) -> Schedule:
        if kind not in COFFEE_KIND_LABELS:
            raise ValueError(kind)
        zone = await self._zone(guild_id)
        return await self.schedules.save_weekly(
            guild_id, 0, kind, weekday, at, zone, now=self.clock.now()
        )

    async def remove_schedule(self, guild_id: int, kind: str) -> bool:
        return await self.schedules.delete(guild_id, 0, kind)

    async def upcoming(self, guild_id: int) -> list[tuple[str, datetime]]:
        """(what, next occurrence) of the coffee shop's enabled schedules, soonest first."""
        now = self.clock.now()
        result = []
        for schedule in await self.schedules.list_for_guild(guild_id):
            if schedule.kind not in COFFEE_KIND_LABELS or not schedule.enabled:
                continue
            when = next_occurrence(
                schedule.weekday, schedule.local_time, ZoneInfo(schedule.timezone), now
            )
            result.append((COFFEE_KIND_LABELS[schedule.kind], when))
        return sorted(result, key=lambda item: item[1])

    async def upcoming_items(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[UpcomingItem]:
        """The coffee shop's scheduled posts in [start, end) for ``/course upcoming``
        (registered with ``app.upcoming`` by the coffee cog). Question previews show the
        questions that will actually be asked, in order."""
        asked = await self.store.questions.asked(guild_id)
        items: list[UpcomingItem] = []
        for schedule in await self.schedules.list_for_guild(guild_id):
            if schedule.kind not in COFFEE_KIND_LABELS or not schedule.enabled:
                continue
            zone = ZoneInfo(schedule.timezone)
            when = next_occurrence(
                schedule.weekday, schedule.local_time, zone, start - timedelta(microseconds=1)
            )
            while when < end:
                occurrence = when
                when = next_occurrence(schedule.weekday, schedule.local_time, zone, when)
                if (await self.season(guild_id, occurrence))[0] != "running":
                    continue  # nothing goes out in a break week or after the course
                key = occasion_key(schedule.kind, slot_key(occurrence, zone))
                override = await self._override(guild_id, key)
                if override is not None and override.action == "skip":
                    continue
                edited = override.body if override is not None and override.body else None
                if schedule.kind == KIND_QUESTION and edited is not None:
                    preview = edited  # an edited question leaves the bank's order alone
                elif schedule.kind == KIND_QUESTION:
                    index = next_question_index(len(self.questions), asked, seed=guild_id)
                    asked = [*asked, index]
                    preview = self.questions[index]
                elif schedule.kind == KIND_PULSE:
                    preview = "Weekly check-in: “How is this week going?” (anonymous answers)"
                else:
                    preview = "Milestone roundup: counts of the week's milestones, no names"
                items.append(self._upcoming_item(guild_id, schedule.kind, key, occurrence, preview))
        return sorted(items, key=lambda item: item.when)

    def _upcoming_item(
        self, guild_id: int, kind: str, key: str, when: datetime, preview: str
    ) -> UpcomingItem:
        async def skip(actor_id: int) -> None:
            if self._overrides is not None:
                await self._overrides.set_override(guild_id, key, "skip", None, actor_id=actor_id)

        async def edit(text: str, actor_id: int) -> None:
            cleaned = _user_text(text, field="The question", limit=QUESTION_TEXT_LIMIT)
            if self._overrides is not None:
                await self._overrides.set_override(
                    guild_id, key, "edit", cleaned, actor_id=actor_id
                )

        question = kind == KIND_QUESTION
        return UpcomingItem(
            key=key,
            when=when,
            kind=COFFEE_KIND_LABELS[kind],
            preview=preview,
            detail="in the coffee shop",
            skip=skip,
            edit=edit if question else None,
            current_text=preview if question else None,
        )

    async def _override(self, guild_id: int, key: str) -> OccasionOverride | None:
        if self._overrides is None:
            return None
        return await self._overrides.override(guild_id, key)

    # ----- the course calendar and the outbox --------------------------------------------

    async def season(
        self, guild_id: int, instant: datetime
    ) -> tuple[Literal["running", "break", "not_running"], str]:
        """Whether the server-wide coffee shop posts at ``instant``: ``running`` unless every
        cohort is in a break week or not running (a cohort without a calendar counts as
        running; so does a server without cohorts)."""
        if self._calendar is None:
            return "running", ""
        cohorts = await self.setup.cohorts(guild_id)
        if not cohorts:
            return "running", ""
        states: list[WeekStatus] = []
        for cohort in cohorts:
            status = await self._calendar.week_of(guild_id, cohort.cohort_id, instant)
            if status.running or status.reason == "no calendar":
                return "running", ""
            states.append(status)
        if any(s.state == "break" for s in states):
            return "break", "a break week for every cohort"
        return "not_running", "no cohort's course is running"

    async def queue_post(
        self,
        guild_id: int,
        kind: str,
        *,
        channel_id: int,
        slot: str | None,
        end: datetime,
        welcome_line: str | None = None,
    ) -> QueuedPost:
        """Queue one coffee-shop post of ``kind`` in the outbox.

        ``slot`` is the scheduler's local date for a scheduled post (the calendar and the
        instructor's skip/edit apply; ``end`` is the occurrence), None for one an instructor
        asked for now. ``welcome_line`` (from intros) is appended to a question as is.
        """
        if self._outbox is None:
            raise RuntimeError("the coffee shop's outbox is not attached")
        now = self.clock.now()
        override: OccasionOverride | None = None
        if slot is not None:
            state, reason = await self.season(guild_id, end)
            if state != "running":
                return QueuedPost(state, detail=reason)
            override = await self._override(guild_id, occasion_key(kind, slot))
            if override is not None and override.action == "skip":
                return QueuedPost("skipped")
        dedupe = f"slot:{slot}" if slot is not None else f"manual:{int(now.timestamp())}"
        if kind == KIND_QUESTION:
            if override is not None and override.action == "edit" and override.body:
                index, post = None, question_post(override.body, welcome_line)
            else:
                index, post = await self.build_question(guild_id, welcome_line)
            row_id = await self._enqueue(guild_id, kind, dedupe, channel_id, post)
            if row_id is not None and index is not None:
                await self.record_question(guild_id, index, slot or f"manual:{row_id}")
            return QueuedPost("queued" if row_id else "already_posted", row_id)
        if kind == KIND_PULSE:
            pulse, post = await self.open_pulse(guild_id)
            dedupe = f"pulse:{pulse.pulse_id}"
            if pulse.message_id is not None or await self._outbox.lookup(guild_id, kind, dedupe):
                return QueuedPost("already_posted")
            week = pulse.week_start.strftime("%Y%m%d")
            row_id = await self._enqueue(
                guild_id, kind, dedupe, channel_id, post, view=(str(pulse.pulse_id), week)
            )
            return QueuedPost("queued" if row_id else "already_posted", row_id)
        if kind == KIND_ROUNDUP:
            roundup = await self.build_roundup(guild_id, end)
            if roundup is None:
                return QueuedPost("empty")
            row_id = await self._enqueue(guild_id, kind, dedupe, channel_id, roundup)
            return QueuedPost("queued" if row_id else "already_posted", row_id)
        raise ValueError(f"not a coffee-shop kind: {kind}")

    async def _enqueue(
        self,
        guild_id: int,
        kind: str,
        dedupe_key: str,
        channel_id: int,
        post: Post,
        *,
        view: tuple[str, ...] | None = None,
    ) -> int | None:
        assert self._outbox is not None
        embed = embed_dict(post)
        return await self._outbox.enqueue(
            guild_id=guild_id,
            kind=kind,
            dedupe_key=dedupe_key,
            channel_id=channel_id,
            content=post.content,
            embeds=[embed] if embed is not None else [],
            mention_user_ids=post.ping_user_ids,
            view_key=PULSE_VIEW_KEY if view is not None else None,
            view_args=view or (),
        )

    async def _pulse_sent(self, row: OutboxRow, message_id: int, channel_id: int) -> None:
        pulse_id = int(row.dedupe_key.removeprefix("pulse:"))
        await self.pulse_posted(row.guild_id, pulse_id, channel_id, message_id)

    # ----- the coffee-shop question ------------------------------------------------------

    async def next_question(self, guild_id: int) -> tuple[int, str]:
        """The question the next post will ask (a preview; nothing is recorded)."""
        asked = await self.store.questions.asked(guild_id)
        index = next_question_index(len(self.questions), asked, seed=guild_id)
        return index, self.questions[index]

    async def build_question(
        self, guild_id: int, welcome_line: str | None = None
    ) -> tuple[int, Post]:
        """The next question as a post. ``welcome_line`` (from intros) is appended as is."""
        index, question = await self.next_question(guild_id)
        return index, question_post(question, welcome_line)

    async def record_question(self, guild_id: int, index: int, slot: str) -> None:
        await self.store.questions.record(guild_id, index, slot, now=self.clock.now())

    # ----- the weekly pulse --------------------------------------------------------------

    async def open_pulse(self, guild_id: int) -> tuple[Pulse, Post]:
        """This course week's pulse (created if needed) and its post."""
        zone = ZoneInfo(await self._zone(guild_id))
        now = self.clock.now()
        week_start, closes_at = pulse_week(now, zone)
        pulse = await self.store.pulses.open_week(guild_id, week_start, closes_at, now=now)
        return pulse, pulse_post(pulse.closes_at)

    async def pulse_posted(
        self, guild_id: int, pulse_id: int, channel_id: int, message_id: int
    ) -> None:
        await self.store.pulses.set_message(guild_id, pulse_id, channel_id, message_id)

    async def check_pulse(self, guild_id: int, pulse_id: int, week: str) -> Pulse:
        """The open pulse a button points at, or UserFacingError (another server's pulse, a
        forged week, or a closed week)."""
        pulse = await self.store.pulses.get(guild_id, pulse_id)
        if pulse is None or pulse.week_start.strftime("%Y%m%d") != week:
            raise UserFacingError("That check-in doesn't belong to this server.")
        if self.clock.now() >= pulse.closes_at:
            raise UserFacingError(
                "That week's check-in has closed. A new one comes with the next week — "
                "thank you for looking!"
            )
        return pulse

    async def answer_pulse(
        self,
        guild_id: int,
        pulse_id: int,
        week: str,
        user_id: int,
        *,
        cohort_id: int,
        choice: str,
    ) -> PulseAnswer:
        """A click on a pulse button. The custom_id is only a lookup key: the pulse is
        reloaded by (id, guild) and must match the week and still be open."""
        pulse = await self.check_pulse(guild_id, pulse_id, week)
        if choice == "reach":
            recorded = await self.store.pulses.reach_out(
                guild_id, pulse_id, user_id, cohort_id=cohort_id, now=self.clock.now()
            )
            return PulseAnswer(recorded, True, pulse)
        if choice not in PULSE_LABELS:
            raise UserFacingError("That button isn't one of the check-in's answers.")
        recorded = await self.store.pulses.answer(
            guild_id, pulse_id, user_id, cohort_id=cohort_id, answer=choice
        )
        return PulseAnswer(recorded, False, pulse)

    # ----- the milestone roundup ---------------------------------------------------------

    async def build_roundup(self, guild_id: int, end: datetime) -> Post | None:
        """Counts of the milestones reached in the 7 days before ``end``; None if none."""
        counts = await self.store.milestones.counts(guild_id, end - timedelta(days=7), end)
        return roundup_post(counts)

    # ----- the digest --------------------------------------------------------------------

    async def week_stats(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> WeekStats:
        """Everything the digest shows about the coffee shop for [start, end).

        The pulse comes already summarised (hidden under 5 respondents); reach-out requests
        name students and belong in the private leads channel only.
        """
        store = self.store
        posts = await store.posts.kind_counts(guild_id, start, end, cohort_id)
        reactions, replies = await store.posts.celebration_engagement(
            guild_id, start, end, cohort_id
        )
        given, received = await store.kudos.counts(guild_id, start, end, cohort_id)
        milestones = await store.milestones.counts(guild_id, start, end, cohort_id)
        tallies = await store.pulses.tallies(guild_id, start, end, cohort_id)
        reach = await store.pulses.reach_outs(guild_id, start, end, cohort_id)
        return WeekStats(
            posts=posts,
            celebration_reactions=reactions,
            celebration_replies=replies,
            kudos_given=given,
            kudos_received=received,
            milestones={k: v for k, v in milestones.items() if k in MILESTONES},
            pulse=summarize_pulse(tallies),
            reach_out_user_ids=tuple(r.user_id for r in reach),
        )
