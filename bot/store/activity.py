"""Course activity: recorded in batches (one transaction for many events), read in aggregate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.backoff import FailureBackoff
from bot.store.contract import row_to_dict
from bot.store.db import Database, DatabaseBusyError
from bot.store.times import from_db_time, to_db_time

log = logging.getLogger(__name__)

ActivityKind = Literal["message", "reaction", "command", "button"]


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    guild_id: int
    user_id: int
    kind: ActivityKind
    channel_id: int | None
    occurred_at: datetime

    def row(self) -> tuple[int, int, str, int | None, int]:
        return (
            self.guild_id,
            self.user_id,
            self.kind,
            self.channel_id,
            to_db_time(self.occurred_at),
        )


INSERT_SQL = (
    "INSERT INTO activity (guild_id, user_id, kind, channel_id, occurred_at) VALUES (?, ?, ?, ?, ?)"
)


class ActivityRepository:
    personal_tables = ("activity",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(
        self,
        rows: list[tuple[int, int, str, int | None, int]],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        """One transaction; ``on_commit`` is called once the rows are committed (even if the
        task is cancelled during the COMMIT, see ``Database.transaction``)."""
        async with self._db.transaction(on_commit=on_commit) as conn:
            await conn.executemany(INSERT_SQL, rows)

    async def last_active(self, guild_id: int, user_ids: list[int]) -> dict[int, datetime]:
        """Each user's latest activity in this guild (users with none are absent)."""
        if not user_ids:
            return {}
        result: dict[int, datetime] = {}
        # Chunked: SQLite limits the number of bound parameters.
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            rows = await self._db.fetchall(
                f"SELECT user_id, MAX(occurred_at) AS last FROM activity "
                f"WHERE guild_id = ? AND user_id IN ({marks}) GROUP BY user_id",
                (guild_id, *chunk),
            )
            for row in rows:
                result[row["user_id"]] = from_db_time(row["last"])
        return result

    async def counts_by_place(
        self, guild_id: int, kind: ActivityKind = "message"
    ) -> dict[tuple[int, int | None], int]:
        """How many events of ``kind`` each (user, channel) has in this guild."""
        rows = await self._db.fetchall(
            "SELECT user_id, channel_id, COUNT(*) AS n FROM activity "
            "WHERE guild_id = ? AND kind = ? GROUP BY user_id, channel_id",
            (guild_id, kind),
        )
        return {(row["user_id"], row["channel_id"]): int(row["n"]) for row in rows}

    async def count_since(self, guild_id: int, user_id: int, since: datetime) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM activity WHERE guild_id = ? AND user_id = ? "
            "AND occurred_at >= ?",
            (guild_id, user_id, to_db_time(since)),
        )
        return int(row["n"]) if row else 0

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self._db.fetchall(
            "SELECT kind, channel_id, occurred_at FROM activity "
            "WHERE guild_id = ? AND user_id = ? ORDER BY occurred_at",
            (guild_id, user_id),
        )
        return {"activity": [row_to_dict(row) for row in rows]}

    async def delete_user(self, guild_id: int, user_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM activity WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )

    async def delete_guild(self, guild_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM activity WHERE guild_id = ?", (guild_id,))


class ActivityRecorder:
    """Buffers activity and writes it in batches of short transactions.

    One SQLite commit per message costs most of the event loop's time under a busy stream;
    a batch per interval keeps ingest close to a bare client's rate. Each batch is written in
    chunks of ``chunk_rows``: aiosqlite has one worker thread, and a command's query queued
    behind a single 10,000-row ``executemany`` would wait hundreds of milliseconds for it.
    `flush()` on shutdown writes whatever is buffered, so nothing is lost when the bot stops.
    """

    def __init__(
        self,
        repository: ActivityRepository,
        *,
        flush_interval: float = 0.5,
        max_batch: int = 2000,
        chunk_rows: int = 250,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")
        self._repository = repository
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._chunk_rows = chunk_rows
        self._buffer: list[tuple[int, int, str, int | None, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._flush_lock = asyncio.Lock()
        self._errors = FailureBackoff(
            log, "Writing buffered activity", base=max(flush_interval, 0.1), cap=60.0
        )
        self.written = 0
        #: Called at the start of every flush with ``final``: sources whose events are only
        #: known to count once something finished (a button press that was not refused)
        #: record them here. ``final`` is False for the periodic flush, True for the others.
        self.before_flush: list[Callable[[bool], None]] = []

    def record(self, event: ActivityEvent) -> None:
        """Never awaits: safe to call from any gateway event handler."""
        self._buffer.append(event.row())
        if len(self._buffer) >= self._max_batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="activity-recorder")

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush(final=False)
            except DatabaseBusyError as error:
                # The rows stay buffered for the next attempt; a locked database is transient.
                log.warning("Could not write %d activity rows yet: %s", self.pending, error)
            except Exception:
                # e.g. a full disk: one traceback, then quieter and slower retries (the rows
                # stay buffered).
                await asyncio.sleep(self._errors.failed())
            else:
                self._errors.succeeded()

    async def flush(self, *, final: bool = True) -> int:
        """Write everything buffered when called (rows recorded meanwhile wait for the next
        flush); return how many rows were written. A row leaves the buffer only once its
        chunk is committed, so an error or a cancellation at any point loses none and writes
        none twice. ``final=False`` (the periodic flush) lets ``before_flush`` sources keep
        events whose outcome is not known yet."""
        for settle in self.before_flush:
            settle(final)
        async with self._flush_lock:
            target = len(self._buffer)
            done = 0
            while done < target:
                chunk = self._buffer[: min(self._chunk_rows, target - done)]

                def committed(size: int = len(chunk)) -> None:
                    # Only record() touches the buffer meanwhile, and it only appends.
                    del self._buffer[:size]
                    self.written += size

                await self._repository.insert_many(chunk, on_commit=committed)
                done += len(chunk)
            return done

    async def stop(self) -> None:
        """Stop the flush loop (letting a chunk being written finish), then write the rest."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            # Shielded: cancelling stop() must not cancel the loop in the middle of a chunk.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        await self.flush()
