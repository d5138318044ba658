"""Open the store the settings name: SQLite (the default) or PostgreSQL (``DATABASE_URL``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.db import Database

if TYPE_CHECKING:
    from bot.store.migrations import Migration

__all__ = ["open_database"]


async def open_database(
    target: str | Path,
    *,
    busy_timeout_ms: int = 5000,
    migrations: Sequence[Migration] | None = None,
    files_beside: Path | None = None,
) -> Database:
    """``target`` is a ``postgresql://`` URL or an SQLite path (``sqlite:///`` URLs too).

    ``files_beside`` is where files kept beside a PostgreSQL database go (the tombstones);
    for SQLite that is the database file itself."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from bot.store.postgres import PostgresDatabase  # asyncpg only when it is used

        return await PostgresDatabase.open_url(
            text,
            path=files_beside or Path("data/postgresql"),
            migrations=migrations,
        )
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
    return await Database.open(text, busy_timeout_ms=busy_timeout_ms, migrations=migrations)
