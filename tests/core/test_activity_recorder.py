"""The activity recorder: short chunked transactions, and no row lost or written twice when
a flush is cancelled or the recorder stops at any point."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store.activity import ActivityEvent, ActivityRecorder, ActivityRepository
from bot.store.db import Database
from bot.store.engine import open_database
from tests.support.sqlite import WorkerGate, spin_until

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cohortbot.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def db(store_target: str) -> AsyncIterator[Database]:
    database = await open_database(store_target)
    try:
        yield database
    finally:
        await database.close()


def record(recorder: ActivityRecorder, count: int, first_user: int = 1) -> None:
    for user in range(first_user, first_user + count):
        recorder.record(ActivityEvent(7, user, "message", 70, AT))


async def stored_users(db: Database) -> list[int]:
    rows = await db.fetchall("SELECT user_id FROM activity ORDER BY user_id")
    return [int(row[0]) for row in rows]


class CountingRepository(ActivityRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.sizes: list[int] = []

    async def insert_many(self, rows, *, on_commit=None):  # type: ignore[no-untyped-def]
        self.sizes.append(len(rows))
        await super().insert_many(rows, on_commit=on_commit)


async def test_a_large_batch_is_written_in_short_transactions(db: Database) -> None:
    repository = CountingRepository(db)
    recorder = ActivityRecorder(repository, chunk_rows=100)
    record(recorder, 1050)
    assert await recorder.flush() == 1050
    # A query waits behind at most one 100-row chunk, not behind all 1050 rows.
    assert repository.sizes == [100] * 10 + [50]
    assert await stored_users(db) == list(range(1, 1051))
    assert recorder.pending == 0 and recorder.written == 1050


async def test_rows_recorded_during_a_flush_wait_for_the_next(db: Database) -> None:
    recorder = ActivityRecorder(ActivityRepository(db), chunk_rows=10)
    record(recorder, 25)
    flushing = asyncio.create_task(recorder.flush())
    await asyncio.sleep(0)
    record(recorder, 5, first_user=100)
    assert await flushing == 25
    assert recorder.pending == 5
    assert await recorder.flush() == 5
    assert len(await stored_users(db)) == 30


@pytest.mark.parametrize("where", ["statement", "commit"])
async def test_a_cancelled_flush_loses_nothing_and_writes_nothing_twice(
    sqlite_db: Database, where: str
) -> None:
    db = sqlite_db  # holds aiosqlite's worker thread: an SQLite-only test
    gate = WorkerGate()
    await gate.install(db)
    recorder = ActivityRecorder(ActivityRepository(db), chunk_rows=50)
    record(recorder, 120)
    holder: asyncio.Task[object] | None = None

    class GatedRepository(ActivityRepository):
        async def insert_many(self, rows, *, on_commit=None):  # type: ignore[no-untyped-def]
            nonlocal holder
            async with db.transaction(on_commit=on_commit) as conn:
                if where == "statement":
                    holder = await gate.close_behind(db)
                await conn.executemany(
                    "INSERT INTO activity (guild_id, user_id, kind, channel_id, occurred_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                if where == "commit" and recorder.written == 50:
                    holder = await gate.close_behind(db)  # the second chunk's COMMIT waits

    recorder._repository = GatedRepository(db)
    task = asyncio.create_task(recorder.flush())
    await spin_until(lambda: holder is not None or task.done())
    assert holder is not None, task
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    gate.open()
    await holder
    with contextlib.suppress(asyncio.CancelledError):
        await task
    recorder._repository = ActivityRepository(db)
    await recorder.flush()
    assert await stored_users(db) == list(range(1, 121))
    assert recorder.pending == 0 and recorder.written == 120


async def test_stop_during_a_flush_lets_the_chunk_finish_and_writes_the_rest(
    sqlite_db: Database,
) -> None:
    db = sqlite_db  # holds aiosqlite's worker thread: an SQLite-only test
    gate = WorkerGate()
    await gate.install(db)
    recorder = ActivityRecorder(
        ActivityRepository(db), flush_interval=60, max_batch=10, chunk_rows=40
    )
    recorder.start()
    holder = await gate.close_behind(db)
    record(recorder, 100)
    # The loop's flush queues its first chunk behind the gate.
    await spin_until(db._lock.locked)
    stopping = asyncio.create_task(recorder.stop())
    for _ in range(5):
        await asyncio.sleep(0)
    stopping.cancel()  # e.g. a second signal: the chunk in flight still completes
    for _ in range(5):
        await asyncio.sleep(0)
    gate.open()
    await holder
    with contextlib.suppress(asyncio.CancelledError):
        await stopping
    await recorder.stop()
    assert await stored_users(db) == list(range(1, 101))
    assert not db._connection().in_transaction
