"""On PostgreSQL too, restoring an older dump (pg_dump/pg_restore, as docs/scaling.md says)
never brings back a student's erased data: the tombstone file re-applies the erasure at start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from cogs.privacy import PrivacyService
from cogs.profiles import ProfileService
from tests.support.postgres import pg_tool, store_settings

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
GUILD, STUDENT, CLASSMATE = 1, 42, 43


async def run_tool(name: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(pg_tool(name)),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (out + err).decode()


async def started(url: str, tmp_path: Path) -> AppContext:
    app = await open_app(store_settings(url, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    return app


async def test_an_erasure_is_reapplied_after_restoring_an_older_dump(
    postgres_url: str, tmp_path: Path
) -> None:
    app = await started(postgres_url, tmp_path)
    try:
        profiles = app.services.get(ProfileService)
        await profiles.set(GUILD, STUDENT, {"work": "full_time"})
        await profiles.set(GUILD, CLASSMATE, {"work": "part_time"})
        dump = tmp_path / "before-delete.dump"
        await run_tool("pg_dump", "--format=custom", f"--file={dump}", postgres_url)
        privacy = app.services.get(PrivacyService)
        await privacy.delete_user(GUILD, STUDENT)
        assert await privacy.repository.rows_mentioning(GUILD, STUDENT) == {}
    finally:
        await close_app(app)
    # The tombstone is a file beside the database's settings, not inside PostgreSQL.
    assert (tmp_path / "postgresql.tombstones").exists()

    await run_tool("pg_restore", "--clean", "--if-exists", f"--dbname={postgres_url}", str(dump))
    app = await started(postgres_url, tmp_path)
    try:
        privacy = app.services.get(PrivacyService)
        assert await privacy.repository.rows_mentioning(GUILD, STUDENT) != {}  # restored
        assert await privacy.reapply_tombstones() == 1  # what the bot runs at start
        assert await privacy.repository.rows_mentioning(GUILD, STUDENT) == {}
        assert await privacy.repository.rows_mentioning(GUILD, CLASSMATE) != {}
        assert await privacy.reapply_tombstones() == 0  # once only
    finally:
        await close_app(app)
