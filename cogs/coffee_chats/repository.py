"""Peer matching's repository: settings, participants, avoids and blocks, reports, the
digest's queries and the data contract. With the rounds, proposals, groups and outcomes it
inherits from cogs/coffee_chats/rounds_repository.py, all of matching's SQL is in these two
modules; the records they return are in cogs/coffee_chats/records.py (re-exported here).

Digest queries take ``(guild_id, cohort_id, start, end)`` with aware datetimes,
start inclusive, end exclusive, and count rounds by the time they were posted:

* :meth:`MatchRepository.week_outcomes` → :class:`WeekOutcomes` (who was matched, and each
  one's met / not yet / couldn't connect / no answer);
* :meth:`MatchRepository.matched_twice_without_meeting` → user ids whose last two posted
  rounds (up to ``end``) both ended without their group meeting;
* :meth:`MatchRepository.reported_between` → user ids reported to staff in the window
  (and how many reports had nobody named).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.store.contract import PersonRows, delete_rows_in
from bot.store.rows import Records, SettingsTable, row_mapper
from bot.store.times import maybe_to_db_time, to_db_time
from cogs.coffee_chats.records import (
    OUTCOMES,
    Cadence,
    GroupRecord,
    MatchSettings,
    MemberRecord,
    NewGroup,
    Outcome,
    Participant,
    RoundRecord,
    WeekOutcomes,
)
from cogs.coffee_chats.rounds_repository import RoundsRepository

__all__ = [
    "OUTCOMES",
    "Cadence",
    "GroupRecord",
    "MatchRepository",
    "MatchSettings",
    "MemberRecord",
    "NewGroup",
    "Outcome",
    "Participant",
    "RoundRecord",
    "WeekOutcomes",
]


_participant = row_mapper(Participant)
_PARTICIPANTS = Records("match_participants", _participant)
_SETTINGS = SettingsTable("match_settings", MatchSettings, key=("guild_id", "cohort_id"))


class MatchRepository(RoundsRepository):
    """All of coffee chats' SQL: the rounds and groups (:class:`RoundsRepository`), and here
    settings, participants, avoids and blocks, reports, the digest's queries and the data
    contract."""

    personal_tables = (
        "match_participants",
        "match_avoids",
        "match_blocks",
        "match_members",
        "match_unmatched",
        "match_reports",
    )
    # Groups before the rounds they belong to (a guild's purge deletes in this order).
    non_personal_tables = ("match_groups", "match_rounds", "match_settings")
    exported = (
        PersonRows("match_participants", "*"),
        PersonRows("match_avoids", "partner_id, created_at"),
        # Blocks are the instructors' safety decisions: the student sees that one exists.
        PersonRows("match_blocks", "created_at", person=("student_id", "partner_id")),
        PersonRows(
            "match_members",
            "group_id, outcome, outcome_at, wants_rematch, dm_failed, quality, departed_at, "
            "chose_priority",
        ),
        PersonRows("match_unmatched", "round_id, reason"),
        # Reports they made (not reports about them: those protect the reporter).
        PersonRows(
            "match_reports",
            "report_id, reported_id, channel_id, message_id, rematch, avoid, created_at",
            person="reporter_id",
        ),
    )

    # ------------------------------------------------------------------ settings

    async def settings(self, guild_id: int, cohort_id: int) -> MatchSettings:
        return await _SETTINGS.get(self._db, guild_id, cohort_id)

    async def save_settings(self, settings: MatchSettings, *, now: datetime) -> None:
        await _SETTINGS.save(self._db, settings, updated_at=to_db_time(now))

    # ------------------------------------------------------------------ participants

    async def participant(self, guild_id: int, user_id: int) -> Participant | None:
        return await _PARTICIPANTS.one(self._db, "guild_id = ? AND user_id = ?", guild_id, user_id)

    async def participants(self, guild_id: int) -> dict[int, Participant]:
        rows = await self._db.fetchall(
            "SELECT * FROM match_participants WHERE guild_id = ?", (guild_id,)
        )
        return {row["user_id"]: _participant(row) for row in rows}

    async def join(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """Join (or re-join) the rounds; True when the student was not taking part before."""
        before = await self.participant(guild_id, user_id)
        stamp = to_db_time(now)
        await self._db.execute_write(
            "INSERT INTO match_participants (guild_id, user_id, joined_at, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "left_at = NULL, paused_until = NULL, ignored_rounds = 0, stay_asked_at = NULL, "
            "updated_at = excluded.updated_at",
            (guild_id, user_id, stamp, stamp),
        )
        return before is None or not before.joined

    async def _change_participant(
        self, guild_id: int, user_id: int, change: str, *values: Any, now: datetime, guard: str = ""
    ) -> bool:
        """``SET change`` (``values`` fill its marks) and ``updated_at`` on one participant, if
        still as ``guard`` says; True when it changed the row."""
        where = "guild_id = ? AND user_id = ?"
        if guard:
            where += f" AND {guard}"
        return await self._db.changed(
            f"UPDATE match_participants SET {change}, updated_at = ? WHERE {where}",
            (*values, to_db_time(now), guild_id, user_id),
        )

    async def leave(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        return await self._change_participant(
            guild_id, user_id, "left_at = ?", to_db_time(now), now=now, guard="left_at IS NULL"
        )

    async def pause(
        self, guild_id: int, user_id: int, until: datetime | None, *, now: datetime
    ) -> bool:
        return await self._change_participant(
            guild_id,
            user_id,
            "paused_until = ?, ignored_rounds = 0",
            maybe_to_db_time(until),
            now=now,
            guard="left_at IS NULL",
        )

    async def save_fairness(
        self,
        guild_id: int,
        shortfall: dict[int, float],
        priority: Iterable[int],
        *,
        now: datetime,
        round_id: int | None = None,
    ) -> bool:
        """Replace every participant's shortfall and priority (after a round is posted).
        With ``round_id``: only once for that round (False when it was already done)."""
        wanted = set(priority)
        stamp = to_db_time(now)
        async with self._db.transaction() as conn:
            if round_id is not None:
                cursor = await conn.execute(
                    "UPDATE match_rounds SET fairness_saved = 1 "
                    "WHERE guild_id = ? AND round_id = ? AND fairness_saved = 0",
                    (guild_id, round_id),
                )
                if cursor.rowcount == 0:
                    return False
            await conn.execute(
                "UPDATE match_participants SET shortfall = 0, priority = 0, updated_at = ? "
                "WHERE guild_id = ?",
                (stamp, guild_id),
            )
            await conn.executemany(
                "UPDATE match_participants SET shortfall = ? WHERE guild_id = ? AND user_id = ?",
                [(value, guild_id, user_id) for user_id, value in shortfall.items()],
            )
            await conn.executemany(
                "UPDATE match_participants SET priority = 1 WHERE guild_id = ? AND user_id = ?",
                [(guild_id, user_id) for user_id in wanted],
            )
        return True

    async def set_priority(self, guild_id: int, user_id: int, *, now: datetime) -> None:
        await self._change_participant(guild_id, user_id, "priority = 1", now=now)

    async def record_ignored(
        self, guild_id: int, ignored: Iterable[int], answered: Iterable[int], *, now: datetime
    ) -> None:
        stamp = to_db_time(now)
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE match_participants SET ignored_rounds = ignored_rounds + 1, "
                "updated_at = ? WHERE guild_id = ? AND user_id = ?",
                [(stamp, guild_id, user_id) for user_id in ignored],
            )
            await conn.executemany(
                "UPDATE match_participants SET ignored_rounds = 0, updated_at = ? "
                "WHERE guild_id = ? AND user_id = ?",
                [(stamp, guild_id, user_id) for user_id in answered],
            )

    async def mark_stay_asked(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """Claim the one "stay in or pause?" question; False when it was asked before."""
        return await self._change_participant(
            guild_id,
            user_id,
            "stay_asked_at = ?",
            to_db_time(now),
            now=now,
            guard="stay_asked_at IS NULL",
        )

    async def reset_ignored(self, guild_id: int, user_id: int, *, now: datetime) -> None:
        await self.record_ignored(guild_id, (), (user_id,), now=now)

    # ------------------------------------------------------------------ avoids and blocks

    async def add_avoid(
        self, guild_id: int, user_id: int, partner_id: int, *, now: datetime
    ) -> bool:
        added = await self._db.insert(
            "INSERT INTO match_avoids (guild_id, user_id, partner_id, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, user_id, partner_id, to_db_time(now)),
        )
        return added is not None

    async def add_block(self, guild_id: int, a: int, b: int, *, now: datetime) -> bool:
        low, high = sorted((a, b))
        added = await self._db.insert(
            "INSERT INTO match_blocks (guild_id, student_id, partner_id, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, low, high, to_db_time(now)),
        )
        return added is not None

    async def forbidden_pairs(self, guild_id: int) -> frozenset[frozenset[int]]:
        """Blocks and avoids, as unordered pairs."""
        pairs: set[frozenset[int]] = set()
        for row in await self._db.fetchall(
            "SELECT user_id AS a, partner_id AS b FROM match_avoids WHERE guild_id = ? "
            "UNION ALL SELECT student_id, partner_id FROM match_blocks WHERE guild_id = ?",
            (guild_id, guild_id),
        ):
            if row["a"] != row["b"]:
                pairs.add(frozenset((int(row["a"]), int(row["b"]))))
        return frozenset(pairs)

    # ------------------------------------------------------------------ reports

    async def add_report(
        self,
        *,
        guild_id: int,
        cohort_id: int | None,
        reporter_id: int,
        reported_id: int | None,
        group_id: int | None,
        channel_id: int | None,
        message_id: int | None,
        rematch: bool,
        avoid: bool,
        now: datetime,
    ) -> int:
        report_id = await self._db.insert(
            "INSERT INTO match_reports (guild_id, cohort_id, reporter_id, reported_id, "
            "group_id, channel_id, message_id, rematch, avoid, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                cohort_id,
                reporter_id,
                reported_id,
                group_id,
                channel_id,
                message_id,
                int(rematch),
                int(avoid),
                to_db_time(now),
            ),
        )
        return int(report_id or 0)

    # ------------------------------------------------------------------ digest queries

    async def week_outcomes(
        self, guild_id: int, cohort_id: int, start: datetime, end: datetime
    ) -> WeekOutcomes:
        result = WeekOutcomes()
        rows = await self._db.fetchall(
            "SELECT round_id FROM match_rounds WHERE guild_id = ? AND cohort_id = ? "
            "AND status IN ('posted', 'ended') AND posted_at >= ? AND posted_at < ?",
            (guild_id, cohort_id, to_db_time(start), to_db_time(end)),
        )
        for row in rows:
            for group in await self.groups_of_round(guild_id, int(row["round_id"])):
                for member in group.members:
                    if member.outcome is not None or member.user_id not in result.outcomes:
                        result.outcomes[member.user_id] = member.outcome
                    if group.met:
                        result.met.add(member.user_id)
        return result

    async def matched_twice_without_meeting(
        self, guild_id: int, cohort_id: int, end: datetime
    ) -> set[int]:
        rounds = [
            r
            for r in await self.posted_rounds(guild_id, cohort_id)
            if r.posted_at is not None and r.posted_at < end
        ]
        met_by_user: dict[int, list[bool]] = {}
        for round_ in rounds:
            seen: dict[int, bool] = {}
            for group in await self.groups_of_round(guild_id, round_.round_id):
                for user_id in group.user_ids:
                    seen[user_id] = seen.get(user_id, False) or group.met
            for user_id, met in seen.items():
                met_by_user.setdefault(user_id, []).append(met)
        return {
            user_id
            for user_id, history in met_by_user.items()
            if len(history) >= 2 and not any(history[-2:])
        }

    async def reported_between(
        self, guild_id: int, cohort_id: int | None, start: datetime, end: datetime
    ) -> tuple[set[int], int]:
        """(reported user ids, reports naming nobody) in [start, end). ``cohort_id`` None:
        the whole guild; otherwise reports made in that cohort's rounds or with no round."""
        rows = await self._db.fetchall(
            "SELECT reported_id FROM match_reports WHERE guild_id = ? AND created_at >= ? "
            "AND created_at < ? "
            "AND (CAST(? AS BIGINT) IS NULL OR cohort_id IS NULL OR cohort_id = ?)",
            (guild_id, to_db_time(start), to_db_time(end), cohort_id, cohort_id),
        )
        reported = {int(r["reported_id"]) for r in rows if r["reported_id"] is not None}
        unnamed = sum(1 for r in rows if r["reported_id"] is None)
        return reported, unnamed

    # ------------------------------------------------------------------ data contract

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            # Only what the person created themselves. Safety records other people made about
            # them stay: a classmate's avoid, an instructor's block and a report naming them
            # are keyed by this id, so erasing it would let the next round pair them again.
            await delete_rows_in(
                conn,
                guild_id,
                user_id,
                ("match_participants", "match_avoids", "match_members", "match_unmatched"),
            )
            # Their own reports stay for staff, without the reporter's id.
            await conn.execute(
                "UPDATE match_reports SET reporter_id = NULL "
                "WHERE guild_id = ? AND reporter_id = ?",
                (guild_id, user_id),
            )
