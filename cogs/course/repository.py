"""Keep in touch after the term: the contact lines students chose to share. All its SQL."""

from __future__ import annotations

from datetime import datetime

from bot.store.contract import (
    PersonRows,
    TablesRepository,
)
from bot.store.times import to_db_time

__all__ = ["KeepInTouchRepository"]


class KeepInTouchRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("keep_in_touch",)

    exported = (PersonRows("keep_in_touch", "cohort_id, contact_line, opted_in_at"),)

    async def opt_in(
        self, guild_id: int, cohort_id: int, user_id: int, contact_line: str, *, now: datetime
    ) -> None:
        await self._db.upsert(
            "keep_in_touch",
            {"guild_id": guild_id, "cohort_id": cohort_id, "user_id": user_id},
            {"contact_line": contact_line, "opted_in_at": to_db_time(now)},
        )

    async def opt_out(self, guild_id: int, cohort_id: int, user_id: int) -> bool:
        return await self._db.changed(
            "DELETE FROM keep_in_touch WHERE guild_id = ? AND cohort_id = ? AND user_id = ?",
            (guild_id, cohort_id, user_id),
        )

    async def members(self, guild_id: int, cohort_id: int) -> dict[int, str]:
        return await self._db.fetchmap(
            "SELECT user_id, contact_line FROM keep_in_touch WHERE guild_id = ? AND cohort_id = ? "
            "ORDER BY opted_in_at, user_id",
            (guild_id, cohort_id),
            value=str,
        )
