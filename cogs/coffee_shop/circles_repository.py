"""The coffee shop's question history and circles (opt-in groups, each one or more private
threads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.contract import PersonRows, TablesRepository
from bot.store.rows import row_mapper
from bot.store.times import to_db_time

__all__ = [
    "Circle",
    "CircleRepository",
    "QuestionHistoryRepository",
]


# ---------------------------------------------------------------------- questions


class QuestionHistoryRepository(TablesRepository):
    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ("coffee_questions_asked",)

    async def asked(self, guild_id: int) -> list[int]:
        """Question indices in the order they were asked, oldest first."""
        return await self._db.fetchcolumn(
            int,
            "SELECT question_index FROM coffee_questions_asked WHERE guild_id = ? "
            "ORDER BY asked_at, slot",
            (guild_id,),
        )

    async def record(self, guild_id: int, index: int, slot: str, *, now: datetime) -> None:
        await self._db.execute_write(
            "INSERT INTO coffee_questions_asked (guild_id, question_index, slot, asked_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, slot) DO NOTHING",
            (guild_id, index, slot, to_db_time(now)),
        )


# ---------------------------------------------------------------------- circles


@dataclass(frozen=True)
class Circle:
    guild_id: int
    circle_id: int
    name: str
    members: int = 0


_circle = row_mapper(Circle)


class CircleRepository(TablesRepository):
    """Circles, their private threads, and who joined which (the only personal part)."""

    personal_tables: tuple[str, ...] = ("coffee_circle_members",)
    non_personal_tables: tuple[str, ...] = ("coffee_circle_threads", "coffee_circles")
    exported = (
        PersonRows(
            "coffee_circle_members",
            "c.name AS circle, m.thread_id, m.joined_at",
            alias="m",
            join="JOIN coffee_circles c ON c.circle_id = m.circle_id",
        ),
    )

    async def all(self, guild_id: int) -> list[Circle]:
        return await self._db.fetchall_as(
            _circle,
            "SELECT c.guild_id, c.circle_id, c.name, COUNT(m.user_id) AS members "
            "FROM coffee_circles c LEFT JOIN coffee_circle_members m "
            "ON m.guild_id = c.guild_id AND m.circle_id = c.circle_id "
            "WHERE c.guild_id = ? GROUP BY c.circle_id ORDER BY c.name",
            (guild_id,),
        )

    async def find(self, guild_id: int, name: str) -> Circle | None:
        return await self._db.fetchone_as(
            _circle,
            "SELECT guild_id, circle_id, name, 0 AS members FROM coffee_circles "
            "WHERE guild_id = ? AND name = ?",
            (guild_id, name),
        )

    async def add(self, guild_id: int, name: str, *, now: datetime) -> Circle | None:
        """None when a circle of that name (any case) exists."""
        circle_id = await self._db.insert(
            "INSERT INTO coffee_circles (guild_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, name) DO NOTHING",
            (guild_id, name, to_db_time(now)),
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
            "GROUP BY t.thread_id, t.position ORDER BY t.position",
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
            return await self._db.fetchcolumn(
                int, "SELECT thread_id FROM coffee_circle_threads WHERE guild_id = ?", (guild_id,)
            )
        return await self._db.fetchcolumn(
            int,
            "SELECT thread_id FROM coffee_circle_threads WHERE guild_id = ? AND circle_id = ? "
            "ORDER BY position",
            (guild_id, circle_id),
        )

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
        return await self._db.changed(
            "INSERT INTO coffee_circle_members (guild_id, circle_id, user_id, thread_id, "
            "joined_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, circle_id, user_id, thread_id, to_db_time(now)),
        )

    async def remove_member(self, guild_id: int, circle_id: int, user_id: int) -> bool:
        return await self._db.changed(
            "DELETE FROM coffee_circle_members "
            "WHERE guild_id = ? AND circle_id = ? AND user_id = ?",
            (guild_id, circle_id, user_id),
        )

    async def circles_of(self, guild_id: int, user_id: int) -> list[str]:
        return await self._db.fetchcolumn(
            str,
            "SELECT c.name FROM coffee_circle_members m JOIN coffee_circles c "
            "ON c.circle_id = m.circle_id WHERE m.guild_id = ? AND m.user_id = ? ORDER BY c.name",
            (guild_id, user_id),
        )
