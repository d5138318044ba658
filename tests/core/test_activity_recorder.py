"""The activity recorder: events counted per (student, kind, place, second), short chunked
transactions, and no event lost or written twice when a flush is cancelled or the recorder
stops at any point."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.activity import (
    COUNTED_COLUMNS,
    ActivityEvent,
    ActivityRecorder,
    ActivityRepository,
)
from bot.store.db import Database
from bot.store.sql import insert_statements
from bot.store.times import to_db_time
from tests.support.sqlite import WorkerGate, spin_until

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECOND = 1_000_000  # the stored unit is microseconds


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cohortbot.db")
    try:
        yield database
    finally:
        await database.close()


def record(recorder: ActivityRecorder, count: int, first_user: int = 1) -> None:
    for user in range(first_user, first_user + count):
        recorder.record(ActivityEvent(7, user, "message", 70, AT))


async def stored_users(db: Database) -> list[int]:
    """Each event's user (a row stands for ``events`` events)."""
    rows = await db.fetchall("SELECT user_id, events FROM activity ORDER BY user_id")
    return [int(row[0]) for row in rows for _ in range(row[1])]


class CountingRepository(ActivityRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.sizes: list[int] = []
        self.rows: list[tuple[int, int, str, int | None, int, int]] = []

    async def insert_counts(self, rows, *, on_commit=None):  # type: ignore[no-untyped-def]
        self.sizes.append(len(rows))
        self.rows.extend(rows)
        await super().insert_counts(rows, on_commit=on_commit)


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
        async def insert_counts(self, rows, *, on_commit=None):  # type: ignore[no-untyped-def]
            nonlocal holder
            async with db.transaction(on_commit=on_commit) as conn:
                if where == "statement":
                    holder = await gate.close_behind(db)
                for sql, params in insert_statements("activity", COUNTED_COLUMNS, rows):
                    await conn.execute(sql, params)
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


async def test_events_of_one_second_become_one_counted_row(db: Database) -> None:
    repository = CountingRepository(db)
    recorder = ActivityRecorder(repository)
    for _ in range(3):
        recorder.record(ActivityEvent(7, 1, "message", 70, AT))
    recorder.record(ActivityEvent(7, 1, "message", 70, AT.replace(microsecond=999_999)))
    recorder.record(ActivityEvent(7, 1, "message", 71, AT))  # another place
    recorder.record(ActivityEvent(7, 1, "reaction", 70, AT))  # another kind
    recorder.record(ActivityEvent(7, 1, "message", 70, AT + timedelta(seconds=1)))
    recorder.record(ActivityEvent(7, 2, "message", 70, AT))  # another student
    assert recorder.pending == 8
    assert await recorder.flush() == 8
    assert repository.sizes == [5]
    rows = await db.fetchall(
        "SELECT user_id, kind, channel_id, (occurred_at - ?) / 1000000 AS second, events "
        "FROM activity ORDER BY user_id, occurred_at, kind, channel_id",
        (to_db_time(AT),),
    )
    assert [tuple(row) for row in rows] == [
        (1, "message", 70, 0, 4),
        (1, "message", 71, 0, 1),
        (1, "reaction", 70, 0, 1),
        (1, "message", 70, 1, 1),
        (2, "message", 70, 0, 1),
    ]
    assert recorder.pending == 0 and recorder.written == 8


async def test_events_counted_during_a_flush_are_kept_for_the_next(sqlite_db: Database) -> None:
    """An event added to a key whose count is being written is not lost with that count."""
    db = sqlite_db  # holds aiosqlite's worker thread: an SQLite-only test
    gate = WorkerGate()
    await gate.install(db)
    recorder = ActivityRecorder(ActivityRepository(db))
    record(recorder, 1)
    holder = await gate.close_behind(db)
    flushing = asyncio.create_task(recorder.flush())
    await spin_until(db._lock.locked)
    record(recorder, 1)  # the same student, place and second as the row being written
    gate.open()
    await holder
    assert await flushing == 1
    assert recorder.pending == 1
    assert await recorder.flush() == 1
    assert await stored_users(db) == [1, 1]
    repository = ActivityRepository(db)
    assert await repository.counts_by_place(7) == {(1, 70): 2}
    assert await repository.count_since(7, 1, AT) == 2


async def test_summed_counts_read_like_one_row_per_event(db: Database) -> None:
    """Every reader gives what it gave when each event had its own row."""
    repository = ActivityRepository(db)
    one_each = [(7, 1, "message", 70, to_db_time(AT) + s * SECOND) for s in (0, 0, 0, 5, 9)]
    await repository.insert_many(one_each[:2])  # two single events, then the same second
    await repository.insert_counts([(7, 1, "message", 70, to_db_time(AT), 1)])
    await repository.insert_counts([(*row, 1) for row in one_each[3:]])
    await repository.insert_counts([(7, 1, "reaction", None, to_db_time(AT) + 2 * SECOND, 3)])
    assert await repository.counts_by_place(7) == {(1, 70): 5}
    assert await repository.counts_by_place(7, "reaction") == {(1, None): 3}
    assert await repository.count_since(7, 1, AT) == 8
    assert await repository.count_since(7, 1, AT + timedelta(seconds=1)) == 5
    assert await repository.count_since(7, 2, AT) == 0
    last = await repository.last_active(7, [1, 2])
    assert last == {1: AT + timedelta(seconds=9)}
    exported = (await repository.export_user(7, 1))["activity"]
    start = to_db_time(AT)
    assert exported == [
        {"kind": "message", "channel_id": 70, "occurred_at": start, "events": 3},
        {"kind": "reaction", "channel_id": None, "occurred_at": start + 2 * SECOND, "events": 3},
        {"kind": "message", "channel_id": 70, "occurred_at": start + 5 * SECOND, "events": 1},
        {"kind": "message", "channel_id": 70, "occurred_at": start + 9 * SECOND, "events": 1},
    ]
    await repository.delete_user(7, 1)
    assert await repository.export_user(7, 1) == {"activity": []}
    assert await repository.count_since(7, 1, AT) == 0


async def test_rows_are_written_in_index_order(db: Database) -> None:
    """Grouped by student (each student's in time order), so a chunk touches few index
    pages: the events arrived interleaved."""
    repository = CountingRepository(db)
    recorder = ActivityRecorder(repository, chunk_rows=3)
    for second in range(3):
        for user in (9, 4, 6):
            recorder.record(ActivityEvent(7, user, "message", 70, AT + timedelta(seconds=second)))
    assert await recorder.flush() == 9
    start = to_db_time(AT)
    assert [(row[1], (row[4] - start) // SECOND) for row in repository.rows] == [
        (user, second) for user in (4, 6, 9) for second in range(3)
    ]
    assert repository.sizes == [3, 3, 3]


class FlakyRepository(ActivityRepository):
    """Keeps rows in memory; yields to the loop (where more events arrive) and fails at
    random, before or after "committing"."""

    def __init__(self, db: Database, rng: random.Random) -> None:
        super().__init__(db)
        self.rng = rng
        self.stored: Counter[tuple[int, int, str, int | None, int]] = Counter()

    async def insert_counts(self, rows, *, on_commit=None):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)
        if self.rng.random() < 0.2:
            raise OSError("disk full")  # nothing written
        for *key, n in rows:
            self.stored[tuple(key)] += n  # type: ignore[index]
        if on_commit is not None:
            on_commit()


@pytest.mark.parametrize("seed", range(5))
async def test_random_events_during_failing_flushes_are_each_written_once(
    sqlite_db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    repository = FlakyRepository(sqlite_db, rng)
    recorder = ActivityRecorder(repository, chunk_rows=7, max_batch=10**9)
    recorded: Counter[tuple[int, int, str, int | None, int]] = Counter()

    def some_events() -> None:
        for _ in range(rng.randrange(30)):
            event = ActivityEvent(
                rng.choice((7, 8)),
                rng.randrange(1, 20),
                rng.choice(("message", "reaction")),
                rng.choice((70, 71, None)),
                AT + timedelta(seconds=rng.randrange(4)),
            )
            recorder.record(event)
            recorded[event.row()] += 1

    async def flushes() -> None:
        for _ in range(40):
            with contextlib.suppress(OSError):
                await recorder.flush()

    flushing = asyncio.create_task(flushes())
    while not flushing.done():
        some_events()
        await asyncio.sleep(0)
    while recorder.pending:
        with contextlib.suppress(OSError):
            await recorder.flush()
    assert repository.stored == recorded
    assert recorder.written == recorded.total()
    assert recorder._counts == {} and recorder._rows == 0
