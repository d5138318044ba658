"""Numbered schema migrations, each applied in one transaction with ``PRAGMA user_version``.

Migration files live in ``bot/store/migrations/`` and are named ``NNNN_name.sql``
(``0001_initial.sql``). Versions must be contiguous from 1. A file is split into statements with
:func:`sqlite3.complete_statement` (so semicolons inside strings or trigger bodies are handled);
comments and blank lines are tolerated.

Statements are executed one by one inside ``BEGIN IMMEDIATE … COMMIT``: never with
``executescript()``, which commits any open transaction first and would make a failed migration
leave a half-changed schema behind.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.db import MigrationError, SchemaTooNewError

__all__ = [
    "MIGRATIONS_DIR",
    "PG_BASELINE",
    "PG_MIGRATIONS_DIR",
    "Migration",
    "apply_migrations",
    "apply_pg_migrations",
    "latest_version",
    "load_migrations",
    "load_pg_migrations",
    "read_pg_version",
    "read_user_version",
    "split_statements",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[A-Za-z0-9_]+)\.sql$")
# Statements that would break the one-transaction-per-migration rule.
_FORBIDDEN_START = re.compile(
    r"^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ATTACH|DETACH)\b"
    r"|^PRAGMA\s+(main\.)?user_version\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Migration:
    """One schema step: after it runs, ``PRAGMA user_version`` equals ``version``."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def _strip_comments(sql: str) -> str:
    """Return ``sql`` without ``--`` and ``/* */`` comments (quotes respected)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = sql.find(close, i + 1)
            j = n - 1 if j == -1 else j
            out.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j == -1 else j + 1
            out.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j == -1 else j + 2
            out.append(" ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def split_statements(sql: str, *, source: str = "<sql>") -> tuple[str, ...]:
    """Split a script into complete statements.

    Raises :class:`MigrationError` when the text ends with an incomplete statement or holds
    a transaction-control statement (``BEGIN``, ``COMMIT``, ``PRAGMA user_version`` …), which
    the migration runner issues itself.
    """
    statements: list[str] = []
    buffer = ""
    for piece in sql.split(";")[:-1]:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer).strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    rest = buffer + sql.split(";")[-1]
    if _strip_comments(rest).strip():
        raise MigrationError(f"{source}: incomplete SQL statement at the end: {_short(rest)!r}")
    for statement in statements:
        if _FORBIDDEN_START.match(_strip_comments(statement).strip()):
            raise MigrationError(
                f"{source}: transaction control is not allowed in a migration: "
                f"{_short(statement)!r}"
            )
    return tuple(statements)


def _short(sql: str, limit: int = 80) -> str:
    one_line = " ".join(_strip_comments(sql).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """Read ``NNNN_name.sql`` files from ``folder`` (default: the package's migrations folder).

    Versions must be contiguous from 1; any other ``.sql`` file name is an error.
    """
    folder = MIGRATIONS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(
                f"migration file {path.name} is not named NNNN_name.sql (e.g. 0002_add_kudos.sql)"
            )
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migration files share version {version:04d} in {folder}")
        text = path.read_text(encoding="utf-8")
        found[version] = Migration(
            version=version,
            name=match["name"],
            statements=split_statements(text, source=path.name),
        )
    migrations = [found[v] for v in sorted(found)]
    _check_contiguous(migrations)
    return migrations


def _check_contiguous(migrations: Sequence[Migration]) -> None:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration versions must be contiguous from 1: expected {expected:04d}, "
                f"found {migration.label}"
            )


def latest_version(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def _check_not_newer(current: int, migrations: Sequence[Migration], copy: str) -> None:
    """Refuse a schema newer than the latest migration (``copy``: what to restore instead)."""
    latest = latest_version(migrations)
    if current > latest:
        raise SchemaTooNewError(
            f"the database schema is version {current}, newer than this CohortBot knows "
            f"(latest {latest}): upgrade CohortBot, or restore {copy} made by this version"
        )


def _failed(
    migration: Migration, engine: str, index: int, exc: BaseException, previous: int
) -> MigrationError:
    """The error of a migration that failed with ``exc`` at statement ``index`` (0: while
    committing); ``engine`` follows its name (" (PostgreSQL)")."""
    where = (
        f"statement {index} ({_short(migration.statements[index - 1])!r})"
        if index
        else "while committing"
    )
    return MigrationError(
        f"migration {migration.label}{engine} failed at {where}: {exc}; "
        f"database left at version {previous}"
    )


async def read_user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def apply_migrations(conn: aiosqlite.Connection, migrations: Sequence[Migration]) -> int:
    """Bring the database up to the latest migration; return the resulting ``user_version``.

    ``conn`` must be opened with ``isolation_level=None`` and have no open transaction. Each
    pending migration runs in its own ``BEGIN IMMEDIATE … COMMIT`` together with
    ``PRAGMA user_version = N``; on any error the transaction is rolled back, so the version
    and the schema stay as they were, and :class:`MigrationError` names the migration and the
    statement. A database newer than the latest known migration raises
    :class:`SchemaTooNewError`.
    """
    _check_contiguous(migrations)
    if conn.in_transaction:
        raise MigrationError("cannot migrate: a transaction is already open on this connection")
    current = await read_user_version(conn)
    _check_not_newer(current, migrations, "a backup")
    for migration in migrations:
        if migration.version <= current:
            continue
        await _apply_one(conn, migration, current)
        current = migration.version
        log.info("applied migration %s", migration.label)
    return current


async def _apply_one(conn: aiosqlite.Connection, migration: Migration, previous: int) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    index = 0  # 1-based number of the statement running; 0 outside the statements
    try:
        for statement in migration.statements:
            index += 1
            await conn.execute(statement)
        index = 0
        async with conn.execute("PRAGMA foreign_key_check") as cursor:
            violation = await cursor.fetchone()
        if violation is not None:
            raise MigrationError(
                f"migration {migration.label} leaves a foreign-key violation in table "
                f"{violation[0]}; database left at version {previous}"
            )
        await conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        await conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        if isinstance(exc, MigrationError) or not isinstance(exc, Exception):
            raise
        raise _failed(migration, "", index, exc, previous) from exc


# ---------------------------------------------------------------------------- PostgreSQL

#: PostgreSQL migrations: ``postgresql/NNNN_name.sql``, the twin of the SQLite file of the same
#: name. The first one is a baseline that creates the schema as of :data:`PG_BASELINE` at once.
PG_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgresql"
PG_BASELINE = 13
# Every process that starts migrates under this advisory lock (an arbitrary constant), so two
# starting at once apply each migration once.
_PG_MIGRATION_LOCK = 0x636F686F7274  # "cohort"
_PG_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


def load_pg_migrations(folder: Path | None = None) -> list[Migration]:
    """Read ``postgresql/NNNN_name.sql``: contiguous from :data:`PG_BASELINE`."""
    folder = PG_MIGRATIONS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        text = path.read_text(encoding="utf-8")
        found.append(
            Migration(
                int(match["version"]), match["name"], split_statements(text, source=path.name)
            )
        )
    for expected, migration in enumerate(found, start=PG_BASELINE):
        if migration.version != expected:
            raise MigrationError(
                f"PostgreSQL migration versions must be contiguous from {PG_BASELINE:04d}: "
                f"expected {expected:04d}, found {migration.label}"
            )
    return found


async def read_pg_version(conn: Any) -> int:
    """The schema version recorded in ``schema_version`` (0 on an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def apply_pg_migrations(conn: Any, migrations: Sequence[Migration]) -> int:
    """Bring a PostgreSQL database (an asyncpg connection) to the latest migration.

    Each migration runs in one transaction with its ``schema_version`` row (PostgreSQL's DDL
    is transactional, so a failure leaves schema and version as they were). The baseline
    records versions 1 to :data:`PG_BASELINE` at once. A newer schema raises
    :class:`SchemaTooNewError`.
    """
    current = await read_pg_version(conn)
    _check_not_newer(current, migrations, "a dump")
    for migration in migrations:
        if migration.version <= current:
            continue
        applied = await _apply_pg_one(conn, migration, current)
        if applied:
            log.info("applied migration %s (PostgreSQL)", migration.label)
        current = max(current, migration.version)
    return current


async def _apply_pg_one(conn: Any, migration: Migration, previous: int) -> bool:
    """False when another process applied it meanwhile (checked under the lock)."""
    index = 0
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _PG_MIGRATION_LOCK)
            await conn.execute(_PG_SCHEMA_TABLE)
            if await read_pg_version(conn) >= migration.version:
                return False
            for statement in migration.statements:
                index += 1
                await conn.execute(statement)
            index = 0
            first = 1 if migration.version == PG_BASELINE else migration.version
            await conn.executemany(
                "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                [
                    (v, migration.name if v == migration.version else f"in {migration.label}")
                    for v in range(first, migration.version + 1)
                ],
            )
    except Exception as exc:
        if isinstance(exc, MigrationError):
            raise
        raise _failed(migration, " (PostgreSQL)", index, exc, previous) from exc
    return True
