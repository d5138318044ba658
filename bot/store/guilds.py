"""Guild configuration, cohorts and text-template overrides. All SQL for them lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from bot.guild_model import Cohort, GuildConfig
from bot.store.contract import PersonRows, TablesRepository, unname_rows_in
from bot.store.db import Connection, Database
from bot.store.guild_cache import GuildCache
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time

__all__ = [
    "Cohort",
    "CohortRepository",
    "GuildConfig",
    "GuildConfigRepository",
    "TemplateOverride",
    "TemplateRepository",
]


_CONFIG_COLUMNS = (
    "instructor_role_id",
    "intro_channel_id",
    "discussion_channel_id",
    "coffee_channel_id",
    "leads_channel_id",
    "timezone",
)


_CONFIGS = Records("guild_config", row_mapper(GuildConfig))


class GuildConfigRepository(TablesRepository):
    non_personal_tables = ("guild_config",)

    async def get(self, guild_id: int) -> GuildConfig | None:
        return await _CONFIGS.one(self._db, "guild_id = ?", guild_id)

    async def save(self, config: GuildConfig, *, now: datetime) -> None:
        stamp = to_db_time(now)
        await self._db.upsert(
            "guild_config",
            {"guild_id": config.guild_id},
            {**{col: getattr(config, col) for col in _CONFIG_COLUMNS}, "updated_at": stamp},
            on_insert={"created_at": stamp},
        )


_COHORTS = Records("cohorts", row_mapper(Cohort))


class CohortRepository(TablesRepository):
    non_personal_tables = ("cohorts",)

    async def list(self, guild_id: int) -> list[Cohort]:
        return await _COHORTS.all(self._db, "guild_id = ? ORDER BY cohort_id", guild_id)

    async def get(self, guild_id: int, cohort_id: int) -> Cohort | None:
        return await _COHORTS.one(self._db, "guild_id = ? AND cohort_id = ?", guild_id, cohort_id)

    async def find_by_name(self, guild_id: int, name: str) -> Cohort | None:
        return await _COHORTS.one(
            self._db, "guild_id = ? AND name = ? COLLATE NOCASE", guild_id, name
        )

    async def find_by_role(self, guild_id: int, role_id: int) -> Cohort | None:
        return await _COHORTS.one(
            self._db, "guild_id = ? AND student_role_id = ?", guild_id, role_id
        )

    async def add(
        self,
        guild_id: int,
        name: str,
        student_role_id: int,
        lead_role_id: int | None,
        *,
        now: datetime,
    ) -> Cohort:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO cohorts (guild_id, name, student_role_id, lead_role_id, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING cohort_id",
                (guild_id, name, student_role_id, lead_role_id, to_db_time(now)),
            )
            cohort_id = int((await cursor.fetchone())["cohort_id"])
        assert cohort_id is not None
        return Cohort(guild_id, cohort_id, name, student_role_id, lead_role_id)

    async def update(self, cohort: Cohort) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE cohorts SET name = ?, student_role_id = ?, lead_role_id = ? "
                "WHERE guild_id = ? AND cohort_id = ?",
                (
                    cohort.name,
                    cohort.student_role_id,
                    cohort.lead_role_id,
                    cohort.guild_id,
                    cohort.cohort_id,
                ),
            )

    async def remove(self, guild_id: int, cohort_id: int) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM cohorts WHERE guild_id = ? AND cohort_id = ?", (guild_id, cohort_id)
            )
            return cursor.rowcount > 0


@dataclass(frozen=True)
class TemplateOverride:
    key: str
    body: str
    updated_by: int | None
    updated_at: datetime


_override = row_mapper(TemplateOverride)


class TemplateRepository(TablesRepository):
    """Per-guild overrides of the shipped text templates; records which instructor edited.

    Every student-facing reply reads them, so they are kept in memory per guild. Every write
    to ``text_templates`` goes through this class (or ``forget`` after a guild purge), and
    each write drops the guild's entry once it has committed or rolled back. A read that was
    under way during a write does not store what it read (a generation count per guild), so
    the cache never keeps text older than the last write.
    """

    personal_tables = ("text_templates",)
    exported = (PersonRows("text_templates", "key, updated_at", person="updated_by"),)

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._cache: GuildCache[dict[str, TemplateOverride]] = GuildCache()

    async def overrides(self, guild_id: int) -> dict[str, TemplateOverride]:
        return dict(await self._cache.get(guild_id, lambda: self._read_overrides(guild_id)))

    async def _read_overrides(self, guild_id: int) -> dict[str, TemplateOverride]:
        overrides = await self._db.fetchall_as(
            _override,
            "SELECT key, body, updated_by, updated_at FROM text_templates WHERE guild_id = ?",
            (guild_id,),
        )
        return {override.key: override for override in overrides}

    def forget(self, guild_id: int) -> None:
        """Drop the guild's cached overrides (after a write, or a purge done elsewhere)."""
        self._cache.forget(guild_id)

    @asynccontextmanager
    async def _writing(self, guild_id: int) -> AsyncIterator[Connection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        finally:
            # Committed or not: a read may have seen the open transaction's rows.
            self.forget(guild_id)

    async def set(
        self, guild_id: int, key: str, body: str, *, updated_by: int, now: datetime
    ) -> None:
        async with self._writing(guild_id) as conn:
            await conn.execute(
                "INSERT INTO text_templates (guild_id, key, body, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, key) DO UPDATE SET "
                "body = excluded.body, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                (guild_id, key, body, updated_by, to_db_time(now)),
            )

    async def reset(self, guild_id: int, key: str) -> bool:
        async with self._writing(guild_id) as conn:
            cursor = await conn.execute(
                "DELETE FROM text_templates WHERE guild_id = ? AND key = ?", (guild_id, key)
            )
            return cursor.rowcount > 0

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        # The template text belongs to the course; only the editor's identity is personal.
        async with self._writing(guild_id) as conn:
            await unname_rows_in(conn, guild_id, user_id, [("text_templates", "updated_by")])
