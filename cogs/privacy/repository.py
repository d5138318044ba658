"""SQL for privacy and operations: guild presence, closed terms, applied tombstones, and the
generic per-guild purge and person-column scan that back retention and tombstones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.store.contract import PersonRows, TablesRepository
from bot.store.sql import Sql
from bot.store.times import from_db_time, to_db_time

#: Columns that hold a person's Discord user id, by naming convention across the schema.
PERSON_COLUMN = re.compile(
    r"(^|_)(user|author|member|student|giver|recipient|receiver|reporter|reported|lead|"
    r"newcomer|welcomer|partner|clicked_by|updated_by|welcomed_by|decided_by)(_id)?$"
)


# Foreign keys are checked at the commit, so the tables can be emptied in any order.
_DEFER_FOREIGN_KEYS = Sql(
    sqlite="PRAGMA defer_foreign_keys = ON", postgresql="SET CONSTRAINTS ALL DEFERRED"
)


@dataclass(frozen=True)
class TermClosure:
    guild_id: int
    cohort_id: int
    closed_at: datetime


class PrivacyRepository(TablesRepository):
    personal_tables = ("term_roster",)
    non_personal_tables = ("guild_presence", "term_closures", "applied_tombstones")
    exported = (PersonRows("term_roster", "cohort_id, closed_at"),)

    # ----- guild presence ---------------------------------------------------------------

    async def mark_present(self, guild_id: int) -> None:
        await self._db.upsert("guild_presence", {"guild_id": guild_id}, {"removed_at": None})

    async def mark_removed(self, guild_id: int, now: datetime) -> None:
        await self._db.upsert(
            "guild_presence", {"guild_id": guild_id}, {"removed_at": to_db_time(now)}
        )

    async def removed_before(self, cutoff: datetime) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT guild_id FROM guild_presence WHERE removed_at IS NOT NULL AND removed_at < ?",
            (to_db_time(cutoff),),
        )
        return [row["guild_id"] for row in rows]

    # ----- terms ------------------------------------------------------------------------

    async def record_term_closed(
        self, guild_id: int, cohort_id: int, closed_at: datetime, user_ids: list[int]
    ) -> None:
        stamp = to_db_time(closed_at)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO term_closures (guild_id, cohort_id, closed_at) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, cohort_id, stamp),
            )
            await conn.executemany(
                "INSERT INTO term_roster (guild_id, cohort_id, closed_at, user_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(guild_id, cohort_id, stamp, uid) for uid in user_ids],
            )

    async def closures_due(self, cutoff: datetime) -> list[TermClosure]:
        rows = await self._db.fetchall(
            "SELECT guild_id, cohort_id, closed_at FROM term_closures "
            "WHERE purged_at IS NULL AND closed_at < ?",
            (to_db_time(cutoff),),
        )
        return [
            TermClosure(row["guild_id"], row["cohort_id"], from_db_time(row["closed_at"]))
            for row in rows
        ]

    async def roster(self, closure: TermClosure) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM term_roster WHERE guild_id = ? AND cohort_id = ? "
            "AND closed_at = ?",
            (closure.guild_id, closure.cohort_id, to_db_time(closure.closed_at)),
        )
        return [row["user_id"] for row in rows]

    async def mark_purged(self, closure: TermClosure, now: datetime) -> None:
        await self._db.execute_write(
            "UPDATE term_closures SET purged_at = ? WHERE guild_id = ? AND cohort_id = ? "
            "AND closed_at = ?",
            (to_db_time(now), closure.guild_id, closure.cohort_id, to_db_time(closure.closed_at)),
        )

    # ----- tombstones -------------------------------------------------------------------

    async def applied_tombstones(self, guild_id: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT user_hash FROM applied_tombstones WHERE guild_id = ?", (guild_id,)
        )
        return {row["user_hash"] for row in rows}

    async def mark_tombstone_applied(self, guild_id: int, user_hash: str, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO applied_tombstones (guild_id, user_hash, applied_at) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, user_hash, to_db_time(now)),
        )

    # ----- generic scans ----------------------------------------------------------------

    async def _person_columns(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for table in await self._db.table_names():
            names = await self._db.column_names(table)
            columns = [name for name in names if PERSON_COLUMN.search(name)]
            if columns:
                result[table] = columns
        return result

    async def people_in(self, guild_id: int) -> set[int]:
        """Every user id stored anywhere for this guild (for re-applying tombstones)."""
        people: set[int] = set()
        for table, columns in (await self._person_columns()).items():
            for column in columns:
                rows = await self._db.fetchall(
                    f'SELECT DISTINCT "{column}" AS uid FROM "{table}" '
                    f'WHERE guild_id = ? AND "{column}" IS NOT NULL',
                    (guild_id,),
                )
                people.update(int(row["uid"]) for row in rows if isinstance(row["uid"], int))
        return people

    async def guilds_with_data(self) -> set[int]:
        guilds: set[int] = set()
        for table in await self._db.table_names():
            rows = await self._db.fetchall(f'SELECT DISTINCT guild_id FROM "{table}"')
            guilds.update(row["guild_id"] for row in rows if row["guild_id"])
        return guilds

    async def purge_guild(self, guild_id: int) -> int:
        """Delete every row of this guild from every table, in one transaction."""
        removed = 0
        tables = await self._db.table_names()
        async with self._db.transaction() as conn:
            await conn.execute(_DEFER_FOREIGN_KEYS.pick(self._db.dialect))
            for table in tables:
                cursor = await conn.execute(
                    f'DELETE FROM "{table}" WHERE guild_id = ?', (guild_id,)
                )
                removed += max(cursor.rowcount, 0)
        return removed

    async def rows_mentioning(self, guild_id: int, user_id: int) -> dict[str, int]:
        """How many rows in each table still name this user (for tests and audits)."""
        found: dict[str, int] = {}
        for table, columns in (await self._person_columns()).items():
            condition = " OR ".join(f'"{c}" = ?' for c in columns)
            row = await self._db.fetchone(
                f'SELECT COUNT(*) AS n FROM "{table}" WHERE guild_id = ? AND ({condition})',
                (guild_id, *([user_id] * len(columns))),
            )
            if row and row["n"]:
                found[table] = int(row["n"])
        return found
