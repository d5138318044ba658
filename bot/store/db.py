"""The SQLite store: one aiosqlite connection, one writer, numbered migrations.

Guarantees:

* WAL journal, ``foreign_keys=ON`` (read back after connecting), ``busy_timeout``,
  ``synchronous=NORMAL``.
* ``PRAGMA quick_check`` must pass before anything else happens; a damaged file raises
  :class:`CorruptDatabaseError`, whose message says how to restore a backup.
* After migrating, one page is written and committed: a file the process may read but not
  write (permissions, a read-only mount) or a full disk raises
  :class:`DatabaseUnwritableError` at start instead of failing every write later.
* The schema is migrated to the latest version on open; a database written by a newer
  CohortBot raises :class:`SchemaTooNewError` (the bot refuses to start).
* Writes go through :meth:`Database.transaction`: an :class:`asyncio.Lock` around
  ``BEGIN IMMEDIATE … COMMIT`` so coroutines sharing the connection never interleave their
  transactions. Any exception rolls the transaction back completely. The one-call
  writes (:meth:`Database.execute_write`, :meth:`Database.insert`, :meth:`Database.write_all`,
  :meth:`Database.insert_rows`) run ``BEGIN … COMMIT`` in one call on the worker thread, and
  those queued while the lock is held commit together (group commit); one write's error
  fails only that write.

Reads (:meth:`fetchone`, :meth:`fetchall`) do not take the writer lock. They share the one
connection, so a read issued while another coroutine has a transaction open sees that
transaction's uncommitted rows. That is accepted: every read is a single statement, the
statements are serialised by aiosqlite's worker thread, and the writer's transaction either
commits (the read was merely early) or rolls back (callers must not act on a read as if it
were a claim — use a write such as ``INSERT … ON CONFLICT DO NOTHING`` for that).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol, Self, TypeVar

import aiosqlite

from bot.store.sql import Dialect, insert_statements

# The one representation of an instant in the database (re-exported: older imports use db).
from bot.store.times import from_db_time, to_db_time

if TYPE_CHECKING:
    from bot.store.migrations import Migration

__all__ = [
    "Connection",
    "ConstraintError",
    "CorruptDatabaseError",
    "Database",
    "DatabaseBusyError",
    "DatabaseUnwritableError",
    "MigrationError",
    "Params",
    "SchemaTooNewError",
    "StoreError",
    "from_db_time",
    "to_db_time",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_K = TypeVar("_K")

Params = Sequence[Any] | Mapping[str, Any]

_MEMORY = ":memory:"
_RESTORE_HINT = (
    "stop the bot, move the damaged file (and its -wal/-shm files) aside and restore the most "
    "recent backup made with `cohortbot backup PATH` "
    "(see docs/operations.md, 'Backups and restore')"
)


class StoreError(Exception):
    """Base class of store errors; ``str()`` is a one-line message meant for a human."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer CohortBot (``user_version`` > latest migration)."""


class CorruptDatabaseError(StoreError):
    """``quick_check`` failed or the file is not an SQLite database."""


class MigrationError(StoreError):
    """A migration failed; the schema and ``user_version`` are unchanged."""


class DatabaseBusyError(StoreError):
    """The database stayed locked beyond ``busy_timeout``; nothing was written. Retryable."""


class DatabaseUnwritableError(StoreError):
    """The database can be read but not written (read-only file or folder, full disk)."""


class ConstraintError(StoreError):
    """PostgreSQL refused a row (unique, foreign key or check constraint). On SQLite the same
    mistake raises ``sqlite3.IntegrityError``."""


class Connection(Protocol):
    """What a transaction yields, on both engines: ``await conn.execute(sql, params)`` (or
    ``async with conn.execute(...) as cursor``) gives a cursor with ``rowcount``,
    ``fetchone()``, ``fetchall()`` and ``close()``. Never rely on ``lastrowid``: PostgreSQL
    has none, use ``RETURNING``."""

    def execute(self, sql: str, parameters: Params | None = None, /) -> Any: ...

    async def executemany(self, sql: str, parameters: Any, /) -> Any: ...


def _errorcode(exc: BaseException) -> int:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    if _errorcode(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def _is_unwritable(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if _errorcode(exc) in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return True
    text = str(exc).lower()
    return "readonly database" in text or "disk is full" in text or "disk i/o error" in text


def _unwritable(db_path: Path, exc: BaseException) -> DatabaseUnwritableError:
    if _errorcode(exc) == sqlite3.SQLITE_READONLY or "readonly" in str(exc).lower():
        hint = "give the bot's user write access to the file and its folder"
    else:
        hint = "is the disk full? free some space and start again"
    return DatabaseUnwritableError(f"database {db_path} cannot be written ({exc}): {hint}")


def _cannot_open(db_path: Path, exc: BaseException) -> StoreError:
    hint = ""
    if _errorcode(exc) == sqlite3.SQLITE_CANTOPEN or "unable to open" in str(exc).lower():
        # SQLite needs the file and, in WAL mode, its -wal and -shm files beside it.
        hint = (
            ": check that the folder exists and that the bot's user may read and write the "
            "file and create files in its folder"
        )
    return StoreError(f"cannot open database {db_path} ({exc}){hint}")


async def _connect(path: str) -> aiosqlite.Connection:
    """``aiosqlite.connect``, but a failed connect also waits for the worker thread to end.

    aiosqlite stops its thread after a failed connect without waiting for it; if the event
    loop closes first, the thread reports into it and prints a "RuntimeError: Event loop is
    closed" traceback after our one-line error.
    """
    conn = aiosqlite.connect(path, isolation_level=None)
    try:
        return await conn
    except BaseException:
        thread = getattr(conn, "_thread", None)
        if isinstance(thread, threading.Thread) and thread.is_alive():
            await asyncio.shield(asyncio.to_thread(thread.join, 5.0))
        raise


def _is_corrupt(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if _errorcode(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


class Database:
    """The bot's SQLite database. Build it with :meth:`open`; close it with :meth:`close`.

    :class:`bot.store.postgres.PostgresDatabase` is the same interface on PostgreSQL; open
    either with :func:`bot.store.engine.open_database`."""

    #: Which SQL dialect the engine speaks (for :class:`bot.store.sql.Sql` variants).
    dialect: ClassVar[Dialect] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path, schema_version: int) -> None:
        # Use Database.open(); the constructor only stores an already prepared connection.
        self._conn: aiosqlite.Connection | None = conn
        self.path = path
        self.schema_version = schema_version
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[Any] | None = None
        self._queued_writes: list[_QueuedWrite] = []

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = 5000,
        migrations: Sequence[Migration] | None = None,
    ) -> Database:
        """Open (creating if needed) and check the database, then migrate it to the latest schema.

        Raises :class:`CorruptDatabaseError`, :class:`SchemaTooNewError`,
        :class:`MigrationError`, :class:`DatabaseBusyError` or :class:`StoreError`.
        """
        from bot.store.migrations import apply_migrations, load_migrations

        memory = str(path) == _MEMORY
        db_path = Path(path)
        if busy_timeout_ms < 0:
            raise ValueError("busy_timeout_ms must be >= 0")
        if not memory:
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for database {db_path}: {exc}") from exc
        if migrations is None:
            migrations = load_migrations()

        try:
            conn = await _connect(str(path))
        except sqlite3.Error as exc:
            raise _cannot_open(db_path, exc) from exc
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = await _pragma_value(conn, "PRAGMA journal_mode = WAL")
            if not memory and str(mode).lower() != "wal":
                raise StoreError(
                    f"database {db_path} could not switch to WAL (journal_mode={mode}): "
                    "is the file or its folder read-only for the bot's user?"
                )
            await conn.execute("PRAGMA foreign_keys = ON")
            if await _pragma_value(conn, "PRAGMA foreign_keys") != 1:
                raise StoreError(
                    "this SQLite build cannot enforce foreign keys (PRAGMA foreign_keys "
                    "did not read back 1); refusing to start"
                )
            await conn.execute("PRAGMA synchronous = NORMAL")
            async with conn.execute("PRAGMA quick_check") as cursor:
                problems = [str(row[0]) for row in await cursor.fetchall()]
            if problems != ["ok"]:
                raise CorruptDatabaseError(
                    f"database {db_path} failed its integrity check "
                    f"({'; '.join(problems[:3]) or 'no result'}): {_RESTORE_HINT}"
                )
            version = await apply_migrations(conn, migrations)
            if not memory:
                await _probe_write(conn, version)
        except BaseException as exc:
            with suppress(Exception):
                await conn.close()
            cause = exc.__cause__ if isinstance(exc, MigrationError) else exc
            if cause is not None and _is_unwritable(cause):
                # A migration that could not write says why in operator's terms.
                raise _unwritable(db_path, cause) from exc
            if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            if _is_corrupt(exc):
                raise CorruptDatabaseError(
                    f"database {db_path} is damaged or not an SQLite database ({exc}): "
                    f"{_RESTORE_HINT}"
                ) from exc
            if _is_busy(exc):
                raise DatabaseBusyError(
                    f"database {db_path} is locked by another process; is another bot running?"
                ) from exc
            if isinstance(exc, sqlite3.Error):
                raise _cannot_open(db_path, exc) from exc
            raise
        return cls(conn, db_path, version)

    @asynccontextmanager
    async def only_one_process(self, name: str) -> AsyncIterator[bool]:
        """Whether this process may run the installation-wide job ``name`` now (True while the
        block runs). One SQLite file is one process's: always True. PostgreSQL holds an
        advisory lock for the block, so two processes never run the job at once."""
        yield True

    async def close(self) -> None:
        """Close the connection (idempotent). Waits for a running transaction to finish."""
        conn = self._conn
        if conn is None:
            return
        async with self._lock:
            self._conn = None
            await conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the database is closed")
        return self._conn

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(
        self, *, on_commit: Callable[[], object] | None = None
    ) -> AsyncIterator[Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` under the writer lock.

        Use the yielded connection for the statements. Any exception (including cancellation)
        rolls everything back and propagates; a lock held by another process beyond
        ``busy_timeout`` raises :class:`DatabaseBusyError` after the rollback. Transactions do
        not nest: calling :meth:`transaction` or :meth:`execute_write` from inside one raises
        :class:`StoreError` instead of deadlocking.

        Cancellation at any await (``BEGIN``, a statement, ``COMMIT``) leaves the connection
        outside a transaction and the lock free before the :class:`asyncio.CancelledError`
        reaches the caller. A statement already handed to aiosqlite's worker thread runs
        whatever happens to the task, so ``BEGIN`` and ``COMMIT`` are awaited to the end and
        the rollback is queued behind whatever is still running. A cancellation that arrives
        during ``COMMIT`` cannot undo it: the data is committed, ``on_commit`` (if given) is
        called, and then the cancellation is raised — so a caller that must know whether its
        rows were written (a buffer) uses ``on_commit`` rather than the exception.
        """
        task = self._refuse_nested()
        async with self._lock:
            conn = self._connection()
            self._writer = task
            try:
                try:
                    await _to_the_end(conn.execute("BEGIN IMMEDIATE"))
                except BaseException as exc:
                    await self._give_up(conn, exc)
                try:
                    yield conn
                except BaseException as exc:
                    await self._give_up(conn, exc)
                try:
                    await _to_the_end(conn.execute("COMMIT"))
                except asyncio.CancelledError:
                    # COMMIT ran to the end (see _to_the_end): the rows are written.
                    committed = not conn.in_transaction
                    await self._rollback(conn)
                    if committed and on_commit is not None:
                        on_commit()
                    raise
                except BaseException as exc:
                    await self._give_up(conn, exc)
                if on_commit is not None:
                    on_commit()
            finally:
                self._writer = None

    def _refuse_nested(self) -> asyncio.Task[Any] | None:
        """The current task, unless it already holds the writer lock: waiting for the lock
        it holds would deadlock, so that is refused."""
        task = asyncio.current_task()
        if task is not None and self._writer is task:
            raise StoreError("nested transaction: the writer lock is already held by this task")
        return task

    async def _give_up(self, conn: aiosqlite.Connection, exc: BaseException) -> NoReturn:
        """Roll the transaction back and raise ``exc`` (a lock held too long as
        :class:`DatabaseBusyError`)."""
        await self._rollback(conn)
        if _is_busy(exc):
            raise self._busy(exc) from exc
        raise exc

    def _busy(self, exc: BaseException) -> DatabaseBusyError:
        return DatabaseBusyError(
            f"database {self.path} stayed locked by another connection ({exc}); "
            "nothing was written, try again"
        )

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        """Leave the connection outside any transaction, even when the task is cancelled.

        ``in_transaction`` is not checked first: a cancelled ``BEGIN`` may still be queued on
        the worker thread. The ROLLBACK is queued behind it (the worker runs its queue in
        order) and "no transaction is active" is the expected answer when there was none.
        """
        try:
            await _to_the_end(conn.execute("ROLLBACK"))
        except asyncio.CancelledError:
            raise
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                log.exception("ROLLBACK failed")
        except sqlite3.Error:
            log.exception("ROLLBACK failed")

    async def execute_write(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; return the number of rows it changed.

        (``cursor.rowcount``: rows inserted, updated or deleted — 0 for an
        ``INSERT … ON CONFLICT DO NOTHING`` that hit the conflict.) Use :meth:`insert` for the
        new row id.
        """
        ((changed, _),) = await self._write_in_one_call([(sql, params)])
        return changed

    async def upsert(
        self,
        table: str,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        on_insert: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert a row of ``table`` or, when one with the same ``key`` columns exists, set its
        ``values`` (``on_insert`` only fills a new row, e.g. its ``created_at``). The key
        columns are the table's unique key. One statement in its own transaction."""
        row = {**key, **values, **(on_insert or {})}
        updates = ", ".join(f"{column} = excluded.{column}" for column in values)
        await self.execute_write(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            tuple(row.values()),
        )

    async def insert_row(self, table: str, values: Mapping[str, Any]) -> int:
        """Insert one row of ``table`` (``values``: column to value, as stored) in its own
        transaction; return its generated key. For a plain insert, which either adds the row
        or raises."""
        new_id = await self.insert(
            f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
            tuple(values.values()),
        )
        assert new_id is not None  # no ON CONFLICT clause: nothing is skipped silently
        return new_id

    async def changed(self, sql: str, params: Params = ()) -> bool:
        """Run one statement in its own transaction; True when it changed a row. For a write
        that takes effect at most once (an ``UPDATE`` whose ``WHERE`` asks for the state it
        leaves, an ``INSERT … ON CONFLICT DO NOTHING``, a ``DELETE`` by key): whether this
        call was the one it took effect for."""
        return await self.execute_write(sql, params) > 0

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT in its own transaction; return the new ``rowid``, or ``None`` when
        no row was inserted (e.g. ``ON CONFLICT DO NOTHING``)."""
        ((changed, row_id),) = await self._write_in_one_call([(sql, params)])
        return row_id if changed > 0 else None

    async def write_all(
        self,
        statements: Sequence[tuple[str, Params]],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> list[int]:
        """Run ``statements`` (SQL, parameters) in order in one transaction; return the rows
        each one changed. All or nothing, like :meth:`transaction`, for a write that needs no
        answer between its statements. ``on_commit`` is called once they are committed,
        also when the caller is cancelled after the worker began them (then the cancellation
        is raised after it): a buffer uses it to take off exactly what was written."""
        written = await self._write_in_one_call(statements, on_commit=on_commit)
        return [changed for changed, _ in written]

    async def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        """Insert ``rows`` (each one value per column, in ``columns`` order) into ``table`` in
        one transaction: :meth:`write_all` of :func:`~bot.store.sql.insert_statements`, with
        the same ``on_commit``. On both stores.

        The rows go in multi-row ``INSERT … VALUES (…), (…)`` statements, not
        ``executemany``: SQLite's module lets go of the GIL around every statement it steps,
        so a row each is a hand-over of the GIL each, and under event load every one of them
        waits for the event loop's thread (one such batch held the worker 170 ms)."""
        statements = insert_statements(table, columns, rows)
        if not statements:
            if on_commit is not None:
                on_commit()
            return
        await self.write_all(statements, on_commit=on_commit)

    async def _write_in_one_call(
        self,
        statements: Sequence[tuple[str, Params]],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> list[tuple[int, int | None]]:
        """``BEGIN IMMEDIATE``, the statements, ``COMMIT`` (or ``ROLLBACK``), all in one call
        on aiosqlite's worker thread: one hand-over between threads instead of two per
        statement plus two. Under event load each hand-over can wait for the GIL, so the
        writes on a message's path (an intro, a milestone) stay cheap for the commands waiting
        behind them. Each statement's (rows changed, last row id).

        Group commit: writes queued while another write holds the lock go together, in one
        call and one transaction. A write's error rolls back only its own statements and is
        raised to its own caller; the others commit (the batch is then run again with each
        write in a savepoint of its own). An error after which SQLite has already rolled the
        whole transaction back fails them all.

        The same guarantees as :meth:`transaction`: the writer lock is held, a lock held by
        another process beyond ``busy_timeout`` raises :class:`DatabaseBusyError`, any error
        rolls the write back, and the connection is always left outside a transaction. A
        cancellation reaches the caller once the worker is done with the call: if the worker
        had not started this write, nothing of it is written; if it had, the whole write is
        (as when :meth:`transaction` is cancelled during ``COMMIT``)."""
        self._refuse_nested()
        write = _QueuedWrite(statements, asyncio.get_running_loop().create_future())
        self._queued_writes.append(write)
        try:
            while not write.outcome.done():
                async with self._lock:
                    if not write.outcome.done():
                        await self._run_queued_writes(write)
        except BaseException:
            write.cancelled.set()  # the worker skips it if it has not begun it
            if write in self._queued_writes:
                self._queued_writes.remove(write)  # no batch took it: nothing was written
            else:
                with suppress(Exception):
                    written = await _to_the_end(write.outcome)
                    if written is not None and on_commit is not None:
                        on_commit()
            raise
        results = write.outcome.result()
        assert results is not None  # None only for a write cancelled before it ran
        if on_commit is not None:
            on_commit()
        return results

    async def _run_queued_writes(self, leader: _QueuedWrite) -> None:
        """Under the writer lock: every queued write in one worker call. Each write's outcome
        is set when the worker is done, even if the task leading the batch (the one that
        queued ``leader``) is cancelled."""
        conn = self._connection()
        batch, self._queued_writes = self._queued_writes, []
        # aiosqlite has no public "run this on the worker thread"; _execute is what its own
        # execute() uses (the version is pinned in pyproject.toml).
        call = asyncio.ensure_future(
            conn._execute(
                _writes_in_worker, conn._conn, [(w.statements, w.cancelled) for w in batch]
            )
        )

        def settle(call: asyncio.Future[list[_WriteOutcome]]) -> None:
            error = call.exception() if not call.cancelled() else asyncio.CancelledError()
            outcomes: Sequence[_WriteOutcome | BaseException] = (
                [error] * len(batch) if error is not None else call.result()
            )
            for write, outcome in zip(batch, outcomes, strict=True):
                if write.outcome.done():
                    continue
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, sqlite3.Error) and _is_busy(outcome):
                        busy = self._busy(outcome)
                        busy.__cause__ = outcome
                        outcome = busy
                    write.outcome.set_exception(outcome)
                else:
                    write.outcome.set_result(outcome)

        call.add_done_callback(settle)
        try:
            await asyncio.shield(call)
        except asyncio.CancelledError:
            leader.cancelled.set()  # at once: the worker may not have reached it yet
            with suppress(Exception):
                await _to_the_end(call)
            raise
        except Exception:
            pass  # each write's own outcome carries the error

    # ------------------------------------------------------------------ reads

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """First row of a query, or ``None``. See the module docstring about open transactions.

        The whole result is read (one round trip to the worker thread, and no cursor left
        holding a read snapshot open): add ``LIMIT 1`` to a query that may match many rows.
        """
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """All rows of a query."""
        conn = self._connection()
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy(exc) from exc
            raise

    async def fetchone_as(
        self, record: Callable[[Any], _T], sql: str, params: Params = ()
    ) -> _T | None:
        """:meth:`fetchone`, built into a record by ``record`` (e.g. a
        :func:`bot.store.rows.row_mapper`); ``None`` when no row matched."""
        row = await self.fetchone(sql, params)
        return None if row is None else record(row)

    async def fetchall_as(
        self, record: Callable[[Any], _T], sql: str, params: Params = ()
    ) -> list[_T]:
        """:meth:`fetchall`, each row built into a record by ``record``."""
        return [record(row) for row in await self.fetchall(sql, params)]

    async def fetchcolumn(
        self, value: Callable[[Any], _T], sql: str, params: Params = ()
    ) -> list[_T]:
        """The first column of a query's rows, each read by ``value`` (``int``,
        ``from_db_time`` …), in the query's order."""
        return [value(row[0]) for row in await self.fetchall(sql, params)]

    async def fetchmap(
        self,
        sql: str,
        params: Params = (),
        *,
        key: Callable[[Any], Any] = int,
        value: Callable[[Any], Any] = int,
    ) -> dict[Any, Any]:
        """A query of two columns as a dict: its first column (read by ``key``) to its
        second (read by ``value``); by default an id to a count. The last row wins where a
        key repeats."""
        return {key(row[0]): value(row[1]) for row in await self.fetchall(sql, params)}

    async def table_names(self) -> list[str]:
        """User tables (not ``sqlite_*``), sorted: for the data-contract coverage test."""
        rows = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        return [str(row[0]) for row in rows]

    async def column_names(self, table: str) -> list[str]:
        """A table's columns in order (the generic personal-data scans use them)."""
        rows = await self.fetchall(f'PRAGMA table_info("{table}")')
        return [str(row["name"]) for row in rows]

    # ------------------------------------------------------------------ backup

    async def backup(self, dest: str | Path) -> Path:
        """Copy the database to ``dest`` with SQLite's online backup API; return the path.

        Takes the writer lock, so the copy holds only committed data. The copy is written to a
        temporary file next to ``dest``, checked with ``quick_check`` and then moved into place
        (an existing file at ``dest`` is replaced; a failed backup leaves no partial file).
        """
        conn = self._connection()
        target, tmp = _prepare_backup_target(Path(dest), self.path)
        try:
            async with self._lock:
                copy = await _connect(str(tmp))
                try:
                    await conn.backup(copy)
                    problems = await _pragma_value(copy, "PRAGMA quick_check")
                    # Leave the copy as a self-contained single file (no -wal needed).
                    await copy.execute("PRAGMA journal_mode = DELETE")
                finally:
                    await copy.close()
            if problems != "ok":
                raise StoreError(f"the backup copy failed its integrity check: {problems}")
            os.replace(tmp, target)
        except BaseException as exc:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
                with suppress(OSError):
                    leftover.unlink()
            if isinstance(exc, sqlite3.Error | OSError):
                raise StoreError(f"backup to {target} failed: {exc}") from exc
            raise
        return target


def _prepare_backup_target(target: Path, live: Path) -> tuple[Path, Path]:
    if target.exists() and live.exists() and target.resolve() == live.resolve():
        raise StoreError("the backup destination is the live database file itself")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for backup {target}: {exc}") from exc
    return target, target.with_name(f".{target.name}.{os.getpid()}.tmp")


async def _probe_write(conn: aiosqlite.Connection, version: int) -> None:
    """Commit one page (``user_version``, rewritten unchanged): SQLite opens a file it may not
    write read-only without a word, and an up-to-date schema needs no write at start, so
    without this a read-only file or a full disk would only show up as failing writes later."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(f"PRAGMA user_version = {int(version)}")
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
        raise


#: One queued write's result: each statement's (rows changed, last row id); None when the
#: write was cancelled before the worker reached it (nothing of it was written).
_WriteOutcome = list[tuple[int, int | None]] | None


class _QueuedWrite:
    """A write waiting for (or in) a group-commit batch; see ``_write_in_one_call``."""

    __slots__ = ("cancelled", "outcome", "statements")

    def __init__(
        self,
        statements: Sequence[tuple[str, Params]],
        outcome: asyncio.Future[_WriteOutcome],
    ) -> None:
        self.statements = statements
        self.outcome = outcome
        self.cancelled = threading.Event()


def _statements_in_worker(
    raw: sqlite3.Connection, statements: Sequence[tuple[str, Params]]
) -> list[tuple[int, int | None]]:
    results: list[tuple[int, int | None]] = []
    for sql, params in statements:
        cursor = raw.execute(sql, params)
        try:
            results.append((max(cursor.rowcount, 0), cursor.lastrowid))
        finally:
            cursor.close()
    return results


def _writes_in_worker(
    raw: sqlite3.Connection,
    writes: Sequence[tuple[Sequence[tuple[str, Params]], threading.Event]],
) -> list[_WriteOutcome | BaseException]:
    """On the worker thread: the writes in one transaction. Per write: its results, its own
    error (its statements rolled back, the others kept), or None when it was cancelled
    before the worker reached it. An error that ends the whole transaction (BEGIN, COMMIT,
    or one after which SQLite rolled everything back) is raised, after a rollback, for every
    write.

    The writes first run one after the other with nothing between them; only if one fails
    is the transaction rolled back and run again with each write in a savepoint of its own
    (two more statements a write, each a hand-over of the GIL, so not on the usual path)."""
    run = [not cancelled.is_set() for _, cancelled in writes]  # decided once, for both passes
    if not any(run):
        return [None] * len(writes)
    raw.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[_WriteOutcome | BaseException] = []
        try:
            for (statements, _), runs in zip(writes, run, strict=True):
                outcomes.append(_statements_in_worker(raw, statements) if runs else None)
        except sqlite3.Error:
            if len(writes) == 1 or not raw.in_transaction:
                raise  # its own error, or SQLite rolled the whole transaction back
            raw.execute("ROLLBACK")
            raw.execute("BEGIN IMMEDIATE")
            outcomes = [
                _write_in_savepoint(raw, w[0]) if runs else None
                for w, runs in zip(writes, run, strict=True)
            ]
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    return outcomes


def _write_in_savepoint(
    raw: sqlite3.Connection, statements: Sequence[tuple[str, Params]]
) -> _WriteOutcome | BaseException:
    raw.execute("SAVEPOINT queued_write")
    try:
        outcome: _WriteOutcome | BaseException = _statements_in_worker(raw, statements)
    except sqlite3.Error as exc:
        if not raw.in_transaction:
            raise  # SQLite rolled the whole transaction back
        raw.execute("ROLLBACK TO queued_write")
        outcome = exc
    raw.execute("RELEASE queued_write")
    return outcome


async def _to_the_end(operation: Awaitable[_T]) -> _T:
    """Await ``operation`` to its end even if the task is cancelled meanwhile, then re-raise
    the cancellation.

    For SQLite statements whose effect must be known before anything else runs: cancelling
    an await does not stop aiosqlite's worker thread, so without this a cancelled ``BEGIN``
    could open a transaction after its caller had given up the lock."""
    future = asyncio.ensure_future(operation)
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            # wait() never cancels the future it waits for.
            await asyncio.wait((future,))
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller sees
        raise cancelled
    return future.result()


async def _pragma_value(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]
