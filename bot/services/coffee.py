"""Coffee-shop use cases: posts, kudos, milestones, the weekly pulse, the social question,
the milestone roundup and the week's numbers for the digest.

Nothing here talks to Discord. Builders return :class:`bot.coffee.Post` values; the cog sends
them (and could hand them to the outbox instead). Milestone notes go through a notifier the
coffee cog attaches at load time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Final, Literal, Protocol
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.coffee import (
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
    kudos_next_allowed,
    next_question_index,
    pulse_post,
    pulse_week,
    question_post,
    roundup_post,
    share_post,
    summarize_pulse,
)
from bot.errors import UserFacingError
from bot.schedule_math import is_valid_timezone, next_occurrence, slot_key
from bot.services.setup import SetupService
from bot.services.upcoming import UpcomingItem
from bot.store.coffee import CoffeeConfig, CoffeePost, CoffeeStore, Pulse
from bot.store.schedules import Schedule, ScheduleRepository
from bot.templates import DATA_DIR, Templates
from bot.text import TextError, clean_user_text

log = logging.getLogger(__name__)

__all__ = [
    "COFFEE_KINDS",
    "KIND_PULSE",
    "KIND_QUESTION",
    "KIND_ROUNDUP",
    "CoffeeService",
    "MilestoneNotifier",
    "MilestoneService",
    "NoteOutcome",
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


class MilestoneNotifier(Protocol):
    """What the milestone service needs from Discord (the coffee cog implements it)."""

    async def cohort_of(self, guild_id: int, user_id: int) -> int:
        """The student's first cohort id, 0 if none."""
        ...

    async def send_note(self, guild_id: int, user_id: int, text: str) -> NoteOutcome:
        """A private note (a DM). 'dm_closed' for Forbidden 50007."""
        ...


class MilestoneService:
    """Other features report milestones here::

        await app.milestones.reached(guild_id, user_id, "intro_posted")

    Milestones: ``intro_posted``, ``first_answer``, ``first_peer_reply``, ``first_chat_met``,
    ``course_completed`` (only from ``/course coffee completed``: an instructor marks it).
    Each is recorded at most once per student (later calls return False and do nothing). A
    student who turned milestone notes on (``/coffee settings``, off by default) gets a
    private DM; a closed DM (50007) is recorded as ``dm_closed`` and skipped. The weekly
    roundup in the coffee shop counts milestones without naming anyone.
    """

    def __init__(self, *, store: CoffeeStore, templates: Templates, clock: Clock) -> None:
        self._store = store
        self._templates = templates
        self._clock = clock
        self._notifier: MilestoneNotifier | None = None

    def attach_notifier(self, notifier: MilestoneNotifier | None) -> None:
        self._notifier = notifier

    async def reached(self, guild_id: int, user_id: int, milestone: str) -> bool:
        """Record a milestone; True when it is the student's first time. Never raises for a
        failed note (the milestone stays recorded)."""
        check_milestone(milestone)
        notifier = self._notifier
        cohort_id = await notifier.cohort_of(guild_id, user_id) if notifier else 0
        first = await self._store.milestones.record(
            guild_id, user_id, milestone, cohort_id=cohort_id, now=self._clock.now()
        )
        if not first or not await self._store.settings.milestones_on(guild_id, user_id):
            return first
        outcome: NoteOutcome = "failed"
        if notifier is not None:
            text = await self._templates.render(
                guild_id, "coffee_milestone_note", milestone=MILESTONE_NOTES[milestone]
            )
            try:
                outcome = await notifier.send_note(guild_id, user_id, text)
            except Exception:
                log.exception("milestone note failed (guild %s)", guild_id)
        await self._store.milestones.set_note(guild_id, user_id, milestone, outcome)
        return first

    async def of_user(self, guild_id: int, user_id: int) -> dict[str, str]:
        return await self._store.milestones.of_user(guild_id, user_id)


# ---------------------------------------------------------------------- the coffee shop


@dataclass(frozen=True)
class PulseAnswer:
    """What happened when a student clicked a pulse button."""

    recorded: bool
    reach_out: bool
    pulse: Pulse


class CoffeeService:
    """The coffee shop's use cases. Digest-facing read API: :meth:`week_stats`."""

    def __init__(
        self,
        *,
        store: CoffeeStore,
        setup: SetupService,
        templates: Templates,
        clock: Clock,
        schedules: ScheduleRepository,
        questions: Sequence[str],
    ) -> None:
        self.store = store
        self._setup = setup
        self._templates = templates
        self._clock = clock
        self._schedules = schedules
        self.questions = tuple(questions)

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
            await self._templates.render(guild_id, "coffee_support_links")
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

    async def record_post(
        self,
        guild_id: int,
        *,
        cohort_id: int,
        author_id: int,
        kind: PostKind,
        anonymous: bool,
        channel_id: int,
        message_id: int | None,
    ) -> int:
        return await self.store.posts.add(
            guild_id=guild_id,
            cohort_id=cohort_id,
            author_id=author_id,
            kind=kind,
            anonymous=anonymous,
            channel_id=channel_id,
            message_id=message_id,
            now=self._clock.now(),
        )

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
        now = self._clock.now()
        config = await self.store.config.get(guild_id)
        sent = await self.store.kudos.given_since(guild_id, giver_id, now - timedelta(days=1))
        allowed_at = kudos_next_allowed(sent, now, config.kudos_per_day)
        if allowed_at is not None:
            raise UserFacingError(
                f"You've given {config.kudos_per_day} kudos in the last 24 hours — that's the "
                f"daily limit. You can give the next one <t:{int(allowed_at.timestamp())}:R>. "
                "Nothing was posted."
            )

    @staticmethod
    def clean_kudos_reason(reason: str | None) -> str:
        return _user_text(reason, field="Your reason", limit=KUDOS_REASON_LIMIT)

    async def record_kudos(
        self,
        guild_id: int,
        *,
        cohort_id: int,
        giver_id: int,
        receiver_id: int,
        reason: str,
        message_id: int | None,
    ) -> int:
        return await self.store.kudos.add(
            guild_id=guild_id,
            cohort_id=cohort_id,
            giver_id=giver_id,
            receiver_id=receiver_id,
            reason=reason,
            message_id=message_id,
            now=self._clock.now(),
        )

    # ----- student settings --------------------------------------------------------------

    async def milestones_on(self, guild_id: int, user_id: int) -> bool:
        return await self.store.settings.milestones_on(guild_id, user_id)

    async def set_milestones(self, guild_id: int, user_id: int, on: bool) -> None:
        await self.store.settings.set_milestones(guild_id, user_id, on, now=self._clock.now())

    # ----- schedules ---------------------------------------------------------------------

    async def _zone(self, guild_id: int) -> str:
        config = await self._setup.config(guild_id)
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
        schedule = Schedule(
            guild_id=guild_id,
            cohort_id=0,
            kind=kind,
            weekday=weekday,
            local_time=at,
            timezone=await self._zone(guild_id),
            enabled=True,
            created_at=self._clock.now(),
        )
        await self._schedules.upsert(schedule)
        return schedule

    async def remove_schedule(self, guild_id: int, kind: str) -> bool:
        return await self._schedules.delete(guild_id, 0, kind)

    async def upcoming(self, guild_id: int) -> list[tuple[str, datetime]]:
        """(what, next occurrence) of the coffee shop's enabled schedules, soonest first."""
        now = self._clock.now()
        result = []
        for schedule in await self._schedules.list_for_guild(guild_id):
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
        for schedule in await self._schedules.list_for_guild(guild_id):
            if schedule.kind not in COFFEE_KIND_LABELS or not schedule.enabled:
                continue
            zone = ZoneInfo(schedule.timezone)
            when = next_occurrence(
                schedule.weekday, schedule.local_time, zone, start - timedelta(microseconds=1)
            )
            while when < end:
                if schedule.kind == KIND_QUESTION:
                    index = next_question_index(len(self.questions), asked, seed=guild_id)
                    asked = [*asked, index]
                    preview = self.questions[index]
                elif schedule.kind == KIND_PULSE:
                    preview = "Weekly check-in: “How is this week going?” (anonymous answers)"
                else:
                    preview = "Milestone roundup: counts of the week's milestones, no names"
                items.append(
                    UpcomingItem(
                        key=f"coffee:{schedule.kind}:{slot_key(when, zone)}",
                        when=when,
                        kind=COFFEE_KIND_LABELS[schedule.kind],
                        preview=preview,
                    )
                )
                when = next_occurrence(schedule.weekday, schedule.local_time, zone, when)
        return sorted(items, key=lambda item: item.when)

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
        await self.store.questions.record(guild_id, index, slot, now=self._clock.now())

    # ----- the weekly pulse --------------------------------------------------------------

    async def open_pulse(self, guild_id: int) -> tuple[Pulse, Post]:
        """This course week's pulse (created if needed) and its post."""
        zone = ZoneInfo(await self._zone(guild_id))
        now = self._clock.now()
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
        if self._clock.now() >= pulse.closes_at:
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
                guild_id, pulse_id, user_id, cohort_id=cohort_id, now=self._clock.now()
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
