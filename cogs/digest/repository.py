"""The digest's own tables (follow-ups, settings, lead DM opt-ins) and the aggregate SQL it
reads across features.

Aggregates are counts only: they never read profile answers, intro texts or anonymous pulse
answers per student. Windows are (start, end) pairs of aware datetimes, start inclusive and
end exclusive, newest first, as :func:`cogs.digest.rules.week_windows` gives them; a result list
has one entry per window, in the same order.

Besides its own tables it reads only the core's ``activity``. Every other feature's numbers
(intros, prompts, coffee shop, coffee chats, away, closed DMs) come through that feature's
public service (:meth:`cogs.digest.service.DigestService.gather`): their SQL lives with their
tables.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.store.contract import (
    PersonRows,
    TablesRepository,
    delete_rows_in,
    export_rows,
    row_to_dict,
    unname_rows_in,
)
from bot.store.sql import ERASED_PLACEHOLDER, Dialect, Sql
from bot.store.times import from_db_time, to_db_time
from cogs.digest.rules import DigestSettings, FollowUpState

__all__ = [
    "ActivityAggregate",
    "DigestRepository",
    "FollowUpRecord",
]

Windows = Sequence[tuple[datetime, datetime]]

#: PostgreSQL reads a large roster in this many parts at once (one server process, so one
#: core, per statement); a part has at least ``_PG_PART_MIN`` students, so a small cohort is
#: one statement (a second connection costs more than it saves there).
_PG_PARTS = 2
_PG_PART_MIN = 1_000


# The roster as rows of one column ``value`` (user ids), from one JSON array parameter.
_ROSTER = Sql(
    sqlite="json_each(?{}) r",
    postgresql="(SELECT v::bigint AS value FROM json_array_elements_text(?{}::json) AS j(v)) r",
)


@dataclass
class ActivityAggregate:
    #: events per window per user (users with none in any window are absent)
    events: dict[int, list[int]] = field(default_factory=dict)
    #: the latest activity before ``as_of`` for every user that has any
    last_active: dict[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class FollowUpRecord:
    guild_id: int
    cohort_id: int
    user_id: int
    state: FollowUpState
    lead_id: int | None
    updated_at: datetime


class DigestRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("digest_followups", "digest_lead_dms")
    non_personal_tables: tuple[str, ...] = ("digest_settings",)

    # ------------------------------------------------------------------ settings

    async def settings(self, guild_id: int, cohort_id: int) -> DigestSettings:
        row = await self._db.fetchone(
            "SELECT drift_days, intro_grace_days FROM digest_settings "
            "WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )
        if row is None:
            return DigestSettings()
        return DigestSettings(
            drift_days=int(row["drift_days"]), intro_grace_days=int(row["intro_grace_days"])
        )

    async def save_settings(
        self, guild_id: int, cohort_id: int, settings: DigestSettings, *, now: datetime
    ) -> None:
        await self._db.upsert(
            "digest_settings",
            {"guild_id": guild_id, "cohort_id": cohort_id},
            {
                "drift_days": settings.drift_days,
                "intro_grace_days": settings.intro_grace_days,
                "updated_at": to_db_time(now),
            },
        )

    # ------------------------------------------------------------------ follow-ups

    async def follow_ups(self, guild_id: int, cohort_id: int) -> dict[int, FollowUpRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM digest_followups WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )
        return {int(r["user_id"]): _follow_up(r) for r in rows}

    async def follow_up(self, guild_id: int, cohort_id: int, user_id: int) -> FollowUpRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM digest_followups WHERE guild_id = ? AND cohort_id = ? AND user_id = ?",
            (guild_id, cohort_id, user_id),
        )
        return None if row is None else _follow_up(row)

    async def set_follow_up(
        self,
        guild_id: int,
        cohort_id: int,
        user_id: int,
        state: FollowUpState,
        lead_id: int,
        *,
        now: datetime,
    ) -> FollowUpRecord:
        await self._db.upsert(
            "digest_followups",
            {"guild_id": guild_id, "cohort_id": cohort_id, "user_id": user_id},
            {"state": state, "lead_id": lead_id, "updated_at": to_db_time(now)},
        )
        return FollowUpRecord(
            guild_id, cohort_id, user_id, state, lead_id, from_db_time(to_db_time(now))
        )

    async def clear_follow_up(
        self, guild_id: int, cohort_id: int, user_id: int
    ) -> FollowUpRecord | None:
        """Forget who took a student; returns what was cleared (None: nothing was recorded)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT * FROM digest_followups WHERE guild_id = ? AND cohort_id = ? "
                "AND user_id = ?",
                (guild_id, cohort_id, user_id),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            await conn.execute(
                "DELETE FROM digest_followups WHERE guild_id = ? AND cohort_id = ? AND user_id = ?",
                (guild_id, cohort_id, user_id),
            )
        return _follow_up(row)

    # ------------------------------------------------------------------ lead DMs

    async def set_dm(self, guild_id: int, user_id: int, enabled: bool, *, now: datetime) -> None:
        await self._db.upsert(
            "digest_lead_dms",
            {"guild_id": guild_id, "user_id": user_id},
            {"enabled": 1 if enabled else 0, "updated_at": to_db_time(now)},
        )

    async def dm_subscribers(self, guild_id: int) -> set[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM digest_lead_dms WHERE guild_id = ? AND enabled = 1",
            (guild_id,),
        )
        return {int(r["user_id"]) for r in rows}

    # ------------------------------------------------------------------ aggregates: activity

    @staticmethod
    def activity_query(
        guild_id: int, user_ids: Sequence[int], windows: Windows, dialect: Dialect = "sqlite"
    ) -> tuple[str, tuple[Any, ...]]:
        """The aggregate statement :meth:`activity` runs for a roster (or one part of it,
        see :meth:`activity_queries`).

        For each student (passed as a JSON array, so any roster size is one statement): the
        events in each window (the sum of the rows' ``events``: a row counts the events of
        one second) and the latest activity before ``as_of``. Every value is a range sum or
        a MAX on the covering index ``activity_by_user (guild_id, user_id, occurred_at,
        events)``: no table rows are read and nothing is sorted, and only this roster's
        rows are touched (other cohorts and staff cost nothing).
        """
        as_of = windows[0][1]
        if dialect == "postgresql":
            return DigestRepository._activity_query_pg(guild_id, user_ids, windows)
        counts = ", ".join(
            f"(SELECT COALESCE(SUM(a.events), 0) FROM activity a WHERE a.guild_id = ?1 "
            f"AND a.user_id = r.value "
            f"AND a.occurred_at >= ?{3 + 2 * k} AND a.occurred_at < ?{4 + 2 * k}) AS w{k}"
            for k in range(len(windows))
        )
        sql = (
            f"SELECT r.value AS user_id, {counts}, (SELECT MAX(a.occurred_at) FROM activity a "
            "WHERE a.guild_id = ?1 AND a.user_id = r.value AND a.occurred_at < ?2) AS last "
            "FROM " + _ROSTER.pick(dialect).format(3 + 2 * len(windows))
        )
        params: list[Any] = [guild_id, to_db_time(as_of)]
        for start, end in windows:
            params.extend((to_db_time(start), to_db_time(end)))
        params.append(json.dumps([int(u) for u in user_ids]))
        return sql, tuple(params)

    @staticmethod
    def activity_queries(
        guild_id: int, user_ids: Sequence[int], windows: Windows, dialect: Dialect = "sqlite"
    ) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements :meth:`activity` runs at once (the benchmark times them raw): one
        on SQLite; on PostgreSQL a roster of at least ``2 × _PG_PART_MIN`` students split
        into up to ``_PG_PARTS`` parts, each read on its own pool connection.

        PostgreSQL runs a statement in one server process, so on one core: the parts run in
        parallel. Each student is in exactly one part, so each student's numbers come from
        one statement; two parts may see commits a few milliseconds apart."""
        return [
            DigestRepository.activity_query(guild_id, part, windows, dialect)
            for part in _roster_parts(user_ids, dialect)
        ]

    @staticmethod
    def _activity_query_pg(
        guild_id: int, user_ids: Sequence[int], windows: Windows
    ) -> tuple[str, tuple[Any, ...]]:
        """PostgreSQL's form of :meth:`activity_query` (same columns, same values).

        One index range scan per student over all the windows at once: PostgreSQL pays a
        fixed cost per index search that SQLite does not (one correlated subquery per window,
        13 searches per student, was five times slower at 5,000 students). Each row's window
        is found once, ``width_bucket`` over the windows' sorted edges (a binary search), and
        each window's sum filters on that number (12 ``FILTER``s of two comparisons each per
        row cost ~15 % more server CPU, see docs/performance.md). The latest activity is the
        scan's MAX; only a student with no row in the windows' range needs a second search
        (backwards, one step)."""
        as_of = to_db_time(windows[0][1])
        edges = sorted({to_db_time(t) for window in windows for t in window})
        lo, hi = edges[0], edges[-1]
        # width_bucket(t, edges) is the number of edges <= t, so a row of window [s, e) has
        # a bucket in (index(s), index(e)] (indexes into edges, from 0).
        sums = []
        for k, (start, end) in enumerate(windows):
            first, last = edges.index(to_db_time(start)), edges.index(to_db_time(end))
            where = f"x.b = {last}" if last == first + 1 else f"x.b > {first} AND x.b <= {last}"
            # bigint, not numeric: SUM(bigint) is numeric, which asyncpg turns into Decimal
            # (5,000 × 12 of them cost more than the query).
            sums.append(f"SUM(x.events) FILTER (WHERE {where})::bigint AS w{k}")
        # The scan reads [lo, hi); hi is as_of unless a window ends after it.
        latest = "MAX(x.occurred_at)" + (
            "" if hi == as_of else " FILTER (WHERE x.occurred_at < ?2)"
        )
        counts = ", ".join(f"COALESCE(c.w{k}, 0) AS w{k}" for k in range(len(windows)))
        sql = (
            f"SELECT r.value AS user_id, {counts}, COALESCE(c.last, (SELECT MAX(a.occurred_at) "
            "FROM activity a WHERE a.guild_id = ?1 AND a.user_id = r.value "
            "AND a.occurred_at < ?2)) AS last FROM "
            + _ROSTER.pick("postgresql").format(3)
            + f" LEFT JOIN LATERAL (SELECT {', '.join(sums)}, {latest} AS last FROM "
            # OFFSET 0 keeps the subquery whole: flattened, width_bucket would run per FILTER.
            "(SELECT width_bucket(a.occurred_at, ?4::bigint[]) AS b, a.events, a.occurred_at "
            "FROM activity a WHERE a.guild_id = ?1 AND a.user_id = r.value "
            "AND a.occurred_at >= ?5 AND a.occurred_at < ?6 OFFSET 0) x) c ON TRUE"
        )
        roster = json.dumps([int(u) for u in user_ids])
        return sql, (guild_id, as_of, roster, edges, lo, hi)

    async def activity(
        self, guild_id: int, user_ids: Sequence[int], windows: Windows
    ) -> ActivityAggregate:
        """Events per student per window, and each student's latest activity before
        ``as_of`` (the newest window's end). Students with no activity at all are absent."""
        result = ActivityAggregate()
        if not windows or not user_ids:
            return result
        statements = self.activity_queries(guild_id, user_ids, windows, self._db.dialect)
        size = len(windows)
        for r in await self._fetch_at_once(statements):
            values = tuple(r)  # positional: user_id, w0 … w{size-1}, last
            counts = list(values[1 : size + 1])
            if any(counts):
                result.events[values[0]] = counts
            last = values[size + 1]
            if last is not None:
                result.last_active[values[0]] = from_db_time(last)
        return result

    async def _fetch_at_once(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Every statement's rows, the statements run concurrently (on PostgreSQL each takes
        its own pool connection). Every one is awaited to its end before the first error is
        raised: nothing keeps running behind the caller."""
        if len(statements) == 1:
            return list(await self._db.fetchall(*statements[0]))
        parts = await asyncio.gather(
            *(self._db.fetchall(sql, params) for sql, params in statements),
            return_exceptions=True,
        )
        rows: list[Any] = []
        for part in parts:
            if isinstance(part, BaseException):
                raise part
            rows.extend(part)
        return rows

    # ------------------------------------------------------------------ data contract

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        follow = await self._db.fetchall(
            "SELECT cohort_id, user_id, state, lead_id, updated_at FROM digest_followups "
            "WHERE guild_id = ? AND (user_id = ? OR lead_id = ?) ORDER BY cohort_id, user_id",
            (guild_id, user_id, user_id),
        )
        return {
            "digest_followups": [row_to_dict(r) for r in follow],
            **await export_rows(
                self._db, guild_id, user_id, PersonRows("digest_lead_dms", "enabled, updated_at")
            ),
        }

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        """Follow-ups stay for the team: without the student's id, or without the lead's."""
        async with self._db.transaction() as conn:
            # The lead's follow-up stays on the lead's record, about nobody (a negative
            # placeholder: the primary key needs a value).
            await conn.execute(
                "UPDATE digest_followups SET user_id = "
                f"{ERASED_PLACEHOLDER.pick(self._db.dialect)} WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            await unname_rows_in(conn, guild_id, user_id, [("digest_followups", "lead_id")])
            await delete_rows_in(conn, guild_id, user_id, ["digest_lead_dms"])


def _follow_up(row: Any) -> FollowUpRecord:
    return FollowUpRecord(
        guild_id=int(row["guild_id"]),
        cohort_id=int(row["cohort_id"]),
        user_id=int(row["user_id"]),
        state=row["state"],
        lead_id=None if row["lead_id"] is None else int(row["lead_id"]),
        updated_at=from_db_time(row["updated_at"]),
    )


def _roster_parts(user_ids: Sequence[int], dialect: Dialect) -> list[list[int]]:
    """The roster in the parts :meth:`DigestRepository.activity_queries` reads: sorted, so
    each part reads its own stretch of the index."""
    ids = [int(u) for u in user_ids]
    parts = min(_PG_PARTS, len(ids) // _PG_PART_MIN) if dialect == "postgresql" else 1
    if parts <= 1:
        return [ids]
    ids.sort()
    size = -(-len(ids) // parts)
    return [ids[i : i + size] for i in range(0, len(ids), size)]
