"""The coffee shop's tables: all the SQL for posts, kudos, milestones, the pulse, questions
and circles. Every query filters by guild_id.

Weekly counts for the digest take ``(guild_id, start, end, cohort_id=None)``: ``start``
inclusive, ``end`` exclusive, aware datetimes; ``cohort_id`` None counts the whole server.
A row's cohort is the author's (or respondent's) first cohort when it was written (0: none).

The pulse keeps anonymous answers as per-answer totals (``coffee_pulse_tallies``) with no
student id, no time and no row per answer; who has answered is a separate table with no
answer in it. "Please reach out to me" is not anonymous and lives in ``coffee_reach_outs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from bot.store.contract import Redaction, row_to_dict
from bot.store.db import Database
from cogs.coffee_shop.rules import (
    CELEBRATION_KINDS,
    DEFAULT_CIRCLE_SIZE,
    DEFAULT_KUDOS_PER_DAY,
    PULSE_LABELS,
    check_milestone,
    embed_dict,
    kudos_post_without_giver,
)

__all__ = [
    "Circle",
    "CircleRepository",
    "CoffeeConfig",
    "CoffeeConfigRepository",
    "CoffeePost",
    "CoffeePostRepository",
    "CoffeeSettingsRepository",
    "CoffeeStore",
    "KudosRepository",
    "MilestoneRepository",
    "Pulse",
    "PulseRepository",
    "QuestionHistoryRepository",
    "ReachOut",
]


def _ts(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(instant.timestamp())


def _dt(value: int) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _cohort_filter(cohort_id: int | None, column: str = "cohort_id") -> tuple[str, tuple[Any, ...]]:
    if cohort_id is None:
        return "", ()
    return f" AND {column} = ?", (cohort_id,)


# ---------------------------------------------------------------------- config


@dataclass(frozen=True)
class CoffeeConfig:
    guild_id: int
    kudos_per_day: int = DEFAULT_KUDOS_PER_DAY
    circle_size: int = DEFAULT_CIRCLE_SIZE


class CoffeeConfigRepository:
    """Per-server coffee-shop limits (no personal data)."""

    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("coffee_config",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> CoffeeConfig:
        row = await self._db.fetchone(
            "SELECT kudos_per_day, circle_size FROM coffee_config WHERE guild_id = ?", (guild_id,)
        )
        if row is None:
            return CoffeeConfig(guild_id)
        return CoffeeConfig(guild_id, int(row["kudos_per_day"]), int(row["circle_size"]))

    async def save(self, config: CoffeeConfig) -> None:
        await self._db.execute_write(
            "INSERT INTO coffee_config (guild_id, kudos_per_day, circle_size) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET kudos_per_day = excluded.kudos_per_day, "
            "circle_size = excluded.circle_size",
            (config.guild_id, config.kudos_per_day, config.circle_size),
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM coffee_config WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- student settings


class CoffeeSettingsRepository:
    """A student's own settings (milestone notes; off by default)."""

    personal_tables: tuple[str, ...] = ("coffee_settings",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def milestones_on(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT milestones_on FROM coffee_settings WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return bool(row and row["milestones_on"])

    async def set_milestones(self, guild_id: int, user_id: int, on: bool, *, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO coffee_settings (guild_id, user_id, milestones_on, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "milestones_on = excluded.milestones_on, updated_at = excluded.updated_at",
            (guild_id, user_id, 1 if on else 0, _ts(now)),
        )

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT milestones_on, updated_at FROM coffee_settings "
            "WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {"coffee_settings": [row_to_dict(r) for r in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_settings WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM coffee_settings WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- posts


@dataclass(frozen=True)
class CoffeePost:
    guild_id: int
    post_id: int
    cohort_id: int
    author_id: int | None
    kind: str
    anonymous: bool
    channel_id: int
    message_id: int | None
    reactions: int
    replies: int
    created_at: datetime


def _post(row: aiosqlite.Row) -> CoffeePost:
    return CoffeePost(
        guild_id=int(row["guild_id"]),
        post_id=int(row["post_id"]),
        cohort_id=int(row["cohort_id"]),
        author_id=row["author_id"],
        kind=str(row["kind"]),
        anonymous=bool(row["anonymous"]),
        channel_id=int(row["channel_id"]),
        message_id=row["message_id"],
        reactions=int(row["reactions"]),
        replies=int(row["replies"]),
        created_at=_dt(row["created_at"]),
    )


class CoffeePostRepository:
    """Celebrations, life updates and rough-week posts (who wrote them, even unnamed ones)."""

    personal_tables: tuple[str, ...] = ("coffee_posts", "coffee_celebration_reactions")

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _is_celebration(self, guild_id: int, message_id: int) -> bool:
        marks = ",".join("?" for _ in CELEBRATION_KINDS)
        row = await self._db.fetchone(
            f"SELECT 1 FROM coffee_posts WHERE guild_id = ? AND message_id = ? "
            f"AND kind IN ({marks}) LIMIT 1",
            (guild_id, message_id, *sorted(CELEBRATION_KINDS)),
        )
        return row is not None

    async def add_reaction(
        self, guild_id: int, message_id: int, user_id: int, emoji: str, *, now: datetime
    ) -> bool:
        """A classmate's reaction on a celebration (the caller checked they are a student);
        the author's own doesn't count. True when it was new."""
        # Most coffee-shop reactions are not on a celebration: a read first keeps them off
        # the single writer lock.
        if not await self._is_celebration(guild_id, message_id):
            return False
        changed = await self._db.execute_write(
            "INSERT INTO coffee_celebration_reactions "
            "(guild_id, message_id, user_id, emoji, created_at) "
            "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM coffee_posts "
            "WHERE guild_id = ? AND message_id = ? AND author_id = ?) ON CONFLICT DO NOTHING",
            (guild_id, message_id, user_id, emoji, _ts(now), guild_id, message_id, user_id),
        )
        return changed == 1

    async def remove_reaction(
        self, guild_id: int, message_id: int, user_id: int, emoji: str
    ) -> bool:
        """A removed reaction stops counting. True when one was counted."""
        row = await self._db.fetchone(
            "SELECT 1 FROM coffee_celebration_reactions WHERE guild_id = ? AND message_id = ? "
            "AND user_id = ? AND emoji = ?",
            (guild_id, message_id, user_id, emoji),
        )
        if row is None:
            return False
        changed = await self._db.execute_write(
            "DELETE FROM coffee_celebration_reactions WHERE guild_id = ? AND message_id = ? "
            "AND user_id = ? AND emoji = ?",
            (guild_id, message_id, user_id, emoji),
        )
        return changed == 1

    async def add(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        author_id: int,
        kind: str,
        anonymous: bool,
        channel_id: int,
        message_id: int | None,
        now: datetime,
    ) -> int:
        post_id = await self._db.insert(
            "INSERT INTO coffee_posts (guild_id, cohort_id, author_id, kind, anonymous, "
            "channel_id, message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                cohort_id,
                author_id,
                kind,
                int(anonymous),
                channel_id,
                message_id,
                _ts(now),
            ),
        )
        assert post_id is not None
        return post_id

    async def by_message(self, guild_id: int, message_id: int) -> CoffeePost | None:
        row = await self._db.fetchone(
            "SELECT * FROM coffee_posts WHERE guild_id = ? AND message_id = ?",
            (guild_id, message_id),
        )
        return _post(row) if row else None

    async def count_response(self, guild_id: int, message_id: int, user_id: int, what: str) -> bool:
        """Count a classmate's reaction or reply ("reactions"/"replies") on a celebration;
        the author's own don't count. True when something was counted."""
        if what not in ("reactions", "replies"):
            raise ValueError(what)
        marks = ",".join("?" for _ in CELEBRATION_KINDS)
        # Most coffee-shop replies are not to a celebration: a read first keeps them off the
        # single writer lock (activity batches and other writes wait behind it).
        target = await self._db.fetchone(
            f"SELECT 1 FROM coffee_posts WHERE guild_id = ? AND message_id = ? "
            f"AND kind IN ({marks}) LIMIT 1",
            (guild_id, message_id, *sorted(CELEBRATION_KINDS)),
        )
        if target is None:
            return False
        changed = await self._db.execute_write(
            f"UPDATE coffee_posts SET {what} = {what} + 1 WHERE guild_id = ? AND message_id = ? "
            f"AND kind IN ({marks}) AND (author_id IS NULL OR author_id != ?)",
            (guild_id, message_id, *sorted(CELEBRATION_KINDS), user_id),
        )
        return changed == 1

    async def kind_counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Posts per kind (course_win, personal_win, life_update, rough_week) in the week."""
        extra, params = _cohort_filter(cohort_id)
        rows = await self._db.fetchall(
            "SELECT kind, COUNT(*) AS n FROM coffee_posts WHERE guild_id = ? "
            f"AND created_at >= ? AND created_at < ?{extra} GROUP BY kind",
            (guild_id, _ts(start), _ts(end), *params),
        )
        return {str(r["kind"]): int(r["n"]) for r in rows}

    async def celebration_engagement(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> tuple[int, int]:
        """(reactions, replies) by classmates on the week's celebrations; reactions are
        distinct (post, student) pairs."""
        extra, params = _cohort_filter(cohort_id, "p.cohort_id")
        marks = ",".join("?" for _ in CELEBRATION_KINDS)
        where = (
            f"WHERE p.guild_id = ? AND p.kind IN ({marks}) "
            f"AND p.created_at >= ? AND p.created_at < ?{extra}"
        )
        args = (guild_id, *sorted(CELEBRATION_KINDS), _ts(start), _ts(end), *params)
        row = await self._db.fetchone(
            f"SELECT COALESCE(SUM(p.replies), 0) AS p FROM coffee_posts p {where}", args
        )
        reactions = await self._db.fetchone(
            "SELECT COUNT(*) AS r FROM (SELECT DISTINCT r.message_id, r.user_id "
            "FROM coffee_celebration_reactions r JOIN coffee_posts p "
            f"ON p.guild_id = r.guild_id AND p.message_id = r.message_id {where})",
            args,
        )
        return (int(reactions["r"]) if reactions else 0, int(row["p"]) if row else 0)

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT post_id, kind, anonymous, channel_id, message_id, created_at "
            "FROM coffee_posts WHERE guild_id = ? AND author_id = ? ORDER BY post_id",
            (guild_id, user_id),
        )
        reactions = await self._db.fetchall(
            "SELECT message_id, emoji, created_at FROM coffee_celebration_reactions "
            "WHERE guild_id = ? AND user_id = ? ORDER BY created_at",
            (guild_id, user_id),
        )
        return {
            "coffee_posts": [row_to_dict(r) for r in rows],
            "coffee_celebration_reactions": [row_to_dict(r) for r in reactions],
        }

    async def posts_about_user(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """Their celebrations, life updates and rough-week posts carry their words (and,
        unless posted without a name, their name): all are deleted with their data."""
        rows = await self._db.fetchall(
            "SELECT channel_id, message_id FROM coffee_posts WHERE guild_id = ? "
            "AND author_id = ? AND message_id IS NOT NULL",
            (guild_id, user_id),
        )
        return [(int(r["channel_id"]), int(r["message_id"])) for r in rows]

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        # The posts' counts stay (they are the course's); who wrote the post is forgotten,
        # and their reactions go (they were theirs).
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE coffee_posts SET author_id = NULL WHERE guild_id = ? AND author_id = ?",
                (guild_id, user_id),
            )
            await conn.execute(
                "DELETE FROM coffee_celebration_reactions WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM coffee_posts WHERE guild_id = ?", (guild_id,))
            await conn.execute(
                "DELETE FROM coffee_celebration_reactions WHERE guild_id = ?", (guild_id,)
            )


# ---------------------------------------------------------------------- kudos


class KudosRepository:
    personal_tables: tuple[str, ...] = ("coffee_kudos",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        guild_id: int,
        cohort_id: int,
        giver_id: int,
        receiver_id: int,
        reason: str,
        message_id: int | None,
        now: datetime,
        channel_id: int | None = None,
    ) -> int:
        kudos_id = await self._db.insert(
            "INSERT INTO coffee_kudos (guild_id, cohort_id, giver_id, receiver_id, reason, "
            "channel_id, message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (guild_id, cohort_id, giver_id, receiver_id, reason, channel_id, message_id, _ts(now)),
        )
        assert kudos_id is not None
        return kudos_id

    async def given_since(self, guild_id: int, giver_id: int, since: datetime) -> list[datetime]:
        rows = await self._db.fetchall(
            "SELECT created_at FROM coffee_kudos WHERE guild_id = ? AND giver_id = ? "
            "AND created_at > ? ORDER BY created_at",
            (guild_id, giver_id, _ts(since)),
        )
        return [_dt(r["created_at"]) for r in rows]

    async def counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> tuple[dict[int, int], dict[int, int]]:
        """(given per student, received per student) in the week."""
        extra, params = _cohort_filter(cohort_id)
        base = (guild_id, _ts(start), _ts(end), *params)
        where = f"WHERE guild_id = ? AND created_at >= ? AND created_at < ?{extra}"
        given = await self._db.fetchall(
            f"SELECT giver_id AS u, COUNT(*) AS n FROM coffee_kudos {where} "
            "AND giver_id IS NOT NULL GROUP BY giver_id",
            base,
        )
        received = await self._db.fetchall(
            f"SELECT receiver_id AS u, COUNT(*) AS n FROM coffee_kudos {where} "
            "AND receiver_id IS NOT NULL GROUP BY receiver_id",
            base,
        )
        return (
            {int(r["u"]): int(r["n"]) for r in given},
            {int(r["u"]): int(r["n"]) for r in received},
        )

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT kudos_id, giver_id, receiver_id, reason, created_at FROM coffee_kudos "
            "WHERE guild_id = ? AND (giver_id = ? OR receiver_id = ?) ORDER BY kudos_id",
            (guild_id, user_id, user_id),
        )
        return {"coffee_kudos": [row_to_dict(r) for r in rows]}

    async def posts_about_user(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """Kudos they received name them (and thank them for something): deleted."""
        rows = await self._db.fetchall(
            "SELECT channel_id, message_id FROM coffee_kudos WHERE guild_id = ? "
            "AND receiver_id = ? AND message_id IS NOT NULL AND channel_id IS NOT NULL",
            (guild_id, user_id),
        )
        return [(int(r["channel_id"]), int(r["message_id"])) for r in rows]

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]:
        """Kudos they gave are the receiver's thanks: edited to drop the giver's name and
        words, so the receiver keeps them."""
        rows = await self._db.fetchall(
            "SELECT channel_id, message_id, receiver_id FROM coffee_kudos WHERE guild_id = ? "
            "AND giver_id = ? AND message_id IS NOT NULL AND channel_id IS NOT NULL "
            "AND (receiver_id IS NULL OR receiver_id != giver_id)",
            (guild_id, user_id),
        )
        redactions = []
        for r in rows:
            post = kudos_post_without_giver(r["receiver_id"])
            redactions.append(
                Redaction(
                    int(r["channel_id"]),
                    int(r["message_id"]),
                    content=post.content,
                    embed=embed_dict(post),
                )
            )
        return redactions

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        # Keep the other person's count: forget only this person's side (and their words).
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE coffee_kudos SET giver_id = NULL, reason = NULL "
                "WHERE guild_id = ? AND giver_id = ?",
                (guild_id, user_id),
            )
            await conn.execute(
                "UPDATE coffee_kudos SET receiver_id = NULL WHERE guild_id = ? AND receiver_id = ?",
                (guild_id, user_id),
            )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write("DELETE FROM coffee_kudos WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- milestones


class MilestoneRepository:
    personal_tables: tuple[str, ...] = ("coffee_milestones",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, guild_id: int, user_id: int, milestone: str, *, cohort_id: int, now: datetime
    ) -> bool:
        """True only the first time this student reaches this milestone."""
        check_milestone(milestone)
        changed = await self._db.execute_write(
            "INSERT INTO coffee_milestones (guild_id, user_id, milestone, cohort_id, reached_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id, milestone) DO NOTHING",
            (guild_id, user_id, milestone, cohort_id, _ts(now)),
        )
        return changed == 1

    async def set_note(self, guild_id: int, user_id: int, milestone: str, note: str) -> None:
        await self._db.execute_write(
            "UPDATE coffee_milestones SET note = ? "
            "WHERE guild_id = ? AND user_id = ? AND milestone = ?",
            (note, guild_id, user_id, milestone),
        )

    async def of_user(self, guild_id: int, user_id: int) -> dict[str, str]:
        """milestone → note state ('off', 'sent', 'dm_closed', 'failed')."""
        rows = await self._db.fetchall(
            "SELECT milestone, note FROM coffee_milestones WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {str(r["milestone"]): str(r["note"]) for r in rows}

    async def counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Milestones reached in the week, per milestone (no names)."""
        extra, params = _cohort_filter(cohort_id)
        rows = await self._db.fetchall(
            "SELECT milestone, COUNT(*) AS n FROM coffee_milestones WHERE guild_id = ? "
            f"AND reached_at >= ? AND reached_at < ?{extra} GROUP BY milestone",
            (guild_id, _ts(start), _ts(end), *params),
        )
        return {str(r["milestone"]): int(r["n"]) for r in rows}

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT milestone, reached_at, note FROM coffee_milestones "
            "WHERE guild_id = ? AND user_id = ? ORDER BY reached_at",
            (guild_id, user_id),
        )
        return {"coffee_milestones": [row_to_dict(r) for r in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_milestones WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_milestones WHERE guild_id = ?", (guild_id,)
        )


# ---------------------------------------------------------------------- pulse


@dataclass(frozen=True)
class Pulse:
    guild_id: int
    pulse_id: int
    week_start: date
    closes_at: datetime
    channel_id: int | None
    message_id: int | None


@dataclass(frozen=True)
class ReachOut:
    user_id: int
    pulse_id: int
    cohort_id: int
    created_at: datetime


def _pulse(row: aiosqlite.Row) -> Pulse:
    return Pulse(
        guild_id=int(row["guild_id"]),
        pulse_id=int(row["pulse_id"]),
        week_start=date.fromisoformat(row["week_start"]),
        closes_at=_dt(row["closes_at"]),
        channel_id=row["channel_id"],
        message_id=row["message_id"],
    )


class PulseRepository:
    """Weekly pulses, their anonymous totals, who answered, and reach-out requests."""

    personal_tables: tuple[str, ...] = ("coffee_pulse_respondents", "coffee_reach_outs")
    non_personal_tables: tuple[str, ...] = ("coffee_pulses", "coffee_pulse_tallies")

    def __init__(self, db: Database) -> None:
        self._db = db

    async def open_week(
        self, guild_id: int, week_start: date, closes_at: datetime, *, now: datetime
    ) -> Pulse:
        """The pulse of that week, created if needed."""
        await self._db.execute_write(
            "INSERT INTO coffee_pulses (guild_id, week_start, closes_at, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, week_start) DO NOTHING",
            (guild_id, week_start.isoformat(), _ts(closes_at), _ts(now)),
        )
        row = await self._db.fetchone(
            "SELECT * FROM coffee_pulses WHERE guild_id = ? AND week_start = ?",
            (guild_id, week_start.isoformat()),
        )
        assert row is not None
        return _pulse(row)

    async def set_message(
        self, guild_id: int, pulse_id: int, channel_id: int, message_id: int
    ) -> None:
        await self._db.execute_write(
            "UPDATE coffee_pulses SET channel_id = ?, message_id = ? "
            "WHERE guild_id = ? AND pulse_id = ?",
            (channel_id, message_id, guild_id, pulse_id),
        )

    async def get(self, guild_id: int, pulse_id: int) -> Pulse | None:
        row = await self._db.fetchone(
            "SELECT * FROM coffee_pulses WHERE guild_id = ? AND pulse_id = ?", (guild_id, pulse_id)
        )
        return _pulse(row) if row else None

    async def answer(
        self, guild_id: int, pulse_id: int, user_id: int, *, cohort_id: int, answer: str
    ) -> bool:
        """Record one anonymous answer; False when this student already answered this pulse.

        One transaction: the respondent row (no answer in it) and +1 on the answer's total
        (no student in it)."""
        if answer not in PULSE_LABELS:
            raise ValueError(f"unknown pulse answer {answer!r}")
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO coffee_pulse_respondents (guild_id, pulse_id, user_id) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, pulse_id, user_id),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(
                "INSERT INTO coffee_pulse_tallies (guild_id, pulse_id, cohort_id, answer, count) "
                "VALUES (?, ?, ?, ?, 1) ON CONFLICT (guild_id, pulse_id, cohort_id, answer) "
                "DO UPDATE SET count = count + 1",
                (guild_id, pulse_id, cohort_id, answer),
            )
        return True

    async def has_answered(self, guild_id: int, pulse_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM coffee_pulse_respondents WHERE guild_id = ? AND pulse_id = ? "
            "AND user_id = ?",
            (guild_id, pulse_id, user_id),
        )
        return row is not None

    async def reach_out(
        self, guild_id: int, pulse_id: int, user_id: int, *, cohort_id: int, now: datetime
    ) -> bool:
        """Record a "please reach out"; False when this student already asked this week."""
        changed = await self._db.execute_write(
            "INSERT INTO coffee_reach_outs (guild_id, pulse_id, user_id, cohort_id, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, pulse_id, user_id, cohort_id, _ts(now)),
        )
        return changed == 1

    async def tallies(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Totals per answer over the pulses that closed in (start, end] (raw: apply
        :func:`cogs.coffee_shop.rules.summarize_pulse` before showing them to anyone).

        A still-open pulse never counts: comparing two digests around one more click would
        reveal that student's answer."""
        extra, params = _cohort_filter(cohort_id, "t.cohort_id")
        rows = await self._db.fetchall(
            "SELECT t.answer AS answer, SUM(t.count) AS n FROM coffee_pulse_tallies t "
            "JOIN coffee_pulses p ON p.pulse_id = t.pulse_id AND p.guild_id = t.guild_id "
            f"WHERE t.guild_id = ? AND p.closes_at > ? AND p.closes_at <= ?{extra} "
            "GROUP BY t.answer",
            (guild_id, _ts(start), _ts(end), *params),
        )
        return {str(r["answer"]): int(r["n"]) for r in rows}

    async def pulse_tallies(self, guild_id: int, pulse_id: int) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT answer, SUM(count) AS n FROM coffee_pulse_tallies "
            "WHERE guild_id = ? AND pulse_id = ? GROUP BY answer",
            (guild_id, pulse_id),
        )
        return {str(r["answer"]): int(r["n"]) for r in rows}

    async def reach_outs(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> list[ReachOut]:
        """ "Please reach out to me" requests in the week (these name the student, by design)."""
        extra, params = _cohort_filter(cohort_id)
        rows = await self._db.fetchall(
            "SELECT user_id, pulse_id, cohort_id, created_at FROM coffee_reach_outs "
            f"WHERE guild_id = ? AND created_at >= ? AND created_at < ?{extra} "
            "ORDER BY created_at",
            (guild_id, _ts(start), _ts(end), *params),
        )
        return [
            ReachOut(
                int(r["user_id"]), int(r["pulse_id"]), int(r["cohort_id"]), _dt(r["created_at"])
            )
            for r in rows
        ]

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        answered = await self._db.fetchall(
            "SELECT r.pulse_id, p.week_start FROM coffee_pulse_respondents r "
            "JOIN coffee_pulses p ON p.pulse_id = r.pulse_id "
            "WHERE r.guild_id = ? AND r.user_id = ? ORDER BY r.pulse_id",
            (guild_id, user_id),
        )
        reach = await self._db.fetchall(
            "SELECT pulse_id, created_at FROM coffee_reach_outs WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return {
            # What they answered was never stored with their name, so it cannot be exported.
            "coffee_pulse_respondents": [row_to_dict(r) for r in answered],
            "coffee_reach_outs": [row_to_dict(r) for r in reach],
        }

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM coffee_pulse_respondents WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            await conn.execute(
                "DELETE FROM coffee_reach_outs WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            for table in (
                "coffee_pulse_respondents",
                "coffee_reach_outs",
                "coffee_pulse_tallies",
                "coffee_pulses",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- questions


class QuestionHistoryRepository:
    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("coffee_questions_asked",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def asked(self, guild_id: int) -> list[int]:
        """Question indices in the order they were asked, oldest first."""
        rows = await self._db.fetchall(
            "SELECT question_index FROM coffee_questions_asked WHERE guild_id = ? "
            "ORDER BY asked_at, slot",
            (guild_id,),
        )
        return [int(r["question_index"]) for r in rows]

    async def record(self, guild_id: int, index: int, slot: str, *, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO coffee_questions_asked (guild_id, question_index, slot, asked_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, slot) DO NOTHING",
            (guild_id, index, slot, _ts(now)),
        )

    async def delete_guild(self, guild_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_questions_asked WHERE guild_id = ?", (guild_id,)
        )


# ---------------------------------------------------------------------- circles


@dataclass(frozen=True)
class Circle:
    guild_id: int
    circle_id: int
    name: str
    members: int = 0


class CircleRepository:
    """Circles, their private threads, and who joined which (the only personal part)."""

    personal_tables: tuple[str, ...] = ("coffee_circle_members",)
    non_personal_tables: tuple[str, ...] = ("coffee_circles", "coffee_circle_threads")

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, guild_id: int) -> list[Circle]:
        rows = await self._db.fetchall(
            "SELECT c.guild_id, c.circle_id, c.name, COUNT(m.user_id) AS members "
            "FROM coffee_circles c LEFT JOIN coffee_circle_members m "
            "ON m.guild_id = c.guild_id AND m.circle_id = c.circle_id "
            "WHERE c.guild_id = ? GROUP BY c.circle_id ORDER BY c.name",
            (guild_id,),
        )
        return [
            Circle(int(r["guild_id"]), int(r["circle_id"]), str(r["name"]), int(r["members"]))
            for r in rows
        ]

    async def find(self, guild_id: int, name: str) -> Circle | None:
        row = await self._db.fetchone(
            "SELECT guild_id, circle_id, name FROM coffee_circles WHERE guild_id = ? AND name = ?",
            (guild_id, name),
        )
        return (
            Circle(int(row["guild_id"]), int(row["circle_id"]), str(row["name"])) if row else None
        )

    async def add(self, guild_id: int, name: str, *, now: datetime) -> Circle | None:
        """None when a circle of that name (any case) exists."""
        circle_id = await self._db.insert(
            "INSERT INTO coffee_circles (guild_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, name) DO NOTHING",
            (guild_id, name, _ts(now)),
        )
        return Circle(guild_id, circle_id, name) if circle_id is not None else None

    async def rename(self, guild_id: int, circle_id: int, name: str) -> None:
        await self._db.execute_write(
            "UPDATE coffee_circles SET name = ? WHERE guild_id = ? AND circle_id = ?",
            (name, guild_id, circle_id),
        )

    async def remove(self, guild_id: int, circle_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_circles WHERE guild_id = ? AND circle_id = ?", (guild_id, circle_id)
        )

    async def threads(self, guild_id: int, circle_id: int) -> list[tuple[int, int]]:
        """(thread_id, members) of a circle's threads, in the order they were opened."""
        rows = await self._db.fetchall(
            "SELECT t.thread_id AS thread_id, COUNT(m.user_id) AS n FROM coffee_circle_threads t "
            "LEFT JOIN coffee_circle_members m ON m.guild_id = t.guild_id "
            "AND m.thread_id = t.thread_id WHERE t.guild_id = ? AND t.circle_id = ? "
            "GROUP BY t.thread_id ORDER BY t.position",
            (guild_id, circle_id),
        )
        return [(int(r["thread_id"]), int(r["n"])) for r in rows]

    async def add_thread(self, guild_id: int, circle_id: int, thread_id: int) -> int:
        """Record a new thread of the circle; returns its position (1, 2 …)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM coffee_circle_threads "
                "WHERE guild_id = ? AND circle_id = ?",
                (guild_id, circle_id),
            ) as cursor:
                row = await cursor.fetchone()
            position = int(row[0]) if row else 1
            await conn.execute(
                "INSERT INTO coffee_circle_threads (guild_id, circle_id, thread_id, position) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, circle_id, thread_id, position),
            )
        return position

    async def next_thread_position(self, guild_id: int, circle_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(position), 0) + 1 AS p FROM coffee_circle_threads "
            "WHERE guild_id = ? AND circle_id = ?",
            (guild_id, circle_id),
        )
        return int(row["p"]) if row else 1

    async def circle_of_thread(self, guild_id: int, thread_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT circle_id FROM coffee_circle_threads WHERE guild_id = ? AND thread_id = ?",
            (guild_id, thread_id),
        )
        return int(row["circle_id"]) if row else None

    async def thread_ids(self, guild_id: int, circle_id: int | None = None) -> list[int]:
        if circle_id is None:
            rows = await self._db.fetchall(
                "SELECT thread_id FROM coffee_circle_threads WHERE guild_id = ?", (guild_id,)
            )
        else:
            rows = await self._db.fetchall(
                "SELECT thread_id FROM coffee_circle_threads WHERE guild_id = ? AND circle_id = ? "
                "ORDER BY position",
                (guild_id, circle_id),
            )
        return [int(r["thread_id"]) for r in rows]

    async def membership(self, guild_id: int, circle_id: int, user_id: int) -> int | None:
        """The thread the student is in for this circle, or None."""
        row = await self._db.fetchone(
            "SELECT thread_id FROM coffee_circle_members "
            "WHERE guild_id = ? AND circle_id = ? AND user_id = ?",
            (guild_id, circle_id, user_id),
        )
        return int(row["thread_id"]) if row else None

    async def add_member(
        self, guild_id: int, circle_id: int, user_id: int, thread_id: int, *, now: datetime
    ) -> bool:
        changed = await self._db.execute_write(
            "INSERT INTO coffee_circle_members (guild_id, circle_id, user_id, thread_id, "
            "joined_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, circle_id, user_id, thread_id, _ts(now)),
        )
        return changed == 1

    async def remove_member(self, guild_id: int, circle_id: int, user_id: int) -> bool:
        changed = await self._db.execute_write(
            "DELETE FROM coffee_circle_members "
            "WHERE guild_id = ? AND circle_id = ? AND user_id = ?",
            (guild_id, circle_id, user_id),
        )
        return changed == 1

    async def circles_of(self, guild_id: int, user_id: int) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT c.name FROM coffee_circle_members m JOIN coffee_circles c "
            "ON c.circle_id = m.circle_id WHERE m.guild_id = ? AND m.user_id = ? ORDER BY c.name",
            (guild_id, user_id),
        )
        return [str(r["name"]) for r in rows]

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT c.name AS circle, m.thread_id, m.joined_at FROM coffee_circle_members m "
            "JOIN coffee_circles c ON c.circle_id = m.circle_id "
            "WHERE m.guild_id = ? AND m.user_id = ?",
            (guild_id, user_id),
        )
        return {"coffee_circle_members": [row_to_dict(r) for r in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await self._db.execute_write(
            "DELETE FROM coffee_circle_members WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            for table in ("coffee_circle_members", "coffee_circle_threads", "coffee_circles"):
                await conn.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))


# ---------------------------------------------------------------------- bundle


@dataclass(frozen=True)
class CoffeeStore:
    """Every coffee-shop repository, built from one database."""

    config: CoffeeConfigRepository
    settings: CoffeeSettingsRepository
    posts: CoffeePostRepository
    kudos: KudosRepository
    milestones: MilestoneRepository
    pulses: PulseRepository
    questions: QuestionHistoryRepository
    circles: CircleRepository

    @classmethod
    def open(cls, db: Database) -> CoffeeStore:
        return cls(
            config=CoffeeConfigRepository(db),
            settings=CoffeeSettingsRepository(db),
            posts=CoffeePostRepository(db),
            kudos=KudosRepository(db),
            milestones=MilestoneRepository(db),
            pulses=PulseRepository(db),
            questions=QuestionHistoryRepository(db),
            circles=CircleRepository(db),
        )

    def repositories(self) -> Iterable[object]:
        return (
            self.config,
            self.settings,
            self.posts,
            self.kudos,
            self.milestones,
            self.pulses,
            self.questions,
            self.circles,
        )
