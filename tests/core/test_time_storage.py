"""One representation of time in the database: every instant column is an INTEGER of
microseconds since the epoch (bot/store/times.py), and migration 0014 converts what the older
code wrote (ISO-8601 text in some tables, whole epoch seconds in others) without losing a row,
a foreign key, an index or a microsecond."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store.db import Database, MigrationError
from bot.store.migrations import MIGRATIONS_DIR, load_migrations
from bot.store.times import (
    export_row,
    from_db_time,
    is_time_column,
    to_db_second,
    to_db_time,
)

BEFORE = 13  # the last schema with two representations
BASE = datetime(2026, 2, 28, 23, 59, 58, tzinfo=UTC)  # a month end, a leap-year neighbour
NOT_INSTANTS = {"until_date", "start_date", "week_start", "slot", "week_key", "local_time"}
#: The one column named like a date that holds an instant (the start of a round's week).
ROUND_WEEK = ("match_rounds", "week_start")


def holds_instant(table: str, column: str) -> bool:
    return is_time_column(column) or (table, column) == ROUND_WEEK


def old_text(instant: datetime, variant: int) -> str:
    """Text as the older code wrote it: ``to_db_time`` (UTC ``isoformat``, microseconds when
    not zero) or ``now.isoformat()`` of a clock in another zone."""
    if variant % 3 == 0:
        return instant.astimezone(UTC).isoformat()
    if variant % 3 == 1:
        return instant.astimezone(timezone(timedelta(hours=-4))).isoformat()
    return instant.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()


class OldRows:
    """One row per table of a schema-13 database, every column filled, parents first."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.numbers = iter(range(100, 10_000))
        self.rows: dict[str, dict[str, Any]] = {}
        #: (table, column) -> the instant written there, in the old format
        self.instants: dict[tuple[str, str], datetime] = {}

    def value(self, table: str, column: str, kind: str, sql: str) -> Any:
        if holds_instant(table, column):
            k = len(self.instants)
            # Distinct per column, some with microseconds, some on whole seconds.
            instant = BASE + timedelta(days=k * 37, seconds=k, microseconds=(k % 2) * 123_457 * k)
            self.instants[(table, column)] = instant
            if "INT" in kind:
                instant = instant.replace(microsecond=0)  # int(instant.timestamp())
                self.instants[(table, column)] = instant
                return int(instant.timestamp())
            return old_text(instant, k)
        allowed = re.search(rf"\b{column}\s+IN\s*\(([^)]*)\)", sql)
        if allowed:
            first = allowed.group(1).split(",")[0].strip()
            return first.strip("'") if first.startswith("'") else int(first)
        between = re.search(rf"\b{column}\s+BETWEEN\s+(\d+)\s+AND", sql)
        if between:
            return int(between.group(1))
        if "INT" in kind:
            return next(self.numbers)
        if "REAL" in kind:
            return 1.5
        return f"2026-09-0{next(self.numbers) % 9 + 1}"

    def fill(self) -> None:
        tables = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        for table in tables:
            sql = self.conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()[0]
            foreign = {
                str(fk[3]): (str(fk[2]), str(fk[4]))
                for fk in self.conn.execute(f'PRAGMA foreign_key_list("{table}")')
            }
            row: dict[str, Any] = {}
            for _, name, kind, _notnull, _default, _pk in self.conn.execute(
                f'PRAGMA table_info("{table}")'
            ):
                if name in foreign:
                    parent, key = foreign[name]
                    row[name] = self.rows[parent][key]
                else:
                    row[name] = self.value(table, name, str(kind).upper(), sql)
            if table == "outbox":
                row["channel_id"] = None  # CHECK: a channel or a person, not both
            marks = ", ".join("?" for _ in row)
            self.conn.execute(
                f'INSERT INTO "{table}" ({", ".join(row)}) VALUES ({marks})', tuple(row.values())
            )
            self.rows[table] = row


def snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    """What a migration must keep: indexes, foreign keys, constraints' tables, sequences."""
    indexes = sorted(
        (str(r[0]), str(r[1]), str(r[2]))
        for r in conn.execute(
            "SELECT name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index'"
        )
    )
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    foreign = {
        t: sorted(tuple(fk[2:]) for fk in conn.execute(f'PRAGMA foreign_key_list("{t}")'))
        for t in tables
    }
    sequences = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    return {"indexes": indexes, "foreign": foreign, "sequences": sequences}


async def test_migration_converts_every_time_column_to_the_same_instant(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = await Database.open(path, migrations=load_migrations()[:BEFORE])
    await db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    old = OldRows(conn)
    old.fill()
    # Ids handed out before rows were deleted must never be handed out again.
    conn.execute("UPDATE sqlite_sequence SET seq = seq + 1000")
    before = snapshot(conn)
    conn.close()
    text_columns = {key for key, at in old.instants.items() if key[0] in ("intros", "cohorts")}
    assert text_columns, "the fixture wrote no text times"

    # Only as far as this migration: later ones add tables of their own.
    db = await Database.open(path, migrations=load_migrations()[: BEFORE + 1])
    assert db.schema_version == BEFORE + 1
    try:
        for (table, column), instant in sorted(old.instants.items()):
            row = await db.fetchone(
                f'SELECT "{column}" AS v, typeof("{column}") AS t FROM "{table}"'
            )
            assert row is not None, f"{table} lost its row"
            assert row["t"] == "integer", (table, column, row["v"])
            assert from_db_time(row["v"]) == instant, (table, column)
        for table, written in old.rows.items():  # every other value is kept as it was
            row = await db.fetchone(f'SELECT * FROM "{table}"')
            assert row is not None, table
            for column, value in written.items():
                if not holds_instant(table, column):
                    assert row[column] == value, (table, column)
    finally:
        await db.close()
    conn = sqlite3.connect(path)
    after = snapshot(conn)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    assert after == before


async def test_migration_keeps_nulls_and_refuses_text_that_is_no_time(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = await Database.open(path, migrations=load_migrations()[:BEFORE])
    await db.execute_write(
        "INSERT INTO intro_newcomers (guild_id, user_id, arrived_at, left_at) "
        "VALUES (1, 2, ?, NULL)",
        ("2026-11-01T05:30:00.000001+00:00",),
    )
    await db.close()
    db = await Database.open(path)
    row = await db.fetchone("SELECT arrived_at, left_at FROM intro_newcomers")
    assert row is not None and row["left_at"] is None
    assert from_db_time(row["arrived_at"]) == datetime(2026, 11, 1, 5, 30, 0, 1, tzinfo=UTC)
    await db.close()

    broken = tmp_path / "broken.db"
    db = await Database.open(broken, migrations=load_migrations()[:BEFORE])
    await db.execute_write(
        "INSERT INTO intro_newcomers (guild_id, user_id, arrived_at) VALUES (1, 2, 'yesterday')"
    )
    await db.close()
    with pytest.raises(MigrationError, match="0014_one_time_representation"):
        await Database.open(broken)
    conn = sqlite3.connect(broken)
    assert conn.execute("PRAGMA user_version").fetchone() == (BEFORE,)
    assert conn.execute("SELECT arrived_at FROM intro_newcomers").fetchall() == [("yesterday",)]
    conn.close()


async def test_every_time_column_has_the_one_type(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "new.db")
    found: list[tuple[str, str, str]] = []
    for table in await db.table_names():
        for r in await db.fetchall(f'PRAGMA table_info("{table}")'):
            found.append((table, str(r["name"]), str(r["type"]).upper()))
    await db.close()
    times = [(t, c, kind) for t, c, kind in found if is_time_column(c)]
    assert len(times) > 60
    assert [(t, c, kind) for t, c, kind in times if kind != "INTEGER"] == []
    # Dates and wall-clock times are not instants: they stay text and are not converted.
    assert {c for _, c, _ in found if c in NOT_INSTANTS} == NOT_INSTANTS
    assert not any(is_time_column(c) for c in NOT_INSTANTS)


def test_the_migration_uses_no_sqlite_date_functions() -> None:
    sql = (MIGRATIONS_DIR / "0014_one_time_representation.sql").read_text(encoding="utf-8")
    code = "\n".join(line.split("--")[0] for line in sql.splitlines())
    assert not re.search(
        r"\b(strftime|julianday|unixepoch|datetime|date|time)\s*\(", code, re.IGNORECASE
    )


def test_export_shows_instants_as_iso_text() -> None:
    at = datetime(2026, 11, 1, 5, 30, 0, 250_000, tzinfo=UTC)
    row = {"kind": "message", "occurred_at": to_db_time(at), "until_date": "2026-11-09"}
    assert export_row(row) == {
        "kind": "message",
        "occurred_at": "2026-11-01T05:30:00.250000+00:00",
        "until_date": "2026-11-09",
    }


def test_repositories_convert_times_only_through_the_store_helpers() -> None:
    # Each repository once had its own helper (int(x.timestamp()), fromtimestamp, fromisoformat);
    # a new one would bring a second representation back.
    root = Path(__file__).resolve().parents[2]
    modules = [
        path
        for path in sorted((root / "bot").rglob("*.py")) + sorted((root / "cogs").rglob("*.py"))
        if "repository" in path.name or path.parent == root / "bot" / "store"
    ]
    assert len(modules) > 15
    pattern = re.compile(r"\.timestamp\(\)|fromtimestamp\(|datetime\.fromisoformat\(")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in modules
        if path.name != "times.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])))
def test_to_db_second_is_to_db_time_rounded_down_to_the_second(instant: datetime) -> None:
    assert to_db_second(instant) == to_db_time(instant) // 1_000_000 * 1_000_000
    with pytest.raises(ValueError, match="timezone-aware"):
        to_db_second(instant.replace(tzinfo=None))
