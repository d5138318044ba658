"""What the coffee shop's repository modules share: the cohort filter and the week's counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.db import Database
from bot.store.times import to_db_time

__all__ = ["cohort_filter", "counts_in_week"]


def cohort_filter(cohort_id: int | None, column: str = "cohort_id") -> tuple[str, tuple[Any, ...]]:
    if cohort_id is None:
        return "", ()
    return f" AND {column} = ?", (cohort_id,)


async def counts_in_week(
    db: Database,
    table: str,
    key: str,
    at: str,
    guild_id: int,
    start: datetime,
    end: datetime,
    cohort_id: int | None,
) -> dict[str, int]:
    """Rows of ``table`` per value of ``key``, among the guild's (or the cohort's) rows whose
    instant ``at`` is in [start, end)."""
    extra, params = cohort_filter(cohort_id)
    return await db.fetchmap(
        f"SELECT {key} AS k, COUNT(*) AS n FROM {table} WHERE guild_id = ? "
        f"AND {at} >= ? AND {at} < ?{extra} GROUP BY {key}",
        (guild_id, to_db_time(start), to_db_time(end), *params),
        key=str,
    )
