"""The roster's use cases: import (preview, then Apply the held diff), join codes, links, the
numbers the digest and /course status show, and the participation export.

Never logs a student's name, email, LMS id or code.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord

from bot.clock import Clock
from bot.errors import UserFacingError
from bot.guild_settings import GuildSettings
from bot.store.guilds import Cohort
from bot.text import discord_time
from cogs.roster import texts
from cogs.roster.codes import IssuedCode, new_code, split_code, verify
from cogs.roster.csv_formats import RosterFileError, parse, write_csv
from cogs.roster.repository import RosterRepository, Student
from cogs.roster.rules import (
    ENROLLED,
    RosterDiff,
    compute_diff,
    diff_from_json,
    fingerprint,
    preview_lines,
)

__all__ = ["ImportPreview", "NotArrived", "RosterService"]

log = logging.getLogger(__name__)

MAX_WRONG_TRIES = 5
TRY_WINDOW = timedelta(hours=1)
#: The part of a diff's hash a button carries: enough that a forged click finds nothing.
HASH_IN_ID = 16


@dataclass(frozen=True)
class ImportPreview:
    lines: list[str]
    import_id: int | None
    diff_hash: str


@dataclass(frozen=True)
class NotArrived:
    """Enrolled students of a cohort whose account is not linked (never arrived)."""

    students: list[Student]
    new_this_week: int


@dataclass(eq=False, kw_only=True)
class RosterService:
    repository: RosterRepository
    setup: GuildSettings
    clock: Clock
    retention_days: int
    _join_locks: dict[tuple[int, int], asyncio.Lock] = field(init=False, default_factory=dict)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    # ----- import --------------------------------------------------------------------------

    async def _cohort_maps(self, guild_id: int) -> tuple[dict[str, int], dict[int, str]]:
        cohorts = await self.setup.cohorts(guild_id)
        return (
            {c.name.casefold(): c.cohort_id for c in cohorts},
            {c.cohort_id: c.name for c in cohorts},
        )

    async def preview(self, guild_id: int, data: bytes) -> ImportPreview:
        """Read the file and hold its diff; nothing in the roster changes yet."""
        try:
            parsed = await asyncio.to_thread(parse, data)
        except RosterFileError as exc:
            raise UserFacingError(str(exc)) from exc
        by_name, names = await self._cohort_maps(guild_id)
        current = [s.current() for s in await self.repository.students(guild_id)]
        diff = compute_diff(parsed, current, by_name)
        lines = preview_lines(diff, names)
        if diff.empty:
            return ImportPreview(lines, None, diff.digest())
        import_id = await self.repository.save_pending(
            guild_id, diff, fingerprint(current), self.clock.now()
        )
        return ImportPreview(lines, import_id, diff.digest())

    async def apply(self, guild_id: int, import_id: int, hash_prefix: str) -> RosterDiff:
        """Store exactly the previewed diff. A forged or stale Apply stores nothing."""
        pending = await self.repository.pending(guild_id, import_id)
        if pending is None or not pending.diff_hash.startswith(hash_prefix):
            raise UserFacingError(texts.STALE_IMPORT)
        current = [s.current() for s in await self.repository.students(guild_id)]
        diff = diff_from_json(pending.diff_json)
        if fingerprint(current) != pending.base_hash or diff.digest() != pending.diff_hash:
            raise UserFacingError(texts.STALE_IMPORT)
        await self.repository.apply(guild_id, import_id, diff, self.clock.now())
        log.info(
            "Roster import applied in guild %s: %d new, %d changed, %d withdrawn",
            guild_id,
            len(diff.new),
            len(diff.changed),
            len(diff.withdrawn),
        )
        return diff

    # ----- codes ---------------------------------------------------------------------------

    async def issue_codes(self, guild_id: int, cohort: Cohort | None) -> tuple[int, bytes]:
        """New codes for every enrolled, unlinked student (of ``cohort`` if given): a CSV of
        name, email, LMS id and code. Their previous codes stop working."""
        students = [
            s
            for s in await self.repository.students(guild_id)
            if s.status == ENROLLED
            and s.user_id is None
            and (cohort is None or s.cohort_id == cohort.cohort_id)
        ]
        if not students:
            raise UserFacingError(
                "Every enrolled student is already linked (or the roster is empty)."
            )
        taken = await self.repository.selectors(guild_id)
        issued = await asyncio.to_thread(_new_codes, len(students), taken)
        await self.repository.replace_codes(
            guild_id,
            [
                (s.entry_id, c.selector, c.salt, c.secret_hash)
                for s, c in zip(students, issued, strict=True)
            ],
            self.clock.now(),
        )
        _, names = await self._cohort_maps(guild_id)
        rows = [
            (s.name, s.email, s.lms_id, names.get(s.cohort_id or 0, ""), c.code)
            for s, c in zip(students, issued, strict=True)
        ]
        return len(rows), write_csv(("name", "email", "lms_id", "cohort", "code"), rows)

    async def join(self, member: discord.Member, typed: str) -> tuple[Student, Cohort | None]:
        """Link the member to the roster entry whose code they typed. A wrong, used or
        expired code gets the same answer, and counts towards the pause."""
        guild_id, now = member.guild.id, self.clock.now()
        lock = self._join_locks.setdefault((guild_id, member.id), asyncio.Lock())
        async with lock:
            own = await self.repository.student_of(guild_id, member.id)
            if own is not None:  # their own entry only: the roster is never shown to students
                raise UserFacingError(texts.ALREADY_LINKED.format(name=own.name))
            tries = await self.repository.attempts_since(guild_id, member.id, now - TRY_WINDOW)
            if len(tries) >= MAX_WRONG_TRIES:
                until = tries[-MAX_WRONG_TRIES] + TRY_WINDOW
                raise UserFacingError(texts.PAUSED.format(until=discord_time(until, "t")))
            entry_id = await self._check_code(guild_id, typed)
            if entry_id is None or not await self.repository.link(
                guild_id, entry_id, member.id, now
            ):
                await self.repository.record_attempt(guild_id, member.id, now)
                left = MAX_WRONG_TRIES - len(tries) - 1
                if left <= 0:
                    until = now + TRY_WINDOW
                    raise UserFacingError(texts.PAUSED.format(until=discord_time(until, "t")))
                raise UserFacingError(texts.WRONG_CODE.format(left=left))
        student = await self.repository.student(guild_id, entry_id)
        assert student is not None
        return student, await self._give_role(member, student)

    async def _check_code(self, guild_id: int, typed: str) -> int | None:
        parts = split_code(typed)
        if parts is None:
            return None
        stored = await self.repository.code(guild_id, parts[0])
        if stored is None:
            # The same work as a real check, so timing says nothing about the selector.
            await asyncio.to_thread(verify, parts[1], b"0" * 16, "")
            return None
        ok = await asyncio.to_thread(verify, parts[1], stored.salt, stored.secret_hash)
        return stored.entry_id if ok else None

    async def _give_role(self, member: discord.Member, student: Student) -> Cohort | None:
        cohorts = {c.cohort_id: c for c in await self.setup.cohorts(member.guild.id)}
        cohort = cohorts.get(student.cohort_id or 0)
        if cohort is None:
            return None
        role = member.guild.get_role(cohort.student_role_id)
        if role is not None and role not in member.roles:
            try:
                await member.add_roles(role, reason="Linked to the course roster")
            except discord.HTTPException:
                log.warning(
                    "Could not give cohort %s's role in guild %s (check Manage Roles and the "
                    "role order)",
                    cohort.cohort_id,
                    member.guild.id,
                )
        return cohort

    async def link(self, member: discord.Member, entry_id: int) -> tuple[Student, Cohort | None]:
        """An instructor links a member to a roster entry by hand."""
        guild_id = member.guild.id
        student = await self.repository.student(guild_id, entry_id)
        if student is None:
            raise UserFacingError("Pick a student from the list (start typing their name).")
        if student.user_id is not None:
            raise UserFacingError(
                f"{student.name} is already linked to <@{student.user_id}>: unlink them first "
                "with /course roster unlink. Nothing was changed."
            )
        other = await self.repository.student_of(guild_id, member.id)
        if other is not None:
            raise UserFacingError(
                f"{member.display_name} is already linked to {other.name}: unlink that first. "
                "Nothing was changed."
            )
        if not await self.repository.link(guild_id, entry_id, member.id, self.clock.now()):
            raise UserFacingError("That link changed meanwhile; nothing was changed. Try again.")
        linked = await self.repository.student(guild_id, entry_id)
        assert linked is not None
        return linked, await self._give_role(member, linked)

    async def unlink(self, guild_id: int, entry_id: int) -> tuple[Student, int | None]:
        student = await self.repository.student(guild_id, entry_id)
        if student is None:
            raise UserFacingError("Pick a student from the list (start typing their name).")
        return student, await self.repository.unlink(guild_id, entry_id)

    async def search(self, guild_id: int, needle: str) -> list[Student]:
        return await self.repository.search(guild_id, needle)

    async def has_unlinked(self, guild_id: int) -> bool:
        return await self.repository.has_unlinked(guild_id)

    async def own_link(self, guild_id: int, user_id: int) -> Student | None:
        """A student sees only their own entry."""
        return await self.repository.student_of(guild_id, user_id)

    # ----- what the digest and status see --------------------------------------------------

    async def not_arrived(
        self, guild: discord.Guild, cohort_id: int, week_start: datetime
    ) -> NotArrived:
        """Enrolled students not on the server: unlinked, or linked to someone who left. A
        student who erased their data while on the server is not missing (no id is kept, so
        a later departure of theirs cannot be seen)."""
        missing = [
            s
            for s in await self.repository.students(guild.id)
            if s.cohort_id == cohort_id
            and s.status == ENROLLED
            and not s.erased_on_server
            and (s.user_id is None or guild.get_member(s.user_id) is None)
        ]
        new = sum(1 for s in missing if s.added_at >= week_start)
        return NotArrived(missing, new)

    async def link_rates(self, guild_id: int) -> dict[int | None, tuple[int, int]]:
        """Per cohort (None: no cohort): (linked, enrolled)."""
        rates: dict[int | None, tuple[int, int]] = {}
        for s in await self.repository.students(guild_id):
            if s.status != ENROLLED:
                continue
            linked, total = rates.get(s.cohort_id, (0, 0))
            rates[s.cohort_id] = (linked + (s.user_id is not None), total + 1)
        return rates

    # ----- term and retention --------------------------------------------------------------

    async def term_closed(self, guild: discord.Guild, cohort: Cohort, now: datetime) -> str:
        expired = await self.repository.close_cohort(guild.id, cohort.cohort_id, now)
        return f"✅ Join codes expired: {expired}."

    async def purge_due(self, now: datetime) -> tuple[int, int]:
        """Retention: roster rows of terms closed longer ago than the retention period;
        wrong-try records and unapplied previews older than a day."""
        removed = await self.repository.purge_closed_before(now - self.retention)
        await self.repository.forget_attempts_before(now - timedelta(days=1))
        await self.repository.forget_pending_before(now - timedelta(days=1))
        return 0, removed


def _new_codes(count: int, taken: set[str]) -> list[IssuedCode]:
    issued: list[IssuedCode] = []
    seen = set(taken)
    while len(issued) < count:
        code = new_code()
        if code.selector in seen:
            continue  # selectors are unique per server
        seen.add(code.selector)
        issued.append(code)
    return issued
