"""Numbered migrations: every path to the latest version, atomic failure, newer schemas."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.store.db import Database, MigrationError, SchemaTooNewError
from bot.store.migrations import (
    MIGRATIONS_DIR,
    Migration,
    apply_migrations,
    load_migrations,
    split_statements,
)

EXTRA = {
    "0002_add_kudos.sql": """
-- A second step: a new table and an index.
CREATE TABLE kudos (
    guild_id INTEGER NOT NULL,
    giver    INTEGER NOT NULL,
    receiver INTEGER NOT NULL,
    note     TEXT NOT NULL DEFAULT 'thanks; really',  -- a semicolon inside a string
    PRIMARY KEY (guild_id, giver, receiver)
);

CREATE INDEX kudos_receiver ON kudos (guild_id, receiver);
""",
    "0003_ledger_note.sql": """
/* Third step: a column and a trigger whose body has semicolons. */
ALTER TABLE schedule_ledger ADD COLUMN note TEXT;
CREATE TRIGGER kudos_no_self BEFORE INSERT ON kudos
WHEN NEW.giver = NEW.receiver
BEGIN
    SELECT RAISE(ABORT, 'no self kudos; sorry');
END;
""",
}


def make_folder(tmp_path: Path, extra: dict[str, str]) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.sql", folder / "0001_initial.sql")
    for name, text in extra.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def schema_of(path: Path) -> list[tuple[Any, ...]]:
    return query(
        path,
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "ORDER BY type, name",
    )


def user_version(path: Path) -> int:
    return int(query(path, "PRAGMA user_version")[0][0])


def test_shipped_migrations_load() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    first = migrations[0]
    assert first.label == "0001_initial"
    assert len(first.statements) == 5
    assert all(s.rstrip().endswith(";") for s in first.statements)


def test_split_statements_handles_comments_strings_and_triggers(tmp_path: Path) -> None:
    migrations = load_migrations(make_folder(tmp_path, EXTRA))
    assert len(migrations[1].statements) == 2
    assert "thanks; really" in migrations[1].statements[0]
    assert len(migrations[2].statements) == 2
    assert migrations[2].statements[1].rstrip().endswith("END;")
    assert split_statements("-- only a comment\n\n/* and another */\n") == ()
    assert split_statements("SELECT 1; SELECT 2;") == ("SELECT 1;", "SELECT 2;")
    tricky = (
        "-- note; with a semicolon\n"
        "CREATE TABLE a (x TEXT DEFAULT ';'); /* block; comment */ CREATE TABLE b (y INTEGER);"
        " -- trailing; comment\n"
    )
    statements = split_statements(tricky)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT ';');")
    assert statements[1].endswith("CREATE TABLE b (y INTEGER);")


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t (x INTEGER)",  # no final semicolon
        "BEGIN; CREATE TABLE t (x INTEGER);",
        "CREATE TABLE t (x INTEGER); COMMIT;",
        "PRAGMA user_version = 9;",
    ],
)
def test_split_statements_rejects_incomplete_or_transaction_control(sql: str) -> None:
    with pytest.raises(MigrationError):
        split_statements(sql)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"0003_skip.sql": "SELECT 1;"}, "contiguous"),
        ({"2_bad_name.sql": "SELECT 1;"}, "NNNN_name"),
        ({"0001_again.sql": "SELECT 1;"}, "share version"),
    ],
)
def test_load_migrations_rejects_bad_folders(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(MigrationError, match=message):
        load_migrations(make_folder(tmp_path, files))


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError):
        load_migrations(tmp_path / "nope")


@pytest.mark.parametrize("start", [0, 1, 2, 3])
async def test_every_path_reaches_the_same_latest_schema(tmp_path: Path, start: int) -> None:
    migrations = load_migrations(make_folder(tmp_path, EXTRA))
    assert len(migrations) == 3

    reference = tmp_path / "reference.db"
    db = await Database.open(reference, migrations=migrations)
    assert db.schema_version == 3
    await db.close()

    path = tmp_path / "stepwise.db"
    if start:
        db = await Database.open(path, migrations=migrations[:start])
        assert db.schema_version == start
        await db.execute_write(
            "INSERT INTO schedule_ledger (guild_id, kind, slot, state, claimed_at) "
            "VALUES (1, 'prompt', '2026-09-07', 'done', '2026-09-07T09:00:00+00:00')"
        )
        await db.close()
        assert user_version(path) == start
    db = await Database.open(path, migrations=migrations)
    assert db.schema_version == 3
    if start:  # data survives the upgrade
        row = await db.fetchone("SELECT slot, note FROM schedule_ledger")
        assert row is not None and tuple(row) == ("2026-09-07", None)
    await db.close()

    assert user_version(path) == 3
    assert schema_of(path) == schema_of(reference)


async def test_reopening_at_the_latest_version_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = await Database.open(path)
    await db.close()
    before = schema_of(path)
    db = await Database.open(path)
    assert db.schema_version == len(load_migrations())
    await db.close()
    assert schema_of(path) == before


async def test_failed_migration_leaves_version_and_schema_unchanged(tmp_path: Path) -> None:
    # the first statement succeeds, the second fails: the first must be rolled back too
    bad = {
        "0002_half_bad.sql": "CREATE TABLE first_ok (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n"
    }
    folder = make_folder(tmp_path, bad)
    migrations = load_migrations(folder)
    path = tmp_path / "c.db"
    db = await Database.open(path, migrations=migrations[:1])
    await db.close()
    before = schema_of(path)

    with pytest.raises(MigrationError) as info:
        await Database.open(path, migrations=migrations)
    message = str(info.value)
    assert "0002_half_bad" in message and "statement 2" in message and "nowhere" in message
    assert "\n" not in message
    assert user_version(path) == 1
    assert schema_of(path) == before

    # and the database still opens at the last good version
    db = await Database.open(path, migrations=migrations[:1])
    assert db.schema_version == 1
    await db.close()


async def test_failure_in_a_later_migration_keeps_the_earlier_ones(tmp_path: Path) -> None:
    files = dict(EXTRA)
    files["0003_ledger_note.sql"] = "ALTER TABLE schedule_ledger ADD COLUMN note TEXT;\nSELECT x;\n"
    migrations = load_migrations(make_folder(tmp_path, files))
    path = tmp_path / "c.db"
    with pytest.raises(MigrationError, match="0003_ledger_note"):
        await Database.open(path, migrations=migrations)
    assert user_version(path) == 2
    columns = [r[1] for r in query(path, "PRAGMA table_info(schedule_ledger)")]
    assert "note" not in columns


async def test_foreign_key_violation_fails_the_migration(tmp_path: Path) -> None:
    files = {
        "0002_orphans.sql": (
            "INSERT INTO cohorts (guild_id, name, student_role_id, created_at) "
            "VALUES (999, 'ghost', 5, 'x');\n"
        )
    }
    migrations = load_migrations(make_folder(tmp_path, files))
    path = tmp_path / "c.db"
    with pytest.raises(MigrationError, match="0002_orphans"):
        await Database.open(path, migrations=migrations)
    assert user_version(path) == 1
    assert query(path, "SELECT count(*) FROM cohorts") == [(0,)]


async def test_newer_schema_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    migrations = load_migrations(make_folder(tmp_path, EXTRA))
    db = await Database.open(path, migrations=migrations)
    await db.close()
    with pytest.raises(SchemaTooNewError) as info:
        await Database.open(path, migrations=migrations[:1])
    assert "version 3" in str(info.value) and "\n" not in str(info.value)
    assert user_version(path) == 3


async def test_apply_migrations_directly(tmp_path: Path) -> None:
    migrations = load_migrations(make_folder(tmp_path, EXTRA))
    async with aiosqlite.connect(tmp_path / "d.db", isolation_level=None) as conn:
        assert await apply_migrations(conn, migrations[:2]) == 2
        assert await apply_migrations(conn, migrations) == 3
        assert await apply_migrations(conn, migrations) == 3
        await conn.execute("BEGIN")
        with pytest.raises(MigrationError, match="transaction"):
            await apply_migrations(conn, migrations)
        await conn.execute("ROLLBACK")
        with pytest.raises(MigrationError, match="contiguous"):
            await apply_migrations(conn, [Migration(2, "x", ("SELECT 1;",))])


async def test_activity_rows_become_counts_and_read_the_same(tmp_path: Path) -> None:
    """0017: one row per event becomes one counted row per (student, kind, place, second);
    every count, "last active" and the export/delete of a person read as before."""
    from datetime import UTC, datetime

    from bot.store.activity import ActivityRepository

    migrations = load_migrations()
    before = next(i for i, m in enumerate(migrations) if m.label == "0017_activity_counts")
    path = tmp_path / "old.db"
    db = await Database.open(path, migrations=migrations[:before])
    events = [
        (7, 1, "message", 70, 1000),
        (7, 1, "message", 70, 1000),
        (7, 1, "message", 70, 1000),
        (7, 1, "message", None, 1000),
        (7, 1, "message", None, 1000),
        (7, 1, "reaction", 70, 1000),
        (7, 1, "message", 70, 1001),
        (7, 2, "command", 71, 1000),
        (8, 1, "message", 70, 1000),
    ]
    # Stored as microseconds since the epoch (0014), one row per event (no events column yet).
    events = [(*event[:4], event[4] * 1_000_000) for event in events]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO activity (guild_id, user_id, kind, channel_id, occurred_at) "
            "VALUES (?, ?, ?, ?, ?)",
            events,
        )
    await db.close()
    db = await Database.open(path, migrations=migrations)
    try:
        rows = await db.fetchall(
            "SELECT guild_id, user_id, kind, channel_id, occurred_at, events FROM activity "
            "ORDER BY guild_id, user_id, occurred_at, kind, channel_id"
        )
        assert [(*r[:4], r[4] // 1_000_000, r[5]) for r in rows] == [
            (7, 1, "message", None, 1000, 2),
            (7, 1, "message", 70, 1000, 3),
            (7, 1, "reaction", 70, 1000, 1),
            (7, 1, "message", 70, 1001, 1),
            (7, 2, "command", 71, 1000, 1),
            (8, 1, "message", 70, 1000, 1),
        ]
        repository = ActivityRepository(db)
        assert await repository.counts_by_place(7) == {(1, 70): 4, (1, None): 2}
        assert await repository.count_since(7, 1, datetime.fromtimestamp(0, UTC)) == 7
        assert await repository.last_active(7, [1, 2]) == {
            1: datetime.fromtimestamp(1001, UTC),
            2: datetime.fromtimestamp(1000, UTC),
        }
        await repository.delete_user(7, 1)
        assert await repository.export_user(7, 1) == {"activity": []}
        assert await repository.count_since(8, 1, datetime.fromtimestamp(0, UTC)) == 1
    finally:
        await db.close()
