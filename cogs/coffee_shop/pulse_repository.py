"""Milestones and the weekly pulse.

Weekly counts for the digest take ``(guild_id, start, end, cohort_id=None)``: ``start``
inclusive, ``end`` exclusive, aware datetimes; ``cohort_id`` None counts the whole server.
A row's cohort is the author's (or respondent's) first cohort when it was written (0: none).

The pulse keeps anonymous answers as per-answer totals (``coffee_pulse_tallies``) with no
student id, no time and no row per answer; who has answered is a separate table with no
answer in it. "Please reach out to me" is not anonymous and lives in ``coffee_reach_outs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time
from cogs.coffee_shop.repository_base import cohort_filter, counts_in_week
from cogs.coffee_shop.rules import PULSE_LABELS, check_milestone

__all__ = [
    "MilestoneRepository",
    "Pulse",
    "PulseRepository",
    "ReachOut",
]


# ---------------------------------------------------------------------- milestones


class MilestoneRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("coffee_milestones",)

    exported = (
        PersonRows("coffee_milestones", "milestone, reached_at, note", order_by="reached_at"),
    )

    async def record(
        self, guild_id: int, user_id: int, milestone: str, *, cohort_id: int, now: datetime
    ) -> bool:
        """True only the first time this student reaches this milestone."""
        check_milestone(milestone)
        return await self._db.changed(
            "INSERT INTO coffee_milestones (guild_id, user_id, milestone, cohort_id, reached_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, milestone) DO NOTHING",
            (guild_id, user_id, milestone, cohort_id, to_db_time(now)),
        )

    async def set_note(self, guild_id: int, user_id: int, milestone: str, note: str) -> None:
        await self._db.execute_write(
            "UPDATE coffee_milestones SET note = ? "
            "WHERE guild_id = ? AND user_id = ? AND milestone = ?",
            (note, guild_id, user_id, milestone),
        )

    async def of_user(self, guild_id: int, user_id: int) -> dict[str, str]:
        """milestone → note state ('off', 'sent', 'dm_closed', 'failed')."""
        return await self._db.fetchmap(
            "SELECT milestone, note FROM coffee_milestones WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
            key=str,
            value=str,
        )

    async def counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Milestones reached in the week, per milestone (no names)."""
        return await counts_in_week(
            self._db,
            "coffee_milestones",
            "milestone",
            "reached_at",
            guild_id,
            start,
            end,
            cohort_id,
        )


# ---------------------------------------------------------------------- pulse


@dataclass(frozen=True)
class Pulse:
    guild_id: int
    pulse_id: int
    week_start: date
    closes_at: datetime
    channel_id: int | None
    message_id: int | None


@dataclass(frozen=True)
class ReachOut:
    user_id: int
    pulse_id: int
    cohort_id: int
    created_at: datetime


_PULSES = Records("coffee_pulses", row_mapper(Pulse))
_reach_out = row_mapper(ReachOut)


class PulseRepository(TablesRepository):
    """Weekly pulses, their anonymous totals, who answered, and reach-out requests."""

    personal_tables: tuple[str, ...] = ("coffee_pulse_respondents", "coffee_reach_outs")
    non_personal_tables: tuple[str, ...] = ("coffee_pulse_tallies", "coffee_pulses")
    exported = (
        # What they answered was never stored with their name, so it cannot be exported.
        PersonRows(
            "coffee_pulse_respondents",
            "r.pulse_id, p.week_start",
            alias="r",
            join="JOIN coffee_pulses p ON p.pulse_id = r.pulse_id",
            order_by="r.pulse_id",
        ),
        PersonRows("coffee_reach_outs", "pulse_id, created_at"),
    )

    async def open_week(
        self, guild_id: int, week_start: date, closes_at: datetime, *, now: datetime
    ) -> Pulse:
        """The pulse of that week, created if needed."""
        await self._db.execute_write(
            "INSERT INTO coffee_pulses (guild_id, week_start, closes_at, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, week_start) DO NOTHING",
            (guild_id, week_start.isoformat(), to_db_time(closes_at), to_db_time(now)),
        )
        pulse = await _PULSES.one(
            self._db, "guild_id = ? AND week_start = ?", guild_id, week_start.isoformat()
        )
        assert pulse is not None
        return pulse

    async def set_message(
        self, guild_id: int, pulse_id: int, channel_id: int, message_id: int
    ) -> None:
        await self._db.execute_write(
            "UPDATE coffee_pulses SET channel_id = ?, message_id = ? "
            "WHERE guild_id = ? AND pulse_id = ?",
            (channel_id, message_id, guild_id, pulse_id),
        )

    async def get(self, guild_id: int, pulse_id: int) -> Pulse | None:
        return await _PULSES.one(self._db, "guild_id = ? AND pulse_id = ?", guild_id, pulse_id)

    async def answer(
        self, guild_id: int, pulse_id: int, user_id: int, *, cohort_id: int, answer: str
    ) -> bool:
        """Record one anonymous answer; False when this student already answered this pulse.

        One transaction: the respondent row (no answer in it) and +1 on the answer's total
        (no student in it)."""
        if answer not in PULSE_LABELS:
            raise ValueError(f"unknown pulse answer {answer!r}")
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO coffee_pulse_respondents (guild_id, pulse_id, user_id) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, pulse_id, user_id),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(
                "INSERT INTO coffee_pulse_tallies (guild_id, pulse_id, cohort_id, answer, count) "
                "VALUES (?, ?, ?, ?, 1) ON CONFLICT (guild_id, pulse_id, cohort_id, answer) "
                "DO UPDATE SET count = coffee_pulse_tallies.count + 1",
                (guild_id, pulse_id, cohort_id, answer),
            )
        return True

    async def has_answered(self, guild_id: int, pulse_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM coffee_pulse_respondents WHERE guild_id = ? AND pulse_id = ? "
            "AND user_id = ?",
            (guild_id, pulse_id, user_id),
        )
        return row is not None

    async def reach_out(
        self, guild_id: int, pulse_id: int, user_id: int, *, cohort_id: int, now: datetime
    ) -> bool:
        """Record a "please reach out"; False when this student already asked this week."""
        return await self._db.changed(
            "INSERT INTO coffee_reach_outs (guild_id, pulse_id, user_id, cohort_id, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, pulse_id, user_id, cohort_id, to_db_time(now)),
        )

    async def tallies(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Totals per answer over the pulses that closed in (start, end] (raw: apply
        :func:`cogs.coffee_shop.rules.summarize_pulse` before showing them to anyone).

        A still-open pulse never counts: comparing two digests around one more click would
        reveal that student's answer."""
        extra, params = cohort_filter(cohort_id, "t.cohort_id")
        return await self._db.fetchmap(
            "SELECT t.answer AS answer, SUM(t.count) AS n FROM coffee_pulse_tallies t "
            "JOIN coffee_pulses p ON p.pulse_id = t.pulse_id AND p.guild_id = t.guild_id "
            f"WHERE t.guild_id = ? AND p.closes_at > ? AND p.closes_at <= ?{extra} "
            "GROUP BY t.answer",
            (guild_id, to_db_time(start), to_db_time(end), *params),
            key=str,
        )

    async def pulse_tallies(self, guild_id: int, pulse_id: int) -> dict[str, int]:
        return await self._db.fetchmap(
            "SELECT answer, SUM(count) AS n FROM coffee_pulse_tallies "
            "WHERE guild_id = ? AND pulse_id = ? GROUP BY answer",
            (guild_id, pulse_id),
            key=str,
        )

    async def reach_outs(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> list[ReachOut]:
        """ "Please reach out to me" requests in the week (these name the student, by design)."""
        extra, params = cohort_filter(cohort_id)
        return await self._db.fetchall_as(
            _reach_out,
            "SELECT user_id, pulse_id, cohort_id, created_at FROM coffee_reach_outs "
            f"WHERE guild_id = ? AND created_at >= ? AND created_at < ?{extra} "
            "ORDER BY created_at",
            (guild_id, to_db_time(start), to_db_time(end), *params),
        )
