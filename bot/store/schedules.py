"""Recurring weekly schedules (table ``schedules``): a local weekday and time in an IANA zone.

The schedules hold no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.schedule_math import is_valid_timezone, next_occurrence
from bot.store.contract import TablesRepository
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time

__all__ = ["Schedule", "ScheduleRepository"]


@dataclass(frozen=True)
class Schedule:
    """A weekly schedule of one ``kind`` (``"prompt"``, ``"digest"`` …) for a cohort.

    ``cohort_id`` 0 means the whole guild. ``weekday`` is 0 for Monday … 6 for Sunday;
    ``local_time`` a naive wall-clock time with whole minutes; ``timezone`` an IANA name.
    ``created_at`` is the instant from which occurrences count: an occurrence before it is
    never run (set it to "now" when a schedule is created or moved).
    """

    guild_id: int
    cohort_id: int
    kind: str
    weekday: int
    local_time: time
    timezone: str
    enabled: bool
    created_at: datetime

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) … 6 (Sunday), not {self.weekday}")
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time must be a naive wall-clock time")
        if self.local_time.second or self.local_time.microsecond:
            raise ValueError("local_time must be a whole minute")
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")
        if not self.kind:
            raise ValueError("kind must not be empty")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_run(self, now: datetime) -> datetime:
        """The first occurrence after ``now`` (for "Next: …" in a command's reply)."""
        return next_occurrence(self.weekday, self.local_time, self.zone, now)


_SCHEDULES = Records(
    "schedules",
    row_mapper(Schedule),
    columns="guild_id, cohort_id, kind, weekday, local_time, timezone, enabled, created_at",
)


class ScheduleRepository(TablesRepository):
    non_personal_tables: tuple[str, ...] = ("schedules",)

    async def upsert(self, schedule: Schedule) -> None:
        """Insert or replace the schedule of (guild, cohort, kind); every field is written,
        ``created_at`` included. Raises ValueError for a time zone not on the allowlist."""
        if not is_valid_timezone(schedule.timezone):
            raise ValueError(
                f"{schedule.timezone!r} is not an allowed time zone (use an IANA name such as "
                "'America/New_York')"
            )
        await self._db.upsert(
            "schedules",
            {"guild_id": schedule.guild_id, "cohort_id": schedule.cohort_id, "kind": schedule.kind},
            {
                "weekday": schedule.weekday,
                "local_time": schedule.local_time.strftime("%H:%M"),
                "timezone": schedule.timezone,
                "enabled": 1 if schedule.enabled else 0,
                "created_at": to_db_time(schedule.created_at),
            },
        )

    async def save_weekly(
        self,
        guild_id: int,
        cohort_id: int,
        kind: str,
        weekday: int,
        local_time: time,
        timezone: str,
        *,
        now: datetime,
    ) -> Schedule:
        """Set (or move) a weekly schedule, enabled, counting occurrences from ``now``."""
        schedule = Schedule(guild_id, cohort_id, kind, weekday, local_time, timezone, True, now)
        await self.upsert(schedule)
        return schedule

    async def get(self, guild_id: int, cohort_id: int, kind: str) -> Schedule | None:
        return await _SCHEDULES.one(
            self._db, "guild_id = ? AND cohort_id = ? AND kind = ?", guild_id, cohort_id, kind
        )

    async def list_enabled(self) -> list[Schedule]:
        """Enabled schedules of ALL guilds (to rebuild the scheduler)."""
        return await _SCHEDULES.all(self._db, "enabled = 1 ORDER BY guild_id, cohort_id, kind")

    async def list_for_guild(self, guild_id: int) -> list[Schedule]:
        return await _SCHEDULES.all(self._db, "guild_id = ? ORDER BY cohort_id, kind", guild_id)

    async def disable(self, guild_id: int, cohort_id: int, kind: str) -> bool:
        """Switch a schedule off; False when there is no such schedule."""
        return await self._db.changed(
            "UPDATE schedules SET enabled = 0 WHERE guild_id = ? AND cohort_id = ? AND kind = ?",
            (guild_id, cohort_id, kind),
        )

    async def delete(self, guild_id: int, cohort_id: int, kind: str) -> bool:
        return await self._db.changed(
            "DELETE FROM schedules WHERE guild_id = ? AND cohort_id = ? AND kind = ?",
            (guild_id, cohort_id, kind),
        )
