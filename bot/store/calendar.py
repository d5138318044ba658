"""The course calendar of each cohort and students' away periods. All SQL for them lives here.

Every query filters by ``guild_id``. Times are Unix seconds; calendar dates and away dates are
local ISO dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from bot.calendar import CalendarSpec
from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.times import maybe_from_db_time, to_db_time

__all__ = ["AwayRecord", "AwayRepository", "CalendarRecord", "CalendarRepository"]


# ---------------------------------------------------------------------- calendars


@dataclass(frozen=True)
class CalendarRecord:
    guild_id: int
    cohort_id: int
    start: date
    weeks: int
    break_weeks: tuple[date, ...]
    closed_at: datetime | None

    def spec(self, timezone: str) -> CalendarSpec:
        return CalendarSpec(self.start, self.weeks, timezone, self.break_weeks)


def _calendar(row: aiosqlite.Row) -> CalendarRecord:
    breaks = tuple(date.fromisoformat(d) for d in str(row["break_weeks"]).split(",") if d)
    return CalendarRecord(
        guild_id=int(row["guild_id"]),
        cohort_id=int(row["cohort_id"]),
        start=date.fromisoformat(row["start_date"]),
        weeks=int(row["weeks"]),
        break_weeks=breaks,
        closed_at=maybe_from_db_time(row["closed_at"]),
    )


class CalendarRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("course_calendars",)

    async def save(
        self,
        guild_id: int,
        cohort_id: int,
        spec: CalendarSpec,
        *,
        now: datetime,
    ) -> None:
        """Set a cohort's calendar (a new term: clears the closed mark)."""
        await self._db.execute_write(
            "INSERT INTO course_calendars (guild_id, cohort_id, start_date, weeks, break_weeks, "
            "closed_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (guild_id, cohort_id) DO UPDATE SET start_date = excluded.start_date, "
            "weeks = excluded.weeks, break_weeks = excluded.break_weeks, closed_at = NULL, "
            "updated_at = excluded.updated_at",
            (
                guild_id,
                cohort_id,
                spec.start.isoformat(),
                spec.weeks,
                ",".join(d.isoformat() for d in spec.break_weeks),
                to_db_time(now),
            ),
        )

    async def get(self, guild_id: int, cohort_id: int) -> CalendarRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM course_calendars WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )
        return None if row is None else _calendar(row)

    async def list_for_guild(self, guild_id: int) -> list[CalendarRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM course_calendars WHERE guild_id = ? ORDER BY cohort_id", (guild_id,)
        )
        return [_calendar(r) for r in rows]

    async def guild_ids(self) -> list[int]:
        """Guilds with at least one open calendar (the nudge engine's work list)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT guild_id FROM course_calendars WHERE closed_at IS NULL "
            "ORDER BY guild_id"
        )
        return [int(r["guild_id"]) for r in rows]

    async def close(self, guild_id: int, cohort_id: int, *, now: datetime) -> bool:
        changed = await self._db.execute_write(
            "UPDATE course_calendars SET closed_at = ? WHERE guild_id = ? AND cohort_id = ? "
            "AND closed_at IS NULL",
            (to_db_time(now), guild_id, cohort_id),
        )
        return changed == 1


# ---------------------------------------------------------------------- away


@dataclass(frozen=True)
class AwayRecord:
    guild_id: int
    user_id: int
    until: date  # inclusive, local date in the course zone
    note: str | None
    started_at: datetime


def _away(row: aiosqlite.Row) -> AwayRecord:
    started = maybe_from_db_time(row["started_at"])
    assert started is not None
    return AwayRecord(
        int(row["guild_id"]),
        int(row["user_id"]),
        date.fromisoformat(row["until_date"]),
        row["note"],
        started,
    )


class AwayRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("away",)

    exported = (PersonRows("away", "until_date, note, started_at"),)

    async def start(
        self, guild_id: int, user_id: int, until: date, note: str | None, *, now: datetime
    ) -> None:
        await self._db.execute_write(
            "INSERT INTO away (guild_id, user_id, until_date, note, started_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "until_date = excluded.until_date, note = excluded.note, "
            "started_at = excluded.started_at",
            (guild_id, user_id, until.isoformat(), note, to_db_time(now)),
        )

    async def end(self, guild_id: int, user_id: int) -> AwayRecord | None:
        record = await self.get(guild_id, user_id)
        if record is not None:
            await self._db.execute_write(
                "DELETE FROM away WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        return record

    async def get(self, guild_id: int, user_id: int) -> AwayRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM away WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return None if row is None else _away(row)

    async def all_for_guild(self, guild_id: int) -> list[AwayRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM away WHERE guild_id = ? ORDER BY user_id", (guild_id,)
        )
        return [_away(r) for r in rows]
