"""The course calendar of each cohort and students' away periods. All SQL for them lives here.

Every query filters by ``guild_id``. Times are Unix seconds; calendar dates and away dates are
local ISO dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.calendar import CalendarSpec
from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time

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


def _dates(text: str) -> tuple[date, ...]:
    return tuple(date.fromisoformat(d) for d in str(text).split(",") if d)


_CALENDARS = Records(
    "course_calendars",
    row_mapper(CalendarRecord, columns={"start": "start_date"}, convert={"break_weeks": _dates}),
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
        await self._db.upsert(
            "course_calendars",
            {"guild_id": guild_id, "cohort_id": cohort_id},
            {
                "start_date": spec.start.isoformat(),
                "weeks": spec.weeks,
                "break_weeks": ",".join(d.isoformat() for d in spec.break_weeks),
                "closed_at": None,
                "updated_at": to_db_time(now),
            },
        )

    async def get(self, guild_id: int, cohort_id: int) -> CalendarRecord | None:
        return await _CALENDARS.one(self._db, "guild_id = ? AND cohort_id = ?", guild_id, cohort_id)

    async def list_for_guild(self, guild_id: int) -> list[CalendarRecord]:
        return await _CALENDARS.all(self._db, "guild_id = ? ORDER BY cohort_id", guild_id)

    async def guild_ids(self) -> list[int]:
        """Guilds with at least one open calendar (the nudge engine's work list)."""
        return await self._db.fetchcolumn(
            int,
            "SELECT DISTINCT guild_id FROM course_calendars WHERE closed_at IS NULL "
            "ORDER BY guild_id",
        )

    async def close(self, guild_id: int, cohort_id: int, *, now: datetime) -> bool:
        return await self._db.changed(
            "UPDATE course_calendars SET closed_at = ? WHERE guild_id = ? AND cohort_id = ? "
            "AND closed_at IS NULL",
            (to_db_time(now), guild_id, cohort_id),
        )


# ---------------------------------------------------------------------- away


@dataclass(frozen=True)
class AwayRecord:
    guild_id: int
    user_id: int
    until: date  # inclusive, local date in the course zone
    note: str | None
    started_at: datetime


_AWAY = Records("away", row_mapper(AwayRecord, columns={"until": "until_date"}))


class AwayRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("away",)

    exported = (PersonRows("away", "until_date, note, started_at"),)

    async def start(
        self, guild_id: int, user_id: int, until: date, note: str | None, *, now: datetime
    ) -> None:
        await self._db.upsert(
            "away",
            {"guild_id": guild_id, "user_id": user_id},
            {"until_date": until.isoformat(), "note": note, "started_at": to_db_time(now)},
        )

    async def end(self, guild_id: int, user_id: int) -> AwayRecord | None:
        record = await self.get(guild_id, user_id)
        if record is not None:
            await self._db.execute_write(
                "DELETE FROM away WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        return record

    async def get(self, guild_id: int, user_id: int) -> AwayRecord | None:
        return await _AWAY.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def all_for_guild(self, guild_id: int) -> list[AwayRecord]:
        return await _AWAY.all(self._db, "guild_id = ? ORDER BY user_id", guild_id)
