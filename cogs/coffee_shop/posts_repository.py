"""The coffee shop's posts (celebrations, shares) and their reactions, and kudos.

Weekly counts for the digest take ``(guild_id, start, end, cohort_id=None)``: ``start``
inclusive, ``end`` exclusive, aware datetimes; ``cohort_id`` None counts the whole server.
A row's cohort is the author's (or respondent's) first cohort when it was written (0: none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict, Unpack

from bot.store.contract import (
    PersonRows,
    Redaction,
    TablesRepository,
    delete_rows_in,
    unname_rows_in,
)
from bot.store.rows import Records, row_mapper
from bot.store.times import from_db_time, to_db_time
from cogs.coffee_shop.repository_base import cohort_filter, counts_in_week
from cogs.coffee_shop.rules import CELEBRATION_KINDS, PostKind, embed_dict, kudos_post_without_giver


class NewPost(TypedDict):
    """A coffee-shop post the bot just sent, as recorded."""

    guild_id: int
    cohort_id: int
    author_id: int
    kind: PostKind
    anonymous: bool
    channel_id: int
    message_id: int | None


class NewKudos(TypedDict):
    """A kudos post the bot just sent, as recorded."""

    guild_id: int
    cohort_id: int
    giver_id: int
    receiver_id: int
    reason: str
    message_id: int | None
    channel_id: NotRequired[int | None]


__all__ = [
    "CoffeePost",
    "CoffeePostRepository",
    "KudosRepository",
]


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


_POSTS = Records("coffee_posts", row_mapper(CoffeePost))


class CoffeePostRepository(TablesRepository):
    """Celebrations, life updates and rough-week posts (who wrote them, even unnamed ones)."""

    personal_tables: tuple[str, ...] = ("coffee_posts", "coffee_celebration_reactions")
    exported = (
        PersonRows(
            "coffee_posts",
            "post_id, kind, anonymous, channel_id, message_id, created_at",
            person="author_id",
            order_by="post_id",
        ),
        PersonRows(
            "coffee_celebration_reactions", "message_id, emoji, created_at", order_by="created_at"
        ),
    )

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
        return await self._db.changed(
            "INSERT INTO coffee_celebration_reactions "
            "(guild_id, message_id, user_id, emoji, created_at) "
            "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM coffee_posts "
            "WHERE guild_id = ? AND message_id = ? AND author_id = ?) ON CONFLICT DO NOTHING",
            (guild_id, message_id, user_id, emoji, to_db_time(now), guild_id, message_id, user_id),
        )

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
        return await self._db.changed(
            "DELETE FROM coffee_celebration_reactions WHERE guild_id = ? AND message_id = ? "
            "AND user_id = ? AND emoji = ?",
            (guild_id, message_id, user_id, emoji),
        )

    async def add(self, *, now: datetime, **post: Unpack[NewPost]) -> int:
        return await self._db.insert_row(
            "coffee_posts",
            {**post, "anonymous": int(post["anonymous"]), "created_at": to_db_time(now)},
        )

    async def by_message(self, guild_id: int, message_id: int) -> CoffeePost | None:
        return await _POSTS.one(self._db, "guild_id = ? AND message_id = ?", guild_id, message_id)

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
        return await self._db.changed(
            f"UPDATE coffee_posts SET {what} = {what} + 1 WHERE guild_id = ? AND message_id = ? "
            f"AND kind IN ({marks}) AND (author_id IS NULL OR author_id != ?)",
            (guild_id, message_id, *sorted(CELEBRATION_KINDS), user_id),
        )

    async def kind_counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> dict[str, int]:
        """Posts per kind (course_win, personal_win, life_update, rough_week) in the week."""
        return await counts_in_week(
            self._db, "coffee_posts", "kind", "created_at", guild_id, start, end, cohort_id
        )

    async def celebration_engagement(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> tuple[int, int]:
        """(reactions, replies) by classmates on the week's celebrations; reactions are
        distinct (post, student) pairs."""
        extra, params = cohort_filter(cohort_id, "p.cohort_id")
        marks = ",".join("?" for _ in CELEBRATION_KINDS)
        where = (
            f"WHERE p.guild_id = ? AND p.kind IN ({marks}) "
            f"AND p.created_at >= ? AND p.created_at < ?{extra}"
        )
        args = (guild_id, *sorted(CELEBRATION_KINDS), to_db_time(start), to_db_time(end), *params)
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
            await unname_rows_in(conn, guild_id, user_id, [("coffee_posts", "author_id")])
            await delete_rows_in(conn, guild_id, user_id, ["coffee_celebration_reactions"])


# ---------------------------------------------------------------------- kudos


class KudosRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ("coffee_kudos",)
    exported = (
        PersonRows(
            "coffee_kudos",
            "kudos_id, giver_id, receiver_id, reason, created_at",
            person=("giver_id", "receiver_id"),
            order_by="kudos_id",
        ),
    )

    async def add(self, *, now: datetime, **kudos: Unpack[NewKudos]) -> int:
        return await self._db.insert_row("coffee_kudos", {**kudos, "created_at": to_db_time(now)})

    async def given_since(self, guild_id: int, giver_id: int, since: datetime) -> list[datetime]:
        return await self._db.fetchcolumn(
            from_db_time,
            "SELECT created_at FROM coffee_kudos WHERE guild_id = ? AND giver_id = ? "
            "AND created_at > ? ORDER BY created_at",
            (guild_id, giver_id, to_db_time(since)),
        )

    async def counts(
        self, guild_id: int, start: datetime, end: datetime, cohort_id: int | None = None
    ) -> tuple[dict[int, int], dict[int, int]]:
        """(given per student, received per student) in the week."""
        extra, params = cohort_filter(cohort_id)
        base = (guild_id, to_db_time(start), to_db_time(end), *params)
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
            await unname_rows_in(conn, guild_id, user_id, [("coffee_kudos", "receiver_id")])
