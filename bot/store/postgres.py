"""The PostgreSQL store: an asyncpg connection pool behind the same interface as the SQLite one.

Repositories keep their SQL (``?`` placeholders, see :mod:`bot.store.sql`); rows are asyncpg
records, which read like ``sqlite3.Row`` (by index, by name, ``keys()``). There is no
process-wide writer lock: several processes may write at once, and every claim is made in SQL
(``INSERT … ON CONFLICT DO NOTHING``, ``UPDATE … RETURNING``, ``FOR UPDATE SKIP LOCKED``).

Errors keep the store's meaning: a lost connection, a server shutting down, too many clients,
a deadlock or a serialization failure raise :class:`DatabaseBusyError` (retryable; a single
statement outside a transaction is retried a few times with backoff first), a violated
constraint raises :class:`ConstraintError`. The password in ``DATABASE_URL`` never appears in
a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import asyncpg

from bot.store.db import (
    ConstraintError,
    Database,
    DatabaseBusyError,
    Params,
    StoreError,
)
from bot.store.sql import Dialect, redact_url, to_postgres

if TYPE_CHECKING:
    from bot.store.migrations import Migration

__all__ = ["PostgresDatabase", "ShardClaim", "ShardsTakenError", "redact_url"]

log = logging.getLogger(__name__)

#: SQLSTATEs after which the same work may simply be tried again.
_RETRYABLE_STATES: Final = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "08000",
        "08003",
        "08006",  # connection exceptions
    }
)
#: The first key of CohortBot's advisory locks (``pg_try_advisory_lock(space, key)``) says
#: what is locked, the second which one. Advisory locks are per database.
SHARD_LOCKS: Final = 0x436F6801  # one per gateway shard a running process connects
SHARD_COUNT_LOCKS: Final = 0x436F6802  # shared: the SHARD_COUNT the cluster's members use
JOB_LOCKS: Final = 0x436F6803  # installation-wide jobs (the daily maintenance)

_STATEMENT_RETRIES: Final = 4
_RETRY_BASE_SECONDS: Final = 0.05


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "")) in _RETRYABLE_STATES
    return isinstance(
        exc,
        asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.InternalClientError
        | ConnectionError
        | OSError,
    )


def _broken(exc: BaseException) -> bool:
    """The connection itself is unusable (ended by the server, or its protocol confused by
    that): it is closed rather than handed back to the pool."""
    return _is_retryable(exc) and not isinstance(exc, asyncpg.PostgresError)


def _not_applied(exc: BaseException) -> bool:
    """The statement was certainly not applied: the server refused it (a deadlock, a
    serialization failure, a lock or connection limit), or the client never sent it (its
    connection had already been ended under it)."""
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    return isinstance(exc, asyncpg.PostgresError) and str(getattr(exc, "sqlstate", "")) in {
        "40001",
        "40P01",
        "55P03",
        "53300",
        "57P03",
    }


def _translate(exc: BaseException, what: str) -> BaseException:
    """A store error for an asyncpg or connection error; anything else unchanged."""
    if _is_retryable(exc):
        return DatabaseBusyError(
            f"PostgreSQL {what} failed ({type(exc).__name__}: {exc}); nothing was written, "
            "try again"
        )
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return ConstraintError(f"{type(exc).__name__}: {exc}")
    return exc


_STATUS_COUNT = re.compile(r"(\d+)\s*$")


class ShardsTakenError(StoreError):
    """Another running process holds some of these shards (or runs another SHARD_COUNT)."""

    def __init__(self, taken: Sequence[int], other_counts: Sequence[int]) -> None:
        self.taken = tuple(taken)
        self.other_counts = tuple(other_counts)
        if self.other_counts:
            counts = ", ".join(map(str, self.other_counts))
            problem = f"another running process uses SHARD_COUNT={counts}"
        else:
            problem = f"shard {', '.join(map(str, self.taken))} already runs in another process"
        super().__init__(problem)


class ShardClaim:
    """The advisory locks on this process's shards, on a connection of their own that is held
    for the process's life. When the process dies, the server ends its session and the locks
    go with it: a restarted member can take its shards again at once.

    If that connection is lost while the process runs (the server restarted), the locks are
    gone too: :meth:`watch` takes them again, and reports when another process got there
    first."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        shard_ids: Sequence[int],
        relock: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._conn: asyncpg.Connection | None = conn
        self._relock = relock
        self._listeners: dict[str, Callable[[], None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self.shard_ids = tuple(shard_ids)

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on every NOTIFY on ``channel`` (on the locks' connection, which
        is held anyway; listened to again when :meth:`watch` locks the shards again)."""
        self._listeners[channel] = callback
        if self.held:
            assert self._conn is not None
            try:
                await self._conn.add_listener(channel, _notified(callback))
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as error:
                # The connection just went: watch() listens again once it locks again.
                log.warning("Could not listen on %s: %s", channel, error)

    def watch(self, on_lost: Callable[[str], None], *, every: float = 5.0) -> None:
        """Check the locks' connection every ``every`` seconds; when it is gone, lock the
        shards again (retrying while the server is away). ``on_lost(why)`` is called, and the
        watch ends, when another process holds them by then."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(on_lost, every), name="shard-locks")

    async def _watch(self, on_lost: Callable[[str], None], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if self._conn is None or self.held:
                continue
            try:
                self._conn = await self._relock()
                for channel, callback in self._listeners.items():
                    await self._conn.add_listener(channel, _notified(callback))
            except ShardsTakenError as error:
                self._conn = None
                on_lost(str(error))
                return
            except Exception as error:  # the server is still away: try again later
                log.warning("Could not lock shards %s again yet: %s", self.shard_ids, error)
                continue
            log.warning(
                "The shard locks' connection was lost; shards %s locked again", self.shard_ids
            )

    async def release(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):  # closing the session drops the locks anyway
                await conn.close(timeout=5)


def _notified(callback: Callable[[], None]) -> Callable[..., None]:
    """asyncpg's listener signature (connection, pid, channel, payload) around ``callback``."""

    def listener(*_: object) -> None:
        callback()

    return listener


class PgCursor:
    """What ``conn.execute`` gives on PostgreSQL: the rows (already read) and ``rowcount``."""

    lastrowid: None = None  # PostgreSQL has no rowid: use ``RETURNING id``

    def __init__(self, rows: list[asyncpg.Record], status: str) -> None:
        self._rows = rows
        self._next = 0
        match = _STATUS_COUNT.search(status or "")
        self.rowcount = int(match.group(1)) if match else -1

    async def fetchone(self) -> asyncpg.Record | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    async def close(self) -> None:
        self._next = len(self._rows)


class _Running:
    """Awaitable and async context manager, like aiosqlite's ``conn.execute(...)``."""

    def __init__(self, operation: Any) -> None:
        self._operation = operation

    def __await__(self) -> Any:
        return self._operation.__await__()

    async def __aenter__(self) -> PgCursor:
        cursor: PgCursor = await self._operation
        return cursor

    async def __aexit__(self, *exc: object) -> None:
        return None


_INT64: Final = range(-(2**63), 2**63)


def _args(params: Params) -> list[Any]:
    if isinstance(params, dict):
        raise StoreError("named parameters are not supported on PostgreSQL; use ?")
    args = list(params)
    for value in args:
        # As SQLite does (a forged id past 64 bits is "not found", see bot.ui), not asyncpg's
        # DataError.
        if type(value) is int and value not in _INT64:
            raise OverflowError("Python int too large to convert to a 64-bit INTEGER")
    return args


class PgConnection:
    """The connection a PostgreSQL transaction yields: ``execute``/``executemany`` as on
    SQLite, with ``?`` placeholders."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.raw = conn

    async def _run(self, sql: str, params: Params) -> PgCursor:
        # asyncpg's statement-cached execute that returns both the rows and the status line
        # ("UPDATE 3"), so rowcount works for statements with and without RETURNING.
        rows, status, _ = await self.raw._execute(
            to_postgres(sql), _args(params), 0, None, return_status=True
        )
        text = status.decode() if isinstance(status, bytes) else str(status)
        return PgCursor(list(rows), text)

    def execute(self, sql: str, parameters: Params | None = None) -> _Running:
        return _Running(self._run(sql, () if parameters is None else parameters))

    async def executemany(self, sql: str, parameters: Iterable[Params]) -> None:
        rows = [_args(p) for p in parameters]
        if rows:
            await self.raw.executemany(to_postgres(sql), rows)


class PostgresDatabase(Database):
    """The bot's PostgreSQL database. Build it with :meth:`open_url`; close with :meth:`close`."""

    dialect: ClassVar[Dialect] = "postgresql"

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        url: str,
        path: Path,
        schema_version: int,
        server_version: str,
    ) -> None:
        self._pool: asyncpg.Pool | None = pool
        self._dsn = url  # with its password: only for the shard locks' own connection
        self.url = redact_url(url)
        #: Where files that belong beside the database go (tombstones, nothing else).
        self.path = path
        self.schema_version = schema_version
        self.server_version = server_version
        self._writers: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open_url(
        cls,
        url: str,
        *,
        path: Path,
        migrations: Sequence[Migration] | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> PostgresDatabase:
        """Connect a pool, check the server and migrate the schema to the latest version.

        Raises :class:`StoreError` (a one-line message without the password) when the server
        cannot be reached or refuses the login, :class:`SchemaTooNewError` or
        :class:`MigrationError`.
        """
        from bot.store.migrations import apply_pg_migrations, load_pg_migrations

        if migrations is None:
            migrations = load_pg_migrations()
        shown = redact_url(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                command_timeout=60,
                server_settings={"application_name": "cohortbot"},
                init=_prepare_connection,
            )
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to {shown}: {_connect_problem(exc)}") from exc
        except ValueError as exc:  # a malformed URL
            raise StoreError(f"{shown} is not a valid PostgreSQL URL ({exc})") from exc
        try:
            async with pool.acquire() as conn:
                server_version = str(await conn.fetchval("SHOW server_version"))
                version = await apply_pg_migrations(conn, migrations)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url=url, path=path, schema_version=version, server_version=server_version)

    async def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        self._pool = None
        await pool.close()

    @property
    def closed(self) -> bool:
        return self._pool is None

    def _the_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the database is closed")
        return self._pool

    # ------------------------------------------------------------------ writes

    @asynccontextmanager
    async def transaction(
        self, *, on_commit: Callable[[], object] | None = None
    ) -> AsyncIterator[PgConnection]:
        """One transaction on a pooled connection (READ COMMITTED). Any exception rolls it
        back; a lost connection, deadlock or serialization failure raises
        :class:`DatabaseBusyError` after the rollback (the caller's work may be retried)."""
        task = asyncio.current_task()
        if task is not None and task in self._writers:
            raise StoreError("nested transaction: this task already has one open")
        if task is not None:
            self._writers.add(task)
        try:
            async with self._the_pool().acquire() as raw:
                try:
                    async with raw.transaction():
                        yield PgConnection(raw)
                except Exception as exc:
                    if _broken(exc):
                        await self._drop_connections(raw)
                    translated = _translate(exc, "transaction")
                    if translated is exc:
                        raise
                    raise translated from exc
            if on_commit is not None:
                on_commit()
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            translated = _translate(exc, "connection")
            if translated is exc:
                raise
            raise translated from exc
        finally:
            if task is not None:
                self._writers.discard(task)

    async def _drop_connections(self, broken: Any) -> None:
        """One connection the server ended means the others are likely gone too (a restart,
        a failover): close this one and have the pool replace every idle one before reuse."""
        broken.terminate()
        if self._pool is not None:
            await self._pool.expire_connections()

    async def _statement(self, sql: str, params: Params) -> PgCursor:
        """One statement on its own (autocommit), retried with backoff when that is safe: a
        read always, a write only when the server said it did not apply it (a lost connection
        may have lost the answer to a committed write)."""
        reading = sql.lstrip()[:6].upper() == "SELECT"
        for attempt in range(_STATEMENT_RETRIES + 1):
            sent = False
            try:
                async with self._the_pool().acquire() as raw:
                    sent = True
                    try:
                        return await PgConnection(raw)._run(sql, params)
                    except Exception as exc:
                        if _broken(exc):
                            await self._drop_connections(raw)
                        raise
            except Exception as exc:
                translated = _translate(exc, "statement")
                retry = isinstance(translated, DatabaseBusyError) and (
                    reading or not sent or _not_applied(exc)
                )
                if not retry or attempt == _STATEMENT_RETRIES:
                    if translated is exc:
                        raise
                    raise translated from exc
                log.debug("retrying a statement after %r", exc)
                await asyncio.sleep(_RETRY_BASE_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    async def execute_write(self, sql: str, params: Params = ()) -> int:
        return max((await self._statement(sql, params)).rowcount, 0)

    async def write_all(
        self,
        statements: Sequence[tuple[str, Params]],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> list[int]:
        """Run ``statements`` in order in one transaction; the rows each one changed.
        ``on_commit`` once they are committed (see :meth:`transaction`)."""
        changed: list[int] = []
        async with self.transaction(on_commit=on_commit) as conn:
            for sql, params in statements:
                changed.append(max((await conn.execute(sql, params)).rowcount, 0))
        return changed

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT; the new row's ``id``-like first column, or ``None`` when no row
        was inserted. ``RETURNING *`` is added: the first column of this schema's tables with
        a generated key is that key; for other tables the value only says "inserted"."""
        cursor = await self._statement(f"{sql.rstrip().rstrip(';')} RETURNING *", params)
        row = await cursor.fetchone()
        if row is None:
            return None
        values = dict(row.items())
        keys = ["id", *(k for k in values if k.endswith("_id") and k != "guild_id")]
        key = next((k for k in keys if k in values), None)
        value = None if key is None else values[key]
        return value if isinstance(value, int) else 1

    # ------------------------------------------------------------------ cluster locks

    async def claim_shards(self, shard_count: int, shard_ids: Sequence[int]) -> ShardClaim:
        """Lock ``shard_ids`` for this process: a session-level advisory lock per shard (and a
        shared one on ``shard_count``) on a dedicated connection, held until
        :meth:`ShardClaim.release` or the process's end.

        Raises :class:`ShardsTakenError` when a running process holds one of the shards or
        runs with another shard count (nothing stays locked then)."""
        ids = tuple(shard_ids)

        async def lock() -> asyncpg.Connection:
            return await self._lock_shards(shard_count, ids)

        return ShardClaim(await lock(), ids, lock)

    async def _lock_shards(self, shard_count: int, shard_ids: Sequence[int]) -> asyncpg.Connection:
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=10,
                server_settings={"application_name": "cohortbot shards"},
            )
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to {self.url}: {_connect_problem(exc)}") from exc
        try:
            await conn.execute(
                "SELECT pg_advisory_lock_shared($1, $2)", SHARD_COUNT_LOCKS, shard_count
            )
            others = await conn.fetch(
                "SELECT DISTINCT objid::bigint AS n FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND classid = $1::bigint::oid AND objsubid = 2 "
                "AND objid <> $2::bigint::oid "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY 1",
                SHARD_COUNT_LOCKS,
                shard_count,
            )
            taken = [
                shard
                for shard in shard_ids
                if not await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", SHARD_LOCKS, shard
                )
            ]
            if others or taken:
                raise ShardsTakenError(taken, [int(row["n"]) for row in others])
        except BaseException:
            with contextlib.suppress(Exception):  # closing the session drops what it locked
                await conn.close(timeout=5)
            raise
        return conn

    @asynccontextmanager
    async def only_one_process(self, name: str) -> AsyncIterator[bool]:
        """True (while the block runs) for the one process that holds the advisory lock for
        the installation-wide job ``name``; False for any other process at the same time."""
        key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        pool = self._the_pool()
        try:
            raw = await pool.acquire()
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            raise DatabaseBusyError(f"PostgreSQL lock failed ({type(exc).__name__})") from exc
        got = False
        try:
            got = bool(await raw.fetchval("SELECT pg_try_advisory_lock($1, $2)", JOB_LOCKS, key))
            yield got
        finally:
            if got:
                try:
                    await raw.fetchval("SELECT pg_advisory_unlock($1, $2)", JOB_LOCKS, key)
                except Exception:
                    # A lock that cannot be released must not stay on a pooled session.
                    raw.terminate()
            await pool.release(raw)

    # ------------------------------------------------------------------ reads

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        return await (await self._statement(sql, params)).fetchall()

    async def table_names(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "AND table_name <> 'schema_version' ORDER BY table_name"
        )
        return [str(row["name"]) for row in rows]

    async def column_names(self, table: str) -> list[str]:
        rows = await self.fetchall(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [str(row["name"]) for row in rows]

    # ------------------------------------------------------------------ backup

    async def backup(self, dest: str | Path) -> Path:
        raise StoreError(
            "cohortbot backup only copies SQLite files; on PostgreSQL use pg_dump "
            "(e.g. `pg_dump -Fc -f cohortbot.dump DBNAME`) and pg_restore to restore "
            "(see docs/scaling.md)"
        )


def _numeric(text: str) -> int | float:
    # SUM over BIGINT columns is NUMERIC in PostgreSQL (Decimal in asyncpg); SQLite gives an
    # int, and a float for AVG: read NUMERIC the same way.
    return float(text) if any(c in text for c in ".eEN") else int(text)


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", encoder=str, decoder=_numeric, format="text"
    )


def _connect_problem(exc: BaseException) -> str:
    """Why a connection failed, in one line, without echoing the URL."""
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return "the server refused the login (wrong user name or password)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "the database does not exist (create it first)"
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, OSError):
        return f"the server is unreachable ({exc.strerror or exc})"
    return f"{type(exc).__name__}: {exc}"
