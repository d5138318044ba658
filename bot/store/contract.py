"""The data contract: every repository that stores something about a person can export and
erase it, so a feature cannot forget privacy. A test checks every table is covered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.store.db import Connection, Database


@runtime_checkable
class PersonalDataRepository(Protocol):
    #: Tables whose rows can be about a person; export_user/delete_user cover them.
    personal_tables: tuple[str, ...]

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every row about the user in this guild, by table name."""
        ...

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        """Erase (or anonymise, where other people's records depend on it) the user's rows."""
        ...


@runtime_checkable
class KeepsPastRetention(Protocol):
    """A repository holding something its person asked to keep past their cohort's retention
    (e.g. a mentor's offer): retention calls this instead of ``delete_user`` and it erases
    everything else. A person's own deletion request still calls ``delete_user``."""

    async def retention_purge(self, guild_id: int, user_id: int) -> None: ...


def row_to_dict(row: Any) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a dict


@dataclass(frozen=True)
class PersonRows:
    """Which rows of one table are about a person, and what of them an export shows: the
    ``columns`` of the rows whose ``person`` column holds the person's id (in the guild),
    in ``order_by`` order when given. ``person`` may name several columns (a row that links
    two people, e.g. a giver and a receiver): a row is theirs when any of them holds it.
    ``join`` adds another table's columns (e.g. a circle's name), with the table named
    ``alias`` in it and in ``columns``."""

    table: str
    columns: str
    person: str | tuple[str, ...] = "user_id"
    order_by: str = ""
    alias: str = ""
    join: str = ""

    def _people(self) -> tuple[str, ...]:
        return (self.person,) if isinstance(self.person, str) else self.person

    def select(self) -> str:
        source = " ".join(part for part in (self.table, self.alias, self.join) if part)
        own = f"{self.alias}." if self.alias else ""
        people = " OR ".join(f"{own}{column} = ?" for column in self._people())
        if len(self._people()) > 1:
            people = f"({people})"
        order = f" ORDER BY {self.order_by}" if self.order_by else ""
        return f"SELECT {self.columns} FROM {source} WHERE {own}guild_id = ? AND {people}{order}"

    def params(self, guild_id: int, user_id: int) -> tuple[int, ...]:
        return (guild_id, *(user_id for _ in self._people()))


async def export_rows(
    db: Database, guild_id: int, user_id: int, *tables: PersonRows
) -> dict[str, list[dict[str, Any]]]:
    """``export_user`` for the usual case: each table's rows about the person, by table name."""
    return {
        rows.table: [
            row_to_dict(r) for r in await db.fetchall(rows.select(), rows.params(guild_id, user_id))
        ]
        for rows in tables
    }


async def delete_rows(db: Database, guild_id: int, user_id: int, *tables: str) -> None:
    """``delete_user`` for the usual case: the person's rows (``user_id``) in each table, in
    one transaction."""
    async with db.transaction() as conn:
        await delete_rows_in(conn, guild_id, user_id, tables)


async def delete_rows_in(
    conn: Connection, guild_id: int, user_id: int, tables: Iterable[str]
) -> None:
    """:func:`delete_rows` inside a transaction already open (with the erasure's other
    statements)."""
    for table in tables:
        await conn.execute(
            f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )


async def unname_rows_in(
    conn: Connection, guild_id: int, user_id: int, columns: Iterable[tuple[str, str]]
) -> None:
    """Erasure that keeps rows other people still need: the person's id taken out (set to
    NULL) of each ``(table, column)``, inside a transaction already open."""
    for table, column in columns:
        await conn.execute(
            f"UPDATE {table} SET {column} = NULL WHERE guild_id = ? AND {column} = ?",
            (guild_id, user_id),
        )


async def delete_guild_rows(db: Database, guild_id: int, tables: Iterable[str]) -> int:
    """``delete_guild``: every row of the guild in each table, in order, in one transaction;
    returns the number of rows deleted."""
    deleted = 0
    async with db.transaction() as conn:
        for table in tables:
            cursor = await conn.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))
            deleted += max(cursor.rowcount, 0)
    return deleted


class TablesRepository:
    """A repository that declares its tables once and gets the data contract from them:
    ``export_user`` shows what ``exported`` names, ``delete_user`` deletes the person's rows
    (``user_id``) in ``personal_tables``, and ``delete_guild`` deletes the guild's rows in
    ``personal_tables`` then ``non_personal_tables``, in that order (children first where
    a table points at another), says how many rows it deleted and then calls ``forget`` (a
    repository that caches per guild overrides it). A repository holding no personal data
    declares only its ``non_personal_tables``. A repository whose erasure keeps something for
    other people (anonymises instead of deleting) overrides ``delete_user``."""

    personal_tables: tuple[str, ...] = ()
    non_personal_tables: tuple[str, ...] = ()
    #: What ``export_user`` shows of the person's rows, one entry a table.
    exported: tuple[PersonRows, ...] = ()

    def __init__(self, db: Database) -> None:
        self._db = db

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        return await export_rows(self._db, guild_id, user_id, *self.exported)

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        await delete_rows(self._db, guild_id, user_id, *self.personal_tables)

    async def delete_guild(self, guild_id: int) -> int:
        try:
            return await delete_guild_rows(
                self._db, guild_id, (*self.personal_tables, *self.non_personal_tables)
            )
        finally:
            # Deleted or not: a read may have seen the open transaction's rows.
            self.forget(guild_id)

    def forget(self, guild_id: int) -> None:
        """Drop what this repository keeps in memory about the guild (nothing, unless it
        caches): called after :meth:`delete_guild`."""


@dataclass(frozen=True)
class Redaction:
    """A bot post or thread that keeps serving other people but names an erased person:
    erasure edits it instead of deleting it. ``content`` and ``embed`` (Discord's embed JSON)
    replace the message ``message_id``; ``thread_name`` renames the thread ``channel_id``
    (``message_id`` None)."""

    channel_id: int
    message_id: int | None
    content: str | None = None
    embed: dict[str, Any] | None = None
    thread_name: str | None = None


@runtime_checkable
class PostsToRedact(Protocol):
    """A repository that knows which of the bot's posts to edit when a person is erased."""

    async def posts_to_redact(self, guild_id: int, user_id: int) -> list[Redaction]: ...
