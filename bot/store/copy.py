"""``cohortbot db copy``: move a deployment's data between stores (SQLite → PostgreSQL, or back).

Both databases are opened as the bot opens them (so both are migrated to the latest schema; a
target written by a newer CohortBot is refused). Every table is copied in one transaction on
the target, and each table's row count is compared with the source's before the commit: a
mismatch rolls everything back. A target that already holds rows is refused unless ``force``
(which empties it first, in the same transaction). Stop the bot before copying: rows written
to the source meanwhile would not be copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bot.store.db import Connection, Database, StoreError
from bot.store.engine import open_database
from bot.store.sql import Sql, redact_url

__all__ = ["CopyResult", "copy_database"]

_DEFER: Final = Sql(
    sqlite="PRAGMA defer_foreign_keys = ON", postgresql="SET CONSTRAINTS ALL DEFERRED"
)
_BATCH: Final = 1000
# Columns that may hold the negative placeholders of erased people (see ERASED_PLACEHOLDER):
# PostgreSQL's placeholder sequence must continue past those copied.
_PLACEHOLDER_COLUMNS: Final = (
    ("digest_followups", "user_id"),
    ("intro_welcomes", "newcomer_id"),
    ("intro_welcomes", "welcomer_id"),
)


@dataclass(frozen=True)
class CopyResult:
    schema_version: int
    #: rows copied per table (equal in source and target, or nothing was committed)
    rows: dict[str, int]


def _shown(target: str) -> str:
    return redact_url(target) if "://" in target else target


async def copy_database(
    source: str,
    target: str,
    *,
    force: bool = False,
    files_beside: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CopyResult:
    """Copy every table of ``source`` into ``target`` (paths or URLs); see the module doc."""
    src = await open_database(source, files_beside=files_beside)
    try:
        dst = await open_database(target, files_beside=files_beside)
        try:
            return await _copy(src, dst, _shown(target), force=force, progress=progress)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(
    src: Database,
    dst: Database,
    shown: str,
    *,
    force: bool,
    progress: Callable[[str], None] | None,
) -> CopyResult:
    if src.schema_version != dst.schema_version:
        raise StoreError(
            f"the source is at schema version {src.schema_version} and {shown} at "
            f"{dst.schema_version}: copy between databases of the same CohortBot version"
        )
    tables = await src.table_names()
    if set(tables) != set(await dst.table_names()):
        raise StoreError(f"{shown} does not have the same tables as the source")
    occupied = [t for t in tables if await _count(dst, t)]
    if occupied and not force:
        raise StoreError(
            f"{shown} already holds data (in {', '.join(occupied[:5])}"
            f"{' …' if len(occupied) > 5 else ''}); use --force to replace it"
        )
    copied: dict[str, int] = {}
    async with dst.transaction() as conn:
        await conn.execute(_DEFER.pick(dst.dialect))
        for table in tables:
            await conn.execute(f'DELETE FROM "{table}"')
        for table in tables:
            copied[table] = await _copy_table(src, dst, conn, table)
            cursor = await conn.execute(f'SELECT COUNT(*) AS n FROM "{table}"')
            row = await cursor.fetchone()
            await cursor.close()
            if row is None or int(row["n"]) != copied[table]:
                raise StoreError(
                    f"table {table}: {copied[table]} rows read but "
                    f"{None if row is None else row['n']} in {shown}; nothing was copied"
                )
            if progress is not None:
                progress(f"{table}: {copied[table]} rows")
        if dst.dialect == "postgresql":
            await _continue_sequences(conn, tables)
    return CopyResult(dst.schema_version, copied)


async def _count(db: Database, table: str) -> int:
    row = await db.fetchone(f'SELECT COUNT(*) AS n FROM "{table}"')
    return 0 if row is None else int(row["n"])


async def _column_types(db: Database, table: str) -> dict[str, str]:
    """Column name → PostgreSQL data type (empty for SQLite, which takes any value)."""
    if db.dialect != "postgresql":
        return {}
    rows = await db.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {str(r["column_name"]): str(r["data_type"]) for r in rows}


async def _copy_table(src: Database, dst: Database, conn: Connection, table: str) -> int:
    src_columns = await src.column_names(table)
    dst_columns = await dst.column_names(table)
    columns = [c for c in dst_columns if c in src_columns]
    # PostgreSQL's explicit rowid stands for SQLite's implicit one: copied both ways (SQLite
    # reads and writes "rowid" on any table that has one).
    explicit = ("rowid" in dst_columns) != ("rowid" in src_columns)
    if explicit and "sqlite" in (src.dialect, dst.dialect):
        columns.append("rowid")
    types = await _column_types(dst, table)
    names = ", ".join(f'"{c}"' if c != "rowid" else "rowid" for c in columns)
    rows = await src.fetchall(f'SELECT {names} FROM "{table}"')
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    for start in range(0, len(rows), _BATCH):
        batch = [_coerce(row, columns, types) for row in rows[start : start + _BATCH]]
        await conn.executemany(insert, batch)
    return len(rows)


def _coerce(row: Any, columns: Sequence[str], types: dict[str, str]) -> tuple[Any, ...]:
    """SQLite stores what it is given; PostgreSQL's columns take one type each."""
    values: list[Any] = []
    for index, column in enumerate(columns):
        value = row[index]
        kind = types.get(column)
        if value is None or kind is None:
            values.append(value)
        elif kind in ("bigint", "integer", "smallint") and not isinstance(value, int):
            values.append(int(value))
        elif kind == "double precision" and not isinstance(value, float):
            values.append(float(value))
        elif kind in ("text", "USER-DEFINED") and not isinstance(value, str):
            values.append(str(value))
        elif kind == "bytea" and not isinstance(value, bytes):
            values.append(bytes(value))
        else:
            values.append(value)
    return tuple(values)


async def _continue_sequences(conn: Connection, tables: Sequence[str]) -> None:
    """Identity columns and the placeholder sequence continue after the copied values."""
    cursor = await conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    identities = await cursor.fetchall()
    await cursor.close()
    for row in identities:
        table, column = str(row["table_name"]), str(row["column_name"])
        if table not in tables:
            continue
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
            f'COALESCE(MAX("{column}"), 0) + 1, false) FROM "{table}"'
        )
    lowest = " UNION ALL ".join(
        f'SELECT MIN("{column}") AS v FROM "{table}"' for table, column in _PLACEHOLDER_COLUMNS
    )
    await conn.execute(
        "SELECT setval('erasure_placeholders', GREATEST(1, 1 - COALESCE(MIN(v), 0)), false) "
        f"FROM ({lowest}) AS placeholders"
    )
