"""Every table is either about people (and exported/erased) or declared free of personal data."""

from __future__ import annotations

import itertools
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from bot.store.contract import PersonalDataRepository
from bot.store.db import ConstraintError, Database
from cogs.privacy.repository import PERSON_COLUMN
from tests.support.postgres import store_settings

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
GUILD, OTHER_GUILD = 1, 2
#: The person erased, a classmate in the same guild, and (in the other guild) the same person.
ME, CLASSMATE = 500, 700


class Seeder:
    """Inserts a plausible row into any table straight from its schema: the guild and person
    columns as asked, a parent row for every foreign key, a value each CHECK allows, and a
    fresh number or text for the other required columns. So a new table is covered too."""

    def __init__(self, app: AppContext, schema: Database) -> None:
        self.db = app.db
        # The schema is read from SQLite's catalogue (the PostgreSQL twin has the same tables
        # and columns, see test_migrations_postgresql.py); rows go to the app's database.
        self.catalogue = schema
        self.numbers = itertools.count(1000)
        self.parents: dict[tuple[str, int], dict[str, Any]] = {}

    async def schema(self, table: str) -> str:
        row = await self.catalogue.fetchone(
            "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
        )
        assert row is not None, table
        return str(row["sql"])

    async def value(self, table: str, column: dict[str, Any], sql: str) -> Any:
        name, kind = str(column["name"]), str(column["type"]).upper()
        allowed = re.search(rf"\b{name}\s+IN\s*\(([^)]*)\)", sql)
        if allowed:
            first = allowed.group(1).split(",")[0].strip()
            return first.strip("'") if first.startswith("'") else int(first)
        between = re.search(rf"\b{name}\s+BETWEEN\s+(\d+)\s+AND", sql)
        if between:
            return int(between.group(1))
        if "INT" in kind:
            return next(self.numbers)
        if "REAL" in kind:
            return 1.0
        if name.endswith(("_at", "_until", "_time")):
            return NOW.isoformat()
        return f"2026-09-0{next(self.numbers) % 9 + 1}"

    async def insert(self, table: str, guild_id: int, people: dict[str, int]) -> dict[str, Any]:
        sql = await self.schema(table)
        columns = await self.catalogue.fetchall(f'PRAGMA table_info("{table}")')
        foreign = {
            str(fk["from"]): (str(fk["table"]), str(fk["to"]))
            for fk in await self.catalogue.fetchall(f'PRAGMA foreign_key_list("{table}")')
        }
        row: dict[str, Any] = {}
        for column in columns:
            name = str(column["name"])
            if name in foreign:
                parent_table, parent_column = foreign[name]
                parent = await self.parent(parent_table, guild_id)
                row[name] = parent[parent_column]
            elif name == "guild_id":
                row[name] = guild_id
            elif name in people:
                row[name] = people[name]
            elif (
                column["pk"] == 1
                and "INT" in str(column["type"]).upper()
                and "WITHOUT ROWID" not in sql.upper()
            ):
                continue  # an alias of the rowid: SQLite numbers it
            elif column["notnull"] and column["dflt_value"] is None:
                row[name] = await self.value(table, dict(column), sql)
        names = ", ".join(f'"{n}"' for n in row)
        marks = ", ".join("?" for _ in row)
        await self.db.insert(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuple(row.values())
        )
        where = " AND ".join(f'"{n}" = ?' for n in row)
        stored = await self.db.fetchall(
            f'SELECT * FROM "{table}" WHERE {where}', tuple(row.values())
        )
        assert len(stored) == 1, table
        return dict(stored[0])

    async def parent(self, table: str, guild_id: int) -> dict[str, Any]:
        if (table, guild_id) not in self.parents:
            self.parents[table, guild_id] = await self.insert(table, guild_id, {})
        return self.parents[table, guild_id]


async def person_columns(app: AppContext, table: str) -> list[str]:
    return [c for c in await app.db.column_names(table) if PERSON_COLUMN.search(c)]


async def rows_of(app: AppContext, table: str, guild_id: int, user_id: int) -> int:
    """Rows in the guild where every person column is this user: their own records."""
    columns = await person_columns(app, table)
    where = " AND ".join(f'"{c}" = ?' for c in columns)
    row = await app.db.fetchone(
        f'SELECT COUNT(*) AS n FROM "{table}" WHERE guild_id = ? AND {where}',
        (guild_id, *[user_id] * len(columns)),
    )
    assert row is not None
    return int(row["n"])


async def test_every_table_is_covered_by_the_data_contract(
    store_target: str, tmp_path: Path
) -> None:
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    try:
        tables = set(await app.db.table_names())
        personal: set[str] = set()
        declared_free: set[str] = set()
        for repo in app.personal_data.repositories():
            personal.update(getattr(repo, "personal_tables", ()))
            declared_free.update(getattr(repo, "non_personal_tables", ()))
        # Re-applying a deletion tombstone finds people by their id columns: every personal
        # table needs one the scan recognises.
        for table in personal:
            columns = await app.db.column_names(table)
            assert any(PERSON_COLUMN.search(c) for c in columns), f"{table}: no person column"
        uncovered = tables - personal - declared_free
        assert not uncovered, f"tables with no data-contract owner: {sorted(uncovered)}"
        assert not personal & declared_free
    finally:
        await close_app(app)


async def test_template_editor_is_exported_and_anonymised(tmp_path: Path) -> None:
    app = await open_app(Settings(database_path=tmp_path / "c.db"), clock=FakeClock(NOW))
    build_features(app)
    try:
        await app.template_overrides.set(1, "welcome", "Hi {member}", updated_by=42, now=NOW)
        await app.template_overrides.set(2, "welcome", "Other guild", updated_by=42, now=NOW)
        exported = await app.template_overrides.export_user(1, 42)
        assert [row["key"] for row in exported["text_templates"]] == ["welcome"]
        await app.template_overrides.delete_user(1, 42)
        assert (await app.template_overrides.export_user(1, 42)) == {"text_templates": []}
        # The course's text stays; the other guild is untouched.
        assert (await app.template_overrides.overrides(1))["welcome"].body == "Hi {member}"
        assert (await app.template_overrides.overrides(1))["welcome"].updated_by is None
        assert (await app.template_overrides.overrides(2))["welcome"].updated_by == 42
    finally:
        await close_app(app)


async def test_every_repository_exports_and_erases_its_rows_from_a_real_database(
    store_target: str, tmp_path: Path
) -> None:
    """For every repository with personal tables, one row per table about the person (in every
    person column), one about a classmate, and one about the same person in another guild: the
    export returns the person's rows by table, and the erasure removes (or anonymises) them and
    leaves the other two alone."""
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    catalogue = await Database.open(":memory:")
    try:
        seeder = Seeder(app, catalogue)
        repositories = app.personal_data.personal()
        assert repositories
        checked: list[str] = []
        for repo in repositories:
            assert isinstance(repo, PersonalDataRepository)
            own: list[str] = []
            shared: list[str] = []
            for table in repo.personal_tables:
                columns = await person_columns(app, table)
                assert columns, f"{table}: no person column"
                try:
                    await seeder.insert(table, GUILD, dict.fromkeys(columns, ME))
                except (sqlite3.IntegrityError, ConstraintError):
                    # A record that always names two people (an instructor's block between
                    # two students): exported, but erasure may keep it for the other person.
                    first, *rest = columns
                    await seeder.insert(table, GUILD, {first: ME, **dict.fromkeys(rest, ME + 1)})
                    await seeder.insert(
                        table, GUILD, {first: CLASSMATE, **dict.fromkeys(rest, CLASSMATE + 1)}
                    )
                    shared.append(table)
                    continue
                await seeder.insert(table, GUILD, dict.fromkeys(columns, CLASSMATE))
                await seeder.insert(table, OTHER_GUILD, dict.fromkeys(columns, ME))
                own.append(table)
            exported = await repo.export_user(GUILD, ME)
            for table in own + shared:
                assert exported.get(table), f"{type(repo).__name__} does not export {table}"
            assert not any(
                CLASSMATE in row.values() for rows in exported.values() for row in rows
            ), f"{type(repo).__name__} exports a classmate's row"
            assert not any(
                row.get("guild_id") == OTHER_GUILD for rows in exported.values() for row in rows
            ), f"{type(repo).__name__} exports another guild's row"
            await repo.delete_user(GUILD, ME)
            for table in own:
                assert await rows_of(app, table, GUILD, ME) == 0, f"{table} kept the row"
                assert await rows_of(app, table, GUILD, CLASSMATE) == 1, f"{table}: classmate"
                assert await rows_of(app, table, OTHER_GUILD, ME) == 1, f"{table}: other guild"
                checked.append(table)
            checked.extend(shared)
        assert len(checked) == len({t for r in repositories for t in r.personal_tables})
    finally:
        await catalogue.close()
        await close_app(app)


async def test_each_repository_deletes_its_guild_in_an_order_the_foreign_keys_allow(
    store_target: str, tmp_path: Path
) -> None:
    """A repository's ``delete_guild`` empties each of its tables for that guild (children
    before the rows they point at) and leaves another guild's rows alone."""
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    catalogue = await Database.open(":memory:")
    try:
        checked = 0
        for repo in app.personal_data.repositories():
            delete_guild = getattr(repo, "delete_guild", None)
            tables = (*repo.personal_tables, *getattr(repo, "non_personal_tables", ()))
            if delete_guild is None or not tables:
                continue
            seeder = Seeder(app, catalogue)
            seeded = []
            for table in tables:
                people = dict.fromkeys(await person_columns(app, table), ME)
                try:
                    for guild_id in (GUILD, OTHER_GUILD):
                        if (table, guild_id) not in seeder.parents:  # else another's parent
                            await seeder.insert(table, guild_id, people)
                except (sqlite3.IntegrityError, ConstraintError):
                    continue  # a CHECK the seeder cannot meet: not part of this test
                seeded.append(table)
            await delete_guild(GUILD)
            for table in seeded:
                row = await app.db.fetchone(
                    f'SELECT COUNT(*) AS n FROM "{table}" WHERE guild_id = ?', (GUILD,)
                )
                assert row is not None and row["n"] == 0, f"{type(repo).__name__}: {table}"
                row = await app.db.fetchone(
                    f'SELECT COUNT(*) AS n FROM "{table}" WHERE guild_id = ?', (OTHER_GUILD,)
                )
                assert row is not None and row["n"] > 0, f"{type(repo).__name__}: {table}"
            checked += 1
        assert checked
    finally:
        await catalogue.close()
        await close_app(app)
