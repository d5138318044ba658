"""Alumni mentors' use cases: offers, suggestions, requests and answers, pairs and their
threads, expiry, departures, rounds, and what the digest and retention need.

Everything a student or mentor is told later (a decline, an expiry, a mentor who left) goes
through the outbox as a DM; nothing about a request is ever posted in public. A request's
Accept/Decline buttons re-check everything on click (:meth:`MentorService.answer`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import discord

from bot.calendar import monday_of
from bot.clock import Clock
from bot.course_calendar import CalendarService
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.outbox.repository import OutboxRow
from bot.outbox.service import OutboxService
from bot.roster import Roster
from bot.store.guilds import Cohort
from cogs.coffee_chats import MatchingService, mentor_fit, restricted
from cogs.coffee_shop import MilestoneService
from cogs.mentors import rules, texts
from cogs.mentors.assign import Assignment, assign
from cogs.mentors.repository import (
    MentorGuildSettings,
    MentorOffer,
    MentorRepository,
    MentorRequest,
)
from cogs.profiles import Profile, ProfileEntry, ProfileService

__all__ = ["FindResult", "MentorFullError", "MentorService", "Suggestion"]

log = logging.getLogger(__name__)

KIND_REQUEST = "mentor:request"  # the mentor's DM: "{request_id}"
KIND_NOTE = "mentor:note"  # a note: "{request_id}:{what}" (student), "…:mentor:{what}"
KIND_GUIDE = "mentor:guide"  # a pair thread's first message: "{request_id}"
VIEW_REQUEST = "mentors:request"
VIEW_SUGGEST = "mentors:suggest"
VIEW_THREAD = "mentors:thread"


@dataclass(frozen=True)
class Suggestion:
    mentor_id: int
    name: str
    areas: tuple[str, ...]
    note: str
    reason: str | None


class MentorFullError(UserFacingError):
    """The mentor filled up (or paused, or left) between the suggestion and the Ask: the
    message lists the next suggestions, which the cog offers as buttons."""

    def __init__(self, message: str, suggestions: Sequence[Suggestion]) -> None:
        super().__init__(message)
        self.suggestions = tuple(suggestions)


@dataclass(frozen=True)
class FindResult:
    current: MentorRequest | None  # the active pair, when the student already has a mentor
    pending: MentorRequest | None
    suggestions: tuple[Suggestion, ...]
    #: how the student's last request ended, when a DM could not tell them (closed DMs)
    note: str | None = None


#: What a student is told about a request that closed without them (their DMs were closed).
_CLOSED_NOTES = {
    "declined": texts.BUSY_THIS_TERM,
    "expired": texts.EXPIRED,
    "cancelled": texts.MENTOR_LEFT,
}


@dataclass(eq=False, kw_only=True)
class MentorService:
    store: MentorRepository
    setup: GuildSettings
    roster: Roster
    calendar: CalendarService
    profiles: ProfileService
    matching: MatchingService
    milestones: MilestoneService
    outbox: OutboxService
    clock: Clock
    _client: discord.Client | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.store.student_erased = self._student_erased
        self.outbox.on_dm_undelivered(KIND_REQUEST, self._request_undelivered)

    def attach(self, client: discord.Client | None) -> None:
        """The client (to find guilds for scheduled work); set by the cog."""
        self._client = client

    # ------------------------------------------------------------------ who is who

    async def _closed(self, guild_id: int, cohort_id: int) -> bool:
        record = await self.calendar.record(guild_id, cohort_id)
        now = self.clock.now()
        return record is not None and record.closed_at is not None and record.closed_at <= now

    async def alumni_cohort(self, member: discord.Member) -> int | None:
        """The cohort a member finished (closed term, or marked completed); None if none."""
        cohorts = await self.roster.cohorts_of(member)
        for cohort in cohorts:
            if await self._closed(member.guild.id, cohort.cohort_id):
                return cohort.cohort_id
        done = await self.milestones.of_user(member.guild.id, member.id)
        if "course_completed" in done:
            return cohorts[0].cohort_id if cohorts else 0
        return None

    async def running_cohort(self, member: discord.Member) -> Cohort | None:
        """The member's cohort whose term has not closed (a mentee's cohort)."""
        for cohort in await self.roster.cohorts_of(member):
            if not await self._closed(member.guild.id, cohort.cohort_id):
                return cohort
        return None

    # ------------------------------------------------------------------ offers

    async def settable_items(self, guild_id: int, user_id: int) -> dict[str, str]:
        """Profile items the person has set (attribute → value), for the form."""
        profile = await self.profiles.get(guild_id, user_id)
        if profile is None:
            return {}
        return {a: v for a in profile.entries if (v := profile.matchable(a)) is not None}

    async def require_alumni(self, member: discord.Member) -> int:
        cohort_id = await self.alumni_cohort(member)
        if cohort_id is None:
            raise UserFacingError(texts.NOT_ALUMNI)
        return cohort_id

    async def save_offer(
        self,
        member: discord.Member,
        *,
        areas: Sequence[str],
        note: str,
        capacity: str,
        items: Sequence[str],
    ) -> MentorOffer:
        cohort_id = await self.require_alumni(member)
        settable = await self.settable_items(member.guild.id, member.id)
        try:
            clean = rules.clean_offer(areas, note, capacity, items, settable)
        except rules.OfferError as error:
            raise UserFacingError(f"{error} Nothing was saved.") from None
        await self.store.save_offer(
            guild_id=member.guild.id,
            user_id=member.id,
            cohort_id=cohort_id,
            help_areas=clean.help_areas,
            help_note=clean.note,
            capacity=clean.capacity,
            shown_values={i: settable[i] for i in clean.shown_items},
            now=self.clock.now(),
        )
        await self._give_alumni_role(member)
        offer = await self.store.offer(member.guild.id, member.id)
        assert offer is not None
        return offer

    async def _give_alumni_role(self, member: discord.Member) -> None:
        settings = await self.store.guild_settings(member.guild.id)
        role = member.guild.get_role(settings.alumni_role_id or 0)
        if role is None or role in member.roles:
            return
        try:
            await member.add_roles(role, reason="CohortBot: offered to mentor")
        except discord.HTTPException:
            log.warning("Could not give the Alumni role in guild %s", member.guild.id)

    async def pause(self, guild_id: int, user_id: int) -> bool:
        offer = await self.store.offer(guild_id, user_id)
        if offer is None:
            raise UserFacingError(texts.NO_OFFER)
        if offer.status == "paused":
            return False
        return await self.store.set_status(guild_id, user_id, "paused", self.clock.now())

    async def stop(self, guild: discord.Guild, user_id: int) -> int:
        """Withdraw the offer: open requests are cancelled (students re-offered), pairs end,
        and the offer (with the items kept past retention) is deleted. Returns the requests
        and pairs closed."""
        offer = await self.store.offer(guild.id, user_id)
        if offer is None:
            raise UserFacingError(texts.NO_OFFER)
        closed = await self._close_mentor(guild, user_id, texts.BUSY_THIS_TERM)
        await self.store.delete_offer(guild.id, user_id)
        return closed

    async def _close_mentor(self, guild: discord.Guild, mentor_id: int, why: str) -> int:
        now = self.clock.now()
        closed = 0
        for request in await self.store.open_of_mentor(guild.id, mentor_id):
            state = "cancelled" if request.state == "pending" else "ended"
            if await self.store.end(guild.id, request.request_id, state, now):
                closed += 1
                if request.state == "pending":
                    await self._cancel_request_dm(guild.id, request.request_id)
                if request.student_id is not None:
                    await self._tell_student(guild, request, "closed", why)
        return closed

    async def _cancel_request_dm(self, guild_id: int, request_id: int) -> None:
        row = await self.outbox.lookup(guild_id, KIND_REQUEST, str(request_id))
        if row is not None and row.state == "pending":
            await self.outbox.cancel(guild_id, [row.id], "request closed")

    # ------------------------------------------------------------------ suggestions

    async def _week_start(self, guild_id: int) -> tuple[datetime, str]:
        config = await self.setup.config(guild_id)
        name = config.timezone if config else "UTC"
        local = self.clock.now().astimezone(ZoneInfo(name))
        return datetime.combine(monday_of(local.date()), time(0), ZoneInfo(name)).astimezone(
            UTC
        ), name

    @staticmethod
    def shown_profile(offer: MentorOffer, live: Profile | None) -> Profile:
        """What mentees may see of a mentor: only the chosen items (the live values while the
        profile exists, the kept values after the cohort's retention)."""
        kept = restricted(live, offer.shown_items)
        if kept is not None:
            return kept
        entries = {a: ProfileEntry(v, "matches") for a, v in offer.shown_values.items()}
        return Profile(offer.guild_id, offer.user_id, entries)  # type: ignore[arg-type]

    async def fits(
        self, guild_id: int, students: Sequence[int], offers: Sequence[MentorOffer]
    ) -> dict[tuple[int, int], tuple[float, str | None]]:
        """(student, mentor) → the matcher's score and one reason, on the mentor's shown items."""
        profiles = await self.profiles.for_users(
            guild_id, [*students, *(o.user_id for o in offers)]
        )
        week, zone = await self._week_start(guild_id)
        result: dict[tuple[int, int], tuple[float, str | None]] = {}
        for student in students:
            for offer in offers:
                shown = self.shown_profile(offer, profiles.get(offer.user_id))
                fit = mentor_fit(
                    student,
                    profiles.get(student),
                    offer.user_id,
                    shown,
                    week,
                    default_timezone=zone,
                )
                result[(student, offer.user_id)] = (fit.score, fit.reason)
        return result

    async def _candidates(self, guild: discord.Guild) -> tuple[list[rules.Candidate], int]:
        settings = await self.store.guild_settings(guild.id)
        counts = await self.store.open_counts(guild.id)
        asks = await self.store.asks_since(guild.id, rules.week_start(self.clock.now()))
        found = []
        for offer in await self.store.offers(guild.id):
            if guild.get_member(offer.user_id) is None:
                continue  # left the server (the departure handler closes their requests)
            found.append(
                rules.Candidate(
                    offer.user_id,
                    offer.capacity,
                    counts.get(offer.user_id, 0),
                    asks.get(offer.user_id, 0),
                    paused=offer.status != "active",
                )
            )
        return found, settings.requests_per_week

    async def suggest(
        self, guild: discord.Guild, student_id: int, *, exclude: Sequence[int] = ()
    ) -> list[Suggestion]:
        """Up to three alumni with free places, best fit on what they show mentees first."""
        candidates, cap = await self._candidates(guild)
        asked = await self.store.asked_by(guild.id, student_id)
        forbidden = await self.matching.forbidden_pairs(guild.id)
        allowed = rules.eligible(
            candidates,
            student_id=student_id,
            weekly_cap=cap,
            exclude={*asked, *exclude},
            forbidden=forbidden,
        )
        offers = {o.user_id: o for o in await self.store.offers(guild.id)}
        fits = await self.fits(guild.id, [student_id], [offers[c.user_id] for c in allowed])
        scores = {m: s for (_, m), (s, _) in fits.items()}
        found = []
        for candidate in rules.rank(allowed, scores):
            offer = offers[candidate.user_id]
            member = guild.get_member(candidate.user_id)
            found.append(
                Suggestion(
                    candidate.user_id,
                    member.display_name if member else "An alumna or alumnus",
                    offer.help_areas,
                    offer.help_note,
                    fits[(student_id, candidate.user_id)][1],
                )
            )
        return found

    async def find(self, guild: discord.Guild, member: discord.Member) -> FindResult:
        cohort = await self.running_cohort(member)
        if cohort is None:
            raise UserFacingError(texts.NOT_STUDENT)
        if not await self.store.cohort_enabled(guild.id, cohort.cohort_id):
            raise UserFacingError(texts.TURNED_OFF)
        open_ = await self.store.open_of_student(guild.id, member.id)
        active = next((r for r in open_ if r.state == "active"), None)
        pending = next((r for r in open_ if r.state == "pending"), None)
        if active is not None:
            return FindResult(active, None, ())
        await self.store.add_seeker(guild.id, member.id, cohort.cohort_id, self.clock.now())
        suggestions = tuple(await self.suggest(guild, member.id))
        note = await self._missed_note(guild.id, member.id)
        if pending is not None and note is None:
            note = await self._undelivered_note(guild.id, pending)
        return FindResult(None, pending, suggestions, note)

    async def _undelivered_note(self, guild_id: int, pending: MentorRequest) -> str | None:
        """The waiting request's DM found the mentor's DMs closed (the student may not have
        had the DM saying so: theirs may be closed too)."""
        row = await self.outbox.lookup(guild_id, KIND_REQUEST, str(pending.request_id))
        if row is not None and row.state == "failed" and row.last_error == "dm_closed":
            return texts.WAITS_IN_REQUESTS
        return None

    async def _missed_note(self, guild_id: int, student_id: int) -> str | None:
        """With DMs closed, the student hears how their last request ended here instead."""
        if student_id not in await self.outbox.dm_channels.dm_closed_users(guild_id):
            return None
        last = await self.store.last_of_student(guild_id, student_id)
        if last is None:
            return None
        return _CLOSED_NOTES.get(last.state)

    async def change_mentor(self, guild: discord.Guild, member: discord.Member) -> FindResult:
        """End the current pair quietly (the mentor gets a kind private note, nobody is
        blamed) and suggest others."""
        for request in await self.store.open_of_student(guild.id, member.id):
            if request.state == "active" and await self.store.end(
                guild.id, request.request_id, "ended", self.clock.now()
            ):
                # The mentor hears it kindly, privately (the student is still here: named).
                await self._tell_mentor(
                    guild.id, request, "moved-on", texts.mentee_moved_on(member.display_name)
                )
        return await self.find(guild, member)

    async def _tell_mentor(
        self, guild_id: int, request: MentorRequest, what: str, content: str
    ) -> None:
        """A private note to the mentor of ``request`` (a DM; dropped if theirs are closed)."""
        if request.mentor_id is None:
            return
        await self._note(guild_id, request, request.mentor_id, f"mentor:{what}", content)

    async def _note(
        self,
        guild_id: int,
        request: MentorRequest,
        user_id: int,
        what: str,
        content: str,
        view: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        """A note about ``request`` by DM to ``user_id``: once per request and ``what``."""
        await self.outbox.enqueue(
            guild_id=guild_id,
            cohort_id=request.cohort_id,
            kind=KIND_NOTE,
            dedupe_key=f"{request.request_id}:{what}",
            user_id=user_id,
            content=content[:2000],
            view_key=view[0] if view is not None else None,
            view_args=view[1] if view is not None else (),
        )

    async def _student_erased(self, guild_id: int, closed: Sequence[MentorRequest]) -> None:
        """The erasure closed a student's pairs and requests: their mentors hear it kindly,
        without the student's name. A request DM still queued (it names the student) is
        cancelled instead: that mentor never saw it."""
        for request in closed:
            if request.state == "active":
                await self._tell_mentor(guild_id, request, "erased", texts.MENTEE_ERASED)
                continue
            row = await self.outbox.lookup(guild_id, KIND_REQUEST, str(request.request_id))
            if row is None:
                continue  # never sent by DM (theirs were closed): nothing to take back
            if row.state == "pending":
                await self.outbox.cancel(guild_id, [row.id], "request closed")
            elif row.state in ("sent", "sending"):
                await self._tell_mentor(guild_id, request, "erased", texts.REQUEST_WITHDRAWN)

    # ------------------------------------------------------------------ requests

    async def ask(self, guild: discord.Guild, student: discord.Member, mentor_id: int) -> str:
        """Send the request (through the outbox). The answer says what happened; when the
        mentor filled up meanwhile, it says so and lists the next suggestions."""
        if mentor_id == student.id:
            raise UserFacingError(texts.SELF_MENTOR)
        result = await self.find(guild, student)
        if result.current is not None:
            raise UserFacingError("You already have a mentor; /mentor find lets you change.")
        if result.pending is not None:
            raise UserFacingError(
                "You already asked someone; wait for their answer (at most 7 days)."
            )
        offer = await self.store.offer(guild.id, mentor_id)
        mentor = guild.get_member(mentor_id)
        candidates, cap = await self._candidates(guild)
        forbidden = await self.matching.forbidden_pairs(guild.id)
        still = rules.eligible(
            [c for c in candidates if c.user_id == mentor_id],
            student_id=student.id,
            weekly_cap=cap,
            exclude=await self.store.asked_by(guild.id, student.id),
            forbidden=forbidden,
        )
        if offer is None or mentor is None or not still:
            raise MentorFullError(
                texts.MENTOR_FULL + "\n" + self.suggestion_text(result.suggestions),
                result.suggestions,
            )
        cohort = await self.running_cohort(student)
        assert cohort is not None
        now = self.clock.now()
        request_id = await self.store.add_request(
            guild_id=guild.id,
            cohort_id=cohort.cohort_id,
            student_id=student.id,
            mentor_id=mentor_id,
            state="pending",
            source="ask",
            now=now,
            expires_at=now + rules.EXPIRY,
        )
        closed = mentor_id in await self.outbox.dm_channels.dm_closed_users(guild.id)
        if not closed:
            await self.outbox.enqueue(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                kind=KIND_REQUEST,
                dedupe_key=str(request_id),
                user_id=mentor_id,
                content=texts.request_dm(student.display_name, cohort.name, offer.help_areas),
                view_key=VIEW_REQUEST,
                view_args=(str(guild.id), str(request_id)),
                expires_at=now + rules.EXPIRY,
            )
        return texts.asked(closed)

    async def _request_undelivered(self, row: OutboxRow) -> None:
        """The mentor's DMs turned out closed when the request was sent: it still waits in
        their /mentor requests, and the student, told "by DM" when asking, hears so."""
        request = await self.store.request(row.guild_id, int(row.dedupe_key))
        if request is None or request.state != "pending" or request.student_id is None:
            return
        await self._note(
            row.guild_id, request, request.student_id, "undelivered", texts.REQUEST_UNDELIVERED
        )

    @staticmethod
    def suggestion_text(suggestions: Sequence[Suggestion]) -> str:
        if not suggestions:
            return texts.NOBODY_FREE
        return "\n".join(
            texts.suggestion_line(i, s.name, s.areas, s.note, s.reason)
            for i, s in enumerate(suggestions, start=1)
        )

    async def pending_for_mentor(self, guild_id: int, mentor_id: int) -> list[MentorRequest]:
        return [
            r for r in await self.store.open_of_mentor(guild_id, mentor_id) if r.state == "pending"
        ]

    async def answer(
        self, guild: discord.Guild, request_id: int, mentor_id: int, accept: bool
    ) -> str:
        """A mentor's Accept or Decline. A forged, expired, answered or someone else's request
        is refused and nothing changes."""
        request = await self.store.request(guild.id, request_id)
        now = self.clock.now()
        if (
            request is None
            or request.mentor_id != mentor_id
            or request.state != "pending"
            or request.expires_at <= now
            or request.student_id is None
        ):
            raise UserFacingError(texts.REQUEST_GONE)
        if not accept:
            if await self.store.answer(guild.id, request_id, "declined", now, from_state="pending"):
                await self._tell_student(guild, request, "declined", texts.BUSY_THIS_TERM)
            return "Declined privately — they'll only hear that you're busy this term. Thank you!"
        student = guild.get_member(request.student_id)
        if student is None:
            await self.store.end(guild.id, request_id, "cancelled", now)
            raise UserFacingError("That student has left the server, so the request was closed.")
        if any(r.state == "active" for r in await self.store.open_of_student(guild.id, student.id)):
            await self.store.end(guild.id, request_id, "cancelled", now)
            raise UserFacingError("That student has found a mentor meanwhile. Thank you!")
        if not await self.store.answer(guild.id, request_id, "active", now, from_state="pending"):
            raise UserFacingError(texts.REQUEST_GONE)
        await self.store.remove_seeker(guild.id, student.id)
        where = await self._open_thread(guild, request_id, mentor_id, student.id)
        return f"Accepted! 🎓 {where}"

    async def _open_thread(
        self, guild: discord.Guild, request_id: int, mentor_id: int, student_id: int
    ) -> str:
        """A private thread (``invitable=False``) for the two, with the guide and Report to
        staff queued as its first message."""
        config = await self.setup.config(guild.id)
        channel = guild.get_channel((config.coffee_channel_id if config else None) or 0)
        if not isinstance(channel, discord.TextChannel):
            return "I couldn't open a thread (no coffee-shop channel); please DM each other."
        mentor, student = guild.get_member(mentor_id), guild.get_member(student_id)
        names = " & ".join(m.display_name for m in (mentor, student) if m is not None)
        try:
            thread = await channel.create_thread(
                name=f"Mentor chat: {names}"[:100],
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=10080,
                reason="CohortBot mentor pair",
            )
            await self.store.set_thread(guild.id, request_id, thread.id)
            for user_id in (mentor_id, student_id):
                await thread.add_user(discord.Object(id=user_id))
        except discord.HTTPException as error:
            # The pair stands; only its thread is missing (e.g. Create Private Threads denied).
            log.warning("mentor thread failed in guild %s: %s", guild.id, error.status)
            return "I couldn't open a private thread here, so please DM each other."
        await self.outbox.enqueue(
            guild_id=guild.id,
            kind=KIND_GUIDE,
            dedupe_key=str(request_id),
            channel_id=thread.id,
            content=texts.thread_guide(mentor_id, student_id),
            view_key=VIEW_THREAD,
            view_args=(str(guild.id), str(request_id)),
            mention_user_ids=(mentor_id, student_id),
        )
        return f"Your private thread: <#{thread.id}>"

    async def _tell_student(
        self, guild: discord.Guild, request: MentorRequest, what: str, why: str
    ) -> None:
        """A kind DM to the student with the next suggestions (and Ask buttons)."""
        if request.student_id is None:
            return
        suggestions = await self.suggest(guild, request.student_id)
        content = f"{why}\n" + (
            "Here is who else could help:\n" + self.suggestion_text(suggestions)
            if suggestions
            else texts.NOBODY_FREE
        )
        ask = (VIEW_SUGGEST, (str(guild.id), *(str(s.mentor_id) for s in suggestions)))
        await self._note(
            guild.id, request, request.student_id, what, content, ask if suggestions else None
        )

    async def pair_for_click(self, guild_id: int, request_id: int, user_id: int) -> MentorRequest:
        request = await self.store.request(guild_id, request_id)
        if request is None or user_id not in (request.student_id, request.mentor_id):
            raise UserFacingError("That button is for the two people in this mentor pair.")
        return request

    # ------------------------------------------------------------------ scheduled work

    def _guild(self, guild_id: int) -> discord.Guild | None:
        return self._client.get_guild(guild_id) if self._client is not None else None

    async def tick(self, now: datetime) -> None:
        """The scheduler's tick (``now`` from the injected clock): expire what is due."""
        await self.expire_due(now)

    async def expire_due(self, now: datetime) -> int:
        """Expire unanswered requests (7 days); the student is told kindly and re-offered."""
        expired = 0
        for request in await self.store.expired_pending(now):
            if not await self.store.answer(
                request.guild_id, request.request_id, "expired", now, from_state="pending"
            ):
                continue
            expired += 1
            guild = self._guild(request.guild_id)
            if guild is not None:
                await self._tell_student(guild, request, "expired", texts.EXPIRED)
        return expired

    async def member_left(self, guild: discord.Guild, user_id: int) -> None:
        """A mentor who left: requests cancelled, pairs ended, students told and re-offered;
        the offer is marked "left" (kept until retention: nobody is left to keep consenting
        to it, or a new /mentor offer if they come back). A student who left:
        their requests close."""
        if await self.store.offer(guild.id, user_id) is not None:
            await self._close_mentor(guild, user_id, texts.MENTOR_LEFT)
            await self.store.set_status(guild.id, user_id, "left", self.clock.now())
        now = self.clock.now()
        for request in await self.store.open_of_student(guild.id, user_id):
            await self.store.end(
                guild.id,
                request.request_id,
                "cancelled" if request.state == "pending" else "ended",
                now,
            )
            if request.state == "pending":
                await self._cancel_request_dm(guild.id, request.request_id)
        await self.store.remove_seeker(guild.id, user_id)

    # ------------------------------------------------------------------ instructors

    async def settings(self, guild_id: int) -> MentorGuildSettings:
        return await self.store.guild_settings(guild_id)

    async def save_settings(self, settings: MentorGuildSettings) -> None:
        if not 1 <= settings.requests_per_week <= 20:
            raise UserFacingError("Requests per week must be between 1 and 20. Nothing changed.")
        await self.store.save_guild_settings(settings)

    async def list_lines(self, guild: discord.Guild) -> list[str]:
        counts = await self.store.open_counts(guild.id)
        pairs = await self.store.pairs(guild.id)
        lines = []
        for offer in await self.store.offers(guild.id):
            active = sum(1 for p in pairs if p.mentor_id == offer.user_id)
            gone = "" if guild.get_member(offer.user_id) else " (left the server)"
            lines.append(
                f"• <@{offer.user_id}>{gone}: {offer.status}, {active} of {offer.capacity} "
                f"places in pairs, {counts.get(offer.user_id, 0) - active} waiting for an answer"
                f" — {texts.help_line(offer.help_areas, offer.help_note)}"
            )
        waiting = await self.store.seekers(guild.id)
        lines.append(f"Open pairs: {len(pairs)}. Students waiting for a mentor: {len(waiting)}.")
        return lines

    async def propose_round(self, guild: discord.Guild, cohort: Cohort) -> Assignment:
        """Every waiting student of the cohort, assigned exactly (capacities, avoid/block)."""
        if not await self.store.cohort_enabled(guild.id, cohort.cohort_id):
            raise UserFacingError(
                f"Mentors are off for {cohort.name}: turn them on with /course mentors settings."
            )
        waiting = [
            u for u in await self.store.seekers(guild.id, cohort.cohort_id) if guild.get_member(u)
        ]
        candidates, _ = await self._candidates(guild)
        free = {c.user_id: c.capacity - c.open_count for c in candidates if not c.paused}
        offers = [o for o in await self.store.offers(guild.id) if o.user_id in free]
        fits = await self.fits(guild.id, waiting, offers)
        return assign(
            waiting,
            free,
            {k: v[0] for k, v in fits.items()},
            await self.matching.forbidden_pairs(guild.id),
        )

    async def post_round(
        self, guild: discord.Guild, cohort: Cohort, pairs: Sequence[tuple[int, int]]
    ) -> tuple[int, int]:
        """Create the proposed pairs that still hold (each re-checked); (made, skipped)."""
        made = skipped = 0
        forbidden = await self.matching.forbidden_pairs(guild.id)
        for student_id, mentor_id in pairs:
            counts = await self.store.open_counts(guild.id)
            offer = await self.store.offer(guild.id, mentor_id)
            waiting = await self.store.seekers(guild.id, cohort.cohort_id)
            if (
                offer is None
                or offer.status != "active"
                or counts.get(mentor_id, 0) >= offer.capacity
                or student_id not in waiting
                or frozenset((student_id, mentor_id)) in forbidden
                or guild.get_member(mentor_id) is None
                or guild.get_member(student_id) is None
            ):
                skipped += 1
                continue
            now = self.clock.now()
            request_id = await self.store.add_request(
                guild_id=guild.id,
                cohort_id=cohort.cohort_id,
                student_id=student_id,
                mentor_id=mentor_id,
                state="active",
                source="round",
                now=now,
                expires_at=now,
            )
            await self._open_thread(guild, request_id, mentor_id, student_id)
            made += 1
        return made, skipped

    # ------------------------------------------------------------------ digest and retention

    async def digest_week(
        self, guild_id: int, cohort_id: int, start: datetime, end: datetime
    ) -> tuple[str, frozenset[int]]:
        """ "mentor pairs: N active, M new; K students waiting" and who has a mentor."""
        with_mentor, new = await self.store.digest_counts(guild_id, cohort_id, start, end)
        waiting = await self.store.seekers(guild_id, cohort_id)
        line = (
            f"Mentor pairs: {len(with_mentor)} active, {new} new; {len(waiting)} students waiting"
        )
        return line, frozenset(with_mentor)
