"""The course calendar and "away" as services every feature asks (``app.calendar``,
``app.away``).

Calendar — ``await app.calendar.week_of(guild_id, cohort_id, instant)`` → a
:class:`bot.calendar.WeekStatus` ("course week N", "break", "not running"; a closed term is
not running). Everything that sends on the course's clock asks it first.

Away — ``await app.away.is_away(guild_id, user_id, now)`` (matching, the digest, nudges) and
``away_users(guild_id, now)``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.calendar import CalendarSpec, WeekStatus, week_of
from bot.guild_settings import GuildSettings
from bot.schedule_math import is_valid_timezone
from bot.store.calendar import AwayRecord, AwayRepository, CalendarRecord, CalendarRepository

__all__ = ["AwayService", "CalendarService"]


# ---------------------------------------------------------------------- calendar


class CalendarService:
    def __init__(self, repository: CalendarRepository, setup: GuildSettings) -> None:
        self.repository = repository
        self._setup = setup

    async def timezone(self, guild_id: int) -> str:
        config = await self._setup.config(guild_id)
        zone = config.timezone if config else "UTC"
        return zone if is_valid_timezone(zone) else "UTC"

    async def record(self, guild_id: int, cohort_id: int) -> CalendarRecord | None:
        return await self.repository.get(guild_id, cohort_id)

    async def spec(self, guild_id: int, cohort_id: int) -> CalendarSpec | None:
        record = await self.repository.get(guild_id, cohort_id)
        if record is None:
            return None
        return record.spec(await self.timezone(guild_id))

    async def week_of(self, guild_id: int, cohort_id: int, instant: datetime) -> WeekStatus:
        """Course week N, break, or not running (also after close-term) at ``instant``."""
        record = await self.repository.get(guild_id, cohort_id)
        if record is None:
            return week_of(None, instant)
        if record.closed_at is not None and record.closed_at <= instant:
            return WeekStatus("not_running", reason="term closed")
        return week_of(record.spec(await self.timezone(guild_id)), instant)

    async def save(self, guild_id: int, cohort_id: int, spec: CalendarSpec, now: datetime) -> None:
        await self.repository.save(guild_id, cohort_id, spec, now=now)


# ---------------------------------------------------------------------- away


class AwayService:
    def __init__(self, repository: AwayRepository, calendar: CalendarService) -> None:
        self.repository = repository
        self._calendar = calendar

    async def _today(self, guild_id: int, now: datetime) -> date:
        return now.astimezone(ZoneInfo(await self._calendar.timezone(guild_id))).date()

    async def is_away(self, guild_id: int, user_id: int, now: datetime) -> bool:
        record = await self.repository.get(guild_id, user_id)
        return record is not None and await self._today(guild_id, now) <= record.until

    async def away_users(self, guild_id: int, now: datetime) -> dict[int, AwayRecord]:
        today = await self._today(guild_id, now)
        return {
            r.user_id: r for r in await self.repository.all_for_guild(guild_id) if today <= r.until
        }

    async def expired(self, guild_id: int, now: datetime) -> list[AwayRecord]:
        today = await self._today(guild_id, now)
        return [r for r in await self.repository.all_for_guild(guild_id) if r.until < today]
