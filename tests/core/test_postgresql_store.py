"""PostgreSQL as the store: migrations twin SQLite's with the same guarantees, and an
operator's start-up mistakes get one line naming DATABASE_URL (never the password)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from bot.store.db import Database, DatabaseBusyError, MigrationError, SchemaTooNewError, StoreError
from bot.store.engine import open_database
from bot.store.migrations import (
    PG_BASELINE,
    PG_MIGRATIONS_DIR,
    Migration,
    load_migrations,
    load_pg_migrations,
)
from bot.store.postgres import PostgresDatabase
from bot.store.sql import redact_url, to_postgres
from tests.support.postgres import PostgresTestServer, database_name, store_settings
from tests.support.processes import clean_env

NOW = datetime(2026, 9, 7, 3, tzinfo=UTC)


def test_placeholders_become_numbered_outside_literals_and_comments() -> None:
    assert to_postgres("SELECT ? , '?', \"a?\" -- ?\n, ?") == "SELECT $1 , '?', \"a?\" -- ?\n, $2"
    assert to_postgres("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1"
    assert to_postgres("SELECT ?2, ?1 /* ? */") == "SELECT $2, $1 /* ? */"
    with pytest.raises(ValueError):
        to_postgres("SELECT ?1, ?")


def test_the_password_is_redacted() -> None:
    shown = redact_url("postgresql://bot:s3cret@db.example:5433/cohort")
    assert "s3cret" not in shown and shown == "postgresql://bot:***@db.example:5433/cohort"


def test_every_sqlite_migration_has_a_postgresql_twin() -> None:
    """After the baseline (the schema as of PG_BASELINE in one file), each SQLite migration
    NNNN_name.sql has a file of the same name in migrations/postgresql/."""
    sqlite = load_migrations()
    postgresql = load_pg_migrations()
    assert postgresql[0].version == PG_BASELINE
    later = {m.label for m in sqlite if m.version > PG_BASELINE}
    twins = {m.label for m in postgresql if m.version > PG_BASELINE}
    missing = sorted(later - twins)
    assert not missing, f"write {PG_MIGRATIONS_DIR}/<same name>.sql for: {missing}"
    assert sqlite[-1].version == postgresql[-1].version


async def _columns(db: Database) -> dict[str, set[str]]:
    """Tables and columns; PostgreSQL's explicit ``rowid`` stands for SQLite's implicit one."""
    return {
        table: set(await db.column_names(table)) - {"rowid"} for table in await db.table_names()
    }


async def test_both_dialects_reach_the_same_tables_and_columns(empty_postgres_url: str) -> None:
    sqlite = await Database.open(":memory:")
    try:
        expected = await _columns(sqlite)
    finally:
        await sqlite.close()
    db = await open_database(empty_postgres_url)
    try:
        assert await _columns(db) == expected
        assert db.schema_version == load_migrations()[-1].version
        rows = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in rows] == list(range(1, db.schema_version + 1))
    finally:
        await db.close()


async def test_two_processes_starting_at_once_migrate_once(empty_postgres_url: str) -> None:
    first, second = await asyncio.gather(
        open_database(empty_postgres_url), open_database(empty_postgres_url)
    )
    try:
        assert first.schema_version == second.schema_version == load_migrations()[-1].version
        rows = await first.fetchall("SELECT COUNT(*) AS n FROM schema_version")
        assert rows[0]["n"] == first.schema_version
    finally:
        await first.close()
        await second.close()


async def test_a_failed_migration_changes_nothing(empty_postgres_url: str) -> None:
    good = load_pg_migrations()
    bad = Migration(
        good[-1].version + 1,
        "broken",
        (
            "CREATE TABLE half_done (x BIGINT)",
            "ALTER TABLE outbox ADD COLUMN y BIGINT",
            "SELECT no_such_function()",
        ),
    )
    db = await PostgresDatabase.open_url(empty_postgres_url, path=Path("x"), migrations=good)
    await db.close()
    with pytest.raises(MigrationError, match=r"broken.*statement 3"):
        await PostgresDatabase.open_url(empty_postgres_url, path=Path("x"), migrations=[*good, bad])
    db = await PostgresDatabase.open_url(empty_postgres_url, path=Path("x"), migrations=good)
    try:
        assert db.schema_version == good[-1].version
        assert "half_done" not in await db.table_names()
        assert "y" not in await db.column_names("outbox")
    finally:
        await db.close()


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNewError, match="999"):
        await open_database(postgres_url)


async def cohortbot(tmp_path: Path, *args: str, url: str) -> tuple[int, str, str]:
    env = clean_env(tmp_path, DATABASE_URL=url)
    env.pop("DATABASE_PATH")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        str(tmp_path / "missing.env"),
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_prints_the_server_version(tmp_path: Path, postgres_url: str) -> None:
    code, out, err = await cohortbot(tmp_path, "check", url=postgres_url)
    assert code == 0, err
    assert "PostgreSQL 18" in out and "schema version" in out


async def test_backup_on_postgresql_points_to_pg_dump(tmp_path: Path, postgres_url: str) -> None:
    code, _, err = await cohortbot(tmp_path, "backup", str(tmp_path / "x.db"), url=postgres_url)
    assert code == 2 and "pg_dump" in err and "Traceback" not in err


async def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://cohort:hunter2secret@127.0.0.1:9/cohort"  # nothing listens on port 9
    code, out, err = await cohortbot(tmp_path, "check", url=url)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "unreachable" in lines[0]
    assert "hunter2secret" not in out + err


async def test_a_wrong_password_is_one_line_without_the_password(
    tmp_path: Path, postgres_server: PostgresTestServer, empty_postgres_url: str
) -> None:
    right = await postgres_server.password_role(
        "pwcheck", "right-pass", database_name(empty_postgres_url)
    )
    wrong = right.replace("right-pass", "wrong-pass-xyz")
    with pytest.raises(StoreError):
        await open_database(wrong)
    code, out, err = await cohortbot(tmp_path, "check", url=wrong)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "password" in lines[0]
    assert "wrong-pass-xyz" not in out + err


async def test_daily_maintenance_on_postgresql_leaves_backups_to_pg_dump(
    tmp_path: Path, postgres_url: str
) -> None:
    app = await open_app(store_settings(postgres_url, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    try:
        await app.maintenance.tick(NOW)
        await app.maintenance.tick(NOW)
        assert not app.maintenance.backup_folder.exists()
        assert await app.ledger.get(0, 0, "backup", NOW.date().isoformat()) is None
        retention = await app.ledger.get(0, 0, "retention", NOW.date().isoformat())
        assert retention is not None and retention.state == "done"
    finally:
        await close_app(app)


async def test_a_number_past_64_bits_is_an_overflow_as_on_sqlite(store_target: str) -> None:
    """bot.ui answers "not found" to a forged id past 64 bits by this error."""
    db = await open_database(store_target)
    try:
        with pytest.raises(OverflowError, match="INTEGER"):
            await db.fetchall("SELECT * FROM outbox WHERE id = ?", (2**64,))
    finally:
        await db.close()


async def test_connections_killed_by_the_server_cost_nothing(postgres_url: str) -> None:
    """The server ends every connection (a restart, a failover): a read runs again on a new
    connection; a write either goes through or says "try again" (a lost answer could hide a
    committed write, so it is not repeated blindly: here it was not applied), and trying
    again applies it once."""
    db = await open_database(postgres_url)
    admin = await asyncpg.connect(postgres_url)
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    try:
        await db.execute_write(
            "INSERT INTO outbox_pauses (guild_id, reason, paused_at) VALUES (1, 'x', 0)"
        )
        await admin.execute(kill)
        rows = await db.fetchall("SELECT COUNT(*) AS n FROM outbox_pauses")
        assert [r["n"] for r in rows] == [1]
        # Several idle connections in the pool, all ended at once: one failure is enough to
        # replace them all.
        await asyncio.gather(*(db.fetchall("SELECT pg_sleep(0.05)") for _ in range(4)))
        await admin.execute(kill)
        update = "UPDATE outbox_pauses SET notified = notified + 1"
        changed = 0
        for _ in range(3):  # what a caller does with "try again"
            try:
                changed = await db.execute_write(update)
                break
            except DatabaseBusyError:
                continue
        assert changed == 1
        row = await db.fetchone("SELECT notified FROM outbox_pauses")
        assert row is not None and row["notified"] == 1
    finally:
        await admin.close()
        await db.close()


def test_a_test_server_that_did_not_start_fails_loudly() -> None:
    """The PostgreSQL tests never skip: without a server they fail with the reason."""
    server = PostgresTestServer()
    server.error = FileNotFoundError("initdb")  # as if start() had failed
    try:
        with pytest.raises(RuntimeError, match=r"did not start.*initdb"):
            server.url()
    finally:
        server.stop()
