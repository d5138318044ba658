"""The store's shared helpers: the generic row mapper, ``fetchone_as``/``fetchall_as``,
``fetchcolumn``/``fetchmap``, ``insert_row``, ``changed`` and the data contract's
``PersonRows`` over several person columns, on both engines."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store.contract import PersonRows, TablesRepository, export_rows
from bot.store.db import ConstraintError, Database
from bot.store.rows import Records, SettingsTable, row_mapper, stored
from bot.store.sql import PARAMETERS_PER_STATEMENT, insert_statements
from bot.store.times import from_db_time, to_db_time

NOW = datetime(2026, 11, 1, 5, 30, 0, 123456, tzinfo=UTC)


@dataclass(frozen=True)
class _Away:
    guild_id: int
    person: int
    until: date
    note: str | None
    started_at: datetime
    shouted: str
    derived: int = field(default=0, init=False)


_away = row_mapper(
    _Away,
    columns={"person": "user_id", "until": "until_date", "shouted": "note"},
    convert={"shouted": lambda note: (note or "").upper()},
)


@dataclass(frozen=True)
class _Schedule:
    kind: Literal["prompt", "digest"]
    weekday: int
    local_time: time
    enabled: bool
    closed_at: datetime | None


async def test_a_row_becomes_a_record_by_the_fields_types(db: Database) -> None:
    for user_id, note in ((7, "trip"), (8, None)):
        await db.execute_write(
            "INSERT INTO away (guild_id, user_id, until_date, note, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (1, user_id, "2026-11-09", note, to_db_time(NOW)),
        )
    first = await db.fetchone_as(
        _away, "SELECT * FROM away WHERE guild_id = ? AND user_id = ?", (1, 7)
    )
    assert first == _Away(1, 7, date(2026, 11, 9), "trip", NOW, "TRIP")
    assert await db.fetchone_as(_away, "SELECT * FROM away WHERE guild_id = ?", (2,)) is None
    everyone = await db.fetchall_as(_away, "SELECT * FROM away ORDER BY user_id")
    assert [(a.person, a.note, a.shouted) for a in everyone] == [(7, "trip", "TRIP"), (8, None, "")]

    schedule = row_mapper(_Schedule, columns={"closed_at": "note"})
    row = {"kind": "digest", "weekday": "3", "local_time": "09:30", "enabled": 1, "note": None}
    assert schedule(row) == _Schedule("digest", 3, time(9, 30), True, None)


async def test_records_select_by_condition_with_their_columns(db: Database) -> None:
    for user_id in (9, 7, 8):
        await db.execute_write(
            "INSERT INTO away (guild_id, user_id, until_date, note, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (1, user_id, "2026-11-09", f"note {user_id}", to_db_time(NOW)),
        )
    away = Records("away", _away)
    assert [a.person for a in await away.all(db, "guild_id = ? ORDER BY user_id", 1)] == [7, 8, 9]
    assert await away.all(db, "guild_id = ? AND user_id > ?", 1, 100) == []
    found = await away.one(db, "guild_id = ? AND user_id = ?", 1, 8)
    assert found is not None and found.note == "note 8"
    assert await away.one(db, "guild_id = ?", 2) is None
    notes = Records("away", lambda row: tuple(row), columns="user_id, note")
    assert await notes.all(db, "user_id = ?", 7) == [(7, "note 7")]


def test_a_mapper_naming_a_field_the_record_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="no field nickname"):
        row_mapper(_Away, columns={"nickname": "note"})


async def test_changed_says_whether_the_write_took(db: Database) -> None:
    claim = (
        "INSERT INTO schedule_ledger (guild_id, cohort_id, kind, slot, state, claimed_at) "
        "VALUES (?, ?, ?, ?, 'claimed', ?) ON CONFLICT DO NOTHING"
    )
    assert await db.changed(claim, (1, 0, "prompt", "2026-11-01", to_db_time(NOW))) is True
    assert await db.changed(claim, (1, 0, "prompt", "2026-11-01", to_db_time(NOW))) is False


async def test_fetchcolumn_and_fetchmap_read_the_first_columns(db: Database) -> None:
    for kudos_id, giver, receiver in ((1, 7, 8), (2, 8, 7), (3, 8, 9)):
        await db.execute_write(
            "INSERT INTO coffee_kudos (kudos_id, guild_id, cohort_id, giver_id, receiver_id, "
            "reason, created_at) VALUES (?, 1, 0, ?, ?, 'thanks', ?)",
            (kudos_id, giver, receiver, to_db_time(NOW) + kudos_id),
        )
    times = await db.fetchcolumn(
        from_db_time, "SELECT created_at FROM coffee_kudos WHERE guild_id = ? ORDER BY 1", (1,)
    )
    assert times == [NOW + timedelta(microseconds=n) for n in (1, 2, 3)]
    count_by_giver = (
        "SELECT giver_id, COUNT(*) AS n FROM coffee_kudos WHERE guild_id = ? GROUP BY giver_id"
    )
    assert await db.fetchmap(count_by_giver, (1,)) == {7: 1, 8: 2}
    assert await db.fetchmap(count_by_giver, (1,), key=str, value=bool) == {"7": True, "8": True}
    assert await db.fetchmap(count_by_giver, (2,)) == {}


async def test_insert_row_returns_the_new_key(db: Database) -> None:
    values = {"guild_id": 1, "cohort_id": 0, "giver_id": 7, "receiver_id": 8, "reason": "x"}
    first = await db.insert_row("coffee_kudos", {**values, "created_at": to_db_time(NOW)})
    second = await db.insert_row("coffee_kudos", {**values, "created_at": to_db_time(NOW)})
    assert second > first
    rows = await db.fetchall("SELECT kudos_id, channel_id FROM coffee_kudos ORDER BY kudos_id")
    assert [(r["kudos_id"], r["channel_id"]) for r in rows] == [(first, None), (second, None)]


async def test_a_tables_repository_purges_a_guild_then_forgets_it(db: Database) -> None:
    forgotten: list[int] = []

    class Cached(TablesRepository):
        non_personal_tables = ("schedule_ledger",)

        def forget(self, guild_id: int) -> None:
            forgotten.append(guild_id)

    claim = (
        "INSERT INTO schedule_ledger (guild_id, cohort_id, kind, slot, state, claimed_at) "
        "VALUES (?, 0, 'prompt', ?, 'claimed', 0)"
    )
    for guild_id, slot in ((1, "2026-11-01"), (1, "2026-11-08"), (2, "2026-11-01")):
        await db.execute_write(claim, (guild_id, slot))
    repo = Cached(db)
    assert await repo.delete_guild(1) == 2
    assert forgotten == [1]
    assert await db.fetchcolumn(int, "SELECT guild_id FROM schedule_ledger") == [2]


async def test_person_rows_over_two_columns_export_either_side(db: Database) -> None:
    for kudos_id, giver, receiver in ((1, 7, 8), (2, 8, 7), (3, 8, 9), (4, 7, 8)):
        await db.execute_write(
            "INSERT INTO coffee_kudos (kudos_id, guild_id, cohort_id, giver_id, receiver_id, "
            "reason, created_at) VALUES (?, ?, 0, ?, ?, 'thanks', ?)",
            (kudos_id, 1 if kudos_id < 4 else 2, giver, receiver, to_db_time(NOW)),
        )
    rows = PersonRows(
        "coffee_kudos", "kudos_id", person=("giver_id", "receiver_id"), order_by="kudos_id"
    )
    exported = await export_rows(db, 1, 7, rows)
    assert exported == {"coffee_kudos": [{"kudos_id": 1}, {"kudos_id": 2}]}
    single = await export_rows(db, 1, 8, PersonRows("coffee_kudos", "kudos_id", person="giver_id"))
    assert sorted(r["kudos_id"] for r in single["coffee_kudos"]) == [2, 3]


async def test_upsert_inserts_then_updates_only_the_values(db: Database) -> None:
    async def upsert(line: str, at: int) -> None:
        await db.upsert(
            "keep_in_touch",
            {"guild_id": 1, "cohort_id": 2, "user_id": 7},
            {"contact_line": line},
            on_insert={"opted_in_at": at},
        )

    await upsert("first", 100)
    await upsert("second", 200)
    rows = await db.fetchall("SELECT contact_line, opted_in_at FROM keep_in_touch")
    assert [(r["contact_line"], r["opted_in_at"]) for r in rows] == [("second", 100)]


@dataclass(frozen=True)
class _Switch:
    guild_id: int
    cohort_id: int
    enabled: bool = True


async def test_a_settings_table_gives_defaults_then_what_was_saved(db: Database) -> None:
    table = SettingsTable("mentor_cohort_settings", _Switch, key=("guild_id", "cohort_id"))
    assert await table.get(db, 1, 2) == _Switch(1, 2)
    await table.save(db, _Switch(1, 2, enabled=False))
    await table.save(db, _Switch(1, 3, enabled=False))
    await table.save(db, _Switch(1, 3, enabled=True))
    assert await table.get(db, 1, 2) == _Switch(1, 2, enabled=False)
    assert await table.get(db, 1, 3) == _Switch(1, 3, enabled=True)
    rows = await db.fetchall("SELECT enabled FROM mentor_cohort_settings ORDER BY cohort_id")
    assert [r["enabled"] for r in rows] == [0, 1]


def test_stored_is_the_inverse_of_the_mapper() -> None:
    assert [stored(True), stored(None), stored("x"), stored(3)] == [1, None, "x", 3]
    assert stored(date(2026, 11, 9)) == "2026-11-09"
    assert stored(time(9, 30)) == "09:30:00"
    assert stored(NOW) == to_db_time(NOW)


def test_person_rows_with_a_join_qualify_the_persons_table() -> None:
    rows = PersonRows(
        "coffee_circle_members",
        "c.name AS circle, m.joined_at",
        alias="m",
        join="JOIN coffee_circles c ON c.circle_id = m.circle_id",
        order_by="m.joined_at",
    )
    assert rows.select() == (
        "SELECT c.name AS circle, m.joined_at FROM coffee_circle_members m "
        "JOIN coffee_circles c ON c.circle_id = m.circle_id "
        "WHERE m.guild_id = ? AND m.user_id = ? ORDER BY m.joined_at"
    )


async def test_write_all_runs_its_statements_in_one_transaction(db: Database) -> None:
    insert = "INSERT INTO text_templates (guild_id, key, body, updated_at) VALUES (1, ?, 'x', 0)"
    assert await db.write_all(
        [(insert, ("a",)), ("UPDATE text_templates SET body = 'y' WHERE key = 'a'", ())]
    ) == [1, 1]
    with pytest.raises((ConstraintError, sqlite3.IntegrityError)):
        await db.write_all([(insert, ("b",)), (insert, ("a",))])  # the second one is taken
    assert await db.fetchcolumn(str, "SELECT key || body FROM text_templates ORDER BY key") == [
        "ay"
    ]


async def test_insert_rows_writes_every_row_in_order_in_one_transaction(db: Database) -> None:
    """More rows than one statement binds (999 parameters): several statements, one
    transaction, every value in its own column."""
    columns = ("guild_id", "key", "body", "updated_at")
    rows = [(1, f"k{i:04d}", f"body {i}", i) for i in range(600)]  # 2,400 values
    committed: list[int] = []
    await db.insert_rows("text_templates", columns, rows, on_commit=lambda: committed.append(1))
    assert committed == [1]
    stored_rows = await db.fetchall(
        "SELECT guild_id, key, body, updated_at FROM text_templates ORDER BY key"
    )
    assert [tuple(r) for r in stored_rows] == rows
    # One row taken: none of the batch is written, not even the statements before it.
    later = [(2, f"k{i:04d}", "x", 0) for i in range(400)] + [(1, "k0000", "x", 0)]
    with pytest.raises((ConstraintError, sqlite3.IntegrityError)):
        await db.insert_rows("text_templates", columns, later)
    assert await db.fetchcolumn(int, "SELECT COUNT(*) FROM text_templates") == [600]
    # Nothing to write: nothing written, and the rows are "committed" at once.
    await db.insert_rows("text_templates", columns, [], on_commit=lambda: committed.append(2))
    assert committed == [1, 2]


async def test_insert_rows_refuses_a_row_of_the_wrong_width_and_writes_nothing(
    db: Database,
) -> None:
    columns = ("guild_id", "key", "body", "updated_at")
    with pytest.raises(ValueError, match="3 values for 4 columns"):
        await db.insert_rows("text_templates", columns, [(1, "a", "x", 0), (1, "b", "x")])
    assert await db.fetchcolumn(int, "SELECT COUNT(*) FROM text_templates") == [0]


@given(width=st.integers(1, 12), count=st.integers(0, 700))
def test_insert_statements_bind_every_value_once_within_the_limit(width: int, count: int) -> None:
    columns = tuple(f"c{i}" for i in range(width))
    rows = [tuple(r * width + c for c in range(width)) for r in range(count)]
    statements = insert_statements("t", columns, rows)
    assert all(0 < len(params) <= PARAMETERS_PER_STATEMENT for _, params in statements)
    assert [v for _, params in statements for v in params] == list(range(count * width))
    for sql, params in statements:
        assert sql.startswith(f"INSERT INTO t ({', '.join(columns)}) VALUES (")
        assert sql.count("?") == len(params)
        assert sql.count("(") == len(params) // width + 1  # the column list, then one a row
    # As few statements as the limit allows.
    per_statement = PARAMETERS_PER_STATEMENT // width
    assert len(statements) == -(-count // per_statement)
