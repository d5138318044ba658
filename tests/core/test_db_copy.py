"""`cohortbot db copy`: an SQLite deployment moves to PostgreSQL with every row, in one
transaction; a target with data or a newer schema is refused."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.outbox.repository import NewOutboxRow, OutboxAttachment, OutboxMessage
from bot.settings import Settings
from bot.store.copy import copy_database
from bot.store.db import SchemaTooNewError, StoreError
from cogs.coffee_chats import MatchingService
from cogs.coffee_chats.repository import NewGroup
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from cogs.introductions import IntroService
from cogs.profiles import ProfileService
from tests.support.postgres import store_settings
from tests.support.processes import clean_env

NOW = datetime(2026, 9, 7, 14, tzinfo=UTC)
GUILD, WELCOMER = 1, 900
STUDENTS = (503, 501, 502)  # a group's members in an order that is not sorted


async def started(settings: Settings) -> AppContext:
    app = await open_app(settings, clock=FakeClock(NOW))
    build_features(app)
    return app


async def populate(app: AppContext) -> int:
    """A little of everything: a cohort (identity keys), a profile, a file in the outbox
    (bytes), a coffee-chat group (members in the order added) and an erased newcomer (a
    negative placeholder). Returns the round's id."""
    await app.services.get(SetupService).apply(
        GUILD, SetupRequest(student_role_id=10, timezone="America/New_York", lead_role_id=11)
    )
    await app.services.get(ProfileService).set(GUILD, STUDENTS[0], {"work": "full_time"})
    await app.outbox.repository.enqueue_many(
        [
            NewOutboxRow(
                guild_id=GUILD,
                kind="digest",
                dedupe_key="w1",
                message=OutboxMessage(content="digest"),
                not_before=NOW,
                channel_id=77,
                attachments=(OutboxAttachment("a.csv", b"x,y\n\x00\xff"),),
            )
        ],
        now=NOW,
    )
    cohort = (await app.guild_settings.cohorts(GUILD))[0]
    store = app.services.get(MatchingService).store
    round_id = await store.create_round(
        guild_id=GUILD, cohort_id=cohort.cohort_id, round_index=1, seed=1, group_size=3,
        week_start=NOW, slot=None, groups=[NewGroup(members=STUDENTS, score=1.0)],
        unmatched=[], now=NOW,
    )  # fmt: skip
    intros = app.services.get(IntroService).repository
    for newcomer in STUDENTS[:2]:
        await intros.add_welcome(
            GUILD, newcomer, WELCOMER, channel_id=5, message_id=newcomer, now=NOW
        )
    await intros.delete_user(GUILD, STUDENTS[0])
    return round_id


async def test_sqlite_to_postgresql_copies_every_row_and_keeps_working(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    source = tmp_path / "cohortbot.db"
    app = await started(Settings(database_path=source))
    try:
        round_id = await populate(app)
        expected = {t: await count(app, t) for t in await app.db.table_names()}
    finally:
        await close_app(app)

    result = await copy_database(f"sqlite:///{source}", empty_postgres_url)
    assert result.rows == expected and sum(expected.values()) > 10

    app = await started(store_settings(empty_postgres_url, tmp_path))
    try:
        assert {t: await count(app, t) for t in await app.db.table_names()} == expected
        store = app.services.get(MatchingService).store
        (group,) = await store.groups_of_round(GUILD, round_id)
        assert [m.user_id for m in group.members] == list(STUDENTS)  # the order they joined
        files = await app.outbox.repository.attachments(GUILD, 1)
        assert files[0].data == b"x,y\n\x00\xff"
        # Identity keys and the erasure placeholders continue after the copied ones.
        added = await app.services.get(SetupService).add_cohort(GUILD, "Evening", 12, None)
        assert added.cohort_id == 2
        await app.services.get(IntroService).repository.delete_user(GUILD, STUDENTS[1])
        assert await app.services.get(ProfileService).get(GUILD, STUDENTS[0]) is not None
    finally:
        await close_app(app)


async def count(app: AppContext, table: str) -> int:
    row = await app.db.fetchone(f'SELECT COUNT(*) AS n FROM "{table}"')
    assert row is not None
    return int(row["n"])


async def test_a_target_with_rows_needs_force(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "cohortbot.db"
    app = await started(Settings(database_path=source))
    try:
        await populate(app)
    finally:
        await close_app(app)
    await copy_database(f"sqlite:///{source}", postgres_url)
    with pytest.raises(StoreError, match="already holds data"):
        await copy_database(f"sqlite:///{source}", postgres_url)
    again = await copy_database(f"sqlite:///{source}", postgres_url, force=True)
    assert again.rows["cohorts"] == 1


async def test_a_target_with_a_newer_schema_is_refused(tmp_path: Path, postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNewError):
        await copy_database(f"sqlite:///{tmp_path / 'c.db'}", postgres_url)


async def test_the_command_copies_and_then_refuses_without_force(
    tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "cohortbot.db"
    app = await started(Settings(database_path=source))
    try:
        await populate(app)
    finally:
        await close_app(app)
    target = postgres_url.replace("postgresql://postgres:@", "postgresql://postgres:pw-s3cret@")

    async def cohortbot(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), *args,
            cwd=tmp_path, env=clean_env(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await cohortbot("db", "copy", "--from", f"sqlite:///{source}", "--to", target)
    assert code == 0, err
    assert "cohorts: 1 rows" in out and "row count matches" in out
    code, out, err = await cohortbot("db", "copy", "--from", f"sqlite:///{source}", "--to", target)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--force" in err and "pw-s3cret" not in out + err
