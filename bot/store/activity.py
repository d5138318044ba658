"""Course activity: counted in memory, written in batches, read in aggregate.

The table holds one row per (guild, student, kind, place, second) with the number of events
it stands for (``events``): a second is the finest time the bot keeps, so summing ``events``
gives exactly what counting one row per event gave, with fewer rows to write.
"""

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
from bot.store.times import from_db_time, to_db_second, to_db_time

log = logging.getLogger(__name__)

ActivityKind = Literal["message", "reaction", "command", "button"]

#: (guild_id, user_id, kind, channel_id, occurred_at): one event, or the key of a count
ActivityRow = tuple[int, int, str, int | None, int]
#: an :data:`ActivityRow` and how many events it stands for
CountedRow = tuple[int, int, str, int | None, int, int]


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    guild_id: int
    user_id: int
    kind: ActivityKind
    channel_id: int | None
    occurred_at: datetime

    def row(self) -> ActivityRow:
        return (
            self.guild_id,
            self.user_id,
            self.kind,
            self.channel_id,
            to_db_time(self.occurred_at),
        )


#: The columns of one event (an :data:`ActivityRow`), and of a counted row (a :data:`CountedRow`).
EVENT_COLUMNS = ("guild_id", "user_id", "kind", "channel_id", "occurred_at")
COUNTED_COLUMNS = (*EVENT_COLUMNS, "events")


class ActivityRepository:
    personal_tables = ("activity",)

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(
        self,
        rows: list[ActivityRow],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        """One event per row (imports, tests, benchmarks), in one transaction."""
        await self._db.insert_rows("activity", EVENT_COLUMNS, rows, on_commit=on_commit)

    async def insert_counts(
        self,
        rows: list[CountedRow],
        *,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        """Counted rows in one transaction; ``on_commit`` is called once they are committed
        (even if the task is cancelled during the COMMIT, see ``Database.transaction``). A
        key may already have a row (an earlier batch in the same second): a second row is
        added, and every reader sums them. One call on the database's worker thread."""
        await self._db.insert_rows("activity", COUNTED_COLUMNS, rows, on_commit=on_commit)

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
            "SELECT user_id, channel_id, SUM(events) AS n FROM activity "
            "WHERE guild_id = ? AND kind = ? GROUP BY user_id, channel_id",
            (guild_id, kind),
        )
        return {(row["user_id"], row["channel_id"]): int(row["n"]) for row in rows}

    async def count_since(self, guild_id: int, user_id: int, since: datetime) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(events), 0) AS n FROM activity WHERE guild_id = ? AND user_id = ? "
            "AND occurred_at >= ?",
            (guild_id, user_id, to_db_time(since)),
        )
        return int(row["n"]) if row else 0

    async def export_user(self, guild_id: int, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """One entry per (kind, place, second) with its number of ``events``; flush the
        recorder first (the privacy feature's ``before_erase`` hooks do)."""
        rows = await self._db.fetchall(
            "SELECT kind, channel_id, occurred_at, SUM(events) AS events FROM activity "
            "WHERE guild_id = ? AND user_id = ? GROUP BY kind, channel_id, occurred_at "
            "ORDER BY occurred_at, kind, channel_id",
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


#: (guild_id, user_id): whose events a part of the buffer holds
_Student = tuple[int, int]
#: (kind, channel_id, occurred_at): the rest of an :data:`ActivityRow`
_Place = tuple[str, int | None, int]
#: one row of a chunk being written: the student, the rest of the key, the events it counts
_Counted = tuple[_Student, _Place, int]


class ActivityRecorder:
    """Counts activity in memory and writes the counts in batches of short transactions.

    One SQLite commit per message costs most of the event loop's time under a busy stream;
    a batch per interval keeps ingest close to a bare client's rate. Events with the same
    (guild, student, kind, place, second) become one counted row, so a busy stream writes
    fewer rows (each written row costs the database thread and the GIL). Each batch is
    written in chunks of ``chunk_rows``: aiosqlite has one worker thread, and a command's
    query queued behind a single 10,000-row ``executemany`` would wait hundreds of
    milliseconds for it. `flush()` on shutdown writes whatever is counted, so nothing is lost
    when the bot stops.
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
        # Events not written yet: per student, per (kind, place, second), each student's keys
        # in the order first counted. Per student so that a flush writes in index order
        # (guild, student) by sorting the students, not every key: one sort of a few
        # thousand keys is milliseconds in one event-loop callback.
        self._counts: dict[_Student, dict[_Place, int]] = {}
        self._rows = 0  # keys in _counts: the rows the next flush writes
        self._pending = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._flush_lock = asyncio.Lock()
        self._errors = FailureBackoff(
            log, "Writing buffered activity", base=max(flush_interval, 0.1), cap=60.0
        )
        #: events written so far
        self.written = 0
        #: Called at the start of every flush with ``final``: sources whose events are only
        #: known to count once something finished (a button press that was not refused)
        #: record them here. ``final`` is False for the periodic flush, True for the others.
        self.before_flush: list[Callable[[bool], None]] = []

    def record(self, event: ActivityEvent) -> None:
        """Never awaits: safe to call from any gateway event handler."""
        self.count(event.guild_id, event.user_id, event.kind, event.channel_id, event.occurred_at)

    def count(
        self,
        guild_id: int,
        user_id: int,
        kind: ActivityKind,
        channel_id: int | None,
        occurred_at: datetime,
    ) -> None:
        """:meth:`record` without building an :class:`ActivityEvent` (the per-message path)."""
        # Counted per whole second (the finest time the table keeps), stored like any instant.
        key = (kind, channel_id, to_db_second(occurred_at))
        keys = self._counts.get((guild_id, user_id))
        if keys is None:
            keys = self._counts[guild_id, user_id] = {}
        n = keys.get(key, 0)
        keys[key] = n + 1
        self._pending += 1
        if not n:
            self._rows += 1
            if self._rows >= self._max_batch:
                self._wake.set()

    @property
    def pending(self) -> int:
        """Events recorded and not written yet."""
        return self._pending

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
        """Write the counts of the students who have some when called (a student's events
        recorded meanwhile are written if they came before that student's chunk was built,
        a new student's wait for the next flush); return how many events were written. A
        chunk's counts are taken off only once it is committed, so an error or a
        cancellation at any point loses none and writes none twice. ``final=False`` (the
        periodic flush) lets ``before_flush`` sources keep events whose outcome is not known
        yet."""
        for settle in self.before_flush:
            settle(final)
        async with self._flush_lock:
            counts = self._counts
            chunk: list[_Counted] = []
            done = 0
            # In index order (guild, student; each student's keys in time order): a chunk
            # then dirties a few neighbouring index pages instead of one page per row, which
            # makes each commit much cheaper. The students and their keys are those held
            # now; a chunk is built just before it is written.
            for student in sorted(counts):
                keys = counts.get(student)
                if keys is None:
                    continue
                for key, n in list(keys.items()):
                    chunk.append((student, key, n))
                    if len(chunk) == self._chunk_rows:
                        done += await self._write(chunk)
                        chunk = []
            if chunk:
                done += await self._write(chunk)
            return done

    async def _write(self, chunk: list[_Counted]) -> int:
        """Write one chunk; its counts are taken off once it is committed. Return the events
        it held."""
        events = sum(n for _, _, n in chunk)

        def committed() -> None:
            # record() may have added to these keys meanwhile: only ours are taken off.
            counts = self._counts
            for student, key, n in chunk:
                keys = counts[student]
                left = keys[key] - n
                if left:
                    keys[key] = left
                else:
                    del keys[key]
                    self._rows -= 1
                    if not keys:
                        del counts[student]
            self._pending -= events
            self.written += events

        await self._repository.insert_counts(
            [(*student, *key, n) for student, key, n in chunk], on_commit=committed
        )
        return events

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
