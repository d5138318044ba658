"""Nudge opt-ins, offers, the nudge log and settings.

All SQL for the nudge engine lives here; every query filters by ``guild_id``. Times are Unix
seconds. (The course calendar and away are the core's ``bot/store/calendar.py``; DM channels
the outbox's.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from bot.calendar import DEFAULT_QUIET_HOURS, QuietHours
from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.times import to_db_time
from cogs.nudges.rules import DEFAULT_INACTIVE_DAYS, DEFAULT_WEEKLY_CAP

__all__ = ["NudgeRepository", "NudgeSettings"]


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ---------------------------------------------------------------------- nudges


@dataclass(frozen=True)
class NudgeSettings:
    guild_id: int
    weekly_cap: int = DEFAULT_WEEKLY_CAP
    quiet: QuietHours = DEFAULT_QUIET_HOURS
    inactive_days: int = DEFAULT_INACTIVE_DAYS
    checkin_day: int = 2  # Wednesday: mid-week, when a nudge can still help
    batch_time: time = time(10, 0)  # local course time the day's batch is queued


class NudgeRepository(TablesRepository):
    """Opt-ins, offers, the nudge log and settings."""

    personal_tables: tuple[str, ...] = ("nudge_optins", "nudge_offers", "nudge_log")
    non_personal_tables: tuple[str, ...] = ("nudge_settings", "nudge_kind_settings")

    exported = (
        PersonRows("nudge_optins", "kind, opted_in, updated_at"),
        PersonRows("nudge_offers", "offered_at"),
        PersonRows("nudge_log", "cohort_id, kind, week_key, queued_at"),
    )

    # ----- opt-in

    async def set_opt_in(
        self, guild_id: int, user_id: int, kinds: Iterable[str], on: bool, *, now: datetime
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO nudge_optins (guild_id, user_id, kind, opted_in, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, kind) DO UPDATE SET "
                "opted_in = excluded.opted_in, updated_at = excluded.updated_at",
                [(guild_id, user_id, kind, 1 if on else 0, to_db_time(now)) for kind in kinds],
            )

    async def opt_ins(self, guild_id: int, user_id: int) -> dict[str, bool]:
        return await self._db.fetchmap(
            "SELECT kind, opted_in FROM nudge_optins WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
            key=str,
            value=bool,
        )

    async def opted_in_users(self, guild_id: int, kind: str) -> set[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM nudge_optins WHERE guild_id = ? AND kind = ? AND opted_in = 1",
            (guild_id, kind),
        )
        return {int(r["user_id"]) for r in rows}

    async def mark_offered(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """True for the first offer only (the opt-in is offered once)."""
        return await self._db.changed(
            "INSERT INTO nudge_offers (guild_id, user_id, offered_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO NOTHING",
            (guild_id, user_id, to_db_time(now)),
        )

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
                [(guild_id, cohort_id, u, k, w, o, to_db_time(now)) for u, k, w, o in entries],
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
        await self._db.upsert(
            "nudge_settings",
            {"guild_id": settings.guild_id},
            {
                "weekly_cap": settings.weekly_cap,
                "quiet_start": settings.quiet.start.strftime("%H:%M"),
                "quiet_end": settings.quiet.end.strftime("%H:%M"),
                "inactive_days": settings.inactive_days,
                "checkin_day": settings.checkin_day,
                "batch_time": settings.batch_time.strftime("%H:%M"),
                "updated_at": to_db_time(now),
            },
        )

    async def kind_switches(self, guild_id: int) -> dict[str, bool]:
        return await self._db.fetchmap(
            "SELECT kind, enabled FROM nudge_kind_settings WHERE guild_id = ?",
            (guild_id,),
            key=str,
            value=bool,
        )

    async def set_kind_enabled(self, guild_id: int, kind: str, enabled: bool) -> None:
        await self._db.upsert(
            "nudge_kind_settings", {"guild_id": guild_id, "kind": kind}, {"enabled": int(enabled)}
        )

    # ----- data contract
