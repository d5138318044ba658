"""Calendars, nudge opt-ins and settings, DM channels and DM-closed marks, away, keep-in-touch.

All SQL for the nudge engine and the course calendar lives here; every query filters by
``guild_id``. Times are Unix seconds; calendar dates and away dates are local ISO dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import aiosqlite

from bot.calendar import DEFAULT_QUIET_HOURS, CalendarSpec, QuietHours
from bot.store.contract import row_to_dict
from bot.store.db import Database
from cogs.nudges.rules import DEFAULT_INACTIVE_DAYS, DEFAULT_WEEKLY_CAP

__all__ = [
    "AwayRecord",
    "AwayRepository",
    "CalendarRecord",
    "CalendarRepository",
    "KeepInTouchRepository",
    "NudgeRepository",
    "NudgeSettings",
]


def _ts(instant: datetime) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return int(instant.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
        closed_at=_dt(row["closed_at"]),
    )


class CalendarRepository:
    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("course_calendars",)

    def __init__(self, db: Database) -> None:
        self._db = db

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
                _ts(now),
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
            (_ts(now), guild_id, cohort_id),
        )
        return changed == 1

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM course_calendars WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- nudges


@dataclass(frozen=True)
class NudgeSettings:
    guild_id: int
    weekly_cap: int = DEFAULT_WEEKLY_CAP
    quiet: QuietHours = DEFAULT_QUIET_HOURS
    inactive_days: int = DEFAULT_INACTIVE_DAYS
    checkin_day: int = 2  # Wednesday: mid-week, when a nudge can still help
    batch_time: time = time(10, 0)  # local course time the day's batch is queued


class NudgeRepository:
    """Opt-ins, offers, the nudge log, settings, DM channel ids and DM-closed marks."""

    personal_tables: tuple[str, ...] = ("nudge_optins", "nudge_offers", "nudge_log", "dm_channels")
    non_personal_tables: tuple[str, ...] = ("nudge_settings", "nudge_kind_settings")

    def __init__(self, db: Database) -> None:
        self._db = db

    # ----- opt-in

    async def set_opt_in(
        self, guild_id: int, user_id: int, kinds: Iterable[str], on: bool, *, now: datetime
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO nudge_optins (guild_id, user_id, kind, opted_in, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, kind) DO UPDATE SET "
                "opted_in = excluded.opted_in, updated_at = excluded.updated_at",
                [(guild_id, user_id, kind, 1 if on else 0, _ts(now)) for kind in kinds],
            )

    async def opt_ins(self, guild_id: int, user_id: int) -> dict[str, bool]:
        rows = await self._db.fetchall(
            "SELECT kind, opted_in FROM nudge_optins WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {str(r["kind"]): bool(r["opted_in"]) for r in rows}

    async def opted_in_users(self, guild_id: int, kind: str) -> set[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM nudge_optins WHERE guild_id = ? AND kind = ? AND opted_in = 1",
            (guild_id, kind),
        )
        return {int(r["user_id"]) for r in rows}

    async def mark_offered(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """True for the first offer only (the opt-in is offered once)."""
        changed = await self._db.execute_write(
            "INSERT INTO nudge_offers (guild_id, user_id, offered_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO NOTHING",
            (guild_id, user_id, _ts(now)),
        )
        return changed == 1

    # ----- the log (caps)

    async def log_queued(
        self,
        guild_id: int,
        cohort_id: int,
        entries: Sequence[tuple[int, str, str, int]],
        *,
        now: datetime,
    ) -> None:
        """entries: (user_id, kind, week_key, outbox_id)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO nudge_log (guild_id, cohort_id, user_id, kind, week_key, outbox_id, "
                "queued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(guild_id, cohort_id, u, k, w, o, _ts(now)) for u, k, w, o in entries],
            )

    async def week_counts(
        self, guild_id: int, week_key: str, user_ids: Sequence[int]
    ) -> dict[int, dict[str, int]]:
        """user → kind → nudges queued in that course week (cancelled/expired rows excluded)."""
        result: dict[int, dict[str, int]] = {}
        for chunk in _chunks(list(user_ids)):
            marks = ",".join("?" for _ in chunk)
            rows = await self._db.fetchall(
                "SELECT l.user_id, l.kind, COUNT(*) AS n FROM nudge_log l "
                "LEFT JOIN outbox o ON o.id = l.outbox_id AND o.guild_id = l.guild_id "
                f"WHERE l.guild_id = ? AND l.week_key = ? AND l.user_id IN ({marks}) "
                "AND (o.state IS NULL OR o.state NOT IN ('cancelled', 'expired')) "
                "GROUP BY l.user_id, l.kind",
                (guild_id, week_key, *chunk),
            )
            for r in rows:
                result.setdefault(int(r["user_id"]), {})[str(r["kind"])] = int(r["n"])
        return result

    # ----- settings

    async def settings(self, guild_id: int) -> NudgeSettings:
        row = await self._db.fetchone(
            "SELECT * FROM nudge_settings WHERE guild_id = ?", (guild_id,)
        )
        base = NudgeSettings(guild_id)
        if row is None:
            return base
        quiet = QuietHours(
            time.fromisoformat(row["quiet_start"]) if row["quiet_start"] else base.quiet.start,
            time.fromisoformat(row["quiet_end"]) if row["quiet_end"] else base.quiet.end,
        )
        return NudgeSettings(
            guild_id=guild_id,
            weekly_cap=base.weekly_cap if row["weekly_cap"] is None else int(row["weekly_cap"]),
            quiet=quiet,
            inactive_days=(
                base.inactive_days if row["inactive_days"] is None else int(row["inactive_days"])
            ),
            checkin_day=base.checkin_day if row["checkin_day"] is None else int(row["checkin_day"]),
            batch_time=(
                time.fromisoformat(row["batch_time"]) if row["batch_time"] else base.batch_time
            ),
        )

    async def save_settings(self, settings: NudgeSettings, *, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO nudge_settings (guild_id, weekly_cap, quiet_start, quiet_end, "
            "inactive_days, checkin_day, batch_time, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET weekly_cap = excluded.weekly_cap, "
            "quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, "
            "inactive_days = excluded.inactive_days, checkin_day = excluded.checkin_day, "
            "batch_time = excluded.batch_time, updated_at = excluded.updated_at",
            (
                settings.guild_id,
                settings.weekly_cap,
                settings.quiet.start.strftime("%H:%M"),
                settings.quiet.end.strftime("%H:%M"),
                settings.inactive_days,
                settings.checkin_day,
                settings.batch_time.strftime("%H:%M"),
                _ts(now),
            ),
        )

    async def kind_switches(self, guild_id: int) -> dict[str, bool]:
        rows = await self._db.fetchall(
            "SELECT kind, enabled FROM nudge_kind_settings WHERE guild_id = ?", (guild_id,)
        )
        return {str(r["kind"]): bool(r["enabled"]) for r in rows}

    async def set_kind_enabled(self, guild_id: int, kind: str, enabled: bool) -> None:
        await self._db.execute_write(
            "INSERT INTO nudge_kind_settings (guild_id, kind, enabled) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, kind) DO UPDATE SET enabled = excluded.enabled",
            (guild_id, kind, 1 if enabled else 0),
        )

    # ----- DM channels

    async def dm_channel_id(self, guild_id: int, user_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT dm_channel_id FROM dm_channels WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return None if row is None or row["dm_channel_id"] is None else int(row["dm_channel_id"])

    async def is_dm_closed(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM dm_channels WHERE guild_id = ? AND user_id = ? "
            "AND dm_closed_at IS NOT NULL",
            (guild_id, user_id),
        )
        return row is not None

    async def save_dm_channel(self, guild_id: int, user_id: int, channel_id: int) -> None:
        await self._db.execute_write(
            "INSERT INTO dm_channels (guild_id, user_id, dm_channel_id) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_channel_id = excluded.dm_channel_id",
            (guild_id, user_id, channel_id),
        )

    async def save_dm_channels(self, guild_id: int, pairs: Sequence[tuple[int, int]]) -> None:
        """(user_id, channel_id) pairs in one transaction (used to warm the cache in bulk)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO dm_channels (guild_id, user_id, dm_channel_id) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
                "dm_channel_id = excluded.dm_channel_id",
                [(guild_id, u, c) for u, c in pairs],
            )

    async def mark_dm_closed(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """True when the mark is new (so callers report it once)."""
        changed = await self._db.execute_write(
            "INSERT INTO dm_channels (guild_id, user_id, dm_closed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET dm_closed_at = excluded.dm_closed_at "
            "WHERE dm_channels.dm_closed_at IS NULL",
            (guild_id, user_id, _ts(now)),
        )
        return changed == 1

    async def clear_dm_closed(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "UPDATE dm_channels SET dm_closed_at = NULL WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )

    async def dm_closed_users(self, guild_id: int) -> dict[int, datetime]:
        rows = await self._db.fetchall(
            "SELECT user_id, dm_closed_at FROM dm_channels WHERE guild_id = ? "
            "AND dm_closed_at IS NOT NULL ORDER BY user_id",
            (guild_id,),
        )
        out: dict[int, datetime] = {}
        for r in rows:
            closed = _dt(r["dm_closed_at"])
            assert closed is not None
            out[int(r["user_id"])] = closed
        return out

    # ----- data contract

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for table, columns in (
            ("nudge_optins", "kind, opted_in, updated_at"),
            ("nudge_offers", "offered_at"),
            ("nudge_log", "cohort_id, kind, week_key, queued_at"),
            ("dm_channels", "dm_channel_id, dm_closed_at"),
        ):
            rows = await self._db.fetchall(
                f"SELECT {columns} FROM {table} WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            out[table] = [row_to_dict(r) for r in rows]
        return out

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            for table in self.personal_tables:
                await conn.execute(
                    f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
                )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            for table in (*self.personal_tables, *self.non_personal_tables):
                await conn.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- away


@dataclass(frozen=True)
class AwayRecord:
    guild_id: int
    user_id: int
    until: date  # inclusive, local date in the course zone
    note: str | None
    started_at: datetime


def _away(row: aiosqlite.Row) -> AwayRecord:
    started = _dt(row["started_at"])
    assert started is not None
    return AwayRecord(
        int(row["guild_id"]),
        int(row["user_id"]),
        date.fromisoformat(row["until_date"]),
        row["note"],
        started,
    )


class AwayRepository:
    personal_tables: tuple[str, ...] = ("away",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(
        self, guild_id: int, user_id: int, until: date, note: str | None, *, now: datetime
    ) -> None:
        await self._db.execute_write(
            "INSERT INTO away (guild_id, user_id, until_date, note, started_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "until_date = excluded.until_date, note = excluded.note, "
            "started_at = excluded.started_at",
            (guild_id, user_id, until.isoformat(), note, _ts(now)),
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

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT until_date, note, started_at FROM away WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {"away": [row_to_dict(r) for r in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM away WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM away WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- keep in touch


class KeepInTouchRepository:
    personal_tables: tuple[str, ...] = ("keep_in_touch",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def opt_in(
        self, guild_id: int, cohort_id: int, user_id: int, contact_line: str, *, now: datetime
    ) -> None:
        await self._db.execute_write(
            "INSERT INTO keep_in_touch (guild_id, cohort_id, user_id, contact_line, opted_in_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, cohort_id, user_id) DO UPDATE SET "
            "contact_line = excluded.contact_line, opted_in_at = excluded.opted_in_at",
            (guild_id, cohort_id, user_id, contact_line, _ts(now)),
        )

    async def opt_out(self, guild_id: int, cohort_id: int, user_id: int) -> bool:
        changed = await self._db.execute_write(
            "DELETE FROM keep_in_touch WHERE guild_id = ? AND cohort_id = ? AND user_id = ?",
            (guild_id, cohort_id, user_id),
        )
        return changed == 1

    async def members(self, guild_id: int, cohort_id: int) -> dict[int, str]:
        rows = await self._db.fetchall(
            "SELECT user_id, contact_line FROM keep_in_touch WHERE guild_id = ? AND cohort_id = ? "
            "ORDER BY opted_in_at, user_id",
            (guild_id, cohort_id),
        )
        return {int(r["user_id"]): str(r["contact_line"]) for r in rows}

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT cohort_id, contact_line, opted_in_at FROM keep_in_touch "
            "WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {"keep_in_touch": [row_to_dict(r) for r in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM keep_in_touch WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM keep_in_touch WHERE guild_id = ?", (guild_id,))
