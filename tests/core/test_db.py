"""The SQLite store: pragmas, integrity checks, the single writer, busy handling, backups."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.store.db import (
    CorruptDatabaseError,
    Database,
    DatabaseBusyError,
    DatabaseUnwritableError,
    StoreError,
    from_db_time,
    to_db_time,
)
from tests.support.sqlite import WorkerGate, spin_until

TABLES = ["cohorts", "guild_config", "schedule_ledger", "schedules", "text_templates"]
INSERT_TEMPLATE = (
    "INSERT INTO text_templates (guild_id, key, body, updated_at) VALUES (?, ?, ?, 'x')"
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "nested" / "dir" / "cohortbot.db")
    try:
        yield database
    finally:
        await database.close()


async def keys(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetchall("SELECT key FROM text_templates ORDER BY key")]


async def test_open_sets_the_pragmas_and_migrates(db: Database, tmp_path: Path) -> None:
    assert db.path == tmp_path / "nested" / "dir" / "cohortbot.db"
    assert db.path.exists()
    assert db.schema_version >= 1
    for sql, expected in [
        ("PRAGMA journal_mode", "wal"),
        ("PRAGMA foreign_keys", 1),
        ("PRAGMA busy_timeout", 5000),
        ("PRAGMA synchronous", 1),  # NORMAL
        ("PRAGMA user_version", db.schema_version),
    ]:
        row = await db.fetchone(sql)
        assert row is not None and row[0] == expected, sql
    assert set(TABLES) <= set(await db.table_names())


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute_write(
            "INSERT INTO cohorts (guild_id, name, student_role_id, created_at) "
            "VALUES (404, 'A', 1, 'x')"
        )
    assert await db.fetchall("SELECT * FROM cohorts") == []


async def test_rows_are_addressable_by_name(db: Database) -> None:
    await db.execute_write(INSERT_TEMPLATE, (1, "welcome", "hi"))
    row = await db.fetchone("SELECT key, body FROM text_templates WHERE guild_id = :g", {"g": 1})
    assert row is not None and row["key"] == "welcome" and row["body"] == "hi"
    assert await db.fetchone("SELECT key FROM text_templates WHERE guild_id = 2") is None


async def test_execute_write_and_insert_return_values(db: Database) -> None:
    assert await db.execute_write(INSERT_TEMPLATE, (1, "a", "x")) == 1
    assert await db.execute_write("UPDATE text_templates SET body = 'y'") == 1
    assert await db.execute_write("UPDATE text_templates SET body = 'y' WHERE 0") == 0
    await db.execute_write(
        "INSERT INTO guild_config (guild_id, created_at, updated_at) VALUES (1, 'x', 'x')"
    )
    sql = (
        "INSERT INTO cohorts (guild_id, name, student_role_id, created_at) "
        "VALUES (1, ?, ?, 'x') ON CONFLICT DO NOTHING"
    )
    first = await db.insert(sql, ("A", 10))
    second = await db.insert(sql, ("B", 11))
    assert first is not None and second == first + 1
    assert await db.insert(sql, ("A", 10)) is None  # conflict: nothing inserted


async def test_memory_database_works() -> None:
    async with await Database.open(":memory:") as db:
        assert set(TABLES) <= set(await db.table_names())
    assert db.closed


async def test_close_is_idempotent_and_later_use_fails(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    await db.close()
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        await db.fetchall("SELECT 1")
    with pytest.raises(StoreError, match="closed"):
        await db.execute_write("SELECT 1")


async def test_unopenable_path_is_a_store_error_not_corruption(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        await Database.open(tmp_path)  # a directory
    assert not isinstance(info.value, CorruptDatabaseError)


def _live_worker_threads() -> set[threading.Thread]:
    return {
        t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()
    }


async def test_a_failed_connect_leaves_no_worker_thread_running(tmp_path: Path) -> None:
    # The event loop may end right after a failed open (`cohortbot check` exits): aiosqlite's
    # thread must be gone by then, or it prints "RuntimeError: Event loop is closed".
    before = _live_worker_threads()
    with pytest.raises(StoreError, match="unable to open"):
        await Database.open(tmp_path)  # a directory: the connect itself fails
    assert _live_worker_threads() <= before


async def test_a_database_that_cannot_be_written_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.db"
    await (await Database.open(path)).close()
    # A migrated file opened read-only (as SQLite silently does for a file it may not write):
    # nothing at start needs a write, so only the probe can tell.
    real_connect = sqlite3.connect

    def read_only(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        kwargs["uri"] = True
        return real_connect(f"file:{database}?mode=ro", *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", read_only)
    with pytest.raises(DatabaseUnwritableError) as info:
        await Database.open(path)
    message = str(info.value)
    assert "write access" in message and "\n" not in message


async def test_open_while_another_process_holds_the_lock_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        other.execute("CREATE TABLE held (x INTEGER)")
        with pytest.raises(DatabaseBusyError):
            await Database.open(path, busy_timeout_ms=20)
    finally:
        other.close()


# ---------------------------------------------------------------------- corruption


async def test_random_bytes_are_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    with pytest.raises(CorruptDatabaseError) as info:
        await Database.open(path)
    message = str(info.value)
    assert "backup" in message and "\n" not in message


async def _filled_database(path: Path) -> None:
    db = await Database.open(path)
    async with db.transaction() as conn:
        for i in range(400):
            await conn.execute(INSERT_TEMPLATE, (1, f"k{i:04d}", "x" * 600))
    await db.close()


def _truncate(path: Path, fraction: float) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(int(size * fraction))


def _scribble(path: Path) -> None:
    """Overwrite a few interior b-tree pages with random bytes."""
    size, page, rng = path.stat().st_size, 4096, random.Random(3)
    with path.open("r+b") as handle:
        for offset in range(2 * page, size - page, 7 * page):
            handle.seek(offset)
            handle.write(rng.randbytes(page))


@pytest.mark.parametrize("fraction", [0.5, 0.25])
async def test_truncated_database_is_reported_as_corrupt(tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "c.db"
    await _filled_database(path)
    _truncate(path, fraction)
    with pytest.raises(CorruptDatabaseError, match="backup"):
        await Database.open(path)


async def test_damaged_pages_fail_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    await _filled_database(path)
    _scribble(path)
    with pytest.raises(CorruptDatabaseError):
        await Database.open(path)


# ---------------------------------------------------------------------- the writer


async def test_writer_lock_serialises_transactions(db: Database) -> None:
    events: list[tuple[str, str]] = []

    async def writer(name: str) -> None:
        async with db.transaction() as conn:
            events.append((name, "begin"))
            for i in range(3):
                await conn.execute(INSERT_TEMPLATE, (1, f"{name}{i}", "x"))
                await asyncio.sleep(0)  # give the other coroutine every chance to interleave
            events.append((name, "end"))

    await asyncio.gather(writer("a"), writer("b"), writer("c"))
    for i in range(0, len(events), 2):
        assert events[i][0] == events[i + 1][0]
        assert (events[i][1], events[i + 1][1]) == ("begin", "end")
    assert len(await keys(db)) == 9


async def test_failing_transaction_rolls_back_only_itself(db: Database) -> None:
    started = asyncio.Event()

    async def failing() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "doomed1", "x"))
            started.set()
            await asyncio.sleep(0)
            await conn.execute(INSERT_TEMPLATE, (1, "doomed2", "x"))
            raise RuntimeError("boom")

    async def innocent() -> None:
        await started.wait()
        await db.execute_write(INSERT_TEMPLATE, (1, "kept", "x"))

    results = await asyncio.gather(failing(), innocent(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] is None
    assert await keys(db) == ["kept"]


async def test_sql_error_inside_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "a", "x"))
            await conn.execute(INSERT_TEMPLATE, (1, "a", "duplicate"))
    assert await keys(db) == []
    async with db.transaction() as conn:  # the connection is usable again
        await conn.execute(INSERT_TEMPLATE, (1, "b", "x"))
    assert await keys(db) == ["b"]


async def test_cancelled_transaction_rolls_back(db: Database) -> None:
    inside = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "cancelled", "x"))
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(slow())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await keys(db) == []
    await db.execute_write(INSERT_TEMPLATE, (1, "after", "x"))
    assert await keys(db) == ["after"]


async def test_nested_transactions_fail_instead_of_deadlocking(db: Database) -> None:
    with pytest.raises(StoreError, match="nested"):
        async with db.transaction():
            await db.execute_write(INSERT_TEMPLATE, (1, "inner", "x"))
    assert await keys(db) == []


async def test_locked_beyond_busy_timeout_raises_busy_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = await Database.open(path, busy_timeout_ms=30)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseBusyError) as info:
            async with db.transaction() as conn:
                await conn.execute(INSERT_TEMPLATE, (1, "never", "x"))
        assert "\n" not in str(info.value)
        with pytest.raises(DatabaseBusyError):
            await db.execute_write(INSERT_TEMPLATE, (1, "never", "x"))
        other.execute("ROLLBACK")
        assert await keys(db) == []
        await db.execute_write(INSERT_TEMPLATE, (1, "later", "x"))  # retry succeeds
        assert await keys(db) == ["later"]
    finally:
        other.close()
        await db.close()


async def test_two_databases_on_one_file_wait_for_each_other(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    first = await Database.open(path)
    second = await Database.open(path)
    try:
        await asyncio.gather(
            *(
                db.execute_write(INSERT_TEMPLATE, (1, f"{n}-{i}", "x"))
                for i in range(20)
                for n, db in (("a", first), ("b", second))
            )
        )
        assert len(await keys(first)) == 40
    finally:
        await first.close()
        await second.close()


# ---------------------------------------------------------------------- backup


async def test_backup_makes_a_copy_that_reopens(db: Database, tmp_path: Path) -> None:
    for i in range(50):
        await db.execute_write(INSERT_TEMPLATE, (1, f"k{i:02d}", "body"))
    dest = tmp_path / "backups" / "copy.db"
    assert await db.backup(dest) == dest
    assert not list(dest.parent.glob(".*tmp*"))
    copy = await Database.open(dest)
    try:
        assert len(await keys(copy)) == 50
        assert copy.schema_version == db.schema_version
        row = await copy.fetchone("PRAGMA quick_check")
        assert row is not None and row[0] == "ok"
    finally:
        await copy.close()
    # a second backup replaces the first
    await db.execute_write(INSERT_TEMPLATE, (1, "zz", "body"))
    await db.backup(dest)
    copy = await Database.open(dest)
    try:
        assert len(await keys(copy)) == 51
    finally:
        await copy.close()


async def test_backup_holds_only_committed_data(db: Database, tmp_path: Path) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "uncommitted", "x"))
            inside.set()
            await release.wait()
            raise RuntimeError("changed my mind")

    task = asyncio.create_task(writer())
    await inside.wait()
    backup = asyncio.create_task(db.backup(tmp_path / "b.db"))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await task
    await backup
    copy = await Database.open(tmp_path / "b.db")
    try:
        assert await keys(copy) == []
    finally:
        await copy.close()


async def test_backup_refuses_to_overwrite_the_live_file(db: Database) -> None:
    with pytest.raises(StoreError, match="live database"):
        await db.backup(db.path)


# ---------------------------------------------------------------------- timestamps


def test_timestamps_round_trip_as_utc_microseconds() -> None:
    local = datetime(2026, 11, 1, 1, 30, tzinfo=timezone(timedelta(hours=-4)))
    stored = to_db_time(local)
    assert stored == int(datetime(2026, 11, 1, 5, 30, tzinfo=UTC).timestamp()) * 1_000_000
    assert from_db_time(stored) == local
    assert from_db_time(stored).tzinfo is UTC
    with pytest.raises(ValueError):
        to_db_time(datetime(2026, 1, 1))


def test_timestamps_keep_every_microsecond_and_their_order() -> None:
    # float timestamp() would be off by one for some of these; the helpers are exact.
    base = datetime(2026, 11, 1, 5, 30, 0, 999_999, tzinfo=UTC)
    instants = [base + timedelta(microseconds=k) for k in range(-3, 4)]
    instants.append(datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC))
    instants.append(datetime(2999, 12, 31, tzinfo=UTC))
    for instant in instants:
        assert from_db_time(to_db_time(instant)) == instant
    ordered = sorted(instants)
    assert [to_db_time(i) for i in ordered] == sorted(to_db_time(i) for i in instants)


def test_no_connection_at_import_time() -> None:
    import bot.store.db as module

    assert not any(
        isinstance(value, sqlite3.Connection | Database) for value in vars(module).values()
    )


async def settle(task: asyncio.Task[object]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def assert_usable(db: Database, key: str) -> None:
    """The next transaction works and nothing is left open."""
    assert not db._connection().in_transaction
    await db.execute_write(INSERT_TEMPLATE, (1, key, "x"))
    assert not db._connection().in_transaction
    assert not db._lock.locked()


async def _in_a_transaction(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(INSERT_TEMPLATE, (1, "never", "x"))


async def _in_one_call(db: Database) -> None:
    await db.write_all([(INSERT_TEMPLATE, (1, "never", "x")), (INSERT_TEMPLATE, (1, "nor", "x"))])


@pytest.mark.parametrize("write", [_in_a_transaction, _in_one_call])
async def test_a_write_cancelled_before_the_worker_reached_it_writes_nothing(
    db: Database, write: Callable[[Database], Awaitable[None]]
) -> None:
    """Cancelled while its BEGIN (or its one call) waits behind other work on the worker
    thread: no transaction is left open and nothing is written."""
    gate = WorkerGate()
    await gate.install(db)
    holder = await gate.close_behind(db)
    task = asyncio.create_task(write(db))
    for _ in range(5):  # let it take the lock and queue behind the gate
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()  # it waits for the worker before the caller hears of it
    gate.open()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_usable(db, "after")
    assert await keys(db) == ["after"]


async def test_cancelled_while_a_statement_is_queued_rolls_back(db: Database) -> None:
    gate = WorkerGate()
    await gate.install(db)
    began = asyncio.Event()
    release = asyncio.Event()

    async def write() -> None:
        async with db.transaction() as conn:
            began.set()
            await release.wait()
            await conn.execute(INSERT_TEMPLATE, (1, "cancelled", "x"))

    task = asyncio.create_task(write())
    await began.wait()
    holder = await gate.close_behind(db)
    release.set()
    for _ in range(5):  # the INSERT is queued behind the gate
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    gate.open()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_usable(db, "after")
    assert await keys(db) == ["after"]


async def test_cancelled_while_commit_is_queued_commits_and_says_so(db: Database) -> None:
    gate = WorkerGate()
    await gate.install(db)
    committed: list[bool] = []
    holder: asyncio.Task[object] | None = None

    async def write() -> None:
        nonlocal holder
        async with db.transaction(on_commit=lambda: committed.append(True)) as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "written", "x"))
            holder = await gate.close_behind(db)  # COMMIT queues behind it on exit

    task = asyncio.create_task(write())
    await spin_until(lambda: holder is not None or task.done())
    assert holder is not None, task.exception()
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    gate.open()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await task
    # A COMMIT that reached SQLite cannot be undone; the caller learns it through on_commit.
    assert committed == [True]
    await assert_usable(db, "after")
    assert await keys(db) == ["after", "written"]


@pytest.mark.parametrize("steps", range(0, 40, 3))
async def test_cancelled_at_any_step_leaves_the_database_usable(db: Database, steps: int) -> None:
    async def write() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_TEMPLATE, (1, "maybe", "x"))
            await conn.execute(INSERT_TEMPLATE, (2, "maybe", "x"))

    task = asyncio.create_task(write())
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await settle(task)
    await assert_usable(db, "after")
    rows = await db.fetchall("SELECT guild_id FROM text_templates WHERE key = 'maybe'")
    assert len(rows) in (0, 2)  # all or nothing


async def test_a_write_is_one_call_on_the_worker_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN, the statements and COMMIT go to aiosqlite's thread together: under event load
    every hand-over between the threads can wait for the GIL."""
    conn = db._connection()
    calls: list[object] = []
    real = conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(conn, "_execute", counted)
    assert await db.execute_write(INSERT_TEMPLATE, (1, "a", "x")) == 1
    assert await db.insert(INSERT_TEMPLATE, (1, "b", "x")) is not None
    assert await db.write_all([(INSERT_TEMPLATE, (1, "c", "x")), (INSERT_TEMPLATE, (1, "d", "x"))])
    assert len(calls) == 3
    assert await keys(db) == ["a", "b", "c", "d"]


async def test_write_all_is_all_or_nothing(db: Database) -> None:
    await db.execute_write(INSERT_TEMPLATE, (1, "taken", "x"))
    with pytest.raises(sqlite3.IntegrityError):
        await db.write_all(
            [(INSERT_TEMPLATE, (1, "first", "x")), (INSERT_TEMPLATE, (1, "taken", "x"))]
        )
    assert await keys(db) == ["taken"]
    assert await db.write_all(
        [
            (INSERT_TEMPLATE, (1, "first", "x")),
            ("UPDATE text_templates SET body = 'y' WHERE guild_id = 1", ()),
        ]
    ) == [1, 2]
    await assert_usable(db, "after")


@pytest.mark.parametrize("steps", range(0, 12, 2))
async def test_a_cancelled_one_call_write_is_whole_or_absent(db: Database, steps: int) -> None:
    task = asyncio.create_task(
        db.write_all([(INSERT_TEMPLATE, (1, "one", "x")), (INSERT_TEMPLATE, (1, "two", "x"))])
    )
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await keys(db) in ([], ["one", "two"])
    await assert_usable(db, "after")


async def hold_the_writer_lock(db: Database) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """A transaction that holds the writer lock until the event is set (writes queue)."""
    release = asyncio.Event()

    async def hold() -> None:
        async with db.transaction():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    return release, holder


async def test_writes_queued_behind_the_lock_commit_together_each_with_its_own_outcome(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: writes that queue while another write holds the lock go in one worker
    call and one transaction; one write's error rolls back only its own statements and
    reaches only its own caller, and a write cancelled while queued writes nothing."""
    import bot.store.db as db_module

    calls: list[int] = []
    real = db_module._writes_in_worker

    def counted(raw: sqlite3.Connection, writes: Any) -> Any:
        calls.append(len(writes))
        return real(raw, writes)

    monkeypatch.setattr(db_module, "_writes_in_worker", counted)
    await db.execute_write(INSERT_TEMPLATE, (1, "taken", "x"))
    assert calls == [1]
    release, holder = await hold_the_writer_lock(db)
    first = asyncio.create_task(db.insert(INSERT_TEMPLATE, (1, "a", "x")))
    clash = asyncio.create_task(
        db.write_all([(INSERT_TEMPLATE, (1, "b", "x")), (INSERT_TEMPLATE, (1, "taken", "x"))])
    )
    given_up = asyncio.create_task(db.execute_write(INSERT_TEMPLATE, (1, "never", "x")))
    last = asyncio.create_task(db.write_all([(INSERT_TEMPLATE, (1, "c", "x"))]))
    for _ in range(5):
        await asyncio.sleep(0)
    given_up.cancel()
    release.set()
    await holder
    assert await first is not None
    with pytest.raises(sqlite3.IntegrityError):
        await clash  # "b" is rolled back with the statement that failed
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert await last == [1]
    assert calls == [1, 3]  # one call for the three still waiting
    assert await keys(db) == ["a", "c", "taken"]
    await assert_usable(db, "after")


async def test_a_failure_that_ends_the_whole_transaction_fails_every_write_in_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.store.db as db_module

    real = db_module._writes_in_worker

    def commit_fails(raw: sqlite3.Connection, writes: Any) -> Any:
        class FailingCommit:
            in_transaction = property(lambda self: raw.in_transaction)

            def execute(self, sql: str, params: Any = ()) -> Any:
                if sql == "COMMIT":
                    raise sqlite3.OperationalError("disk I/O error")
                return raw.execute(sql, params)

        return real(FailingCommit(), writes)  # type: ignore[arg-type]

    monkeypatch.setattr(db_module, "_writes_in_worker", commit_fails)
    release, holder = await hold_the_writer_lock(db)
    writes = [
        asyncio.create_task(db.execute_write(INSERT_TEMPLATE, (1, key, "x"))) for key in "xyz"
    ]
    await asyncio.sleep(0)
    release.set()
    await holder
    for write in writes:
        with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
            await write
    monkeypatch.setattr(db_module, "_writes_in_worker", real)
    assert await keys(db) == []
    await assert_usable(db, "after")


TEMPLATE_COLUMNS = ("guild_id", "key", "body", "updated_at")


async def test_insert_rows_cancelled_while_the_worker_runs_it_is_written_and_says_so(
    db: Database,
) -> None:
    """The rows a buffer hands over are either written with ``on_commit`` called, or not
    written at all: never written without the caller knowing."""
    import threading

    started, go_on = threading.Event(), threading.Event()

    class BoundOnTheWorker:
        """A value SQLite binds on the worker thread, which waits there until let go."""

        def __conform__(self, protocol: object) -> str:
            started.set()
            go_on.wait(10)
            return "x"

    committed: list[str] = []
    task = asyncio.create_task(
        db.insert_rows(
            "text_templates",
            TEMPLATE_COLUMNS,
            [(1, "a", "x", "t"), (1, "b", BoundOnTheWorker(), "t")],
            on_commit=lambda: committed.append("a+b"),
        )
    )
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()  # the caller hears of it once the worker is done
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert committed == ["a+b"]
    assert await keys(db) == ["a", "b"]
    # Cancelled before the worker reached it: nothing written, on_commit not called.
    gate = WorkerGate()
    await gate.install(db)
    holder = await gate.close_behind(db)
    task = asyncio.create_task(
        db.insert_rows(
            "text_templates",
            TEMPLATE_COLUMNS,
            [(1, "c", "x", "t")],
            on_commit=lambda: committed.append("c"),
        )
    )
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):  # the task takes the cancellation before the worker is let go
        await asyncio.sleep(0)
    gate.open()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await task
    assert committed == ["a+b"]
    await assert_usable(db, "after")
    assert await keys(db) == ["a", "after", "b"]
