"""Coffee-chat rounds and their groups: proposals, posting, delivery progress, follow-ups,
outcomes and history. SQL only; :class:`cogs.coffee_chats.repository.MatchRepository` extends
this class with settings, participants, avoids and blocks, reports, the digest's queries and
the data contract (one repository object, so every caller sees one store).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.store.contract import TablesRepository
from bot.store.db import Connection
from bot.store.rows import Records, row_mapper
from bot.store.times import to_db_time
from cogs.coffee_chats.records import GroupRecord, MemberRecord, NewGroup, Outcome, RoundRecord

__all__ = ["RoundsRepository"]


_ROUNDS = Records("match_rounds", row_mapper(RoundRecord))
_member = row_mapper(
    MemberRecord,
    columns={"departed": "departed_at"},
    convert={"departed": lambda departed_at: departed_at is not None},
)


class RoundsRepository(TablesRepository):
    """Rounds (proposed → posted → ended) and their groups and members."""

    # ------------------------------------------------------------------ rounds

    async def next_round_index(self, guild_id: int, cohort_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(round_index), 0) AS n FROM match_rounds "
            "WHERE guild_id = ? AND cohort_id = ? AND status IN ('posted', 'ended')",
            (guild_id, cohort_id),
        )
        return int(row["n"] if row else 0) + 1

    async def create_round(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        round_index: int,
        seed: int,
        group_size: int,
        week_start: datetime,
        slot: str | None,
        groups: Sequence[NewGroup],
        unmatched: Sequence[tuple[int, str]],
        now: datetime,
    ) -> int:
        """Save a proposal (status 'proposed'); earlier unposted proposals of the cohort are
        cancelled, so only one can be posted."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE match_rounds SET status = 'cancelled' "
                "WHERE guild_id = ? AND cohort_id = ? AND status = 'proposed'",
                (guild_id, cohort_id),
            )
            cursor = await conn.execute(
                "INSERT INTO match_rounds (guild_id, cohort_id, round_index, status, seed, "
                "group_size, week_start, slot, created_at) "
                "VALUES (?, ?, ?, 'proposed', ?, ?, ?, ?, ?) RETURNING round_id",
                (
                    guild_id,
                    cohort_id,
                    round_index,
                    seed,
                    group_size,
                    to_db_time(week_start),
                    slot,
                    to_db_time(now),
                ),
            )
            round_id = int((await cursor.fetchone())["round_id"])
            await self._insert_proposal(conn, guild_id, round_id, groups, unmatched)
        return round_id

    @classmethod
    async def _insert_proposal(
        cls,
        conn: Connection,
        guild_id: int,
        round_id: int,
        groups: Sequence[NewGroup],
        unmatched: Sequence[tuple[int, str]],
    ) -> None:
        """A proposal's groups (from position 0) and the students left unmatched, and why."""
        await cls._insert_groups(conn, guild_id, round_id, groups, start=0)
        for user_id, reason in unmatched:
            await conn.execute(
                "INSERT INTO match_unmatched (guild_id, round_id, user_id, reason) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, round_id, user_id, reason),
            )

    @staticmethod
    async def _insert_groups(
        conn: Connection,
        guild_id: int,
        round_id: int,
        groups: Sequence[NewGroup],
        *,
        start: int,
    ) -> list[int]:
        ids: list[int] = []
        for offset, group in enumerate(groups):
            cursor = await conn.execute(
                "INSERT INTO match_groups (guild_id, round_id, position, score, reasons, "
                "rematch) VALUES (?, ?, ?, ?, ?, ?) RETURNING group_id",
                (
                    guild_id,
                    round_id,
                    start + offset,
                    group.score,
                    json.dumps(list(group.reasons)),
                    int(group.rematch),
                ),
            )
            group_id = int((await cursor.fetchone())["group_id"])
            ids.append(group_id)
            quality = dict(group.quality)
            for user_id in group.members:
                await conn.execute(
                    "INSERT INTO match_members (guild_id, group_id, user_id, quality) "
                    "VALUES (?, ?, ?, ?)",
                    (guild_id, group_id, user_id, quality.get(user_id)),
                )
        return ids

    async def replace_proposal(
        self,
        guild_id: int,
        round_id: int,
        groups: Sequence[NewGroup],
        unmatched: Sequence[tuple[int, str]],
    ) -> bool:
        """Rewrite a proposal's groups (a swap, a move, a repair); False if no longer proposed."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT status FROM match_rounds WHERE guild_id = ? AND round_id = ?",
                (guild_id, round_id),
            )
            row = await cursor.fetchone()
            if row is None or row["status"] != "proposed":
                return False
            await conn.execute(
                "DELETE FROM match_members WHERE guild_id = ? AND group_id IN "
                "(SELECT group_id FROM match_groups WHERE guild_id = ? AND round_id = ?)",
                (guild_id, guild_id, round_id),
            )
            await conn.execute(
                "DELETE FROM match_groups WHERE guild_id = ? AND round_id = ?",
                (guild_id, round_id),
            )
            await conn.execute(
                "DELETE FROM match_unmatched WHERE guild_id = ? AND round_id = ?",
                (guild_id, round_id),
            )
            await self._insert_proposal(conn, guild_id, round_id, groups, unmatched)
        return True

    async def add_rematch_group(self, guild_id: int, round_id: int, group: NewGroup) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 AS n FROM match_groups "
                "WHERE guild_id = ? AND round_id = ?",
                (guild_id, round_id),
            )
            row = await cursor.fetchone()
            start = int(row["n"]) if row else 0
            (group_id,) = await self._insert_groups(conn, guild_id, round_id, [group], start=start)
            for user_id in group.members:
                await conn.execute(
                    "UPDATE match_members SET wants_rematch = 0 WHERE guild_id = ? AND "
                    "user_id = ? AND group_id IN (SELECT group_id FROM match_groups "
                    "WHERE guild_id = ? AND round_id = ?) AND group_id != ?",
                    (guild_id, user_id, guild_id, round_id, group_id),
                )
        return group_id

    async def get_round(self, guild_id: int, round_id: int) -> RoundRecord | None:
        return await _ROUNDS.one(self._db, "guild_id = ? AND round_id = ?", guild_id, round_id)

    async def latest_round(
        self, guild_id: int, cohort_id: int, statuses: Sequence[str]
    ) -> RoundRecord | None:
        marks = ",".join("?" for _ in statuses)
        return await _ROUNDS.one(
            self._db,
            f"guild_id = ? AND cohort_id = ? AND status IN ({marks}) "
            "ORDER BY round_id DESC LIMIT 1",
            guild_id,
            cohort_id,
            *statuses,
        )

    async def mark_posted(
        self,
        guild_id: int,
        round_id: int,
        *,
        now: datetime,
        followup_at: datetime,
        ends_at: datetime,
    ) -> bool:
        """proposed → posted, once (a second "Post these" finds nothing to post)."""
        return await self._change_round(
            guild_id,
            round_id,
            "status = 'posted', posted_at = ?, followup_at = ?, ends_at = ?",
            "status = 'proposed'",
            to_db_time(now),
            to_db_time(followup_at),
            to_db_time(ends_at),
        )

    async def _change_round(
        self, guild_id: int, round_id: int, change: str, guard: str, *values: Any
    ) -> bool:
        """``SET change`` (``values`` fill its marks) on the round if it is still as ``guard``
        says: each step of a round happens once, and True tells the one caller it did."""
        return await self._db.changed(
            f"UPDATE match_rounds SET {change} WHERE guild_id = ? AND round_id = ? AND {guard}",
            (*values, guild_id, round_id),
        )

    async def _posted_rounds_where(self, condition: str, *values: Any) -> list[RoundRecord]:
        """Posted rounds of every guild matching ``condition`` (a tick's work list)."""
        return await _ROUNDS.all(
            self._db, f"status = 'posted' AND {condition} ORDER BY round_id", *values
        )

    async def cancel_round(self, guild_id: int, round_id: int) -> bool:
        return await self._change_round(
            guild_id, round_id, "status = 'cancelled'", "status = 'proposed'"
        )

    async def rounds_due_followup(self, now: datetime) -> list[RoundRecord]:
        return await self._posted_rounds_where(
            "followup_done = 0 AND followup_at <= ?", to_db_time(now)
        )

    async def claim_followup(self, guild_id: int, round_id: int) -> bool:
        return await self._change_round(
            guild_id, round_id, "followup_done = 1", "followup_done = 0"
        )

    async def rounds_due_end(self, now: datetime) -> list[RoundRecord]:
        return await self._posted_rounds_where("ends_at <= ?", to_db_time(now))

    async def posted_rounds(self, guild_id: int, cohort_id: int) -> list[RoundRecord]:
        return await _ROUNDS.all(
            self._db,
            "guild_id = ? AND cohort_id = ? AND status IN ('posted', 'ended') ORDER BY round_index",
            guild_id,
            cohort_id,
        )

    async def mark_ended(self, guild_id: int, round_id: int, *, now: datetime) -> bool:
        return await self._change_round(
            guild_id,
            round_id,
            "status = 'ended', ended_at = ?",
            "status = 'posted'",
            to_db_time(now),
        )

    async def rounds_undelivered(self) -> list[RoundRecord]:
        """Posted rounds (every guild) whose delivery has not finished: resumed on a tick."""
        return await self._posted_rounds_where("delivered_at IS NULL")

    async def mark_delivered(self, guild_id: int, round_id: int, *, now: datetime) -> bool:
        return await self._change_round(
            guild_id, round_id, "delivered_at = ?", "delivered_at IS NULL", to_db_time(now)
        )

    async def reopen_delivery(self, guild_id: int, round_id: int) -> None:
        """A group added later (a re-match) is still pending: the next tick resumes it."""
        await self._change_round(guild_id, round_id, "delivered_at = NULL", "status = 'posted'")

    # ------------------------------------------------------------------ groups

    async def _groups(self, where: str, params: tuple[Any, ...]) -> list[GroupRecord]:
        rows = await self._db.fetchall(
            f"SELECT * FROM match_groups WHERE {where} ORDER BY round_id, position", params
        )
        if not rows:
            return []
        ids = [int(r["group_id"]) for r in rows]
        members: dict[int, list[MemberRecord]] = {}
        guild_id = rows[0]["guild_id"]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            for m in await self._db.fetchall(
                f"SELECT * FROM match_members WHERE guild_id = ? AND group_id IN ({marks}) "
                "ORDER BY rowid",
                (guild_id, *chunk),
            ):
                members.setdefault(int(m["group_id"]), []).append(_member(m))
        return [
            GroupRecord(
                group_id=int(r["group_id"]),
                guild_id=int(r["guild_id"]),
                round_id=int(r["round_id"]),
                position=int(r["position"]),
                score=float(r["score"]),
                reasons=tuple(json.loads(r["reasons"] or "[]")),
                rematch=bool(r["rematch"]),
                delivery=r["delivery"],
                thread_id=r["thread_id"],
                followup_message_id=r["followup_message_id"],
                archived=bool(r["archived"]),
                members=tuple(members.get(int(r["group_id"]), [])),
                attempts=int(r["attempts"]),
                last_error=r["last_error"],
                announced=r["announced_at"] is not None,
            )
            for r in rows
        ]

    async def groups_of_round(self, guild_id: int, round_id: int) -> list[GroupRecord]:
        return await self._groups("guild_id = ? AND round_id = ?", (guild_id, round_id))

    async def group(self, guild_id: int, group_id: int) -> GroupRecord | None:
        found = await self._groups("guild_id = ? AND group_id = ?", (guild_id, group_id))
        return found[0] if found else None

    async def group_by_thread(self, guild_id: int, thread_id: int) -> GroupRecord | None:
        found = await self._groups("guild_id = ? AND thread_id = ?", (guild_id, thread_id))
        return found[-1] if found else None

    async def unmatched_of_round(self, guild_id: int, round_id: int) -> list[tuple[int, str]]:
        rows = await self._db.fetchall(
            "SELECT user_id, reason FROM match_unmatched WHERE guild_id = ? AND round_id = ? "
            "ORDER BY user_id",
            (guild_id, round_id),
        )
        return [(int(r["user_id"]), str(r["reason"])) for r in rows]

    async def set_delivery(
        self, guild_id: int, group_id: int, delivery: str, thread_id: int | None = None
    ) -> None:
        await self._change_group(
            guild_id,
            group_id,
            "delivery = ?, thread_id = COALESCE(?, thread_id)",
            delivery,
            thread_id,
        )

    async def _change_group(self, guild_id: int, group_id: int, change: str, *values: Any) -> None:
        """``SET change`` (``values`` fill its marks) on one group."""
        await self._db.execute_write(
            f"UPDATE match_groups SET {change} WHERE guild_id = ? AND group_id = ?",
            (*values, guild_id, group_id),
        )

    async def _change_member(
        self, guild_id: int, group_id: int, user_id: int, change: str, *values: Any, guard: str = ""
    ) -> bool:
        """``SET change`` on one member of a group (if still as ``guard`` says); True when it
        changed the row."""
        where = "guild_id = ? AND group_id = ? AND user_id = ?"
        if guard:
            where += f" AND {guard}"
        return await self._db.changed(
            f"UPDATE match_members SET {change} WHERE {where}",
            (*values, guild_id, group_id, user_id),
        )

    async def begin_thread_attempt(self, guild_id: int, group_id: int) -> None:
        """Counted before the request: a retry knows a thread may already exist."""
        await self._change_group(guild_id, group_id, "attempts = attempts + 1")

    async def set_group_error(self, guild_id: int, group_id: int, error: str | None) -> None:
        await self._change_group(guild_id, group_id, "last_error = ?", (error or "")[:300] or None)

    async def mark_announced(self, guild_id: int, group_id: int, *, now: datetime) -> None:
        await self._change_group(
            guild_id, group_id, "announced_at = COALESCE(announced_at, ?)", to_db_time(now)
        )

    async def set_departed(
        self, guild_id: int, group_id: int, user_id: int, *, now: datetime
    ) -> bool:
        """Mark a member who left the server; False when already marked."""
        return await self._change_member(
            guild_id,
            group_id,
            user_id,
            "departed_at = ?, wants_rematch = 0",
            to_db_time(now),
            guard="departed_at IS NULL",
        )

    async def set_chose_priority(self, guild_id: int, group_id: int, user_id: int) -> None:
        await self._change_member(
            guild_id, group_id, user_id, "chose_priority = 1, wants_rematch = 0"
        )

    async def set_followup_message(self, guild_id: int, group_id: int, message_id: int) -> None:
        await self._change_group(guild_id, group_id, "followup_message_id = ?", message_id)

    async def mark_archived(self, guild_id: int, group_id: int) -> None:
        await self._change_group(guild_id, group_id, "archived = 1")

    async def set_dm_failed(self, guild_id: int, group_id: int, user_id: int) -> None:
        await self._change_member(guild_id, group_id, user_id, "dm_failed = 1")

    async def set_outcome(
        self, guild_id: int, group_id: int, user_id: int, outcome: Outcome, *, now: datetime
    ) -> bool:
        return await self._change_member(
            guild_id, group_id, user_id, "outcome = ?, outcome_at = ?", outcome, to_db_time(now)
        )

    async def set_wants_rematch(
        self, guild_id: int, group_id: int, user_id: int, wanted: bool
    ) -> None:
        await self._change_member(
            guild_id,
            group_id,
            user_id,
            "wants_rematch = ?, chose_priority = CASE WHEN ? = 1 THEN 0 ELSE chose_priority END",
            int(wanted),
            int(wanted),
        )

    async def waiting_for_rematch(self, guild_id: int, round_id: int) -> list[tuple[int, int]]:
        """(group_id, user_id) of students in this round waiting for a re-match, oldest first."""
        rows = await self._db.fetchall(
            "SELECT m.group_id, m.user_id FROM match_members m JOIN match_groups g "
            "ON g.group_id = m.group_id AND g.guild_id = m.guild_id "
            "WHERE m.guild_id = ? AND g.round_id = ? AND m.wants_rematch = 1 "
            "ORDER BY m.outcome_at, m.user_id",
            (guild_id, round_id),
        )
        return [(int(r["group_id"]), int(r["user_id"])) for r in rows]

    async def groups_of_user(
        self, guild_id: int, user_id: int, limit: int = 20
    ) -> list[tuple[RoundRecord, GroupRecord]]:
        """The user's groups in posted rounds, newest first."""
        rows = await self._db.fetchall(
            "SELECT g.group_id, g.round_id FROM match_members m JOIN match_groups g "
            "ON g.group_id = m.group_id AND g.guild_id = m.guild_id JOIN match_rounds r "
            "ON r.round_id = g.round_id AND r.guild_id = g.guild_id "
            "WHERE m.guild_id = ? AND m.user_id = ? AND r.status IN ('posted', 'ended') "
            "ORDER BY r.posted_at DESC, g.group_id DESC LIMIT ?",
            (guild_id, user_id, limit),
        )
        result: list[tuple[RoundRecord, GroupRecord]] = []
        for row in rows:
            round_ = await self.get_round(guild_id, int(row["round_id"]))
            group = await self.group(guild_id, int(row["group_id"]))
            if round_ and group:
                result.append((round_, group))
        return result

    async def history_groups(self, guild_id: int, cohort_id: int) -> list[tuple[int, GroupRecord]]:
        """(round_index, group) for every posted group of the cohort, for MatchHistory."""
        result: list[tuple[int, GroupRecord]] = []
        for round_ in await self.posted_rounds(guild_id, cohort_id):
            for group in await self.groups_of_round(guild_id, round_.round_id):
                result.append((round_.round_index, group))
        return result
