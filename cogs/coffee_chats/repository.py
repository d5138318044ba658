"""Peer matching: settings, participants, avoids and blocks, rounds, proposals,
groups, outcomes and reports. All of matching's SQL lives here.

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

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import aiosqlite

from bot.store.contract import row_to_dict
from bot.store.db import Database, from_db_time, to_db_time

__all__ = [
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

Outcome = Literal["met", "not_yet", "no_connect"]
OUTCOMES: tuple[Outcome, ...] = ("met", "not_yet", "no_connect")
Cadence = Literal["weekly", "biweekly"]


def _time(text: str | None) -> datetime | None:
    return from_db_time(text) if text else None


@dataclass(frozen=True)
class MatchSettings:
    guild_id: int
    cohort_id: int
    cadence: Cadence = "weekly"
    group_size: int = 2
    half_life: float = 6.0
    preview_first: bool = False
    channel_id: int | None = None


@dataclass(frozen=True)
class Participant:
    guild_id: int
    user_id: int
    joined_at: datetime
    left_at: datetime | None
    paused_until: datetime | None
    shortfall: float
    priority: bool
    ignored_rounds: int
    stay_asked_at: datetime | None

    @property
    def joined(self) -> bool:
        return self.left_at is None

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and now < self.paused_until


@dataclass(frozen=True)
class MemberRecord:
    user_id: int
    outcome: Outcome | None = None
    outcome_at: datetime | None = None
    wants_rematch: bool = False
    dm_failed: bool = False
    quality: float | None = None
    departed: bool = False  # left the server mid-round (removed from the thread)
    chose_priority: bool = False  # "priority next round" after "Couldn't connect"


@dataclass(frozen=True)
class GroupRecord:
    group_id: int
    guild_id: int
    round_id: int
    position: int
    score: float
    reasons: tuple[str, ...]
    rematch: bool
    delivery: str
    thread_id: int | None
    followup_message_id: int | None
    archived: bool
    members: tuple[MemberRecord, ...] = ()
    attempts: int = 0  # thread creations started
    last_error: str | None = None
    announced: bool = False  # its first message is queued in the outbox

    @property
    def user_ids(self) -> tuple[int, ...]:
        return tuple(m.user_id for m in self.members)

    @property
    def present_ids(self) -> tuple[int, ...]:
        """Members who have not left the server since the round was posted."""
        return tuple(m.user_id for m in self.members if not m.departed)

    def member(self, user_id: int) -> MemberRecord | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    @property
    def met(self) -> bool:
        """Met: someone said so and nobody said they couldn't connect."""
        outcomes = [m.outcome for m in self.members]
        return "met" in outcomes and "no_connect" not in outcomes


@dataclass(frozen=True)
class RoundRecord:
    round_id: int
    guild_id: int
    cohort_id: int
    round_index: int
    status: str
    seed: int
    group_size: int
    week_start: datetime
    slot: str | None
    created_at: datetime
    posted_at: datetime | None
    followup_at: datetime | None
    followup_done: bool
    ends_at: datetime | None
    ended_at: datetime | None
    delivered_at: datetime | None = None
    fairness_saved: bool = False


@dataclass(frozen=True)
class NewGroup:
    members: tuple[int, ...]
    score: float
    reasons: tuple[str, ...] = ()
    rematch: bool = False
    quality: tuple[tuple[int, float], ...] = ()  # (user_id, matcher quality)


@dataclass(frozen=True)
class WeekOutcomes:
    """Per student matched in rounds posted in the window: their answer (None = no answer)."""

    outcomes: dict[int, Outcome | None] = field(default_factory=dict)
    met: set[int] = field(default_factory=set)  # students whose group met (see GroupRecord.met)

    @property
    def matched(self) -> set[int]:
        return set(self.outcomes)

    def count(self, outcome: Outcome | None) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)


def _round(row: aiosqlite.Row) -> RoundRecord:
    return RoundRecord(
        round_id=row["round_id"],
        guild_id=row["guild_id"],
        cohort_id=row["cohort_id"],
        round_index=row["round_index"],
        status=row["status"],
        seed=row["seed"],
        group_size=row["group_size"],
        week_start=from_db_time(row["week_start"]),
        slot=row["slot"],
        created_at=from_db_time(row["created_at"]),
        posted_at=_time(row["posted_at"]),
        followup_at=_time(row["followup_at"]),
        followup_done=bool(row["followup_done"]),
        ends_at=_time(row["ends_at"]),
        ended_at=_time(row["ended_at"]),
        delivered_at=_time(row["delivered_at"]),
        fairness_saved=bool(row["fairness_saved"]),
    )


def _participant(row: aiosqlite.Row) -> Participant:
    return Participant(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        joined_at=from_db_time(row["joined_at"]),
        left_at=_time(row["left_at"]),
        paused_until=_time(row["paused_until"]),
        shortfall=float(row["shortfall"]),
        priority=bool(row["priority"]),
        ignored_rounds=int(row["ignored_rounds"]),
        stay_asked_at=_time(row["stay_asked_at"]),
    )


class MatchRepository:
    personal_tables = (
        "match_participants",
        "match_avoids",
        "match_blocks",
        "match_members",
        "match_unmatched",
        "match_reports",
    )
    non_personal_tables = ("match_settings", "match_rounds", "match_groups")

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ settings

    async def settings(self, guild_id: int, cohort_id: int) -> MatchSettings:
        row = await self._db.fetchone(
            "SELECT * FROM match_settings WHERE guild_id = ? AND cohort_id = ?",
            (guild_id, cohort_id),
        )
        if row is None:
            return MatchSettings(guild_id, cohort_id)
        return MatchSettings(
            guild_id,
            cohort_id,
            cadence=row["cadence"],
            group_size=int(row["group_size"]),
            half_life=float(row["half_life"]),
            preview_first=bool(row["preview_first"]),
            channel_id=row["channel_id"],
        )

    async def save_settings(self, settings: MatchSettings, *, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO match_settings (guild_id, cohort_id, cadence, group_size, half_life, "
            "preview_first, channel_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, cohort_id) DO UPDATE SET cadence = excluded.cadence, "
            "group_size = excluded.group_size, half_life = excluded.half_life, "
            "preview_first = excluded.preview_first, channel_id = excluded.channel_id, "
            "updated_at = excluded.updated_at",
            (
                settings.guild_id,
                settings.cohort_id,
                settings.cadence,
                settings.group_size,
                settings.half_life,
                int(settings.preview_first),
                settings.channel_id,
                to_db_time(now),
            ),
        )

    # ------------------------------------------------------------------ participants

    async def participant(self, guild_id: int, user_id: int) -> Participant | None:
        row = await self._db.fetchone(
            "SELECT * FROM match_participants WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return _participant(row) if row else None

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

    async def leave(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        stamp = to_db_time(now)
        changed = await self._db.execute_write(
            "UPDATE match_participants SET left_at = ?, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ? AND left_at IS NULL",
            (stamp, stamp, guild_id, user_id),
        )
        return changed > 0

    async def pause(
        self, guild_id: int, user_id: int, until: datetime | None, *, now: datetime
    ) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_participants SET paused_until = ?, ignored_rounds = 0, "
            "updated_at = ? WHERE guild_id = ? AND user_id = ? AND left_at IS NULL",
            (to_db_time(until) if until else None, to_db_time(now), guild_id, user_id),
        )
        return changed > 0

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
            for user_id, value in shortfall.items():
                await conn.execute(
                    "UPDATE match_participants SET shortfall = ? "
                    "WHERE guild_id = ? AND user_id = ?",
                    (value, guild_id, user_id),
                )
            for user_id in wanted:
                await conn.execute(
                    "UPDATE match_participants SET priority = 1 WHERE guild_id = ? AND user_id = ?",
                    (guild_id, user_id),
                )
        return True

    async def set_priority(self, guild_id: int, user_id: int, *, now: datetime) -> None:
        await self._db.execute_write(
            "UPDATE match_participants SET priority = 1, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ?",
            (to_db_time(now), guild_id, user_id),
        )

    async def record_ignored(
        self, guild_id: int, ignored: Iterable[int], answered: Iterable[int], *, now: datetime
    ) -> None:
        stamp = to_db_time(now)
        async with self._db.transaction() as conn:
            for user_id in ignored:
                await conn.execute(
                    "UPDATE match_participants SET ignored_rounds = ignored_rounds + 1, "
                    "updated_at = ? WHERE guild_id = ? AND user_id = ?",
                    (stamp, guild_id, user_id),
                )
            for user_id in answered:
                await conn.execute(
                    "UPDATE match_participants SET ignored_rounds = 0, updated_at = ? "
                    "WHERE guild_id = ? AND user_id = ?",
                    (stamp, guild_id, user_id),
                )

    async def mark_stay_asked(self, guild_id: int, user_id: int, *, now: datetime) -> bool:
        """Claim the one "stay in or pause?" question; False when it was asked before."""
        stamp = to_db_time(now)
        changed = await self._db.execute_write(
            "UPDATE match_participants SET stay_asked_at = ?, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ? AND stay_asked_at IS NULL",
            (stamp, stamp, guild_id, user_id),
        )
        return changed > 0

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
                "VALUES (?, ?, ?, 'proposed', ?, ?, ?, ?, ?)",
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
            round_id = int(cursor.lastrowid or 0)
            await self._insert_groups(conn, guild_id, round_id, groups, start=0)
            for user_id, reason in unmatched:
                await conn.execute(
                    "INSERT INTO match_unmatched (guild_id, round_id, user_id, reason) "
                    "VALUES (?, ?, ?, ?)",
                    (guild_id, round_id, user_id, reason),
                )
        return round_id

    @staticmethod
    async def _insert_groups(
        conn: aiosqlite.Connection,
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
                "rematch) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    round_id,
                    start + offset,
                    group.score,
                    json.dumps(list(group.reasons)),
                    int(group.rematch),
                ),
            )
            group_id = int(cursor.lastrowid or 0)
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
            await self._insert_groups(conn, guild_id, round_id, groups, start=0)
            for user_id, reason in unmatched:
                await conn.execute(
                    "INSERT INTO match_unmatched (guild_id, round_id, user_id, reason) "
                    "VALUES (?, ?, ?, ?)",
                    (guild_id, round_id, user_id, reason),
                )
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
        row = await self._db.fetchone(
            "SELECT * FROM match_rounds WHERE guild_id = ? AND round_id = ?", (guild_id, round_id)
        )
        return _round(row) if row else None

    async def latest_round(
        self, guild_id: int, cohort_id: int, statuses: Sequence[str]
    ) -> RoundRecord | None:
        marks = ",".join("?" for _ in statuses)
        row = await self._db.fetchone(
            f"SELECT * FROM match_rounds WHERE guild_id = ? AND cohort_id = ? "
            f"AND status IN ({marks}) ORDER BY round_id DESC LIMIT 1",
            (guild_id, cohort_id, *statuses),
        )
        return _round(row) if row else None

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
        changed = await self._db.execute_write(
            "UPDATE match_rounds SET status = 'posted', posted_at = ?, followup_at = ?, "
            "ends_at = ? WHERE guild_id = ? AND round_id = ? AND status = 'proposed'",
            (to_db_time(now), to_db_time(followup_at), to_db_time(ends_at), guild_id, round_id),
        )
        return changed > 0

    async def cancel_round(self, guild_id: int, round_id: int) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_rounds SET status = 'cancelled' "
            "WHERE guild_id = ? AND round_id = ? AND status = 'proposed'",
            (guild_id, round_id),
        )
        return changed > 0

    async def rounds_due_followup(self, now: datetime) -> list[RoundRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM match_rounds WHERE status = 'posted' AND followup_done = 0 "
            "AND followup_at <= ? ORDER BY round_id",
            (to_db_time(now),),
        )
        return [_round(r) for r in rows]

    async def claim_followup(self, guild_id: int, round_id: int) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_rounds SET followup_done = 1 "
            "WHERE guild_id = ? AND round_id = ? AND followup_done = 0",
            (guild_id, round_id),
        )
        return changed > 0

    async def rounds_due_end(self, now: datetime) -> list[RoundRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM match_rounds WHERE status = 'posted' AND ends_at <= ? ORDER BY round_id",
            (to_db_time(now),),
        )
        return [_round(r) for r in rows]

    async def posted_rounds(self, guild_id: int, cohort_id: int) -> list[RoundRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM match_rounds WHERE guild_id = ? AND cohort_id = ? "
            "AND status IN ('posted', 'ended') ORDER BY round_index",
            (guild_id, cohort_id),
        )
        return [_round(r) for r in rows]

    async def mark_ended(self, guild_id: int, round_id: int, *, now: datetime) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_rounds SET status = 'ended', ended_at = ? "
            "WHERE guild_id = ? AND round_id = ? AND status = 'posted'",
            (to_db_time(now), guild_id, round_id),
        )
        return changed > 0

    async def rounds_undelivered(self) -> list[RoundRecord]:
        """Posted rounds (every guild) whose delivery has not finished: resumed on a tick."""
        rows = await self._db.fetchall(
            "SELECT * FROM match_rounds WHERE status = 'posted' AND delivered_at IS NULL "
            "ORDER BY round_id"
        )
        return [_round(r) for r in rows]

    async def mark_delivered(self, guild_id: int, round_id: int, *, now: datetime) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_rounds SET delivered_at = ? "
            "WHERE guild_id = ? AND round_id = ? AND delivered_at IS NULL",
            (to_db_time(now), guild_id, round_id),
        )
        return changed > 0

    async def reopen_delivery(self, guild_id: int, round_id: int) -> None:
        """A group added later (a re-match) is still pending: the next tick resumes it."""
        await self._db.execute_write(
            "UPDATE match_rounds SET delivered_at = NULL "
            "WHERE guild_id = ? AND round_id = ? AND status = 'posted'",
            (guild_id, round_id),
        )

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
                members.setdefault(int(m["group_id"]), []).append(
                    MemberRecord(
                        user_id=int(m["user_id"]),
                        outcome=m["outcome"],
                        outcome_at=_time(m["outcome_at"]),
                        wants_rematch=bool(m["wants_rematch"]),
                        dm_failed=bool(m["dm_failed"]),
                        quality=m["quality"],
                        departed=m["departed_at"] is not None,
                        chose_priority=bool(m["chose_priority"]),
                    )
                )
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
        await self._db.execute_write(
            "UPDATE match_groups SET delivery = ?, thread_id = COALESCE(?, thread_id) "
            "WHERE guild_id = ? AND group_id = ?",
            (delivery, thread_id, guild_id, group_id),
        )

    async def begin_thread_attempt(self, guild_id: int, group_id: int) -> None:
        """Counted before the request: a retry knows a thread may already exist."""
        await self._db.execute_write(
            "UPDATE match_groups SET attempts = attempts + 1 WHERE guild_id = ? AND group_id = ?",
            (guild_id, group_id),
        )

    async def set_group_error(self, guild_id: int, group_id: int, error: str | None) -> None:
        await self._db.execute_write(
            "UPDATE match_groups SET last_error = ? WHERE guild_id = ? AND group_id = ?",
            ((error or "")[:300] or None, guild_id, group_id),
        )

    async def mark_announced(self, guild_id: int, group_id: int, *, now: datetime) -> None:
        await self._db.execute_write(
            "UPDATE match_groups SET announced_at = COALESCE(announced_at, ?) "
            "WHERE guild_id = ? AND group_id = ?",
            (to_db_time(now), guild_id, group_id),
        )

    async def set_departed(
        self, guild_id: int, group_id: int, user_id: int, *, now: datetime
    ) -> bool:
        """Mark a member who left the server; False when already marked."""
        changed = await self._db.execute_write(
            "UPDATE match_members SET departed_at = ?, wants_rematch = 0 "
            "WHERE guild_id = ? AND group_id = ? AND user_id = ? AND departed_at IS NULL",
            (to_db_time(now), guild_id, group_id, user_id),
        )
        return changed > 0

    async def set_chose_priority(self, guild_id: int, group_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "UPDATE match_members SET chose_priority = 1, wants_rematch = 0 "
            "WHERE guild_id = ? AND group_id = ? AND user_id = ?",
            (guild_id, group_id, user_id),
        )

    async def set_followup_message(self, guild_id: int, group_id: int, message_id: int) -> None:
        await self._db.execute_write(
            "UPDATE match_groups SET followup_message_id = ? WHERE guild_id = ? AND group_id = ?",
            (message_id, guild_id, group_id),
        )

    async def mark_archived(self, guild_id: int, group_id: int) -> None:
        await self._db.execute_write(
            "UPDATE match_groups SET archived = 1 WHERE guild_id = ? AND group_id = ?",
            (guild_id, group_id),
        )

    async def set_dm_failed(self, guild_id: int, group_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "UPDATE match_members SET dm_failed = 1 "
            "WHERE guild_id = ? AND group_id = ? AND user_id = ?",
            (guild_id, group_id, user_id),
        )

    async def set_outcome(
        self, guild_id: int, group_id: int, user_id: int, outcome: Outcome, *, now: datetime
    ) -> bool:
        changed = await self._db.execute_write(
            "UPDATE match_members SET outcome = ?, outcome_at = ? "
            "WHERE guild_id = ? AND group_id = ? AND user_id = ?",
            (outcome, to_db_time(now), guild_id, group_id, user_id),
        )
        return changed > 0

    async def set_wants_rematch(
        self, guild_id: int, group_id: int, user_id: int, wanted: bool
    ) -> None:
        await self._db.execute_write(
            "UPDATE match_members SET wants_rematch = ?, "
            "chose_priority = CASE WHEN ? THEN 0 ELSE chose_priority END "
            "WHERE guild_id = ? AND group_id = ? AND user_id = ?",
            (int(wanted), int(wanted), guild_id, group_id, user_id),
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
            "AND created_at < ? AND (? IS NULL OR cohort_id IS NULL OR cohort_id = ?)",
            (guild_id, to_db_time(start), to_db_time(end), cohort_id, cohort_id),
        )
        reported = {int(r["reported_id"]) for r in rows if r["reported_id"] is not None}
        unnamed = sum(1 for r in rows if r["reported_id"] is None)
        return reported, unnamed

    # ------------------------------------------------------------------ data contract

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        queries = {
            "match_participants": (
                "SELECT * FROM match_participants WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ),
            "match_avoids": (
                "SELECT partner_id, created_at FROM match_avoids "
                "WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ),
            # Blocks are the instructors' safety decisions: the student sees that one exists.
            "match_blocks": (
                "SELECT created_at FROM match_blocks WHERE guild_id = ? "
                "AND (student_id = ? OR partner_id = ?)",
                (guild_id, user_id, user_id),
            ),
            "match_members": (
                "SELECT group_id, outcome, outcome_at, wants_rematch, dm_failed, quality, "
                "departed_at, chose_priority FROM match_members "
                "WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ),
            "match_unmatched": (
                "SELECT round_id, reason FROM match_unmatched WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            ),
            # Reports they made (not reports about them: those protect the reporter).
            "match_reports": (
                "SELECT report_id, reported_id, channel_id, message_id, rematch, avoid, "
                "created_at FROM match_reports WHERE guild_id = ? AND reporter_id = ?",
                (guild_id, user_id),
            ),
        }
        result: dict[str, list[dict[str, Any]]] = {}
        for table, (sql, params) in queries.items():
            result[table] = [row_to_dict(r) for r in await self._db.fetchall(sql, params)]
        return result

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            # Only what the person created themselves. Safety records other people made about
            # them stay: a classmate's avoid, an instructor's block and a report naming them
            # are keyed by this id, so erasing it would let the next round pair them again.
            for sql in (
                "DELETE FROM match_participants WHERE guild_id = ? AND user_id = ?",
                "DELETE FROM match_avoids WHERE guild_id = ? AND user_id = ?",
                "DELETE FROM match_members WHERE guild_id = ? AND user_id = ?",
                "DELETE FROM match_unmatched WHERE guild_id = ? AND user_id = ?",
            ):
                await conn.execute(sql, (guild_id, user_id))
            # Their own reports stay for staff, without the reporter's id.
            await conn.execute(
                "UPDATE match_reports SET reporter_id = NULL "
                "WHERE guild_id = ? AND reporter_id = ?",
                (guild_id, user_id),
            )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            for table in (
                "match_members",
                "match_unmatched",
                "match_groups",
                "match_rounds",
                "match_reports",
                "match_avoids",
                "match_blocks",
                "match_participants",
                "match_settings",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))
